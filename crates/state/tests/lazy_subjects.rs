//! A projection read lazily finds each subject by its id *and* its kind: commitments and
//! meetings are separate streams, so one id may name both, and a lazy read answers as a whole
//! one does.

use ikrar_core::{EventData, InputEvent, Ledger, MeetingHeld, Moment};
use ikrar_state::{Basis, Projection};
use ikrar_testkit::events::{cid, made};

#[test]
fn a_commitment_and_a_meeting_of_one_id_are_both_found_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    // Commitment 1, commitment 2, and a meeting whose id is commitment 1's, naming commitment 2.
    let mut held = InputEvent::new(EventData::MeetingHeld(MeetingHeld {
        meeting_id: cid(1),
        title: "Summit".into(),
        held_on: Moment::Date("2025-02-01".parse().unwrap()),
        location: None,
        participants: vec![],
        commitment_ids: vec![cid(2)],
        outcomes: vec![],
    }));
    held.actor = Some("tester".into());
    rt.block_on(ledger.append(vec![made(1), made(2), held]))
        .unwrap();

    let whole = Projection::open(&ledger).unwrap();
    let now = Basis::now();
    let expected = (
        whole.commitment(cid(1), &now).unwrap(),
        whole.meeting(cid(1), &now).unwrap(),
        whole.commitment(cid(2), &now).unwrap(),
    );
    assert!(expected.0.is_some() && expected.1.is_some());
    assert_eq!(expected.2.as_ref().unwrap().meetings, vec![cid(1)]);
    whole.flush().unwrap();
    drop(whole);

    // Asked in either order, from a fresh lazy projection each time.
    for meeting_first in [false, true] {
        let lazy = Projection::open(&ledger).unwrap();
        assert!(lazy.is_lazy());
        let (commitment, meeting) = if meeting_first {
            let m = lazy.meeting(cid(1), &now).unwrap();
            (lazy.commitment(cid(1), &now).unwrap(), m)
        } else {
            let c = lazy.commitment(cid(1), &now).unwrap();
            (c, lazy.meeting(cid(1), &now).unwrap())
        };
        assert_eq!(commitment, expected.0);
        assert_eq!(meeting, expected.1);
        assert_eq!(lazy.commitment(cid(2), &now).unwrap(), expected.2);
        assert!(lazy.is_meeting(cid(1)));
        assert!(!lazy.is_meeting(cid(2)));
        assert_eq!(lazy.ids_with_prefix(&cid(1).to_string()), vec![cid(1)]);
        assert!(lazy.is_lazy(), "nothing read the snapshot whole");
    }
}

/// A lazy projection is a bounded read cache of its snapshot: asked about more commitments
/// than it holds at most, it answers each as a whole projection does, stays lazy, and never
/// holds more than its bound.
#[test]
fn a_lazy_projection_asked_about_many_commitments_holds_a_bounded_number() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    let n = ikrar_state::LAZY_TIMELINES_MAX as u128 + 50;
    rt.block_on(ledger.append((0..n).map(made).collect()))
        .unwrap();
    let whole = Projection::open(&ledger).unwrap();
    let now = Basis::now();
    let expected: Vec<_> = (0..n)
        .map(|i| whole.commitment(cid(i), &now).unwrap())
        .collect();
    whole.flush().unwrap();
    drop(whole);

    let lazy = Projection::open(&ledger).unwrap();
    assert!(lazy.is_lazy());
    // Twice round: the second time every one is read again after the cache was emptied.
    for round in 0..2 {
        for i in 0..n {
            let got = lazy.commitment(cid(i), &now).unwrap();
            assert!(got.is_some());
            assert_eq!(got, expected[i as usize], "commitment {i}, round {round}");
            assert!(lazy.timelines_held() <= ikrar_state::LAZY_TIMELINES_MAX);
        }
    }
    assert!(lazy.is_lazy(), "nothing read the snapshot whole");
}

/// A summary in a past basis (outside the present's counts) from a lazy projection: its
/// snapshot read one timeline at a time, the same counts as a whole projection's, and the
/// projection still lazy after.
#[test]
fn a_summary_in_a_past_basis_is_read_one_timeline_at_a_time() {
    use ikrar_core::{ExpectedVersion, Status};
    use ikrar_state::KnownAt;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    rt.block_on(ledger.append((0..40).map(made).collect()))
        .unwrap();
    let statuses = [Status::InProgress, Status::AtRisk, Status::Fulfilled];
    for (round, status) in statuses.into_iter().enumerate() {
        let changes = (0..40)
            .filter(|i| i % (round as u128 + 2) == 0)
            .map(|i| ikrar_testkit::events::status(i, status, None::<ExpectedVersion>))
            .collect();
        rt.block_on(ledger.append(changes)).unwrap();
    }
    let whole = Projection::open(&ledger).unwrap();
    let bases: Vec<Basis> = [0u64, 40, 50, 60, 70]
        .into_iter()
        .map(|n| Basis::new(Some(KnownAt::TreeSize(n)), None))
        .chain([
            Basis::new(None, Some(Moment::Date("2024-01-01".parse().unwrap()))),
            Basis::now(),
        ])
        .collect();
    // Compared without `as_of`, which a basis without one takes from the clock.
    let counts = |s: ikrar_state::Summary| {
        let mut v = serde_json::to_value(s).unwrap();
        v.as_object_mut().unwrap().remove("as_of");
        v
    };
    let expected: Vec<_> = bases
        .iter()
        .map(|b| counts(whole.summary(b).unwrap()))
        .collect();
    assert_ne!(expected[1], expected[4], "the bases differ");
    whole.flush().unwrap();
    drop(whole);

    let lazy = Projection::open(&ledger).unwrap();
    // Streamed whatever the snapshot's size (by default only large ones are).
    lazy.set_streamed_above_bytes(0);
    assert!(lazy.is_lazy());
    for (basis, expected) in bases.iter().zip(&expected) {
        assert_eq!(&counts(lazy.summary(basis).unwrap()), expected, "{basis:?}");
    }
    assert!(lazy.is_lazy(), "nothing read the snapshot whole");
    assert!(lazy.timelines_held() == 0, "no timeline is kept");
}

/// Lists from a lazy projection: a page with a light filter (status, party; any order) folds
/// each timeline light, any other filter (theme, owner, search, due dates) folds each whole
/// with the meetings that name it — the snapshot read one timeline at a time either way, the
/// same lists, pages, diffs, meetings and status series as a whole projection's, in past
/// bases too, and still lazy.
#[test]
fn lists_are_read_one_timeline_at_a_time() {
    use ikrar_core::Status;
    use ikrar_state::{KnownAt, ListFilter, Page, Sort};
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    let parties = [r#"["Japan"]"#, r#"["Korea","Japan"]"#, "[]"];
    let made: Vec<InputEvent> = (0..30u128)
        .map(|i| {
            // Titles that tie in pairs, so that ties must keep the recorded order.
            let json = format!(
                r#"{{"type":"commitment_made","actor":"kim","data":{{"commitment_id":"{}","title":"Summit {}","parties":{},"owner":"Ministry {}","themes":["theme {}"],"summary":"{}","made_on":"2025-0{}-1{}"{}}}}}"#,
                cid(i),
                (29 - i) / 2,
                parties[(i % 3) as usize],
                i % 4,
                i % 5,
                if i % 3 == 0 { "trade and energy" } else { "culture" },
                1 + i % 4,
                i % 7,
                if i % 2 == 0 { format!(r#","due":"2025-1{}-01""#, i % 3) } else { String::new() },
            );
            InputEvent::from_json(&json).unwrap()
        })
        .collect();
    rt.block_on(ledger.append(made)).unwrap();
    let mut held = InputEvent::new(EventData::MeetingHeld(MeetingHeld {
        meeting_id: cid(1000),
        title: "Summit".into(),
        held_on: Moment::Date("2025-02-01".parse().unwrap()),
        location: None,
        participants: vec![],
        commitment_ids: vec![cid(2), cid(5), cid(9)],
        outcomes: vec![],
    }));
    held.actor = Some("tester".into());
    rt.block_on(ledger.append(vec![held])).unwrap();
    for (round, status) in [Status::InProgress, Status::AtRisk].into_iter().enumerate() {
        let changes = (0..30)
            .filter(|i| i % (round as u128 + 2) == 0)
            .map(|i| ikrar_testkit::events::status(i, status, None))
            .collect();
        rt.block_on(ledger.append(changes)).unwrap();
    }
    let sorts = [
        Sort::Recorded,
        Sort::Made,
        Sort::Due,
        Sort::StatusSince,
        Sort::Title,
    ];
    let filters: Vec<ListFilter> = sorts
        .into_iter()
        .flat_map(|sort| {
            [
                ListFilter {
                    sort,
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    status: Some(Status::InProgress),
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    party: Some("korea".into()),
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    theme: Some("Theme 2".into()),
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    owner: Some("ministry 1".into()),
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    search: Some("energ".into()),
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    due_before: Some("2025-11-15".parse().unwrap()),
                    ..Default::default()
                },
                ListFilter {
                    sort,
                    overdue: true,
                    ..Default::default()
                },
            ]
        })
        .collect();
    let pages = [
        Page {
            offset: 0,
            limit: None,
        },
        Page {
            offset: 0,
            limit: Some(7),
        },
        Page {
            offset: 5,
            limit: Some(4),
        },
        Page {
            offset: 40,
            limit: Some(4),
        },
    ];
    let at = |known: Option<u64>| {
        Basis::new(
            known.map(KnownAt::TreeSize),
            Some(Moment::Date("2099-01-01".parse().unwrap())),
        )
    };
    let bases = [at(Some(30)), at(Some(46)), at(None)];
    let diff_between = |p: &Projection| {
        p.diff(
            Some(KnownAt::TreeSize(50)),
            Moment::Date("2025-01-01".parse().unwrap()),
            Moment::Date("2099-01-01".parse().unwrap()),
        )
        .unwrap()
    };
    let answers = |p: &Projection| {
        let mut pages_got = Vec::new();
        let mut lists = Vec::new();
        for basis in &bases {
            for filter in &filters {
                for page in &pages {
                    pages_got.push(p.list_page(filter, *page, basis).unwrap());
                }
                lists.push(p.list(filter, basis).unwrap());
            }
        }
        let meetings: Vec<_> = bases
            .iter()
            .map(|b| {
                p.meetings(&ikrar_state::MeetingFilter::default(), Page::default(), b)
                    .unwrap()
            })
            .collect();
        let series: Vec<_> = bases
            .iter()
            .map(|b| p.status_series(b, 9).unwrap())
            .collect();
        (pages_got, lists, diff_between(p), meetings, series)
    };
    let whole = Projection::open(&ledger).unwrap();
    let expected = answers(&whole);
    assert!(
        expected.0.iter().any(|l| l.total > 0 && l.total < 30),
        "the filters filter"
    );
    assert!(
        expected.1.iter().flatten().any(|c| !c.meetings.is_empty()),
        "meetings name commitments"
    );
    whole.flush().unwrap();
    drop(whole);

    let lazy = Projection::open(&ledger).unwrap();
    // Streamed whatever the snapshot's size (by default only large ones are).
    lazy.set_streamed_above_bytes(0);
    assert!(lazy.is_lazy());
    let got = answers(&lazy);
    assert!(lazy.is_lazy(), "nothing read the snapshot whole");
    for (i, (got, expected)) in got.0.iter().zip(&expected.0).enumerate() {
        assert_eq!(got, expected, "page {i}");
    }
    for (i, (got, expected)) in got.1.iter().zip(&expected.1).enumerate() {
        assert_eq!(got, expected, "list {i}");
    }
    assert_eq!(got.2, expected.2);
    assert_eq!(got.3, expected.3);
    assert!(got.3.iter().any(|m| m.total == 1), "the meeting is listed");
    assert_eq!(got.4, expected.4);
    drop(lazy);
    // A small snapshot is read whole by the first list, and answers the same from memory.
    let small = Projection::open(&ledger).unwrap();
    assert!(small.is_lazy());
    let got = answers(&small);
    assert!(!small.is_lazy(), "a small snapshot is read whole");
    assert!(got == expected);
}
