//! `compare`: every workload of SPEC §9 against raw sled and SQLite, side by side, in one run.
//!
//! ```sh
//! cargo run --release -p ikrar-benches --bin compare -- [--quick] [--json]
//! ```

use ikrar_benches::compare::{replay_peak_rss_here, run, Sizes};

/// Replays in a fresh child process (this binary with `--measure-replay PATH`), so that the
/// peak memory is the replay's alone.
fn replay_peak_rss_in_child(path: &std::path::Path) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--measure-replay")
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
    if args.first().map(String::as_str) == Some("--measure-replay") {
        let path = std::path::PathBuf::from(args.get(1).expect("a ledger path"));
        println!("{}", replay_peak_rss_here(&path));
        return;
    }
    for a in &args {
        if a != "--quick" && a != "--json" {
            eprintln!("usage: compare [--quick] [--json]");
            std::process::exit(2);
        }
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let started = std::time::Instant::now();
    let workloads = run(&sizes, &replay_peak_rss_in_child);
    if args.iter().any(|a| a == "--json") {
        let body = serde_json::json!({ "workloads": workloads });
        println!("{body}");
        return;
    }
    let fmt = |x: Option<f64>| x.map_or_else(|| "—".to_string(), |v| format!("{v}"));
    println!(
        "{:<72} {:>9} {:>12} {:>12} {:>12} {:>9} {:>9}  bar",
        "workload", "unit", "ikrar", "sqlite", "sled_raw", "÷sqlite", "÷sled"
    );
    for w in &workloads {
        println!(
            "{:<72} {:>9} {:>12} {:>12} {:>12} {:>9} {:>9}  {} {}",
            w.name,
            w.unit,
            w.ikrar,
            fmt(w.sqlite),
            fmt(w.sled_raw),
            fmt(w.ratio_vs_sqlite),
            fmt(w.ratio_vs_sled_raw),
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
