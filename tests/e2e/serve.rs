//! `ikrar serve` and `ikrar token add` as a real process: it answers on loopback, refuses a
//! public address without tokens, and stops cleanly on SIGTERM (saving its index).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ikrar_testkit::free_port;

use crate::{json, stderr, Env};

/// A raw HTTP/1.1 GET, so that the test needs no client library.
fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Some((code, body))
}

#[test]
fn serve_answers_with_tokens_and_stops_cleanly_on_sigterm() {
    let env = Env::empty();
    env.run(&["demo"]);
    let tokens = env.dir.path().join("tokens.json");
    let out = env.run(&[
        "--format",
        "json",
        "token",
        "add",
        "analyst",
        "--role",
        "reader",
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let token = json(&out)["token"].as_str().unwrap().to_string();
    assert!(!std::fs::read_to_string(&tokens).unwrap().contains(&token));
    assert_eq!(
        env.run(&[
            "token",
            "add",
            "x",
            "--role",
            "admin",
            "--tokens",
            tokens.to_str().unwrap()
        ])
        .status
        .code(),
        Some(2)
    );

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = env
        .process()
        .args([
            "serve",
            "--listen",
            &listen,
            "--tokens",
            tokens.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        if let Some(answer) = get(port, "/healthz", None) {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health.0, 200);
    assert_eq!(get(port, "/v1/summary", None).unwrap().0, 401);
    let (code, body) = get(port, "/v1/summary", Some(&token)).unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("\"total\":11"), "{body}");
    // The server built its index at start and saved it, at 13 records.
    let index = env.ledger().join("index");
    let indexed = || {
        let bytes = std::fs::read(&index).unwrap();
        u64::from_be_bytes(bytes[12..20].try_into().unwrap())
    };
    let waited = Instant::now();
    while !index.exists() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(indexed(), 13);
    // Ten more through the server (the CLI beside it), then the stop saves it again.
    let events = env.dir.path().join("more.jsonl");
    let lines: String = (0..10)
        .map(|i| {
            format!(
                "{{\"type\":\"commitment_made\",\"actor\":\"kim\",\"data\":{{\"commitment_id\":\"0194a1c2-5e00-7000-8000-{i:012x}\",\"title\":\"More {i}\",\"made_on\":\"2025-01-16\"}}}}\n"
            )
        })
        .collect();
    std::fs::write(&events, lines).unwrap();
    let out = env.run(&["append", events.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // SIGTERM: a graceful stop with exit 0, the index saved for the next process, and the
    // ledger is whole.
    let pid = server.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(indexed(), 23, "saved when the server stopped");
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(json(&out)["tree_size"], 23);
}

#[test]
fn serve_refuses_a_public_address_without_tokens() {
    let env = Env::with_ledger();
    let out = env.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tokens"), "{}", stderr(&out));
}

/// The Python example of docs/http.md, run as written against a live server of the demo
/// ledger: its output must be the one the document shows.
#[test]
fn the_http_docs_python_example_runs_as_written() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/http.md"))
        .unwrap();
    let block = |start: &str| {
        let from = doc.find(start).unwrap() + start.len();
        doc[from..from + doc[from..].find("```").unwrap()].to_string()
    };
    let script = block("```python\n");
    let expected = block("Its output:\n\n```text\n");

    let env = Env::empty();
    env.run(&["demo"]);
    let port = free_port();
    let mut server = env
        .process()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(port, "/healthz", None).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut python = std::process::Command::new("python3")
        .arg("-")
        .env("IKRAR_URL", format!("http://127.0.0.1:{port}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the documentation's example");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}
