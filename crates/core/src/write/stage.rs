//! Staging an append (SPEC §3), done by the writer thread: each event decided by the rulebook
//! ([`super::rules`]) against the ledger plus what is staged before it, assigned its position,
//! id and version, encoded ([`super::pipeline`]) and added to the tree's stored hashes, all in a
//! [`Layer`] that the writer merges into its group only if every event of the append passed.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::model::event::{EventData, StreamId};
use crate::model::input::InputEvent;
use crate::model::record::RecordHeader;
use crate::storage::Store;
use crate::tree::merkle::Hash;
use crate::write::layer::{EarlierRecords, Layer, Staged, View};
use crate::write::pipeline::{self, Pending, Publisher};
use crate::write::rules;

/// The most events one append may hold (SPEC §3).
pub const EVENTS_PER_APPEND_MAX: usize = 10_000;

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

impl AppendOutcome {
    /// An outcome with room for `events` events, and nothing in it yet.
    pub(crate) fn with_capacity(events: usize) -> AppendOutcome {
        AppendOutcome {
            positions: Vec::with_capacity(events),
            event_ids: Vec::with_capacity(events),
            new_events: 0,
            tree_size: 0,
        }
    }
}

/// Validates `events` on top of `group` and stages them in a new layer. On error nothing of
/// this append is staged.
///
/// Three passes: validate each event and assign its position, id and version (later events
/// see the earlier ones through the layer's maps); encode and hash the new records — for a
/// large append on a second thread too, from the first validated chunk on (see
/// [`pipeline::validate_then_encode`]); then add them to the tree's stored hashes in order.
///
/// `earlier` answers the records of the earlier parts of an append checked in parts (`group`
/// then holds their maps); an ordinary append has none (`&()`).
pub(crate) fn stage(
    store: &Store,
    group: &Layer,
    earlier: &dyn EarlierRecords,
    events: &[InputEvent],
    now: DateTime<Utc>,
) -> Result<(Layer, AppendOutcome), Error> {
    let recorded_at = now.max(group.last_recorded_at);
    let mut layer = Layer::new(group.next_position(), recorded_at);
    let mut outcome = AppendOutcome::with_capacity(events.len());
    let encoded = pipeline::validate_then_encode(events.len(), &mut |publisher| {
        for (index, event) in events.iter().enumerate() {
            match validate_one(
                store,
                (group, &mut layer),
                earlier,
                publisher,
                index,
                event,
                recorded_at,
            )? {
                Validated::Repeat { position, event_id } => {
                    outcome.positions.push(position);
                    outcome.event_ids.push(event_id);
                }
                Validated::New(p) => {
                    outcome.positions.push(p.position);
                    outcome.event_ids.push(p.event_id);
                    publisher.publish(p);
                }
            }
        }
        Ok(())
    })?;
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

/// Decides one event by the rulebook, then assigns it what the ledger assigns and notes it in
/// `layer`, so that the events after it see it.
fn validate_one<'e>(
    store: &Store,
    (group, layer): (&Layer, &mut Layer),
    earlier: &dyn EarlierRecords,
    publisher: &Publisher<'_, 'e>,
    index: usize,
    event: &'e InputEvent,
    recorded_at: DateTime<Utc>,
) -> Result<Validated<'e>, Error> {
    let view = View {
        store,
        layers: [group, layer],
        pending: publisher.pending(),
        earlier,
    };
    let actor = rules::actor(index, event)?;
    if let Some((position, event_id)) = rules::repeat(&view, index, event, actor)? {
        return Ok(Validated::Repeat { position, event_id });
    }
    let subject = rules::subject(&view, index, event)?;
    let effective = rules::effective(index, event, recorded_at, subject.not_before.as_ref())?;
    let actual = view.stream_head(&subject.stream)?.map(|(v, _)| v);
    rules::expected_version(index, event, &subject, actual)?;

    // Assign what the ledger assigns; the record is encoded once the append has passed.
    let pending = Pending {
        index,
        event,
        actor,
        position: layer.base_position + publisher.published() as u64,
        event_id: event.event_id.unwrap_or_else(Uuid::now_v7),
        stream: subject.stream,
        version: actual.map_or(0, |v| v + 1),
        recorded_at,
        effective,
        retracts: subject.retracts,
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
pub(super) fn made_of(data: &EventData) -> Option<(Uuid, NaiveDate)> {
    match data {
        EventData::CommitmentMade(d) => Some((d.commitment_id, d.made_on)),
        _ => None,
    }
}

/// Notes a validated record in `layer`'s maps, which later events of the group consult.
pub(super) fn note_staged(layer: &mut Layer, header: &RecordHeader<'_>, stream: &StreamId) {
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
pub(super) fn push_staged(
    store: &Store,
    group: &Layer,
    layer: &mut Layer,
    staged: Staged,
    leaf: Hash,
) -> Result<(), Error> {
    let position = staged.position;
    let completed = {
        let view = View::new(store, [group, layer]);
        let hashes = crate::storage::Hashes::new(&view);
        let completed = tlog_tiles::stored_hashes_for_record_hash(position, leaf.into(), &hashes);
        let completed: Vec<tlog_tiles::Hash> = hashes.outcome(completed, |e| Error::Integrity {
            position,
            what: format!("stored tree hashes are missing: {e}"),
        })?;
        completed
    };
    for (level, h) in completed.into_iter().enumerate() {
        layer
            .hashes
            .insert((level as u8, position >> level), h.into());
    }
    layer.records.push(staged);
    Ok(())
}
