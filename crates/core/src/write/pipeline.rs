//! The encoding pipeline: an append's validated events become the records exactly as they will
//! be stored and hashed — for a large append on a second thread too, while the writer validates
//! the rest. Encoding decides nothing: every rule has been checked before an event gets here,
//! except the size of its record, which is only known once it is encoded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::model::event::StreamId;
use crate::model::input::InputEvent;
use crate::model::moment::Moment;
use crate::model::record::{RecordFields, RECORD_BYTES_MAX, SCHEMA_VERSION};
use crate::tree::merkle::Hash;
use crate::write::layer::PendingRecords;

/// An event that passed validation, with what the ledger assigned it; its record is encoded
/// after it, by the writer or a helper thread (see [`Pipeline`]).
pub(super) struct Pending<'e> {
    /// The event's place in its append, for errors.
    pub(super) index: usize,
    pub(super) event: &'e InputEvent,
    pub(super) actor: &'e str,
    pub(super) position: u64,
    pub(super) event_id: Uuid,
    pub(super) stream: StreamId,
    pub(super) version: u64,
    pub(super) recorded_at: DateTime<Utc>,
    pub(super) effective: Moment,
    pub(super) retracts: Option<Uuid>,
    pub(super) made: Option<(Uuid, NaiveDate)>,
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
pub(super) type Encoded = Result<(Vec<u8>, Hash), Error>;

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

impl PendingRecords for Vec<OnceLock<Pending<'_>>> {
    fn encode_at(&self, offset: u64) -> Option<Vec<u8>> {
        self.get(usize::try_from(offset).ok()?)?
            .get()
            .map(Pending::encode)
    }
}

/// The pipeline as the validating code sees it: where to publish each new event, and what is
/// published but not yet encoded.
pub(super) struct Publisher<'p, 'e> {
    pipeline: &'p Pipeline<'e>,
    /// The helper thread, woken when a chunk is complete.
    helper: Option<&'p std::thread::Thread>,
}

impl<'e> Publisher<'_, 'e> {
    /// Adds the next validated event, in order.
    pub(super) fn publish(&self, pending: Pending<'e>) {
        if self.pipeline.publish(pending) {
            if let Some(helper) = self.helper {
                helper.unpark();
            }
        }
    }

    /// How many events were published so far (the next one's offset from the append's first
    /// position).
    pub(super) fn published(&self) -> usize {
        self.pipeline.validated.load(Ordering::Relaxed)
    }

    /// The published events, for a view that must read one before it is encoded.
    pub(super) fn pending(&self) -> &dyn PendingRecords {
        &self.pipeline.pending
    }
}

/// Runs `validate` on this thread — it publishes each new event of an append of `capacity`
/// events, in order — while, for a large append, a helper thread encodes and hashes the
/// published events a chunk at a time; then both encode what is left. Answers the validated
/// events with their records, or the append's first error: an earlier event too large to
/// record comes before the error that stopped validation.
pub(super) fn validate_then_encode<'e>(
    capacity: usize,
    validate: &mut dyn FnMut(&Publisher<'_, 'e>) -> Result<(), Error>,
) -> Result<impl Iterator<Item = (Pending<'e>, Encoded)>, Error> {
    let pipeline = Pipeline::new(capacity);
    let validation = std::thread::scope(|scope| {
        let helper = if capacity >= PARALLEL_ENCODE_EVENTS_MIN {
            // No thread to be had: the writer encodes everything itself, after validating.
            std::thread::Builder::new()
                .name("ikrar-encode".into())
                .spawn_scoped(scope, || pipeline.encode_chunks(true))
                .ok()
        } else {
            None
        };
        let publisher = Publisher {
            pipeline: &pipeline,
            helper: helper.as_ref().map(|h| h.thread()),
        };
        let result = validate(&publisher);
        if result.is_err() {
            pipeline.abandoned.store(true, Ordering::Release);
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
        let mut encoded = encoded;
        let too_large = encoded.find_map(|(_, result)| result.err());
        return Err(too_large.unwrap_or(e));
    }
    Ok(encoded)
}
