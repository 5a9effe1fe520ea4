//! Where a ledger's bytes live: the [`Backend`] trait, its two implementations, and what the
//! rest of the crate shares on top of them ([`Store`]: a backend plus the in-memory index).
//!
//! The trait is drawn from what the writer, the readers and `verify` actually call, nothing
//! more: the durable head, runs of records in position order, one record, one hash tile,
//! checkpoints, and a group commit that first takes the log's write lock and then writes the
//! group's records, tiles and new head atomically. Validation, the Merkle tree, projections,
//! the CLI and the server sit above it and do not know which backend is below; storage in turn
//! knows nothing of them (it imports only the model, the tree's hash type and the error).
//!
//! * [`on_sled`]: the embedded default, one sled tree (records bundled 16 to a value).
//! * [`on_postgres`]: PostgreSQL, one row per record, the head row's lock serialising appends
//!   across processes and machines.
//! * [`index`]: the in-memory index, a projection of the log.
//! * [`store`]: a backend and its index, as the rest of the crate reads them.

mod head_file;
pub(crate) mod id_positions;
pub(crate) mod index;
pub(crate) mod index_file;
#[cfg(feature = "postgres")]
pub(crate) mod on_postgres;
pub(crate) mod on_sled;
mod sled_commit;
mod sled_files;
pub(crate) mod store;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::tree::merkle::Hash;

pub use on_sled::CACHE_BYTES_DEFAULT;
pub(crate) use store::{HashSource, Hashes, Store};

/// The records of a chunk on the default backend (a sled bundle), for sizing buffers. Chunks of
/// other backends may hold more.
pub(crate) const CHUNK_RECORDS_TYPICAL: usize = on_sled::BUNDLE_RECORDS_MAX;

/// Hashes per stored tile (both backends).
pub const TILE_WIDTH: u64 = 256;

/// Where the log stands: what the last durable commit left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of events; the next position.
    pub tree_size: u64,
    /// Merkle root over positions `0..tree_size`.
    pub root: Hash,
    /// `recorded_at` of the last event (the Unix epoch for an empty ledger).
    pub last_recorded_at: DateTime<Utc>,
}

impl Head {
    /// The head of an empty ledger.
    pub fn empty() -> Head {
        Head {
            tree_size: 0,
            root: Hash::empty_tree(),
            last_recorded_at: DateTime::UNIX_EPOCH,
        }
    }

    pub(crate) fn encode(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..8].copy_from_slice(&self.tree_size.to_be_bytes());
        out[8..40].copy_from_slice(&self.root.0);
        out[40..].copy_from_slice(&self.last_recorded_at.timestamp_micros().to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Head> {
        if bytes.len() != 48 {
            return None;
        }
        let tree_size = u64::from_be_bytes(bytes[..8].try_into().ok()?);
        let root = Hash(bytes[8..40].try_into().ok()?);
        let micros = i64::from_be_bytes(bytes[40..].try_into().ok()?);
        Some(Head {
            tree_size,
            root,
            last_recorded_at: DateTime::from_timestamp_micros(micros)?,
        })
    }
}

/// Bytes a backend hands out: sled's own buffer (no copy) or an owned one.
#[derive(Debug, Clone)]
pub(crate) enum Bytes {
    Sled(sled::IVec),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Sled(v) => v,
            Bytes::Owned(v) => v,
        }
    }
}

/// A run of consecutive records, as a backend reads them: a sled bundle, or a page of rows.
pub(crate) struct Chunk {
    /// The position of its first record.
    pub(crate) first: u64,
    pub(crate) records: ChunkRecords,
}

pub(crate) enum ChunkRecords {
    /// Records separated by `\n` (records are compact JSON and hold none).
    Joined(Bytes),
    /// One buffer per record.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Rows(Vec<Vec<u8>>),
}

impl Chunk {
    /// The records, in order.
    pub(crate) fn records(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.records {
            ChunkRecords::Joined(bytes) => Box::new(split_lines(bytes)),
            ChunkRecords::Rows(rows) => Box::new(rows.iter().map(Vec::as_slice)),
        }
    }
}

/// The `\n`-separated parts of `bytes` (memchr: a vectorised search, not a byte-by-byte one).
pub(crate) fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(b'\n', current) {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Chunks in position order.
pub(crate) type Chunks<'a> = Box<dyn Iterator<Item = Result<Chunk, Error>> + Send + 'a>;

/// A record about to be committed, with the fields a backend may index it by (sled indexes
/// nothing: it needs only the position and the bytes).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct CommitRecord<'a> {
    pub(crate) position: u64,
    pub(crate) stream: &'a str,
    pub(crate) version: u64,
    pub(crate) event_id: Uuid,
    /// The record exactly as hashed.
    pub(crate) bytes: &'a [u8],
}

/// What one group commit writes, all or nothing.
pub(crate) struct CommitBatch<'a> {
    /// New records, in position order, starting at the locked head's tree size.
    pub(crate) records: Vec<CommitRecord<'a>>,
    /// Hash tiles `(level, tile index, every hash of the tile so far)`, replacing stored ones.
    pub(crate) tiles: Vec<(u8, u64, Vec<u8>)>,
    /// The head after the commit.
    pub(crate) head: Head,
}

/// The write side of one group commit, holding the log's write lock until it is dropped or
/// committed.
pub(crate) trait CommitLock: Send {
    /// The durable head under the lock: what the group must extend.
    fn head(&self) -> Head;
    /// Writes the batch atomically and durably, and runs `meanwhile` once on this thread:
    /// while the written batch is made durable where the backend can wait for the disk on
    /// another thread (sled, for large batches), else after the commit. `meanwhile` may have
    /// run whether or not the commit succeeds.
    ///
    /// On error the caller cannot tell what was written. PostgreSQL rolls the transaction back,
    /// so nothing of the batch is stored. sled has applied the batch before it flushes: after a
    /// failed flush (or a failed head-file write after a good one) the batch may be in sled's
    /// tree, durable or not, and may be there when the ledger is opened again. That is why the
    /// writer undoes it ([`Backend::undo_failed_commit`]) before the next group, and refuses
    /// appends for as long as it cannot; no reader is shown the batch, since the head is not
    /// published, and the head file (not reached) marks it unacknowledged for the next open.
    fn commit(
        self: Box<Self>,
        batch: CommitBatch<'_>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<(), Error>;
}

/// A ledger's durable storage. See the module notes.
pub(crate) trait Backend: Send + Sync {
    /// The durable head as stored.
    fn head(&self) -> Result<Head, Error>;
    /// Runs of records from the one holding `position` on (the first run may begin earlier),
    /// in position order, to the end of the log.
    fn chunks_from(&self, position: u64) -> Result<Chunks<'_>, Error>;
    /// The position of the last record stored, if any (whatever the head says).
    fn last_position(&self) -> Result<Option<u64>, Error>;
    /// The stored bytes of the record at `position`.
    fn record_bytes(&self, position: u64) -> Result<Option<Vec<u8>>, Error>;
    /// The stored bytes of the records at `positions`, in the same order (one round trip on a
    /// database).
    fn records_at(&self, positions: &[u64]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        positions.iter().map(|&p| self.record_bytes(p)).collect()
    }
    /// A stored hash tile: up to [`TILE_WIDTH`] hashes of one level, 32 bytes each.
    fn tile(&self, level: u8, tile: u64) -> Result<Option<Bytes>, Error>;
    /// Several stored tiles at once, in the order asked (one round trip on a database).
    fn tiles(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<Bytes>>, Error> {
        keys.iter()
            .map(|&(level, tile)| self.tile(level, tile))
            .collect()
    }
    /// Every stored checkpoint note, by tree size (then key name).
    fn checkpoint_notes(&self) -> Result<Vec<(u64, String)>, Error>;
    /// Stores a checkpoint note and the verifier key of its signer, durably.
    fn put_checkpoint(
        &self,
        size: u64,
        name: &str,
        note: &str,
        verifier: &str,
    ) -> Result<(), Error>;
    /// The verifier key stored for a key name.
    fn verifier_key(&self, name: &str) -> Result<Option<String>, Error>;
    /// Takes the log's write lock for one group commit.
    fn lock_for_commit(&self) -> Result<Box<dyn CommitLock + '_>, Error>;
    /// Makes everything written durable before the ledger closes.
    fn close(&self);
    /// Makes `head` the log's head and removes what lies beyond it — records, and hashes in
    /// the tiles — which no commit acknowledged: a group commit that failed part way (a full
    /// disk) can leave some of its writes behind, its head among them. Answers how many records
    /// it removed. Only called when nothing beyond `head` was acknowledged (the head file says
    /// so). A backend whose commits are atomic transactions has nothing to remove.
    fn discard_beyond(&self, _head: &Head) -> Result<u64, Error> {
        Ok(0)
    }
    /// Makes `head` — the head before a group commit that just failed — the log's head again,
    /// removing whatever of the failed batch the backend may have kept, so that the writer can
    /// go on. Fails if that cannot be made sure of; the writer then refuses appends (and tries
    /// again at the next one). A backend whose failed commits are rolled back (PostgreSQL:
    /// the next lock reads the head as the database has it) has nothing to do.
    fn undo_failed_commit(&self, _head: &Head) -> Result<(), Error> {
        Ok(())
    }
    /// Makes the next `commits` commits fail after their batch was applied, as a failed flush
    /// does (a test seam; a backend without one ignores it).
    #[cfg(any(test, feature = "testing"))]
    fn fail_next_commits(&self, _commits: u32) {}
}
