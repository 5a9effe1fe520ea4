//! Tiles and entry bundles against a computation from the tlog-tiles spec alone (SHA-256 and
//! the tile formula, no ikrar tree code), and the record limit: 65,535 bytes round-trip through
//! an entry bundle, 65,536 are refused with nothing written.

mod common;

use ikrar_core::{InputEvent, Ledger};
use ikrar_tlog::path::{TileKind, TilePath};
use ikrar_tlog::tiles;
use sha2::{Digest, Sha256};

fn leaf(record: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(record);
    h.finalize().into()
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// MTH of a power-of-two run of hashes.
fn mth(hashes: &[[u8; 32]]) -> [u8; 32] {
    if hashes.len() == 1 {
        return hashes[0];
    }
    let (l, r) = hashes.split_at(hashes.len() / 2);
    node(&mth(l), &mth(r))
}

#[test]
fn tiles_and_bundles_match_the_spec_formula() {
    let dir = tempfile::tempdir().unwrap();
    // 256·2 + 7: two full level-0 tiles, a partial one, and a partial level-1 tile of width 2.
    let n = 256 * 2 + 7;
    let ledger = common::ledger_of(&dir.path().join("l"), n as u128);
    let mut records = Vec::new();
    ledger
        .for_each_record_bytes(0, n, &mut |r| records.push(r.to_vec()))
        .unwrap();
    let leaves: Vec<[u8; 32]> = records.iter().map(|r| leaf(r)).collect();
    let get = |p: &str| tiles::read(&ledger, &TilePath::parse(p).unwrap()).unwrap();

    let t0 = get("tile/0/000").unwrap();
    assert_eq!(t0, leaves[..256].concat());
    assert_eq!(get("tile/0/001").unwrap(), leaves[256..512].concat());
    assert_eq!(get("tile/0/002.p/7").unwrap(), leaves[512..519].concat());
    assert_eq!(
        get("tile/0/002.p/3").unwrap(),
        leaves[512..515].concat(),
        "a prefix"
    );
    assert!(
        get("tile/0/002").is_none(),
        "no full tile before it is full"
    );
    assert!(get("tile/0/002.p/8").is_none(), "nothing beyond the tree");
    let l1 = get("tile/1/000.p/2").unwrap();
    assert_eq!(l1, [mth(&leaves[..256]), mth(&leaves[256..512])].concat());
    assert!(get("tile/1/000.p/3").is_none());
    assert!(
        get("tile/2/000.p/1").is_none(),
        "level 2 is empty below 65,536 leaves"
    );

    let bundle = get("tile/entries/001").unwrap();
    let entries = tiles::split_bundle(&bundle).unwrap();
    assert_eq!(entries.len(), 256);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(*e, records[256 + i].as_slice());
    }
    let partial = get("tile/entries/002.p/7").unwrap();
    assert_eq!(tiles::split_bundle(&partial).unwrap().len(), 7);
    assert!(get("tile/entries/002").is_none());
    assert_eq!(
        TilePath::parse("tile/entries/002.p/7").unwrap().kind,
        TileKind::Entries
    );
}

/// A commitment whose recorded form is exactly `bytes` long (the summary pads it).
fn event_of_size(ledger_dir: &std::path::Path, bytes: usize) -> InputEvent {
    let make = |pad: usize| {
        InputEvent::from_json(&format!(
            r#"{{"type":"commitment_made","actor":"t","event_id":"0194a1c2-7f00-7000-8000-00000000beef",
            "data":{{"commitment_id":"0194a1c2-7f00-7000-8000-00000000cafe",
            "title":"Big","parties":["P"],"made_on":"2025-01-16","summary":"{}"}}}}"#,
            "x".repeat(pad)
        ))
        .unwrap()
    };
    // Measure the recorded form once with a small summary, in a scratch ledger.
    let scratch = Ledger::create(ledger_dir.join("scratch")).unwrap();
    common::runtime()
        .block_on(scratch.append(vec![make(10)]))
        .unwrap();
    let len = scratch.read(0).unwrap().bytes.len();
    make(10 + bytes - len)
}

#[test]
fn the_record_limit_is_what_an_entry_bundle_frames() {
    assert_eq!(ikrar_core::RECORD_BYTES_MAX, 65_535);
    let dir = tempfile::tempdir().unwrap();
    let big = event_of_size(dir.path(), 65_535);
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    common::runtime()
        .block_on(ledger.append(vec![big]))
        .unwrap();
    assert_eq!(ledger.read(0).unwrap().bytes.len(), 65_535);
    let bundle = tiles::entry_bundle(&ledger, 0, 1).unwrap().unwrap();
    assert_eq!(&bundle[..2], &[0xff, 0xff]);
    let entries = tiles::split_bundle(&bundle).unwrap();
    assert_eq!(entries, vec![ledger.read(0).unwrap().bytes.as_slice()]);

    let too_big = event_of_size(&dir.path().join("again"), 65_536);
    let other = Ledger::create(dir.path().join("l2")).unwrap();
    let refused = common::runtime().block_on(other.append(vec![too_big]));
    match refused {
        Err(ikrar_core::Error::Validation { rule, .. }) => {
            assert!(rule.contains("65536 bytes"), "{rule}");
            assert!(rule.contains("65535"), "{rule}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(other.head().tree_size, 0, "nothing written");
}
