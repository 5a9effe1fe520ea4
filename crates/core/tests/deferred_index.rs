//! On sled the in-memory index (a stream's positions, an event id's position) is built when
//! first needed, not at open: a query answered from the projection's snapshot never scans the
//! log. The first append or lookup builds it, with every check an open made.

use ikrar_core::{Error, Ledger};
use ikrar_testkit::tamper::{db_dir, open_raw_sled};
use ikrar_testkit::{made, runtime};

fn ledger_of(events: u128) -> (tempfile::TempDir, std::path::PathBuf) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    rt.block_on(ledger.append((0..events).map(made).collect()))
        .unwrap();
    (dir, path)
}

#[test]
fn reading_a_ledger_does_not_build_its_index_and_the_first_append_does() {
    let rt = runtime();
    let (_dir, path) = ledger_of(300);
    let ledger = Ledger::open(&path).unwrap();
    assert!(!ledger.index_is_built());
    // What needs no index: the head, records, proofs, verify.
    assert_eq!(ledger.head().tree_size, 300);
    assert_eq!(ledger.iter_from(290).count(), 10);
    let proof = ledger.inclusion_proof(7, 300).unwrap();
    assert!(!proof.is_empty());
    assert_eq!(ledger.verify().unwrap().tree_size, 300);
    assert!(!ledger.index_is_built());

    // An append builds it from the whole log: it continues the log, and knows every stream
    // recorded before the open (making commitment 5 again conflicts with its stream).
    let outcome = rt
        .block_on(ledger.append((300..310).map(made).collect()))
        .unwrap();
    assert_eq!(outcome.positions, (300..310).collect::<Vec<_>>());
    assert!(ledger.index_is_built());
    let again = rt.block_on(ledger.append(vec![made(5)]));
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    // And verify now checks the index against the log too.
    assert_eq!(ledger.verify().unwrap().tree_size, 310);
}

#[test]
fn a_gap_in_the_log_is_refused_by_the_first_append_after_open() {
    let rt = runtime();
    let (_dir, path) = ledger_of(100);
    {
        // Remove the bundle that holds positions 32–47.
        let db = open_raw_sled(&db_dir(&path));
        let log = db.open_tree("log").unwrap();
        let mut key = vec![b'b'];
        key.extend_from_slice(&32u64.to_be_bytes());
        assert!(log.remove(key).unwrap().is_some(), "a bundle starts at 32");
        db.flush().unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    let refused = rt.block_on(ledger.append(vec![made(100)]));
    assert!(
        matches!(refused, Err(Error::Integrity { position: 32, .. })),
        "{refused:?}"
    );
    assert_eq!(ledger.head().tree_size, 100, "nothing was written");
    assert!(matches!(ledger.verify(), Err(Error::Integrity { .. })));
}
