//! The chart's status series against summaries: at every point, in every `known_at`, the
//! counts are those a summary with that point as `as_of` gives.

use ikrar_core::{EventData, EventRetracted, InputEvent, Ledger, Moment, Status};
use ikrar_state::{Basis, KnownAt, Projection};
use ikrar_testkit::events::{made, status};

fn at(e: InputEvent, effective: &str) -> InputEvent {
    let mut e = e;
    e.effective = Some(effective.parse().unwrap());
    e
}

#[test]
fn series_counts_equal_summaries_at_each_point_in_each_known_at() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    let mut events = Vec::new();
    for n in 1..=30u128 {
        events.push(made(n));
    }
    for n in 1..=30u128 {
        let s = Status::ALL[(n % 8) as usize];
        let month = 2 + (n % 10);
        events.push(at(
            status(n, s, None),
            &format!("2025-{month:02}-{:02}", 1 + n % 27),
        ));
        if n % 3 == 0 {
            events.push(at(status(n, Status::Broken, None), "2025-12-01"));
        }
    }
    let outcome = rt.block_on(ledger.append(events)).unwrap();
    // A retraction of the first status change: its commitment falls back to what came before.
    let retracted = outcome.event_ids[30];
    let mut r = InputEvent::new(EventData::EventRetracted(EventRetracted {
        event_id: retracted,
    }));
    r.actor = Some("tester".into());
    r.reason = Some("recorded in error".into());
    rt.block_on(ledger.append(vec![r])).unwrap();
    let state = Projection::open(&ledger).unwrap();
    let size = ledger.head().tree_size;
    for known_at in [
        None,
        Some(KnownAt::TreeSize(10)),
        Some(KnownAt::TreeSize(45)),
        Some(KnownAt::TreeSize(size - 1)),
    ] {
        let basis = Basis::new(known_at, Some("2026-01-31".parse::<Moment>().unwrap()));
        let series = state.status_series(&basis, 17).unwrap();
        assert_eq!(series.points.len(), 17);
        assert_eq!(series.points[16], series.basis.as_of);
        for (point, counts) in series.points.iter().zip(&series.counts) {
            let summary = state
                .summary(&Basis::new(
                    Some(KnownAt::TreeSize(series.basis.tree_size)),
                    Some(Moment::Instant(*point)),
                ))
                .unwrap();
            let expected: Vec<u64> = Status::ALL.iter().map(|s| summary.count(*s)).collect();
            assert_eq!(
                counts.to_vec(),
                expected,
                "at {point}, known_at {known_at:?}"
            );
        }
    }
    let empty = state
        .status_series(
            &Basis::new(None, Some("2024-01-01".parse::<Moment>().unwrap())),
            5,
        )
        .unwrap();
    assert!(empty.points.is_empty() && empty.counts.is_empty());
}

#[test]
fn a_page_of_a_light_filter_equals_the_same_slice_of_the_whole_list() {
    use ikrar_state::{ListFilter, Page, Sort};
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    let mut events: Vec<InputEvent> = (1..=40u128).map(made).collect();
    for n in (1..=40u128).step_by(3) {
        events.push(at(status(n, Status::Fulfilled, None), "2025-05-01"));
    }
    rt.block_on(ledger.append(events)).unwrap();
    let state = Projection::open(&ledger).unwrap();
    let mut filters = vec![
        ListFilter::default(),
        ListFilter {
            status: Some(Status::Fulfilled),
            ..ListFilter::default()
        },
        ListFilter {
            party: Some("japan".into()),
            ..ListFilter::default()
        },
        ListFilter {
            party: Some("Korea".into()),
            ..ListFilter::default()
        },
    ];
    for sort in [Sort::Made, Sort::Due, Sort::StatusSince, Sort::Title] {
        filters.push(ListFilter {
            sort,
            ..ListFilter::default()
        });
        filters.push(ListFilter {
            sort,
            status: Some(Status::Announced),
            ..ListFilter::default()
        });
    }
    for filter in filters {
        for basis in [
            Basis::now(),
            Basis::new(Some(KnownAt::TreeSize(30)), None),
            Basis::new(None, Some("2025-04-01".parse::<Moment>().unwrap())),
        ] {
            let all = state.list(&filter, &basis).unwrap();
            for (offset, limit) in [(0, 7), (7, 7), (35, 10), (100, 5)] {
                let page = state
                    .list_page(
                        &filter,
                        Page {
                            offset,
                            limit: Some(limit),
                        },
                        &basis,
                    )
                    .unwrap();
                assert_eq!(page.total, all.len(), "{filter:?}");
                let expected: Vec<_> = all.iter().skip(offset).take(limit).cloned().collect();
                assert_eq!(page.items, expected, "{filter:?} {offset}");
            }
        }
    }
}
