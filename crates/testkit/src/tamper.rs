//! A tamperer's access to a ledger directory: its sled database opened directly, and a stored
//! record rewritten through sled itself, so that sled's own checksums stay valid and only
//! ikrar's checks can tell.

use std::path::{Path, PathBuf};

/// The sled database directory of the ledger directory `ledger`.
pub fn db_dir(ledger: &Path) -> PathBuf {
    ledger.join(ikrar_core::DB_DIR_NAME)
}

/// Opens a ledger's sled database directly, as a tamperer with the files would (retrying
/// sled's lock, which a just-dropped ledger may hold for a moment).
pub fn open_raw_sled(db_dir: &Path) -> sled::Db {
    ikrar_core::open_sled(&sled::Config::new().path(db_dir)).expect("open the sled database")
}

/// Rewrites the stored record at `position` (inside its bundle) through sled itself — the way a
/// tamperer with write access to the files would, keeping sled's own checksums valid.
pub fn rewrite_record(db_dir: &Path, position: u64, edit: impl FnOnce(String) -> String) {
    let db = open_raw_sled(db_dir);
    let log = db.open_tree("log").unwrap();
    let mut key = vec![b'b'];
    key.extend_from_slice(&position.to_be_bytes());
    let (bundle_key, bundle) = log
        .range(&[b'b'][..]..=&key[..])
        .next_back()
        .expect("the record's bundle")
        .unwrap();
    let first = u64::from_be_bytes(bundle_key[1..9].try_into().unwrap());
    let text = String::from_utf8(bundle.to_vec()).unwrap();
    let mut records: Vec<String> = text.split('\n').map(str::to_string).collect();
    let i = (position - first) as usize;
    records[i] = edit(std::mem::take(&mut records[i]));
    log.insert(bundle_key, records.join("\n").as_bytes())
        .unwrap();
    db.flush().unwrap();
}
