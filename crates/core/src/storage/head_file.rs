//! The head file: a copy of the head outside sled, the commit point of a sled ledger (see
//! [`HeadFile`]).

use std::path::Path;

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
pub(crate) struct HeadFile {
    file: std::fs::File,
}

impl HeadFile {
    pub(crate) fn create(dir: &Path) -> Result<HeadFile, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(HEAD_FILE_NAME))?;
        Ok(HeadFile { file })
    }

    pub(crate) fn write(&self, head: &Head) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; 56];
        bytes[..8].copy_from_slice(HEAD_FILE_MAGIC);
        bytes[8..].copy_from_slice(&head.encode());
        self.file.write_all_at(&bytes, 0)?;
        Ok(())
    }

    /// Makes what was written durable (at creation: the head file is whole before the
    /// database appears beside it).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        Ok(self.file.sync_all()?)
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
