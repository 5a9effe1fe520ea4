//! A projection whose snapshot is behind the ledger's head follows the log's tail lazily: the
//! snapshot is not read whole, every answer is the reference fold's in every basis (before
//! the tail, within it, after it), the present's counts are carried forward, and a tail an
//! eighth of the ledger long is saved into a snapshot at the head.

mod history;

use history::*;
use ikrar_core::{InputEvent, Ledger, Record};
use ikrar_state::{reference, Basis, KnownAt, MeetingFilter, Page, Projection, ResolvedBasis};
use ikrar_testkit::events::{cid, made, status};
use ikrar_testkit::Place;
use proptest::prelude::*;
use uuid::Uuid;

/// The position a snapshot file reflects, from its header.
fn snapshot_position(ledger: &Ledger) -> Option<u64> {
    let bytes = std::fs::read(Projection::dir(ledger)?.join("snapshot")).ok()?;
    Some(u64::from_be_bytes(bytes.get(12..20)?.try_into().ok()?))
}

fn tail_followed(
    ops: &[Op],
    cuts: (proptest::sample::Index, proptest::sample::Index),
    bases: &[(proptest::sample::Index, u8)],
) -> Result<(), TestCaseError> {
    let rt = ikrar_testkit::runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    let numbered: Vec<(usize, Op)> = ops.iter().cloned().enumerate().collect();
    // Three parts: in the snapshot, in the tail when a process opens it, appended after.
    let (a, b) = (cuts.0.index(ops.len() + 1), cuts.1.index(ops.len() + 1));
    let (first, second) = (a.min(b), a.max(b));
    let mut ctx = Context::default();
    record(&rt, &ledger, &numbered[..first], &mut ctx);
    let saved = ledger.head().tree_size;
    let projection = Projection::open(&ledger).unwrap();
    projection.flush().unwrap();
    drop(projection);
    record(&rt, &ledger, &numbered[first..second], &mut ctx);

    let lazy = Projection::open(&ledger).unwrap();
    lazy.set_streamed_above_bytes(0);
    let on_disk = saved > 0;
    prop_assert_eq!(lazy.is_lazy(), on_disk);
    prop_assert_eq!(lazy.reached(), ledger.head().tree_size);
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
    for basis in &bases_of(&all, bases) {
        same_answers(&lazy, &all, basis)?;
    }
    prop_assert_eq!(lazy.is_lazy(), on_disk, "nothing read the snapshot whole");

    // Appended while it is open: followed again.
    record(&rt, &ledger, &numbered[second..], &mut ctx);
    lazy.catch_up().unwrap();
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
    let resolved = bases_of(&all, bases);
    for basis in &resolved {
        same_answers(&lazy, &all, basis)?;
    }
    prop_assert_eq!(lazy.is_lazy(), on_disk);
    lazy.flush().unwrap();
    drop(lazy);

    // Another process: the same answers, from what the first saved or from the tail again.
    let again = Projection::open(&ledger).unwrap();
    let now = again.summary(&Basis::now()).unwrap();
    let basis = ResolvedBasis::new(all.len() as u64, now.as_of);
    prop_assert_eq!(
        &now,
        &ikrar_state::Summary::of(&basis, &reference::fold(&all, &basis).commitments)
    );
    // Read whole (a small snapshot, for a list): the tail folded in from the log.
    again.set_streamed_above_bytes(u64::MAX);
    again
        .meetings(&MeetingFilter::default(), Page::default(), &Basis::now())
        .unwrap();
    prop_assert!(!again.is_lazy());
    for basis in &resolved {
        same_answers(&again, &all, basis)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn a_projection_behind_the_head_follows_the_tail_as_the_reference_fold(
        ops in proptest::collection::vec(op(), 1..64),
        cuts in (any::<proptest::sample::Index>(), any::<proptest::sample::Index>()),
        bases in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..34), 6),
    ) {
        tail_followed(&ops, cuts, &bases)?;
    }
}

/// A short tail after a large snapshot: followed without reading the snapshot whole, the
/// present's counts carried forward (the summary needs no snapshot at all), and the snapshot
/// left where it was; once the tail is an eighth of the ledger, saved at the head.
#[test]
fn a_short_tail_is_followed_and_a_long_one_saved_at_the_head() {
    let rt = ikrar_testkit::runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    rt.block_on(ledger.append((0..400).map(made).collect()))
        .unwrap();
    let projection = Projection::open(&ledger).unwrap();
    projection.flush().unwrap();
    drop(projection);
    assert_eq!(snapshot_position(&ledger), Some(400));

    // A status change, a new commitment, and the retraction of a snapshot's event.
    let retracted = ledger.iter_from(7).next().unwrap().unwrap().record.event_id;
    let retraction = InputEvent::from_json(&format!(
        r#"{{"type":"event_retracted","actor":"kim","reason":"in error",
            "data":{{"event_id":"{retracted}"}}}}"#
    ))
    .unwrap();
    let tail: Vec<InputEvent> = vec![
        status(3, ikrar_core::Status::Fulfilled, None),
        made(1_000),
        retraction,
    ];
    rt.block_on(ledger.append(tail)).unwrap();
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();

    let lazy = Projection::open(&ledger).unwrap();
    assert!(lazy.is_lazy());
    assert_eq!(lazy.reached(), 403);
    assert_eq!(
        snapshot_position(&ledger),
        Some(400),
        "a short tail is not saved"
    );
    let now = chrono::Utc::now();
    let expected = reference::fold(&all, &ResolvedBasis::new(403, now));
    for i in [3, 7, 1_000, 5] {
        assert_eq!(
            lazy.commitment(cid(i), &Basis::now()).unwrap(),
            expected.commitment(cid(i)).cloned(),
            "commitment {i}"
        );
    }
    assert!(lazy.commitment(cid(7), &Basis::now()).unwrap().is_none());
    // Before the tail, as known then.
    let then = Basis::new(Some(KnownAt::TreeSize(400)), None);
    assert!(lazy.commitment(cid(7), &then).unwrap().is_some());
    assert!(lazy.commitment(cid(1_000), &then).unwrap().is_none());
    // The counts were carried forward: with the snapshot gone, the present's summary is still
    // answered lazily, and is the reference's.
    std::fs::remove_file(Projection::dir(&ledger).unwrap().join("snapshot")).unwrap();
    let summary = lazy.summary(&Basis::now()).unwrap();
    assert!(lazy.is_lazy(), "answered from the carried counts");
    let basis = ResolvedBasis::new(403, summary.as_of);
    assert_eq!(
        summary,
        ikrar_state::Summary::of(&basis, &reference::fold(&all, &basis).commitments)
    );
    assert_eq!(summary.total, 400);
    drop(lazy);

    // Saved again whole, then a tail of an eighth: saved at the head by the catch-up.
    let projection = Projection::open(&ledger).unwrap();
    projection.flush().unwrap();
    drop(projection);
    let changes: Vec<InputEvent> = (0..60)
        .map(|i| status(i, ikrar_core::Status::InProgress, None))
        .collect();
    rt.block_on(ledger.append(changes)).unwrap();
    let lazy = Projection::open(&ledger).unwrap();
    assert!(lazy.is_lazy());
    assert_eq!(snapshot_position(&ledger), Some(463), "saved at the head");
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
    let basis = ResolvedBasis::new(463, chrono::Utc::now());
    assert_eq!(
        lazy.list_in(&ikrar_state::ListFilter::default(), &basis)
            .unwrap(),
        reference::fold(&all, &basis).commitments
    );
    assert_eq!(
        lazy.ids_with_prefix(&cid(1_000).to_string()),
        vec![cid(1_000)]
    );
    let unknown = Uuid::from_u128(u128::MAX);
    assert!(lazy.commitment(unknown, &Basis::now()).unwrap().is_none());
}

/// Two catch-ups of one lazy projection at once (a server's background one and a query's):
/// whichever applies a record, the present's counts carried forward are the reference's —
/// one that did not apply every record since it began carries nothing.
#[test]
fn concurrent_catch_ups_carry_the_counts_of_every_record() {
    let rt = ikrar_testkit::runtime();
    for round in 0..6u128 {
        let place = Place::sled();
        let ledger = Ledger::create(place.path()).unwrap();
        rt.block_on(ledger.append((0..300).map(made).collect()))
            .unwrap();
        drop(Projection::open(&ledger).unwrap());
        let lazy = Projection::open(&ledger).unwrap();
        assert!(lazy.is_lazy());
        // Several chunks of the catch-up's size, touching different commitments.
        for chunk in 0..3u128 {
            let changes: Vec<InputEvent> = (0..1_100u128)
                .map(|i| {
                    let s = ikrar_core::Status::ALL[((i / 100 + chunk + round) % 8) as usize];
                    // Each chunk its own hundred commitments.
                    status(chunk * 100 + i % 100, s, None)
                })
                .collect();
            rt.block_on(ledger.append(changes)).unwrap();
        }
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| lazy.catch_up().unwrap());
            }
        });
        let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
        let summary = lazy.summary(&Basis::now()).unwrap();
        let basis = ResolvedBasis::new(all.len() as u64, summary.as_of);
        assert_eq!(
            summary,
            ikrar_state::Summary::of(&basis, &reference::fold(&all, &basis).commitments),
            "round {round}"
        );
    }
}
