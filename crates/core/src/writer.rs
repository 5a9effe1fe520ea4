//! The single writer: group commit of concurrent appends.
//!
//! One OS thread owns every write to the log. It takes the first pending append, drains
//! whatever else is already waiting (up to [`GROUP_EVENTS_MAX`] events), validates and stages
//! each append on top of the ones before it (a failing append fails alone), writes the survivors
//! in one atomic `apply_batch`, calls `flush` once, and only then answers every appender. Many
//! appends thus share one flush — the cost that dominates a durable append.

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::append::{stage, stage_records, AppendOutcome, Layer, View};
use crate::error::Error;
use crate::event::InputEvent;
use crate::merkle::{Hash, HASH_BYTES};
use crate::moment::truncate_to_micros;
use crate::storage::{bundle_key, tile_key, Head, HeadFile, Store, BUNDLE_RECORDS_MAX, TILE_WIDTH};

/// Events gathered into one group commit at most (beyond the first append, which may hold up
/// to 10,000 on its own). sled keeps a batch in memory, so the group is bounded.
pub const GROUP_EVENTS_MAX: usize = 20_000;

/// Appends waiting for the writer at most; further appenders wait for room.
pub const QUEUE_APPENDS_MAX: usize = 4_096;

/// What an append carries: events in the input form, or recorded records (an import).
pub(crate) enum Payload {
    Events(Vec<InputEvent>),
    Records(Vec<Vec<u8>>),
}

impl Payload {
    fn len(&self) -> usize {
        match self {
            Payload::Events(e) => e.len(),
            Payload::Records(r) => r.len(),
        }
    }
}

pub(crate) struct AppendRequest {
    pub(crate) payload: Payload,
    pub(crate) dry_run: bool,
    pub(crate) reply: oneshot::Sender<Result<AppendOutcome, Error>>,
}

pub(crate) fn spawn(
    store: Store,
    head_file: HeadFile,
    head: Head,
    head_tx: watch::Sender<Head>,
) -> std::io::Result<(mpsc::Sender<AppendRequest>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(QUEUE_APPENDS_MAX);
    let handle = std::thread::Builder::new()
        .name("ikrar-writer".into())
        .spawn(move || run(store, head_file, head, head_tx, rx))?;
    Ok((tx, handle))
}

fn run(
    store: Store,
    head_file: HeadFile,
    mut head: Head,
    head_tx: watch::Sender<Head>,
    mut rx: mpsc::Receiver<AppendRequest>,
) {
    // Set after a failed write: the durable state is then unknown, so every later append is
    // refused until the ledger is reopened (and its tail checked).
    let mut broken: Option<String> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut events_in_group = first.payload.len();
        let mut requests = vec![first];
        while events_in_group < GROUP_EVENTS_MAX {
            match rx.try_recv() {
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

        let mut group = Layer::new(head.tree_size, head.last_recorded_at);
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let now = truncate_to_micros(chrono::Utc::now());
            let result = check_limits(&request).and_then(|()| match &request.payload {
                Payload::Events(events) => stage(&store, &group, events, now),
                Payload::Records(records) => stage_records(&store, &group, records),
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

        if !group.records.is_empty() {
            match commit(&store, &group, &head).and_then(|new_head| {
                head_file.write(&new_head)?;
                Ok(new_head)
            }) {
                Ok(new_head) => {
                    head = new_head;
                    head_tx.send_replace(head);
                }
                Err(e) => {
                    let reason = format!("a group commit failed ({e}); reopen the ledger");
                    broken = Some(reason.clone());
                    for (request, _) in answers {
                        let _ = request.reply.send(Err(Error::Closed {
                            reason: reason.clone(),
                        }));
                    }
                    continue;
                }
            }
        }
        for (request, result) in answers {
            let result = result.map(|mut outcome| {
                outcome.tree_size = if request.dry_run {
                    head.tree_size + outcome.new_events as u64
                } else {
                    head.tree_size
                };
                outcome
            });
            let _ = request.reply.send(result);
        }
    }
}

fn check_limits(request: &AppendRequest) -> Result<(), Error> {
    let count = request.payload.len();
    if !request.dry_run && count > crate::append::EVENTS_PER_APPEND_MAX {
        return Err(Error::validation(
            crate::append::EVENTS_PER_APPEND_MAX,
            "-",
            format!(
                "an append holds at most {} events; this one has {}",
                crate::append::EVENTS_PER_APPEND_MAX,
                count
            ),
        ));
    }
    Ok(())
}

/// Writes a group in one atomic batch, flushes, and returns the new head.
fn commit(store: &Store, group: &Layer, head: &Head) -> Result<Head, Error> {
    let mut batch = sled::Batch::default();
    // Records go into new bundles of up to BUNDLE_RECORDS_MAX; a bundle is never rewritten.
    // Invariant: the records are written only at positions at or above the head.
    debug_assert!(group
        .records
        .first()
        .is_none_or(|s| s.record.position == head.tree_size));
    for chunk in group.records.chunks(BUNDLE_RECORDS_MAX) {
        let first = chunk[0].record.position;
        let mut value = Vec::with_capacity(chunk.iter().map(|s| s.bytes.len() + 1).sum());
        for (i, staged) in chunk.iter().enumerate() {
            if i > 0 {
                value.push(b'\n');
            }
            value.extend_from_slice(&staged.bytes);
        }
        batch.insert(&bundle_key(first)[..], value);
    }

    // Extend the hash tiles. Hashes of one level only ever grow at the end.
    let mut by_tile: BTreeMap<(u8, u64), Vec<(u64, Hash)>> = BTreeMap::new();
    for (&(level, index), &hash) in &group.hashes {
        by_tile
            .entry((level, index / TILE_WIDTH))
            .or_default()
            .push((index, hash));
    }
    for ((level, tile), mut hashes) in by_tile {
        hashes.sort_unstable_by_key(|(i, _)| *i);
        let mut value = store
            .tile(level, tile)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
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
        batch.insert(&tile_key(level, tile)[..], value);
    }

    let tree_size = group.next_position();
    let empty = Layer::new(tree_size, group.last_recorded_at);
    let view = View {
        store,
        layers: [group, &empty],
    };
    let root: Hash = tlog_tiles::tree_hash(tree_size, &view)
        .map_err(|e| Error::Integrity {
            position: tree_size.saturating_sub(1),
            what: format!("cannot compute the new root: {e}"),
        })?
        .into();
    let new_head = Head {
        tree_size,
        root,
        last_recorded_at: group.last_recorded_at,
    };
    Store::put_head(&mut batch, &new_head);
    store.log.apply_batch(batch)?;
    store.db.flush()?;
    // Durable: now the in-memory index learns the records, before anyone is answered.
    let mut index = store.index.write().unwrap_or_else(|p| p.into_inner());
    for staged in &group.records {
        index.push(&crate::record::RecordHeader::of(&staged.record))?;
    }
    Ok(new_head)
}
