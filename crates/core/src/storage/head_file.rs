//! The head file: a copy of the head outside sled, the commit point of a sled ledger (see
//! [`HeadFile`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Error;
use crate::storage::Head;

/// The name of the head file inside a ledger directory.
pub const HEAD_FILE_NAME: &str = "head";
const HEAD_FILE_MAGIC: &[u8; 8] = b"IKRARHD1";

/// A copy of the head kept outside sled, written after every durable commit.
///
/// sled recovers from a damaged log by ending it at the damage, which would make a ledger
/// silently shorter. The head file remembers what was acknowledged: on open, a sled log shorter
/// than the head file, or one whose tree disagrees with the head file's root, is an integrity
/// failure, never a quiet loss. It is written without its own fsync, after sled's flush, so it
/// can lag the log after a power cut but never run ahead of it.
///
/// The file is opened (and made, if need be) only when a head is first written: opening a
/// ledger to check it must never make a head file that was deleted reappear, empty, and then
/// be reported as malformed instead of missing.
pub(crate) struct HeadFile {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl HeadFile {
    pub(crate) fn new(dir: &Path) -> HeadFile {
        HeadFile {
            path: dir.join(HEAD_FILE_NAME),
            file: Mutex::new(None),
        }
    }

    pub(crate) fn write(&self, head: &Head) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; 56];
        bytes[..8].copy_from_slice(HEAD_FILE_MAGIC);
        bytes[8..].copy_from_slice(&head.encode());
        // Only the writer thread writes; a panic elsewhere cannot leave the handle half-made.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            *file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&self.path)?,
            );
        }
        if let Some(file) = file.as_ref() {
            file.write_all_at(&bytes, 0)?;
        }
        Ok(())
    }

    /// Makes what was written durable (at creation: the head file is whole before the
    /// database appears beside it).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        match file.as_ref() {
            Some(file) => Ok(file.sync_all()?),
            None => Ok(()),
        }
    }

    /// The head last written, `None` if the file is missing.
    pub(crate) fn read(dir: &Path) -> Result<Option<Head>, Error> {
        let bytes = match std::fs::read(dir.join(HEAD_FILE_NAME)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if bytes.len() != 56 || &bytes[..8] != HEAD_FILE_MAGIC {
            return Err(Error::Integrity {
                position: 0,
                what: "the head file is malformed".into(),
            });
        }
        Ok(Head::decode(&bytes[8..]))
    }
}
