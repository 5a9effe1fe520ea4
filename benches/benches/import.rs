//! SPEC §9's bar for `import-snapshots`: snapshots of 10,000 rows with 5 % of rows changed in
//! each, at ≥ 50,000 rows/s, and at least as fast as the same events given to `ikrar append` as
//! one JSON Lines file (parsed, and appended as `ikrar append` appends a file that size).
//!
//! Both sides start from the same ledger, holding the first snapshot already (imported, so that
//! the import finds the state the first one kept, as a continued import does), and record the
//! same events. Run with `cargo bench -p ikrar-benches --bench import`;
//! `IKRAR_BENCH_ROWS` and `IKRAR_BENCH_SNAPSHOTS` change the sizes. With `IKRAR_BIN` naming a
//! built `ikrar` (`cargo build --release -p ikrar-cli`), the same is also measured end to end,
//! through the binaries: `ikrar import-snapshots` of the snapshot files against `ikrar append`
//! of one JSON Lines file of the same events, each a fresh process on the same ledger.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use ikrar_core::{InputEvent, Ledger, EVENTS_PER_APPEND_MAX};
use ikrar_import::{import, plan, Format, Mapping, Options, Progress, Snapshot};

const MAPPING: &str = r#"namespace = "1c7d9e2a-4b3f-4a5e-8d6c-0f1e2d3c4b5a"
key = "id"
title = "title"
owner = "owner"
themes = "theme"
label = "status"
[labels]
"Not started" = "announced"
"In progress" = "in_progress"
"Stalled" = "at_risk"
"Done" = "fulfilled"
"#;

const LABELS: [&str; 4] = ["Not started", "In progress", "Stalled", "Done"];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The tracker's table: `rows` rows; each later snapshot changes 5 % of them (half a label,
/// half a title), at rows spread over the table.
fn snapshots(rows: usize, count: usize) -> Vec<Snapshot> {
    let mut table: Vec<(String, usize)> = (0..rows)
        .map(|i| {
            (
                format!("Commitment {i}: deliver the programme"),
                i % LABELS.len(),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(count + 1);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..=count {
        if k > 0 {
            for _ in 0..rows / 20 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let i = (seed >> 33) as usize % rows;
                if seed & 1 == 0 {
                    table[i].1 = (table[i].1 + 1) % LABELS.len();
                } else {
                    table[i].0 = format!("Commitment {i}: deliver the programme, revised {k}");
                }
            }
        }
        let mut csv = String::from("id,title,owner,theme,status\n");
        for (i, (title, label)) in table.iter().enumerate() {
            csv.push_str(&format!(
                "{i},\"{title}\",Ministry {},Theme {},{}\n",
                i % 17,
                i % 5,
                LABELS[*label]
            ));
        }
        let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
            + chrono::TimeDelta::days(k as i64 * 7);
        out.push(Snapshot {
            name: format!("week {k}"),
            date: ikrar_core::Moment::Date(date),
            url: None,
            format: Format::Csv,
            bytes: csv.into_bytes(),
        });
    }
    out
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// One run of the binary, timed from spawn to exit.
fn timed(bin: &str, args: &[String]) -> Duration {
    let started = Instant::now();
    let out = std::process::Command::new(bin)
        .args(args)
        .env("IKRAR_ACTOR", "bench")
        .output()
        .expect("run ikrar");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// `ikrar import-snapshots` against `ikrar append`, through the binaries.
fn end_to_end(bin: &str, all: &[Snapshot], rounds: usize) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = dir.path().join("m.toml");
    std::fs::write(&mapping, MAPPING).expect("mapping");
    let files: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let path = dir.path().join(format!("s{k}.csv"));
            std::fs::write(&path, &s.bytes).expect("snapshot");
            format!("{}={}", s.date, path.display())
        })
        .collect();
    let (first, changed) = files.split_at(1);
    let import_args = |ledger: &std::path::Path, snapshots: &[String]| {
        let mut a = vec![
            "--ledger".to_string(),
            ledger.display().to_string(),
            "--format".into(),
            "json".into(),
            "import-snapshots".into(),
            "--mapping".into(),
            mapping.display().to_string(),
        ];
        a.extend(snapshots.iter().cloned());
        a
    };
    let fresh = |name: String| {
        let ledger = dir.path().join(name);
        timed(
            bin,
            &[
                "--ledger".into(),
                ledger.display().to_string(),
                "init".into(),
            ],
        );
        timed(bin, &import_args(&ledger, first));
        ledger
    };
    // The events as `ikrar import-snapshots --dry-run --format jsonl` prints them.
    let probe = fresh("probe".into());
    let mut dry = import_args(&probe, changed);
    dry[3] = "jsonl".into();
    dry.push("--dry-run".into());
    let out = std::process::Command::new(bin)
        .args(&dry)
        .env("IKRAR_ACTOR", "bench")
        .output()
        .expect("dry run");
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &out.stdout).expect("events");
    let (mut import, mut append) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let ledger = fresh(format!("import{round}"));
        import.push(timed(bin, &import_args(&ledger, changed)));
        let ledger = fresh(format!("append{round}"));
        append.push(timed(
            bin,
            &[
                "--ledger".into(),
                ledger.display().to_string(),
                "--format".into(),
                "json".into(),
                "append".into(),
                events.display().to_string(),
            ],
        ));
    }
    (median(import), median(append))
}

fn main() {
    let rows = env_or("IKRAR_BENCH_ROWS", 10_000);
    let count = env_or("IKRAR_BENCH_SNAPSHOTS", 10);
    let rounds = env_or("IKRAR_BENCH_ROUNDS", 3);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mapping = Mapping::from_toml(MAPPING, "bench.toml").expect("mapping");
    let options = Options::new("bench");
    let all = snapshots(rows, count);
    let (first, changed) = all.split_at(1);

    // A ledger holding the first snapshot, as both sides find it.
    let fresh = || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::create(dir.path().join("l")).expect("ledger");
        // Imported as `ikrar import-snapshots` imports, keeping its state for the next import.
        let progress = Progress {
            reading: &mut |_, _| {},
            recording: &mut |_, _| {},
        };
        rt.block_on(import(
            &ledger,
            &mapping,
            first.to_vec(),
            &options,
            progress,
        ))
        .expect("import");
        (dir, ledger)
    };

    // The same events as one JSON Lines file, as `import-snapshots --dry-run --format jsonl`
    // prints them.
    let (_dir, probe) = fresh();
    let planned = rt
        .block_on(plan(&probe, &mapping, changed.to_vec(), &options))
        .expect("plan");
    let file: String = planned
        .steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.to_json() + "\n"))
        .collect();
    let events = planned.new_events();
    drop(probe);

    let mut import_times = Vec::new();
    let mut append_times = Vec::new();
    for _ in 0..rounds {
        let (_d, ledger) = fresh();
        let started = Instant::now();
        let progress = Progress {
            reading: &mut |_, _| {},
            recording: &mut |_, _| {},
        };
        let (p, _) = rt
            .block_on(import(
                &ledger,
                &mapping,
                changed.to_vec(),
                &options,
                progress,
            ))
            .expect("import");
        import_times.push(started.elapsed());
        assert_eq!(p.new_events(), events);

        let (_d, ledger) = fresh();
        let started = Instant::now();
        // What `ikrar append FILE` does: parse every line; a file that fits in one append is
        // appended as it is, a larger one checked whole and then appended in parts.
        let batch: Vec<InputEvent> = file
            .lines()
            .map(|l| InputEvent::from_json(l).expect("line"))
            .collect();
        if batch.len() <= EVENTS_PER_APPEND_MAX {
            rt.block_on(ledger.append(batch)).expect("append");
        } else {
            rt.block_on(ledger.check(batch.clone())).expect("check");
            for part in batch.chunks(EVENTS_PER_APPEND_MAX) {
                rt.block_on(ledger.append(part.to_vec())).expect("append");
            }
        }
        append_times.push(started.elapsed());
    }
    let import = median(import_times);
    let append = median(append_times);
    let rows_read = (rows * count) as f64;
    let rows_per_s = rows_read / import.as_secs_f64();
    let ratio = append.as_secs_f64() / import.as_secs_f64();
    let met = rows_per_s >= 50_000.0 && ratio >= 1.0;
    println!(
        "import-snapshots: {count} snapshots x {rows} rows, 5 % changed each ({events} events)"
    );
    println!(
        "  import (read, compare, check, append)  {:>8.1} ms  {:>10.0} rows/s  {:>9.0} events/s",
        import.as_secs_f64() * 1e3,
        rows_per_s,
        events as f64 / import.as_secs_f64()
    );
    println!(
        "  same events as JSON Lines (append)     {:>8.1} ms  {:>10} rows/s  {:>9.0} events/s",
        append.as_secs_f64() * 1e3,
        "",
        events as f64 / append.as_secs_f64()
    );
    println!("  ratio import / append {ratio:.2} (bar >= 1); rows/s bar >= 50,000; bar met: {met}");
    println!(
        "{}",
        serde_json::json!({"name": "import_snapshots", "rows": rows, "snapshots": count,
            "events": events, "import_ms": import.as_secs_f64() * 1e3,
            "append_ms": append.as_secs_f64() * 1e3, "rows_per_s": rows_per_s.round(),
            "ratio_vs_append": (ratio * 100.0).round() / 100.0, "bar_met": met})
    );
    if let Ok(bin) = std::env::var("IKRAR_BIN") {
        let (import, append) = end_to_end(&bin, &all, rounds);
        let ratio = append.as_secs_f64() / import.as_secs_f64();
        println!(
            "  end to end: ikrar import-snapshots {:.1} ms ({:.0} rows/s), ikrar append {:.1} ms; ratio {ratio:.2}",
            import.as_secs_f64() * 1e3,
            rows_read / import.as_secs_f64(),
            append.as_secs_f64() * 1e3
        );
    }
}
