//! Integrity checks: the full `verify` (SPEC §5) here, and the cheaper checks run at open in
//! [`at_open`]. Verify reads the store and recomputes; it never writes, and knows nothing of the
//! writer or of which backend is below.

mod at_open;

pub(crate) use at_open::{check_against_head_file, check_latest_checkpoint, check_tail};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Error;
use crate::model::record::RecordHeader;
use crate::storage::{Bytes, Chunk, Head, Store, TILE_WIDTH};
use crate::tree::merkle::{Hash, TreeBuilder, HASH_BYTES};

/// What a successful `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Number of records checked; the tree size.
    pub tree_size: u64,
    /// The root recomputed from the records, equal to the stored one.
    pub root: Hash,
}

pub(super) fn integrity(position: u64, what: impl Into<String>) -> Error {
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
        None => return Err(Error::storage("the verify reader panicked")),
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
    if check_index && !index_counts_agree(store, size, &scanned) {
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
        let mut headers = Vec::with_capacity(crate::storage::CHUNK_RECORDS_TYPICAL);
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
                    && index.ids.get(&header.event_id) == Some(position)
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
) -> Result<Vec<crate::tree::checkpoint::SignedCheckpoint>, Error> {
    let mut out = Vec::new();
    for (size, note) in store.checkpoint_notes()? {
        let bad = |what: String| integrity(size.min(head.tree_size), what);
        let unverified = crate::tree::checkpoint::parse_unverified(&note).map_err(|e| {
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
        let key = crate::tree::checkpoint::VerifierKey::parse(&key_text)
            .map_err(|e| bad(format!("the stored verifier key is malformed: {e}")))?;
        let checkpoint = key
            .open(&note)
            .map_err(|e| bad(format!("the checkpoint of size {size}: {e}")))?;
        if checkpoint.tree_size > head.tree_size {
            return Err(at_open::checkpoint_beyond_log(checkpoint.tree_size, head));
        }
        out.push(checkpoint);
    }
    Ok(out)
}

/// Whether the in-memory index holds as many entries as the `size` records scanned imply (each
/// record's own entries were already found).
fn index_counts_agree(store: &Store, size: u64, scanned: &Scanned) -> bool {
    // Every record's entries were found; equal counts mean the index holds nothing else. The
    // ledger may have grown during the scan: count only entries below the verified size then
    // (`made_on` has no position, so it is counted only when nothing was appended).
    let live = store.read_index();
    let below = |p: &u64| *p < size;
    if live.size == size {
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
    }
}
