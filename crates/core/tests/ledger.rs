//! The durable log end to end: appends, rules, durability, integrity, concurrency. The tests
//! named in `on_both_backends!` form the conformance suite: each runs on sled and on PostgreSQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ikrar_core::merkle::reference_root;
use ikrar_core::moment::truncate_to_micros;
use ikrar_core::{
    Clock, Error, EventData, EventRetracted, ExpectedVersion, Hash, InputEvent, Ledger,
    LedgerOptions, Status, StreamId,
};
use ikrar_testkit::tamper::rewrite_record;
use ikrar_testkit::{cid, made, on_both_backends, runtime, status, Place};
use uuid::Uuid;

fn leaves(ledger: &Ledger) -> Vec<Hash> {
    ledger
        .iter_from(0)
        .map(|r| Hash::leaf(&r.unwrap().bytes))
        .collect()
}

fn stored_root_matches_a_from_scratch_computation_at_every_size(place: &Place) {
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    // Batches of varying size, so that group boundaries fall everywhere in the tiles.
    let mut n = 0u128;
    for batch in [1usize, 2, 3, 7, 64, 1, 200, 255, 256, 257, 13] {
        let events: Vec<_> = (0..batch)
            .map(|_| {
                n += 1;
                made(n)
            })
            .collect();
        rt.block_on(ledger.append(events)).unwrap();
    }
    let leaves = leaves(&ledger);
    assert_eq!(leaves.len() as u64, ledger.head().tree_size);
    for size in 0..=leaves.len() {
        assert_eq!(
            ledger.root_at(size as u64).unwrap(),
            reference_root(&leaves[..size]),
            "size {size}"
        );
    }
    assert_eq!(ledger.head().root, reference_root(&leaves));
    assert_eq!(ledger.verify().unwrap().tree_size, leaves.len() as u64);
}

fn an_acknowledged_append_survives_closing_and_reopening(place: &Place) {
    let rt = runtime();
    let path = place.path();
    let ledger = Ledger::create(path).unwrap();
    let outcome = rt
        .block_on(ledger.append(vec![
            made(1),
            status(1, Status::InProgress, Some(ExpectedVersion::Exact(0))),
        ]))
        .unwrap();
    assert_eq!(outcome.positions, vec![0, 1]);
    let head = ledger.head();
    let first = ledger.read(0).unwrap();
    drop(ledger);

    let ledger = Ledger::open(path).unwrap();
    assert_eq!(ledger.head(), head);
    assert_eq!(ledger.read(0).unwrap(), first);
    let stream = ledger.read_stream(&StreamId::commitment(cid(1))).unwrap();
    assert_eq!(stream.len(), 2);
    assert_eq!(ledger.verify().unwrap().root, head.root);
    // And the ledger goes on from where it was.
    let more = rt
        .block_on(ledger.append(vec![status(
            1,
            Status::Fulfilled,
            Some(ExpectedVersion::Exact(1)),
        )]))
        .unwrap();
    assert_eq!(more.positions, vec![2]);
}

#[test]
fn a_second_opener_gets_a_locked_error_that_names_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let _ledger = Ledger::create(&path).unwrap();
    match Ledger::open(&path) {
        Err(Error::Locked { lock, .. }) => assert!(lock.ends_with("ikrar.lock")),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("expected Locked, got an open ledger"),
    }
}

fn create_refuses_to_overwrite_and_open_refuses_a_missing_ledger(place: &Place) {
    let path = place.path();
    assert!(matches!(Ledger::open(path), Err(Error::NoLedger { .. })));
    drop(Ledger::create(path).unwrap());
    assert!(matches!(
        Ledger::create(path),
        Err(Error::AlreadyExists { .. })
    ));
}

fn an_append_is_all_or_nothing(place: &Place) {
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    // The third event refers to a commitment that does not exist.
    let err = rt
        .block_on(ledger.append(vec![made(1), made(2), status(3, Status::Broken, None)]))
        .unwrap_err();
    match err {
        Error::Validation { index, field, .. } => {
            assert_eq!(index, 2);
            assert_eq!(field, "data.commitment_id");
        }
        other => panic!("{other}"),
    }
    assert_eq!(ledger.head().tree_size, 0);
    // Events see the earlier events of the same append.
    let ok = rt
        .block_on(ledger.append(vec![
            made(3),
            status(3, Status::Broken, Some(ExpectedVersion::Exact(0))),
        ]))
        .unwrap();
    assert_eq!(ok.positions, vec![0, 1]);
}

fn idempotent_event_ids_and_conflicts(place: &Place) {
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    let mut e = made(1);
    e.event_id = Some(Uuid::from_u128(77));
    let first = rt.block_on(ledger.append(vec![e.clone()])).unwrap();
    let again = rt.block_on(ledger.append(vec![e.clone()])).unwrap();
    assert_eq!(again.positions, first.positions);
    assert_eq!(again.new_events, 0);
    assert_eq!(ledger.head().tree_size, 1);

    let mut other = e.clone();
    if let EventData::CommitmentMade(d) = &mut other.data {
        d.title = "Something else".into();
    }
    match rt.block_on(ledger.append(vec![other.clone()])) {
        Err(Error::EventIdConflict {
            index: 0,
            position: 0,
            differences,
            ..
        }) => assert_eq!(
            differences,
            [r#"data.title: "Something else" now, "Commitment 1" recorded"#]
        ),
        other => panic!("{other:?}"),
    }
    // Another actor and reason too: each field is named.
    other.actor = Some("root".into());
    other.reason = Some("retry".into());
    match rt.block_on(ledger.append(vec![other])) {
        Err(Error::EventIdConflict { differences, .. }) => {
            assert_eq!(differences.len(), 3, "{differences:?}");
            assert!(differences.contains(&r#"reason: "retry" now, nothing recorded"#.to_string()));
            assert!(differences
                .iter()
                .any(|d| d.starts_with(r#"actor: "root" now, "#)));
        }
        other => panic!("{other:?}"),
    }

    // A second commitment_made on the same stream is a conflict (it implies no_stream).
    match rt.block_on(ledger.append(vec![made(1)])) {
        Err(Error::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(expected, ExpectedVersion::NoStream);
            assert_eq!(actual, Some(0));
        }
        other => panic!("{other:?}"),
    }
    match rt.block_on(ledger.append(vec![status(
        1,
        Status::AtRisk,
        Some(ExpectedVersion::Exact(4)),
    )])) {
        Err(Error::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(expected, ExpectedVersion::Exact(4));
            assert_eq!(actual, Some(0));
        }
        other => panic!("{other:?}"),
    }
}

fn retraction_rules(place: &Place) {
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    let out = rt
        .block_on(ledger.append(vec![made(1), status(1, Status::Fulfilled, None)]))
        .unwrap();
    let retract = |id: Uuid, reason: Option<&str>| {
        let mut e = InputEvent::new(EventData::EventRetracted(EventRetracted { event_id: id }));
        e.actor = Some("tester".into());
        e.reason = reason.map(str::to_string);
        e
    };
    let target = out.event_ids[1];
    assert!(matches!(
        rt.block_on(ledger.append(vec![retract(target, None)])),
        Err(Error::Validation { field, .. }) if field == "reason"
    ));
    assert!(matches!(
        rt.block_on(ledger.append(vec![retract(Uuid::from_u128(5), Some("typo"))])),
        Err(Error::Validation { field, .. }) if field == "data.event_id"
    ));
    let r = rt
        .block_on(ledger.append(vec![retract(target, Some("recorded in error"))]))
        .unwrap();
    let record = ledger.read(r.positions[0]).unwrap().record;
    assert_eq!(record.stream, StreamId::commitment(cid(1)));
    assert_eq!(record.version, 2);
    assert_eq!(ledger.retraction_of(target).unwrap(), Some(2));
    // Already retracted; and a retraction cannot be retracted.
    for id in [target, r.event_ids[0]] {
        assert!(matches!(
            rt.block_on(ledger.append(vec![retract(id, Some("again"))])),
            Err(Error::Validation { .. })
        ));
    }
    ledger.verify().unwrap();
}

/// A large append is encoded on two threads (`PARALLEL_ENCODE_EVENTS_MIN`); it must record
/// exactly what the same events appended one at a time record, including an event that
/// repeats or retracts one earlier in its own append.
fn a_large_append_records_what_one_event_at_a_time_would(place: &Place) {
    let rt = runtime();
    let retract = |id: Uuid| {
        let mut e = InputEvent::new(EventData::EventRetracted(EventRetracted { event_id: id }));
        e.event_id = Some(Uuid::from_u128(0x2000 + id.as_u128()));
        e.actor = Some("tester".into());
        e.reason = Some("recorded in error".into());
        e
    };
    let mut events: Vec<InputEvent> = (0..400u128)
        .map(|n| {
            let mut e = if n % 4 == 3 {
                status(n - 1, Status::InProgress, None)
            } else {
                made(n)
            };
            e.event_id = Some(Uuid::from_u128(0x1000 + n));
            e
        })
        .collect();
    events.insert(150, events[20].clone()); // a repeat of an earlier event of the same append
    events.insert(300, retract(Uuid::from_u128(0x1000 + 7))); // and a retraction of one
    events.push(retract(Uuid::from_u128(0x1000 + 390))); // in the helper thread's half
    let whole = Ledger::create(place.path()).unwrap();
    let together = rt.block_on(whole.append(events.clone())).unwrap();
    assert_eq!(together.new_events, events.len() - 1);
    assert_eq!(together.positions[150], together.positions[20]);

    let single_dir = tempfile::tempdir().unwrap();
    let single = Ledger::create(single_dir.path().join("one-by-one")).unwrap();
    let mut one_by_one = Vec::new();
    for e in &events {
        let out = rt.block_on(single.append(vec![e.clone()])).unwrap();
        one_by_one.push((out.positions[0], out.event_ids[0]));
    }
    let together_pairs: Vec<_> = together
        .positions
        .iter()
        .copied()
        .zip(together.event_ids.iter().copied())
        .collect();
    assert!(together_pairs == one_by_one, "positions and ids differ");
    // The same records, but for the moment of recording (one append against many).
    let normalised = |ledger: &Ledger| -> Vec<ikrar_core::Record> {
        ledger
            .iter_from(0)
            .map(|r| {
                let mut record = r.unwrap().record;
                if record.effective == ikrar_core::Moment::Instant(record.recorded_at) {
                    record.effective = ikrar_core::Moment::Instant(chrono::DateTime::UNIX_EPOCH);
                }
                record.recorded_at = chrono::DateTime::UNIX_EPOCH;
                record
            })
            .collect()
    };
    assert!(
        normalised(&whole) == normalised(&single),
        "the records differ"
    );
    assert_eq!(
        whole.retraction_of(Uuid::from_u128(0x1000 + 7)).unwrap(),
        Some(together.positions[300])
    );
    whole.verify().unwrap();
}

/// The first bad event of an append is the one named, even when it is found only when the
/// records are encoded (too large) and a later event fails validation; nothing is written.
fn an_oversized_event_in_a_large_append_is_named_and_nothing_is_written(place: &Place) {
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    let mut events: Vec<InputEvent> = (0..300u128).map(made).collect();
    if let EventData::CommitmentMade(d) = &mut events[200].data {
        d.summary = Some("x".repeat(ikrar_core::RECORD_BYTES_MAX));
    }
    let expect_index_200 = |r: Result<ikrar_core::AppendOutcome, Error>| match r {
        Err(Error::Validation { index, field, .. }) => {
            assert_eq!(index, 200);
            assert_eq!(field, "-");
        }
        other => panic!("{other:?}"),
    };
    expect_index_200(rt.block_on(ledger.append(events.clone())));
    events.push(status(9_999, Status::Broken, None)); // no such commitment
    expect_index_200(rt.block_on(ledger.append(events.clone())));
    // Without the oversized event, the invalid one at the end is named.
    if let EventData::CommitmentMade(d) = &mut events[200].data {
        d.summary = None;
    }
    match rt.block_on(ledger.append(events)) {
        Err(Error::Validation { index, field, .. }) => {
            assert_eq!(index, 300);
            assert_eq!(field, "data.commitment_id");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger.head().tree_size, 0);
    assert_eq!(ledger.iter_from(0).count(), 0);
}

fn recorded_at_never_decreases_and_effective_may_not_be_in_the_future(place: &Place) {
    let rt = runtime();
    // A clock that jumps forward and steps back in turn, an hour in the past; every reading is
    // kept, to compare with what was recorded.
    let base = truncate_to_micros(chrono::Utc::now() - chrono::Duration::hours(1));
    let readings = Arc::new(Mutex::new(Vec::new()));
    let clock = {
        let readings = readings.clone();
        Clock::from_fn(move || {
            let mut readings = readings.lock().unwrap();
            let n = readings.len() as i64;
            let step = if n % 2 == 0 { 10 * n } else { 10 * n - 25 };
            let now = base + chrono::Duration::seconds(step);
            readings.push(now);
            now
        })
    };
    let options = LedgerOptions {
        clock,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::create_with(place.path(), options).unwrap();
    for n in 0..20 {
        rt.block_on(ledger.append(vec![made(n)])).unwrap();
    }
    let times: Vec<_> = ledger
        .iter_from(0)
        .map(|r| r.unwrap().record.recorded_at)
        .collect();
    let readings = readings.lock().unwrap().clone();
    assert_eq!(readings.len(), times.len(), "one reading per append");
    assert!(
        readings.windows(2).any(|w| w[1] < w[0]),
        "the clock did step back"
    );
    // Each record holds the later of the clock's reading and the last recorded moment.
    let mut latest = readings[0];
    for (i, (time, reading)) in times.iter().zip(&readings).enumerate() {
        latest = latest.max(*reading);
        assert_eq!(*time, latest, "record {i}");
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let mut future = status(1, Status::InProgress, None);
    future.effective = Some("2999-01-01".parse().unwrap());
    assert!(matches!(
        rt.block_on(ledger.append(vec![future])),
        Err(Error::Validation { field, .. }) if field == "effective"
    ));
}

#[test]
fn verify_finds_a_record_changed_on_disk() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    rt.block_on(ledger.append((0..50).map(made).collect()))
        .unwrap();
    drop(ledger);

    // Rewrite record 17 underneath ikrar, the way a tamperer with write access to the files
    // would: through sled itself, so that sled's own checksums stay valid.
    rewrite_record(&path.join("db"), 17, |r| {
        r.replace("Commitment 17", "Commitment 71")
    });
    let ledger = Ledger::open(&path).unwrap();
    match ledger.verify() {
        Err(Error::Integrity { position, what }) => {
            assert_eq!(position, 17, "{what}");
        }
        other => panic!("expected an integrity failure, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_the_database_file_is_reported_not_survived() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    rt.block_on(ledger.append((0..200).map(made).collect()))
        .unwrap();
    drop(ledger);
    // sled may hold stale copies of a record besides the live one, in its log or in blob files:
    // alter every copy, so that the live record is certainly damaged.
    let needle = b"Commitment 150\"";
    let mut files = vec![path.join("db").join("db")];
    files.extend(
        std::fs::read_dir(path.join("db").join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let mut altered = 0;
    for file in files {
        let mut bytes = std::fs::read(&file).unwrap();
        let copies: Vec<usize> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect();
        for at in &copies {
            bytes[at + 12] ^= 0x01;
        }
        altered += copies.len();
        std::fs::write(&file, bytes).unwrap();
    }
    assert!(altered > 0, "the record's text is in sled's files");
    // sled may cut its log at the damage; ikrar must not take the shorter log for the ledger.
    let outcome = Ledger::open(&path).and_then(|l| l.verify());
    assert!(
        matches!(outcome, Err(Error::Integrity { .. })),
        "expected an integrity failure, got {outcome:?}"
    );
}

#[test]
fn a_deleted_head_file_or_sled_file_is_reported() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    rt.block_on(ledger.append((0..5).map(made).collect()))
        .unwrap();
    drop(ledger);
    std::fs::remove_file(path.join("head")).unwrap();
    assert!(matches!(Ledger::open(&path), Err(Error::Integrity { .. })));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    rt.block_on(ledger.append((0..5).map(made).collect()))
        .unwrap();
    drop(ledger);
    std::fs::remove_file(path.join("db").join("db")).unwrap();
    assert!(matches!(Ledger::open(&path), Err(Error::Integrity { .. })));
}

fn concurrent_appenders_on_shared_and_private_streams_lose_and_duplicate_nothing(place: &Place) {
    const TASKS: u128 = 16;
    const APPENDS_PER_TASK: usize = 25;
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    // Commitment 0 is shared by all tasks; commitment 1+t is task t's own.
    rt.block_on(ledger.append((0..=TASKS).map(made).collect()))
        .unwrap();

    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for t in 0..TASKS {
            let ledger = ledger.clone();
            handles.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut conflicts = 0usize;
                for i in 0..APPENDS_PER_TASK {
                    // Private stream: after i appends it is at version i, so the expectation is right.
                    let e = status(
                        1 + t,
                        Status::InProgress,
                        Some(ExpectedVersion::Exact(i as u64)),
                    );
                    let out = ledger.append(vec![e]).await.unwrap();
                    acked.push(out.event_ids[0]);
                    // Shared stream: read, then write with what was read; retry on conflict.
                    loop {
                        let current = ledger
                            .read_stream(&StreamId::commitment(cid(0)))
                            .unwrap()
                            .last()
                            .unwrap()
                            .record
                            .version;
                        let label = format!("task {t} update {i}");
                        let mut e =
                            status(0, Status::InProgress, Some(ExpectedVersion::Exact(current)));
                        if let EventData::CommitmentStatusChanged(d) = &mut e.data {
                            d.label = Some(label);
                        }
                        match ledger.append(vec![e]).await {
                            Ok(out) => {
                                acked.push(out.event_ids[0]);
                                break;
                            }
                            Err(Error::Conflict {
                                expected, actual, ..
                            }) => {
                                assert_eq!(expected, ExpectedVersion::Exact(current));
                                assert!(actual.unwrap() > current);
                                conflicts += 1;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                (acked, conflicts)
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.push(h.await.unwrap());
        }
        all
    });

    let acked: Vec<Uuid> = results.iter().flat_map(|(a, _)| a.clone()).collect();
    let expected_total = (TASKS + 1) as u64 + acked.len() as u64;
    assert_eq!(ledger.head().tree_size, expected_total);
    // Every acknowledged event is present exactly once; positions and versions are gapless.
    let mut seen = HashMap::new();
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    for (i, r) in ledger.iter_from(0).enumerate() {
        let r = r.unwrap().record;
        assert_eq!(r.position, i as u64);
        let v = versions.entry(r.stream.clone()).or_insert(0);
        assert_eq!(r.version, *v);
        *v += 1;
        assert!(seen.insert(r.event_id, r.position).is_none());
    }
    for id in &acked {
        assert!(seen.contains_key(id));
    }
    assert_eq!(
        versions[&StreamId::commitment(cid(0))],
        1 + TASKS as u64 * APPENDS_PER_TASK as u64
    );
    ledger.verify().unwrap();
}

fn subscription_catches_up_then_follows(place: &Place) {
    use futures::StreamExt;
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    rt.block_on(async {
        ledger.append((0..3).map(made).collect()).await.unwrap();
        let mut feed = Box::pin(ledger.subscribe(1));
        let writer = {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for n in 3..10 {
                    ledger.append(vec![made(n)]).await.unwrap();
                }
            })
        };
        for expected in 1..10u64 {
            let r = feed.next().await.unwrap().unwrap();
            assert_eq!(r.record.position, expected);
        }
        writer.await.unwrap();
    });
}

fn os_threads_without_a_shared_runtime_append_safely_too(place: &Place) {
    const THREADS: u128 = 8;
    const APPENDS: usize = 20;
    let ledger = Ledger::create(place.path()).unwrap();
    runtime().block_on(ledger.append(vec![made(0)])).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                // Each thread drives its own appends with a plain executor: the writer is a
                // thread of its own, so no shared tokio runtime is needed.
                let mut conflicts = 0;
                for i in 0..APPENDS {
                    loop {
                        let current = ledger
                            .read_stream(&StreamId::commitment(cid(0)))
                            .unwrap()
                            .last()
                            .unwrap()
                            .record
                            .version;
                        let mut e =
                            status(0, Status::InProgress, Some(ExpectedVersion::Exact(current)));
                        if let EventData::CommitmentStatusChanged(d) = &mut e.data {
                            d.label = Some(format!("thread {t} update {i}"));
                        }
                        match futures::executor::block_on(ledger.append(vec![e])) {
                            Ok(_) => break,
                            Err(Error::Conflict {
                                expected, actual, ..
                            }) => {
                                assert_eq!(expected, ExpectedVersion::Exact(current));
                                assert!(actual.unwrap() > current);
                                conflicts += 1;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let stream = ledger.read_stream(&StreamId::commitment(cid(0))).unwrap();
    assert_eq!(stream.len(), 1 + THREADS as usize * APPENDS);
    for (v, r) in stream.iter().enumerate() {
        assert_eq!(r.record.version, v as u64);
    }
    // Every (thread, update) label exactly once: nothing lost, nothing doubled.
    let mut labels: Vec<String> = stream
        .iter()
        .skip(1)
        .map(|r| match &r.record.data {
            EventData::CommitmentStatusChanged(d) => d.label.clone().unwrap(),
            _ => unreachable!(),
        })
        .collect();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), THREADS as usize * APPENDS);
    eprintln!("{conflicts} conflicts answered and retried");
    ledger.verify().unwrap();
}

fn verify_passes_while_appends_go_on(place: &Place) {
    let rt = runtime();
    let ledger = Ledger::create(place.path()).unwrap();
    rt.block_on(ledger.append((0..3_000).map(made).collect()))
        .unwrap();
    // Appends run while verify scans: verify checks the tree size it started with and must
    // neither fail on the records added meanwhile nor hold the appends up. The appender goes on
    // until a verify has seen the head move while it ran.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        rt.spawn(async move {
            let mut n = 3_000;
            while !stop.load(Ordering::Relaxed) {
                ledger.append(vec![made(n)]).await.unwrap();
                n += 1;
            }
            n
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut overlapped = 0;
    while overlapped < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no verify overlapped an append"
        );
        let before = ledger.head().tree_size;
        let report = ledger.verify().unwrap();
        let after = ledger.head().tree_size;
        assert!(
            (before..=after).contains(&report.tree_size),
            "verify checked {} records; the head was {before} before and {after} after",
            report.tree_size
        );
        assert_eq!(report.root, ledger.root_at(report.tree_size).unwrap());
        if after > before {
            overlapped += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let appended = rt.block_on(writer).unwrap();
    assert_eq!(ledger.verify().unwrap().tree_size, appended as u64);
}

on_both_backends!(
    stored_root_matches_a_from_scratch_computation_at_every_size,
    an_acknowledged_append_survives_closing_and_reopening,
    create_refuses_to_overwrite_and_open_refuses_a_missing_ledger,
    an_append_is_all_or_nothing,
    idempotent_event_ids_and_conflicts,
    retraction_rules,
    a_large_append_records_what_one_event_at_a_time_would,
    an_oversized_event_in_a_large_append_is_named_and_nothing_is_written,
    recorded_at_never_decreases_and_effective_may_not_be_in_the_future,
    concurrent_appenders_on_shared_and_private_streams_lose_and_duplicate_nothing,
    subscription_catches_up_then_follows,
    os_threads_without_a_shared_runtime_append_safely_too,
    verify_passes_while_appends_go_on,
);
