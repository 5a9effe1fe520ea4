//! End-to-end tests of the `ikrar` binary: each test drives the real, built binary against a
//! fresh ledger in a temporary directory.
//!
//! Contents:
//! - `append`: the input form, every bad input of SPEC §3 (exit 2, nothing written), conflicts
//!   (exit 4), idempotent re-runs, files larger than one batch;
//! - `ledger`: init, log, export, verify, locking and integrity failures (exit 1 and 3);
//! - `record`: the recording commands (commit, status, amend, meeting, link, retract);
//! - `query`: list, show, history, summary, diff in any basis, the demo, projections as caches;
//! - `canada`: the real Canada Mandate Letter Tracker data, with the tracker's own counts;
//! - `verifiability`: keygen, checkpoint, prove, check-proof, import, damaged files (exit 3);
//! - `reliability`: an append killed mid-way and rerun, damage to every kind of stored item;
//! - `serve`: the HTTP server as a process (tokens, loopback rule, SIGTERM).

mod append;
mod canada;
mod ledger;
mod query;
mod record;
mod reliability;
mod serve;
mod verifiability;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A temporary directory with a ledger path in it.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn empty() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh, initialised ledger.
    pub(crate) fn with_ledger() -> Env {
        let env = Env::empty();
        let out = env.run(&["init"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        env
    }

    pub(crate) fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    pub(crate) fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub(crate) fn cmd(&self) -> Command {
        self.cmd_for(&self.ledger())
    }

    /// The binary as a plain process, for tests that spawn and kill it.
    pub(crate) fn process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ikrar"));
        c.arg("--ledger")
            .arg(self.ledger())
            .env_remove("IKRAR_LEDGER")
            .env("IKRAR_ACTOR", "e2e.tester")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    /// The binary on another ledger of this environment.
    pub(crate) fn cmd_for(&self, ledger: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ikrar"));
        c.arg("--ledger")
            .arg(ledger)
            .env_remove("IKRAR_LEDGER")
            .env("IKRAR_ACTOR", "e2e.tester");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub(crate) fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.cmd().args(args).write_stdin(stdin).output().unwrap()
    }

    /// The ledger exactly as exported, for "nothing was written" checks.
    pub(crate) fn export(&self) -> String {
        let out = self.run(&["export"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    }

    pub(crate) fn append_file(&self, path: &Path) -> Output {
        self.run(&["append", path.to_str().unwrap()])
    }
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command with `--format json`, requires exit 0, and parses its output.
pub(crate) fn ok_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["--format", "json"];
    full.extend_from_slice(args);
    let out = env.run(&full);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    json(&out)
}

pub(crate) fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// A commitment id for tests: `0194a1c2-7f00-7000-8000-0000000000NN`.
pub(crate) fn cid(n: u32) -> String {
    format!("0194a1c2-7f00-7000-8000-{n:012x}")
}

/// An event id for tests.
pub(crate) fn eid(n: u32) -> String {
    format!("0194a1c2-7f00-7000-9000-{n:012x}")
}

pub(crate) fn made_line(n: u32) -> String {
    format!(
        r#"{{"type":"commitment_made","event_id":"{}","data":{{"commitment_id":"{}","title":"Commitment {n}","parties":["Japan"],"made_on":"2025-01-16"}}}}"#,
        eid(n),
        cid(n)
    )
}
