//! Helpers shared by the core's integration tests.

use std::path::Path;

use chrono::NaiveDate;
use ikrar_core::{CommitmentMade, EventData, InputEvent};
use uuid::Uuid;

/// Opens a ledger's sled database directly, as a tamperer with the files would (retrying
/// sled's lock, which a just-dropped ledger may hold for a moment).
pub fn open_raw_sled(db_dir: &Path) -> sled::Db {
    ikrar_core::open_sled(&sled::Config::new().path(db_dir)).expect("open the sled database")
}

/// Rewrites the stored record at `position` (inside its bundle) through sled itself — the way a
/// tamperer with write access to the files would, keeping sled's own checksums valid.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
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

/// A two-worker runtime, as the tests drive the ledger from.
#[allow(dead_code)]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Commitment id number `n`.
#[allow(dead_code)]
pub fn cid(n: u128) -> Uuid {
    Uuid::from_u128(0x0194_a1c2_0000_7000_8000_0000_0000_0000 + n)
}

/// `commitment_made` of commitment `n`, recorded by `tester`.
#[allow(dead_code)]
pub fn made(n: u128) -> InputEvent {
    let mut e = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
        commitment_id: cid(n),
        title: format!("Commitment {n}"),
        summary: None,
        owner: Some("Ministry of Foreign Affairs".into()),
        parties: vec!["Japan".into()],
        themes: vec![],
        made_on: NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
        due: None,
    }));
    e.actor = Some("tester".into());
    e
}
