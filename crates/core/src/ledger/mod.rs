//! [`Ledger`], the public API: create, open, append, verify — and, in their own files, reading
//! ([`read`]), the tree's roots and proofs ([`proofs`]) and checkpoints ([`checkpoints`]).
//!
//! The ledger owns the writer thread and the store; it knows which backend a location names and
//! how each is opened, and nothing of how either lays out its bytes.

mod checkpoints;
mod cosigned;
mod export_check;
mod proofs;
mod read;
#[cfg(test)]
mod tests;
mod tiles;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::Error;
use crate::location::Location;
use crate::model::input::InputEvent;
#[cfg(feature = "postgres")]
use crate::storage::on_postgres::PostgresBackend;
use crate::storage::on_sled::{HeadFile, SledBackend};
use crate::storage::{Head, Store, CACHE_BYTES_DEFAULT};
use crate::verify::{self, VerifyReport};
use crate::write::clock::Clock;
use crate::write::stage::AppendOutcome;
use crate::write::writer::{self, AppendRequest, Payload};
use crate::write::{AppendChain, AppendCheck};

pub use export_check::ExportCheck;

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Where the writer reads the moment of recording (the system clock by default).
    pub clock: Clock,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            cache_bytes: CACHE_BYTES_DEFAULT,
            clock: Clock::system(),
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
    /// The writer's clock, which checks in parts read too.
    clock: Clock,
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

/// Whether records lie beyond `head` that no commit acknowledged: the head file (written after
/// each durable commit) says nothing beyond `head` was. Without a head file nothing is known,
/// and nothing counts as unacknowledged.
fn unacknowledged_beyond_head(
    store: &Store,
    head: &Head,
    acknowledged: Option<&Head>,
) -> Result<bool, Error> {
    let beyond = store
        .backend
        .last_position()?
        .is_some_and(|last| last >= head.tree_size);
    Ok(beyond && acknowledged.is_some_and(|a| a.tree_size <= head.tree_size))
}

/// Whether every record from `from` up to `to` is in the log: a commit that failed part way on
/// a full disk can leave its head, its hashes and its last records but not all of them (the
/// tail check, which looks at the last record and the root, then passes).
fn records_complete(store: &Store, from: u64, to: u64) -> Result<bool, Error> {
    let mut next = from;
    for chunk in store.chunks_from(from)? {
        let chunk = chunk?;
        if chunk.first > next {
            return Ok(false);
        }
        next = next.max(chunk.first + chunk.records().count() as u64);
        if next >= to {
            return Ok(true);
        }
    }
    Ok(next >= to)
}

/// The head a ledger opens at, and whether unacknowledged writes lie beyond it. It is sled's
/// own head — unless a group commit that failed part way left that head behind without all
/// its records: then sled's head does not check out, the head file's (written only after a
/// durable commit) does, and nothing beyond the head file's was acknowledged.
fn acknowledged_state(
    store: &Store,
    head: Head,
    acknowledged: Option<&Head>,
) -> Result<(Head, bool), Error> {
    if let Some(ack) = acknowledged {
        if ack.tree_size < head.tree_size
            && (verify::check_tail(store, &head, false).is_err()
                || !records_complete(store, ack.tree_size, head.tree_size)?)
            && verify::check_tail(store, ack, true).is_ok()
        {
            return Ok((*ack, true));
        }
    }
    let beyond = unacknowledged_beyond_head(store, &head, acknowledged)?;
    Ok((head, beyond))
}

impl Ledger {
    /// Records of commits never acknowledged (a group commit that failed part way, on a full
    /// disk say) that this open found beyond the head and removed. Nothing acknowledged is
    /// ever removed.
    pub fn discarded_at_open(&self) -> u64 {
        self.inner
            .store
            .discarded_at_open
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the in-memory index was loaded from the file a sled ledger saves it in, rather
    /// than built from the log (a test seam).
    #[cfg(any(test, feature = "testing"))]
    pub fn index_was_loaded(&self) -> bool {
        self.inner
            .store
            .index_loaded
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the in-memory index is built: on a sled ledger it is built when first needed,
    /// not at open (a test seam).
    #[cfg(any(test, feature = "testing"))]
    pub fn index_is_built(&self) -> bool {
        self.inner.store.index_is_built()
    }

    /// Makes the next `commits` group commits fail after their batch was applied, as a failed
    /// flush does (on a sled ledger; a test seam, not for production use).
    #[cfg(any(test, feature = "testing"))]
    pub fn fail_next_commits(&self, commits: u32) {
        self.inner.store.backend.fail_next_commits(commits);
    }

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
                let mut store = Store::new(Arc::new(backend));
                // Where the index is saved once it is worth it (`Ledger::save_index`).
                store.index_dir = Some(dir.clone());
                Self::start(
                    Location::Directory(dir),
                    store,
                    Head::empty(),
                    None,
                    options.clock,
                )
            }
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                let backend = PostgresBackend::create(&url)?;
                Self::start_shared(Location::Postgres(url), backend, options.clock)
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
                let mut store = Store::new(Arc::new(backend));
                store.index_dir = Some(dir.clone());
                // What lies beyond the acknowledged head no commit acknowledged (a failed one
                // left it), and it must not make the ledger unreadable: it is removed.
                let (head, unacknowledged) =
                    acknowledged_state(&store, store.head()?, acknowledged.as_ref())?;
                if unacknowledged {
                    let discarded = store.backend.discard_beyond(&head)?;
                    store
                        .discarded_at_open
                        .store(discarded, std::sync::atomic::Ordering::Relaxed);
                }
                verify::check_tail(&store, &head, false)?;
                verify::check_against_head_file(&store, &head, acknowledged)?;
                verify::check_latest_checkpoint(&store, &head)?;
                // The indexes are a projection of the log, kept in memory: built when first
                // needed (a query answered from the projection's snapshot never needs them).
                store.defer_index(head.tree_size);
                Self::start(Location::Directory(dir), store, head, None, options.clock)
            }
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                let backend = PostgresBackend::open(&url)?;
                Self::start_shared(Location::Postgres(url), backend, options.clock)
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
        // As an open would see it (without removing anything: a check changes nothing).
        let (head, unacknowledged) =
            acknowledged_state(&store, store.head()?, acknowledged.as_ref())?;
        let mut failures = Vec::new();
        if let Err(e) = verify::check_against_head_file(&store, &head, acknowledged) {
            failures.push(e);
        }
        // Records beyond the head that no commit acknowledged are not damage: the next open
        // discards them. The scans stop at the head, as they do on an open ledger.
        // Build the index as an open would; if that fails, the scan still runs (without index
        // checks) to find the earliest bad position.
        let indexed = match store.build_index(head.tree_size, unacknowledged) {
            Ok(index) => {
                *store.write_index() = index;
                true
            }
            Err(e) => {
                failures.push(e);
                false
            }
        };
        match verify::verify(&store, &head, indexed, unacknowledged, progress) {
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
        clock: Clock,
    ) -> Result<Ledger, Error> {
        let (head_tx, head_rx) = watch::channel(head);
        let head_tx = Arc::new(head_tx);
        let follower = match follow {
            Some(follow) => Some(follow(store.clone(), head_tx.clone())?),
            None => None,
        };
        let (tx, handle) = writer::spawn(store.clone(), head_tx, clock.clone())?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                location,
                store,
                tx: Some(tx),
                head_rx,
                writer: Mutex::new(Some(handle)),
                checkpoint_lock: Mutex::new(()),
                follower,
                clock,
            }),
        })
    }

    /// Starts a ledger on a backend other processes may write too: the index is built under
    /// the head as it is now, and a follower keeps index and head up to date with commits
    /// made elsewhere.
    #[cfg(feature = "postgres")]
    fn start_shared(
        location: Location,
        backend: PostgresBackend,
        clock: Clock,
    ) -> Result<Ledger, Error> {
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
            clock,
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

    /// The head as it is published: each commit (of this process, or on a shared backend of
    /// another) changes it once its records are readable. The channel closes with the ledger.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.inner.head_rx.clone()
    }

    /// Appends events, all or nothing, and answers once they are durable (SPEC §3).
    pub async fn append(&self, events: Vec<InputEvent>) -> Result<AppendOutcome, Error> {
        self.submit(events, false).await
    }

    /// Begins a chain of appends ([`AppendChain`]): each one staged by the writer as it is
    /// handed over, all committed together by [`AppendChain::commit`] or none. The writer
    /// holds its write lock and appends nothing else until the chain ends — on PostgreSQL that
    /// lock is every process's — so keep a chain short-lived, and do not wait on another append
    /// or chain of this ledger before ending it: that one waits for the chain.
    pub async fn begin_chain(&self) -> Result<AppendChain, Error> {
        let (links, read) = std::sync::mpsc::channel();
        let (reply, answer) = oneshot::channel();
        let tx = self.inner.tx.as_ref().ok_or_else(|| Error::Closed {
            reason: "the writer has stopped".into(),
        })?;
        tx.send(AppendRequest {
            payload: Payload::Chain(read),
            dry_run: false,
            reply,
        })
        .await
        .map_err(|_| Error::Closed {
            reason: "the writer has stopped".into(),
        })?;
        Ok(AppendChain {
            links,
            answer,
            events: 0,
            _ledger: self.clone(),
        })
    }

    /// Validates events exactly as [`Ledger::append`] would, against the current ledger, and
    /// writes nothing. Any number of events may be checked this way.
    pub async fn check(&self, events: Vec<InputEvent>) -> Result<AppendOutcome, Error> {
        self.submit(events, true).await
    }

    /// Makes room in the in-memory index for `events` more events, so that appending a large
    /// file grows it once instead of by doubling (a doubling holds the old table and the new
    /// one at once: for ten million events, 600 MB instead of 400). Only a hint.
    pub fn reserve(&self, events: u64) {
        // Reserved in the index that will be used (a deferred one is built first), and never
        // an error: a hint that cannot be met is ignored.
        if self.inner.store.ensure_index().is_err() {
            return;
        }
        let additional = usize::try_from(events).unwrap_or(usize::MAX);
        self.inner.store.write_index().ids.try_reserve(additional);
    }

    /// Saves the in-memory index of a sled ledger to its file (`LEDGER/index`) if it grew by
    /// more than an eighth since it was loaded or last saved: the next process loads it and
    /// reads only the log's tail, instead of scanning the whole log. Called after a large
    /// append and when a server stops; whether it was saved (never on PostgreSQL). The file
    /// is a cache, checked against the ledger's root when loaded: failing to write it is
    /// logged, not an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ikrar_core::Error> {
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// let event = ikrar_core::InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
    ///     "data":{"commitment_id":"0194a1c2-0000-7000-8000-000000000001",
    ///     "title":"Hold the summit","made_on":"2025-01-16"}}"#).unwrap();
    /// ledger.append(vec![event]).await?;
    /// assert!(ledger.save_index()?);
    /// assert!(dir.path().join("l/index").exists());
    /// // Nothing new since: not written again.
    /// assert!(!ledger.save_index()?);
    /// # Ok(()) }
    /// ```
    pub fn save_index(&self) -> Result<bool, Error> {
        self.inner.store.save_index_if_grown()
    }

    /// Builds the in-memory index now if it was deferred (on sled it is built when first
    /// needed: the first append or event lookup). A server calls this at start, off its
    /// request workers, so that no request pays for the scan of the log. Fails as the open
    /// used to on a log with a gap or damage sled finds.
    pub fn build_index(&self) -> Result<(), Error> {
        self.inner.store.ensure_index()
    }

    /// Starts checking an append too large to hold in memory, part by part, against the
    /// ledger as it is now plus the parts before (see [`AppendCheck`]). Nothing is written;
    /// the parts are then appended as batches of at most [`crate::EVENTS_PER_APPEND_MAX`].
    pub fn check_in_parts(&self) -> AppendCheck {
        AppendCheck::new(
            self.inner.store.clone(),
            self.inner.clock.clone(),
            &self.head(),
        )
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

    /// Re-reads and re-hashes every record and checks the whole ledger (SPEC §5).
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        self.verify_with_progress(&mut |_| {})
    }

    /// [`Ledger::verify`], calling `progress` with the number of records checked so far.
    pub fn verify_with_progress(
        &self,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport, Error> {
        // An index not built yet (deferred at open, never needed since) has nothing to check
        // against: it would be built from the very records verify reads.
        let check_index = self.inner.store.index_is_built();
        verify::verify(&self.inner.store, &self.head(), check_index, true, progress)
    }
}

/// A `postgres://` location in a build without the PostgreSQL backend.
#[cfg(not(feature = "postgres"))]
fn no_postgres() -> Error {
    Error::storage(
        "this build has no PostgreSQL backend (it was built without the `postgres` feature)",
    )
}
