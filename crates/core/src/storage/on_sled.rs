//! The embedded backend: a ledger directory on sled. Everything that knows a key format lives
//! here.
//!
//! All of the log lives in one sled tree, `log`, so that one group commit is one
//! `Tree::apply_batch` — atomic on its own, and cheaper than a multi-tree transaction. Keys start
//! with a one-byte tag:
//!
//! | tag | key | value |
//! |---|---|---|
//! | `b` | position of its first record (u64 BE) | a bundle: up to 16 consecutive records (SPEC §2.3), each exactly as hashed, separated by `\n` |
//! | `h` | level (u8) ‖ tile index (u64 BE) | up to 256 hashes of that level, 32 bytes each |
//! | `c` | tree size (u64 BE) ‖ key name | signed checkpoint note |
//! | `k` | key name | verifier key (text form) of the checkpoints signed with that name |
//! | `m` | `head` | tree size (u64 BE) ‖ root (32) ‖ last recorded_at (i64 µs BE) |
//! | `m` | `format` | layout version (u32 BE) |
//!
//! Bundles and hash tiles follow C2SP tlog-tiles in spirit: records are packed up to 16 to a
//! value and the stored hashes of one level up to 256, so an acknowledged batch of N events
//! writes about N/16 + N/128 keys instead of three per event. Records hold no newline (they are
//! compact JSON), so a bundle splits on `\n`. Readers take a bundle of any size (a bundle's key
//! is its first position), so the size can change without a layout change; ledgers written with
//! bundles of 64 read as before.
//!
//! Why 16: sled splits a leaf at 17 entries and writes a node larger than a quarter of its
//! segment (128 KiB) as a separate blob file, created and later deleted. A leaf of 17 bundles of
//! 64 records (~430 KB) crossed that on every split of a growing log — about 10 % of a bulk
//! append's time went to creating files — and a bundle of 256 records made point reads reload
//! blobs (replay 0.50 × raw sled). 17 bundles of 16 records (~110 KB) stay inline. Measured
//! (docs/performance.md): batches of 1,000 in a growing ledger 155–171 k events/s with 16 against
//! 109–143 k with 64, alternating runs; replay and verify unchanged within the noise.
//!
//! The indexes — a stream's positions, an event id's position, a retraction's position — are not
//! stored: they are a projection of the log kept in memory ([`super::Index`]), built by scanning the
//! bundles when first needed (not at open: a query answered from the projection's snapshot never
//! needs them) and extended by the writer after each durable commit, before it acknowledges.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::storage::{Backend, Bytes, Chunk, ChunkRecords, Chunks, CommitLock, Head, TILE_WIDTH};

/// The layout version written to `m/format`.
pub const LAYOUT_VERSION: u32 = 2;

pub(crate) const TAG_BUNDLE: u8 = b'b';
/// Records per bundle at most (see the module notes for why 16).
pub const BUNDLE_RECORDS_MAX: usize = 16;
pub(crate) const TAG_HASH: u8 = b'h';
pub(crate) const TAG_CHECKPOINT: u8 = b'c';
pub(crate) const TAG_VERIFIER_KEY: u8 = b'k';
pub(super) const META_HEAD: &[u8] = b"mhead";
const META_FORMAT: &[u8] = b"mformat";

/// The name of the lock file inside a ledger directory.
pub const LOCK_FILE_NAME: &str = "ikrar.lock";
/// The name of the sled database directory inside a ledger directory.
pub const DB_DIR_NAME: &str = "db";
pub(crate) use super::head_file::HeadFile;
pub use super::head_file::HEAD_FILE_NAME;
pub use super::sled_files::open_sled;
pub(crate) use super::sled_files::panic_message;
use super::sled_files::{database_missing, remove_unfinished_snapshots, take_lock};

/// Where [`SledBackend::create`] builds the database before renaming it to [`DB_DIR_NAME`].
const CREATING_DIR_NAME: &str = "db.creating";

pub(crate) fn bundle_key(first_position: u64) -> [u8; 9] {
    let mut k = [TAG_BUNDLE; 9];
    k[1..].copy_from_slice(&first_position.to_be_bytes());
    k
}

/// The records of a bundle, in order.
pub(crate) fn bundle_records(bundle: &[u8]) -> impl Iterator<Item = &[u8]> {
    super::split_lines(bundle)
}

pub(crate) fn tile_key(level: u8, tile: u64) -> [u8; 10] {
    let mut k = [TAG_HASH; 10];
    k[1] = level;
    k[2..].copy_from_slice(&tile.to_be_bytes());
    k
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// How long a group commit waits for sled's flush before it fails, in milliseconds.
pub(super) const FLUSH_WAIT_MAX_MS: u64 = 30_000;

/// How long closing a ledger waits for sled's last flush, in milliseconds.
const CLOSE_FLUSH_WAIT_MS: u64 = 5_000;

/// sled's page cache, in bytes. sled's default is 1 GiB; a ledger should not need more than
/// this to stay fast, and the bound keeps memory predictable (SPEC §9).
pub const CACHE_BYTES_DEFAULT: u64 = 128 * 1024 * 1024;

impl Drop for SledBackend {
    /// Every way a backend goes — closed, or dropped when an open fails its checks — flushes
    /// within a bounded time, so that a failing disk never hangs the process (see
    /// [`SledBackend::flush_bounded`]).
    fn drop(&mut self) {
        self.flush_bounded();
    }
}

/// A ledger directory on sled: the lock file, the head file and one sled `Db` with its `log`
/// tree. sled has one writer per process, which the lock file makes one per machine.
pub(crate) struct SledBackend {
    pub(super) dir: PathBuf,
    pub(super) db: sled::Db,
    pub(super) log: sled::Tree,
    pub(super) head_file: HeadFile,
    _lock: File,
    /// Commits still to fail after their batch is applied, as a failed flush would (a test
    /// seam: [`Backend::fail_next_commits`]).
    #[cfg(any(test, feature = "testing"))]
    pub(super) failing_commits: std::sync::atomic::AtomicU32,
    /// sled failed to write (a flush failed or never returned: a full disk, an I/O error).
    /// Its state in this process is then unknown — writing more to it, even to undo the
    /// failed batch, has left databases sled itself calls corrupt — so nothing more is
    /// written: the ledger must be reopened, which checks the tail on disk and removes what
    /// no commit acknowledged.
    pub(super) write_failed: std::sync::atomic::AtomicBool,
}

impl SledBackend {
    fn open_db(dir: &Path, cache_bytes: u64, lock: File) -> Result<SledBackend, Error> {
        remove_unfinished_snapshots(&dir.join(DB_DIR_NAME))?;
        let config = sled::Config::new()
            .path(dir.join(DB_DIR_NAME))
            .cache_capacity(cache_bytes)
            // Durability comes from the explicit flush of each group commit, not a timer.
            .flush_every_ms(None);
        let db = open_sled(&config)?;
        let log = db.open_tree("log")?;
        Ok(SledBackend {
            dir: dir.to_path_buf(),
            db,
            log,
            head_file: HeadFile::new(dir),
            _lock: lock,
            #[cfg(any(test, feature = "testing"))]
            failing_commits: Default::default(),
            write_failed: Default::default(),
        })
    }

    /// Creates an empty ledger in `dir`, which must not exist or be empty (but for what a
    /// creation killed before it finished left: the lock file, the head file and a staging
    /// database).
    ///
    /// The database is made whole under a staging name and renamed into place, so that a
    /// process killed while creating leaves no `db/` without its format marker: a ledger
    /// directory either has a complete empty database or none.
    pub(crate) fn create(dir: &Path, cache_bytes: u64) -> Result<SledBackend, Error> {
        if dir.exists() {
            database_missing(dir)?;
            for entry in std::fs::read_dir(dir)? {
                let name = entry?.file_name();
                // What a killed creation leaves; `db/` itself is renamed into place last.
                if name != LOCK_FILE_NAME && name != CREATING_DIR_NAME && name != HEAD_FILE_NAME {
                    return Err(Error::AlreadyExists {
                        path: dir.to_path_buf(),
                    });
                }
            }
        }
        std::fs::create_dir_all(dir)?;
        let lock = take_lock(dir)?;
        let staging = dir.join(CREATING_DIR_NAME);
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        {
            let db = open_sled(&sled::Config::new().path(&staging).flush_every_ms(None))?;
            let log = db.open_tree("log")?;
            log.insert(META_FORMAT, &LAYOUT_VERSION.to_be_bytes())?;
            log.insert(META_HEAD, &Head::empty().encode()[..])?;
            db.flush()?;
        }
        // The head file is whole before the database appears beside it: an open never finds
        // a database with an empty head file.
        let head_file = HeadFile::new(dir);
        head_file.write(&Head::empty())?;
        head_file.sync()?;
        std::fs::rename(&staging, dir.join(DB_DIR_NAME))?;
        File::open(dir)?.sync_all()?;
        Self::open_db(dir, cache_bytes, lock)
    }

    /// Opens the ledger in `dir` and checks its format marker. The tail and head-file checks
    /// are the caller's (see [`crate::verify`]).
    pub(crate) fn open(dir: &Path, cache_bytes: u64) -> Result<SledBackend, Error> {
        let db_path = dir.join(DB_DIR_NAME);
        if !db_path.is_dir() {
            database_missing(dir)?;
            return Err(Error::NoLedger {
                path: dir.to_path_buf(),
            });
        }
        let lock = take_lock(dir)?;
        if !db_path.join("conf").is_file() || !db_path.join("db").is_file() {
            return Err(Error::Integrity {
                position: 0,
                what: format!("sled's files are missing from {}", db_path.display()),
            });
        }
        let backend = Self::open_db(dir, cache_bytes, lock)?;
        backend.check_format()?;
        Ok(backend)
    }

    /// sled's flush, waited for a bounded time. Every commit was flushed before it was
    /// acknowledged; this one only tidies.
    fn flush_bounded(&self) {
        if self.write_failed.load(std::sync::atomic::Ordering::SeqCst) {
            // Nothing more is written to a sled that failed to write (see `write_failed`);
            // no drop may flush it either.
            std::mem::forget(self.db.clone());
            std::mem::forget(self.log.clone());
            return;
        }
        // Every commit was flushed before it was acknowledged; this flush only tidies. On a
        // full disk sled's flush can wait for a write that never completes: wait a bounded
        // time, then leave it (the process's exit ends it).
        let db = self.db.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let flusher = std::thread::Builder::new()
            .name("ikrar-close".into())
            .spawn(move || {
                let _ = done_tx.send(db.flush().map(|_| ()));
            });
        let flushed = flusher.is_ok()
            && matches!(
                done_rx.recv_timeout(std::time::Duration::from_millis(CLOSE_FLUSH_WAIT_MS)),
                Ok(Ok(()))
            );
        if !flushed {
            // sled flushes again when its last handle drops, and on a failing disk that flush
            // never returns: keep a handle forever instead, so that no drop waits on it. The
            // process's exit releases the files; nothing unflushed was acknowledged.
            std::mem::forget(self.db.clone());
            std::mem::forget(self.log.clone());
        }
    }

    /// Whether `dir` holds a ledger (its database directory exists).
    pub(crate) fn exists(dir: &Path) -> bool {
        dir.join(DB_DIR_NAME).is_dir()
    }

    /// The head written after the last acknowledged commit.
    pub(crate) fn acknowledged_head(&self) -> Result<Option<Head>, Error> {
        HeadFile::read(&self.dir)
    }

    fn check_format(&self) -> Result<(), Error> {
        match self.log.get(META_FORMAT)? {
            Some(v) if v.as_ref() == LAYOUT_VERSION.to_be_bytes() => Ok(()),
            Some(v) => Err(Error::Integrity {
                position: 0,
                what: format!("unknown storage layout version {:?}", v.as_ref()),
            }),
            None => Err(Error::Integrity {
                position: 0,
                what: "the ledger's format marker is missing (not an ikrar ledger, or damaged)"
                    .into(),
            }),
        }
    }

    /// The bundle holding `position`, with its first position.
    fn bundle_at(&self, position: u64) -> Result<Option<(u64, sled::IVec)>, Error> {
        let Some(kv) = self
            .log
            .range(bundle_key(0)..=bundle_key(position))
            .next_back()
        else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let first = decode_u64(&k[1..]).ok_or_else(|| Error::Integrity {
            position,
            what: "malformed bundle key".into(),
        })?;
        Ok(Some((first, v)))
    }
}

impl Backend for SledBackend {
    fn head(&self) -> Result<Head, Error> {
        let raw = self.log.get(META_HEAD)?.ok_or_else(|| Error::Integrity {
            position: 0,
            what: "the ledger's head is missing".into(),
        })?;
        Head::decode(&raw).ok_or_else(|| Error::Integrity {
            position: 0,
            what: "the ledger's head is malformed".into(),
        })
    }

    fn chunks_from(&self, position: u64) -> Result<Chunks<'_>, Error> {
        let start = match self.bundle_at(position)? {
            Some((first, _)) => first,
            None => 0,
        };
        Ok(Box::new(
            self.log
                .range(bundle_key(start)..)
                .take_while(|kv| {
                    kv.as_ref()
                        .map_or(true, |(k, _)| k.first() == Some(&TAG_BUNDLE))
                })
                .map(|kv| {
                    let (k, v) = kv?;
                    let first = decode_u64(&k[1..]).ok_or_else(|| Error::Integrity {
                        position: 0,
                        what: "malformed bundle key".into(),
                    })?;
                    Ok(Chunk {
                        first,
                        records: ChunkRecords::Joined(Bytes::Sled(v)),
                    })
                }),
        ))
    }

    fn last_position(&self) -> Result<Option<u64>, Error> {
        match self.log.scan_prefix([TAG_BUNDLE]).next_back().transpose()? {
            None => Ok(None),
            Some((k, v)) => {
                let first = decode_u64(&k[1..]).ok_or_else(|| Error::Integrity {
                    position: 0,
                    what: "malformed bundle key".into(),
                })?;
                Ok(Some(first + bundle_records(&v).count() as u64 - 1))
            }
        }
    }

    fn record_bytes(&self, position: u64) -> Result<Option<Vec<u8>>, Error> {
        let Some((first, bundle)) = self.bundle_at(position)? else {
            return Ok(None);
        };
        let record = bundle_records(&bundle)
            .nth((position - first) as usize)
            .map(<[u8]>::to_vec);
        Ok(record)
    }

    fn tile(&self, level: u8, tile: u64) -> Result<Option<Bytes>, Error> {
        Ok(self.log.get(tile_key(level, tile))?.map(Bytes::Sled))
    }

    fn checkpoint_notes(&self) -> Result<Vec<(u64, String)>, Error> {
        let mut out = Vec::new();
        for kv in self.log.scan_prefix([TAG_CHECKPOINT]) {
            let (k, v) = kv?;
            let size = k
                .get(1..9)
                .and_then(decode_u64)
                .ok_or_else(|| Error::Integrity {
                    position: 0,
                    what: "malformed checkpoint key".into(),
                })?;
            let note = String::from_utf8(v.to_vec()).map_err(|_| Error::Integrity {
                position: size,
                what: "a stored checkpoint is not UTF-8".into(),
            })?;
            out.push((size, note));
        }
        Ok(out)
    }

    fn put_checkpoint(
        &self,
        size: u64,
        name: &str,
        note: &str,
        verifier: &str,
    ) -> Result<(), Error> {
        let mut key = vec![TAG_CHECKPOINT];
        key.extend_from_slice(&size.to_be_bytes());
        key.extend_from_slice(name.as_bytes());
        let mut vkey = vec![TAG_VERIFIER_KEY];
        vkey.extend_from_slice(name.as_bytes());
        let mut batch = sled::Batch::default();
        batch.insert(key, note.as_bytes());
        batch.insert(vkey, verifier.as_bytes());
        self.log.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    fn verifier_key(&self, name: &str) -> Result<Option<String>, Error> {
        let mut key = vec![TAG_VERIFIER_KEY];
        key.extend_from_slice(name.as_bytes());
        Ok(self
            .log
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn lock_for_commit(&self) -> Result<Box<dyn CommitLock + '_>, Error> {
        // The ledger's one writer thread is the only committer (the lock file keeps other
        // processes out), so the stored head is the lock's head.
        Ok(Box::new(super::sled_commit::SledCommit {
            backend: self,
            head: self.head()?,
        }))
    }

    fn close(&self) {
        self.flush_bounded();
    }

    fn discard_beyond(&self, head: &Head) -> Result<u64, Error> {
        let (batch, records) = self.discarding_beyond(head)?;
        self.log.apply_batch(batch)?;
        self.db.flush()?;
        Ok(records)
    }

    fn undo_failed_commit(&self, head: &Head) -> Result<(), Error> {
        if self.write_failed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::storage(
                "sled failed to write (a full disk or an I/O error); reopen the ledger (restart \
                 the server), which checks its tail and removes what was never acknowledged",
            ));
        }
        // Not flushed here (on a full disk the flush could hang): the next commit's flush makes
        // it durable with that commit, and until then the head file, which the failed commit
        // did not reach, still marks what lies beyond `head` for removal at the next open.
        let (batch, records) = self.discarding_beyond(head)?;
        // A commit refused before it wrote (a full disk: `check_free_space`) left nothing —
        // sled applies a batch whole or not at all — and undoing it must not write either:
        // on a disk that is still full that write could be the one sled cannot finish.
        if records == 0 && self.head()? == *head {
            return Ok(());
        }
        self.log.apply_batch(batch)?;
        let now = self.head()?;
        if now != *head {
            return Err(Error::storage(format!(
                "sled's head is at {} records after undoing a failed commit, not {}",
                now.tree_size, head.tree_size
            )));
        }
        Ok(())
    }

    #[cfg(any(test, feature = "testing"))]
    fn fail_next_commits(&self, commits: u32) {
        self.failing_commits
            .store(commits, std::sync::atomic::Ordering::SeqCst);
    }
}

impl SledBackend {
    /// The batch that makes `head` the log's head and removes the records and hashes beyond
    /// it, and how many records it removes.
    fn discarding_beyond(&self, head: &Head) -> Result<(sled::Batch, u64), Error> {
        let tree_size = head.tree_size;
        let mut batch = sled::Batch::default();
        batch.insert(META_HEAD, &head.encode()[..]);
        let mut records = 0u64;
        // Bundles start at a commit's first position, so those beyond the head start there.
        for kv in self.log.range(bundle_key(tree_size)..) {
            let (k, v) = kv?;
            if k.first() != Some(&TAG_BUNDLE) {
                break;
            }
            records += bundle_records(&v).count() as u64;
            batch.remove(k);
        }
        // Tiles: each level's hashes beyond the head, cut off (a failed commit may have
        // rewritten a tile longer).
        for kv in self.log.scan_prefix([TAG_HASH]) {
            let (k, v) = kv?;
            let (Some(&level), Some(tile)) = (k.get(1), k.get(2..).and_then(decode_u64)) else {
                continue;
            };
            let valid = (tree_size >> level)
                .saturating_sub(tile.saturating_mul(TILE_WIDTH))
                .min(TILE_WIDTH) as usize
                * 32;
            if v.len() > valid {
                if valid == 0 {
                    batch.remove(k);
                } else {
                    batch.insert(k, &v[..valid]);
                }
            }
        }
        Ok((batch, records))
    }
}
