//! The append workloads of `compare` (SPEC §9): durable single-event appends from many writers
//! and bulk appends in batches of 1,000, each against raw sled doing the same writes with the
//! same kind of commit and a plain SQLite event table, and on a PostgreSQL ledger when given one.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ikrar_core::Ledger;
use rusqlite::{params, Connection};

use crate::commitment_made;
use crate::compare::{rate, round, Sizes, Workload};

/// A throughput row: ikrar against its baselines, with the bar it must meet.
#[allow(clippy::too_many_arguments)]
pub(crate) fn throughput(
    name: &str,
    count: u64,
    ikrar: f64,
    sqlite: Option<f64>,
    sled_raw: Option<f64>,
    postgres: Option<f64>,
    bar: &'static str,
    met: impl Fn(Option<f64>, Option<f64>) -> bool,
) -> Workload {
    let rs = sqlite.map(|s| ikrar / s);
    let rr = sled_raw.map(|s| ikrar / s);
    Workload {
        name: name.into(),
        unit: "events/s",
        ikrar: ikrar.round(),
        sqlite: sqlite.map(f64::round),
        sled_raw: sled_raw.map(f64::round),
        postgres: postgres.map(f64::round),
        ratio_vs_sqlite: rs.map(round),
        ratio_vs_sled_raw: rr.map(round),
        ratio_postgres_vs_sqlite: postgres.zip(sqlite).map(|(p, s)| round(p / s)),
        library: None,
        ratio_vs_library: None,
        bar,
        bar_met: met(rs, rr),
        count,
    }
}

pub(crate) fn sqlite_table(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).expect("sqlite");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    c.busy_timeout(Duration::from_secs(60))
        .expect("busy timeout");
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (
             position INTEGER PRIMARY KEY,
             event_id BLOB NOT NULL UNIQUE,
             stream TEXT NOT NULL,
             version INTEGER NOT NULL,
             record BLOB NOT NULL,
             UNIQUE (stream, version));",
    )
    .expect("schema");
    c
}

/// A record's bytes as ikrar would store them, and its index fields, for the baselines.
fn sample_record(n: u64) -> (Vec<u8>, [u8; 16], String) {
    let e = commitment_made(n);
    let bytes = e.to_json().into_bytes();
    let id = uuid::Uuid::from_u64_pair(0x0bad, n);
    let stream = e.data.own_stream().expect("made").to_string();
    (bytes, *id.as_bytes(), stream)
}

/// Raw sled with ikrar's kind of group commit: one writer thread drains what is pending,
/// inserts one key per event, flushes once, then answers everyone.
fn sled_group_commit(dir: &std::path::Path, writers: usize, appends: usize) -> Duration {
    let db = sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let tree = db.open_tree("events").expect("tree");
    let (tx, rx) = mpsc::channel::<(Vec<u8>, mpsc::Sender<()>)>();
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut next = 0u64;
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                while let Ok(more) = rx.try_recv() {
                    group.push(more);
                }
                let mut batch = sled::Batch::default();
                for (value, _) in &group {
                    batch.insert(&next.to_be_bytes()[..], value.as_slice());
                    next += 1;
                }
                tree.apply_batch(batch).expect("batch");
                db.flush().expect("flush");
                for (_, ack) in group {
                    let _ = ack.send(());
                }
            }
        })
    };
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..appends {
                    let (bytes, _, _) = sample_record((w * 1_000_000 + i) as u64);
                    let (ack_tx, ack_rx) = mpsc::channel();
                    tx.send((bytes, ack_tx)).expect("send");
                    ack_rx.recv().expect("ack");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer");
    }
    let elapsed = started.elapsed();
    drop(tx);
    writer.join().expect("sled writer");
    elapsed
}

/// A fresh PostgreSQL ledger location (a new schema) on the server at `url`.
pub(crate) fn postgres_location(url: &str, name: &str) -> std::path::PathBuf {
    ikrar_testkit::new_schema(url, &format!("ikrar_bench_{name}")).into()
}

/// ikrar: one tokio task per writer, one event per append, on a new ledger at `location`.
fn concurrent_appends_rate(sizes: &Sizes, location: &std::path::Path) -> f64 {
    let total = (sizes.writers * sizes.appends_per_writer) as u64;
    let ledger = Ledger::create(location).expect("ledger");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..sizes.writers)
            .map(|w| {
                let ledger = ledger.clone();
                let appends = sizes.appends_per_writer;
                tokio::spawn(async move {
                    for i in 0..appends {
                        ledger
                            .append(vec![commitment_made((w * 1_000_000 + i) as u64)])
                            .await
                            .expect("append");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    rate(total, started.elapsed())
}

pub(crate) fn durable_appends(
    sizes: &Sizes,
    dir: &std::path::Path,
    postgres: Option<&str>,
) -> Workload {
    let total = (sizes.writers * sizes.appends_per_writer) as u64;
    // ikrar and raw sled alternate over the rounds; each figure is the median. (A quick
    // round takes tens of milliseconds: one alone moved the ratio between 0.4 and 1.4.)
    let (mut ikrar, mut sled_raw) = (Vec::new(), Vec::new());
    for round in 0..sizes.append_rounds.max(1) {
        ikrar.push(concurrent_appends_rate(
            sizes,
            &dir.join(format!("ikrar-concurrent-{round}")),
        ));
        sled_raw.push(rate(
            total,
            sled_group_commit(
                &dir.join(format!("sled-concurrent-{round}")),
                sizes.writers,
                sizes.appends_per_writer,
            ),
        ));
    }
    let (ikrar, sled_raw) = (median(ikrar), median(sled_raw));
    let on_postgres =
        postgres.map(|url| concurrent_appends_rate(sizes, &postgres_location(url, "concurrent")));

    // SQLite: one connection per writer, one transaction per append.
    let path = dir.join("concurrent.sqlite");
    drop(sqlite_table(&path));
    let started = Instant::now();
    let handles: Vec<_> = (0..sizes.writers)
        .map(|w| {
            let path = path.clone();
            let appends = sizes.appends_per_writer;
            std::thread::spawn(move || {
                let c = sqlite_table(&path);
                for i in 0..appends {
                    let (bytes, id, stream) = sample_record((w * 1_000_000 + i) as u64);
                    let tx = c.unchecked_transaction().expect("begin");
                    tx.execute(
                        "INSERT INTO events (event_id, stream, version, record) VALUES (?1, ?2, 0, ?3)",
                        params![&id[..], stream, bytes],
                    )
                    .expect("insert");
                    tx.commit().expect("commit");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("sqlite writer");
    }
    let sqlite = rate(total, started.elapsed());

    throughput(
        &format!(
            "durable appends, one event each, {} concurrent writers",
            sizes.writers
        ),
        total,
        ikrar,
        Some(sqlite),
        Some(sled_raw),
        on_postgres,
        ">= 5 x SQLite (a transaction per append); >= 0.5 x raw sled with the same group commit",
        |s, r| s.is_some_and(|s| s >= 5.0) && r.is_some_and(|r| r >= 0.5),
    )
}

/// ikrar: batches of 1,000 events, one append each, on a new ledger at `location`.
fn bulk_appends_rate(sizes: &Sizes, location: &std::path::Path) -> f64 {
    const BATCH: usize = 1_000;
    let total = (sizes.bulk_batches * BATCH) as u64;
    let ledger = Ledger::create(location).expect("ledger");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batches: Vec<Vec<_>> = (0..sizes.bulk_batches)
        .map(|b| {
            (0..BATCH)
                .map(|i| commitment_made((b * BATCH + i) as u64))
                .collect()
        })
        .collect();
    let started = Instant::now();
    for batch in batches {
        rt.block_on(ledger.append(batch)).expect("append");
    }
    rate(total, started.elapsed())
}

/// SQLite: the same records, one transaction per batch of 1,000, in a new table at `path`.
fn sqlite_bulk_rate(records: &[(Vec<u8>, [u8; 16], String)], path: &std::path::Path) -> f64 {
    const BATCH: usize = 1_000;
    let c = sqlite_table(path);
    let started = Instant::now();
    for chunk in records.chunks(BATCH) {
        let tx = c.unchecked_transaction().expect("begin");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (event_id, stream, version, record) VALUES (?1, ?2, 0, ?3)",
                )
                .expect("prepare");
            for (bytes, id, stream) in chunk {
                stmt.execute(params![&id[..], stream, bytes])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    rate(records.len() as u64, started.elapsed())
}

/// Raw sled: the same records, one key per event, one batch and one flush per 1,000, in a new
/// database at `path`.
fn sled_bulk_rate(records: &[(Vec<u8>, [u8; 16], String)], path: &std::path::Path) -> f64 {
    const BATCH: usize = 1_000;
    let db = sled::Config::new()
        .path(path)
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let tree = db.open_tree("events").expect("tree");
    let started = Instant::now();
    let mut position = 0u64;
    for chunk in records.chunks(BATCH) {
        let mut batch = sled::Batch::default();
        for (bytes, _, _) in chunk {
            batch.insert(&position.to_be_bytes()[..], bytes.as_slice());
            position += 1;
        }
        tree.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    rate(records.len() as u64, started.elapsed())
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

pub(crate) fn bulk_appends(
    sizes: &Sizes,
    dir: &std::path::Path,
    postgres: Option<&str>,
) -> Workload {
    const BATCH: usize = 1_000;
    let total = (sizes.bulk_batches * BATCH) as u64;
    let records: Vec<_> = (0..total).map(sample_record).collect();
    let (mut ikrar, mut sqlite, mut sled_raw) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..sizes.append_rounds.max(1) {
        ikrar.push(bulk_appends_rate(
            sizes,
            &dir.join(format!("ikrar-bulk-{round}")),
        ));
        sqlite.push(sqlite_bulk_rate(
            &records,
            &dir.join(format!("bulk-{round}.sqlite")),
        ));
        sled_raw.push(sled_bulk_rate(
            &records,
            &dir.join(format!("sled-bulk-{round}")),
        ));
    }
    let on_postgres = postgres.map(|url| bulk_appends_rate(sizes, &postgres_location(url, "bulk")));
    throughput(
        "bulk append, batches of 1,000, durable at each batch",
        total,
        median(ikrar),
        Some(median(sqlite)),
        Some(median(sled_raw)),
        on_postgres,
        ">= 1 x SQLite (a transaction per batch); >= 1 x raw sled (one key per event, one flush per batch)",
        |s, r| s.is_some_and(|s| s >= 1.0) && r.is_some_and(|r| r >= 1.0),
    )
}
