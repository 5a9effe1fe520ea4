//! The projection of a ledger directory rebuilt from scratch in bounded memory: the subjects
//! split into parts, each part folded from the whole log and written into the new snapshot
//! before the next is begun, and the log read through a fresh handle every
//! [`SEGMENT_RECORDS`] records. A pass decodes only the records that may concern its part
//! (two fields of each tell).
//!
//! Why: a rebuild that holds every timeline peaks at the timelines (about 1.1 GiB at ten million
//! events) plus what sled keeps of a scan — sled's page cache keeps what one handle reads, up to
//! about 0.9 GiB on that ledger whatever its configured capacity, and lets it go only when the
//! handle closes (`sled_floor scan-rss-reopening`, docs/performance.md). A rebuild is run with
//! the ledger to itself (`ikrar rebuild` refuses beside a server), so it may close and open it.

use std::path::Path;

use ikrar_core::{EventData, Ledger, Record};
use uuid::Uuid;

use crate::apply::{apply, subjects};
use crate::basis::ResolvedBasis;
use crate::error::Error;
use crate::present::Present;
use crate::projection::{Timelines, PROJECTION_DIR};
use crate::snapshot::{write_snapshot_with, SNAPSHOT_FILE, TAG_COMMITMENT, TAG_MEETING};
use crate::view::Summary;

/// Records read through one handle of the ledger: sled keeps about 117 MiB of a scan of this
/// many (8,192 bundles) on the ten-million-event ledger.
const SEGMENT_RECORDS: u64 = 131_072;
/// Records of the log per part of the subjects: a ledger of ten million events is folded in
/// seven parts, each holding about a seventh of the timelines (≈ 160 MiB at that size).
const PART_RECORDS: u64 = 1_500_000;

/// Which of `parts` parts the subject `id` is in (the same for a commitment and a meeting of
/// one id: each part is whole either way).
fn part_of(id: Uuid, parts: u64) -> u64 {
    let n = id.as_u128();
    let mixed = ((n as u64) ^ ((n >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) % parts
}

/// The two fields of a stored record that say whether a part's pass needs it whole.
#[derive(serde::Deserialize)]
struct Light<'a> {
    stream: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
}

/// Whether the stored record `bytes` may file an entry for a subject of part `part`: it is of
/// a commitment's own kinds and its stream's subject is in the part, or of any other kind
/// (which may file entries in other streams: a meeting names commitments, a retraction marks
/// its target's subjects). Read from two fields, without decoding the record: each part's
/// pass decodes only what it needs.
fn concerns_part(bytes: &[u8], part: u64, parts: u64) -> bool {
    if parts == 1 {
        return true;
    }
    let Ok(light) = serde_json::from_slice::<Light<'_>>(bytes) else {
        // Decoded whole, which names what is wrong with it.
        return true;
    };
    let own = light
        .stream
        .split_once('/')
        .and_then(|(_, id)| Uuid::parse_str(id).ok());
    match light.type_name {
        // Kinds that file entries in their own stream only; any other kind (a meeting names
        // commitments, a retraction marks its target's subjects, a kind added later) is
        // decoded in every part.
        "commitment_made" | "commitment_amended" | "commitment_status_changed" => {
            own.is_none_or(|id| part_of(id, parts) == part)
        }
        _ => true,
    }
}

/// Rebuilds the state projection of the ledger directory `path` from its whole log and saves
/// it, in bounded memory (this module's comment); returns the position reached. `progress` is
/// given `(records folded, records to fold)`, counting every part's pass over the log.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ikrar_core::{InputEvent, Ledger};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("l");
/// let ledger = Ledger::create(&path)?;
/// ledger.append(vec![InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"Summit",
///             "made_on":"2025-01-16"}}"#)?]).await?;
/// drop(ledger);
/// assert_eq!(ikrar_state::rebuild_directory(&path, &mut |_, _| {})?, 1);
/// let ledger = Ledger::open(&path)?;
/// let state = ikrar_state::Projection::open(&ledger)?;
/// assert!(state.is_lazy(), "opened from the rebuilt snapshot");
/// # Ok(()) }
/// ```
pub fn rebuild_directory(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, Error> {
    rebuild_directory_with(path, PART_RECORDS, SEGMENT_RECORDS, progress)
}

/// [`rebuild_directory`] with parts of `part_records` records of the log and segments of
/// `segment_records` (a seam for tests: many parts and segments at small sizes).
#[doc(hidden)]
pub fn rebuild_directory_with(
    path: &Path,
    part_records: u64,
    segment_records: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, Error> {
    let (part_records, segment_records) = (part_records.max(1), segment_records.max(1));
    let dir = path.join(PROJECTION_DIR);
    let (head, root) = {
        let ledger = Ledger::open(path)?;
        let head = ledger.head().tree_size;
        (head, ledger.root_at(head)?)
    };
    std::fs::create_dir_all(&dir).map_err(ikrar_core::Error::Io)?;
    // The old snapshot stays until the new one is renamed over it (a rebuild that fails or is
    // killed leaves it, checked as any snapshot is at the next open); the old counts go now.
    match std::fs::remove_file(dir.join(crate::present::PRESENT_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ikrar_core::Error::Io(e).into()),
    }
    let parts = head.div_ceil(part_records).max(1);
    let now = chrono::Utc::now();
    let basis = ResolvedBasis::new(head, now);
    let now_micros = now.timestamp_micros();
    // What the present's counts need of each part: its counts now (summed over the parts),
    // and the first later instant any entry takes effect.
    let mut counts = Summary::from_statuses(&basis, std::iter::empty());
    let mut until: Option<i64> = None;
    let mut failure: Option<Error> = None;
    let written = write_snapshot_with(&dir, head, &root.0, |w| {
        for part in 0..parts {
            let t = match fold_part(path, head, (part, parts), segment_records, &mut |done| {
                progress(part * head + done, parts * head)
            }) {
                Ok(t) => t,
                Err(e) => {
                    failure = Some(e);
                    return Err(std::io::Error::other("the log could not be folded"));
                }
            };
            let part_counts = Summary::from_statuses(
                &basis,
                t.commitments
                    .values()
                    .filter_map(|timeline| timeline.fold_status_and_parties(&basis)),
            );
            add_counts(&mut counts, part_counts);
            for (id, timeline) in &t.commitments {
                let later = timeline
                    .entries
                    .iter()
                    .filter(|e| e.effective_micros > now_micros)
                    .map(|e| e.effective_micros)
                    .min();
                until = until.into_iter().chain(later).min();
                w.timeline(TAG_COMMITMENT, *id, &timeline.entries)?;
            }
            for (id, timeline) in &t.meetings {
                w.timeline(TAG_MEETING, *id, &timeline.entries)?;
            }
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    written.map_err(|e| {
        Error::Projection(format!(
            "cannot write {}: {e}",
            dir.join(SNAPSHOT_FILE).display()
        ))
    })?;
    // Only a shortcut for the next process's summary.
    if let Err(e) = Present::new(head, &root.0, now_micros, until, counts).store(&dir) {
        tracing::warn!(error = %e, "the present's counts were not saved");
    }
    progress(parts * head, parts * head);
    Ok(head)
}

/// Adds the counts of one part to those of the parts before (the parts hold distinct
/// commitments: each counts once).
fn add_counts(total: &mut Summary, part: Summary) {
    total.total += part.total;
    for (status, n) in part.by_status {
        *total.by_status.entry(status).or_default() += n;
    }
    for (party, n) in part.by_party {
        *total.by_party.entry(party).or_default() += n;
    }
}

/// How long a rebuild waits for the ledger another process took between two segments.
const REOPEN_WAIT_MS: u64 = 30_000;

/// The ledger at `path`, opened again for the next segment. Between two segments the ledger is
/// closed, and another process (an `ikrar append`) may hold it for a while: waited for, up to
/// [`REOPEN_WAIT_MS`]. What it appends lies beyond the head being rebuilt to and changes
/// nothing of it (the log is append-only).
fn open_again(path: &Path) -> Result<Ledger, Error> {
    let started = std::time::Instant::now();
    loop {
        match Ledger::open(path) {
            // Not only `Locked`: a writer closing the ledger as this opens it may still hold
            // sled's own lock for a moment. A ledger that cannot be opened at all fails after
            // the wait, with the error of the last try.
            Err(_) if started.elapsed() < std::time::Duration::from_millis(REOPEN_WAIT_MS) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            opened => return Ok(opened?),
        }
    }
}

/// The timelines of the subjects in part `part` of `parts`, folded from the log up to `head`
/// through a fresh handle per segment.
fn fold_part(
    path: &Path,
    head: u64,
    (part, parts): (u64, u64),
    segment_records: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Timelines, Error> {
    let mut t = Timelines::default();
    let mut position = 0;
    while position < head {
        let ledger = open_again(path)?;
        let end = head.min(position + segment_records);
        for item in ledger.iter_bytes_from(position) {
            let (at, bytes) = item?;
            if at >= end {
                break;
            }
            position = at + 1;
            if !concerns_part(&bytes, part, parts) {
                continue;
            }
            let record = Record::decode(&bytes).map_err(|e| ikrar_core::Error::Integrity {
                position: at,
                what: format!("stored record does not decode: {e}"),
            })?;
            apply(&mut t, &ledger, &record)?;
            // What the record filed for subjects of other parts is dropped again.
            let touched = match &record.data {
                EventData::EventRetracted(d) => ledger
                    .find_event(d.event_id)?
                    .map(|target| subjects(&target.record.data))
                    .unwrap_or_default(),
                data => subjects(data),
            };
            for (tag, id) in touched {
                if part_of(id, parts) != part {
                    if tag == TAG_COMMITMENT {
                        t.commitments.remove(&id);
                    } else {
                        t.meetings.remove(&id);
                    }
                }
            }
        }
        if position < end {
            return Err(Error::Projection(format!(
                "the log ends at {position}, short of its head {head}"
            )));
        }
        progress(position);
    }
    // Derived on open; not saved.
    t.words = Default::default();
    t.commitment_order = Vec::new();
    t.meeting_order = Vec::new();
    t.reached = head;
    Ok(t)
}
