//! Helpers shared by the core's integration tests.

use std::path::Path;

/// Opens a ledger's sled database directly, as a tamperer with the files would (retrying
/// sled's lock, which a just-dropped ledger may hold for a moment).
pub fn open_raw_sled(db_dir: &Path) -> sled::Db {
    ikrar_core::open_sled(&sled::Config::new().path(db_dir)).expect("open the sled database")
}
