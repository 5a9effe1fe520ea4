//! The projection's snapshot file: its layout, writing it whole under a new name and renaming,
//! and reading it back only if it is whole, of this format and of this ledger. Only the
//! projection calls this module; the snapshot is a cache (SPEC §4.3), so a snapshot that does not
//! check out is an error here and a rebuild for the caller.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use ikrar_core::Ledger;
use uuid::Uuid;

use crate::apply::add_words;
use crate::error::Error;
use crate::projection::Timelines;
use crate::timeline::{Change, Entry, Timeline};

/// Bumped whenever the persisted encoding or the fold changes: a projection written by another
/// version is rebuilt. (4: retractions keep an entry in their own stream, for `stream_version`;
/// 5: long summaries kept as positions; 6: the directory of timelines.)
pub(crate) const PROJECTION_FORMAT: u32 = 6;
/// A timeline's encoded entries larger than this mark a damaged snapshot (a timeline of a
/// million entries is about 60 MB).
pub(crate) const TIMELINE_BYTES_MAX: u32 = 1 << 30;
/// The snapshot's file name in [`PROJECTION_DIR`]; it is written under a temporary name and
/// renamed.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
pub(crate) const SNAPSHOT_MAGIC: &[u8; 8] = b"IKRARPS1";
/// The header: magic, format, position reached, the ledger's root there.
pub(crate) const HEADER_BYTES: usize = 8 + 4 + 8 + 32;
/// One record of the directory: tag, subject id, offset and length of the timeline's entries,
/// their SHA-256.
pub(crate) const DIRECTORY_RECORD_BYTES: usize = 1 + 16 + 8 + 4 + 32;
/// The footer before the trailing digest: the directory's offset, its number of records and
/// its SHA-256.
pub(crate) const FOOTER_BYTES: usize = 8 + 8 + 32;
pub(crate) const TAG_COMMITMENT: u8 = b'c';
pub(crate) const TAG_MEETING: u8 = b'm';
/// The end of the snapshot's timelines (a tag no timeline has).
const TAG_END: u8 = b'.';

/// Removes what else may lie in the snapshot's directory: the sled database that held the
/// projection before snapshots (`conf`, `db`, `blobs/`, `snap.*`), and snapshot writes that
/// another process (which held this ledger before) left unfinished. Best effort — it is all
/// cache. Another projection of this process may be writing, so its files are left alone.
pub(crate) fn remove_other_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let ours = format!("{SNAPSHOT_FILE}.{}.", std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_write = (name.starts_with(&format!("{SNAPSHOT_FILE}."))
            || name.starts_with(&format!("{}.", crate::present::PRESENT_FILE)))
            && name.ends_with(".tmp")
            && !name.starts_with(&ours)
            && !name.starts_with(&format!(
                "{}.{}.",
                crate::present::PRESENT_FILE,
                std::process::id()
            ));
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

/// A writer that also hashes what goes through it (the snapshot's trailing digest) and counts
/// it (the directory's offsets).
struct Hashing<W> {
    inner: W,
    digest: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.digest, &buf[..n]);
        self.bytes += n as u64;
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
/// (u32 BE) of its entries in postcard; then `.`, the number of timelines (u64 BE); then the
/// directory — per timeline, sorted by subject id, its tag, id, the offset (u64 BE) and length
/// (u32 BE) of its entries and their SHA-256 — and the footer: the directory's offset, its
/// number of records (u64 BE each) and its SHA-256; last, the SHA-256 of everything before it.
///
/// The directory lets a query about one subject read one timeline (`crate::lazy`): the header,
/// the footer and the directory are checked, then that timeline against its own digest.
pub(crate) fn write_snapshot(dir: &Path, t: &Timelines, root: &[u8; 32]) -> std::io::Result<()> {
    write_snapshot_with(dir, t.reached, root, |w| {
        for (tag, map) in [(TAG_COMMITMENT, &t.commitments), (TAG_MEETING, &t.meetings)] {
            for (id, timeline) in map {
                w.timeline(tag, *id, &timeline.entries)?;
            }
        }
        Ok(())
    })
}

/// Writes a snapshot at `reached` (whose root is `root`) to `dir` with the timelines `fill`
/// gives its writer: a new file, renamed over the old one only once whole.
pub(crate) fn write_snapshot_with(
    dir: &Path,
    reached: u64,
    root: &[u8; 32],
    fill: impl FnOnce(&mut SnapshotWriter) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // A name of its own per write: two projections of one ledger in one process never write
    // the same file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.{}.{n}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|file| SnapshotWriter::begin(file, reached, root))
        .and_then(|mut w| {
            fill(&mut w)?;
            w.finish()
        })
        .and_then(|()| std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A snapshot being written, timeline by timeline ([`write_snapshot_with`]).
pub(crate) struct SnapshotWriter {
    out: Hashing<BufWriter<std::fs::File>>,
    directory: Vec<[u8; DIRECTORY_RECORD_BYTES]>,
    timelines: u64,
}

impl SnapshotWriter {
    fn begin(file: std::fs::File, reached: u64, root: &[u8; 32]) -> std::io::Result<Self> {
        let mut out = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            digest: sha2::Sha256::default(),
            bytes: 0,
        };
        out.write_all(SNAPSHOT_MAGIC)?;
        out.write_all(&PROJECTION_FORMAT.to_be_bytes())?;
        out.write_all(&reached.to_be_bytes())?;
        out.write_all(root)?;
        Ok(SnapshotWriter {
            out,
            directory: Vec::new(),
            timelines: 0,
        })
    }

    /// Adds the timeline of subject `id` of kind `tag`.
    pub(crate) fn timeline(&mut self, tag: u8, id: Uuid, entries: &[Entry]) -> std::io::Result<()> {
        let bytes =
            postcard::to_stdvec(entries).map_err(|e| std::io::Error::other(e.to_string()))?;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        self.stored(tag, id, &bytes, &digest)
    }

    /// Adds a timeline's entries as another snapshot stored them (`bytes`, whose SHA-256 is
    /// `digest`): carried over without decoding.
    pub(crate) fn stored(
        &mut self,
        tag: u8,
        id: Uuid,
        bytes: &[u8],
        digest: &[u8],
    ) -> std::io::Result<()> {
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|l| *l <= TIMELINE_BYTES_MAX)
            .ok_or_else(|| std::io::Error::other("a timeline too large to save"))?;
        let out = &mut self.out;
        out.write_all(&[tag])?;
        out.write_all(id.as_bytes())?;
        out.write_all(&len.to_be_bytes())?;
        let mut record = [0u8; DIRECTORY_RECORD_BYTES];
        record[0] = tag;
        record[1..17].copy_from_slice(id.as_bytes());
        record[17..25].copy_from_slice(&out.bytes.to_be_bytes());
        record[25..29].copy_from_slice(&len.to_be_bytes());
        record[29..].copy_from_slice(digest);
        self.directory.push(record);
        out.write_all(bytes)?;
        self.timelines += 1;
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        let SnapshotWriter {
            mut out,
            mut directory,
            timelines,
        } = self;
        out.write_all(&[TAG_END])?;
        out.write_all(&timelines.to_be_bytes())?;
        // Sorted by subject id (then tag), for a binary search of the bytes as they are read.
        directory.sort_unstable_by(|a, b| (&a[1..17], a[0]).cmp(&(&b[1..17], b[0])));
        let directory_offset = out.bytes;
        let mut directory_digest = sha2::Sha256::default();
        for record in &directory {
            sha2::Digest::update(&mut directory_digest, record);
            out.write_all(record)?;
        }
        out.write_all(&directory_offset.to_be_bytes())?;
        out.write_all(&(directory.len() as u64).to_be_bytes())?;
        out.write_all(&sha2::Digest::finalize(directory_digest))?;
        let digest = sha2::Digest::finalize(out.digest);
        let mut file = out.inner;
        file.write_all(&digest)?;
        file.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// Reads a snapshot: `Ok(None)` if there is none; an error if it is damaged, of another
/// format, ahead of the ledger or of another ledger (its root at the position it reached
/// differs).
pub(crate) fn read_snapshot(path: &Path, ledger: &Ledger) -> Result<Option<Timelines>, Error> {
    let damaged = |what: &str| Error::Projection(format!("{}: {what}", path.display()));
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ikrar_core::Error::Io(e).into()),
    };
    let mut input = Hashing {
        inner: BufReader::with_capacity(1 << 20, file),
        digest: sha2::Sha256::default(),
        bytes: 0,
    };
    let io = |e: std::io::Error| damaged(&e.to_string());
    let mut header = [0u8; HEADER_BYTES];
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
        // A digest that checks out says the file is as written, not that what was written is
        // sound (another build, a bug, a hand-made file): the values are checked too, so that
        // no query meets one it cannot fold.
        check_entries(tag[0], &entries, reached).map_err(|what| damaged(&what))?;
        match tag[0] {
            TAG_COMMITMENT => {
                for e in &entries {
                    match &e.change {
                        Change::Made(m) => {
                            add_words(&mut t, id, Some(&m.title), m.summary.as_ref())
                        }
                        Change::Amended(a) => {
                            add_words(&mut t, id, a.title.as_deref(), a.summary.as_ref())
                        }
                        _ => {}
                    }
                }
                if let Some(made) = entries.iter().find(|e| matches!(e.change, Change::Made(_))) {
                    t.commitment_order.push((made.position, id));
                }
                t.commitments.insert(id, Timeline { entries });
            }
            TAG_MEETING => {
                if let Some(held) = entries.iter().find(|e| matches!(e.change, Change::Held(_))) {
                    t.meeting_order.push((held.position, id));
                }
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
    // The directory is not needed to read the whole: it is read through for the digest, and
    // the footer's count and digest of it are checked (its offsets are the lazy reader's).
    let mut directory_digest = sha2::Sha256::default();
    let mut record = [0u8; DIRECTORY_RECORD_BYTES];
    for _ in 0..timelines {
        input.read_exact(&mut record).map_err(io)?;
        sha2::Digest::update(&mut directory_digest, record);
    }
    let mut footer = [0u8; FOOTER_BYTES];
    input.read_exact(&mut footer).map_err(io)?;
    if u64::from_be_bytes(footer[8..16].try_into().expect("8 bytes")) != timelines
        || footer[16..] != sha2::Digest::finalize(directory_digest)[..]
    {
        return Err(damaged("the directory does not match the timelines"));
    }
    let computed = sha2::Digest::finalize(input.digest);
    let mut stored = [0u8; 32];
    input.inner.read_exact(&mut stored).map_err(io)?;
    let mut rest = [0u8; 1];
    if computed.as_slice() != stored || input.inner.read(&mut rest).map_err(io)? != 0 {
        return Err(damaged("the digest does not match"));
    }
    t.commitment_order.sort_unstable();
    t.meeting_order.sort_unstable();
    Ok(Some(t))
}

/// Checks what a query takes for granted of a timeline's entries: positions in order and within
/// the snapshot, retractions after what they retract, instants and dates chrono can hold,
/// `held_on` a moment, and changes of the timeline's kind of subject.
pub(crate) fn check_entries(tag: u8, entries: &[Entry], reached: u64) -> Result<(), String> {
    let mut previous: Option<u64> = None;
    for e in entries {
        let at = e.position;
        if previous.is_some_and(|p| p >= at) || at >= reached {
            return Err(format!(
                "an entry at position {at} is out of order or out of range"
            ));
        }
        previous = Some(at);
        if e.retracted_at.is_some_and(|r| r <= at || r >= reached) {
            return Err(format!("the entry at {at} has a retraction out of range"));
        }
        if chrono::DateTime::from_timestamp_micros(e.effective_micros).is_none() {
            return Err(format!(
                "the entry at {at} has an effective instant out of range"
            ));
        }
        let day = |d: i32| chrono::NaiveDate::from_num_days_from_ce_opt(d).is_some();
        let sound = match (&e.change, tag) {
            (Change::Made(m), TAG_COMMITMENT) => {
                day(m.made_on_days) && m.due_days.is_none_or(day) && own_text(&m.summary, e)
            }
            (Change::Amended(a), TAG_COMMITMENT) => {
                a.due_days.is_none_or(day) && own_text(&a.summary, e)
            }
            (Change::Status { .. } | Change::NamedBy { .. }, TAG_COMMITMENT) => true,
            (Change::Held(h), TAG_MEETING) => h.held_on.parse::<ikrar_core::Moment>().is_ok(),
            (Change::Linked { .. }, TAG_MEETING) => true,
            (Change::Retraction, _) => true,
            _ => false,
        };
        if !sound {
            return Err(format!("the entry at {at} holds a value no event gives"));
        }
    }
    Ok(())
}

/// A summary not held names its own entry's record (the one that set it), and one held is
/// short enough to be held: what `Text::of` makes.
fn own_text(summary: &Option<crate::timeline::Text>, e: &Entry) -> bool {
    match summary {
        None => true,
        Some(crate::timeline::Text::Held(s)) => s.len() <= crate::timeline::SUMMARY_HELD_BYTES_MAX,
        Some(crate::timeline::Text::InLog { position }) => *position == e.position,
    }
}

#[cfg(test)]
mod tests {
    use ikrar_core::event::{CommitmentMade, EventData, MeetingHeld};
    use ikrar_core::InputEvent;

    use super::*;
    use crate::projection::Projection;
    use crate::{Basis, ListFilter};

    fn ledger(path: &Path) -> Ledger {
        let ledger = Ledger::create(path).unwrap();
        let made = |n: u128| {
            let mut e = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
                commitment_id: Uuid::from_u128(n),
                title: format!("Commitment {n}"),
                summary: None,
                owner: None,
                parties: vec!["Japan".into()],
                themes: vec![],
                made_on: chrono::NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
                due: chrono::NaiveDate::from_ymd_opt(2026, 1, 16),
            }));
            e.actor = Some("tester".into());
            e
        };
        let mut held = InputEvent::new(EventData::MeetingHeld(MeetingHeld {
            meeting_id: Uuid::from_u128(100),
            title: "A meeting".into(),
            held_on: "2025-02-01".parse().unwrap(),
            location: None,
            participants: vec![],
            commitment_ids: vec![Uuid::from_u128(1)],
            outcomes: vec![],
        }));
        held.actor = Some("tester".into());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(ledger.append(vec![made(1), made(2), held]))
            .unwrap();
        ledger
    }

    fn answers(projection: &Projection) -> String {
        // A fixed instant: the answers of two opens are compared.
        let now = Basis::new(None, Some("2026-06-01".parse().unwrap()));
        format!(
            "{:?}\n{:?}\n{:?}",
            projection.list(&ListFilter::default(), &now).unwrap(),
            projection.summary(&now).unwrap(),
            projection.meeting(Uuid::from_u128(100), &now).unwrap(),
        )
    }

    /// A snapshot whose digest checks out but whose values no event gives is refused, and the
    /// projection, rebuilt from the log, answers as before — never a panic in a query.
    #[test]
    fn a_snapshot_with_a_valid_digest_over_bad_values_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ledger(&dir.path().join("l"));
        let projection = Projection::open(&ledger).unwrap();
        projection.flush().unwrap();
        let expected = answers(&projection);
        drop(projection);
        let snapshots = Projection::dir(&ledger).unwrap();
        let path = snapshots.join(SNAPSHOT_FILE);
        let good = read_snapshot(&path, &ledger).unwrap().expect("a snapshot");
        let root = ledger.root_at(good.reached).unwrap().0;
        type Spoil = fn(&mut Entry);
        let spoilers: [(u8, Spoil); 6] = [
            (TAG_COMMITMENT, |e| e.effective_micros = i64::MAX),
            (TAG_COMMITMENT, |e| {
                if let Change::Made(m) = &mut e.change {
                    m.made_on_days = i32::MAX;
                }
            }),
            (TAG_COMMITMENT, |e| {
                if let Change::Made(m) = &mut e.change {
                    m.due_days = Some(i32::MIN);
                }
            }),
            (TAG_COMMITMENT, |e| e.position = u64::MAX),
            (TAG_COMMITMENT, |e| e.retracted_at = Some(0)),
            (TAG_MEETING, |e| {
                if let Change::Held(h) = &mut e.change {
                    h.held_on = "not a date".into();
                }
            }),
        ];
        for (case, (tag, spoil)) in spoilers.into_iter().enumerate() {
            let mut bad = good.clone();
            let timelines = if tag == TAG_MEETING {
                &mut bad.meetings
            } else {
                &mut bad.commitments
            };
            for timeline in timelines.values_mut() {
                timeline.entries.iter_mut().for_each(spoil);
            }
            write_snapshot(&snapshots, &bad, &root).unwrap();
            assert!(read_snapshot(&path, &ledger).is_err(), "case {case}");
            let projection = Projection::open(&ledger).unwrap();
            assert_eq!(answers(&projection), expected, "case {case}");
        }
    }
}
