//! A projection opened lazily: only the snapshot's header and directory are read at open, and
//! a query about one commitment or meeting reads the timelines it folds — one commitment and
//! the meetings that name it — instead of all of them; a question about every commitment reads
//! a large snapshot one timeline at a time (`crate::streamed`, through a [`Pass`]). A snapshot
//! behind the head has the log's tail after it merged into every timeline read
//! (`crate::tail`, which also catches it up). Anything else (a whole save, such a question on
//! a small snapshot) takes [`Projection::lock`], which first reads the whole snapshot and folds
//! the tail in from the log: a lazy projection is never asked a question it cannot answer
//! whole.
//!
//! Nothing is taken on trust that a whole read would refuse: the header's root is checked
//! against the ledger, the directory against the footer's digest, and each timeline against
//! the directory's digest and the checks every snapshot's entries get. A part that does not
//! check out sends the projection down the whole path (which rebuilds from the log if the
//! snapshot is damaged).

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use ikrar_core::Ledger;
use uuid::Uuid;

use crate::error::Error;
use crate::projection::{Projection, Timelines};
use crate::snapshot::{
    check_entries, DIRECTORY_RECORD_BYTES, FOOTER_BYTES, HEADER_BYTES, PROJECTION_FORMAT,
    SNAPSHOT_MAGIC, TAG_COMMITMENT, TAG_MEETING, TIMELINE_BYTES_MAX,
};
use crate::timeline::{Change, Entry, Timeline};

/// Timelines a lazy projection holds at most: a read cache of its snapshot, emptied when full.
/// A server answering questions about many commitments would otherwise come to hold them all
/// — at ten million events about 1.1 GiB, where this many (a hundred entries each) take about
/// 40 MB. Emptied whole rather than one by one: a fold needs only its own subject's timelines,
/// loaded again right after, and a lazy projection changes none of them.
pub const LAZY_TIMELINES_MAX: usize = 4_096;

/// Snapshots up to this size are read whole for a question about every commitment (a list,
/// a summary in a past basis) and then answer from memory; larger ones are read one timeline
/// at a time for each such question (`crate::streamed`). Whole, a snapshot takes about 2.7
/// times its size in memory: 64 MiB is about 1,500,000 events and 170 MiB. Streamed, each
/// question reads the file again — at 10,000,000 events 1.3–3 s (the whole read took 4–7 s).
pub const STREAMED_ABOVE_BYTES: u64 = 64 << 20;

/// Subjects remembered as not in the snapshot at most (lookups of ids that were never
/// recorded: each would otherwise stay remembered).
const ABSENT_MAX: usize = 65_536;

/// A snapshot's directory, read and checked; the timelines it names are read as asked for.
#[derive(Clone)]
pub(crate) struct Directory {
    pub(crate) path: PathBuf,
    /// The position the snapshot file reflects.
    pub(crate) base: u64,
    /// The position reached: `base`, and the log's tail after it held in `tail`.
    pub(crate) reached: u64,
    /// The records after the snapshot's position, as entries per subject, merged into every
    /// timeline read (`crate::tail`): a projection behind the head catches up without reading
    /// its snapshot whole. Shared with the copies a pass takes.
    pub(crate) tail: std::sync::Arc<crate::tail::Tail>,
    /// The snapshot file's length.
    pub(crate) file_bytes: u64,
    /// The directory's records as stored: sorted by subject id, [`DIRECTORY_RECORD_BYTES`] each
    /// (shared by the copies a pass takes).
    records: std::sync::Arc<Vec<u8>>,
    /// Subjects (id and kind) looked for and not in the snapshot.
    pub(crate) absent: HashSet<(Uuid, u8)>,
}

/// The snapshot at `path`'s directory, if the snapshot is of this format and of this ledger at
/// its position, the ledger's head or before it (`Ok(None)` otherwise, or if there is none: the
/// caller reads it whole, or rebuilds).
pub(crate) fn open_directory(path: &Path, ledger: &Ledger) -> Result<Option<Directory>, Error> {
    let damaged = |what: &str| Error::Projection(format!("{}: {what}", path.display()));
    let io = |e: std::io::Error| damaged(&e.to_string());
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ikrar_core::Error::Io(e).into()),
    };
    let mut header = [0u8; HEADER_BYTES];
    file.read_exact(&mut header).map_err(io)?;
    let format = u32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
    if &header[..8] != SNAPSHOT_MAGIC || format != PROJECTION_FORMAT {
        return Ok(None);
    }
    let reached = u64::from_be_bytes(header[12..20].try_into().expect("8 bytes"));
    if reached > ledger.head().tree_size || ledger.root_at(reached)?.0 != header[20..52] {
        return Ok(None);
    }
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    let tail = (FOOTER_BYTES + 32) as u64;
    if len < HEADER_BYTES as u64 + tail {
        return Err(damaged("too short for its footer"));
    }
    file.seek(SeekFrom::Start(len - tail)).map_err(io)?;
    let mut footer = [0u8; FOOTER_BYTES];
    file.read_exact(&mut footer).map_err(io)?;
    let offset = u64::from_be_bytes(footer[..8].try_into().expect("8 bytes"));
    let count = u64::from_be_bytes(footer[8..16].try_into().expect("8 bytes"));
    let records_len = count
        .checked_mul(DIRECTORY_RECORD_BYTES as u64)
        .filter(|l| offset.checked_add(*l) == Some(len - tail))
        .ok_or_else(|| damaged("the directory's place does not add up"))?;
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut records = vec![0u8; records_len as usize];
    file.read_exact(&mut records).map_err(io)?;
    if <sha2::Sha256 as sha2::Digest>::digest(&records)[..] != footer[16..] {
        return Err(damaged("the directory does not match its digest"));
    }
    if records
        .chunks(DIRECTORY_RECORD_BYTES)
        .any(|r| r[0] != TAG_COMMITMENT && r[0] != TAG_MEETING)
    {
        return Err(damaged("an unknown timeline tag in the directory"));
    }
    Ok(Some(Directory {
        path: path.to_path_buf(),
        base: reached,
        reached,
        tail: Default::default(),
        file_bytes: len,
        records: std::sync::Arc::new(records),
        absent: HashSet::new(),
    }))
}

impl Directory {
    /// Every subject in the snapshot whose id's text form starts with `prefix`: what a whole
    /// projection's `ids_with_prefix` gives, from the directory alone (it names every timeline).
    pub(crate) fn ids_with_prefix(&self, prefix: &str) -> Vec<Uuid> {
        self.records
            .chunks(DIRECTORY_RECORD_BYTES)
            .filter_map(|r| Uuid::from_slice(&r[1..17]).ok())
            .chain(self.tail.subjects().map(|(_, id)| id))
            .filter(|id| id.to_string().starts_with(prefix))
            .collect()
    }

    /// The directory record of `id` as a subject of kind `tag` (commitments and meetings are
    /// separate streams: one id may be both).
    pub(crate) fn record(&self, id: Uuid, tag: u8) -> Option<&[u8]> {
        let record_at =
            |i: usize| &self.records[i * DIRECTORY_RECORD_BYTES..(i + 1) * DIRECTORY_RECORD_BYTES];
        // Sorted as the writer sorts: by id, then tag.
        let wanted = (id.as_bytes().as_slice(), tag);
        let (mut low, mut high) = (0, self.records.len() / DIRECTORY_RECORD_BYTES);
        while low < high {
            let middle = low + (high - low) / 2;
            let r = record_at(middle);
            match (&r[1..17], r[0]).cmp(&wanted) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(r),
            }
        }
        None
    }

    /// Where the snapshot stores `id`'s timeline as a subject of kind `tag` (`u64::MAX` if it
    /// does not: past every timeline it has).
    pub(crate) fn offset_of(&self, id: Uuid, tag: u8) -> u64 {
        self.record(id, tag).map_or(u64::MAX, record_offset)
    }

    /// Whether the snapshot has a timeline for `id` as a subject of kind `tag`.
    pub(crate) fn has(&self, id: Uuid, tag: u8) -> bool {
        self.record(id, tag).is_some() || self.tail.has(tag, id)
    }

    /// `id`'s timeline as a subject of kind `tag`, read and checked; `None` if there is none.
    fn read(&self, id: Uuid, tag: u8) -> Result<Option<Vec<Entry>>, Error> {
        let stored = match self.record(id, tag) {
            Some(record) => {
                let mut file = std::fs::File::open(&self.path).map_err(ikrar_core::Error::Io)?;
                Some(self.read_at(&mut file, record)?)
            }
            None => None,
        };
        Ok(self.tail.merged(tag, id, stored))
    }

    /// The snapshot opened for a pass over many timelines (`crate::streamed`): one handle for
    /// the whole pass, so a snapshot saved over this one meanwhile is not mixed in (the handle
    /// keeps reading the file it opened), and reads in file order that keep their buffer.
    pub(crate) fn pass(&self) -> Result<Pass<'_>, Error> {
        let file = std::fs::File::open(&self.path).map_err(ikrar_core::Error::Io)?;
        Ok(Pass {
            directory: self,
            file: std::io::BufReader::with_capacity(1 << 20, file),
            at: 0,
        })
    }

    /// A copy for a pass over many timelines, taken out of the projection's lock: the
    /// directory's records shared, not copied, and no memory of absent subjects.
    pub(crate) fn for_a_pass(&self) -> Directory {
        Directory {
            path: self.path.clone(),
            base: self.base,
            reached: self.reached,
            tail: self.tail.clone(),
            file_bytes: self.file_bytes,
            records: self.records.clone(),
            absent: HashSet::new(),
        }
    }

    /// The timeline a directory `record` names, read from `file` (positioned at its offset)
    /// and checked.
    fn read_entries(&self, file: &mut impl Read, record: &[u8]) -> Result<Vec<Entry>, Error> {
        let damaged = |what: &str| Error::Projection(format!("{}: {what}", self.path.display()));
        let tag = record[0];
        let len = record_len(record);
        if len > TIMELINE_BYTES_MAX {
            return Err(damaged("a timeline's length is out of range"));
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_exact(&mut bytes)
            .map_err(|e| damaged(&e.to_string()))?;
        if <sha2::Sha256 as sha2::Digest>::digest(&bytes)[..] != record[29..] {
            return Err(damaged("a timeline does not match its digest"));
        }
        let entries: Vec<Entry> = postcard::from_bytes(&bytes)?;
        check_entries(tag, &entries, self.base).map_err(|what| damaged(&what))?;
        Ok(entries)
    }

    /// [`Directory::read_entries`] from anywhere in `file`.
    fn read_at(&self, file: &mut (impl Read + Seek), record: &[u8]) -> Result<Vec<Entry>, Error> {
        file.seek(SeekFrom::Start(record_offset(record)))
            .map_err(|e| Error::Projection(format!("{}: {e}", self.path.display())))?;
        self.read_entries(file, record)
    }
}

fn record_offset(record: &[u8]) -> u64 {
    u64::from_be_bytes(record[17..25].try_into().expect("8 bytes"))
}

fn record_len(record: &[u8]) -> u32 {
    u32::from_be_bytes(record[25..29].try_into().expect("4 bytes"))
}

/// A pass over a snapshot's timelines through one open handle ([`Directory::pass`]).
pub(crate) struct Pass<'a> {
    directory: &'a Directory,
    file: std::io::BufReader<std::fs::File>,
    /// Where the handle is in the file.
    at: u64,
}

impl<'a> Pass<'a> {
    /// Every commitment's timeline, read and checked one at a time and handed to `each`, in
    /// the order they lie in the file, then those only the tail holds: a question about all of
    /// them (a summary in a past basis) answered without holding them all.
    pub(crate) fn each_commitment(
        &mut self,
        each: impl FnMut(Uuid, Timeline),
    ) -> Result<(), Error> {
        self.each_of(TAG_COMMITMENT, each)
    }

    /// [`Pass::each_commitment`] for every subject of kind `tag`.
    pub(crate) fn each_of(
        &mut self,
        tag: u8,
        mut each: impl FnMut(Uuid, Timeline),
    ) -> Result<(), Error> {
        let directory = self.directory;
        let mut records: Vec<&[u8]> = directory
            .records
            .chunks(DIRECTORY_RECORD_BYTES)
            .filter(|r| r[0] == tag)
            .collect();
        records.sort_unstable_by_key(|r| record_offset(r));
        for record in records {
            let entries = self.read(record)?;
            let id = Uuid::from_slice(&record[1..17]).expect("16 bytes");
            let entries = directory
                .tail
                .merged(tag, id, Some(entries))
                .unwrap_or_default();
            each(id, Timeline { entries });
        }
        for id in directory.tail.only_in_tail(tag, directory) {
            let entries = directory.tail.merged(tag, id, None).unwrap_or_default();
            each(id, Timeline { entries });
        }
        Ok(())
    }

    /// The stored bytes of the timeline a directory `record` names, as they are (a save that
    /// carries unchanged timelines over copies them: `crate::tail`).
    pub(crate) fn raw(&mut self, record: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |e: std::io::Error| {
            Error::Projection(format!("{}: {e}", self.directory.path.display()))
        };
        let offset = record_offset(record);
        let delta = i64::try_from(offset as i128 - self.at as i128)
            .map_err(|e| failed(std::io::Error::other(e)))?;
        self.file.seek_relative(delta).map_err(failed)?;
        self.at = offset;
        let len = record_len(record);
        if len > TIMELINE_BYTES_MAX {
            return Err(failed(std::io::Error::other(
                "a timeline's length is out of range",
            )));
        }
        let mut bytes = vec![0u8; len as usize];
        self.file.read_exact(&mut bytes).map_err(failed)?;
        self.at = offset + u64::from(len);
        Ok(bytes)
    }

    /// The directory's records of subjects of kind `tag`, in the order they lie in the file.
    pub(crate) fn records_of(&self, tag: u8) -> Vec<&'a [u8]> {
        let mut records: Vec<&[u8]> = self
            .directory
            .records
            .chunks(DIRECTORY_RECORD_BYTES)
            .filter(|r| r[0] == tag)
            .collect();
        records.sort_unstable_by_key(|r| record_offset(r));
        records
    }

    /// The timeline of `id` as a subject of kind `tag`, through this pass's handle; `None` if
    /// there is none.
    pub(crate) fn read_subject(&mut self, id: Uuid, tag: u8) -> Result<Option<Vec<Entry>>, Error> {
        let directory = self.directory;
        let stored = match directory.record(id, tag) {
            Some(record) => Some(self.read(record)?),
            None => None,
        };
        Ok(directory.tail.merged(tag, id, stored))
    }

    pub(crate) fn read(&mut self, record: &[u8]) -> Result<Vec<Entry>, Error> {
        let offset = record_offset(record);
        // A seek relative to where the handle is keeps the buffer when the timeline is in it
        // (a seek to an absolute offset drops the buffer every time: a megabyte read again
        // for each timeline of a few kilobytes).
        let delta = offset as i128 - self.at as i128;
        let moved = i64::try_from(delta)
            .map_err(std::io::Error::other)
            .and_then(|d| self.file.seek_relative(d));
        moved.map_err(|e| Error::Projection(format!("{}: {e}", self.directory.path.display())))?;
        self.at = offset;
        let entries = self.directory.read_entries(&mut self.file, record);
        // Wherever the read stopped, the next one seeks from the end of this timeline only if
        // this one was read whole; after an error the pass is over.
        self.at = offset + u64::from(record_len(record));
        entries
    }
}

impl Projection {
    /// The lock, with the timelines a query about the subject `id` of kind `tag` folds loaded:
    /// its own and, for a commitment, those of the meetings that name it. On a projection read
    /// whole, the lock as it is; where a lazily read part does not check out, the whole path.
    pub(crate) fn lock_subject(&self, id: Uuid, tag: u8) -> MutexGuard<'_, Timelines> {
        let mut t = self.lock_raw();
        let Some(mut directory) = t.lazy.take() else {
            return t;
        };
        if t.commitments.len() + t.meetings.len() >= LAZY_TIMELINES_MAX {
            t.commitments = Default::default();
            t.meetings = Default::default();
        }
        if directory.absent.len() >= ABSENT_MAX {
            directory.absent = HashSet::new();
        }
        let loaded = load_subject(&mut t, &mut directory, id, tag);
        t.lazy = Some(directory);
        match loaded {
            Ok(()) => t,
            Err(e) => {
                tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
                drop(t);
                self.lock()
            }
        }
    }

    /// Timelines held in memory (a seam for tests and measurements: a lazy projection holds at
    /// most [`LAZY_TIMELINES_MAX`] and the ones a question about one subject needs).
    #[doc(hidden)]
    pub fn timelines_held(&self) -> usize {
        let t = self.lock_raw();
        t.commitments.len() + t.meetings.len()
    }

    /// Whether the subject `id` of kind `tag` was ever recorded, from the directory when the
    /// projection is lazy (no timeline read); `None` when it is not.
    pub(crate) fn lazily_has(&self, id: Uuid, tag: u8) -> Option<bool> {
        self.lock_raw().lazy.as_ref().map(|d| d.has(id, tag))
    }
}

/// Loads the timeline of `id` as `tag`, and for a commitment those of the meetings naming it.
fn load_subject(
    t: &mut Timelines,
    directory: &mut Directory,
    id: Uuid,
    tag: u8,
) -> Result<(), Error> {
    if load_one(t, directory, id, tag)? && tag == TAG_COMMITMENT {
        let named: Vec<Uuid> = t.commitments[&id]
            .entries
            .iter()
            .filter_map(|e| match e.change {
                Change::NamedBy { meeting_id, .. } => Some(meeting_id),
                _ => None,
            })
            .collect();
        for meeting in named {
            load_one(t, directory, meeting, TAG_MEETING)?;
        }
    }
    Ok(())
}

/// Loads the timeline of `id` as `tag` if it is not loaded yet; whether there is one.
fn load_one(
    t: &mut Timelines,
    directory: &mut Directory,
    id: Uuid,
    tag: u8,
) -> Result<bool, Error> {
    let map = if tag == TAG_COMMITMENT {
        &mut t.commitments
    } else {
        &mut t.meetings
    };
    if map.contains_key(&id) {
        return Ok(true);
    }
    if directory.absent.contains(&(id, tag)) {
        return Ok(false);
    }
    let Some(entries) = directory.read(id, tag)? else {
        directory.absent.insert((id, tag));
        return Ok(false);
    };
    map.insert(id, Timeline { entries });
    Ok(true)
}
