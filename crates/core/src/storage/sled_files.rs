//! The files of a sled ledger directory around sled itself, and opening sled: the lock file, a
//! database found missing, the snapshots sled never finished, and sled's open with its lock
//! retried and its panics contained.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::Error;
use crate::storage::on_sled::{HeadFile, DB_DIR_NAME, LOCK_FILE_NAME};

/// Opens a sled database whose directory this process is entitled to (it holds the ledger's
/// lock). sled's own lock can still be held for a moment by the background threads of a handle
/// this process just dropped, so a busy lock is retried briefly (up to 5 s) before giving up.
pub fn open_sled(config: &sled::Config) -> Result<sled::Db, Error> {
    const LOCK_RETRY_MS: u64 = 20;
    const LOCK_WAIT_MAX_MS: u64 = 5_000;
    let mut waited_ms = 0;
    loop {
        // sled panics on some damage it finds while recovering (a data file cut short, say):
        // that is damage, named as such, never a crash of the caller.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()))
            .map_err(|panic| Error::Integrity {
                position: 0,
                what: format!(
                    "sled cannot recover its database ({}): its files are damaged",
                    panic_message(panic.as_ref())
                ),
            })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && waited_ms < LOCK_WAIT_MAX_MS =>
            {
                std::thread::sleep(std::time::Duration::from_millis(LOCK_RETRY_MS));
                waited_ms += LOCK_RETRY_MS;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The words of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// A directory without its database whose head file records acknowledged events is a ledger
/// whose database was lost, not a place for a new one (nor "no ledger"): an integrity failure.
/// A head file of an empty tree is what a creation killed before its rename leaves.
pub(super) fn database_missing(dir: &Path) -> Result<(), Error> {
    if dir.join(DB_DIR_NAME).is_dir() {
        return Ok(());
    }
    match HeadFile::read(dir) {
        Ok(Some(head)) if head.tree_size > 0 => Err(Error::Integrity {
            position: 0,
            what: format!(
                "the head file records {} events but the database is missing ({} was deleted \
                 or moved); restore it from a backup",
                head.tree_size,
                dir.join(DB_DIR_NAME).display()
            ),
        }),
        // No head file, an empty tree, or one that does not read (a creation killed while
        // writing it): nothing says events were recorded here.
        _ => Ok(()),
    }
}

/// The suffix sled gives a snapshot file while it writes it; it renames the file once whole.
const SNAPSHOT_WRITING_SUFFIX: &str = ".generating";

/// Removes the snapshot files sled began and never finished (`snap.*.generating`), before sled
/// opens its database; the caller holds the ledger's lock, so no process is writing one.
///
/// sled recovers from its newest snapshot file and counts an unfinished one among them: a
/// snapshot write cut short — by a full disk while recovering, or a kill before the rename —
/// left a file sled then read, failed its checksum and called the whole database corrupt. An
/// unfinished snapshot holds nothing the log does not: without it sled recovers from the
/// previous snapshot and the log after it, as it does after any crash. Test: the full-disk
/// fault test (`tests/e2e/full_disk.rs`,
/// `a_full_disk_loses_nothing_acknowledged_and_the_ledger_works_again_once_space_is_freed`),
/// and `crates/core/tests/faults.rs` `an_unfinished_snapshot_is_not_read`. (`verify_at`, a
/// check that changes nothing else, removes them too: they are never part of the ledger.)
pub(super) fn remove_unfinished_snapshots(db_dir: &Path) -> Result<(), Error> {
    let entries = match std::fs::read_dir(db_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::Io(e)),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(SNAPSHOT_WRITING_SUFFIX) {
            tracing::warn!(file = %entry.path().display(), "removing a snapshot sled never finished");
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Takes the ledger directory's lock file: one process at a time owns a sled ledger.
pub(super) fn take_lock(path: &Path) -> Result<File, Error> {
    let lock_path = path.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.to_path_buf(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io(e)),
    }
}

/// Free space kept on a sled ledger's filesystem beyond what a commit's own bytes need: sled
/// writes in segments of 512 KiB, rewrites pages it compacts and writes snapshots of its page
/// table, none of which a commit's size tells. A commit that would leave less is refused
/// before sled writes anything — sled that runs out of space mid-write leaves a state this
/// process cannot write on (see `SledBackend::write_failed`), while a refused commit leaves
/// the ledger taking appends again the moment space is freed.
pub(super) const FREE_SPACE_RESERVE_BYTES: u64 = 16 * 1024 * 1024;

/// The environment variable that sets the reserve in MiB instead of
/// [`FREE_SPACE_RESERVE_BYTES`]: for a ledger on a very small filesystem, or `0` to turn the
/// check off and let sled meet a full disk itself (which then needs a reopen).
pub(crate) const DISK_RESERVE_MIB_VAR: &str = "IKRAR_DISK_RESERVE_MIB";

/// The reserve: [`DISK_RESERVE_MIB_VAR`] if set to a number, else the default; `None` when
/// set to 0 (no check).
fn reserve_bytes() -> Option<u64> {
    static RESERVE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *RESERVE.get_or_init(|| {
        match std::env::var(DISK_RESERVE_MIB_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(0) => None,
            Some(mib) => Some(mib.saturating_mul(1024 * 1024)),
            None => Some(FREE_SPACE_RESERVE_BYTES),
        }
    })
}

/// How much a commit writing `batch_bytes` needs free beyond `reserve_bytes`: sled's log and
/// its compaction may each write the batch again, and the head file and tiles follow it.
fn free_space_needed_bytes(reserve_bytes: u64, batch_bytes: u64) -> u64 {
    reserve_bytes.saturating_add(batch_bytes.saturating_mul(4))
}

/// Refuses a commit of `batch_bytes` when the filesystem holding `dir` has less free than
/// [`free_space_needed_bytes`] (for an unprivileged writer: ext4 keeps a share for root, which
/// sled must not count on). Where free space cannot be read, the commit goes ahead and a full
/// disk is met as sled meets it.
pub(super) fn check_free_space(dir: &Path, batch_bytes: u64) -> Result<(), Error> {
    let Some(reserve) = reserve_bytes() else {
        return Ok(());
    };
    let needed_bytes = free_space_needed_bytes(reserve, batch_bytes);
    let Some(available_bytes) = free_space_bytes(dir) else {
        return Ok(());
    };
    if available_bytes >= needed_bytes {
        return Ok(());
    }
    Err(Error::DiskFull {
        path: dir.to_path_buf(),
        available_bytes,
        needed_bytes,
    })
}

#[cfg(unix)]
fn free_space_bytes(dir: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(not(unix))]
fn free_space_bytes(_dir: &Path) -> Option<u64> {
    None
}
