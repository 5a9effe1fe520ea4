//! The in-memory index of a sled ledger, saved as a file (`LEDGER/index`) so that the next
//! process loads it and reads only the log's tail, instead of scanning the whole log to build
//! it (20 s at 10,000,000 events, before an append of one event could be checked).
//!
//! A cache, never trusted blindly: the file names the tree size it reflects and the ledger's
//! root there, carries a SHA-256 of all of it, and its contents are checked for what an index
//! of that many records must be (one id per record, every record in one stream, positions in
//! range and in order). One that does not check out — altered, cut short, of another ledger,
//! ahead of the log — is not used: the index is built from the log, and the file written again.
//!
//! Layout (integers big-endian): magic, format (u32), tree size (u64), root (32 bytes); the
//! event ids (count, then id and position each, in id order — loaded straight into the index's
//! sorted arrays, `storage/id_positions.rs`), the retractions (count, then retracted id and
//! the retraction's position), `made_on` (count, then commitment id and days from the common
//! era, i32), the streams (count, then the stream id's length (u16) and text, the number of
//! positions and each position); last, the SHA-256 of everything before it.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use sha2::Digest;
use uuid::Uuid;

use crate::model::event::StreamId;
use crate::storage::index::Index;

/// The file's name in the ledger directory.
pub(crate) const INDEX_FILE_NAME: &str = "index";
const MAGIC: &[u8; 8] = b"IKRARIX1";
/// Bumped whenever the index's meaning or this layout changes (2: ids in id order).
const FORMAT: u32 = 2;

/// Writes `index` (whose tree has `root`) to `dir`, under a temporary name renamed over the old.
pub(crate) fn write(dir: &Path, index: &Index, root: &[u8; 32]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{INDEX_FILE_NAME}.{}.tmp", std::process::id()));
    let written =
        write_to(&tmp, index, root).and_then(|()| std::fs::rename(&tmp, dir.join(INDEX_FILE_NAME)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn write_to(path: &Path, index: &Index, root: &[u8; 32]) -> std::io::Result<()> {
    let mut out = Hashed {
        inner: BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?),
        digest: sha2::Sha256::new(),
    };
    out.put(MAGIC)?;
    out.put(&FORMAT.to_be_bytes())?;
    out.put(&index.size.to_be_bytes())?;
    out.put(root)?;
    out.put(&(index.ids.len() as u64).to_be_bytes())?;
    for (id, position) in index.ids.sorted_range(Uuid::nil(), Uuid::max()) {
        out.put(id.as_bytes())?;
        out.put(&position.to_be_bytes())?;
    }
    out.put(&(index.retracted.len() as u64).to_be_bytes())?;
    for (id, position) in &index.retracted {
        out.put(id.as_bytes())?;
        out.put(&position.to_be_bytes())?;
    }
    out.put(&(index.made_on.len() as u64).to_be_bytes())?;
    for (id, day) in &index.made_on {
        out.put(id.as_bytes())?;
        out.put(&day.num_days_from_ce().to_be_bytes())?;
    }
    out.put(&(index.streams.len() as u64).to_be_bytes())?;
    for (stream, positions) in &index.streams {
        let text = stream.to_string();
        let len = u16::try_from(text.len()).map_err(std::io::Error::other)?;
        out.put(&len.to_be_bytes())?;
        out.put(text.as_bytes())?;
        out.put(&(positions.len() as u64).to_be_bytes())?;
        for position in positions {
            out.put(&position.to_be_bytes())?;
        }
    }
    let digest = out.digest.finalize();
    let mut file = out.inner;
    file.write_all(&digest)?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// The index in `dir`'s file and the root it names, if there is a file; an error (in words) if
/// it is damaged or not an index this build writes. Whether it belongs to the ledger (its root)
/// is the caller's to check.
pub(crate) fn read(dir: &Path) -> Result<Option<(Index, [u8; 32])>, String> {
    let path = dir.join(INDEX_FILE_NAME);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    let mut input = Hashed {
        inner: BufReader::with_capacity(1 << 20, file),
        digest: sha2::Sha256::new(),
    };
    let mut index = Index::default();
    let mut magic = [0u8; 8];
    input.take(&mut magic)?;
    if &magic != MAGIC || input.u32()? != FORMAT {
        return Err("not an index of this format".into());
    }
    let size = input.u64()?;
    let mut root = [0u8; 32];
    input.take(&mut root)?;
    // Counts are checked against the file's length before anything is reserved for them.
    let count = |n: u64, each: u64| {
        n.checked_mul(each)
            .filter(|bytes| *bytes <= length)
            .map(|_| n as usize)
            .ok_or_else(|| "a count is out of range".to_string())
    };
    let in_range = |position: u64| {
        (position < size)
            .then_some(position)
            .ok_or_else(|| format!("a position ({position}) is beyond the tree size {size}"))
    };
    let ids = count(input.u64()?, 24)?;
    index.ids.try_reserve(ids);
    let mut previous: Option<Uuid> = None;
    for _ in 0..ids {
        let id = input.uuid()?;
        let position = in_range(input.u64()?)?;
        // In id order, each once (checked here too: an entry whose position does not fit the
        // sorted arrays' 32 bits goes beside them, where `push_sorted` does not see it).
        let in_order = previous.is_none_or(|p| p < id);
        previous = Some(id);
        if !in_order || index.ids.push_sorted(id, position).is_err() {
            return Err(format!("event id {id} is out of order or there twice"));
        }
    }
    for _ in 0..count(input.u64()?, 24)? {
        let id = input.uuid()?;
        let position = in_range(input.u64()?)?;
        index.retracted.insert(id, position);
    }
    for _ in 0..count(input.u64()?, 20)? {
        let id = input.uuid()?;
        let days = i32::from_be_bytes(input.array()?);
        let day = NaiveDate::from_num_days_from_ce_opt(days)
            .ok_or_else(|| "a date is out of range".to_string())?;
        index.made_on.insert(id, day);
    }
    let mut positions_in_streams = 0u64;
    for _ in 0..count(input.u64()?, 10)? {
        let len = u16::from_be_bytes(input.array()?) as usize;
        let mut text = vec![0u8; len];
        input.take(&mut text)?;
        let stream = std::str::from_utf8(&text)
            .ok()
            .and_then(StreamId::parse)
            .ok_or_else(|| "a stream id does not parse".to_string())?;
        let n = count(input.u64()?, 8)?;
        let mut positions = Vec::with_capacity(n);
        for _ in 0..n {
            let position = in_range(input.u64()?)?;
            if positions.last().is_some_and(|last| *last >= position) {
                return Err(format!("stream {stream}'s positions are out of order"));
            }
            positions.push(position);
        }
        positions_in_streams += n as u64;
        if index.streams.insert(stream, positions).is_some() {
            return Err("a stream is there twice".into());
        }
    }
    // Every record has one id and is in one stream.
    if index.ids.len() as u64 != size || positions_in_streams != size {
        return Err(format!("it does not index {size} records"));
    }
    let computed = input.digest.finalize();
    let mut stored = [0u8; 32];
    input
        .inner
        .read_exact(&mut stored)
        .map_err(|e| e.to_string())?;
    let mut rest = [0u8; 1];
    if computed.as_slice() != stored || input.inner.read(&mut rest).map_err(|e| e.to_string())? != 0
    {
        return Err("its digest does not match".into());
    }
    index.size = size;
    Ok(Some((index, root)))
}

/// A reader or writer that hashes what goes through it.
struct Hashed<T> {
    inner: T,
    digest: sha2::Sha256,
}

impl<W: Write> Hashed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.digest.update(bytes);
        self.inner.write_all(bytes)
    }
}

impl<R: Read> Hashed<R> {
    fn take(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.inner
            .read_exact(buf)
            .map_err(|e| format!("it is cut short ({e})"))?;
        self.digest.update(&*buf);
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut buf = [0u8; N];
        self.take(&mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn uuid(&mut self) -> Result<Uuid, String> {
        Ok(Uuid::from_bytes(self.array()?))
    }
}
