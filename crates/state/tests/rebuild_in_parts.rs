//! A ledger directory's projection rebuilt in parts (`ikrar_state::rebuild_directory`): the
//! subjects split into parts each folded from the whole log, the log read through a fresh
//! handle per segment — the same answers as the reference fold in every basis, from the
//! snapshot it saves, and the present's counts with it.

mod history;

use history::*;
use ikrar_core::{Ledger, Record};
use ikrar_state::{reference, Basis, Projection, ResolvedBasis};
use ikrar_testkit::Place;
use proptest::prelude::*;

fn rebuilt_in_parts(
    ops: &[Op],
    sizes: (u64, u64),
    bases: &[(proptest::sample::Index, u8)],
) -> Result<(), TestCaseError> {
    let rt = ikrar_testkit::runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    let numbered: Vec<(usize, Op)> = ops.iter().cloned().enumerate().collect();
    record(&rt, &ledger, &numbered, &mut Context::default());
    // A snapshot of the ledger as it was, to be replaced.
    drop(Projection::open(&ledger).unwrap());
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
    drop(ledger);

    let mut last = (0, 0);
    let reached =
        ikrar_state::rebuild_directory_with(place.path(), sizes.0, sizes.1, &mut |d, t| {
            assert!(d <= t);
            last = (d, t);
        })
        .unwrap();
    prop_assert_eq!(reached, all.len() as u64);
    prop_assert_eq!(last.0, last.1, "progress ends whole");

    let ledger = Ledger::open(place.path()).unwrap();
    let rebuilt = Projection::open(&ledger).unwrap();
    prop_assert!(rebuilt.is_lazy(), "opened from the saved snapshot");
    let now = rebuilt.summary(&Basis::now()).unwrap();
    let basis = ResolvedBasis::new(all.len() as u64, now.as_of);
    prop_assert_eq!(
        &now,
        &ikrar_state::Summary::of(&basis, &reference::fold(&all, &basis).commitments)
    );
    rebuilt.set_streamed_above_bytes(0);
    let resolved = bases_of(&all, bases);
    for basis in &resolved {
        same_answers(&rebuilt, &all, basis)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn a_projection_rebuilt_in_parts_answers_as_the_reference_fold(
        ops in proptest::collection::vec(op(), 1..64),
        part_records in 1u64..40,
        segment_records in 1u64..20,
        bases in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..34), 6),
    ) {
        rebuilt_in_parts(&ops, (part_records, segment_records), &bases)?;
    }
}

/// Between two segments the rebuild lets go of the ledger: another writer may take it and
/// append meanwhile. The rebuild waits for it, and what it appended (beyond the head being
/// rebuilt to) changes nothing of the rebuilt projection, which then follows it as a tail.
#[test]
fn a_rebuild_waits_for_a_writer_that_took_the_ledger_between_segments() {
    use ikrar_testkit::events::{made, status};
    let rt = ikrar_testkit::runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    rt.block_on(ledger.append((0..200).map(made).collect()))
        .unwrap();
    drop(ledger);
    let path = place.path().to_path_buf();
    let reached = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let rt = ikrar_testkit::runtime();
            let mut appended = 0;
            let started = std::time::Instant::now();
            while appended < 20 && started.elapsed() < std::time::Duration::from_secs(20) {
                // The ledger is the rebuild's most of the time: taken when it is free.
                let Ok(ledger) = Ledger::open(&path) else {
                    std::thread::yield_now();
                    continue;
                };
                let change = status(appended % 200, ikrar_core::Status::InProgress, None);
                rt.block_on(ledger.append(vec![change])).unwrap();
                appended += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            appended
        });
        let reached = ikrar_state::rebuild_directory_with(&path, 20, 1, &mut |_, _| {}).unwrap();
        (reached, writer.join().unwrap())
    });
    let (rebuilt_at, appended) = reached;
    assert!(rebuilt_at >= 200);
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(u128::from(ledger.head().tree_size), 200 + appended);
    let projection = Projection::open(&ledger).unwrap();
    assert!(projection.is_lazy());
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
    let basis = ResolvedBasis::new(all.len() as u64, chrono::Utc::now());
    assert_eq!(
        projection
            .list_in(&ikrar_state::ListFilter::default(), &basis)
            .unwrap(),
        reference::fold(&all, &basis).commitments
    );
}
