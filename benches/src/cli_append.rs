//! `ikrar append` of one file, end to end through the binary (reading and parsing included),
//! against the library's own bulk appends of the same events in the same run (SPEC §9): its
//! rate, its ratio and the process's peak memory.
//!
//! The events are a tracker's history ([`history_event`]: a hundred events a commitment). The
//! library appends them in batches of 10,000 (as the CLI writes them), each built
//! before its append is timed; the CLI is a fresh `ikrar append FILE` process on a new ledger,
//! timed from spawn to exit, its peak RSS read from the kernel while it runs (`VmHWM`).
//! With more than one round, the two alternate and each figure is the median.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::compare::Workload;
use crate::{commitment_made, EVENTS_PER_COMMITMENT};

/// The `ikrar` binary to measure: `IKRAR_BIN`, else one beside this program (a release build
/// of the workspace puts `compare` and `ikrar` in the same directory).
pub fn ikrar_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("IKRAR_BIN") {
        return Some(PathBuf::from(bin));
    }
    let beside = std::env::current_exe().ok()?.parent()?.join("ikrar");
    beside.is_file().then_some(beside)
}

/// Event `n` of a history of `events` events shaped as SPEC §9's ledger: one commitment per
/// [`EVENTS_PER_COMMITMENT`] events, all made first, then status changes of each in turn.
/// (Ten million commitments of one event each would measure the index of ten million streams,
/// not a tracker's ledger.)
pub fn history_event(n: u64, events: u64) -> ikrar_core::InputEvent {
    use ikrar_core::{CommitmentStatusChanged, EventData, InputEvent, Status};
    let commitments = (events / EVENTS_PER_COMMITMENT).max(1);
    if n < commitments {
        return commitment_made(n);
    }
    let of = commitment_made((n - commitments) % commitments);
    let EventData::CommitmentMade(made) = of.data else {
        unreachable!("commitment_made makes a commitment")
    };
    let mut e = InputEvent::new(EventData::CommitmentStatusChanged(
        CommitmentStatusChanged {
            commitment_id: made.commitment_id,
            status: Status::ALL[(n % Status::ALL.len() as u64) as usize],
            label: Some("Underway – on track".into()),
        },
    ));
    e.actor = Some("bench".into());
    e
}

/// Writes the `events` events of [`history_event`] in the input form, one a line, to `path`.
pub fn write_input(path: &Path, events: u64) {
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("file"));
    for n in 0..events {
        writeln!(out, "{}", history_event(n, events).to_json()).expect("write");
    }
    out.flush().expect("flush");
}

/// The library: the same events in batches of 10,000 on a new ledger at `location`; only the
/// appends are timed.
fn library_rate(events: u64, location: &Path) -> f64 {
    let ledger = ikrar_core::Ledger::create(location).expect("ledger");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batch = ikrar_core::EVENTS_PER_APPEND_MAX as u64;
    let mut spent = Duration::ZERO;
    let mut next = 0;
    while next < events {
        let end = (next + batch).min(events);
        let batch: Vec<_> = (next..end).map(|n| history_event(n, events)).collect();
        let started = Instant::now();
        rt.block_on(ledger.append(batch)).expect("append");
        spent += started.elapsed();
        next = end;
    }
    events as f64 / spent.as_secs_f64()
}

/// The CLI: `ikrar append FILE` (of `events` events) on a new ledger at `location`: events per
/// second from spawn to exit, and the process's peak RSS in MiB.
fn cli_run(bin: &Path, file: &Path, events: u64, location: &Path) -> (f64, f64) {
    let init = std::process::Command::new(bin)
        .arg("--ledger")
        .arg(location)
        .arg("init")
        .output()
        .expect("ikrar init");
    assert!(init.status.success(), "ikrar init failed");
    let started = Instant::now();
    let child = std::process::Command::new(bin)
        .arg("--ledger")
        .arg(location)
        .args(["--actor", "bench", "--format", "json", "append"])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("ikrar append");
    let (status, peak_kib) = wait_with_peak_rss(child);
    let elapsed = started.elapsed();
    assert_eq!(status, 0, "ikrar append failed");
    (
        events as f64 / elapsed.as_secs_f64(),
        peak_kib as f64 / 1024.0,
    )
}

/// Waits for `child`, reading its peak RSS (`VmHWM`, KiB) every 10 ms while it runs. The
/// kernel keeps the peak, so the last reading misses only what grew in the last 10 ms —
/// nothing, for `ikrar append`, which still holds its index while it prints the positions.
pub(crate) fn wait_with_peak_rss(mut child: std::process::Child) -> (i32, i64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            let hwm = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<i64>().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code().unwrap_or(-1), peak_kib);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The two rows: the CLI's rate against the library's, and the CLI's peak memory. The memory
/// bar counts only at SPEC §9's size, 10,000,000 events.
pub fn workloads(events: u64, dir: &Path, bin: &Path) -> Vec<Workload> {
    let file = dir.join("cli-append.jsonl");
    write_input(&file, events);
    let rounds = if events <= 200_000 { 3 } else { 1 };
    let (mut library, mut cli, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        library.push(library_rate(
            events,
            &dir.join(format!("library-append-{round}")),
        ));
        let (rate, peak) = cli_run(bin, &file, events, &dir.join(format!("cli-append-{round}")));
        cli.push(rate);
        rss.push(peak);
        let _ = std::fs::remove_dir_all(dir.join(format!("library-append-{round}")));
        let _ = std::fs::remove_dir_all(dir.join(format!("cli-append-{round}")));
    }
    let _ = std::fs::remove_file(&file);
    let (library, cli) = (median(library), median(cli));
    let peak = rss.into_iter().fold(0.0, f64::max);
    let ratio = cli / library;
    vec![
        Workload {
            name: format!("ikrar append of one file of {events} events, end to end ÷ the library's bulk appends"),
            unit: "events/s",
            ikrar: cli.round(),
            library: Some(library.round()),
            ratio_vs_library: Some((ratio * 1000.0).round() / 1000.0),
            bar: ">= 0.7 x the library's bulk rate in the same run",
            bar_met: ratio >= 0.7,
            count: events,
            ..Workload::default()
        },
        Workload {
            name: format!("peak RSS of ikrar append of one file of {events} events"),
            unit: "MiB",
            ikrar: (peak * 10.0).round() / 10.0,
            bar: "<= 1 GiB at 10,000,000 events",
            bar_met: peak <= 1024.0 && events >= 10_000_000,
            count: events,
            ..Workload::default()
        },
    ]
}
