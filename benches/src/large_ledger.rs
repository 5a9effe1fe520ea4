//! Questions on a large ledger through the binary, each a fresh process as a user runs it
//! (SPEC §9): `ikrar rebuild`, `ikrar summary`, `ikrar show ID`, the first summary after an
//! append, and `ikrar serve` — how soon it answers and its peak memory under reads. The time is
//! from spawn to exit (to the first answer for `serve`), the memory the kernel's peak (`VmHWM`).
//!
//! The ledger is a tracker's history ([`crate::cli_append::history_event`]), appended by `ikrar
//! append` and kept between runs under `target/bench-ledgers/tracker-N` (ten million events take
//! minutes to append). Each run appends one event to it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli_append::{wait_with_peak_rss, write_input};
use crate::compare::Workload;
use crate::{commitment_id, EVENTS_PER_COMMITMENT};

/// Requests of the read mix `serve` is measured under (and of the audit histories).
const READS: u64 = 3_000;
const HISTORIES: u64 = 1_000;

/// The ledger of `events` events, appended through `bin` if it is not kept yet.
fn kept_ledger(bin: &Path, events: u64, scratch: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target
        .join("bench-ledgers")
        .join(format!("tracker-{events}"));
    let complete = path.join("bench-complete");
    if complete.is_file() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("bench-ledgers");
    let file = scratch.join("tracker.jsonl");
    write_input(&file, events);
    run(bin, &path, &["init"]);
    run(
        bin,
        &path,
        &["--actor", "bench", "append", file.to_str().expect("utf-8")],
    );
    let _ = std::fs::remove_file(&file);
    std::fs::write(&complete, b"").expect("marker");
    path
}

/// Runs `ikrar --ledger LEDGER ARGS…` to its end: seconds from spawn to exit, peak RSS (MiB).
fn run(bin: &Path, ledger: &Path, args: &[&str]) -> (f64, f64) {
    let started = Instant::now();
    let child = Command::new(bin)
        .arg("--ledger")
        .arg(ledger)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ikrar");
    let (status, peak_kib) = wait_with_peak_rss(child);
    assert_eq!(status, 0, "ikrar {args:?} failed");
    (started.elapsed().as_secs_f64(), peak_kib as f64 / 1024.0)
}

/// The median of three fresh processes of `ikrar ARGS…`: seconds, and the largest peak (MiB).
fn three(bin: &Path, ledger: &Path, args: &[&str]) -> (f64, f64) {
    let runs: Vec<(f64, f64)> = (0..3).map(|_| run(bin, ledger, args)).collect();
    let mut times: Vec<f64> = runs.iter().map(|r| r.0).collect();
    times.sort_by(f64::total_cmp);
    (times[1], runs.iter().map(|r| r.1).fold(0.0, f64::max))
}

/// `GET path` on loopback: the status code (0 if there was no answer).
fn get(port: u16, path: &str) -> u16 {
    let answer = (|| -> std::io::Result<Vec<u8>> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        let mut body = Vec::new();
        stream.read_to_end(&mut body)?;
        Ok(body)
    })();
    answer
        .ok()
        .and_then(|a| {
            String::from_utf8_lossy(&a[..a.len().min(12)])
                .get(9..12)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn vm_hwm_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// `ikrar serve` on `ledger` asked `paths` in turn after its first summary: seconds from
/// spawn to that first answer, and the process's peak RSS (MiB) once all are answered.
fn serve(bin: &Path, ledger: &Path, paths: impl Iterator<Item = String>) -> (f64, f64) {
    let port = ikrar_testkit::free_port();
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("--ledger")
        .arg(ledger)
        .args(["serve", "--no-tile-files", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ikrar serve");
    while get(port, "/v1/summary") != 200 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "ikrar serve exited"
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "ikrar serve never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = started.elapsed().as_secs_f64();
    for path in paths {
        assert_eq!(get(port, &path), 200, "GET {path}");
    }
    let peak = vm_hwm_mib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    (first, peak)
}

/// The rows, on a ledger of `events` events (the bars count at 10,000,000).
pub fn workloads(events: u64, scratch: &Path, bin: &Path) -> Vec<Workload> {
    let ledger = kept_ledger(bin, events, scratch);
    let at_size = events >= 10_000_000;
    let commitments = (events / EVENTS_PER_COMMITMENT).max(1);
    // A fixed spread of commitments, the same every run.
    let id = |i: u64| commitment_id((i * 7_919) % commitments);
    let row =
        |name: String, unit: &'static str, value: f64, bar: &'static str, met: bool| Workload {
            name,
            unit,
            ikrar: (value * 1000.0).round() / 1000.0,
            bar,
            bar_met: met && at_size,
            count: events,
            ..Workload::default()
        };
    let mut out = Vec::new();
    let (seconds, peak) = run(bin, &ledger, &["rebuild"]);
    out.push(row(
        format!("ikrar rebuild of {events} events: peak RSS ({seconds:.1} s)"),
        "MiB",
        peak,
        "<= 512 MiB at 10,000,000 events",
        peak <= 512.0,
    ));
    for (what, args) in [
        ("ikrar summary", vec!["summary".to_string()]),
        ("ikrar show ID", vec!["show".to_string(), id(1).to_string()]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (seconds, peak) = three(bin, &ledger, &args);
        out.push(row(
            format!("{what} on {events} events, a fresh process (median of 3; peak {peak:.0} MiB)"),
            "s",
            seconds,
            "<= 1 s at 10,000,000 events",
            seconds <= 1.0,
        ));
    }
    let one = scratch.join("one.jsonl");
    let changed = crate::cli_append::history_event(commitments, events);
    std::fs::write(&one, format!("{}\n", changed.to_json())).expect("one event");
    run(
        bin,
        &ledger,
        &["--actor", "bench", "append", one.to_str().expect("utf-8")],
    );
    let (seconds, peak) = run(bin, &ledger, &["summary"]);
    out.push(row(
        format!("ikrar summary on {events} events after an append of one, a fresh process (peak {peak:.0} MiB)"),
        "s",
        seconds,
        "<= 1 s at 10,000,000 events (the summary bar, after an append)",
        seconds <= 1.0,
    ));
    // The read mix: commitments now and in a past basis, summaries in past bases, list pages.
    let reads = (0..READS).map(|i| match i % 50 {
        0 => format!("/v1/summary?as_of=2025-0{}-01", 1 + i % 9),
        1 => "/v1/commitments?status=in_progress&limit=20&as_of=2025-06-01".to_string(),
        n if n % 2 == 0 => format!("/v1/commitments/{}", id(i)),
        _ => format!("/v1/commitments/{}?as_of=2025-06-01", id(i)),
    });
    let (first, peak) = serve(bin, &ledger, reads);
    out.push(row(
        format!("ikrar serve on {events} events: seconds to its first answer"),
        "s",
        first,
        "<= 2 s at 10,000,000 events",
        first <= 2.0,
    ));
    out.push(row(
        format!("ikrar serve on {events} events: peak RSS under {READS} reads (states, past summaries, list pages)"),
        "MiB",
        peak,
        "<= 512 MiB at 10,000,000 events",
        peak <= 512.0,
    ));
    let histories = (0..HISTORIES).map(|i| format!("/v1/commitments/{}/history", id(i)));
    let (_, peak) = serve(bin, &ledger, histories);
    out.push(row(
        format!("ikrar serve on {events} events: peak RSS under {HISTORIES} audit histories"),
        "MiB",
        peak,
        "<= 512 MiB at 10,000,000 events",
        peak <= 512.0,
    ));
    out
}
