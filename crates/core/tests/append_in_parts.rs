//! `AppendCheck`: an append checked in parts holds only for a ledger nothing else appends to
//! meanwhile — a part checked after the ledger moved is refused, never checked against
//! positions that now belong to other events.

use ikrar_core::{Error, InputEvent, Ledger};
use ikrar_testkit::{made, runtime};

#[test]
fn a_part_checked_after_the_ledger_moved_is_refused() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let events: Vec<InputEvent> = (0..4).map(made).collect();
    let reread = |tag: u64| -> Result<InputEvent, Error> { Ok(events[tag as usize].clone()) };
    let mut check = ledger.check_in_parts();
    let first = check.check_part(&events[..2], &[0, 1], &reread).unwrap();
    assert_eq!(first.positions, vec![0, 1]);

    // Another writer appends meanwhile.
    rt.block_on(ledger.append(vec![made(99)])).unwrap();
    let refused = check.check_part(&events[2..], &[2, 3], &reread);
    assert!(
        matches!(&refused, Err(Error::Closed { reason }) if reason.contains("changed")),
        "{refused:?}"
    );
    assert_eq!(ledger.head().tree_size, 1, "a check writes nothing");
}
