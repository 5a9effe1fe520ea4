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
//! - `import_snapshots`: a tracker's snapshots as events (histories, git, reruns, bad input);
//! - `verifiability`: keygen, checkpoint, prove, check-proof, import, damaged files (exit 3);
//! - `reliability`: an append killed mid-way and rerun, damage to every kind of stored item;
//! - `serve`: the HTTP server as a process (tokens, loopback rule, SIGTERM);
//! - `witnessed`: `ikrar serve` with three `ikrar witness serve` processes (cosignatures, a
//!   killed and restarted witness, a split view refused), a tlog-tiles client written from the
//!   spec alone, tlog-proof receipts with a quorum;
//! - `postgres`: a ledger moved between sled and PostgreSQL, two servers on one database ledger;
//! - `full_disk`: a real full filesystem (a loop-mounted ext4 image) under the CLI and under one
//!   `ikrar serve` never restarted (507, then the same append once space is freed);
//! - `postgres_faults`: `ikrar serve` through a PostgreSQL restart, a server that stops
//!   answering (frozen), and a promoted synchronous standby, on clusters of the tests' own.

mod append;
mod append_in_parts;
mod beside_server;
mod canada;
mod console;
mod faults;
mod finding;
mod full_disk;
mod import_beside_server;
mod import_killed;
mod import_snapshots;
mod ledger;
mod lost_files;
mod postgres;
mod postgres_faults;
mod query;
mod record;
mod reliability;
mod serve;
mod tile_files;
mod tiles_client;
mod verifiability;
mod witness_protocol;
mod witnessed;

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

/// Rewrites the records of the bundle that holds `position` through sled itself — the way a
/// tamperer with write access to the files would, keeping sled's checksums valid. `edit` gets
/// the bundle's records and the index of `position` among them.
pub(crate) fn rewrite_bundle(env: &Env, position: u64, edit: impl FnOnce(&mut Vec<String>, usize)) {
    let db = sled::open(env.ledger().join("db")).unwrap();
    let log = db.open_tree("log").unwrap();
    let mut key = vec![b'b'];
    key.extend_from_slice(&position.to_be_bytes());
    let (bundle_key, bundle) = log
        .range(&[b'b'][..]..=&key[..])
        .next_back()
        .unwrap()
        .unwrap();
    let first = u64::from_be_bytes(bundle_key[1..9].try_into().unwrap());
    let mut records: Vec<String> = String::from_utf8(bundle.to_vec())
        .unwrap()
        .split('\n')
        .map(str::to_string)
        .collect();
    edit(&mut records, (position - first) as usize);
    log.insert(bundle_key, records.join("\n").as_bytes())
        .unwrap();
    db.flush().unwrap();
}

/// sled's data files of the ledger: its log and the blob files holding large values (bundles
/// of records are often stored as blobs).
pub(crate) fn sled_files(env: &Env) -> Vec<PathBuf> {
    let db = env.ledger().join("db");
    let mut files = vec![db.join("db")];
    if let Ok(blobs) = std::fs::read_dir(db.join("blobs")) {
        files.extend(blobs.map(|e| e.unwrap().path()));
    }
    files
}

/// Every place `needle` occurs in sled's data files, as (file, offset).
pub(crate) fn find_in_sled_files(env: &Env, needle: &[u8]) -> Vec<(PathBuf, usize)> {
    let mut found = Vec::new();
    for file in sled_files(env) {
        let bytes = std::fs::read(&file).unwrap();
        for (at, w) in bytes.windows(needle.len()).enumerate() {
            if w == needle {
                found.push((file.clone(), at));
            }
        }
    }
    found
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
