//! A full disk, on a real filesystem: a small ext4 image on a loop device, filled with
//! `fallocate`. Through the CLI (a process per append) and through one `ikrar serve` that is
//! never restarted: nothing acknowledged is lost, nothing hangs or panics, and once space is
//! freed the same append succeeds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::tiles_client::http;
use crate::witnessed::{wait_for, Running};
use crate::{json, stderr, stdout};

/// A small ext4 filesystem on a loop device, unmounted when dropped.
struct LoopMount {
    dir: tempfile::TempDir,
    mounted: PathBuf,
}

impl LoopMount {
    /// `None` where mounting is not permitted (not root, no loop devices) — except in CI,
    /// where the test must run and fails instead.
    fn new(mib: u32) -> Option<LoopMount> {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mounted = dir.path().join("mnt");
        std::fs::create_dir(&mounted).unwrap();
        let run = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map(|o| {
                    (
                        o.status.success(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    )
                })
                .unwrap_or((false, format!("{program} cannot run")))
        };
        let image_s = image.to_str().unwrap();
        let size = format!("{mib}M");
        let steps = [
            ("truncate", vec!["-s", size.as_str(), image_s]),
            ("mkfs.ext4", vec!["-q", "-F", image_s]),
            (
                "mount",
                vec!["-o", "loop", image_s, mounted.to_str().unwrap()],
            ),
        ];
        for (program, args) in steps {
            let (ok, err) = run(program, &args);
            if !ok {
                let required = std::env::var("CI").is_ok_and(|v| v == "true")
                    || std::env::var("IKRAR_REQUIRE_LOOP_MOUNT").is_ok_and(|v| v == "1");
                assert!(
                    !required,
                    "a loop-mounted filesystem is required here: {program}: {err}"
                );
                eprintln!(
                    "full-disk test not run: cannot mount a loop filesystem ({program}: {err})"
                );
                return None;
            }
        }
        Some(LoopMount { dir, mounted })
    }

    fn path(&self) -> &Path {
        &self.mounted
    }

    /// Fills the filesystem with one file, leaving about `keep_bytes` free; returns its path.
    fn fill_leaving(&self, keep_bytes: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let fill = self.available_bytes().saturating_sub(keep_bytes);
        let status = Command::new("fallocate")
            .args(["-l", &fill.to_string()])
            .arg(&filler)
            .status()
            .unwrap();
        assert!(status.success());
        filler
    }

    fn available_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.mounted)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mounted).status();
        let _ = &self.dir;
    }
}

/// The binary on `ledger`; fails the test if it runs over two minutes (a hang).
fn ikrar(ledger: &Path, args: &[&str]) -> Output {
    ikrar_with(ledger, args, &[])
}

/// [`ikrar`] with more environment variables.
fn ikrar_with(ledger: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_ikrar"))
        .arg("--ledger")
        .arg(ledger)
        .args(["--format", "json"])
        .args(args)
        .env("IKRAR_ACTOR", "e2e.tester")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("ikrar {args:?} hung on a full disk");
        }
    }
}

/// Free space left beside the filler: a few appends of [`batch`] fit, then the ledger's reserve
/// for sled (16 MiB and four times the commit) is reached.
const KEEP_FREE_BYTES: u64 = 24 * 1024 * 1024;

/// The events of batch `k`: 250 commitments of 3 KB summaries, as JSON Lines.
fn batch_lines(k: u32) -> String {
    let mut lines = String::new();
    for i in 0..250u32 {
        let n = k * 1_000 + i;
        lines.push_str(&format!(
            r#"{{"type":"commitment_made","event_id":"{}","data":{{"commitment_id":"{}","title":"C {n}","summary":"{}","made_on":"2025-01-16"}}}}"#,
            crate::eid(n),
            crate::cid(n),
            "d".repeat(3_000)
        ));
        lines.push('\n');
    }
    lines
}

fn batch(dir: &Path, k: u32) -> PathBuf {
    let file = dir.join(format!("batch-{k}.jsonl"));
    std::fs::write(&file, batch_lines(k)).unwrap();
    file
}

/// sled itself meets the full disk (the free-space check off): a write fails part way, and
/// the next open removes what it left.
#[test]
fn a_full_disk_loses_nothing_acknowledged_and_the_ledger_works_again_once_space_is_freed() {
    through_the_cli(6 * 1024 * 1024, &[("IKRAR_DISK_RESERVE_MIB", "0")], false);
}

/// The free-space check refuses the append before sled writes anything.
#[test]
fn an_append_the_disk_has_no_room_for_is_refused_before_anything_is_written() {
    through_the_cli(KEEP_FREE_BYTES, &[], true);
}

/// Appends through the CLI until one fails, with `keep_free_bytes` left beside a filler, and
/// `vars` for every append; then checks, frees the space, and appends again.
fn through_the_cli(keep_free_bytes: u64, vars: &[(&str, &str)], refused_before_writing: bool) {
    let Some(disk) = LoopMount::new(64) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let ledger = disk.path().join("ledger");
    let out = ikrar(&ledger, &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let filler = disk.fill_leaving(keep_free_bytes);

    let mut acknowledged = 0u64;
    let mut failed = None;
    for k in 0..60 {
        let out = ikrar_with(
            &ledger,
            &["append", batch(work.path(), k).to_str().unwrap()],
            vars,
        );
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "batch {k}: {err}");
        match out.status.code() {
            Some(0) => acknowledged = json(&out)["tree_size"].as_u64().unwrap(),
            Some(code) => {
                failed = Some((k, code, err));
                break;
            }
            None => panic!("batch {k}: killed by a signal"),
        }
    }
    let (failed_batch, code, err) = failed.expect("the disk filled up");
    assert_eq!(code, 1, "a full disk is an operational error: {err}");
    // Refused before sled wrote anything, and said so — or met by sled, and named an I/O error.
    assert_eq!(
        err.contains("too little free space") && err.contains("nothing was written"),
        refused_before_writing,
        "{err}"
    );
    assert!(acknowledged > 0, "some batches fitted");
    // While the disk is still full, a check neither hangs nor panics.
    let out = ikrar(&ledger, &["summary"]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    std::fs::remove_file(&filler).unwrap();
    // Exactly the acknowledged events, verified.
    let out = ikrar(&ledger, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["tree_size"], acknowledged);
    let out = ikrar(&ledger, &["export"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count() as u64, acknowledged);
    // The failed batch, sent again, completes; and appends go on.
    let out = ikrar(
        &ledger,
        &["append", batch(work.path(), failed_batch).to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["tree_size"], acknowledged + 250);
    let out = ikrar(&ledger, &["verify"]);
    assert_eq!(json(&out)["tree_size"], acknowledged + 250);
}

/// Batch `k` as the JSON array `POST /v1/events` takes.
fn batch_body(k: u32) -> Vec<u8> {
    let lines = batch_lines(k);
    let events: Vec<&str> = lines.lines().collect();
    format!("[{}]", events.join(",")).into_bytes()
}

fn post_batch(port: u16, k: u32) -> (u16, serde_json::Value) {
    let (status, _, body) = http(port, "POST", "/v1/events", &batch_body(k))
        .expect("the server answers, disk full or not");
    (status, serde_json::from_slice(&body).unwrap())
}

#[test]
fn a_server_on_a_full_disk_answers_507_and_takes_the_same_append_once_space_is_freed() {
    let Some(disk) = LoopMount::new(64) else {
        return;
    };
    let ledger = disk.path().join("ledger");
    let out = ikrar(&ledger, &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let port = ikrar_testkit::free_port();
    let mut server = Running(
        Command::new(env!("CARGO_BIN_EXE_ikrar"))
            .arg("--ledger")
            .arg(&ledger)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("IKRAR_ACTOR", "e2e.tester")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the server to answer", || {
        http(port, "GET", "/healthz", b"").is_some_and(|(s, _, _)| s == 200)
    });
    let filler = disk.fill_leaving(KEEP_FREE_BYTES);

    let mut acknowledged = 0u64;
    let mut refused = None;
    for k in 0..60 {
        match post_batch(port, k) {
            (200, body) => acknowledged = body["tree_size"].as_u64().unwrap(),
            (status, body) => {
                refused = Some((k, status, body));
                break;
            }
        }
    }
    let (refused_batch, status, body) = refused.expect("the disk filled up");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["kind"], "disk_full", "{body}");
    assert!(acknowledged > 0, "some batches fitted");
    // Still full: reads answer, and the refusal repeats — nothing was written by it.
    let (status, _, _) = http(port, "GET", "/v1/summary", b"").unwrap();
    assert_eq!(status, 200);
    assert_eq!(post_batch(port, refused_batch).0, 507);

    std::fs::remove_file(&filler).unwrap();
    // The same server, never restarted: the refused batch is taken, and appends go on.
    let (status, body) = post_batch(port, refused_batch);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tree_size"], acknowledged + 250);
    let (status, body) = post_batch(port, refused_batch + 1);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = http(port, "GET", "/v1/verify", b"").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tree_size"], acknowledged + 500);
    assert!(server.signal("-TERM").success());
    let out = ikrar(&ledger, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["tree_size"], acknowledged + 500);
}
