//! `ikrar import-snapshots` killed with SIGKILL part way: run again, it ends with exactly the
//! ledger an uninterrupted run gives; and an import of one chain of appends leaves all of it or
//! nothing.

use std::path::PathBuf;

use super::import_snapshots::{history, import_ok, log_without_times, write_history};
use crate::{ok_json, Env};

/// A history of rows over 30 snapshots as CSV files, imported whole, uninterrupted.
struct Whole {
    _env: Env,
    mapping: PathBuf,
    /// The snapshots, as `DATE=FILE` arguments.
    args: Vec<String>,
    /// The tree size and the log the import ends with, and how long it took.
    full: u64,
    expected: Vec<serde_json::Value>,
    run: std::time::Duration,
}

fn uninterrupted(size: usize) -> Whole {
    let history = history::history(3, 30, size);
    let env = Env::with_ledger();
    let mapping = env.file("m.toml", &history::mapping("retract"));
    let args = write_history(&env, &history, "csv");
    let started = std::time::Instant::now();
    let full = import_ok(&env, &mapping, &args)["tree_size"]
        .as_u64()
        .unwrap();
    let run = started.elapsed();
    let expected = log_without_times(&env);
    Whole {
        _env: env,
        mapping,
        args,
        full,
        expected,
        run,
    }
}

/// The same import on a fresh ledger, running.
fn spawned(mapping: &std::path::Path, args: &[String]) -> (Env, std::process::Child) {
    let env = Env::with_ledger();
    let mut child = env.process();
    child
        .args(["import-snapshots", "--mapping", mapping.to_str().unwrap()])
        .args(args);
    let child = child.spawn().unwrap();
    (env, child)
}

#[test]
fn an_import_killed_and_run_again_ends_with_the_ledger_of_an_uninterrupted_run() {
    // More events than one chain of appends holds: the import is checked whole, then recorded
    // snapshot by snapshot, and a kill can land between two snapshots.
    // The files of the snapshots are the uninterrupted run's: it is kept to the end.
    let Whole {
        _env: _files,
        mapping,
        args,
        full,
        expected,
        ..
    } = uninterrupted(500);
    assert!(full > ikrar_core::CHAIN_EVENTS_MAX as u64, "{full} events");

    // Killed as soon as the ledger's head file shows a first snapshot recorded: between two
    // snapshots, while the rest are being recorded.
    let mut partial_seen = false;
    for _ in 0..5 {
        let (env, mut child) = spawned(&mapping, &args);
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none()
            && started.elapsed() < std::time::Duration::from_secs(120)
        {
            if ikrar_core::Ledger::acknowledged_tree_size(env.ledger()).is_some_and(|n| n > 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let size = ok_json(&env, &["verify"])["tree_size"].as_u64().unwrap();
        partial_seen |= size > 0 && size < full;
        let done = import_ok(&env, &mapping, &args);
        assert_eq!(done["tree_size"].as_u64(), Some(full));
        assert_eq!(
            log_without_times(&env),
            expected,
            "killed at tree size {size}"
        );
        if partial_seen {
            break;
        }
    }
    assert!(partial_seen, "no kill landed in the middle of the import");
}

#[test]
fn an_import_killed_while_its_chain_is_staged_writes_all_of_it_or_nothing() {
    // Fewer events than a chain holds: every snapshot is staged as it is read and the whole
    // import is one commit, so a kill leaves the ledger empty or complete, never part way.
    // The files of the snapshots are the uninterrupted run's: it is kept to the end.
    let Whole {
        _env: _files,
        mapping,
        args,
        full,
        expected,
        run,
        ..
    } = uninterrupted(200);
    assert!(full > 0 && full <= ikrar_core::CHAIN_EVENTS_MAX as u64);
    let mut sizes = Vec::new();
    for percent in [30u32, 60, 80, 90, 97] {
        let (env, mut child) = spawned(&mapping, &args);
        std::thread::sleep(run * percent / 100);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let size = ok_json(&env, &["verify"])["tree_size"].as_u64().unwrap();
        assert!(
            size == 0 || size == full,
            "killed at {percent} %: tree size {size}"
        );
        sizes.push(size);
        let done = import_ok(&env, &mapping, &args);
        assert_eq!(done["tree_size"].as_u64(), Some(full));
        assert_eq!(log_without_times(&env), expected);
    }
    assert!(
        sizes.contains(&0),
        "no kill landed before the end: {sizes:?}"
    );
}
