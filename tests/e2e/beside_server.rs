//! The CLI beside a running server (SPEC §7.1): while `ikrar serve` holds the ledger, every
//! command goes through `ikrar.sock` and answers exactly what it answers without the server;
//! a socket left by a server killed with SIGKILL is ignored.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ikrar_testkit::free_port;

use crate::{json, stderr, stdout, Env};

const SUMMIT: &str = "01946d3e-0000-7000-8000-000000000109";

/// Starts `ikrar serve` on the environment's ledger and waits for its socket to answer.
pub(crate) fn start_server(env: &Env) -> Child {
    let server = env
        .process()
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .spawn()
        .unwrap();
    let socket = env.ledger().join("ikrar.sock");
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server's socket did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

pub(crate) fn stop(mut server: Child) {
    let pid = server.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
}

/// The queries compared with and without the server, in every machine format.
const QUERIES: &[&[&str]] = &[
    &["list"],
    &["list", "--search", "summit", "--sort", "title"],
    &["list", "--party", "Japan", "--limit", "1", "--offset", "1"],
    &["meetings"],
    &["show", SUMMIT],
    &["show", "01946d3e-0000-7000-8000-00000000020"],
    &["history", SUMMIT],
    &["summary", "--as-of", "2025-06-30", "--known-at", "12"],
    &["diff", "--from", "2025-01-01", "--to", "2025-12-31"],
    &["actors"],
    &["log", "--from", "3", "--limit", "4"],
    &["export"],
    &["verify"],
    &["prove", "01946d3e-0000-7000-8000-000000000301"],
    &["show", "01946d3e"],
    &["show", "ffffffff"],
    &["list", "--status", "fulfiled"],
];

fn answers(env: &Env) -> Vec<(Option<i32>, String, String)> {
    let mut out = Vec::new();
    for q in QUERIES {
        for format in ["json", "csv", "table"] {
            let mut args = vec!["--format", format];
            args.extend_from_slice(q);
            let o = env.run(&args);
            // A verify report and a proof carry no time; everything else is deterministic.
            out.push((o.status.code(), stdout(&o), stderr(&o)));
        }
    }
    out
}

#[test]
fn every_command_works_through_the_running_server_with_the_same_answers() {
    let env = Env::empty();
    env.run(&["demo"]);
    let key = env.dir.path().join("key");
    assert_eq!(
        env.run(&[
            "keygen",
            key.to_str().unwrap(),
            "--name",
            "example.org/ikrar"
        ])
        .status
        .code(),
        Some(0)
    );
    let alone = answers(&env);

    let server = start_server(&env);
    let socket = env.ledger().join("ikrar.sock");
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let beside = answers(&env);
    for (i, (a, b)) in alone.iter().zip(&beside).enumerate() {
        assert_eq!(a, b, "query {:?} format {}", QUERIES[i / 3], i % 3);
    }

    // Recording through the server, with --actor honoured; a dry run writes nothing.
    let before = env.export();
    let dry = env.run(&[
        "--format",
        "json",
        "status",
        SUMMIT,
        "in_progress",
        "--dry-run",
    ]);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert_eq!(json(&dry)["dry_run"], true);
    assert_eq!(env.export(), before);
    let out = env.run(&[
        "--actor",
        "oversight.kim",
        "--format",
        "json",
        "status",
        "01946d3e-0000-7000-8000-000000000109",
        "in_progress",
        "--label",
        "Underway",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["tree_size"], 14);
    let last = env.run(&["log", "--from", "13"]);
    let record: serde_json::Value = serde_json::from_str(stdout(&last).trim()).unwrap();
    assert_eq!(record["actor"], "oversight.kim");

    // A bad event through the server: exit 2, the same words, nothing written.
    let bad = env.run(&["status", SUMMIT, "in_progress", "--effective", "2024-01-01"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("made_on"), "{}", stderr(&bad));
    // A conflict: exit 4.
    let conflict = env.run(&["status", SUMMIT, "fulfilled", "--expected-version", "0"]);
    assert_eq!(conflict.status.code(), Some(4), "{}", stderr(&conflict));

    // A checkpoint signed here, stored by the server.
    let cp = env.run(&[
        "--format",
        "json",
        "checkpoint",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(cp.status.code(), Some(0), "{}", stderr(&cp));
    assert_eq!(json(&cp)["tree_size"], 14);

    // A file piped to `append -` goes through the server too (standard input is spooled
    // before the server is found, and sent from the spooled copy).
    let piped = crate::made_line(501) + "\n" + &crate::made_line(502) + "\n";
    let out = env.run_stdin(&["--format", "json", "append", "-"], &piped);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["tree_size"], 16, "{}", stdout(&out));

    // `log --follow` through the socket sees an event appended by another command.
    let mut follower = env
        .process()
        .args(["log", "--follow", "--from", "16"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = env.run(&["commit", "--title", "Followed", "--made-on", "2025-02-01"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut line = String::new();
    BufReader::new(follower.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("\"title\":\"Followed\""), "{line}");
    follower.kill().unwrap();
    follower.wait().unwrap();

    stop(server);
    assert!(!socket.exists(), "the socket is removed on exit");
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(json(&out)["tree_size"], 17);
}

#[test]
fn a_socket_left_by_a_killed_server_is_ignored() {
    let env = Env::empty();
    env.run(&["demo"]);
    let mut server = start_server(&env);
    server.kill().unwrap(); // SIGKILL: no chance to remove the socket
    server.wait().unwrap();
    assert!(env.ledger().join("ikrar.sock").exists());
    let out = env.run(&["--format", "json", "summary"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["total"], 11);
    let out = env.run(&["commit", "--title", "After", "--made-on", "2025-03-01"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A new server replaces the stale socket.
    let server = start_server(&env);
    let out = env.run(&["--format", "json", "summary"]);
    assert_eq!(json(&out)["total"], 12);
    stop(server);
}
