//! The index of a sled ledger saved as a file (`LEDGER/index`): loaded by the next process,
//! which reads only the log's tail — and never used when it does not match the log (altered,
//! cut short, of another ledger, ahead of the log): the index is then built from the log and
//! every answer is the same.

use ikrar_core::{Error, ExpectedVersion, Ledger, StreamId};
use ikrar_testkit::{made, runtime, status};

fn ledger_of(path: &std::path::Path, from: u128, to: u128) {
    let rt = runtime();
    let ledger = Ledger::open_or_create(path).unwrap();
    rt.block_on(ledger.append((from..to).map(made).collect()))
        .unwrap();
}

/// What the index answers, through the ledger: an append that continues a stream (it must
/// know the stream's version), a repeated id refused, an old event found by its id.
fn answers(path: &std::path::Path, next: u64) -> (bool, u64) {
    let rt = runtime();
    let ledger = Ledger::open(path).unwrap();
    let first = ledger.read(0).unwrap().record;
    assert_eq!(
        ledger
            .find_event(first.event_id)
            .unwrap()
            .unwrap()
            .record
            .position,
        0
    );
    let again = rt.block_on(ledger.append(vec![made(0)]));
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    let stream = StreamId::commitment(ikrar_testkit::cid(0));
    let version = ledger.read_stream(&stream).unwrap().len() as u64 - 1;
    let outcome = rt
        .block_on(ledger.append(vec![status(
            0,
            ikrar_core::Status::InProgress,
            Some(ExpectedVersion::Exact(version)),
        )]))
        .unwrap();
    assert_eq!(outcome.tree_size, next);
    (
        ledger.index_was_loaded(),
        ledger.verify().unwrap().tree_size,
    )
}

#[test]
fn the_saved_index_is_loaded_and_the_tail_read_and_a_bad_one_is_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    ledger_of(&path, 0, 200);
    // The first open builds the index (no file yet) and saves it.
    assert_eq!(answers(&path, 201), (false, 201));
    assert!(path.join("index").is_file());
    // More appended after it was saved: loaded, and the tail read.
    ledger_of(&path, 200, 230);
    assert_eq!(answers(&path, 232), (true, 232));

    let good = std::fs::read(path.join("index")).unwrap();
    // Another ledger's, smaller (its root at its size differs) and larger (ahead of this log).
    let saved_index_of = |events: u128| {
        let other = tempfile::tempdir().unwrap();
        let other_path = other.path().join("l");
        ledger_of(&other_path, 1000, 1000 + events);
        // A second process's first append builds the index, and saves it.
        ledger_of(&other_path, 5000, 5001);
        std::fs::read(other_path.join("index")).unwrap()
    };
    let (foreign, ahead) = (saved_index_of(100), saved_index_of(400));
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let bad: [(&str, Vec<u8>); 5] = [
        ("altered", flipped),
        ("cut short", good[..good.len() - 40].to_vec()),
        ("of another ledger", foreign),
        ("ahead of the log", ahead),
        ("empty", Vec::new()),
    ];
    let mut next: u64 = 233;
    for (what, bytes) in bad {
        std::fs::write(path.join("index"), &bytes).unwrap();
        let (loaded, size) = answers(&path, next);
        assert!(!loaded, "an index file {what} was used");
        assert_eq!(size, next);
        next += 1;
    }
    // Deleted: built again, the same answers.
    std::fs::remove_file(path.join("index")).unwrap();
    assert_eq!(answers(&path, next), (false, next));
}

/// A large append saves the index (`Ledger::save_index`), so the next process loads it rather
/// than scanning the log; a small one after it does not write it again.
#[test]
fn an_append_that_grew_the_ledger_saves_its_index_for_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let rt = runtime();
    {
        let ledger = Ledger::create(&path).unwrap();
        rt.block_on(ledger.append((0..300).map(made).collect()))
            .unwrap();
        assert!(ledger.save_index().unwrap());
        let saved = std::fs::metadata(path.join("index"))
            .unwrap()
            .modified()
            .unwrap();
        rt.block_on(ledger.append(vec![made(300)])).unwrap();
        // One event is not an eighth of the ledger: the file stays as it was.
        assert!(!ledger.save_index().unwrap());
        let now = std::fs::metadata(path.join("index"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(saved, now);
    }
    // Loaded by the next process (the one event after it read from the log's tail).
    assert_eq!(answers(&path, 302), (true, 302));
}
