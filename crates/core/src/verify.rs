//! Integrity checks: the full `verify` (SPEC §5) and the cheaper tail check run at open.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Error;
use crate::merkle::{Hash, TreeBuilder, HASH_BYTES};
use crate::record::{Record, RecordHeader};
use crate::storage::{Bytes, Chunk, Head, Store, TILE_WIDTH};

/// What a successful `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Number of records checked; the tree size.
    pub tree_size: u64,
    /// The root recomputed from the records, equal to the stored one.
    pub root: Hash,
}

fn integrity(position: u64, what: impl Into<String>) -> Error {
    Error::Integrity {
        position,
        what: what.into(),
    }
}

/// Reads stored hashes level by level in order, one tile in memory per level.
struct TileCursor<'a> {
    store: &'a Store,
    tiles: Vec<Option<(u64, Bytes)>>,
}

impl<'a> TileCursor<'a> {
    fn new(store: &'a Store) -> Self {
        TileCursor {
            store,
            tiles: Vec::new(),
        }
    }

    fn hash(&mut self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        let tile = index / TILE_WIDTH;
        let l = level as usize;
        if self.tiles.len() <= l {
            self.tiles.resize(l + 1, None);
        }
        let cached = matches!(&self.tiles[l], Some((t, _)) if *t == tile);
        if !cached {
            self.tiles[l] = self.store.tile(level, tile)?.map(|v| (tile, v));
        }
        let Some((_, bytes)) = &self.tiles[l] else {
            return Ok(None);
        };
        let at = (index % TILE_WIDTH) as usize * HASH_BYTES;
        Ok(bytes
            .get(at..at + HASH_BYTES)
            .map(|b| Hash(b.try_into().expect("32 bytes"))))
    }
}

/// Chunks the reading stage hands to the tree stage at once: one message per sled bundle (16
/// records) woke the tree stage ~60,000 times per 1,000,000 records.
const CHUNKS_PER_MESSAGE: usize = 16;

/// Messages in flight between the reading stage and the tree stage at most.
const MESSAGES_IN_FLIGHT: usize = 8;

/// Chunks checked by the reading stage, each with how many of its records belong to the scan.
type Checked = Result<Vec<(Chunk, usize)>, Error>;

/// What the reading stage of `verify` found, beyond the leaves it sent.
struct Scanned {
    size: u64,
    retractions: usize,
    made: usize,
    last_recorded_at: DateTime<Utc>,
}

/// Re-reads every record, re-hashes it, and checks positions, stream versions, `recorded_at`
/// order, the index, every stored tree hash, every stored checkpoint and the root. `progress`
/// is called with the number of records checked so far, every few thousand.
/// `live`: the ledger is open and may grow during the scan, which then stops at `head` (records
/// after it are later commits). Otherwise a record beyond `head` is an integrity failure.
///
/// Two stages on two threads, since the work per record is what bounds it: one reads the
/// records and checks each alone and against the index; this one hashes them, builds the tree
/// and compares every stored hash and checkpoint root. The tree stage takes positions in order
/// and the reading stage reports a failure only after the records before it, so the failure
/// reported is still the earliest.
pub(crate) fn verify(
    store: &Store,
    head: &Head,
    check_index: bool,
    live: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, Error> {
    // Every stored checkpoint: its root must be the recomputed root at its size.
    let checkpoints = stored_checkpoints(store, head)?;
    let mut roots_to_check: std::collections::BTreeMap<u64, Vec<(Hash, String)>> =
        std::collections::BTreeMap::new();
    for c in &checkpoints {
        roots_to_check
            .entry(c.tree_size)
            .or_default()
            .push((c.root, c.origin.clone()));
    }
    let (tree, scanned) = std::thread::scope(|scope| {
        let (leaves_tx, leaves_rx) = std::sync::mpsc::sync_channel(MESSAGES_IN_FLIGHT);
        let reader = std::thread::Builder::new()
            .name("ikrar-verify-read".into())
            .spawn_scoped(scope, move || {
                scan_records(store, head, check_index, live, &leaves_tx)
            });
        let reader = match reader {
            Ok(r) => r,
            Err(e) => return (Err(Error::Io(e)), None),
        };
        let tree = build_tree(store, &roots_to_check, leaves_rx, progress);
        let scanned = reader.join().ok();
        (tree, scanned)
    });
    let (builder, size) = tree?;
    let scanned = match scanned {
        Some(Ok(scanned)) => scanned,
        Some(Err(e)) => return Err(e),
        None => return Err(Error::Storage("the verify reader panicked".into())),
    };
    debug_assert_eq!(scanned.size, size);
    let position = size;
    progress(position);
    if position != head.tree_size {
        return Err(integrity(
            position,
            format!(
                "the log ends at {position} records but its head says {}: records are missing",
                head.tree_size
            ),
        ));
    }
    if head.tree_size > 0 && scanned.last_recorded_at != head.last_recorded_at {
        return Err(integrity(
            position.saturating_sub(1),
            "the last recorded_at differs from the head",
        ));
    }
    let root = builder.root();
    if root != head.root {
        return Err(integrity(
            position.saturating_sub(1),
            "the root recomputed from the records differs from the stored root",
        ));
    }
    // Every record's entries were found; equal counts mean the index holds nothing else. The
    // ledger may have grown during the scan: count only entries below the verified size then
    // (`made_on` has no position, so it is counted only when nothing was appended).
    let live = store.read_index();
    let below = |p: &u64| *p < size;
    let counts_agree = if live.size == size {
        let stream_entries: usize = live.streams.values().map(Vec::len).sum();
        live.ids.len() as u64 == size
            && stream_entries as u64 == size
            && live.retracted.len() == scanned.retractions
            && live.made_on.len() == scanned.made
    } else {
        let stream_entries: usize = live
            .streams
            .values()
            .map(|v| v.iter().filter(|p| below(p)).count())
            .sum();
        live.size > size
            && live.ids.values().filter(|p| below(p)).count() as u64 == size
            && stream_entries as u64 == size
            && live.retracted.values().filter(|p| below(p)).count() == scanned.retractions
    };
    if check_index && !counts_agree {
        return Err(integrity(
            position,
            "the in-memory index holds entries no record implies; reopen the ledger to rebuild it",
        ));
    }
    Ok(VerifyReport {
        tree_size: head.tree_size,
        root,
    })
}

/// The reading stage: every record in order, checked alone and against the index; sends each
/// chunk on once checked, then a failure if there is one, and returns what it counted.
fn scan_records(
    store: &Store,
    head: &Head,
    check_index: bool,
    live: bool,
    checked: &std::sync::mpsc::SyncSender<Checked>,
) -> Result<Scanned, Error> {
    let mut scanned = Scanned {
        size: 0,
        retractions: 0,
        made: 0,
        last_recorded_at: DateTime::UNIX_EPOCH,
    };
    let mut pending = Vec::with_capacity(CHUNKS_PER_MESSAGE);
    let result = scan_into(
        store,
        head,
        check_index,
        live,
        &mut scanned,
        &mut pending,
        checked,
    );
    // The records checked so far first, then any failure after them, so that the tree stage
    // can still find an earlier failure; a closed channel means the tree stage failed first.
    if !pending.is_empty() {
        let _ = checked.send(Ok(pending));
    }
    if let Err(e) = result {
        let _ = checked.send(Err(e));
        return Err(integrity(scanned.size, "reported by the tree stage"));
    }
    Ok(scanned)
}

fn scan_into(
    store: &Store,
    head: &Head,
    check_index: bool,
    live: bool,
    scanned: &mut Scanned,
    pending: &mut Vec<(Chunk, usize)>,
    checked: &std::sync::mpsc::SyncSender<Checked>,
) -> Result<(), Error> {
    // Each record's entries are looked up in the live index (lookups, not a rebuild: no
    // allocation per record); the counts at the end rule out entries no record implies. The
    // index is read-locked one chunk at a time, never for the whole scan: the writer updates
    // it after every commit, and appends must not wait for a verify. Entries for positions
    // below the head never change, so the lookups need no snapshot.
    for chunk in store.chunks_from(0)? {
        let chunk = chunk?;
        if live && chunk.first >= head.tree_size {
            break;
        }
        if chunk.first != scanned.size {
            return Err(integrity(
                scanned.size,
                "the record is missing (the log has a gap)",
            ));
        }
        let mut beyond_head = false;
        // First every record's own checks, then its index entries for the whole chunk in one
        // tight loop: the lookups miss the cache (maps of a million entries), and apart from
        // the rest of the work the processor overlaps several of them.
        let mut headers = Vec::with_capacity(crate::storage::on_sled::BUNDLE_RECORDS_MAX);
        let mut failure = None;
        for record in chunk.records() {
            let position = scanned.size;
            if position >= head.tree_size {
                // Later commits, when the ledger is open; otherwise records nobody
                // acknowledged.
                if live {
                    beyond_head = true;
                } else {
                    failure = Some(integrity(
                        position,
                        format!(
                            "a record lies beyond the head (tree size {})",
                            head.tree_size
                        ),
                    ));
                }
                break;
            }
            match check_record(record, position, scanned) {
                Ok(header) => headers.push(header),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if check_index {
            let first = scanned.size - headers.len() as u64;
            let index = store.read_index();
            for (i, header) in headers.iter().enumerate() {
                let position = first + i as u64;
                let in_stream = index
                    .streams
                    .get(header.stream.as_ref())
                    .and_then(|v| v.get(header.version as usize));
                let indexed = in_stream == Some(&position)
                    && index.ids.get(&header.event_id) == Some(&position)
                    && header
                        .retracts
                        .is_none_or(|t| index.retracted.get(&t) == Some(&position))
                    && header
                        .made
                        .is_none_or(|(c, d)| index.made_on.get(&c) == Some(&d));
                if !indexed {
                    // An earlier failure than any of the record's own checks found.
                    return Err(integrity(
                        position,
                        format!(
                            "the record (stream {} version {}) disagrees with the index",
                            header.stream, header.version
                        ),
                    ));
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let taken = headers.len();
        pending.push((chunk, taken));
        if pending.len() >= CHUNKS_PER_MESSAGE && checked.send(Ok(std::mem::take(pending))).is_err()
        {
            // The tree stage stopped at an earlier failure.
            return Ok(());
        }
        if beyond_head {
            break;
        }
    }
    Ok(())
}

/// A record's own checks at `position`: it decodes, says its position, and does not go back in
/// time; counted in `scanned`.
fn check_record<'r>(
    record: &'r [u8],
    position: u64,
    scanned: &mut Scanned,
) -> Result<RecordHeader<'r>, Error> {
    let header = RecordHeader::decode(record)
        .map_err(|e| integrity(position, format!("the record does not decode: {e}")))?;
    if header.recorded_at < scanned.last_recorded_at {
        return Err(integrity(position, "recorded_at goes backwards"));
    }
    scanned.last_recorded_at = header.recorded_at;
    if header.position != position {
        return Err(integrity(
            position,
            format!("the record says position {}", header.position),
        ));
    }
    scanned.retractions += usize::from(header.retracts.is_some());
    scanned.made += usize::from(header.made.is_some());
    scanned.size += 1;
    Ok(header)
}

/// The tree stage: builds the tree from the leaves in order, comparing every stored hash and
/// checkpoint root; answers the builder and the number of leaves.
fn build_tree(
    store: &Store,
    roots_to_check: &std::collections::BTreeMap<u64, Vec<(Hash, String)>>,
    checked: std::sync::mpsc::Receiver<Checked>,
    progress: &mut dyn FnMut(u64),
) -> Result<(TreeBuilder, u64), Error> {
    let mut builder = TreeBuilder::new();
    let mut tiles = TileCursor::new(store);
    let check_roots = |builder: &TreeBuilder| -> Result<(), Error> {
        if let Some(expected) = roots_to_check.get(&builder.size()) {
            let root = builder.root();
            for (r, origin) in expected {
                if *r != root {
                    return Err(integrity(
                        builder.size().saturating_sub(1),
                        format!(
                            "the records differ from the checkpoint of size {} signed by {origin}",
                            builder.size()
                        ),
                    ));
                }
            }
        }
        Ok(())
    };
    check_roots(&builder)?;
    let mut size = 0u64;
    // Each message: the chunks checked, in order, or the reading stage's failure after them.
    let chunks = checked.into_iter().flat_map(|message| match message {
        Ok(chunks) => chunks.into_iter().map(Ok).collect::<Vec<_>>(),
        Err(e) => vec![Err(e)],
    });
    let mut completed = Vec::with_capacity(64);
    for chunk in chunks {
        let (chunk, taken) = chunk?;
        for record in chunk.records().take(taken) {
            let position = size;
            builder.push_into(Hash::leaf(record), &mut completed);
            for &(level, i, hash) in &completed {
                match tiles.hash(level, i)? {
                    Some(stored) if stored == hash => {}
                    Some(_) if level == 0 => return Err(integrity(
                        position,
                        "the record's hash differs from the stored tree (the record was altered)",
                    )),
                    Some(_) => {
                        return Err(integrity(
                            position,
                            format!("stored tree hash ({level}, {i}) is wrong"),
                        ))
                    }
                    None => {
                        return Err(integrity(
                            position,
                            format!("stored tree hash ({level}, {i}) is missing"),
                        ))
                    }
                }
            }
            check_roots(&builder)?;
            size += 1;
            if size.is_multiple_of(4096) {
                progress(size);
            }
        }
    }
    Ok((builder, size))
}

/// The stored checkpoints, each with a valid signature by the verifier key stored for its origin
/// and a size within the head.
fn stored_checkpoints(
    store: &Store,
    head: &Head,
) -> Result<Vec<crate::checkpoint::SignedCheckpoint>, Error> {
    let mut out = Vec::new();
    for (size, note) in store.checkpoint_notes()? {
        let bad = |what: String| integrity(size.min(head.tree_size), what);
        let unverified = crate::checkpoint::parse_unverified(&note).map_err(|e| {
            bad(format!(
                "stored checkpoint of size {size} is malformed: {e}"
            ))
        })?;
        let key_text = store.verifier_key(&unverified.origin)?.ok_or_else(|| {
            bad(format!(
                "no verifier key is stored for checkpoint origin {}",
                unverified.origin
            ))
        })?;
        let key = crate::checkpoint::VerifierKey::parse(&key_text)
            .map_err(|e| bad(format!("the stored verifier key is malformed: {e}")))?;
        let checkpoint = key
            .open(&note)
            .map_err(|e| bad(format!("the checkpoint of size {size}: {e}")))?;
        if checkpoint.tree_size > head.tree_size {
            return Err(checkpoint_beyond_log(checkpoint.tree_size, head));
        }
        out.push(checkpoint);
    }
    Ok(out)
}

/// At open: the latest checkpoint is within the log and the stored tree has its root.
pub(crate) fn check_latest_checkpoint(store: &Store, head: &Head) -> Result<(), Error> {
    let notes = store.checkpoint_notes()?;
    let Some((size, note)) = notes.iter().max_by_key(|(size, _)| *size) else {
        return Ok(());
    };
    let checkpoint = crate::checkpoint::parse_unverified(note)
        .map_err(|e| integrity(*size, format!("the latest checkpoint is malformed: {e}")))?;
    if checkpoint.tree_size > head.tree_size {
        return Err(checkpoint_beyond_log(checkpoint.tree_size, head));
    }
    let root = stored_root(store, checkpoint.tree_size)?;
    if root != checkpoint.root {
        return Err(integrity(
            checkpoint.tree_size.saturating_sub(1),
            format!(
                "the tree differs from the checkpoint of size {}",
                checkpoint.tree_size
            ),
        ));
    }
    Ok(())
}

/// The check run at open: the head, the last record and the root agree, and nothing lies
/// beyond the head. O(log n), so every open can afford it. `shared`: other processes may commit
/// between reading the head and the records, so records beyond the head are later commits.
pub(crate) fn check_tail(store: &Store, head: &Head, shared: bool) -> Result<(), Error> {
    let last = match store.backend.last_position()? {
        Some(p) if shared && p >= head.tree_size => head.tree_size.checked_sub(1),
        last => last,
    };
    if head.tree_size == 0 {
        return match last {
            None => Ok(()),
            Some(_) => Err(integrity(0, "a record lies beyond the head (tree size 0)")),
        };
    }
    let expected_last = head.tree_size - 1;
    match last {
        Some(p) if p > expected_last => {
            return Err(integrity(
                expected_last + 1,
                format!(
                    "a record lies beyond the head (tree size {})",
                    head.tree_size
                ),
            ))
        }
        Some(p) if p < expected_last => {
            return Err(integrity(
                p + 1,
                format!(
                    "the log ends at {} records but its head says {}: records are missing",
                    p + 1,
                    head.tree_size
                ),
            ))
        }
        None => {
            return Err(integrity(
                0,
                format!(
                    "the log is empty but its head says {} records",
                    head.tree_size
                ),
            ))
        }
        Some(_) => {}
    }
    let bytes = store
        .record_bytes(expected_last)?
        .ok_or_else(|| integrity(expected_last, "the last record is missing"))?;
    let record = Record::decode(&bytes).map_err(|e| {
        integrity(
            expected_last,
            format!("the last record does not decode: {e}"),
        )
    })?;
    if record.position != expected_last || record.recorded_at != head.last_recorded_at {
        return Err(integrity(
            expected_last,
            "the last record does not match the head",
        ));
    }
    if store.hash(0, expected_last)? != Some(Hash::leaf(&bytes)) {
        return Err(integrity(
            expected_last,
            "the last record's hash differs from the stored tree (the record was altered)",
        ));
    }
    let root = stored_root(store, head.tree_size)?;
    if root != head.root {
        return Err(integrity(
            expected_last,
            "the stored tree does not give the head's root",
        ));
    }
    Ok(())
}

/// The root of the first `tree_size` records, from the stored tree hashes.
fn stored_root(store: &Store, tree_size: u64) -> Result<Hash, Error> {
    tlog_tiles::tree_hash(tree_size, &StoreHashes(store))
        .map(Hash::from)
        .map_err(|e| {
            integrity(
                tree_size.saturating_sub(1),
                format!("stored tree hashes are missing: {e}"),
            )
        })
}

/// A checkpoint signed at a size the log no longer reaches.
fn checkpoint_beyond_log(checkpoint_size: u64, head: &Head) -> Error {
    integrity(
        head.tree_size,
        format!(
            "a checkpoint was signed at size {checkpoint_size} but the log holds {} records: records were lost",
            head.tree_size
        ),
    )
}

/// The stored hashes of a ledger, for `tlog_tiles`.
pub(crate) struct StoreHashes<'a>(pub(crate) &'a Store);

impl tlog_tiles::HashReader for StoreHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = tlog_tiles::split_stored_hash_index(i);
                match self.0.hash(level, n) {
                    Ok(Some(h)) => Ok(h.into()),
                    _ => Err(tlog_tiles::Error::IndexesNotInTree),
                }
            })
            .collect()
    }
}

/// Compares the log with the head file written after every acknowledged commit: the log must
/// hold at least the acknowledged records, with the acknowledged root.
pub(crate) fn check_against_head_file(
    store: &Store,
    head: &Head,
    acknowledged: Option<Head>,
) -> Result<(), Error> {
    let Some(acknowledged) = acknowledged else {
        return Err(integrity(
            head.tree_size,
            "the head file is missing, so lost records could not be detected; \
             if it was deleted by mistake, restore it from a backup",
        ));
    };
    if acknowledged.tree_size > head.tree_size {
        return Err(integrity(
            head.tree_size,
            format!(
                "{} records were acknowledged but the log holds only {}: records were lost \
                 (the database was truncated or damaged)",
                acknowledged.tree_size, head.tree_size
            ),
        ));
    }
    let root = stored_root(store, acknowledged.tree_size)?;
    if root != acknowledged.root {
        return Err(integrity(
            acknowledged.tree_size.saturating_sub(1),
            "the log's tree differs from the acknowledged root: history was rewritten",
        ));
    }
    Ok(())
}
