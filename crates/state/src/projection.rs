//! The fast path: timelines per commitment and meeting, kept in memory and, for a ledger
//! directory, saved as a snapshot file under it (`projections/state/snapshot`). A database
//! ledger (PostgreSQL) has no directory: its projection lives in memory only and is folded from
//! the log when opened.
//!
//! The snapshot records the position it reflects and the ledger's root at that position;
//! opening loads it (if it is whole, of this format and of this ledger) and catches up from
//! there. It is a cache: it can be deleted or rebuilt at any time without changing an answer
//! (SPEC §4.3), and a damaged one is rebuilt. Only this module writes it.
//!
//! Why a file and not a database: the projection is read and written whole — loaded at open,
//! saved now and then — and a file streams both ways with memory bounded by the timelines
//! themselves. The sled database it replaced held everything written through it in its page
//! cache: replaying 10,000,000 events peaked at 6.2 GB with it and 2.4 GB without
//! (docs/performance.md).

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ikrar_core::{EventData, Ledger, Record};
use uuid::Uuid;

use crate::basis::{Basis, ResolvedBasis};
use crate::error::Error;
use crate::timeline::{days, Amended, Change, Entry, Held, Made, Timeline};
use crate::view::{CommitmentView, Diff, MeetingView, Summary};

/// Where a ledger's state projection lives, relative to the ledger directory.
pub const PROJECTION_DIR: &str = "projections/state";
/// Bumped whenever the persisted encoding or the fold changes: a projection written by another
/// version is rebuilt.
const PROJECTION_FORMAT: u32 = 3;
/// A timeline's encoded entries larger than this mark a damaged snapshot (a timeline of a
/// million entries is about 60 MB).
const TIMELINE_BYTES_MAX: u32 = 1 << 30;
/// The snapshot's file name in [`PROJECTION_DIR`]; it is written under a temporary name and
/// renamed.
const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"IKRARPS1";
const TAG_COMMITMENT: u8 = b'c';
const TAG_MEETING: u8 = b'm';
/// The end of the snapshot's timelines (a tag no timeline has).
const TAG_END: u8 = b'.';
/// A snapshot is saved when the projection is an eighth of the ledger (and at least one record)
/// past the last one. Each save rewrites the whole file, so this bounds the writing at about
/// eight entries per record applied, and an open replays at most an eighth of the log.
const SAVE_LAG_FRACTION: u64 = 8;
/// While catching up from far behind, the snapshot is saved when the records applied since the
/// last save reach the position of that save (and at least this many): saves at doubling
/// positions, so a from-scratch replay writes about twice the final snapshot, and an
/// interrupted one resumes from the last.
const CATCH_UP_SAVE_MIN_RECORDS: u64 = 1_000_000;
/// How often, in records, a long catch-up checks whether to save.
const CATCH_UP_CHECK_EVERY_RECORDS: u64 = 100_000;

/// Filters of [`Projection::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only commitments with this status.
    pub status: Option<ikrar_core::Status>,
    /// Only commitments with this counterparty.
    pub party: Option<String>,
}

#[derive(Default)]
struct Timelines {
    reached: u64,
    /// The position the snapshot on disk reflects (0: none).
    saved: u64,
    commitments: HashMap<Uuid, Timeline>,
    meetings: HashMap<Uuid, Timeline>,
    /// Commitments in the order their `commitment_made` was recorded.
    commitment_order: Vec<(u64, Uuid)>,
}

/// Current and bitemporal state of a ledger's commitments and meetings.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ikrar_core::{InputEvent, Ledger, Status};
/// use ikrar_state::{Basis, Projection};
/// let dir = tempfile::tempdir()?;
/// let ledger = Ledger::create(dir.path().join("l"))?;
/// ledger.append(vec![InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"Summit",
///             "parties":["Central Asia"],"made_on":"2025-01-16"}}"#)?]).await?;
/// let state = Projection::open(&ledger)?;
/// let summary = state.summary(&Basis::now())?;
/// assert_eq!(summary.total, 1);
/// assert_eq!(summary.count(Status::Announced), 1);
/// # Ok(()) }
/// ```
pub struct Projection {
    ledger: Ledger,
    /// The snapshot's directory (`None`: memory only).
    dir: Option<PathBuf>,
    timelines: Mutex<Timelines>,
}

impl Projection {
    /// Opens the ledger's projection (from its snapshot, if there is a good one) and catches it
    /// up with the log.
    pub fn open(ledger: &Ledger) -> Result<Projection, Error> {
        Self::open_with_progress(ledger, &mut |_, _| {})
    }

    /// [`Projection::open`], reporting `(records applied, records to apply)` while catching up.
    pub fn open_with_progress(
        ledger: &Ledger,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Projection, Error> {
        let projection = Projection {
            ledger: ledger.clone(),
            dir: Self::dir(ledger),
            timelines: Mutex::new(Timelines::default()),
        };
        if let Some(dir) = &projection.dir {
            std::fs::create_dir_all(dir).map_err(ikrar_core::Error::Io)?;
            remove_other_files(dir);
            // A snapshot that is missing, damaged, of another format or of another ledger is
            // not an error: the projection is a cache, rebuilt from the log.
            if let Ok(Some(t)) = read_snapshot(&dir.join(SNAPSHOT_FILE), ledger) {
                *projection.lock() = t;
            }
        }
        projection.catch_up_with_progress(progress)?;
        Ok(projection)
    }

    /// The directory of a ledger's state projection snapshot (`None` for a database ledger,
    /// whose projection is kept in memory only).
    pub fn dir(ledger: &Ledger) -> Option<PathBuf> {
        ledger.path().map(|p| p.join(PROJECTION_DIR))
    }

    /// Throws the projection away and builds it again from the whole log.
    pub fn rebuild(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), Error> {
        self.clear()?;
        self.catch_up_with_progress(progress)
    }

    /// The position the projection has reached (the tree size it reflects).
    pub fn reached(&self) -> u64 {
        self.lock().reached
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timelines> {
        // A panic while holding the lock leaves timelines that may be half-updated; start over
        // from the log (the snapshot on disk is only ever written whole).
        match self.timelines.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                *g = Timelines::default();
                g
            }
        }
    }

    fn clear(&self) -> Result<(), Error> {
        if let Some(dir) = &self.dir {
            match std::fs::remove_file(dir.join(SNAPSHOT_FILE)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ikrar_core::Error::Io(e).into()),
            }
        }
        *self.lock() = Timelines::default();
        Ok(())
    }

    /// Applies the log's records beyond the position reached, and persists the result.
    pub fn catch_up(&self) -> Result<(), Error> {
        self.catch_up_with_progress(&mut |_, _| {})
    }

    fn catch_up_with_progress(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), Error> {
        let mut t = self.lock();
        let head = self.ledger.head().tree_size;
        if t.reached >= head {
            return Ok(());
        }
        let start = t.reached;
        let mut applied = 0u64;
        for item in self.ledger.iter_from(start) {
            let stored = item?;
            let position = stored.record.position;
            if position >= head {
                break;
            }
            apply(&mut t, &self.ledger, &stored.record)?;
            t.reached = position + 1;
            applied += 1;
            if applied.is_multiple_of(CATCH_UP_CHECK_EVERY_RECORDS) {
                let since_save = t.reached - t.saved;
                if since_save >= CATCH_UP_SAVE_MIN_RECORDS.max(t.saved) {
                    self.save_if_possible(&mut t);
                }
                progress(t.reached - start, head - start);
            }
        }
        if t.reached - t.saved >= (t.reached / SAVE_LAG_FRACTION).max(1) {
            self.save_if_possible(&mut t);
        }
        progress(t.reached - start, head - start);
        Ok(())
    }

    /// Writes the snapshot of `t`, whole, replacing the last one.
    fn save(&self, t: &mut Timelines) -> Result<(), Error> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let root = self.ledger.root_at(t.reached)?;
        write_snapshot(dir, t, &root.0).map_err(|e| {
            Error::Projection(format!(
                "cannot write {}: {e}",
                dir.join(SNAPSHOT_FILE).display()
            ))
        })?;
        t.saved = t.reached;
        Ok(())
    }

    /// Saves the snapshot on the way: a failure (a full disk, say) does not fail the answer
    /// being caught up for — the snapshot is a cache, and the next catch-up tries again.
    fn save_if_possible(&self, t: &mut Timelines) {
        let _ = self.save(t);
    }

    /// Saves the snapshot if it is behind (it is a cache: this only saves work at the next
    /// open).
    pub fn flush(&self) -> Result<(), Error> {
        let mut t = self.lock();
        if t.reached > t.saved {
            self.save(&mut t)?;
        }
        Ok(())
    }

    fn resolved(&self, basis: &Basis) -> Result<ResolvedBasis, Error> {
        self.catch_up()?;
        basis.resolve(&self.ledger)
    }

    /// One commitment in a basis, or `None` if it does not exist there.
    pub fn commitment(&self, id: Uuid, basis: &Basis) -> Result<Option<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.commitment_in(id, &basis))
    }

    /// One commitment in an already resolved basis.
    pub fn commitment_in(&self, id: Uuid, basis: &ResolvedBasis) -> Option<CommitmentView> {
        let t = self.lock();
        fold_commitment(&t, id, basis)
    }

    /// One meeting in a basis, or `None` if it does not exist there.
    pub fn meeting(&self, id: Uuid, basis: &Basis) -> Result<Option<MeetingView>, Error> {
        let basis = self.resolved(basis)?;
        let t = self.lock();
        Ok(t.meetings
            .get(&id)
            .and_then(|m| m.fold_meeting(id, &basis))
            .map(|(v, _)| v))
    }

    /// The commitments of a basis that pass the filter, in the order they were recorded.
    pub fn list(&self, filter: &ListFilter, basis: &Basis) -> Result<Vec<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.list_in(filter, &basis))
    }

    /// [`Projection::list`] in an already resolved basis.
    pub fn list_in(&self, filter: &ListFilter, basis: &ResolvedBasis) -> Vec<CommitmentView> {
        let t = self.lock();
        t.commitment_order
            .iter()
            .filter_map(|(_, id)| fold_commitment(&t, *id, basis))
            .filter(|c| filter.status.is_none_or(|s| c.status == s))
            .filter(|c| filter.party.as_ref().is_none_or(|p| c.parties.contains(p)))
            .collect()
    }

    /// Counts by status and party in a basis.
    pub fn summary(&self, basis: &Basis) -> Result<Summary, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.summary_in(&basis))
    }

    /// [`Projection::summary`] in an already resolved basis.
    pub fn summary_in(&self, basis: &ResolvedBasis) -> Summary {
        let t = self.lock();
        Summary::from_statuses(
            basis,
            t.commitment_order.iter().filter_map(|(_, id)| {
                t.commitments
                    .get(id)
                    .and_then(|c| c.fold_status_and_parties(basis))
            }),
        )
    }

    /// What changed between two valid times, as known at one `known_at`.
    pub fn diff(
        &self,
        known_at: Option<crate::basis::KnownAt>,
        from: ikrar_core::Moment,
        to: ikrar_core::Moment,
    ) -> Result<Diff, Error> {
        let from_basis = self.resolved(&Basis::new(known_at, Some(from)))?;
        let to_basis = self.resolved(&Basis::new(known_at, Some(to)))?;
        let before = self.list_in(&ListFilter::default(), &from_basis);
        let after = self.list_in(&ListFilter::default(), &to_basis);
        Ok(Diff::between(&from_basis, &to_basis, &before, &after))
    }

    /// Ids of commitments and meetings (ever recorded) whose text form starts with `prefix`.
    pub fn ids_with_prefix(&self, prefix: &str) -> Vec<Uuid> {
        let t = self.lock();
        let mut ids: Vec<Uuid> = t
            .commitments
            .keys()
            .chain(t.meetings.keys())
            .filter(|id| id.to_string().starts_with(prefix))
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether a meeting with this id was ever recorded (in any basis).
    pub fn is_meeting(&self, id: Uuid) -> bool {
        self.lock().meetings.contains_key(&id)
    }

    /// The ledger the projection derives from.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

fn fold_commitment(t: &Timelines, id: Uuid, basis: &ResolvedBasis) -> Option<CommitmentView> {
    let (mut view, namings) = t.commitments.get(&id)?.fold_commitment(id, basis)?;
    let mut meeting_folds: HashMap<Uuid, Option<Vec<u64>>> = HashMap::new();
    for (meeting, position, by_link) in namings {
        let links = meeting_folds.entry(meeting).or_insert_with(|| {
            t.meetings
                .get(&meeting)
                .and_then(|m| m.fold_meeting(meeting, basis))
                .map(|(_, links)| links)
        });
        let Some(links) = links else { continue };
        if (!by_link || links.contains(&position)) && !view.meetings.contains(&meeting) {
            view.meetings.push(meeting);
        }
    }
    Some(view)
}

fn entry(record: &Record, own_stream: bool, change: Change) -> Entry {
    Entry {
        position: record.position,
        version: own_stream.then_some(record.version),
        effective_micros: record.effective.start().timestamp_micros(),
        retracted_at: None,
        change,
    }
}

/// Applies one record to the timelines.
fn apply(t: &mut Timelines, ledger: &Ledger, record: &Record) -> Result<(), Error> {
    let push = |t: &mut Timelines, tag: u8, id: Uuid, e: Entry| {
        let map = if tag == TAG_COMMITMENT {
            &mut t.commitments
        } else {
            &mut t.meetings
        };
        map.entry(id).or_default().entries.push(e);
    };
    match &record.data {
        EventData::CommitmentMade(d) => {
            t.commitment_order.push((record.position, d.commitment_id));
            let change = Change::Made(Box::new(Made {
                title: d.title.clone(),
                summary: d.summary.clone(),
                owner: d.owner.clone(),
                parties: d.parties.clone(),
                themes: d.themes.clone(),
                made_on_days: days(d.made_on),
                due_days: d.due.map(days),
            }));
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, true, change),
            );
        }
        EventData::CommitmentAmended(d) => {
            let change = Change::Amended(Box::new(Amended {
                title: d.title.clone(),
                summary: d.summary.clone(),
                owner: d.owner.clone(),
                parties: d.parties.clone(),
                themes: d.themes.clone(),
                due_days: d.due.map(days),
            }));
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, true, change),
            );
        }
        EventData::CommitmentStatusChanged(d) => {
            let change = Change::Status {
                status: d.status,
                label: d.label.clone(),
            };
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, true, change),
            );
        }
        EventData::MeetingHeld(d) => {
            let change = Change::Held(Box::new(Held {
                title: d.title.clone(),
                held_on: d.held_on.to_string(),
                location: d.location.clone(),
                participants: d
                    .participants
                    .iter()
                    .map(|p| (p.name.clone(), p.role.clone(), p.organisation.clone()))
                    .collect(),
                commitment_ids: d.commitment_ids.clone(),
                outcomes: d.outcomes.clone(),
            }));
            push(t, TAG_MEETING, d.meeting_id, entry(record, true, change));
            let mut named = Vec::new();
            for c in &d.commitment_ids {
                if !named.contains(c) {
                    named.push(*c);
                    let change = Change::NamedBy {
                        meeting_id: d.meeting_id,
                        by_link: false,
                    };
                    push(t, TAG_COMMITMENT, *c, entry(record, false, change));
                }
            }
        }
        EventData::MeetingLinked(d) => {
            let change = Change::Linked {
                commitment_id: d.commitment_id,
            };
            push(t, TAG_MEETING, d.meeting_id, entry(record, true, change));
            let change = Change::NamedBy {
                meeting_id: d.meeting_id,
                by_link: true,
            };
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, false, change),
            );
        }
        EventData::EventRetracted(d) => {
            let target = ledger.find_event(d.event_id)?.ok_or_else(|| {
                Error::Core(ikrar_core::Error::Integrity {
                    position: record.position,
                    what: format!("retracts event {} which is not in the ledger", d.event_id),
                })
            })?;
            let target_position = target.record.position;
            // Every timeline that holds an entry of the retracted event.
            let subjects: Vec<(u8, Uuid)> = match &target.record.data {
                EventData::CommitmentMade(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
                EventData::CommitmentAmended(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
                EventData::CommitmentStatusChanged(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
                EventData::MeetingHeld(x) => std::iter::once((TAG_MEETING, x.meeting_id))
                    .chain(x.commitment_ids.iter().map(|c| (TAG_COMMITMENT, *c)))
                    .collect(),
                EventData::MeetingLinked(x) => {
                    vec![
                        (TAG_MEETING, x.meeting_id),
                        (TAG_COMMITMENT, x.commitment_id),
                    ]
                }
                EventData::EventRetracted(_) => Vec::new(),
            };
            for (tag, id) in subjects {
                let map = if tag == TAG_COMMITMENT {
                    &mut t.commitments
                } else {
                    &mut t.meetings
                };
                if let Some(timeline) = map.get_mut(&id) {
                    for e in timeline.entries.iter_mut() {
                        if e.position == target_position {
                            e.retracted_at = Some(record.position);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Removes what else may lie in the snapshot's directory: the sled database that held the
/// projection before snapshots (`conf`, `db`, `blobs/`, `snap.*`), and snapshot writes that
/// another process (which held this ledger before) left unfinished. Best effort — it is all
/// cache. Another projection of this process may be writing, so its files are left alone.
fn remove_other_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let ours = format!("{SNAPSHOT_FILE}.{}.", std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_write = name.starts_with(&format!("{SNAPSHOT_FILE}."))
            && name.ends_with(".tmp")
            && !name.starts_with(&ours);
        let sled_file =
            name == "conf" || name == "db" || name == "blobs" || name.starts_with("snap.");
        if !(stale_write || sled_file) {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// A writer that also hashes what goes through it (the snapshot's trailing digest).
struct Hashing<W> {
    inner: W,
    digest: sha2::Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.digest, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.digest, &buf[..n]);
        Ok(n)
    }
}

/// Writes the snapshot of `t` (at `t.reached`, whose root is `root`) to `dir`: a new file,
/// renamed over the old one only once whole.
///
/// The layout: magic, format (u32 BE), position reached (u64 BE), the ledger's root at that
/// position (32 bytes); then per timeline its tag (`c`/`m`), subject id (16 bytes), the length
/// (u32 BE) of its entries in postcard; then `.`, the number of timelines (u64 BE) and the
/// SHA-256 of everything before it.
fn write_snapshot(dir: &Path, t: &Timelines, root: &[u8; 32]) -> std::io::Result<()> {
    // A name of its own per write: two projections of one ledger in one process never write
    // the same file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.{}.{n}.tmp", std::process::id()));
    let file = std::fs::File::create(&tmp)?;
    let written = write_snapshot_to(file, t, root)
        .and_then(|()| std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn write_snapshot_to(file: std::fs::File, t: &Timelines, root: &[u8; 32]) -> std::io::Result<()> {
    let mut out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, file),
        digest: sha2::Sha256::default(),
    };
    out.write_all(SNAPSHOT_MAGIC)?;
    out.write_all(&PROJECTION_FORMAT.to_be_bytes())?;
    out.write_all(&t.reached.to_be_bytes())?;
    out.write_all(root)?;
    let mut timelines = 0u64;
    for (tag, map) in [(TAG_COMMITMENT, &t.commitments), (TAG_MEETING, &t.meetings)] {
        for (id, timeline) in map {
            let entries = postcard::to_stdvec(&timeline.entries)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let len = u32::try_from(entries.len())
                .ok()
                .filter(|l| *l <= TIMELINE_BYTES_MAX)
                .ok_or_else(|| std::io::Error::other("a timeline too large to save"))?;
            out.write_all(&[tag])?;
            out.write_all(id.as_bytes())?;
            out.write_all(&len.to_be_bytes())?;
            out.write_all(&entries)?;
            timelines += 1;
        }
    }
    out.write_all(&[TAG_END])?;
    out.write_all(&timelines.to_be_bytes())?;
    let digest = sha2::Digest::finalize(out.digest);
    let mut file = out.inner;
    file.write_all(&digest)?;
    file.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

/// Reads a snapshot: `Ok(None)` if there is none; an error if it is damaged, of another
/// format, ahead of the ledger or of another ledger (its root at the position it reached
/// differs).
fn read_snapshot(path: &Path, ledger: &Ledger) -> Result<Option<Timelines>, Error> {
    let damaged = |what: &str| Error::Projection(format!("{}: {what}", path.display()));
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ikrar_core::Error::Io(e).into()),
    };
    let mut input = Hashing {
        inner: BufReader::with_capacity(1 << 20, file),
        digest: sha2::Sha256::default(),
    };
    let io = |e: std::io::Error| damaged(&e.to_string());
    let mut header = [0u8; 8 + 4 + 8 + 32];
    input.read_exact(&mut header).map_err(io)?;
    if &header[..8] != SNAPSHOT_MAGIC {
        return Err(damaged("not a projection snapshot"));
    }
    let format = u32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
    if format != PROJECTION_FORMAT {
        return Err(damaged("another format"));
    }
    let reached = u64::from_be_bytes(header[12..20].try_into().expect("8 bytes"));
    if reached > ledger.head().tree_size || ledger.root_at(reached)?.0 != header[20..52] {
        return Err(damaged("of another ledger"));
    }
    let mut t = Timelines {
        reached,
        saved: reached,
        ..Timelines::default()
    };
    let mut timelines = 0u64;
    let mut bytes = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(io)?;
        if tag[0] == TAG_END {
            break;
        }
        let mut id_len = [0u8; 16 + 4];
        input.read_exact(&mut id_len).map_err(io)?;
        let id = Uuid::from_slice(&id_len[..16]).expect("16 bytes");
        let len = u32::from_be_bytes(id_len[16..].try_into().expect("4 bytes"));
        if len > TIMELINE_BYTES_MAX {
            return Err(damaged("a timeline's length is out of range"));
        }
        bytes.resize(len as usize, 0);
        input.read_exact(&mut bytes).map_err(io)?;
        let entries: Vec<Entry> = postcard::from_bytes(&bytes)?;
        match tag[0] {
            TAG_COMMITMENT => {
                if let Some(made) = entries.iter().find(|e| matches!(e.change, Change::Made(_))) {
                    t.commitment_order.push((made.position, id));
                }
                t.commitments.insert(id, Timeline { entries });
            }
            TAG_MEETING => {
                t.meetings.insert(id, Timeline { entries });
            }
            _ => return Err(damaged("an unknown timeline tag")),
        }
        timelines += 1;
    }
    let mut count = [0u8; 8];
    input.read_exact(&mut count).map_err(io)?;
    if u64::from_be_bytes(count) != timelines {
        return Err(damaged("the timeline count does not match"));
    }
    let computed = sha2::Digest::finalize(input.digest);
    let mut stored = [0u8; 32];
    input.inner.read_exact(&mut stored).map_err(io)?;
    let mut rest = [0u8; 1];
    if computed.as_slice() != stored || input.inner.read(&mut rest).map_err(io)? != 0 {
        return Err(damaged("the digest does not match"));
    }
    t.commitment_order.sort_unstable();
    Ok(Some(t))
}
