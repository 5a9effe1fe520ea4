//! # ikrar-core
//!
//! The foundation of ikrar, an event-sourced ledger of public commitments: the event types
//! (SPEC §2), their validation (§3), the durable append-only log with group commit — on sled
//! (a ledger directory, the default) or PostgreSQL (a `postgres://` URL, [`Location`]) — and the
//! RFC 9162 Merkle tree over every record (§5).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ikrar_core::Error> {
//! use ikrar_core::{InputEvent, Ledger, StreamId};
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::create(dir.path().join("ledger"))?;
//! let made = InputEvent::from_json(r#"{"type":"commitment_made","actor":"oversight.kim",
//!   "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001",
//!           "title":"Hold the first Korea–Central Asia summit","parties":["Central Asia"],
//!           "made_on":"2025-01-16"}}"#).unwrap();
//! let progress = InputEvent::from_json(r#"{"type":"commitment_status_changed","actor":"oversight.kim",
//!   "effective":"2025-03-01","expected_version":0,
//!   "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","status":"in_progress"}}"#).unwrap();
//! let outcome = ledger.append(vec![made, progress]).await?;
//! assert_eq!(outcome.positions, vec![0, 1]);
//!
//! let stream = StreamId::parse("commitment/0194a1c2-7f00-7000-8000-000000000001").unwrap();
//! assert_eq!(ledger.read_stream(&stream)?.len(), 2);
//! let report = ledger.verify()?;
//! assert_eq!(report.root, ledger.head().root);
//! # Ok(()) }
//! ```

mod error;
mod ledger;
mod location;
mod model;
mod storage;
mod tree;
mod verify;
mod write;

// The public modules, at the paths they have always had.
pub use model::{moment, record};
pub use tree::{checkpoint, merkle, proof};

/// The event types (SPEC §2) and their input form (§2.2).
pub mod event {
    pub use crate::model::event::*;
    pub use crate::model::input::*;
}

pub use error::Error;
pub use event::{
    CommitmentAmended, CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted,
    ExpectedVersion, InputError, InputEvent, MeetingHeld, MeetingLinked, Participant, Source,
    Status, StreamId,
};
pub use ledger::{ExportCheck, Ledger, LedgerOptions};
pub use location::Location;
pub use merkle::Hash;
pub use moment::Moment;
pub use proof::ProofError;
pub use record::{Record, StoredRecord, RECORD_BYTES_MAX, SCHEMA_VERSION};
pub use storage::{Head, CACHE_BYTES_DEFAULT};
pub use tree::checkpoint::{CheckpointError, SignedCheckpoint, SignerKey, VerifierKey};
pub use verify::VerifyReport;
pub use write::stats::{CommitStats, COMMIT_SECONDS_BUCKETS, GROUP_EVENTS_BUCKETS};
pub use write::{
    AppendChain, AppendCheck, AppendOutcome, Clock, Reread, CHAIN_EVENTS_MAX,
    EVENTS_PER_APPEND_MAX, GROUP_EVENTS_MAX, QUEUE_APPENDS_MAX,
};

/// What only tests and benchmarks need: the files of a ledger directory, to tamper with them as
/// an attacker with write access would, and the bundle size, to aim at a bundle's edges.
#[cfg(feature = "testing")]
pub use storage::on_sled::{open_sled, BUNDLE_RECORDS_MAX, DB_DIR_NAME, LOCK_FILE_NAME};

/// The hash map of the writer's staging and of the index: keyed by event ids, stream ids and
/// tree coordinates, millions of entries, on the hot path of every append. foldhash is several
/// times faster than the standard SipHash on such short keys, and is seeded at random per map,
/// so keys chosen by clients (event ids) cannot be crafted to collide.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
