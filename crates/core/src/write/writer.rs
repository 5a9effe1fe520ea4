//! The single writer: group commit of concurrent appends.
//!
//! One OS thread per open ledger owns its writes. It takes the first pending append, drains
//! whatever else is already waiting (up to [`GROUP_EVENTS_MAX`] events), takes the backend's
//! write lock (trivial on sled; the head row's lock on PostgreSQL, which serialises writers of
//! several processes), validates and stages each append on top of the ones before it (a failing
//! append fails alone), writes the survivors in one atomic, durable commit, and only then
//! answers every appender. Many appends thus share one flush — the cost that dominates a
//! durable append.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::Error;
use crate::model::input::InputEvent;
use crate::storage::{CommitBatch, CommitLock, CommitRecord, Head, Store, TILE_WIDTH};
use crate::tree::merkle::{Hash, HASH_BYTES};
use crate::write::chain::{stage_chain, Link};
use crate::write::clock::Clock;
use crate::write::import::stage_records;
use crate::write::layer::{Layer, Staged, View};
use crate::write::stage::{stage, AppendOutcome, EVENTS_PER_APPEND_MAX};

/// Events gathered into one group commit at most (beyond the first append, which may hold up
/// to 10,000 on its own). sled keeps a batch in memory, so the group is bounded.
pub const GROUP_EVENTS_MAX: usize = 20_000;

/// Appends waiting for the writer at most; further appenders wait for room.
pub const QUEUE_APPENDS_MAX: usize = 4_096;

/// What an append carries: events in the input form, recorded records (an import), or a
/// chain of appends still being handed over ([`crate::write::chain`]).
pub(crate) enum Payload {
    Events(Vec<InputEvent>),
    Records(Vec<Vec<u8>>),
    Chain(std::sync::mpsc::Receiver<Link>),
}

impl Payload {
    fn len(&self) -> usize {
        match self {
            Payload::Events(e) => e.len(),
            Payload::Records(r) => r.len(),
            Payload::Chain(_) => 0,
        }
    }

    fn is_chain(&self) -> bool {
        matches!(self, Payload::Chain(_))
    }
}

pub(crate) struct AppendRequest {
    pub(crate) payload: Payload,
    pub(crate) dry_run: bool,
    pub(crate) reply: oneshot::Sender<Result<AppendOutcome, Error>>,
}

pub(crate) fn spawn(
    store: Store,
    head_tx: Arc<watch::Sender<Head>>,
    clock: Clock,
) -> std::io::Result<(mpsc::Sender<AppendRequest>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(QUEUE_APPENDS_MAX);
    let handle = std::thread::Builder::new()
        .name("ikrar-writer".into())
        .spawn(move || run(store, head_tx, rx, clock))?;
    Ok((tx, handle))
}

/// Publishes a head to readers and subscribers, unless they already have a later one (another
/// process's commit may have been seen first).
pub(crate) fn publish(head_tx: &watch::Sender<Head>, head: Head) {
    head_tx.send_if_modified(|current| {
        if head.tree_size > current.tree_size {
            *current = head;
            true
        } else {
            false
        }
    });
}

/// Groups handed to the reclaimer and not yet freed, at most; the writer waits beyond that.
const RECLAIM_QUEUE_MAX: usize = 2;

/// What is left of a group once everyone is answered: the staged records and the appends'
/// input, freed on another thread (see [`run`]).
type Spent = (Layer, Vec<Payload>);

fn run(
    store: Store,
    head_tx: Arc<watch::Sender<Head>>,
    mut rx: mpsc::Receiver<AppendRequest>,
    clock: Clock,
) {
    // Freeing a group of 1,000 events (the staged bytes and every string of the input) took
    // about a tenth of the writer's time, and the writer is the bottleneck of a sequential
    // appender: the next group cannot start until the last is freed. A second thread frees
    // them instead, off that path; the bounded queue keeps the memory it holds bounded.
    let (reclaim_tx, reclaim_rx) = std::sync::mpsc::sync_channel::<Spent>(RECLAIM_QUEUE_MAX);
    let reclaimer = std::thread::Builder::new()
        .name("ikrar-reclaim".into())
        .spawn(move || reclaim_rx.into_iter().for_each(drop));
    let reclaim_tx = reclaimer.is_ok().then_some(reclaim_tx);
    // Set when the index could not learn a durable group: every later append is then refused
    // until the ledger is reopened (which rebuilds the index from the log).
    let mut broken: Option<String> = None;
    // The acknowledged head before a group commit that failed, while what that commit left
    // in the backend is not yet undone. A failed commit (a full disk, no descriptor left) fails
    // only its own appenders: the next group first goes back to this head, and only then is
    // anything appended on it — a transient cause, once gone, needs no restart.
    let mut undo_to: Option<Head> = None;
    // A chain is a group of its own: one met while draining waits for the next group.
    let mut carried: Option<AppendRequest> = None;
    while let Some(first) = carried.take().or_else(|| rx.blocking_recv()) {
        let mut events_in_group = first.payload.len();
        let alone = first.payload.is_chain();
        let mut requests = vec![first];
        while events_in_group < GROUP_EVENTS_MAX && !alone {
            match rx.try_recv() {
                Ok(r) if r.payload.is_chain() => {
                    carried = Some(r);
                    break;
                }
                Ok(r) => {
                    events_in_group += r.payload.len();
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        if let Some(reason) = &broken {
            for r in requests {
                let _ = r.reply.send(Err(Error::Closed {
                    reason: reason.clone(),
                }));
            }
            continue;
        }
        if let Some(acknowledged) = undo_to {
            match store.backend.undo_failed_commit(&acknowledged) {
                Ok(()) => undo_to = None,
                Err(e) => {
                    let error = Error::storage(format!(
                        "an earlier group commit failed and what it left could not be undone \
                         yet ({e}); nothing was written"
                    ));
                    for r in requests {
                        let _ = r.reply.send(Err(same_error(&error)));
                    }
                    continue;
                }
            }
        }

        // The write lock first: on a shared backend another process may have committed since
        // this one last looked, and the index must know those records before validating.
        let lock = store.backend.lock_for_commit().and_then(|lock| {
            store.catch_up_index(lock.head().tree_size)?;
            store.refresh_frontier(lock.head().tree_size)?;
            Ok(lock)
        });
        let lock = match lock {
            Ok(lock) => lock,
            Err(e) => {
                // Damage found while catching up stays an integrity failure for every appender.
                for r in requests {
                    let _ = r.reply.send(Err(same_error(&e)));
                }
                continue;
            }
        };
        let head = lock.head();
        publish(&head_tx, head);

        let (group, answers) = stage_group(&store, &head, requests, &clock);

        let mut tree_size = head.tree_size;
        if group.records.is_empty() {
            drop(lock);
        } else {
            let started = std::time::Instant::now();
            match commit(&store, lock, &group, &head) {
                Ok(Committed {
                    head: new_head,
                    index_fault: None,
                }) => {
                    store
                        .stats
                        .committed(group.records.len() as u64, started.elapsed());
                    tree_size = new_head.tree_size;
                    // Invariant: readers are shown a head only once the index has its records.
                    debug_assert!(store.read_index().size >= new_head.tree_size);
                    publish(&head_tx, new_head);
                }
                Ok(Committed {
                    head: new_head,
                    index_fault: Some(fault),
                }) => {
                    // The group is durable, so its appenders are told so; but the index does
                    // not hold all of it, so the head is not shown to readers and no further
                    // append is taken: the next open rebuilds the index from the log (and
                    // names the record if the log itself is at fault).
                    tracing::error!(
                        error = %fault,
                        tree_size = new_head.tree_size,
                        "a durable group commit could not be indexed; the ledger takes no more \
                         appends until it is reopened"
                    );
                    tree_size = new_head.tree_size;
                    broken = Some(format!(
                        "the index refused a committed record ({fault}); reopen the ledger"
                    ));
                }
                Err(e) => {
                    store.stats.failed();
                    // A commit refused for want of space wrote nothing: there is nothing to
                    // undo (and an undo would read every hash tile to find that out).
                    if !matches!(e, Error::DiskFull { .. }) {
                        undo_to = Some(head);
                    }
                    let error = match e {
                        // Its kind kept: a full disk stays a full disk for the appender.
                        Error::Io(io) => Error::Io(std::io::Error::new(
                            io.kind(),
                            format!("a group commit failed ({io})"),
                        )),
                        // Refused before anything was written: said as it is.
                        full @ Error::DiskFull { .. } => full,
                        other => Error::storage(format!("a group commit failed ({other})")),
                    };
                    for (request, _) in answers {
                        let _ = request.reply.send(Err(same_error(&error)));
                    }
                    continue;
                }
            }
        }
        let payloads = answer(answers, tree_size);
        if let Some(tx) = &reclaim_tx {
            // Fails only if the reclaimer is gone; the group is then freed here.
            let _ = tx.send((group, payloads));
        }
    }
    drop(reclaim_tx);
    if let Ok(reclaimer) = reclaimer {
        let _ = reclaimer.join();
    }
}

/// Each request's answer, before the group is committed: its outcome, or why it failed alone.
type Answers = Vec<(AppendRequest, Result<AppendOutcome, Error>)>;

/// Validates and stages each request of a group on top of the ones before it, under the lock
/// whose head is `head`: a request that fails fails alone, and a dry run stages nothing.
fn stage_group(
    store: &Store,
    head: &Head,
    requests: Vec<AppendRequest>,
    clock: &Clock,
) -> (Layer, Answers) {
    let mut group = Layer::new(head.tree_size, head.last_recorded_at);
    let mut answers = Vec::with_capacity(requests.len());
    for mut request in requests {
        let now = clock.now();
        let result = check_limits(&request).and_then(|()| match &mut request.payload {
            Payload::Events(events) => stage(store, &group, &(), events, now),
            Payload::Records(records) => stage_records(store, &group, records),
            // Alone in its group (see [`run`]): the group is the chain. The receiver is taken,
            // so that the author learns at once, from its next link, that a refused chain is
            // no longer read.
            Payload::Chain(links) => {
                let links = std::mem::replace(links, std::sync::mpsc::channel().1);
                stage_chain(store, head, links, clock)
            }
        });
        let result = match result {
            Ok((layer, outcome)) => {
                if !request.dry_run {
                    group.merge(layer);
                }
                Ok(outcome)
            }
            Err(e) => Err(e),
        };
        answers.push((request, result));
    }
    (group, answers)
}

/// Answers every appender of a group committed at `tree_size` (a dry run: the size it would
/// have made), and hands back the appends' input, to be freed off the writer's path.
fn answer(answers: Answers, tree_size: u64) -> Vec<Payload> {
    let mut payloads = Vec::with_capacity(answers.len());
    for (request, result) in answers {
        let result = result.map(|mut outcome| {
            outcome.tree_size = if request.dry_run {
                tree_size + outcome.new_events as u64
            } else {
                tree_size
            };
            outcome
        });
        let _ = request.reply.send(result);
        payloads.push(request.payload);
    }
    payloads
}

/// The same failure again, for each appender of a group (`Error` is not `Clone`: it may hold
/// an I/O error). Kinds an appender acts on are kept; anything else becomes a storage error
/// with the same words.
fn same_error(e: &Error) -> Error {
    match e {
        Error::Integrity { position, what } => Error::Integrity {
            position: *position,
            what: what.clone(),
        },
        Error::Closed { reason } => Error::Closed {
            reason: reason.clone(),
        },
        Error::DiskFull {
            path,
            available_bytes,
            needed_bytes,
        } => Error::DiskFull {
            path: path.clone(),
            available_bytes: *available_bytes,
            needed_bytes: *needed_bytes,
        },
        Error::Storage { what, source } => Error::Storage {
            what: what.clone(),
            source: source.clone(),
        },
        // An I/O error keeps its kind (a full disk stays a full disk), with the same words.
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => Error::storage(other.to_string()),
    }
}

fn check_limits(request: &AppendRequest) -> Result<(), Error> {
    let count = request.payload.len();
    if !request.dry_run && count > EVENTS_PER_APPEND_MAX {
        return Err(Error::validation(
            EVENTS_PER_APPEND_MAX,
            "-",
            format!(
                "an append holds at most {} events; this one has {}",
                EVENTS_PER_APPEND_MAX, count
            ),
        ));
    }
    Ok(())
}

/// A durable group commit.
#[derive(Debug)]
pub(crate) struct Committed {
    /// The head after the group.
    pub(crate) head: Head,
    /// Why the index could not learn every record of the group, if it could not. The group
    /// is durable all the same: this never turns the commit into a failure.
    pub(crate) index_fault: Option<Error>,
}

/// Writes a group in one atomic, durable commit under `lock`, then teaches the index its
/// records, and returns the new head. An error means the group is not acknowledged; once the
/// backend's commit has returned, nothing can make it one (see [`Committed::index_fault`]).
pub(crate) fn commit(
    store: &Store,
    lock: Box<dyn CommitLock + '_>,
    group: &Layer,
    head: &Head,
) -> Result<Committed, Error> {
    // Invariants, right before writing (docs/ARCHITECTURE.md): the records continue the log
    // at the head with gapless positions, and `recorded_at` never goes back.
    debug_assert!(group
        .records
        .iter()
        .enumerate()
        .all(|(i, s)| s.position == head.tree_size + i as u64));
    debug_assert!(group
        .records
        .iter()
        .try_fold(head.last_recorded_at, |last, s| (s.recorded_at >= last)
            .then_some(s.recorded_at))
        .is_some());
    let records = group
        .records
        .iter()
        .map(|staged| CommitRecord {
            position: staged.position,
            stream: staged.stream.as_str(),
            version: staged.version,
            event_id: staged.event_id,
            bytes: &staged.bytes,
        })
        .collect();

    let tiles = extended_tiles(store, group, head)?;
    let new_head = new_head(store, group)?;
    let written: Vec<(u8, u64, Vec<u8>)> = tiles.clone();
    // The index learns the records before anyone is answered, and no reader sees them before
    // they are durable: it is taught under its write lock, held until the commit returns —
    // while sled flushes, when the backend can overlap the two — and taught back if the
    // commit fails. (On a shared backend a reader of another process's commits may have
    // taught it some already.)
    let mut index_guard = None;
    // The records pushed: `group.records[first..first + pushed]`.
    let (mut first, mut pushed) = (0, 0);
    let mut push_result = Ok(());
    let committed = lock.commit(
        CommitBatch {
            records,
            tiles,
            head: new_head,
        },
        &mut || {
            let mut index = store.write_index();
            // Records are in position order: those the index already has are a prefix.
            first = group
                .records
                .iter()
                .take_while(|s| s.position < index.size)
                .count();
            for staged in &group.records[first..] {
                push_result = index.push(&staged.header());
                if push_result.is_err() {
                    break;
                }
                pushed += 1;
            }
            index_guard = Some(index);
        },
    );
    if let Err(e) = committed {
        if let Some(index) = index_guard.as_mut() {
            let headers: Vec<_> = group.records[first..first + pushed]
                .iter()
                .map(Staged::header)
                .collect();
            index.unpush(&headers);
        }
        return Err(e);
    }
    drop(index_guard);
    store.remember_tiles(written);
    Ok(Committed {
        head: new_head,
        index_fault: push_result.err(),
    })
}

/// The hash tiles the group extends, each whole as it will be stored: what is stored at the
/// head's size, then the group's new hashes. Hashes of one level only ever grow at the end.
fn extended_tiles(
    store: &Store,
    group: &Layer,
    head: &Head,
) -> Result<Vec<(u8, u64, Vec<u8>)>, Error> {
    let mut by_tile: BTreeMap<(u8, u64), Vec<(u64, Hash)>> = BTreeMap::new();
    for (&(level, index), &hash) in &group.hashes {
        by_tile
            .entry((level, index / TILE_WIDTH))
            .or_default()
            .push((index, hash));
    }
    let mut tiles = Vec::with_capacity(by_tile.len());
    for ((level, tile), mut hashes) in by_tile {
        hashes.sort_unstable_by_key(|(i, _)| *i);
        let mut value = store
            .tile_at_size(level, tile, head.tree_size)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        // Hashes beyond the head in a stored tile are what a commit that failed part way left
        // (never acknowledged; the hashes below the head never change): overwritten here.
        value.truncate(Store::tile_bytes_at_size(level, tile, head.tree_size));
        for (index, hash) in hashes {
            let at = (index % TILE_WIDTH) as usize * HASH_BYTES;
            if value.len() != at {
                return Err(Error::Integrity {
                    position: head.tree_size,
                    what: format!(
                        "hash tile ({level}, {tile}) holds {} bytes where {at} were expected",
                        value.len()
                    ),
                });
            }
            value.extend_from_slice(&hash.0);
        }
        tiles.push((level, tile, value));
    }

    Ok(tiles)
}

/// The head after the group: its size, the root of the tree with the group's hashes, and its
/// last `recorded_at`.
fn new_head(store: &Store, group: &Layer) -> Result<Head, Error> {
    let tree_size = group.next_position();
    let empty = Layer::new(tree_size, group.last_recorded_at);
    let view = View::new(store, [group, &empty]);
    let hashes = crate::storage::Hashes::new(&view);
    let root = tlog_tiles::tree_hash(tree_size, &hashes);
    let root: Hash = hashes.outcome(root, |e| Error::Integrity {
        position: tree_size.saturating_sub(1),
        what: format!("cannot compute the new root: {e}"),
    })?;
    Ok(Head {
        tree_size,
        root,
        last_recorded_at: group.last_recorded_at,
    })
}
