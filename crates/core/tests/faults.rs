//! What a failed commit leaves behind on sled (SPEC §9 faults): writes of a group commit that
//! was never acknowledged — records beyond the head, tiles rewritten longer — are removed when
//! the ledger opens, and reported; nothing acknowledged is ever removed.

use ikrar_core::Ledger;
use ikrar_testkit::tamper::{db_dir, open_raw_sled};
use ikrar_testkit::{made, runtime};

/// Writes, as a commit that failed after some of its writes reached the disk would: a bundle
/// of records beyond the head, and a tile rewritten with hashes beyond the head.
fn leave_a_failed_commits_writes(ledger_dir: &std::path::Path, tree_size: u64) {
    let db = open_raw_sled(&db_dir(ledger_dir));
    let log = db.open_tree("log").unwrap();
    let mut bundle_key = vec![b'b'];
    bundle_key.extend_from_slice(&tree_size.to_be_bytes());
    log.insert(
        bundle_key,
        &b"{\"position\":99}\n{\"never\":\"acknowledged\"}"[..],
    )
    .unwrap();
    let mut tile_key = vec![b'h', 0];
    tile_key.extend_from_slice(&0u64.to_be_bytes());
    let mut tile = log.get(&tile_key).unwrap().unwrap().to_vec();
    tile.extend_from_slice(&[7u8; 64]);
    log.insert(tile_key, tile).unwrap();
    db.flush().unwrap();
}

/// A closed ledger of five events: its directory (keep it), its path and its root.
fn five_events() -> (tempfile::TempDir, std::path::PathBuf, ikrar_core::Hash) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    rt.block_on(ledger.append((0..5).map(made).collect()))
        .unwrap();
    let root = ledger.head().root;
    (dir, path, root)
}

#[test]
fn writes_of_an_unacknowledged_commit_are_discarded_at_open_and_reported() {
    let rt = runtime();
    let (_dir, path, root) = five_events();
    leave_a_failed_commits_writes(&path, 5);

    // A check does not change the ledger: it reports it whole (what lies beyond was never
    // acknowledged) and leaves the writes for the next open.
    let report = Ledger::verify_at(&path, &mut |_| {}).unwrap();
    assert_eq!((report.tree_size, report.root), (5, root));

    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.discarded_at_open(), 2);
    assert_eq!(ledger.head().tree_size, 5);
    assert_eq!(ledger.verify().unwrap().root, root);
    // Appends continue where the acknowledged log ends.
    let outcome = rt
        .block_on(ledger.append((5..8).map(made).collect()))
        .unwrap();
    assert_eq!(outcome.positions, vec![5, 6, 7]);
    assert_eq!(ledger.verify().unwrap().tree_size, 8);
    drop(ledger);
    let reopened = Ledger::open(&path).unwrap();
    assert_eq!(reopened.discarded_at_open(), 0);
}

#[test]
fn records_beyond_the_head_are_kept_as_evidence_when_the_head_file_says_more_was_acknowledged() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    {
        let ledger = Ledger::create(&path).unwrap();
        rt.block_on(ledger.append((0..5).map(made).collect()))
            .unwrap();
    }
    leave_a_failed_commits_writes(&path, 5);
    // The head file claims more than the log's head: something acknowledged is missing, and
    // nothing may be thrown away.
    let head_file = path.join("head");
    let mut bytes = std::fs::read(&head_file).unwrap();
    bytes[8..16].copy_from_slice(&9u64.to_be_bytes());
    std::fs::write(&head_file, bytes).unwrap();
    assert!(matches!(
        Ledger::open(&path),
        Err(ikrar_core::Error::Integrity { .. })
    ));
    let db = open_raw_sled(&db_dir(&path));
    let log = db.open_tree("log").unwrap();
    let mut bundle_key = vec![b'b'];
    bundle_key.extend_from_slice(&5u64.to_be_bytes());
    assert!(
        log.get(bundle_key).unwrap().is_some(),
        "the evidence is kept"
    );
}

/// A snapshot sled began and never finished — cut short by a full disk while it recovered, or
/// by a kill before its rename — is removed before sled opens: sled would read it as its
/// newest snapshot, fail its checksum and call the whole database corrupt.
#[test]
fn an_unfinished_snapshot_is_not_read() {
    let (_dir, path, root) = five_events();
    // Named after the highest log position, so that it sorts after every finished snapshot.
    let unfinished = db_dir(&path).join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&unfinished, b"a snapshot cut short by a full disk").unwrap();

    let report = Ledger::verify_at(&path, &mut |_| {}).unwrap();
    assert_eq!((report.tree_size, report.root), (5, root));
    assert!(!unfinished.exists(), "the unfinished snapshot is removed");
    std::fs::write(&unfinished, b"another").unwrap();
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.verify().unwrap().root, root);
    assert!(!unfinished.exists());
}
