//! The fast path ([`Projection`]) against the reference fold, on random histories in random
//! bases. Histories include backdated events, effective times out of order, amendments,
//! meetings and links, and retractions (including retractions of `commitment_made` and
//! `meeting_held`). The persisted projection must answer the same after a reopen and after
//! being deleted and rebuilt.

mod history;

use chrono::Duration;
use history::*;
use ikrar_core::{
    CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted, InputEvent, Ledger, Moment,
    Status,
};
use ikrar_state::reference;
use ikrar_state::{Basis, KnownAt, MeetingFilter, Page, Projection, ResolvedBasis};
use ikrar_testkit::Place;
use proptest::prelude::*;
use uuid::Uuid;

/// Records `ops` in a new ledger at `place` and compares the fast path with the reference fold
/// in every basis, then after a reopen and a rebuild.
fn fast_path_agrees(
    place: &Place,
    ops: &[Op],
    bases: &[(proptest::sample::Index, u8)],
) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = place.path();
    let ledger = Ledger::create(path).unwrap();
    // Open the projection early, so that part of the history arrives by catching up.
    let projection = Projection::open(&ledger).unwrap();
    let mut ctx = Context::default();
    for (i, op) in ops.iter().enumerate() {
        // Rejected events (e.g. a retraction of a retraction) are simply not recorded.
        let id = event_id(i as u8);
        if rt
            .block_on(ledger.append(vec![input(op, id, &ctx)]))
            .is_ok()
        {
            ctx.recorded.push(id);
            if let Op::Make { c, made, .. } = op {
                ctx.made.insert(*c, *made);
            }
        }
        if i == ops.len() / 2 {
            projection.catch_up().unwrap();
        }
    }
    projection.catch_up().unwrap();
    let all = records(&ledger);
    let size = all.len() as u64;
    let mut resolved = Vec::new();
    for (index, as_of_day) in bases {
        let tree_size = index.index(all.len() + 1) as u64;
        // Days 0..30 are the history's; later ones ask about the present.
        let as_of = Moment::Date(day(*as_of_day)).end();
        resolved.push(ResolvedBasis::new(tree_size, as_of));
    }
    resolved.push(ResolvedBasis::new(size, chrono::Utc::now()));
    for basis in &resolved {
        same_answers(&projection, &all, basis)?;
    }

    // The persisted projection answers the same after a reopen, and after a rebuild.
    projection.flush().unwrap();
    drop(projection);
    drop(ledger);
    let ledger = Ledger::open(path).unwrap();
    // Saved at the head, it is read lazily: each commitment and meeting from its own timelines,
    // in every basis, without the rest of the snapshot.
    let lazy = Projection::open(&ledger).unwrap();
    // (A ledger with nothing recorded has no snapshot to read.)
    let on_disk = Projection::dir(&ledger).is_some() && size > 0;
    prop_assert_eq!(lazy.is_lazy(), on_disk);
    for basis in &resolved {
        let expected = reference::fold(&all, basis);
        for c in 0..COMMITMENTS {
            prop_assert_eq!(
                lazy.commitment_in(commitment(c), basis).unwrap(),
                expected.commitment(commitment(c)).cloned()
            );
        }
        let b = Basis::new(
            Some(KnownAt::TreeSize(basis.tree_size)),
            Some(Moment::Instant(basis.as_of)),
        );
        for m in 0..MEETINGS {
            prop_assert_eq!(
                lazy.meeting(meeting(m), &b).unwrap(),
                expected.meetings.get(&meeting(m)).cloned()
            );
        }
    }
    // Ids by prefix, from the directory alone (compared with the whole projection's below).
    let prefixes = ["", "0000", "00000000-0000-0000-0000-00000000c", "f"];
    let lazy_ids: Vec<Vec<Uuid>> = prefixes.iter().map(|p| lazy.ids_with_prefix(p)).collect();
    prop_assert_eq!(lazy.is_lazy(), on_disk);
    // And the present's summary from the counts saved beside the snapshot.
    let now = lazy.summary(&Basis::now()).unwrap();
    let basis = ResolvedBasis::new(size, now.as_of);
    prop_assert_eq!(
        &now,
        &ikrar_state::Summary::of(&basis, &reference::fold(&all, &basis).commitments)
    );
    prop_assert_eq!(lazy.is_lazy(), on_disk);
    drop(lazy);
    let reopened = Projection::open(&ledger).unwrap();
    // Questions about every commitment read the snapshot one timeline at a time, whatever
    // its size (by default only large ones are).
    reopened.set_streamed_above_bytes(0);
    prop_assert_eq!(reopened.reached(), size);
    for basis in &resolved {
        same_answers(&reopened, &all, basis)?;
    }
    // Lists and summaries in any basis are read one timeline at a time, lazily.
    prop_assert_eq!(reopened.is_lazy(), on_disk);
    // Where a snapshot is small, a list reads it whole; the same answers from it.
    reopened.set_streamed_above_bytes(u64::MAX);
    reopened
        .meetings(&MeetingFilter::default(), Page::default(), &Basis::now())
        .unwrap();
    prop_assert!(!reopened.is_lazy(), "a list reads a small snapshot whole");
    for basis in &resolved {
        same_answers(&reopened, &all, basis)?;
    }
    let whole_ids: Vec<Vec<Uuid>> = prefixes
        .iter()
        .map(|p| reopened.ids_with_prefix(p))
        .collect();
    prop_assert_eq!(lazy_ids, whole_ids);
    drop(reopened);
    // A ledger directory keeps its projection on disk: delete it. (A database ledger's
    // projection lives in memory only, so the reopen above already rebuilt it.)
    if let Some(dir) = Projection::dir(&ledger) {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let rebuilt = Projection::open(&ledger).unwrap();
    for basis in &resolved {
        same_answers(&rebuilt, &all, basis)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn the_fast_path_answers_as_the_reference_fold_on_sled(
        ops in proptest::collection::vec(op(), 1..64),
        bases in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..34), 6),
    ) {
        fast_path_agrees(&Place::sled(), &ops, &bases)?;
    }
}

proptest! {
    // Fewer cases: each is a new schema and a few hundred round trips.
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn the_fast_path_answers_as_the_reference_fold_on_postgres(
        ops in proptest::collection::vec(op(), 1..64),
        bases in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..34), 6),
    ) {
        if let Some(place) = Place::postgres_for("fast_path_agrees") {
            fast_path_agrees(&place, &ops, &bases)?;
        }
    }
}

/// A long timeline, with retractions that change entries saved by an earlier snapshot: the
/// reopened projection (loaded from the later snapshot) still answers as the reference.
#[test]
fn long_timelines_reload_from_the_snapshot_with_later_retractions() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    let append = |mut e: InputEvent| {
        let id = Uuid::now_v7();
        e.event_id = Some(id);
        e.actor = Some("tester".into());
        rt.block_on(ledger.append(vec![e])).unwrap();
        id
    };
    let mut recorded = vec![append(InputEvent::new(EventData::CommitmentMade(
        CommitmentMade {
            commitment_id: commitment(0),
            title: "Commitment 0".into(),
            summary: None,
            owner: None,
            parties: vec![],
            themes: vec![],
            made_on: base_day(),
            due: None,
        },
    )))];
    // Effective days never decrease (day i / 3 after 2025-01-01), so that in a basis of day D
    // the winner is the last entry effective by D: retracting it changes the answer.
    for i in 0..150u32 {
        let mut e = InputEvent::new(EventData::CommitmentStatusChanged(
            CommitmentStatusChanged {
                commitment_id: commitment(0),
                status: Status::ALL[(i % 6) as usize],
                label: Some(format!("step {i}")),
            },
        ));
        e.effective = Some(Moment::Date(base_day() + Duration::days(i64::from(i / 3))));
        recorded.push(append(e));
    }
    let projection = Projection::open(&ledger).unwrap();
    assert_eq!(projection.reached(), 151);
    // Withdraw the winner as of day 10 (entry 33, first page) and the last entry (entry 150,
    // third page), after both pages were persisted.
    for target in [33usize, 150] {
        let mut e = InputEvent::new(EventData::EventRetracted(EventRetracted {
            event_id: recorded[target],
        }));
        e.reason = Some("recorded in error".into());
        append(e);
    }
    projection.catch_up().unwrap();
    // Two records past the snapshot of 151 do not call for a new one (an eighth of the log);
    // `flush` saves it anyway.
    projection.flush().unwrap();
    drop(projection);
    let reopened = Projection::open(&ledger).unwrap();
    let all = records(&ledger);
    for (tree_size, as_of_days) in [(151u64, 10i64), (153, 10), (153, 60), (152, 60), (153, 0)] {
        let as_of = base_day() + Duration::days(as_of_days);
        let basis = ResolvedBasis::new(tree_size, Moment::Date(as_of).end());
        same_answers(&reopened, &all, &basis).unwrap();
    }
}

/// A ledger of `commitments` commitments, each made and then changing status `changes` times,
/// in the given party.
fn small_ledger(place: &Place, commitments: u8, changes: u32, party: &str) -> Ledger {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = Ledger::create(place.path()).unwrap();
    for c in 0..commitments {
        let mut events = vec![InputEvent::new(EventData::CommitmentMade(CommitmentMade {
            commitment_id: commitment(c),
            title: format!("Commitment {c}"),
            summary: None,
            owner: None,
            parties: vec![party.into()],
            themes: vec![],
            made_on: base_day(),
            due: None,
        }))];
        for i in 0..changes {
            events.push(InputEvent::new(EventData::CommitmentStatusChanged(
                CommitmentStatusChanged {
                    commitment_id: commitment(c),
                    status: Status::ALL[(i as usize + c as usize) % 6],
                    label: None,
                },
            )));
        }
        for e in &mut events {
            e.actor = Some("tester".into());
        }
        rt.block_on(ledger.append(events)).unwrap();
    }
    ledger
}

fn answers_as_the_reference(projection: &Projection, ledger: &Ledger) {
    let all = records(ledger);
    let size = ledger.head().tree_size;
    for tree_size in [1, size / 2, size] {
        let basis = ResolvedBasis::new(tree_size, Moment::Date(base_day()).end());
        same_answers(projection, &all, &basis).unwrap();
    }
}

/// The snapshot is a cache: one that is damaged, or that belongs to another ledger, is never
/// trusted — the projection is rebuilt from the log and answers as the reference; leftovers of
/// the sled database that held projections before are removed.
#[test]
fn a_damaged_or_foreign_snapshot_is_rebuilt_from_the_log() {
    let (place_a, place_b) = (Place::sled(), Place::sled());
    let a = small_ledger(&place_a, 4, 5, "Japan");
    let b = small_ledger(&place_b, 4, 5, "Korea");
    let dir_a = Projection::dir(&a).unwrap();
    let dir_b = Projection::dir(&b).unwrap();
    drop(Projection::open(&a).unwrap());
    drop(Projection::open(&b).unwrap());
    let snapshot_a = dir_a.join("snapshot");
    let good = std::fs::read(&snapshot_a).expect("a snapshot was saved");
    // A good snapshot is loaded: nothing is left to apply from the log.
    let mut applied = 0;
    let projection = Projection::open_with_progress(&a, &mut |done, _| applied += done).unwrap();
    assert_eq!((applied, projection.reached()), (0, a.head().tree_size));
    answers_as_the_reference(&projection, &a);
    drop(projection);

    // One flipped byte anywhere — the header, a timeline, the directory, the digest: the
    // digests (or the decoding) refuse it, read lazily or whole.
    for at in [30, good.len() / 2, good.len() - 100, good.len() - 1] {
        let mut damaged = good.clone();
        damaged[at] ^= 0x01;
        std::fs::write(&snapshot_a, &damaged).unwrap();
        let projection = Projection::open(&a).unwrap();
        assert_eq!(projection.reached(), a.head().tree_size);
        answers_as_the_reference(&projection, &a);
    }

    // Another ledger's snapshot, of the same size: its root differs, so it is not loaded.
    std::fs::copy(&snapshot_a, dir_b.join("snapshot")).unwrap();
    let projection = Projection::open(&b).unwrap();
    answers_as_the_reference(&projection, &b);
    let summary = projection.summary(&Basis::now()).unwrap();
    assert!(summary.by_party.contains_key("Korea"), "{summary:?}");
    assert!(!summary.by_party.contains_key("Japan"), "{summary:?}");
    drop(projection);
    // b's own snapshot, read lazily, beside the present's counts of a (or damaged ones): the
    // counts are not used, and the summary is b's.
    let present_a = std::fs::read(dir_a.join("present")).expect("counts were saved");
    let mut damaged = std::fs::read(dir_b.join("present")).expect("counts were saved");
    damaged[20] ^= 0x01;
    for present in [present_a, damaged] {
        std::fs::write(dir_b.join("present"), &present).unwrap();
        let projection = Projection::open(&b).unwrap();
        assert!(projection.is_lazy());
        let summary = projection.summary(&Basis::now()).unwrap();
        assert!(summary.by_party.contains_key("Korea"), "{summary:?}");
        assert!(!summary.by_party.contains_key("Japan"), "{summary:?}");
    }

    // Files of the former sled projection are cleared away.
    std::fs::write(dir_a.join("conf"), b"segment_size: 524288").unwrap();
    std::fs::create_dir_all(dir_a.join("blobs")).unwrap();
    let projection = Projection::open(&a).unwrap();
    answers_as_the_reference(&projection, &a);
    assert!(!dir_a.join("conf").exists() && !dir_a.join("blobs").exists());
    assert!(dir_a.join("snapshot").exists());
}
