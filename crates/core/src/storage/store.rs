//! [`Store`]: a backend and the in-memory index over it, and what the rest of the crate reads
//! through it — records, the index's answers, stored hashes (with a cache of hash tiles).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use chrono::NaiveDate;

use crate::error::Error;
use crate::model::event::StreamId;
use crate::storage::index::{records_missing, Index};
use crate::storage::{Backend, Bytes, Chunks, Head, TILE_WIDTH};
use crate::tree::merkle::{Hash, HASH_BYTES};

/// A backend and the in-memory index over it. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) index: Arc<RwLock<Index>>,
    /// Recently read hash tiles. A stored hash never changes once written (tiles only grow at
    /// the end), so a cached tile answers any hash it holds; a hash beyond its end is read
    /// again. Saves the many small reads of proofs and roots (one query each on a database).
    tiles: Arc<Mutex<HashMap<(u8, u64), Bytes>>>,
    /// What the writer did, for operators.
    pub(crate) stats: Arc<crate::write::stats::WriterStats>,
    /// Records of unacknowledged commits removed when the ledger opened.
    pub(crate) discarded_at_open: Arc<std::sync::atomic::AtomicU64>,
    /// The tree size the index is still to be built to, when it is built on first use rather
    /// than at open ([`Store::defer_index`]); `None` once built.
    index_pending: Arc<Mutex<Option<u64>>>,
    /// Whether the index is built (the fast path of [`Store::ensure_index`]).
    index_built: Arc<std::sync::atomic::AtomicBool>,
    /// Where the index is saved and loaded from (`storage/index_file.rs`): a sled ledger's
    /// directory; `None` on a database, whose index is built from the log.
    pub(crate) index_dir: Option<std::path::PathBuf>,
    /// Whether the index was loaded from its file rather than built (a test seam).
    pub(crate) index_loaded: Arc<std::sync::atomic::AtomicBool>,
    /// The index's size when it was last loaded from its file or saved there.
    index_saved_size: Arc<std::sync::atomic::AtomicU64>,
}

/// Whether an index saved at `saved` records is worth saving again at `size`: more than an
/// eighth of it is new (writing ten million entries takes about a second).
fn grown_much(saved: u64, size: u64) -> bool {
    size > 0 && size - saved.min(size) > size / 8
}

/// Hash tiles cached at most (8 KiB each): 8 MiB.
const TILE_CACHE_MAX: usize = 1024;

impl Store {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            index: Arc::new(RwLock::new(Index::default())),
            tiles: Arc::new(Mutex::new(HashMap::new())),
            stats: Arc::default(),
            discarded_at_open: Arc::default(),
            index_pending: Arc::default(),
            index_built: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            index_dir: None,
            index_loaded: Arc::default(),
            index_saved_size: Arc::default(),
        }
    }

    /// The index is to be built to `tree_size` when first needed, not now. A query answered
    /// from the projection's snapshot — `ikrar summary`, `ikrar show` — never needs it, and
    /// building it is a scan of the whole log (15 s at 10,000,000 events); an append, an event
    /// id lookup or a stream's positions build it first ([`Store::ensure_index`]).
    pub(crate) fn defer_index(&self, tree_size: u64) {
        *self.index_pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(tree_size);
        self.index_built
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Builds the index if it was deferred: a scan of the log to the tree size it was
    /// deferred at, with the checks of [`Store::build_index`]. A failure is answered to every
    /// caller until a build succeeds.
    pub(crate) fn ensure_index(&self) -> Result<(), Error> {
        use std::sync::atomic::Ordering;
        if self.index_built.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut pending = self.index_pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tree_size) = *pending {
            // sled panics on some damage it meets while reading (a data file cut short): that
            // is damage, named, never a panic of the caller — often the writer thread.
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.load_or_build_index(tree_size)
            }))
            .map_err(|panic| Error::Integrity {
                position: 0,
                what: format!(
                    "sled failed reading the log ({}): its files are damaged",
                    crate::storage::on_sled::panic_message(panic.as_ref())
                ),
            })?;
            let index = built?;
            *self.index.write().unwrap_or_else(|p| p.into_inner()) = index;
            *pending = None;
        }
        self.index_built.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether the index is built (it is unless deferred and not yet needed).
    pub(crate) fn index_is_built(&self) -> bool {
        self.index_built.load(std::sync::atomic::Ordering::Acquire)
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
        self.ensure_index()?;
        Ok(self
            .read_index()
            .streams
            .get(stream)
            .and_then(|v| v.last().map(|p| (v.len() as u64 - 1, *p))))
    }

    /// The positions of a stream's events, in version order.
    pub(crate) fn stream_positions(&self, stream: &StreamId) -> Result<Vec<u64>, Error> {
        self.ensure_index()?;
        Ok(self
            .read_index()
            .streams
            .get(stream)
            .cloned()
            .unwrap_or_default())
    }

    /// The position of an event.
    pub(crate) fn event_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        self.ensure_index()?;
        Ok(self.read_index().ids.get(&id))
    }

    /// The position of the retraction of an event.
    pub(crate) fn retraction_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        self.ensure_index()?;
        Ok(self.read_index().retracted.get(&id).copied())
    }

    /// `made_on` of a commitment.
    pub(crate) fn made_on(&self, commitment: Uuid) -> Result<Option<NaiveDate>, Error> {
        self.ensure_index()?;
        Ok(self.read_index().made_on.get(&commitment).copied())
    }

    /// Builds the index by scanning every record up to `tree_size` (at open). Fails if the log
    /// has a gap or ends early, and — unless `shared` (other processes may be appending, so
    /// later records are later commits) — if it holds records beyond `tree_size`.
    pub(crate) fn build_index(&self, tree_size: u64, shared: bool) -> Result<Index, Error> {
        self.extended(Index::default(), tree_size, shared)
    }

    /// `index` extended with the log from its size to `tree_size`, with the checks of
    /// [`Store::build_index`] (a saved index is caught up exactly as a new one is built).
    fn extended(&self, mut index: Index, tree_size: u64, shared: bool) -> Result<Index, Error> {
        let scan_to = if shared { tree_size } else { u64::MAX };
        let from = index.size;
        index.extend(self.chunks_from(from)?, scan_to)?;
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

    /// The index to `tree_size`: the saved one if it checks out (its digest and contents, and
    /// the ledger's root at its size), extended with the log's tail; else built from the whole
    /// log. Saved again when built, or when the tail was more than an eighth of the ledger.
    fn load_or_build_index(&self, tree_size: u64) -> Result<Index, Error> {
        let Some(dir) = &self.index_dir else {
            return self.build_index(tree_size, false);
        };
        let saved = match crate::storage::index_file::read(dir) {
            Ok(Some((index, root))) if index.size <= tree_size => {
                if self.root_at(index.size)?.0 == root {
                    Some(index)
                } else {
                    tracing::warn!("the saved index is of another ledger; building it");
                    None
                }
            }
            Ok(Some(_)) => {
                tracing::warn!("the saved index is ahead of the log; building it");
                None
            }
            Ok(None) => None,
            Err(what) => {
                tracing::warn!(what, "the saved index is not used; building it");
                None
            }
        };
        let (index, from) = match saved {
            Some(index) => {
                let from = index.size;
                let index = self.extended(index, tree_size, false)?;
                self.index_loaded
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                (index, Some(from))
            }
            None => (self.build_index(tree_size, false)?, None),
        };
        // What the tail added goes into the sorted arrays too, its table given back.
        let mut index = index;
        index.ids.compact();
        let saved_size = &self.index_saved_size;
        saved_size.store(from.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        if grown_much(from.unwrap_or(0), tree_size) {
            self.save_index(dir, &index)?;
        }
        Ok(index)
    }

    /// Writes `index` to its file in `dir`. Not being able to is logged, not an error: the
    /// file is a cache, and the next open builds the index from the log.
    fn save_index(&self, dir: &std::path::Path, index: &Index) -> Result<(), Error> {
        let root = self.root_at(index.size)?;
        match crate::storage::index_file::write(dir, index, &root.0) {
            Ok(()) => self
                .index_saved_size
                .store(index.size, std::sync::atomic::Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, "the index was not saved; the next open builds it")
            }
        }
        Ok(())
    }

    /// Saves the index to its file if it has grown by more than an eighth since it was last
    /// loaded or saved there (a large append, a server that ran long), so that the next
    /// process loads it rather than scanning the log — a scan that holds about a gigabyte
    /// of sled's cache at ten million events. Whether it was saved; only on sled.
    pub(crate) fn save_index_if_grown(&self) -> Result<bool, Error> {
        let Some(dir) = &self.index_dir else {
            return Ok(false);
        };
        if !self.index_is_built() {
            return Ok(false);
        }
        // Held while writing: what the index holds is durable (the writer holds the write
        // lock until its flush returns), and appends wait meanwhile.
        let index = self.read_index();
        let saved = self
            .index_saved_size
            .load(std::sync::atomic::Ordering::Relaxed);
        if !grown_much(saved, index.size) {
            return Ok(false);
        }
        self.save_index(dir, &index)?;
        Ok(true)
    }

    /// The root of the stored tree of `tree_size` records.
    pub(crate) fn root_at(&self, tree_size: u64) -> Result<Hash, Error> {
        let hashes = crate::storage::Hashes::new(self);
        let root = tlog_tiles::tree_hash(tree_size, &hashes);
        hashes.outcome(root, |e| Error::Integrity {
            position: tree_size.saturating_sub(1),
            what: format!("stored tree hashes are missing: {e}"),
        })
    }

    /// Extends the index with records other processes committed, up to `tree_size` (a
    /// backend shared by several writers; a no-op when the index is already there).
    pub(crate) fn catch_up_index(&self, tree_size: u64) -> Result<(), Error> {
        // A deferred index is built whole first (catching it up from nothing would scan the
        // log, and then the deferred build would scan it again).
        self.ensure_index()?;
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
        // Right after reading: the index holds exactly the records up to the head it followed.
        debug_assert_eq!(index.size, tree_size);
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
    pub(crate) fn tile_bytes_at_size(level: u8, tile: u64, tree_size: u64) -> usize {
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

/// Where the tree's stored hashes are read from: the store, or the store under a group being
/// staged.
pub(crate) trait HashSource {
    /// The stored hash `index` of `level`: `Ok(None)` if it is not stored, `Err` if the backend
    /// failed to read it.
    fn stored_hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error>;
}

impl HashSource for Store {
    fn stored_hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        self.hash(level, index)
    }
}

/// A [`HashSource`] as `tlog_tiles` reads it. `tlog_tiles::Error` has no room for a backend's
/// error, and a failed read must not come back as `IndexesNotInTree` — a dropped connection
/// would then read as a damaged tree (exit 3). The first backend error is kept here instead,
/// and [`Hashes::outcome`] gives it back in place of whatever `tlog_tiles` made of it.
pub(crate) struct Hashes<'a, S: HashSource + ?Sized> {
    source: &'a S,
    failure: RefCell<Option<Error>>,
}

impl<'a, S: HashSource + ?Sized> Hashes<'a, S> {
    pub(crate) fn new(source: &'a S) -> Self {
        Hashes {
            source,
            failure: RefCell::new(None),
        }
    }

    /// The result of a `tlog_tiles` computation over these hashes: the backend's error if a
    /// read failed, else `missing(e)` for a tree that lacks hashes, else the value.
    pub(crate) fn outcome<T, U: From<T>>(
        self,
        result: Result<T, tlog_tiles::Error>,
        missing: impl FnOnce(tlog_tiles::Error) -> Error,
    ) -> Result<U, Error> {
        match (result, self.failure.into_inner()) {
            (_, Some(failure)) => Err(failure),
            (Ok(value), None) => Ok(value.into()),
            (Err(e), None) => Err(missing(e)),
        }
    }
}

impl<S: HashSource + ?Sized> tlog_tiles::HashReader for Hashes<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = tlog_tiles::split_stored_hash_index(i);
                match self.source.stored_hash(level, n) {
                    Ok(Some(h)) => Ok(h.into()),
                    Ok(None) => Err(tlog_tiles::Error::IndexesNotInTree),
                    Err(e) => {
                        self.failure.borrow_mut().get_or_insert(e);
                        Err(tlog_tiles::Error::InvalidInput(
                            "the storage failed to read a hash".into(),
                        ))
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holds hashes `0..stored` of level 0; reading `broken` fails as a backend would.
    struct Source {
        stored: u64,
        broken: Option<u64>,
    }

    impl HashSource for Source {
        fn stored_hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
            if level == 0 && self.broken == Some(index) {
                let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
                return Err(Error::storage_from("the connection dropped", reset));
            }
            Ok((index < self.stored >> level).then_some(Hash([index as u8 ^ level; 32])))
        }
    }

    fn root(source: &Source, tree_size: u64) -> Result<Hash, Error> {
        let hashes = Hashes::new(source);
        let result = tlog_tiles::tree_hash(tree_size, &hashes);
        hashes.outcome(result, |e| Error::Integrity {
            position: 0,
            what: format!("stored tree hashes are missing: {e}"),
        })
    }

    #[test]
    fn a_failed_read_is_a_storage_error_with_its_source_not_damage() {
        let failed = root(
            &Source {
                stored: 4,
                broken: Some(2),
            },
            3,
        );
        match failed {
            Err(e @ Error::Storage { .. }) => {
                let source = std::error::Error::source(&e).expect("the backend's error");
                assert!(source.to_string().contains("reset"), "{source}");
            }
            other => panic!("expected a storage error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_hash_is_still_an_integrity_failure() {
        let missing = root(
            &Source {
                stored: 2,
                broken: None,
            },
            3,
        );
        assert!(
            matches!(missing, Err(Error::Integrity { .. })),
            "{missing:?}"
        );
        assert!(root(
            &Source {
                stored: 3,
                broken: None
            },
            3
        )
        .is_ok());
    }
}
