//! The faults of a PostgreSQL deployment, through the library: the ledger's connections
//! killed (`pg_terminate_backend`) while appends commit. Every append answers — success or a
//! storage error, never a panic, a hang or an integrity failure — and an append that failed,
//! sent again with its event ids, is recorded exactly once whether or not its commit had
//! landed. (The server restarted under load and a promoted synchronous standby are in
//! `tests/e2e/postgres_faults.rs`, with the real binary.)
//!
//! Needs `IKRAR_TEST_POSTGRES` (see `ikrar-testkit`); without it, it says so and checks nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikrar_core::{Error, InputEvent, Ledger, Status};
use ikrar_testkit::{made, run_sql, runtime, Place};
use uuid::Uuid;

/// A status change of commitment `n` with an event id of its own, so that it can be sent
/// again and be found by that id.
fn step(n: u128) -> InputEvent {
    let mut e = ikrar_testkit::status(n, Status::InProgress, None);
    e.event_id = Some(Uuid::now_v7());
    e
}

#[test]
fn connections_killed_during_commits_lose_nothing_and_a_retry_by_id_records_each_event_once() {
    let Some(place) = Place::postgres_for("connections_killed_during_commits") else {
        return;
    };
    const TASKS: u128 = 4;
    const APPENDS_PER_TASK: usize = 60;
    // The ledger's own connections carry this name, so that only they are killed.
    let application = format!("ikrar_killed_{}", Uuid::now_v7().simple());
    let url = format!("{}&application_name={application}", place.location());
    let rt = runtime();
    let ledger = Ledger::create(&url).unwrap();
    rt.block_on(ledger.append((0..TASKS).map(made).collect()))
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (done, kills) = (done.clone(), kills.clone());
        let base = ikrar_testkit::postgres_url().unwrap();
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !done.load(Ordering::Relaxed) {
                run_sql(
                    &base,
                    &format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = '{application}'"
                    ),
                );
                kills.fetch_add(1, Ordering::Relaxed);
                round += 1;
                // Irregular gaps, so that kills land in every phase of a commit.
                std::thread::sleep(Duration::from_millis(5 + (round * 7) % 23));
            }
        })
    };

    let started = Instant::now();
    let outcomes = rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    let mut failed = Vec::new();
                    for _ in 0..APPENDS_PER_TASK {
                        let event = step(t);
                        let answer = tokio::time::timeout(
                            Duration::from_secs(30),
                            ledger.append(vec![event.clone()]),
                        )
                        .await
                        .expect("an append answers within 30 s, killed connection or not");
                        match answer {
                            Ok(out) => acked.push((out.event_ids[0], out.positions[0])),
                            Err(e @ Error::Storage { .. }) => failed.push((event, e.to_string())),
                            Err(other) => panic!("not a storage error: {other:?}"),
                        }
                    }
                    (acked, failed)
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await.unwrap());
        }
        all
    });
    done.store(true, Ordering::Relaxed);
    killer.join().unwrap();
    let acked: Vec<(Uuid, u64)> = outcomes.iter().flat_map(|o| o.0.clone()).collect();
    let failed: Vec<(InputEvent, String)> = outcomes.into_iter().flat_map(|o| o.1).collect();
    eprintln!(
        "{} appends in {:.2} s under {} kill rounds: {} acknowledged, {} storage errors (e.g. {:?})",
        TASKS as usize * APPENDS_PER_TASK,
        started.elapsed().as_secs_f64(),
        kills.load(Ordering::Relaxed),
        acked.len(),
        failed.len(),
        failed.first().map(|f| &f.1)
    );
    assert!(
        !failed.is_empty(),
        "no append failed: the kills missed every commit"
    );

    // Sent again with the same ids: each is recorded once, at its first position if it had
    // landed. A connection the kills left in the pool may fail one more time.
    let mut retried = Vec::new();
    let mut had_landed = 0;
    for (event, _) in failed {
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            match rt.block_on(ledger.append(vec![event.clone()])) {
                Ok(out) => break out,
                Err(e @ Error::Storage { .. }) if attempts < 5 => {
                    eprintln!("retry {attempts}: {e}")
                }
                Err(e) => panic!("the retry of {:?} failed: {e:?}", event.event_id),
            }
        };
        had_landed += usize::from(out.new_events == 0);
        retried.push((out.event_ids[0], out.positions[0]));
    }
    eprintln!(
        "retried {}: {had_landed} had landed before their error (found by id)",
        retried.len()
    );

    // A fresh handle sees every event exactly once, each acknowledged one where its answer
    // said, and the ledger verifies.
    let reopened = Ledger::open(&url).unwrap();
    let total = TASKS as u64 + (TASKS as u64) * APPENDS_PER_TASK as u64;
    assert_eq!(reopened.head().tree_size, total);
    let mut at: HashMap<Uuid, u64> = HashMap::new();
    for record in reopened.iter_from(0) {
        let record = record.unwrap().record;
        assert!(
            at.insert(record.event_id, record.position).is_none(),
            "{} twice",
            record.event_id
        );
    }
    for (id, position) in acked.iter().chain(&retried) {
        assert_eq!(at.get(id), Some(position), "{id}");
    }
    assert_eq!(reopened.verify().unwrap().tree_size, total);
    assert_eq!(ledger.verify().unwrap().tree_size, total);
}

/// The case the random kills above rarely hit, made certain: a commit that landed but whose
/// answer was lost. A server waiting for a synchronous standby that never comes has committed
/// locally; killing the backend then answers the appender with an error although the records
/// are in the table. Sent again with its id, the event is found where it landed, not doubled.
#[test]
fn a_commit_that_landed_before_its_connection_was_killed_is_found_by_id_on_retry() {
    let Some(cluster) = ikrar_testkit::cluster::Cluster::new("a_commit_that_landed") else {
        return;
    };
    cluster.start();
    let application = "ikrar_landed";
    let url = format!("{}?application_name={application}", cluster.url());
    let rt = runtime();
    let ledger = Ledger::create(&url).unwrap();
    rt.block_on(ledger.append(vec![made(1)])).unwrap();

    // From now on every COMMIT waits, after it is durable here, for a standby named nobody.
    // (ALTER SYSTEM cannot share a statement string: that would be a transaction block.)
    run_sql(
        &cluster.url(),
        "ALTER SYSTEM SET synchronous_standby_names = 'nobody'",
    );
    run_sql(&cluster.url(), "SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(200));
    let event = step(1);
    let waiting = {
        let ledger = ledger.clone();
        let event = event.clone();
        rt.spawn(async move { ledger.append(vec![event]).await })
    };
    // Once the commit waits for the standby, kill its connection.
    let base = cluster.url();
    let answer = rt.block_on(async move {
        let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let started = Instant::now();
        loop {
            let killed = client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND wait_event = 'SyncRep'",
                    &[&application],
                )
                .await
                .unwrap();
            if !killed.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no commit waited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("the killed commit answers")
            .unwrap()
    });
    let message = match answer {
        Err(e @ Error::Storage { .. }) => e.to_string(),
        other => panic!("not a storage error: {other:?}"),
    };
    eprintln!("the killed commit answered: {message}");
    run_sql(
        &cluster.url(),
        "ALTER SYSTEM RESET synchronous_standby_names",
    );
    run_sql(&cluster.url(), "SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(200));

    // It had landed: the retry finds it at position 1 and writes nothing.
    let mut attempts = 0;
    let out = loop {
        attempts += 1;
        match rt.block_on(ledger.append(vec![event.clone()])) {
            Ok(out) => break out,
            Err(e @ Error::Storage { .. }) if attempts < 5 => eprintln!("retry {attempts}: {e}"),
            Err(e) => panic!("the retry failed: {e:?}"),
        }
    };
    assert_eq!((out.positions[0], out.new_events), (1, 0), "{out:?}");
    let reopened = Ledger::open(&url).unwrap();
    assert_eq!(reopened.verify().unwrap().tree_size, 2);
}
