//! Full entry bundles kept as files beside a sled ledger, in the tlog-tiles layout
//! (`LEDGER/log/tile/entries/x001/234`), so that `/log/` answers a full bundle with one file
//! read instead of sixteen sled values, and so that the directory can be served as static
//! files, as tlog-tiles intends.
//!
//! The files are a cache of what the ledger holds, never its record: they are derived from
//! the verified store, written only for full bundles (which never change), each written whole
//! (a temporary file renamed into place), and a file that does not frame exactly 256 entries
//! is ignored and rewritten. Deleting the directory loses nothing; clients check every entry
//! against the tree's hash tiles in any case. They cost as much disk as the records do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ikrar_core::Ledger;

use crate::path::{TileKind, TilePath, FULL_WIDTH};
use crate::{tiles, Error, Result};

/// Where, inside a ledger directory, the files go (the URL's `/log/`).
pub const BUNDLE_FILES_DIR: &str = "log";

/// Bundles written per step of [`BundleFiles::keep_up`]: small enough that shutdown is prompt,
/// large enough that a backfill is not all bookkeeping.
const BUNDLES_PER_STEP: u64 = 64;

/// How often [`keep_writing`] looks for newly filled bundles.
const POLL_MS: u64 = 500;

/// The full entry bundles of one ledger, as files.
#[derive(Debug)]
pub struct BundleFiles {
    root: PathBuf,
    /// Every full bundle below this index has its file (learned by the first step, then kept).
    written_below: AtomicU64,
    /// Whether `written_below` has been learned from the directory yet.
    scanned: std::sync::atomic::AtomicBool,
}

impl BundleFiles {
    /// The files of the sled ledger `ledger` (none for a ledger that is not a directory).
    pub fn beside(ledger: &Ledger) -> Option<BundleFiles> {
        ledger
            .path()
            .map(|dir| BundleFiles::at(dir.join(BUNDLE_FILES_DIR)))
    }

    /// The files under `root` (the directory that holds `tile/`).
    pub fn at(root: impl Into<PathBuf>) -> BundleFiles {
        BundleFiles {
            root: root.into(),
            written_below: AtomicU64::new(0),
            scanned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The directory that holds `tile/entries/…`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, index: u64) -> PathBuf {
        let tile = TilePath {
            kind: TileKind::Entries,
            index,
            width: FULL_WIDTH,
        };
        self.root.join(tile.to_path())
    }

    /// Full bundle `index` from its file, if the file is there and frames 256 entries.
    pub fn read(&self, index: u64) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path_of(index)).ok()?;
        frames_full_bundle(&bytes).then_some(bytes)
    }

    /// Writes full bundle `index` whole: a temporary file renamed into place.
    pub fn write(&self, index: u64, bundle: &[u8]) -> Result<()> {
        let path = self.path_of(index);
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)?;
        // Unique per write: the background writer and a request may write one bundle at once.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("bundle");
        let staging = parent.join(format!(
            ".{name}.{}-{}.partial",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&staging, bundle)?;
        std::fs::rename(&staging, &path)?;
        Ok(())
    }

    /// Writes the files of full bundles the ledger holds and the directory lacks, at most
    /// [`BUNDLES_PER_STEP`] of them; answers how many it wrote (0: caught up).
    ///
    /// ```
    /// # fn main() -> Result<(), ikrar_tlog::Error> {
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// let files = ikrar_tlog::bundle_files::BundleFiles::beside(&ledger).unwrap();
    /// assert_eq!(files.keep_up(&ledger)?, 0, "no full bundle yet");
    /// assert!(files.read(0).is_none());
    /// # Ok(()) }
    /// ```
    pub fn keep_up(&self, ledger: &Ledger) -> Result<u64> {
        let full = ledger.head().tree_size / u64::from(FULL_WIDTH);
        if !self.scanned.swap(true, Ordering::AcqRel) {
            // Files are written in order, so the first missing one marks where to resume; a
            // stat per bundle (about 40,000 at 10,000,000 events) is done once per process.
            let mut first_missing = 0;
            while first_missing < full && self.read_len_ok(first_missing) {
                first_missing += 1;
            }
            self.written_below.store(first_missing, Ordering::Release);
        }
        let from = self.written_below.load(Ordering::Acquire);
        let to = full.min(from + BUNDLES_PER_STEP);
        for index in from..to {
            let bundle = tiles::entry_bundle(ledger, index, FULL_WIDTH)?.ok_or_else(|| {
                Error::Verification(format!("full bundle {index} is not in the ledger"))
            })?;
            self.write(index, &bundle)?;
            self.written_below.store(index + 1, Ordering::Release);
        }
        Ok(to - from)
    }

    /// Whether the file of `index` is there and not empty (cheaper than reading it).
    fn read_len_ok(&self, index: u64) -> bool {
        std::fs::metadata(self.path_of(index)).is_ok_and(|m| m.len() >= 2 * u64::from(FULL_WIDTH))
    }
}

/// Whether `bytes` frames exactly [`FULL_WIDTH`] entries (a file cut short or padded does not).
fn frames_full_bundle(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    for _ in 0..FULL_WIDTH {
        let [a, b, tail @ ..] = rest else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        let Some(after) = tail.get(len..) else {
            return false;
        };
        rest = after;
    }
    rest.is_empty()
}

/// Keeps the files up with the ledger until `down` turns true: a backfill first, then each
/// bundle soon after it fills. Failures are logged and retried (the files are only a cache;
/// `/log/` builds bundles from the store meanwhile).
pub async fn keep_writing(
    files: Arc<BundleFiles>,
    ledger: Ledger,
    mut down: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *down.borrow() {
            return;
        }
        let (f, l) = (files.clone(), ledger.clone());
        let step = tokio::task::spawn_blocking(move || f.keep_up(&l)).await;
        let wrote = match step {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, dir = %files.root.display(), "writing entry bundle files");
                0
            }
            Err(e) => {
                tracing::error!(error = %e, "the entry bundle writer stopped");
                return;
            }
        };
        if wrote == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(POLL_MS)) => {}
                _ = down.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(entries: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..entries {
            let e = format!("entry {i}");
            out.extend_from_slice(&(e.len() as u16).to_be_bytes());
            out.extend_from_slice(e.as_bytes());
        }
        out
    }

    #[test]
    fn only_a_whole_full_bundle_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = BundleFiles::at(dir.path());
        let full = bundle(256);
        files.write(3, &full).unwrap();
        assert_eq!(files.read(3), Some(full.clone()));
        assert!(dir.path().join("tile/entries/003").exists());
        for bad in [
            bundle(255),
            bundle(257),
            full[..full.len() - 1].to_vec(),
            vec![0; 600],
        ] {
            files.write(4, &bad).unwrap();
            assert_eq!(files.read(4), None, "{} bytes", bad.len());
        }
        assert_eq!(files.read(5), None, "no file");
    }
}
