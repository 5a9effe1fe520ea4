//! [`Ledger`]: open, append, read, subscribe, verify.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::append::AppendOutcome;
use crate::checkpoint::{self, SignedCheckpoint, SignerKey, VerifierKey};
use crate::error::Error;
use crate::event::{InputEvent, StreamId};
use crate::merkle::Hash;
use crate::record::{Record, StoredRecord};
#[cfg(feature = "postgres")]
use crate::storage::on_postgres::PostgresBackend;
use crate::storage::on_sled::{HeadFile, SledBackend};
use crate::storage::{Head, Store, CACHE_BYTES_DEFAULT};
use crate::verify::{self, StoreHashes, VerifyReport};
use crate::writer::{self, AppendRequest, Payload};

/// Records of one chunk with their positions, as `iter_from` unpacks them.
type PositionedRecords = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), Error>>>;

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            cache_bytes: CACHE_BYTES_DEFAULT,
        }
    }
}

/// An open ledger. Cheap to clone; all clones share one writer. The ledger closes when the last
/// clone (and the last subscription) is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ikrar_core::Error> {
/// use ikrar_core::{Ledger, InputEvent};
/// let dir = tempfile::tempdir()?;
/// let ledger = Ledger::create(dir.path().join("ledger"))?;
/// let event = InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001",
///             "title":"Hold the first Korea–Central Asia summit","made_on":"2025-01-16"}}"#).unwrap();
/// let outcome = ledger.append(vec![event]).await?;
/// assert_eq!(outcome.positions, vec![0]);
/// assert_eq!(ledger.verify()?.tree_size, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

/// Where a ledger lives: a directory on this machine (sled), or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A ledger directory holding a sled database.
    Directory(PathBuf),
    /// A PostgreSQL connection string, `postgres://user@host:port/database` (libpq's URL form;
    /// `?options=-csearch_path%3Dname` puts the ledger in its own schema).
    Postgres(String),
}

impl Location {
    /// The location a `--ledger` value names: a `postgres://` or `postgresql://` URL is a
    /// PostgreSQL ledger, anything else a directory.
    ///
    /// ```
    /// use ikrar_core::Location;
    /// assert!(matches!(Location::of("postgres://ikrar@db/ledger"), Location::Postgres(_)));
    /// assert!(matches!(Location::of("ikrar-ledger"), Location::Directory(_)));
    /// ```
    pub fn of(value: impl AsRef<Path>) -> Location {
        let path = value.as_ref();
        match path.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Location::Postgres(s.to_string())
            }
            _ => Location::Directory(path.to_path_buf()),
        }
    }

    /// How to name the location to a person: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Directory(p) => p.display().to_string(),
            Location::Postgres(url) => redact_password(url),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Stops a follower of other processes' commits.
type StopFollowing = Box<dyn FnOnce() + Send + Sync>;
/// Starts a follower of other processes' commits, given the store and the head's sender.
type StartFollowing<'a> =
    dyn Fn(Store, Arc<watch::Sender<Head>>) -> Result<StopFollowing, Error> + 'a;

struct Inner {
    location: Location,
    store: Store,
    tx: Option<mpsc::Sender<AppendRequest>>,
    head_rx: watch::Receiver<Head>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Serialises checkpoint signing, so that "consistent with the last" holds between two.
    checkpoint_lock: Mutex<()>,
    /// Stops the follower of other processes' commits (shared backends) when the ledger closes.
    follower: Option<StopFollowing>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(stop) = self.follower.take() {
            stop();
        }
        // Closing the channel stops the writer after its current group; wait for it so that
        // the backend is flushed (and, on sled, unlocked) when the ledger is gone.
        self.tx.take();
        if let Some(handle) = self.writer.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
        self.store.backend.close();
    }
}

impl Ledger {
    /// Creates a new, empty ledger at `path` (a directory, or a `postgres://` URL: see
    /// [`Location::of`]). Refuses a directory that exists and is not empty, and a database that
    /// already holds a ledger.
    pub fn create(path: impl AsRef<Path>) -> Result<Ledger, Error> {
        Self::create_with(path, LedgerOptions::default())
    }

    /// [`Ledger::create`] with options.
    pub fn create_with(path: impl AsRef<Path>, options: LedgerOptions) -> Result<Ledger, Error> {
        match Location::of(path) {
            Location::Directory(dir) => {
                let backend = SledBackend::create(&dir, options.cache_bytes)?;
                Self::start(
                    Location::Directory(dir),
                    Store::new(Arc::new(backend)),
                    Head::empty(),
                    None,
                )
            }
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                let backend = PostgresBackend::create(&url)?;
                Self::start_shared(Location::Postgres(url), backend)
            }
            #[cfg(not(feature = "postgres"))]
            Location::Postgres(_) => Err(no_postgres()),
        }
    }

    /// Opens an existing ledger, checking its tail (see [`Ledger::verify`] for the full check).
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger, Error> {
        Self::open_with(path, LedgerOptions::default())
    }

    /// [`Ledger::open`] with options.
    pub fn open_with(path: impl AsRef<Path>, options: LedgerOptions) -> Result<Ledger, Error> {
        match Location::of(path) {
            Location::Directory(dir) => {
                let backend = SledBackend::open(&dir, options.cache_bytes)?;
                let acknowledged = backend.acknowledged_head()?;
                let store = Store::new(Arc::new(backend));
                let head = store.head()?;
                verify::check_tail(&store, &head, false)?;
                verify::check_against_head_file(&store, &head, acknowledged)?;
                verify::check_latest_checkpoint(&store, &head)?;
                // The indexes are a projection of the log, kept in memory: build them now.
                let index = store.build_index(head.tree_size, false)?;
                *store.write_index() = index;
                Self::start(Location::Directory(dir), store, head, None)
            }
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                let backend = PostgresBackend::open(&url)?;
                Self::start_shared(Location::Postgres(url), backend)
            }
            #[cfg(not(feature = "postgres"))]
            Location::Postgres(_) => Err(no_postgres()),
        }
    }

    /// Verifies the ledger at `path` without opening it for use: none of the checks that
    /// [`Ledger::open`] runs first can stop it, so a damaged ledger is reported at its *first*
    /// bad position (the earliest of the head-file check and the full scan), not at whatever
    /// the tail check happens to meet.
    pub fn verify_at(
        path: impl AsRef<Path>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport, Error> {
        let dir = match Location::of(path) {
            Location::Directory(dir) => dir,
            // A database ledger has no files of its own to check first: open and verify.
            Location::Postgres(url) => return Self::open(url)?.verify_with_progress(progress),
        };
        let backend = SledBackend::open(&dir, CACHE_BYTES_DEFAULT)?;
        let acknowledged = backend.acknowledged_head()?;
        let store = Store::new(Arc::new(backend));
        let head = store.head()?;
        let mut failures = Vec::new();
        if let Err(e) = verify::check_against_head_file(&store, &head, acknowledged) {
            failures.push(e);
        }
        // Build the index as an open would; if that fails, the scan still runs (without index
        // checks) to find the earliest bad position.
        let indexed = match store.build_index(head.tree_size, false) {
            Ok(index) => {
                *store.write_index() = index;
                true
            }
            Err(e) => {
                failures.push(e);
                false
            }
        };
        match verify::verify(&store, &head, indexed, false, progress) {
            Ok(report) if failures.is_empty() => return Ok(report),
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
        // Report the earliest integrity failure; anything else (I/O) as it is.
        failures.sort_by_key(|e| match e {
            Error::Integrity { position, .. } => *position,
            _ => 0,
        });
        Err(failures.remove(0))
    }

    /// The tree size of the last acknowledged commit, from the head file of a ledger
    /// directory, without opening the ledger (`None` if the file is missing or unreadable, and
    /// for a database ledger).
    pub fn acknowledged_tree_size(path: impl AsRef<Path>) -> Option<u64> {
        match Location::of(path) {
            Location::Directory(dir) => HeadFile::read(&dir).ok().flatten().map(|h| h.tree_size),
            Location::Postgres(_) => None,
        }
    }

    /// Opens the ledger at `path`, creating it if there is none.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Ledger, Error> {
        match Location::of(path.as_ref()) {
            Location::Directory(dir) if !SledBackend::exists(&dir) => Self::create(path),
            #[cfg(feature = "postgres")]
            Location::Postgres(url) if !PostgresBackend::exists(&url)? => {
                match Self::create(path.as_ref()) {
                    // Another process created it in between.
                    Err(Error::AlreadyExists { .. }) => Self::open(path),
                    other => other,
                }
            }
            _ => Self::open(path),
        }
    }

    /// Starts the writer (and, on a shared backend, `follow`: the follower of other processes'
    /// commits, given the store and the head's sender; it answers how to stop it). `head` is the
    /// head the index was built to: readers must not be shown a later one before the index
    /// has it (on a shared backend the stored head may already be ahead).
    fn start(
        location: Location,
        store: Store,
        head: Head,
        follow: Option<&StartFollowing<'_>>,
    ) -> Result<Ledger, Error> {
        let (head_tx, head_rx) = watch::channel(head);
        let head_tx = Arc::new(head_tx);
        let follower = match follow {
            Some(follow) => Some(follow(store.clone(), head_tx.clone())?),
            None => None,
        };
        let (tx, handle) = writer::spawn(store.clone(), head_tx)?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                location,
                store,
                tx: Some(tx),
                head_rx,
                writer: Mutex::new(Some(handle)),
                checkpoint_lock: Mutex::new(()),
                follower,
            }),
        })
    }

    /// Starts a ledger on a backend other processes may write too: the index is built under
    /// the head as it is now, and a follower keeps index and head up to date with commits
    /// made elsewhere.
    #[cfg(feature = "postgres")]
    fn start_shared(location: Location, backend: PostgresBackend) -> Result<Ledger, Error> {
        let backend = Arc::new(backend);
        let store = Store::new(backend.clone());
        let head = store.head()?;
        verify::check_tail(&store, &head, true)?;
        verify::check_latest_checkpoint(&store, &head)?;
        // Other processes may commit meanwhile: index up to this head; the follower and the
        // writer's lock bring the rest.
        let index = store.build_index(head.tree_size, true)?;
        *store.write_index() = index;
        Self::start(
            location,
            store,
            head,
            Some(&|store, head_tx| {
                backend.follow(store, move |head| writer::publish(&head_tx, head))
            }),
        )
    }

    /// Where the ledger lives.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// The ledger's directory, for a ledger on sled (`None` for a database ledger).
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.location {
            Location::Directory(dir) => Some(dir),
            Location::Postgres(_) => None,
        }
    }

    /// The durable head: tree size, root and last `recorded_at`.
    pub fn head(&self) -> Head {
        *self.inner.head_rx.borrow()
    }

    /// Appends events, all or nothing, and answers once they are durable (SPEC §3).
    pub async fn append(&self, events: Vec<InputEvent>) -> Result<AppendOutcome, Error> {
        self.submit(events, false).await
    }

    /// Validates events exactly as [`Ledger::append`] would, against the current ledger, and
    /// writes nothing. Any number of events may be checked this way.
    pub async fn check(&self, events: Vec<InputEvent>) -> Result<AppendOutcome, Error> {
        self.submit(events, true).await
    }

    /// Appends records exactly as recorded elsewhere (an export), checking their structure:
    /// canonical form, gapless positions and versions, `recorded_at` order, unique ids, valid
    /// retractions. Any failure is [`Error::Integrity`] at the record's position, and nothing of
    /// the batch is written. At most [`crate::EVENTS_PER_APPEND_MAX`] records per call.
    pub async fn import_records(&self, records: Vec<Vec<u8>>) -> Result<AppendOutcome, Error> {
        self.submit_payload(Payload::Records(records), false).await
    }

    async fn submit(&self, events: Vec<InputEvent>, dry_run: bool) -> Result<AppendOutcome, Error> {
        self.submit_payload(Payload::Events(events), dry_run).await
    }

    async fn submit_payload(
        &self,
        payload: Payload,
        dry_run: bool,
    ) -> Result<AppendOutcome, Error> {
        let (reply, answer) = oneshot::channel();
        let closed = || Error::Closed {
            reason: "the writer has stopped".into(),
        };
        let tx = self.inner.tx.as_ref().ok_or_else(closed)?;
        tx.send(AppendRequest {
            payload,
            dry_run,
            reply,
        })
        .await
        .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    fn decode_at(&self, position: u64, bytes: &[u8]) -> Result<StoredRecord, Error> {
        let record = Record::decode(bytes).map_err(|e| Error::Integrity {
            position,
            what: format!("stored record does not decode: {e}"),
        })?;
        Ok(StoredRecord {
            record,
            bytes: bytes.to_vec(),
        })
    }

    /// The record at `position`.
    pub fn read(&self, position: u64) -> Result<StoredRecord, Error> {
        let head = self.head();
        if position >= head.tree_size {
            return Err(Error::NotFound {
                what: format!("position {position} (tree size {})", head.tree_size),
            });
        }
        let bytes = self
            .inner
            .store
            .record_bytes(position)?
            .ok_or_else(|| Error::Integrity {
                position,
                what: "the record is missing".into(),
            })?;
        self.decode_at(position, &bytes)
    }

    /// Records from `from` on, in position order, up to the durable head as it is now.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = Result<StoredRecord, Error>> + '_ {
        let end = self.head().tree_size;
        let chunks: crate::storage::Chunks<'_> = if from >= end {
            Box::new(std::iter::empty())
        } else {
            match self.inner.store.chunks_from(from) {
                Ok(it) => it,
                Err(e) => Box::new(std::iter::once(Err(e))),
            }
        };
        let mut expected = from;
        chunks
            .flat_map(move |chunk| -> PositionedRecords {
                match chunk {
                    Err(e) => Box::new(std::iter::once(Err(e))),
                    Ok(chunk) => Box::new(
                        chunk
                            .records()
                            .enumerate()
                            .map(|(i, r)| Ok((chunk.first + i as u64, r.to_vec())))
                            .collect::<Vec<_>>()
                            .into_iter(),
                    ),
                }
            })
            .skip_while(move |item| matches!(item, Ok((p, _)) if *p < from))
            .take_while(move |item| !matches!(item, Ok((p, _)) if *p >= end))
            .map(move |item| {
                let (position, bytes) = item?;
                if position != expected {
                    return Err(Error::Integrity {
                        position: expected,
                        what: "the record is missing (the log has a gap)".into(),
                    });
                }
                expected += 1;
                self.decode_at(position, &bytes)
            })
    }

    /// Up to `limit` records from `from` on.
    pub fn read_range(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, Error> {
        self.iter_from(from).take(limit).collect()
    }

    /// Every event of one stream, in version order.
    pub fn read_stream(&self, stream: &StreamId) -> Result<Vec<StoredRecord>, Error> {
        let end = self.head().tree_size;
        let positions: Vec<u64> = self
            .inner
            .store
            .stream_positions(stream)?
            .into_iter()
            .filter(|p| *p < end)
            .collect();
        let records = self.inner.store.records_at(&positions)?;
        positions
            .into_iter()
            .zip(records)
            .map(|(position, bytes)| {
                let bytes = bytes.ok_or_else(|| Error::Integrity {
                    position,
                    what: "the record is missing".into(),
                })?;
                self.decode_at(position, &bytes)
            })
            .collect()
    }

    /// The record of an event, by its id.
    pub fn find_event(&self, event_id: Uuid) -> Result<Option<StoredRecord>, Error> {
        match self.inner.store.event_position(event_id)? {
            Some(p) if p < self.head().tree_size => self.read(p).map(Some),
            _ => Ok(None),
        }
    }

    /// Event ids recorded (below the head) whose text form starts with `prefix` (lowercase
    /// hex and dashes), sorted; at most `limit` of them. A scan of the in-memory index: for
    /// people typing a short id, not for a hot path.
    pub fn event_ids_with_prefix(&self, prefix: &str, limit: usize) -> Vec<Uuid> {
        let tree_size = self.head().tree_size;
        let index = self.inner.store.read_index();
        let mut buf = Uuid::encode_buffer();
        let mut ids: Vec<Uuid> = index
            .ids
            .iter()
            .filter(|(id, p)| {
                **p < tree_size && id.hyphenated().encode_lower(&mut buf).starts_with(prefix)
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.truncate(limit);
        ids
    }

    /// The position of the retraction of `event_id`, if it was retracted.
    pub fn retraction_of(&self, event_id: Uuid) -> Result<Option<u64>, Error> {
        Ok(self
            .inner
            .store
            .retraction_position(event_id)?
            .filter(|p| *p < self.head().tree_size))
    }

    /// The Merkle root of the tree of the first `tree_size` records, from the stored hashes in
    /// O(log n) reads.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, Error> {
        let head = self.head();
        if tree_size > head.tree_size {
            return Err(Error::NotFound {
                what: format!("tree size {tree_size} (the ledger has {})", head.tree_size),
            });
        }
        tlog_tiles::tree_hash(tree_size, &StoreHashes(&self.inner.store))
            .map(Hash::from)
            .map_err(|e| Error::Integrity {
                position: tree_size.saturating_sub(1),
                what: format!("stored tree hashes are missing: {e}"),
            })
    }

    /// The inclusion proof (RFC 9162 §2.1.3) of the record at `position` in the tree of
    /// `tree_size` records, from the stored tree in O(log n) reads.
    pub fn inclusion_proof(&self, position: u64, tree_size: u64) -> Result<Vec<Hash>, Error> {
        let head = self.head();
        if tree_size > head.tree_size || position >= tree_size {
            return Err(Error::NotFound {
                what: format!(
                    "an inclusion proof of position {position} in a tree of size {tree_size} \
                     (the ledger has {})",
                    head.tree_size
                ),
            });
        }
        tlog_tiles::prove_record(tree_size, position, &StoreHashes(&self.inner.store))
            .map(|p| p.into_iter().map(Hash::from).collect())
            .map_err(|e| Error::Integrity {
                position,
                what: format!("stored tree hashes are missing: {e}"),
            })
    }

    /// The consistency proof (RFC 9162 §2.1.4) between the trees of `old_size` and `new_size`
    /// records.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, Error> {
        let head = self.head();
        if old_size == 0 || old_size > new_size || new_size > head.tree_size {
            return Err(Error::NotFound {
                what: format!(
                    "a consistency proof from size {old_size} to {new_size} (sizes must satisfy \
                     1 <= old <= new <= {})",
                    head.tree_size
                ),
            });
        }
        if old_size == new_size {
            return Ok(Vec::new());
        }
        tlog_tiles::prove_tree(new_size, old_size, &StoreHashes(&self.inner.store))
            .map(|p| p.into_iter().map(Hash::from).collect())
            .map_err(|e| Error::Integrity {
                position: new_size - 1,
                what: format!("stored tree hashes are missing: {e}"),
            })
    }

    /// Every checkpoint the ledger has signed or accepted, by tree size.
    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, Error> {
        self.inner
            .store
            .checkpoint_notes()?
            .into_iter()
            .map(|(size, note)| {
                checkpoint::parse_unverified(&note).map_err(|e| Error::Integrity {
                    position: size,
                    what: format!("a stored checkpoint is malformed: {e}"),
                })
            })
            .collect()
    }

    /// The checkpoint of the largest tree size, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, Error> {
        Ok(self.checkpoints()?.into_iter().max_by_key(|c| c.tree_size))
    }

    /// The stored checkpoint of exactly `tree_size`, if any.
    pub fn checkpoint_at(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>, Error> {
        Ok(self
            .checkpoints()?
            .into_iter()
            .find(|c| c.tree_size == tree_size))
    }

    /// The stored verifier key of a checkpoint origin (the key name).
    pub fn verifier_key(&self, name: &str) -> Result<Option<VerifierKey>, Error> {
        match self.inner.store.verifier_key(name)? {
            None => Ok(None),
            Some(text) => Ok(Some(VerifierKey::parse(&text)?)),
        }
    }

    /// Checks that this ledger's tree extends `checkpoint`: its size is not beyond the head and
    /// the stored tree has its root at that size.
    fn check_extends(&self, checkpoint: &SignedCheckpoint) -> Result<(), Error> {
        let head = self.head();
        if checkpoint.tree_size > head.tree_size {
            return Err(Error::Integrity {
                position: head.tree_size,
                what: format!(
                    "the checkpoint of size {} is beyond the ledger's {} records",
                    checkpoint.tree_size, head.tree_size
                ),
            });
        }
        if self.root_at(checkpoint.tree_size)? != checkpoint.root {
            return Err(Error::Integrity {
                position: checkpoint.tree_size.saturating_sub(1),
                what: format!(
                    "the tree is not consistent with the checkpoint of size {}",
                    checkpoint.tree_size
                ),
            });
        }
        Ok(())
    }

    /// Signs a checkpoint of the current tree and stores it. Refuses if the tree is not
    /// consistent with the last checkpoint stored. Signing the same tree again with the same key
    /// answers the stored checkpoint.
    pub fn sign_checkpoint(&self, key: &SignerKey) -> Result<SignedCheckpoint, Error> {
        let _guard = self.inner.checkpoint_lock.lock();
        let head = self.head();
        if let Some(last) = self.latest_checkpoint()? {
            self.check_extends(&last)?;
        }
        if let Some(existing) = self
            .checkpoints()?
            .into_iter()
            .find(|c| c.tree_size == head.tree_size && c.origin == key.name())
        {
            return Ok(existing);
        }
        let signed = key.sign(head.tree_size, head.root)?;
        self.inner.store.put_checkpoint(
            signed.tree_size,
            key.name(),
            &signed.note,
            key.verifier_key().text(),
        )?;
        Ok(signed)
    }

    /// Stores a checkpoint signed elsewhere (e.g. the one an export was imported against),
    /// after checking its signature with `key` and that this ledger's tree has its root.
    pub fn add_checkpoint(&self, note: &str, key: &VerifierKey) -> Result<SignedCheckpoint, Error> {
        let _guard = self.inner.checkpoint_lock.lock();
        let checkpoint = key.open(note)?;
        self.check_extends(&checkpoint)?;
        if let Some(last) = self.latest_checkpoint()? {
            // Both must be on one history: the later must extend the earlier.
            let (earlier, later) = if last.tree_size <= checkpoint.tree_size {
                (&last, &checkpoint)
            } else {
                (&checkpoint, &last)
            };
            if self.root_at(earlier.tree_size)? != earlier.root
                || self.root_at(later.tree_size)? != later.root
            {
                return Err(Error::Integrity {
                    position: earlier.tree_size,
                    what: "the checkpoint is not consistent with the last one".into(),
                });
            }
        }
        self.inner
            .store
            .put_checkpoint(checkpoint.tree_size, key.name(), note, key.text())?;
        Ok(checkpoint)
    }

    /// Re-reads and re-hashes every record and checks the whole ledger (SPEC §5).
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        self.verify_with_progress(&mut |_| {})
    }

    /// [`Ledger::verify`], calling `progress` with the number of records checked so far.
    pub fn verify_with_progress(
        &self,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport, Error> {
        verify::verify(&self.inner.store, &self.head(), true, true, progress)
    }

    /// A stream of every record from `from` on: first those already recorded, then each new one
    /// as soon as it is durable. Ends only if the ledger's writer stops.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ikrar_core::Error> {
    /// use futures::StreamExt;
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// let mut feed = Box::pin(ledger.subscribe(0));
    /// let e = ikrar_core::InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
    ///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"t","made_on":"2025-01-16"}}"#).unwrap();
    /// ledger.append(vec![e]).await?;
    /// let first = feed.next().await.unwrap()?;
    /// assert_eq!(first.record.position, 0);
    /// # Ok(()) }
    /// ```
    pub fn subscribe(
        &self,
        from: u64,
    ) -> impl Stream<Item = Result<StoredRecord, Error>> + Send + 'static {
        struct State {
            ledger: Ledger,
            next: u64,
            buffer: VecDeque<StoredRecord>,
            head_rx: watch::Receiver<Head>,
            failed: bool,
        }
        const CHUNK_RECORDS: usize = 512;
        let state = State {
            head_rx: self.inner.head_rx.clone(),
            ledger: self.clone(),
            next: from,
            buffer: VecDeque::new(),
            failed: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            if s.failed {
                return None;
            }
            loop {
                if let Some(r) = s.buffer.pop_front() {
                    return Some((Ok(r), s));
                }
                let size = s.head_rx.borrow_and_update().tree_size;
                if s.next < size {
                    match s.ledger.read_range(s.next, CHUNK_RECORDS) {
                        Ok(chunk) => {
                            s.next += chunk.len() as u64;
                            s.buffer.extend(chunk);
                            continue;
                        }
                        Err(e) => {
                            s.failed = true;
                            return Some((Err(e), s));
                        }
                    }
                }
                if s.head_rx.changed().await.is_err() {
                    return None;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CommitmentMade, EventData};

    /// A backend whose commit fails after the writer has taught the index (as sled's can, when
    /// its flush fails while the index learns the group on the writer's thread).
    struct FailingCommit(Head);

    impl crate::storage::CommitLock for FailingCommit {
        fn head(&self) -> Head {
            self.0
        }

        fn commit(
            self: Box<Self>,
            _batch: crate::storage::CommitBatch<'_>,
            meanwhile: &mut dyn FnMut(),
        ) -> Result<(), Error> {
            meanwhile();
            Err(Error::Storage("the disk went away".into()))
        }
    }

    #[test]
    fn a_failed_commit_takes_back_what_the_index_learned() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create(dir.path().join("l")).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(ledger.append(made(0..3))).unwrap();
        let store = &ledger.inner.store;
        let head = ledger.head();
        let before = store.read_index().clone();
        let mut group = crate::append::Layer::new(head.tree_size, head.last_recorded_at);
        let (layer, _) =
            crate::append::stage(store, &group, &made(3..300), chrono::Utc::now()).unwrap();
        group.merge(layer);
        let failed = crate::writer::commit(store, Box::new(FailingCommit(head)), &group, &head);
        assert!(matches!(failed, Err(Error::Storage(_))), "{failed:?}");
        let after = store.read_index();
        assert_eq!(after.size, before.size);
        assert_eq!(after.streams, before.streams);
        assert_eq!(after.ids, before.ids);
        assert_eq!(after.made_on, before.made_on);
        drop(after);
        // Nothing was written, and the ledger goes on.
        assert_eq!(ledger.head(), head);
        rt.block_on(ledger.append(made(3..5))).unwrap();
        ledger.verify().unwrap();
    }

    fn made(numbers: std::ops::Range<u128>) -> Vec<InputEvent> {
        numbers
            .map(|n| {
                let mut e = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
                    commitment_id: Uuid::from_u128(n + 1),
                    title: format!("Commitment {n}"),
                    summary: None,
                    owner: None,
                    parties: vec![],
                    themes: vec![],
                    made_on: chrono::NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
                    due: None,
                }));
                e.actor = Some("tester".into());
                e
            })
            .collect()
    }

    /// The index check of `verify` names the first record whose entries the in-memory index
    /// does not hold — whichever of the checked chunk's records it is.
    #[test]
    fn verify_names_the_first_record_the_index_disagrees_with() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create(dir.path().join("l")).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let out = rt.block_on(ledger.append(made(0..40))).unwrap();
        ledger.verify().unwrap();
        for (damaged, other) in [(21u64, 27u64), (3, 30)] {
            let store = &ledger.inner.store;
            let saved = store.read_index().clone();
            {
                let mut index = store.write_index();
                index.ids.insert(out.event_ids[damaged as usize], 999);
                index.ids.insert(out.event_ids[other as usize], 998);
            }
            match ledger.verify() {
                Err(Error::Integrity { position, what }) => {
                    assert_eq!(position, damaged, "{what}");
                    assert!(what.contains("disagrees with the index"), "{what}");
                }
                other => panic!("{other:?}"),
            }
            *store.write_index() = saved;
            ledger.verify().unwrap();
        }
    }
}
