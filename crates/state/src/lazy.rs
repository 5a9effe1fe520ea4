//! A projection opened lazily: when its snapshot is at the ledger's head, only the snapshot's
//! header and directory are read at open, and a query about one commitment or meeting reads
//! the timelines it folds — one commitment and the meetings that name it — instead of all of
//! them. Anything else (a list, a summary, a search, a catch-up, a save) takes
//! [`Projection::lock`], which first reads the whole snapshot: a lazy projection is never asked
//! a question it cannot answer whole.
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
    SNAPSHOT_MAGIC, TAG_COMMITMENT, TAG_MEETING,
};
use crate::timeline::{Change, Entry, Timeline};

/// A snapshot's directory, read and checked; the timelines it names are read as asked for.
#[derive(Clone)]
pub(crate) struct Directory {
    pub(crate) path: PathBuf,
    reached: u64,
    /// The directory's records as stored: sorted by subject id, [`DIRECTORY_RECORD_BYTES`] each.
    records: Vec<u8>,
    /// Subjects looked for and not in the snapshot.
    absent: HashSet<Uuid>,
}

/// The snapshot at `path`'s directory, if the snapshot is of this format, of this ledger and at
/// its head (`Ok(None)` otherwise, or if there is none: the caller reads it whole, or
/// rebuilds).
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
    if reached != ledger.head().tree_size || ledger.root_at(reached)?.0 != header[20..52] {
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
    Ok(Some(Directory {
        path: path.to_path_buf(),
        reached,
        records,
        absent: HashSet::new(),
    }))
}

impl Directory {
    /// The position reached by the snapshot (the ledger's head when it was opened).
    pub(crate) fn reached(&self) -> u64 {
        self.reached
    }

    /// Every subject in the snapshot whose id's text form starts with `prefix`: what a whole
    /// projection's `ids_with_prefix` gives, from the directory alone (it names every timeline).
    pub(crate) fn ids_with_prefix(&self, prefix: &str) -> Vec<Uuid> {
        self.records
            .chunks(DIRECTORY_RECORD_BYTES)
            .filter_map(|r| Uuid::from_slice(&r[1..17]).ok())
            .filter(|id| id.to_string().starts_with(prefix))
            .collect()
    }

    /// `id`'s timeline and its tag, read and checked; `None` if the snapshot has none.
    fn read(&self, id: Uuid) -> Result<Option<(u8, Vec<Entry>)>, Error> {
        let damaged = |what: &str| Error::Projection(format!("{}: {what}", self.path.display()));
        let record_at =
            |i: usize| &self.records[i * DIRECTORY_RECORD_BYTES..(i + 1) * DIRECTORY_RECORD_BYTES];
        let (mut low, mut high) = (0, self.records.len() / DIRECTORY_RECORD_BYTES);
        let record = loop {
            if low >= high {
                return Ok(None);
            }
            let middle = low + (high - low) / 2;
            match record_at(middle)[1..17].cmp(id.as_bytes()) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => break record_at(middle),
            }
        };
        let tag = record[0];
        let offset = u64::from_be_bytes(record[17..25].try_into().expect("8 bytes"));
        let len = u32::from_be_bytes(record[25..29].try_into().expect("4 bytes"));
        let mut file = std::fs::File::open(&self.path).map_err(ikrar_core::Error::Io)?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| damaged(&e.to_string()))?;
        let mut bytes = vec![0u8; len as usize];
        file.read_exact(&mut bytes)
            .map_err(|e| damaged(&e.to_string()))?;
        if <sha2::Sha256 as sha2::Digest>::digest(&bytes)[..] != record[29..] {
            return Err(damaged("a timeline does not match its digest"));
        }
        let entries: Vec<Entry> = postcard::from_bytes(&bytes)?;
        check_entries(tag, &entries, self.reached).map_err(|what| damaged(&what))?;
        Ok(Some((tag, entries)))
    }
}

impl Projection {
    /// The lock, with the timelines a query about `ids` folds loaded: each subject's own and,
    /// for a commitment, those of the meetings that name it. On a projection read whole, the
    /// lock as it is; where a lazily read part does not check out, the whole path.
    pub(crate) fn lock_subjects(&self, ids: &[Uuid]) -> MutexGuard<'_, Timelines> {
        let mut t = self.lock_raw();
        let Some(mut directory) = t.lazy.take() else {
            return t;
        };
        let loaded = ids
            .iter()
            .try_for_each(|id| load_subject(&mut t, &mut directory, *id));
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
}

/// Loads `id`'s timeline, and for a commitment those of the meetings naming it.
fn load_subject(t: &mut Timelines, directory: &mut Directory, id: Uuid) -> Result<(), Error> {
    if let Some(TAG_COMMITMENT) = load_one(t, directory, id)? {
        let named: Vec<Uuid> = t.commitments[&id]
            .entries
            .iter()
            .filter_map(|e| match e.change {
                Change::NamedBy { meeting_id, .. } => Some(meeting_id),
                _ => None,
            })
            .collect();
        for meeting in named {
            load_one(t, directory, meeting)?;
        }
    }
    Ok(())
}

/// Loads `id`'s timeline if it is not loaded yet; its tag, if the snapshot has it.
fn load_one(t: &mut Timelines, directory: &mut Directory, id: Uuid) -> Result<Option<u8>, Error> {
    if t.commitments.contains_key(&id) {
        return Ok(Some(TAG_COMMITMENT));
    }
    if t.meetings.contains_key(&id) {
        return Ok(Some(TAG_MEETING));
    }
    if directory.absent.contains(&id) {
        return Ok(None);
    }
    let Some((tag, entries)) = directory.read(id)? else {
        directory.absent.insert(id);
        return Ok(None);
    };
    let map = if tag == TAG_COMMITMENT {
        &mut t.commitments
    } else {
        &mut t.meetings
    };
    map.insert(id, Timeline { entries });
    Ok(Some(tag))
}
