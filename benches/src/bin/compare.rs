//! `compare`: every workload of SPEC §9 against raw sled and SQLite, side by side, in one run.
//!
//! ```sh
//! cargo run --release -p ikrar-benches --bin compare -- [--quick] [--json] [--postgres URL]
//! ```
//!
//! `ikrar append` of one file is measured through a release `ikrar` beside `compare` (build it
//! first: `cargo build --release -p ikrar-cli`) or `IKRAR_BIN`; `--ten-million` gives it SPEC
//! §9's file of 10,000,000 events, and the ledger of 10,000,000 events `ikrar rebuild`,
//! `summary`, `show` and `serve` are measured on (kept under `target/bench-ledgers/`).
//!
//! `--postgres URL` (or `IKRAR_BENCH_POSTGRES`) adds the `postgres` column: the appends, the
//! replay and `verify` on a PostgreSQL ledger in a new schema of that database.
//!
//! `verify` and peak memory are measured in child processes of this binary
//! (`compare --measure-verify|--measure-replay|--measure-sled-scan PATH`), which can also be run
//! by hand on any ledger or sled database.

use ikrar_benches::compare::{measure_here, run, Probe, Sizes};

/// Runs a probe in a fresh child process (this binary with the probe's flag and the path), so
/// that its figure is the probe's alone.
fn measure_in_child(probe: Probe, path: &std::path::Path) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg(probe.flag())
        .arg(path)
        .output()
        .expect("child");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(probe) = args.first().and_then(|a| Probe::from_flag(a)) {
        let path = std::path::PathBuf::from(args.get(1).expect("a path"));
        println!("{}", measure_here(probe, &path));
        return;
    }
    let mut postgres = std::env::var("IKRAR_BENCH_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty());
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--quick" | "--json" | "--ten-million" => {}
            "--postgres" => postgres = rest.next().cloned(),
            _ => {
                eprintln!("usage: compare [--quick] [--json] [--ten-million] [--postgres URL]");
                std::process::exit(2);
            }
        }
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut sizes = if quick { Sizes::quick() } else { Sizes::full() };
    if args.iter().any(|a| a == "--ten-million") {
        // SPEC §9's size for `ikrar append` of one file (about 2.5 GB of input).
        sizes.cli_append_events = 10_000_000;
        // And the ledger the CLI's questions and `ikrar serve` are asked on.
        sizes.large_ledger_events = 10_000_000;
    }
    let started = std::time::Instant::now();
    let workloads = run(&sizes, &measure_in_child, postgres.as_deref());
    if args.iter().any(|a| a == "--json") {
        let body = serde_json::json!({ "workloads": workloads });
        println!("{body}");
        return;
    }
    let fmt = |x: Option<f64>| x.map_or_else(|| "—".to_string(), |v| format!("{v}"));
    println!(
        "{:<72} {:>9} {:>12} {:>12} {:>12} {:>9} {:>9} {:>12} {:>9}  bar",
        "workload",
        "unit",
        "ikrar",
        "sqlite",
        "sled_raw",
        "÷sqlite",
        "÷sled",
        "postgres",
        "pg÷sqlite"
    );
    for w in &workloads {
        println!(
            "{:<72} {:>9} {:>12} {:>12} {:>12} {:>9} {:>9} {:>12} {:>9}  {} {}",
            w.name,
            w.unit,
            w.ikrar,
            fmt(w.sqlite),
            fmt(w.sled_raw),
            fmt(w.ratio_vs_sqlite),
            fmt(w.ratio_vs_sled_raw),
            fmt(w.postgres),
            fmt(w.ratio_postgres_vs_sqlite),
            if w.bar_met { "met:" } else { "NOT met:" },
            w.bar
        );
    }
    eprintln!(
        "({} workloads in {:.1} s)",
        workloads.len(),
        started.elapsed().as_secs_f64()
    );
}
