//! Full tiles kept as files beside a sled ledger, in the tlog-tiles layout
//! (`LEDGER/log/tile/0/x001/234`, `LEDGER/log/tile/entries/x001/234`): `/log/` answers a full
//! hash tile or entry bundle with one file read instead of sled lookups (sixteen values for a
//! bundle), and the directory's full tiles can be served as static files, as tlog-tiles intends
//! (partial tiles and the checkpoint come from `/log/`).
//!
//! The files are a cache of what the ledger holds, never its record: derived from the verified
//! store, written only for full tiles (which never change), each written whole (a temporary
//! file synced, then renamed into place); only files below a watermark this process wrote or
//! checked are served (never one beyond the tree, or from another history: the last file of
//! each kind is compared with the store at start); a file of the wrong shape (a hash tile not
//! 8,192 bytes, a bundle not framing exactly 256 entries) is never served, and a request that
//! finds one writes it again. Deleting the directory
//! loses nothing; clients check every entry against the hash tiles, and the hash tiles against
//! the signed root, in any case. The bundles cost as much disk as the records do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ikrar_core::Ledger;

use crate::path::{TileKind, TilePath, FULL_WIDTH};
use crate::{tiles, Error, Result};

/// Where, inside a ledger directory, the files go (the URL's `/log/`).
pub const TILE_FILES_DIR: &str = "log";

/// Hash tile levels kept as files: level `L` holds subtrees of 256^(L+1) leaves, so level 3
/// starts at 4,294,967,296 events — beyond any ledger here; higher levels come from the store.
const HASH_LEVELS: u8 = 4;

/// Tiles written per step of [`TileFiles::keep_up`]: small enough that shutdown is prompt,
/// large enough that a backfill is not all bookkeeping.
const TILES_PER_STEP: u64 = 64;

/// How often [`keep_writing`] looks for newly filled tiles.
const POLL_MS: u64 = 500;

/// The kinds kept as files, in the order [`TileFiles::keep_up`] writes them.
fn kinds() -> impl Iterator<Item = TileKind> {
    std::iter::once(TileKind::Entries).chain((0..HASH_LEVELS).map(TileKind::Hashes))
}

/// The full tiles of one ledger, as files.
#[derive(Debug)]
pub struct TileFiles {
    root: PathBuf,
    /// Per kind (entries, then hash levels 0, 1, …): every full tile below this index has its
    /// file (learned from the directory on the first step, then kept).
    written_below: [AtomicU64; 1 + HASH_LEVELS as usize],
    scanned: AtomicBool,
}

/// The slot of `kind` in [`TileFiles::written_below`], if it is kept as files.
fn slot(kind: TileKind) -> Option<usize> {
    match kind {
        TileKind::Entries => Some(0),
        TileKind::Hashes(level) if level < HASH_LEVELS => Some(1 + usize::from(level)),
        TileKind::Hashes(_) => None,
    }
}

fn full(kind: TileKind, index: u64) -> TilePath {
    TilePath {
        kind,
        index,
        width: FULL_WIDTH,
    }
}

impl TileFiles {
    /// The files of the sled ledger `ledger` (none for a ledger that is not a directory).
    pub fn beside(ledger: &Ledger) -> Option<TileFiles> {
        ledger
            .path()
            .map(|dir| TileFiles::at(dir.join(TILE_FILES_DIR)))
    }

    /// The files under `root` (the directory that holds `tile/`).
    pub fn at(root: impl Into<PathBuf>) -> TileFiles {
        TileFiles {
            root: root.into(),
            written_below: Default::default(),
            scanned: AtomicBool::new(false),
        }
    }

    /// The directory that holds `tile/…`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, tile: &TilePath) -> PathBuf {
        self.root.join(tile.to_path())
    }

    /// Whether `tile` is one kept as a file: a full tile of a kind kept.
    pub fn keeps(tile: &TilePath) -> bool {
        tile.width == FULL_WIDTH && slot(tile.kind).is_some()
    }

    /// Full tile `tile` from its file, if it is one this process wrote or checked (below the
    /// kind's watermark: never a file beyond the tree, or left from another history) and the
    /// file has a full tile's shape.
    pub fn read(&self, tile: &TilePath) -> Option<Vec<u8>> {
        if !self.expects(tile) {
            return None;
        }
        let bytes = std::fs::read(self.path_of(tile)).ok()?;
        whole(tile.kind, &bytes).then_some(bytes)
    }

    /// Whether `tile` should have its file: a full tile of a kind kept, below the watermark.
    /// A request that finds such a file missing or damaged may write it again.
    pub fn expects(&self, tile: &TilePath) -> bool {
        TileFiles::keeps(tile) && tile.index < self.watermark(tile.kind).load(Ordering::Acquire)
    }

    /// Writes full tile `tile` whole and durably: a temporary file in the same directory (its
    /// own name, removed if anything fails), its data synced, then renamed into place — so a
    /// file found after a crash has all its bytes.
    pub fn write(&self, tile: &TilePath, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let path = self.path_of(tile);
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)?;
        let mut staging = tempfile::Builder::new()
            .prefix(WRITING_PREFIX)
            .tempfile_in(parent)?;
        staging.write_all(bytes)?;
        staging.as_file().sync_data()?;
        staging.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Writes the files of full tiles the ledger holds and the directory lacks, at most
    /// [`TILES_PER_STEP`] of them; answers how many it wrote (0: caught up).
    ///
    /// ```
    /// # fn main() -> Result<(), ikrar_tlog::Error> {
    /// use ikrar_tlog::path::{TileKind, TilePath};
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// let files = ikrar_tlog::tile_files::TileFiles::beside(&ledger).unwrap();
    /// assert_eq!(files.keep_up(&ledger)?, 0, "no full tile yet");
    /// let bundle = TilePath { kind: TileKind::Entries, index: 0, width: 256 };
    /// assert!(files.read(&bundle).is_none());
    /// # Ok(()) }
    /// ```
    pub fn keep_up(&self, ledger: &Ledger) -> Result<u64> {
        let size = ledger.head().tree_size;
        let full_count = |kind: TileKind| match kind {
            TileKind::Entries => size / u64::from(FULL_WIDTH),
            // 256^(L+1) leaves a tile; beyond 2^64 there is none.
            TileKind::Hashes(level) => 1u64
                .checked_shl(8 * (u32::from(level) + 1))
                .map_or(0, |leaves| size / leaves),
        };
        if !self.scanned.swap(true, Ordering::AcqRel) {
            self.scan(ledger, &full_count)?;
        }
        let mut budget = TILES_PER_STEP;
        for kind in kinds() {
            let mark = self.watermark(kind);
            let from = mark.load(Ordering::Acquire);
            let to = full_count(kind).min(from + budget);
            for index in from..to {
                let tile = full(kind, index);
                let bytes = tiles::read(ledger, &tile)?.ok_or_else(|| {
                    Error::Verification(format!(
                        "full tile {} is not in the ledger",
                        tile.to_path()
                    ))
                })?;
                self.write(&tile, &bytes)?;
                mark.store(index + 1, Ordering::Release);
            }
            budget -= to - from;
        }
        Ok(TILES_PER_STEP - budget)
    }

    /// Learns where each kind's files end. Files are written in order, so the first missing
    /// one marks where to resume (a stat per tile, about 80,000 at 10,000,000 events, once per
    /// process). The last file of each kind is compared with the store: a directory kept while
    /// the database was restored or replaced holds another history, and is removed whole.
    fn scan(&self, ledger: &Ledger, full_count: &dyn Fn(TileKind) -> u64) -> Result<()> {
        remove_unfinished(&self.root)?;
        let mut marks = Vec::new();
        for kind in kinds() {
            let (mut first_missing, end) = (0, full_count(kind));
            while first_missing < end && self.present(&full(kind, first_missing)) {
                first_missing += 1;
            }
            if first_missing > 0 {
                let last = full(kind, first_missing - 1);
                let on_file = std::fs::read(self.path_of(&last)).ok();
                if on_file.is_none() || on_file != tiles::read(ledger, &last)? {
                    tracing::warn!(
                        dir = %self.root.display(),
                        tile = %last.to_path(),
                        "the tile files are not this ledger's: removing them, to be written again"
                    );
                    std::fs::remove_dir_all(&self.root)?;
                    return Ok(());
                }
            }
            marks.push((kind, first_missing));
        }
        for (kind, mark) in marks {
            self.watermark(kind).store(mark, Ordering::Release);
        }
        Ok(())
    }

    fn watermark(&self, kind: TileKind) -> &AtomicU64 {
        &self.written_below[slot(kind).unwrap_or(0)]
    }

    /// Whether the file of `tile` is there with a plausible size (cheaper than reading it): a
    /// hash tile's exact size, at least the length prefixes of a bundle.
    fn present(&self, tile: &TilePath) -> bool {
        let wanted = match tile.kind {
            TileKind::Hashes(_) => 32 * u64::from(FULL_WIDTH),
            TileKind::Entries => 2 * u64::from(FULL_WIDTH),
        };
        std::fs::metadata(self.path_of(tile)).is_ok_and(|m| match tile.kind {
            TileKind::Hashes(_) => m.len() == wanted,
            TileKind::Entries => m.len() >= wanted,
        })
    }
}

/// The name prefix of a tile file being written (before its rename into place).
const WRITING_PREFIX: &str = ".ikrar-tile-";

/// Removes the files a process killed while writing a tile left (`.ikrar-tile-*`, never
/// renamed into place), anywhere under `dir`: once per process, before the first write. A walk
/// of the directories (at 10,000,000 events, about 80,000 files in a few hundred of them).
fn remove_unfinished(dir: &std::path::Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_unfinished(&entry.path())?;
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(WRITING_PREFIX)
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Whether `bytes` has the shape of a full tile of `kind`: 256 hashes, or exactly 256 framed
/// entries (a file cut short or padded does not).
fn whole(kind: TileKind, bytes: &[u8]) -> bool {
    if let TileKind::Hashes(_) = kind {
        return bytes.len() == 32 * usize::from(FULL_WIDTH);
    }
    tiles::split_bundle(bytes).is_ok_and(|entries| entries.len() == usize::from(FULL_WIDTH))
}

/// Keeps the files up with the ledger until `down` turns true: a backfill first, then each
/// tile soon after it fills. Failures are logged and retried (the files are only a cache;
/// `/log/` reads the store meanwhile).
pub async fn keep_writing(
    files: Arc<TileFiles>,
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
                tracing::warn!(error = %e, dir = %files.root.display(), "writing tile files");
                0
            }
            Err(e) => {
                tracing::error!(error = %e, "the tile file writer stopped");
                return;
            }
        };
        if wrote == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(POLL_MS)) => {}
                // The server is gone (its sender dropped) as surely as when it says so.
                changed = down.changed() => if changed.is_err() { return },
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
    fn only_a_whole_full_tile_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = TileFiles::at(dir.path());
        let (b3, b4) = (full(TileKind::Entries, 3), full(TileKind::Entries, 4));
        let good = bundle(256);
        files.write(&b3, &good).unwrap();
        assert_eq!(
            files.read(&b3),
            None,
            "above the watermark: not known to be this ledger's"
        );
        files
            .watermark(TileKind::Entries)
            .store(6, Ordering::Release);
        files
            .watermark(TileKind::Hashes(1))
            .store(3, Ordering::Release);
        assert_eq!(files.read(&b3), Some(good.clone()));
        assert!(dir.path().join("tile/entries/003").exists());
        for bad in [
            bundle(255),
            bundle(257),
            good[..good.len() - 1].to_vec(),
            vec![0; 600],
        ] {
            files.write(&b4, &bad).unwrap();
            assert_eq!(files.read(&b4), None, "{} bytes", bad.len());
        }
        assert_eq!(files.read(&full(TileKind::Entries, 5)), None, "no file");

        let h = full(TileKind::Hashes(1), 2);
        files.write(&h, &[7; 8192]).unwrap();
        assert_eq!(files.read(&h), Some(vec![7; 8192]));
        assert!(dir.path().join("tile/1/002").exists());
        files.write(&h, &[7; 8191]).unwrap();
        assert_eq!(files.read(&h), None);
        let partial = TilePath { width: 9, ..h };
        assert!(!TileFiles::keeps(&partial));
        assert!(!TileFiles::keeps(&full(TileKind::Hashes(HASH_LEVELS), 0)));
    }

    #[test]
    fn a_tile_write_a_kill_cut_short_is_removed_before_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ikrar_core::Ledger::create(dir.path().join("l")).unwrap();
        let files = TileFiles::beside(&ledger).unwrap();
        let nested = files.root.join("tile/entries/x001");
        std::fs::create_dir_all(&nested).unwrap();
        let left = nested.join(format!("{WRITING_PREFIX}a1b2c3"));
        std::fs::write(&left, b"half a bundle").unwrap();
        let kept = nested.join("002");
        std::fs::write(&kept, b"not ours to judge here").unwrap();
        assert_eq!(files.keep_up(&ledger).unwrap(), 0);
        assert!(!left.exists(), "the unfinished write is removed");
        assert!(kept.exists(), "only unfinished writes are");
    }
}
