//! Helpers shared by the core's integration tests.

use std::path::Path;
use std::time::Duration;

/// Opens a ledger's sled database directly, as a tamperer with the files would. sled's lock can
/// outlive a dropped handle for a moment (its background threads let go of it last), so a busy
/// lock is retried for a few seconds.
pub fn open_raw_sled(db_dir: &Path) -> sled::Db {
    for _ in 0..250 {
        match sled::open(db_dir) {
            Ok(db) => return db,
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open {}: {e}", db_dir.display()),
        }
    }
    panic!("{} stayed locked", db_dir.display())
}
