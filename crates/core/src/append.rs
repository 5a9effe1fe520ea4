//! Validation and staging of appends (SPEC §3), done by the writer thread.
//!
//! Every event is checked against the ledger *plus* the events staged before it — earlier
//! events of the same append and earlier appends of the same group commit. Staged state lives
//! in [`Layer`]s: the group's layer, and on top of it the layer of the append being checked,
//! which is merged into the group only if every one of its events passes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::event::{EventData, ExpectedVersion, InputEvent, StreamId, TITLE_CHARS_MAX};
use crate::merkle::Hash;
use crate::moment::Moment;
use crate::record::{Record, RecordFields, RecordHeader, RECORD_BYTES_MAX, SCHEMA_VERSION};
use crate::storage::Store;
use crate::Map;

/// The most events one append may hold (SPEC §3).
pub const EVENTS_PER_APPEND_MAX: usize = 10_000;

/// An event that passed validation and waits for the group's commit: its recorded bytes and
/// the fields the index learns from it. The decoded record is not kept: it is needed again only
/// when a later event of the same group repeats or retracts this one, and is then decoded.
pub(crate) struct Staged {
    pub(crate) position: u64,
    pub(crate) event_id: Uuid,
    pub(crate) stream: StreamId,
    pub(crate) version: u64,
    pub(crate) recorded_at: DateTime<Utc>,
    /// For a retraction, the event it withdraws.
    pub(crate) retracts: Option<Uuid>,
    /// For `commitment_made`, the commitment and its `made_on`.
    pub(crate) made: Option<(Uuid, NaiveDate)>,
    /// The record exactly as it will be stored and hashed.
    pub(crate) bytes: Vec<u8>,
}

impl Staged {
    /// The index's view of the record.
    pub(crate) fn header(&self) -> RecordHeader<'_> {
        RecordHeader {
            position: self.position,
            event_id: self.event_id,
            stream: std::borrow::Cow::Borrowed(self.stream.as_str()),
            version: self.version,
            recorded_at: self.recorded_at,
            retracts: self.retracts,
            made: self.made,
        }
    }
}

/// Staged state on top of the store.
pub(crate) struct Layer {
    /// The position of this layer's first record.
    pub(crate) base_position: u64,
    pub(crate) records: Vec<Staged>,
    /// Last version and its position, per stream touched.
    pub(crate) stream_heads: Map<StreamId, (u64, u64)>,
    pub(crate) ids: Map<Uuid, u64>,
    /// Retracted event id → position of its retraction.
    pub(crate) retracted: Map<Uuid, u64>,
    /// Stored hashes `(level, index)` completed by the staged records.
    pub(crate) hashes: Map<(u8, u64), Hash>,
    /// `made_on` of the commitments made in this layer.
    pub(crate) made_on: Map<Uuid, NaiveDate>,
    pub(crate) last_recorded_at: DateTime<Utc>,
}

impl Layer {
    pub(crate) fn new(base_position: u64, last_recorded_at: DateTime<Utc>) -> Layer {
        Layer {
            base_position,
            records: Vec::new(),
            stream_heads: Map::default(),
            ids: Map::default(),
            retracted: Map::default(),
            hashes: Map::default(),
            made_on: Map::default(),
            last_recorded_at,
        }
    }

    pub(crate) fn next_position(&self) -> u64 {
        self.base_position + self.records.len() as u64
    }

    pub(crate) fn merge(&mut self, child: Layer) {
        debug_assert_eq!(child.base_position, self.next_position());
        if self.records.is_empty() && !child.records.is_empty() {
            // Nothing staged yet (so every map is empty too): take the append's layer whole
            // rather than re-inserting its entries — the common case of a one-append group.
            *self = child;
            return;
        }
        self.stream_heads.extend(child.stream_heads);
        self.ids.extend(child.ids);
        self.retracted.extend(child.retracted);
        self.hashes.extend(child.hashes);
        self.made_on.extend(child.made_on);
        // An append of idempotent repeats only adds no record and must not move the clock.
        if let Some(last) = child.records.last() {
            self.last_recorded_at = last.recorded_at;
        }
        self.records.extend(child.records);
    }

    fn staged(&self, position: u64) -> Option<&Staged> {
        position
            .checked_sub(self.base_position)
            .and_then(|i| self.records.get(i as usize))
    }
}

/// The events of the append being validated that are not yet encoded, by offset from the
/// append's first position.
pub(crate) trait PendingRecords {
    /// The record at `offset` as it will be recorded, if it is pending.
    fn encode_at(&self, offset: u64) -> Option<Vec<u8>>;
}

/// Nothing pending (a view outside validation).
impl PendingRecords for () {
    fn encode_at(&self, _offset: u64) -> Option<Vec<u8>> {
        None
    }
}

impl PendingRecords for Vec<OnceLock<Pending<'_>>> {
    fn encode_at(&self, offset: u64) -> Option<Vec<u8>> {
        self.get(usize::try_from(offset).ok()?)?
            .get()
            .map(Pending::encode)
    }
}

/// The ledger as the writer sees it: the store, then the group's layer, then the append's,
/// then the append's events validated but not yet encoded.
pub(crate) struct View<'a> {
    pub(crate) store: &'a Store,
    pub(crate) layers: [&'a Layer; 2],
    pub(crate) pending: &'a dyn PendingRecords,
}

impl<'a> View<'a> {
    /// The store under two layers, with nothing pending.
    pub(crate) fn new(store: &'a Store, layers: [&'a Layer; 2]) -> View<'a> {
        View {
            store,
            layers,
            pending: &(),
        }
    }

    fn record(&self, position: u64) -> Result<Record, Error> {
        let staged = self.layers.iter().find_map(|layer| layer.staged(position));
        let other;
        let bytes = match staged {
            Some(s) => &s.bytes,
            None => {
                // The append's pending records hold positions from its layer's base on.
                let pending = position
                    .checked_sub(self.layers[1].base_position)
                    .and_then(|offset| self.pending.encode_at(offset));
                other = match pending {
                    // Rare (an event repeating or retracting one earlier in its own append):
                    // encoded now, as it will be recorded.
                    Some(bytes) => bytes,
                    None => self
                        .store
                        .record_bytes(position)?
                        .ok_or_else(|| Error::Integrity {
                            position,
                            what: "an index points at a record that is missing".into(),
                        })?,
                };
                &other
            }
        };
        Record::decode(bytes).map_err(|e| Error::Integrity {
            position,
            what: format!("stored record does not decode: {e}"),
        })
    }

    fn stream_head(&self, stream: &StreamId) -> Result<Option<(u64, u64)>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(h) = layer.stream_heads.get(stream) {
                return Ok(Some(*h));
            }
        }
        self.store.stream_head(stream)
    }

    fn id_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(p) = layer.ids.get(&id) {
                return Ok(Some(*p));
            }
        }
        self.store.event_position(id)
    }

    fn retraction_of(&self, id: Uuid) -> Result<Option<u64>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(p) = layer.retracted.get(&id) {
                return Ok(Some(*p));
            }
        }
        self.store.retraction_position(id)
    }

    /// `made_on` of a commitment, read from its `commitment_made` (stream version 0).
    fn made_on(&self, commitment_id: Uuid) -> Result<Option<NaiveDate>, Error> {
        for layer in self.layers {
            if let Some(d) = layer.made_on.get(&commitment_id) {
                return Ok(Some(*d));
            }
        }
        Ok(self.store.made_on(commitment_id))
    }

    pub(crate) fn hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(h) = layer.hashes.get(&(level, index)) {
                return Ok(Some(*h));
            }
        }
        self.store.hash(level, index)
    }
}

impl tlog_tiles::HashReader for View<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = tlog_tiles::split_stored_hash_index(i);
                match self.hash(level, n) {
                    Ok(Some(h)) => Ok(h.into()),
                    _ => Err(tlog_tiles::Error::IndexesNotInTree),
                }
            })
            .collect()
    }
}

/// What an append produced, or would produce on a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The position of each event of the append, in order. An event whose `event_id` was
    /// already recorded with the same content answers its original position.
    pub positions: Vec<u64>,
    /// The event id of each event, in order (made by the ledger where the writer gave none).
    pub event_ids: Vec<Uuid>,
    /// How many of the events were new (the rest were idempotent repeats).
    pub new_events: usize,
    /// The tree size after the group commit that wrote the append.
    pub tree_size: u64,
}

/// An event that passed validation, with what the ledger assigned it; its record is encoded
/// after it, by the writer or a helper thread (see [`Pipeline`]).
pub(crate) struct Pending<'e> {
    /// The event's place in its append, for errors.
    index: usize,
    event: &'e InputEvent,
    actor: &'e str,
    position: u64,
    event_id: Uuid,
    stream: StreamId,
    version: u64,
    recorded_at: DateTime<Utc>,
    effective: Moment,
    retracts: Option<Uuid>,
    made: Option<(Uuid, NaiveDate)>,
}

impl Pending<'_> {
    /// The record exactly as it will be stored and hashed.
    fn encode(&self) -> Vec<u8> {
        RecordFields {
            position: self.position,
            event_id: self.event_id,
            stream: &self.stream,
            version: self.version,
            recorded_at: self.recorded_at,
            schema: SCHEMA_VERSION,
            effective: self.effective,
            actor: self.actor,
            reason: self.event.reason.as_deref(),
            source: self.event.source.as_ref(),
            data: &self.event.data,
        }
        .encode()
    }

    /// The encoded record and its leaf hash, or the error naming the event if it is too large.
    fn encode_and_hash(&self) -> Encoded {
        let bytes = self.encode();
        if bytes.len() > RECORD_BYTES_MAX {
            return Err(Error::validation(
                self.index,
                "-",
                format!(
                    "the recorded event is {} bytes; the limit is {RECORD_BYTES_MAX}",
                    bytes.len()
                ),
            ));
        }
        let leaf = Hash::leaf(&bytes);
        Ok((bytes, leaf))
    }
}

/// A pending record encoded, with its leaf hash, or the error naming its event (too large).
type Encoded = Result<(Vec<u8>, Hash), Error>;

/// Appends of at least this many events are encoded and hashed on two threads.
const PARALLEL_ENCODE_EVENTS_MIN: usize = 256;

/// Records are handed to the encoding threads this many at a time.
const ENCODE_CHUNK_EVENTS: usize = 32;

/// An append's new events between validation and encoding, shared by the writer and, for a
/// large append, a helper thread. Encoding (canonical JSON) and the leaf hash are most of a bulk
/// append's own work and depend on nothing but the event and what the ledger assigned it, so the
/// helper encodes validated events a chunk at a time while the writer validates the rest; then
/// both encode what is left.
struct Pipeline<'e> {
    /// Slot `i`: the append's `i`-th new event, set once validated (the writer sets them in
    /// order; slot `i` holds position `base + i`).
    pending: Vec<OnceLock<Pending<'e>>>,
    /// Slot `i`: its record and leaf hash, set once encoded.
    encoded: Vec<OnceLock<Encoded>>,
    /// Slots validated so far: every slot below is set.
    validated: AtomicUsize,
    /// No slot will be added (validation is over).
    closed: AtomicBool,
    /// Validation failed: nothing more need be encoded.
    abandoned: AtomicBool,
    /// The next chunk of slots to be claimed by an encoding thread.
    next_chunk: AtomicUsize,
}

impl<'e> Pipeline<'e> {
    fn new(capacity: usize) -> Self {
        Pipeline {
            pending: (0..capacity).map(|_| OnceLock::new()).collect(),
            encoded: (0..capacity).map(|_| OnceLock::new()).collect(),
            validated: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            next_chunk: AtomicUsize::new(0),
        }
    }

    /// Adds the next validated event (the writer's thread only); answers whether it completed
    /// a chunk.
    fn publish(&self, pending: Pending<'e>) -> bool {
        let i = self.validated.load(Ordering::Relaxed);
        let set = self.pending[i].set(pending);
        debug_assert!(set.is_ok(), "each slot is published once");
        self.validated.store(i + 1, Ordering::Release);
        (i + 1).is_multiple_of(ENCODE_CHUNK_EVENTS)
    }

    /// Encodes chunks of validated slots until none is left. With `wait`, a thread that finds
    /// the next chunk not yet validated parks until woken (or briefly) rather than returning.
    fn encode_chunks(&self, wait: bool) {
        loop {
            if self.abandoned.load(Ordering::Acquire) {
                return;
            }
            // `closed` before `validated`: once closed, the count read after it is final.
            let closed = self.closed.load(Ordering::Acquire);
            let ready = self.validated.load(Ordering::Acquire);
            let chunk = self.next_chunk.load(Ordering::Acquire);
            let start = chunk * ENCODE_CHUNK_EVENTS;
            let end = (start + ENCODE_CHUNK_EVENTS).min(ready);
            let claimable = end == start + ENCODE_CHUNK_EVENTS || (closed && end > start);
            if claimable {
                if self
                    .next_chunk
                    .compare_exchange(chunk, chunk + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    for i in start..end {
                        let pending = self.pending[i].get().expect("validated slots are set");
                        let _ = self.encoded[i].set(pending.encode_and_hash());
                    }
                }
            } else if closed || !wait {
                return;
            } else {
                std::thread::park_timeout(std::time::Duration::from_micros(200));
            }
        }
    }

    /// The validated events with their encodings, in order (encoding any not yet encoded).
    fn into_encoded(self) -> impl Iterator<Item = (Pending<'e>, Encoded)> {
        let validated = self.validated.into_inner();
        self.pending
            .into_iter()
            .zip(self.encoded)
            .take(validated)
            .map(|(slot, cell)| {
                let pending = slot.into_inner().expect("validated slots are set");
                let result = cell
                    .into_inner()
                    .unwrap_or_else(|| pending.encode_and_hash());
                (pending, result)
            })
    }
}

/// Validates `events` on top of `group` and stages them in a new layer. On error nothing of
/// this append is staged.
///
/// Three passes: validate each event and assign its position, id and version (later events
/// see the earlier ones through the layer's maps); encode and hash the new records — for a
/// large append on a second thread too, from the first validated chunk on (see [`Pipeline`]);
/// then add them to the tree's stored hashes in order.
pub(crate) fn stage(
    store: &Store,
    group: &Layer,
    events: &[InputEvent],
    now: DateTime<Utc>,
) -> Result<(Layer, AppendOutcome), Error> {
    let recorded_at = now.max(group.last_recorded_at);
    let mut layer = Layer::new(group.next_position(), recorded_at);
    let mut outcome = AppendOutcome {
        positions: Vec::with_capacity(events.len()),
        event_ids: Vec::with_capacity(events.len()),
        new_events: 0,
        tree_size: 0,
    };
    let pipeline = Pipeline::new(events.len());
    let validation = std::thread::scope(|scope| {
        let helper = if events.len() >= PARALLEL_ENCODE_EVENTS_MIN {
            // No thread to be had: the writer encodes everything itself, after validating.
            std::thread::Builder::new()
                .name("ikrar-encode".into())
                .spawn_scoped(scope, || pipeline.encode_chunks(true))
                .ok()
        } else {
            None
        };
        let mut result = Ok(());
        for (index, event) in events.iter().enumerate() {
            match validate_one(
                store,
                group,
                &mut layer,
                &pipeline,
                index,
                event,
                recorded_at,
            ) {
                Ok(Validated::Repeat { position, event_id }) => {
                    outcome.positions.push(position);
                    outcome.event_ids.push(event_id);
                }
                Ok(Validated::New(p)) => {
                    outcome.positions.push(p.position);
                    outcome.event_ids.push(p.event_id);
                    if pipeline.publish(p) {
                        if let Some(helper) = &helper {
                            helper.thread().unpark();
                        }
                    }
                }
                Err(e) => {
                    pipeline.abandoned.store(true, Ordering::Release);
                    result = Err(e);
                    break;
                }
            }
        }
        pipeline.closed.store(true, Ordering::Release);
        if let Some(helper) = &helper {
            helper.thread().unpark();
        }
        if result.is_ok() {
            pipeline.encode_chunks(false);
        }
        if let Some(helper) = helper {
            // A panic while encoding is a bug; it surfaces here as it would on one thread.
            helper.join().expect("the encoding thread does not panic");
        }
        result
    });
    let encoded = pipeline.into_encoded();
    if let Err(e) = validation {
        // An earlier event too large to record is the first error of the append.
        let too_large = encoded.into_iter().find_map(|(_, result)| result.err());
        return Err(too_large.unwrap_or(e));
    }
    for (p, result) in encoded {
        let (bytes, leaf) = result?;
        let staged = Staged {
            position: p.position,
            event_id: p.event_id,
            stream: p.stream,
            version: p.version,
            recorded_at: p.recorded_at,
            retracts: p.retracts,
            made: p.made,
            bytes,
        };
        push_staged(store, group, &mut layer, staged, leaf)?;
    }
    outcome.new_events = layer.records.len();
    Ok((layer, outcome))
}

/// What validating one event found.
enum Validated<'e> {
    /// The event id is recorded already, with the same content: answered with its position.
    Repeat { position: u64, event_id: Uuid },
    /// A new event, noted in the layer's maps, to be encoded.
    New(Pending<'e>),
}

fn check_title(index: usize, field: &str, title: &str) -> Result<(), Error> {
    let chars = title.chars().count();
    if title.trim().is_empty() {
        return Err(Error::validation(index, field, "must not be empty"));
    }
    if chars > TITLE_CHARS_MAX {
        return Err(Error::validation(
            index,
            field,
            format!("is {chars} characters long; the limit is {TITLE_CHARS_MAX}"),
        ));
    }
    Ok(())
}

fn require_reason(index: usize, event: &InputEvent) -> Result<(), Error> {
    match event.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => Ok(()),
        _ => Err(Error::validation(
            index,
            "reason",
            format!("is required on {}", event.data.type_name()),
        )),
    }
}

fn check_expected(
    index: usize,
    stream: &StreamId,
    expected: ExpectedVersion,
    actual: Option<u64>,
) -> Result<(), Error> {
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exists => actual.is_some(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Conflict {
            index,
            stream: stream.clone(),
            expected,
            actual,
        })
    }
}

/// Whether `event`, sent again, says the same as the recorded `record` (SPEC §2.2 idempotency).
fn same_content(event: &InputEvent, actor: &str, record: &Record) -> bool {
    let effective_matches = match event.effective.or(event.data.default_effective()) {
        Some(m) => m == record.effective,
        None => record.effective == Moment::Instant(record.recorded_at),
    };
    event.data == record.data
        && actor == record.actor
        && event.reason == record.reason
        && event.source == record.source
        && effective_matches
}

fn validate_one<'e>(
    store: &Store,
    group: &Layer,
    layer: &mut Layer,
    pipeline: &Pipeline<'_>,
    index: usize,
    event: &'e InputEvent,
    recorded_at: DateTime<Utc>,
) -> Result<Validated<'e>, Error> {
    let view = View {
        store,
        layers: [group, layer],
        pending: &pipeline.pending,
    };
    let actor = match event.actor.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() => a,
        _ => {
            return Err(Error::validation(
                index,
                "actor",
                "is required: a non-empty name of who records the event",
            ))
        }
    };

    // A known event id: an idempotent repeat, or a conflict.
    if let Some(id) = event.event_id {
        if let Some(position) = view.id_position(id)? {
            let original = view.record(position)?;
            return if same_content(event, actor, &original) {
                Ok(Validated::Repeat {
                    position,
                    event_id: id,
                })
            } else {
                Err(Error::EventIdConflict {
                    index,
                    event_id: id,
                    position,
                })
            };
        }
    }

    let commitment_exists = |id: Uuid, field: &str| -> Result<(u64, u64), Error> {
        view.stream_head(&StreamId::commitment(id))?.ok_or_else(|| {
            Error::validation(index, field, format!("no commitment {id} is recorded"))
        })
    };

    // The stream, and the type's own rules.
    let mut implied_no_stream = false;
    let mut retracted_target: Option<Uuid> = None;
    let mut not_before: Option<(DateTime<Utc>, String)> = None;
    let stream = match &event.data {
        EventData::CommitmentMade(d) => {
            check_title(index, "data.title", &d.title)?;
            implied_no_stream = true;
            StreamId::commitment(d.commitment_id)
        }
        EventData::CommitmentAmended(d) => {
            require_reason(index, event)?;
            if d.is_empty() {
                return Err(Error::validation(
                    index,
                    "data",
                    "an amendment must change at least one of title, summary, owner, parties, themes, due",
                ));
            }
            if let Some(t) = &d.title {
                check_title(index, "data.title", t)?;
            }
            commitment_exists(d.commitment_id, "data.commitment_id")?;
            StreamId::commitment(d.commitment_id)
        }
        EventData::CommitmentStatusChanged(d) => {
            commitment_exists(d.commitment_id, "data.commitment_id")?;
            if let Some(made_on) = view.made_on(d.commitment_id)? {
                not_before = Some((
                    Moment::Date(made_on).start(),
                    format!("the commitment's made_on ({made_on})"),
                ));
            }
            StreamId::commitment(d.commitment_id)
        }
        EventData::MeetingHeld(d) => {
            check_title(index, "data.title", &d.title)?;
            for (i, c) in d.commitment_ids.iter().enumerate() {
                commitment_exists(*c, &format!("data.commitment_ids[{i}]"))?;
            }
            implied_no_stream = true;
            StreamId::meeting(d.meeting_id)
        }
        EventData::MeetingLinked(d) => {
            let meeting = StreamId::meeting(d.meeting_id);
            if view.stream_head(&meeting)?.is_none() {
                return Err(Error::validation(
                    index,
                    "data.meeting_id",
                    format!("no meeting {} is recorded", d.meeting_id),
                ));
            }
            commitment_exists(d.commitment_id, "data.commitment_id")?;
            meeting
        }
        EventData::EventRetracted(d) => {
            require_reason(index, event)?;
            let position = view.id_position(d.event_id)?.ok_or_else(|| {
                Error::validation(
                    index,
                    "data.event_id",
                    format!("no event {} is recorded", d.event_id),
                )
            })?;
            let target = view.record(position)?;
            if matches!(target.data, EventData::EventRetracted(_)) {
                return Err(Error::validation(
                    index,
                    "data.event_id",
                    format!(
                        "event {} is itself a retraction; retractions cannot be retracted",
                        d.event_id
                    ),
                ));
            }
            if let Some(by) = view.retraction_of(d.event_id)? {
                return Err(Error::validation(
                    index,
                    "data.event_id",
                    format!(
                        "event {} is already retracted (by the event at position {by})",
                        d.event_id
                    ),
                ));
            }
            retracted_target = Some(d.event_id);
            target.stream
        }
    };

    // Valid time.
    let (effective, effective_field) = match (event.effective, event.data.default_effective()) {
        (Some(m), _) => (m, "effective"),
        (None, Some(m)) => (
            m,
            match &event.data {
                EventData::MeetingHeld(_) => "data.held_on",
                _ => "data.made_on",
            },
        ),
        (None, None) => (Moment::Instant(recorded_at), "effective"),
    };
    if effective.start() > recorded_at {
        return Err(Error::validation(
            index,
            effective_field,
            format!(
                "`{effective}` is later than the moment of recording ({})",
                crate::moment::format_instant(&recorded_at)
            ),
        ));
    }
    if let Some((earliest, what)) = not_before {
        if effective.start() < earliest {
            return Err(Error::validation(
                index,
                effective_field,
                format!("`{effective}` is before {what}"),
            ));
        }
    }

    // Optimistic concurrency.
    let actual = view.stream_head(&stream)?.map(|(v, _)| v);
    let expected = if implied_no_stream {
        match event.expected_version {
            None | Some(ExpectedVersion::NoStream) => ExpectedVersion::NoStream,
            Some(other) => {
                return Err(Error::validation(
                    index,
                    "expected_version",
                    format!(
                        "{} always expects \"no_stream\", not `{other}`",
                        event.data.type_name()
                    ),
                ))
            }
        }
    } else {
        event.expected_version.unwrap_or_default()
    };
    check_expected(index, &stream, expected, actual)?;

    // Assign what the ledger assigns; the record is encoded once the append has passed.
    let pending = Pending {
        index,
        event,
        actor,
        position: layer.base_position + pipeline.validated.load(Ordering::Relaxed) as u64,
        event_id: event.event_id.unwrap_or_else(Uuid::now_v7),
        stream,
        version: actual.map_or(0, |v| v + 1),
        recorded_at,
        effective,
        retracts: retracted_target,
        made: made_of(&event.data),
    };
    note_staged(
        layer,
        &RecordHeader {
            position: pending.position,
            event_id: pending.event_id,
            stream: std::borrow::Cow::Borrowed(pending.stream.as_str()),
            version: pending.version,
            recorded_at,
            retracts: pending.retracts,
            made: pending.made,
        },
        &pending.stream,
    );
    Ok(Validated::New(pending))
}

/// The commitment a `commitment_made` makes, and its `made_on`.
fn made_of(data: &EventData) -> Option<(Uuid, NaiveDate)> {
    match data {
        EventData::CommitmentMade(d) => Some((d.commitment_id, d.made_on)),
        _ => None,
    }
}

/// Notes a validated record in `layer`'s maps, which later events of the group consult.
fn note_staged(layer: &mut Layer, header: &RecordHeader<'_>, stream: &StreamId) {
    layer
        .stream_heads
        .insert(stream.clone(), (header.version, header.position));
    layer.ids.insert(header.event_id, header.position);
    if let Some((commitment, made_on)) = header.made {
        layer.made_on.insert(commitment, made_on);
    }
    if let Some(target) = header.retracts {
        layer.retracted.insert(target, header.position);
    }
    layer.last_recorded_at = header.recorded_at;
}

/// Adds a noted record, whose leaf hash is `leaf`, to `layer`: the tree hashes it completes,
/// then the record.
fn push_staged(
    store: &Store,
    group: &Layer,
    layer: &mut Layer,
    staged: Staged,
    leaf: Hash,
) -> Result<(), Error> {
    let position = staged.position;
    let completed = {
        let view = View::new(store, [group, layer]);
        tlog_tiles::stored_hashes_for_record_hash(position, leaf.into(), &view).map_err(|e| {
            Error::Integrity {
                position,
                what: format!("stored tree hashes are missing: {e}"),
            }
        })?
    };
    for (level, h) in completed.into_iter().enumerate() {
        layer
            .hashes
            .insert((level as u8, position >> level), h.into());
    }
    layer.records.push(staged);
    Ok(())
}

/// Checks recorded records (an export being imported) against the ledger plus the staged ones,
/// and stages them byte for byte. Every failure is an integrity failure at the record's position:
/// the export is not a ledger this one can continue.
pub(crate) fn stage_records(
    store: &Store,
    group: &Layer,
    records: &[Vec<u8>],
) -> Result<(Layer, AppendOutcome), Error> {
    let mut layer = Layer::new(group.next_position(), group.last_recorded_at);
    let mut outcome = AppendOutcome {
        positions: Vec::with_capacity(records.len()),
        event_ids: Vec::with_capacity(records.len()),
        new_events: 0,
        tree_size: 0,
    };
    for bytes in records {
        let position = layer.next_position();
        let bad = |what: String| Error::Integrity { position, what };
        let record = Record::decode(bytes).map_err(|e| bad(format!("the record's form: {e}")))?;
        if record.encode() != *bytes {
            return Err(bad(
                "the record is not in the canonical recorded form".into()
            ));
        }
        if bytes.len() > RECORD_BYTES_MAX {
            return Err(bad(format!("the record is over {RECORD_BYTES_MAX} bytes")));
        }
        if record.position != position {
            return Err(bad(format!(
                "the record says position {} where {position} comes next",
                record.position
            )));
        }
        let (last_recorded_at, retracted_target) = {
            let view = View::new(store, [group, &layer]);
            let expected_version = view.stream_head(&record.stream)?.map_or(0, |(v, _)| v + 1);
            if record.version != expected_version {
                return Err(bad(format!(
                    "stream {} version {} where {expected_version} comes next",
                    record.stream, record.version
                )));
            }
            if view.id_position(record.event_id)?.is_some() {
                return Err(bad(format!("event id {} appears twice", record.event_id)));
            }
            let target = match &record.data {
                EventData::EventRetracted(d) => {
                    let target_position = view.id_position(d.event_id)?.ok_or_else(|| {
                        bad(format!(
                            "retracts {} which comes nowhere before",
                            d.event_id
                        ))
                    })?;
                    let target = view.record(target_position)?;
                    if matches!(target.data, EventData::EventRetracted(_))
                        || view.retraction_of(d.event_id)?.is_some()
                        || target.stream != record.stream
                    {
                        return Err(bad(format!("an invalid retraction of {}", d.event_id)));
                    }
                    Some(d.event_id)
                }
                _ => None,
            };
            (layer.last_recorded_at.max(group.last_recorded_at), target)
        };
        if record.recorded_at < last_recorded_at {
            return Err(bad("recorded_at goes backwards".into()));
        }
        outcome.positions.push(position);
        outcome.event_ids.push(record.event_id);
        let staged = Staged {
            position,
            event_id: record.event_id,
            version: record.version,
            recorded_at: record.recorded_at,
            retracts: retracted_target,
            made: made_of(&record.data),
            stream: record.stream,
            bytes: bytes.clone(),
        };
        note_staged(&mut layer, &staged.header(), &staged.stream);
        let leaf = Hash::leaf(&staged.bytes);
        push_staged(store, group, &mut layer, staged, leaf)?;
    }
    outcome.new_events = layer.records.len();
    Ok((layer, outcome))
}
