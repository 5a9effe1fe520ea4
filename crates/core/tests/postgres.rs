//! What only a PostgreSQL ledger has: several independent writers on one ledger, other
//! writers' commits reaching subscribers, tampering through SQL, and versioned migrations.
//! (Everything both backends share is in the conformance suite of `ledger.rs` and `model.rs`.)
//!
//! Each test needs `IKRAR_TEST_POSTGRES` (see `ikrar-testkit`); without it, it says so and
//! checks nothing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use ikrar_core::{Error, ExpectedVersion, InputEvent, Ledger, Status, StreamId};
use ikrar_testkit::{cid, made, run_sql, runtime, Place};
use uuid::Uuid;

/// `commitment_status_changed` of commitment `n` to in progress, expecting `expected`.
fn status(n: u128, expected: ExpectedVersion) -> InputEvent {
    ikrar_testkit::status(n, Status::InProgress, Some(expected))
}

/// The `search_path` schema in a place's URL, to reach its tables with plain SQL.
fn schema_of(place: &Place) -> String {
    place
        .location()
        .rsplit("search_path%3D")
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn two_independent_writers_on_one_ledger_lose_and_duplicate_nothing() {
    let Some(place) = Place::postgres_for("two_independent_writers") else {
        return;
    };
    const WRITERS: u128 = 2;
    const TASKS_PER_WRITER: u128 = 6;
    const APPENDS_PER_TASK: u64 = 12;
    let rt = runtime();
    let first = Ledger::create(place.path()).unwrap();
    // A second, independent handle: its own pool, writer thread, index and follower, as a
    // second process would have. The database alone serialises the two.
    let second = Ledger::open(place.path()).unwrap();
    let tasks_total = WRITERS * TASKS_PER_WRITER;
    rt.block_on(first.append((0..=tasks_total).map(made).collect()))
        .unwrap();

    // A subscriber on the second handle must see every record, including the first's.
    let feed = second.subscribe(0);

    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for t in 0..tasks_total {
            let ledger = if t % WRITERS == 0 {
                first.clone()
            } else {
                second.clone()
            };
            handles.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..APPENDS_PER_TASK {
                    // Its own stream, with the exact version expected.
                    let out = ledger
                        .append(vec![status(1 + t, ExpectedVersion::Exact(i))])
                        .await
                        .unwrap();
                    acked.push(out.event_ids[0]);
                    // The shared stream, read then written; a conflict means the other
                    // writer (or a sibling task) got there first: read again.
                    loop {
                        let current = ledger
                            .read_stream(&StreamId::commitment(cid(0)))
                            .unwrap()
                            .len() as u64
                            - 1;
                        match ledger
                            .append(vec![status(0, ExpectedVersion::Exact(current))])
                            .await
                        {
                            Ok(out) => {
                                acked.push(out.event_ids[0]);
                                break;
                            }
                            Err(Error::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                acked
            }));
        }
        let mut acked = Vec::new();
        for h in handles {
            acked.extend(h.await.unwrap());
        }
        acked
    });

    let total = (tasks_total + 1) as u64 + results.len() as u64;
    for ledger in [&first, &second] {
        // The follower publishes the other handle's commits within its poll interval.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ledger.head().tree_size < total && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(ledger.head().tree_size, total);
        let mut seen = HashSet::new();
        let mut versions: HashMap<StreamId, u64> = HashMap::new();
        for (i, r) in ledger.iter_from(0).enumerate() {
            let r = r.unwrap().record;
            assert_eq!(r.position, i as u64, "positions are gapless");
            let v = versions.entry(r.stream.clone()).or_insert(0);
            assert_eq!(r.version, *v, "versions are gapless");
            *v += 1;
            assert!(seen.insert(r.event_id), "no event twice");
        }
        for id in &results {
            assert!(seen.contains(id), "every acknowledged event is there");
        }
        assert_eq!(
            versions[&StreamId::commitment(cid(0))],
            1 + tasks_total as u64 * APPENDS_PER_TASK
        );
        assert_eq!(ledger.verify().unwrap().root, first.head().root);
    }
    assert_eq!(first.head(), second.head());

    let fed: Vec<u64> = rt.block_on(async {
        feed.take(total as usize)
            .map(|r| r.unwrap().record.position)
            .collect()
            .await
    });
    assert_eq!(fed, (0..total).collect::<Vec<_>>());
}

#[test]
fn a_record_changed_through_sql_is_found_by_verify() {
    let Some(place) = Place::postgres_for("a_record_changed_through_sql") else {
        return;
    };
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    rt.block_on(ledger.append((0..40).map(made).collect()))
        .unwrap();
    ledger.verify().unwrap();
    let base = ikrar_testkit::postgres_url().unwrap();
    let schema = schema_of(&place);
    // Same length, other content: only the hash can tell.
    run_sql(
        &base,
        &format!(
            "UPDATE {schema}.ikrar_records \
             SET record = convert_to(replace(convert_from(record, 'UTF8'), 'Commitment 17', 'Commitment 71'), 'UTF8') \
             WHERE position = 17"
        ),
    );
    match ledger.verify() {
        Err(Error::Integrity { position, .. }) => assert_eq!(position, 17),
        other => panic!("expected an integrity failure at 17, got {other:?}"),
    }
    drop(ledger);

    // A deleted row: the log has a gap, which opening finds.
    run_sql(
        &base,
        &format!("DELETE FROM {schema}.ikrar_records WHERE position = 5"),
    );
    match Ledger::open(place.path()) {
        Err(Error::Integrity { position, .. }) => assert_eq!(position, 5),
        Err(e) => panic!("expected an integrity failure at 5, got {e}"),
        Ok(_) => panic!("expected an integrity failure at 5, got an open ledger"),
    }
}

#[test]
fn the_constraints_refuse_what_the_writer_never_writes() {
    let Some(place) = Place::postgres_for("the_constraints_refuse") else {
        return;
    };
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    let out = rt.block_on(ledger.append(vec![made(1)])).unwrap();
    let base = ikrar_testkit::postgres_url().unwrap();
    let schema = schema_of(&place);
    // A second version 0 of the same stream, or the same event id again, at a new position.
    for (what, stream, id) in [
        (
            "a repeated stream version",
            format!("commitment/{}", cid(1)),
            Uuid::from_u128(9),
        ),
        (
            "a repeated event id",
            "commitment/x".into(),
            out.event_ids[0],
        ),
    ] {
        let statement = format!(
            "INSERT INTO {schema}.ikrar_records (position, stream, version, event_id, record) \
             VALUES (1, '{stream}', 0, '{id}', '\\x00')"
        );
        let refused = std::panic::catch_unwind(|| run_sql(&base, &statement));
        assert!(refused.is_err(), "{what} was accepted");
    }
    let migrations = format!(
        "SELECT 1/(count(*) = 1)::int FROM {schema}.ikrar_schema_migrations WHERE version = 1"
    );
    run_sql(&base, &migrations);
}

#[test]
fn a_schema_from_a_newer_build_is_refused_not_misread() {
    let Some(place) = Place::postgres_for("a_schema_from_a_newer_build") else {
        return;
    };
    drop(Ledger::create(place.path()).unwrap());
    let base = ikrar_testkit::postgres_url().unwrap();
    run_sql(
        &base,
        &format!(
            "INSERT INTO {}.ikrar_schema_migrations (version) VALUES (99)",
            schema_of(&place)
        ),
    );
    match Ledger::open(place.path()) {
        Err(Error::Storage { what: message, .. }) => {
            assert!(message.contains("version 99"), "{message}")
        }
        Err(e) => panic!("expected a storage error naming the version, got {e}"),
        Ok(_) => panic!("a ledger with an unknown schema was opened"),
    }
}

#[test]
fn opening_and_verifying_while_another_writer_appends() {
    let Some(place) = Place::postgres_for("opening_while_another_writer_appends") else {
        return;
    };
    let rt = runtime();
    let writer = Ledger::create(place.path()).unwrap();
    rt.block_on(writer.append(vec![made(0)])).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appending = {
        let (writer, stop) = (writer.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = runtime();
            let mut version = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                rt.block_on(writer.append(vec![status(0, ExpectedVersion::Exact(version))]))
                    .unwrap();
                version += 1;
            }
            version
        })
    };
    // Each open reads the head, then the records, while commits land in between: later
    // records are not damage, and a verify of the open ledger checks the head it started from.
    for _ in 0..8 {
        let reader = Ledger::open(place.path()).unwrap();
        let report = reader.verify().unwrap();
        assert!(report.tree_size >= 1);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let appended = appending.join().unwrap();
    assert!(appended > 0);
    assert_eq!(writer.verify().unwrap().tree_size, 1 + appended);
}
