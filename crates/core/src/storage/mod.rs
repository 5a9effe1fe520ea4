//! Where a ledger's bytes live: the [`Backend`] trait, its two implementations, and what the
//! rest of the crate shares on top of them ([`Store`]: a backend plus the in-memory [`Index`]).
//!
//! The trait is drawn from what the writer, the readers and `verify` actually call, nothing
//! more: the durable head, runs of records in position order, one record, one hash tile,
//! checkpoints, and a group commit that first takes the log's write lock and then writes the
//! group's records, tiles and new head atomically. Validation, the Merkle tree, the index,
//! projections, the CLI and the server sit above it and do not know which backend is below.
//!
//! * [`on_sled`]: the embedded default, one sled tree (records bundled 64 to a value).
//! * [`on_postgres`]: PostgreSQL, one row per record, the head row's lock serialising appends
//!   across processes and machines.

#[cfg(feature = "postgres")]
pub(crate) mod on_postgres;
pub(crate) mod on_sled;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::event::StreamId;
use crate::merkle::{Hash, HASH_BYTES};
use crate::Map;

pub use on_sled::{open_sled, CACHE_BYTES_DEFAULT};

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

/// A record about to be committed, with the fields a backend may index it by.
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
    /// another thread (sled, for large batches), else after the commit. On error nothing of
    /// the batch is visible, though `meanwhile` may have run.
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
    /// Whether a failed commit leaves the durable state unknown to this process, so that the
    /// writer must refuse further appends until the ledger is reopened (sled). A backend whose
    /// next lock reads the true head answers `false`.
    fn commit_failure_is_fatal(&self) -> bool {
        true
    }
}

/// The index of a ledger, kept in memory: a projection of the log.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    /// Positions of each stream's events, in version order (version = index).
    pub(crate) streams: Map<StreamId, Vec<u64>>,
    /// Event id → position.
    pub(crate) ids: Map<Uuid, u64>,
    /// Retracted event id → position of its retraction.
    pub(crate) retracted: Map<Uuid, u64>,
    /// `made_on` of each commitment (from its `commitment_made`).
    pub(crate) made_on: Map<Uuid, NaiveDate>,
    /// The records indexed: positions `0..size`.
    pub(crate) size: u64,
}

impl Index {
    /// Adds the record at the next position. Fails (naming the position) if it does not
    /// continue the log: a wrong position, version or a repeated id.
    pub(crate) fn push(&mut self, r: &crate::record::RecordHeader<'_>) -> Result<(), Error> {
        let position = self.size;
        let bad = |what: String| Error::Integrity { position, what };
        if r.position != position {
            return Err(bad(format!("the record says position {}", r.position)));
        }
        // A known stream is found by its text (no parse, no allocation); only a new one is
        // parsed and owned.
        let versions = if self.streams.contains_key(r.stream.as_ref()) {
            self.streams
                .get_mut(r.stream.as_ref())
                .expect("checked just before")
        } else {
            let stream = StreamId::parse(&r.stream)
                .ok_or_else(|| bad(format!("`{}` is not a stream id", r.stream)))?;
            self.streams.entry(stream).or_default()
        };
        if r.version != versions.len() as u64 {
            return Err(bad(format!(
                "stream {} version {} where {} was expected",
                r.stream,
                r.version,
                versions.len()
            )));
        }
        versions.push(position);
        if self.ids.insert(r.event_id, position).is_some() {
            return Err(bad(format!("event id {} appears twice", r.event_id)));
        }
        if let Some(target) = r.retracts {
            self.retracted.insert(target, position);
        }
        if let Some((commitment, made_on)) = r.made {
            self.made_on.insert(commitment, made_on);
        }
        self.size += 1;
        Ok(())
    }

    /// Takes back the records `pushed` (the last ones pushed, in position order): a group
    /// commit that failed after its records were pushed.
    pub(crate) fn unpush(&mut self, pushed: &[crate::record::RecordHeader<'_>]) {
        for r in pushed.iter().rev() {
            if r.position + 1 != self.size {
                continue;
            }
            if let Some(versions) = self.streams.get_mut(r.stream.as_ref()) {
                versions.pop();
                if versions.is_empty() {
                    self.streams.remove(r.stream.as_ref());
                }
            }
            self.ids.remove(&r.event_id);
            if let Some(target) = r.retracts {
                self.retracted.remove(&target);
            }
            if let Some((commitment, _)) = r.made {
                self.made_on.remove(&commitment);
            }
            self.size -= 1;
        }
    }

    /// Adds the records of `chunks` from position `self.size` up to `tree_size`, checking that
    /// they continue the log without gaps.
    fn extend(&mut self, chunks: Chunks<'_>, tree_size: u64) -> Result<(), Error> {
        for chunk in chunks {
            let chunk = chunk?;
            if chunk.first > self.size {
                return Err(Error::Integrity {
                    position: self.size,
                    what: "records are missing (the log has a gap)".into(),
                });
            }
            for (i, record) in chunk.records().enumerate() {
                let position = chunk.first + i as u64;
                if position < self.size {
                    continue;
                }
                if position >= tree_size {
                    return Ok(());
                }
                let header =
                    crate::record::RecordHeader::decode(record).map_err(|e| Error::Integrity {
                        position,
                        what: format!("the record does not decode: {e}"),
                    })?;
                self.push(&header)?;
            }
        }
        Ok(())
    }
}

/// The log holds `size` records where its head says `tree_size`.
fn records_missing(size: u64, tree_size: u64) -> Error {
    Error::Integrity {
        position: size,
        what: format!(
            "the log ends at {size} records but its head says {tree_size}: records are missing"
        ),
    }
}

/// A backend and the in-memory index over it. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) index: Arc<RwLock<Index>>,
    /// Recently read hash tiles. A stored hash never changes once written (tiles only grow at
    /// the end), so a cached tile answers any hash it holds; a hash beyond its end is read
    /// again. Saves the many small reads of proofs and roots (one query each on a database).
    tiles: Arc<Mutex<HashMap<(u8, u64), Bytes>>>,
}

/// Hash tiles cached at most (8 KiB each): 8 MiB.
const TILE_CACHE_MAX: usize = 1024;

impl Store {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            index: Arc::new(RwLock::new(Index::default())),
            tiles: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub(crate) fn head(&self) -> Result<Head, Error> {
        self.backend.head()
    }

    pub(crate) fn chunks_from(&self, position: u64) -> Result<Chunks<'_>, Error> {
        self.backend.chunks_from(position)
    }

    pub(crate) fn record_bytes(&self, position: u64) -> Result<Option<Vec<u8>>, Error> {
        self.backend.record_bytes(position)
    }

    pub(crate) fn records_at(&self, positions: &[u64]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.backend.records_at(positions)
    }

    pub(crate) fn tile(&self, level: u8, tile: u64) -> Result<Option<Bytes>, Error> {
        self.backend.tile(level, tile)
    }

    pub(crate) fn checkpoint_notes(&self) -> Result<Vec<(u64, String)>, Error> {
        self.backend.checkpoint_notes()
    }

    pub(crate) fn put_checkpoint(
        &self,
        size: u64,
        name: &str,
        note: &str,
        verifier: &str,
    ) -> Result<(), Error> {
        self.backend.put_checkpoint(size, name, note, verifier)
    }

    pub(crate) fn verifier_key(&self, name: &str) -> Result<Option<String>, Error> {
        self.backend.verifier_key(name)
    }

    pub(crate) fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // The index is only written record by record, each push whole; a panic there poisons
        // the lock but leaves a consistent prefix.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The last version and its position, if the stream exists.
    pub(crate) fn stream_head(&self, stream: &StreamId) -> Result<Option<(u64, u64)>, Error> {
        Ok(self
            .read_index()
            .streams
            .get(stream)
            .and_then(|v| v.last().map(|p| (v.len() as u64 - 1, *p))))
    }

    /// The positions of a stream's events, in version order.
    pub(crate) fn stream_positions(&self, stream: &StreamId) -> Result<Vec<u64>, Error> {
        Ok(self
            .read_index()
            .streams
            .get(stream)
            .cloned()
            .unwrap_or_default())
    }

    /// The position of an event.
    pub(crate) fn event_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        Ok(self.read_index().ids.get(&id).copied())
    }

    /// The position of the retraction of an event.
    pub(crate) fn retraction_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        Ok(self.read_index().retracted.get(&id).copied())
    }

    /// `made_on` of a commitment.
    pub(crate) fn made_on(&self, commitment: Uuid) -> Option<NaiveDate> {
        self.read_index().made_on.get(&commitment).copied()
    }

    /// Builds the index by scanning every record up to `tree_size` (at open). Fails if the log
    /// has a gap or ends early, and — unless `shared` (other processes may be appending, so
    /// later records are later commits) — if it holds records beyond `tree_size`.
    pub(crate) fn build_index(&self, tree_size: u64, shared: bool) -> Result<Index, Error> {
        let mut index = Index::default();
        let scan_to = if shared { tree_size } else { u64::MAX };
        index.extend(self.chunks_from(0)?, scan_to)?;
        if index.size > tree_size {
            return Err(Error::Integrity {
                position: tree_size,
                what: format!("a record lies beyond the head (tree size {tree_size})"),
            });
        }
        if index.size != tree_size {
            return Err(records_missing(index.size, tree_size));
        }
        Ok(index)
    }

    /// Extends the index with records other processes committed, up to `tree_size` (a
    /// backend shared by several writers; a no-op when the index is already there).
    pub(crate) fn catch_up_index(&self, tree_size: u64) -> Result<(), Error> {
        if self.read_index().size >= tree_size {
            return Ok(());
        }
        let mut index = self.write_index();
        if index.size >= tree_size {
            return Ok(());
        }
        let from = index.size;
        index.extend(self.chunks_from(from)?, tree_size)?;
        if index.size < tree_size {
            return Err(records_missing(index.size, tree_size));
        }
        Ok(())
    }

    /// One stored hash, `(level, index)`.
    pub(crate) fn hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        let key = (level, index / TILE_WIDTH);
        let at = (index % TILE_WIDTH) as usize * HASH_BYTES;
        let slice = |tile: &[u8]| {
            tile.get(at..at + HASH_BYTES)
                .map(|b| Hash(b.try_into().expect("slice of 32")))
        };
        let cached = self.tile_cache().get(&key).and_then(|t| slice(t));
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(tile) = self.tile(key.0, key.1)? else {
            return Ok(None);
        };
        let hash = slice(&tile);
        let mut cache = self.tile_cache();
        if cache.len() >= TILE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, tile);
        Ok(hash)
    }

    /// A stored tile as it is in the tree of `tree_size` records, for the writer to extend: the
    /// cached copy when it holds exactly the hashes that size implies (level `L` has
    /// `tree_size >> L` stored hashes), else a fresh read. Saves a read per level and group
    /// commit, a round trip each on a database, taken under the write lock.
    pub(crate) fn tile_at_size(
        &self,
        level: u8,
        tile: u64,
        tree_size: u64,
    ) -> Result<Option<Bytes>, Error> {
        let expected_bytes = Self::tile_bytes_at_size(level, tile, tree_size);
        if let Some(cached) = self.tile_cache().get(&(level, tile)) {
            if cached.len() == expected_bytes {
                return Ok(Some(cached.clone()));
            }
        }
        self.tile(level, tile)
    }

    /// Brings the cached copies of the tiles a group commit on top of `tree_size` records reads
    /// and extends (the last tile of each level, and the one before it) up to that size, in one
    /// read of the backend for all that are stale. Another process's commit makes them stale.
    pub(crate) fn refresh_frontier(&self, tree_size: u64) -> Result<(), Error> {
        let mut stale = Vec::new();
        {
            let cache = self.tile_cache();
            let mut level = 0u8;
            while level < 64 && tree_size >> level > 0 {
                let last_tile = (tree_size >> level) / TILE_WIDTH;
                for tile in last_tile.saturating_sub(1)..=last_tile {
                    let expected = Self::tile_bytes_at_size(level, tile, tree_size);
                    let fresh = cache.get(&(level, tile)).map(|t| t.len()) == Some(expected);
                    if expected > 0 && !fresh {
                        stale.push((level, tile));
                    }
                }
                level += 1;
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        let fetched = self.backend.tiles(&stale)?;
        let mut cache = self.tile_cache();
        if cache.len() + stale.len() > TILE_CACHE_MAX {
            cache.clear();
        }
        for (key, tile) in stale.into_iter().zip(fetched) {
            if let Some(tile) = tile {
                cache.insert(key, tile);
            }
        }
        Ok(())
    }

    /// The bytes of tile `(level, tile)` in the tree of `tree_size` records: level `L` holds
    /// `tree_size >> L` stored hashes.
    fn tile_bytes_at_size(level: u8, tile: u64, tree_size: u64) -> usize {
        let hashes_in_level = tree_size >> level;
        hashes_in_level
            .saturating_sub(tile * TILE_WIDTH)
            .min(TILE_WIDTH) as usize
            * HASH_BYTES
    }

    /// Puts tiles just committed into the cache.
    pub(crate) fn remember_tiles(&self, tiles: Vec<(u8, u64, Vec<u8>)>) {
        let mut cache = self.tile_cache();
        if cache.len() + tiles.len() > TILE_CACHE_MAX {
            cache.clear();
        }
        for (level, tile, hashes) in tiles {
            cache.insert((level, tile), Bytes::Owned(hashes));
        }
    }

    fn tile_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(u8, u64), Bytes>> {
        // A cache: whatever a panic left in it is still true.
        self.tiles.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordHeader;
    use std::borrow::Cow;

    fn header(position: u64, stream: &str, version: u64) -> RecordHeader<'_> {
        RecordHeader {
            position,
            event_id: Uuid::from_u128(1000 + u128::from(position)),
            stream: Cow::Borrowed(stream),
            version,
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            retracts: (position == 3).then(|| Uuid::from_u128(1000)),
            made: (version == 0)
                .then(|| (Uuid::from_u128(position.into()), chrono::NaiveDate::MIN)),
        }
    }

    #[test]
    fn unpush_takes_back_exactly_what_push_added() {
        let a = "commitment/0194a1c2-0000-7000-8000-000000000001";
        let b = "commitment/0194a1c2-0000-7000-8000-000000000002";
        let mut index = Index::default();
        index.push(&header(0, a, 0)).unwrap();
        index.push(&header(1, a, 1)).unwrap();
        let before = index.clone();
        let group = [header(2, b, 0), header(3, a, 2), header(4, b, 1)];
        for h in &group {
            index.push(h).unwrap();
        }
        assert_eq!(index.size, 5);
        index.unpush(&group);
        assert_eq!(index.size, before.size);
        assert_eq!(index.streams, before.streams);
        assert_eq!(index.ids, before.ids);
        assert_eq!(index.retracted, before.retracted);
        assert_eq!(index.made_on, before.made_on);
        // And the same records can be pushed again.
        for h in &group {
            index.push(h).unwrap();
        }
        assert_eq!(index.size, 5);
    }
}
