//! The `ikrar` binary on a PostgreSQL ledger (`--ledger postgres://…`): moving a ledger between
//! backends with export and import keeps its root and its answers, and two `ikrar serve`
//! processes on one database ledger, each with concurrent clients, lose and duplicate nothing.
//!
//! Needs `IKRAR_TEST_POSTGRES` (see `ikrar-testkit`); without it each test says so and checks
//! nothing.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use ikrar_testkit::Place;
use serde_json::{json, Value};

use ikrar_testkit::free_port;

use crate::{cid, json as stdout_json, stderr, stdout, Env};

/// Runs the binary on `ledger` and answers its JSON output, requiring exit 0.
fn ok_on(env: &Env, ledger: &Path, args: &[&str]) -> Value {
    let out = env
        .cmd_for(ledger)
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {args:?}: {}",
        ledger.display(),
        stderr(&out)
    );
    stdout_json(&out)
}

fn export_of(env: &Env, ledger: &Path) -> String {
    let out = env.cmd_for(ledger).arg("export").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// The answers an analyst would compare between two copies of a ledger, in fixed bases.
fn answers(env: &Env, ledger: &Path, demo_commitment: &str) -> Vec<Value> {
    let mut out = vec![ok_on(env, ledger, &["verify"])];
    for (as_of, known_at) in [
        ("2017-11-30", "728"),
        ("2025-06-30", "741"),
        ("2025-06-30", "743"),
    ] {
        out.push(ok_on(
            env,
            ledger,
            &["summary", "--as-of", as_of, "--known-at", known_at],
        ));
        out.push(ok_on(
            env,
            ledger,
            &["list", "--as-of", as_of, "--known-at", known_at],
        ));
    }
    out.push(ok_on(env, ledger, &["history", demo_commitment]));
    out.push(ok_on(
        env,
        ledger,
        &[
            "diff",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--known-at",
            "743",
        ],
    ));
    out
}

#[test]
fn a_ledger_moved_from_sled_to_postgres_and_back_keeps_its_root_and_answers() {
    let Some(place) = Place::postgres_for("a_ledger_moved_between_backends") else {
        return;
    };
    // On sled: the Canada tracker (728 events), the demo (13), a status change and its
    // retraction — amendments, meetings, backdating and a retraction all travel.
    let env = Env::with_ledger();
    let raw = std::fs::read_to_string(crate::canada::data_file()).unwrap();
    let items: Vec<Value> = serde_json::from_str(&raw).unwrap();
    let canada = env.file("canada.jsonl", &crate::canada::tracker_as_input(&items));
    ok_on(&env, &env.ledger(), &["append", canada.to_str().unwrap()]);
    ok_on(&env, &env.ledger(), &["demo"]);
    let summit = "01946d3e-0000-7000-8000-000000000109";
    let changed = ok_on(
        &env,
        &env.ledger(),
        &["status", summit, "in_progress", "--effective", "2025-03-01"],
    );
    let event = changed["event_ids"][0].as_str().unwrap().to_string();
    ok_on(
        &env,
        &env.ledger(),
        &["retract", &event, "--reason", "recorded in error"],
    );
    let sled_export = export_of(&env, &env.ledger());
    assert_eq!(sled_export.lines().count(), 743);

    // Into PostgreSQL: the same records, byte for byte, hence the same root and answers.
    let postgres = place.path();
    let file = env.file("export.jsonl", &sled_export);
    ok_on(&env, postgres, &["import", file.to_str().unwrap()]);
    assert_eq!(export_of(&env, postgres), sled_export);
    let on_sled = answers(&env, &env.ledger(), summit);
    let on_postgres = answers(&env, postgres, summit);
    assert_eq!(on_sled[0]["root"], on_postgres[0]["root"]);
    assert_eq!(on_sled, on_postgres);

    // And back into a new ledger directory.
    let back = env.dir.path().join("back");
    let file = env.file("export-pg.jsonl", &export_of(&env, postgres));
    ok_on(&env, &back, &["import", file.to_str().unwrap()]);
    assert_eq!(export_of(&env, &back), sled_export);
    assert_eq!(answers(&env, &back, summit), on_sled);

    // Import restores only into an empty ledger, on either backend.
    let out = env
        .cmd_for(postgres)
        .args(["import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("already holds 743 records"));
}

/// One HTTP/1.1 request on a new connection: (status, body).
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

#[test]
fn two_serve_processes_on_one_postgres_ledger_lose_and_duplicate_nothing() {
    let Some(place) = Place::postgres_for("two_serve_processes") else {
        return;
    };
    const CLIENTS_PER_SERVER: u32 = 4;
    const APPENDS_PER_CLIENT: u64 = 20;
    let env = Env::empty();
    ok_on(&env, place.path(), &["init"]);
    // The shared commitment every client also writes to.
    let shared = cid(9999);
    let made = json!({"type": "commitment_made", "actor": "e2e",
        "data": {"commitment_id": shared, "title": "Shared", "made_on": "2025-01-16"}});
    let file = env.file("shared.jsonl", &format!("{made}\n"));
    ok_on(&env, place.path(), &["append", file.to_str().unwrap()]);

    let ports = [free_port(), free_port()];
    let mut servers: Vec<std::process::Child> = ports
        .iter()
        .map(|port| {
            std::process::Command::new(env!("CARGO_BIN_EXE_ikrar"))
                .args(["--ledger", place.location()])
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .env_remove("IKRAR_LEDGER")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for port in ports {
        let started = Instant::now();
        while request(port, "GET", "/healthz", "").is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "no server");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let started = Instant::now();
    let clients: Vec<_> = (0..2 * CLIENTS_PER_SERVER)
        .map(|k| {
            let port = ports[(k % 2) as usize];
            let shared = shared.clone();
            std::thread::spawn(move || {
                let own = cid(k);
                let mut acked: Vec<(String, u64)> = Vec::new();
                let post = |event: Value| -> (u16, Value) {
                    let (code, body) = request(port, "POST", "/v1/events", &event.to_string())
                        .expect("the server answers");
                    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
                };
                let (code, body) = post(json!({"type": "commitment_made", "actor": "e2e",
                    "data": {"commitment_id": own, "title": format!("Client {k}"),
                             "made_on": "2025-01-16"}}));
                assert_eq!(code, 200, "{body}");
                for i in 0..APPENDS_PER_CLIENT {
                    // Its own stream with the exact version: a lost or doubled event would
                    // make this a conflict.
                    let (code, body) = post(json!({"type": "commitment_status_changed",
                        "actor": "e2e", "expected_version": i,
                        "data": {"commitment_id": own, "status": "in_progress",
                                 "label": format!("step {i}")}}));
                    assert_eq!(code, 200, "{body}");
                    acked.push((
                        body["event_ids"][0].as_str().unwrap().to_string(),
                        body["positions"][0].as_u64().unwrap(),
                    ));
                    // The shared stream, through whichever server this client uses.
                    let (code, body) = post(json!({"type": "commitment_status_changed",
                        "actor": "e2e",
                        "data": {"commitment_id": shared, "status": "in_progress",
                                 "label": format!("client {k} step {i}")}}));
                    assert_eq!(code, 200, "{body}");
                    acked.push((
                        body["event_ids"][0].as_str().unwrap().to_string(),
                        body["positions"][0].as_u64().unwrap(),
                    ));
                }
                acked
            })
        })
        .collect();
    let acked: Vec<(String, u64)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let appends = acked.len() as u64 + u64::from(2 * CLIENTS_PER_SERVER);
    eprintln!(
        "two servers, {} clients: {appends} appends in {:.2} s ({:.0} appends/s)",
        2 * CLIENTS_PER_SERVER,
        elapsed.as_secs_f64(),
        appends as f64 / elapsed.as_secs_f64()
    );

    // Both servers answer the same summary (each follows the other's commits).
    let total = 1 + appends;
    for port in ports {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, body) = request(port, "GET", "/v1/verify", "").unwrap();
            let report: Value = serde_json::from_str(&body).unwrap();
            if report["tree_size"] == total {
                assert_eq!(report["ok"], true, "{report}");
                break;
            }
            assert!(Instant::now() < deadline, "port {port} stuck at {report}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for server in &mut servers {
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap()
            .success());
        assert!(server.wait().unwrap().success());
    }

    // The log: gapless positions and versions, every acknowledged event exactly once, at the
    // position its acknowledgement named.
    let export = export_of(&env, place.path());
    let mut at: HashMap<String, u64> = HashMap::new();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut ids = HashSet::new();
    for (i, line) in export.lines().enumerate() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["position"], i as u64);
        let stream = r["stream"].as_str().unwrap().to_string();
        let v = versions.entry(stream).or_insert(0);
        assert_eq!(r["version"], *v);
        *v += 1;
        let id = r["event_id"].as_str().unwrap().to_string();
        assert!(ids.insert(id.clone()), "{id} twice");
        at.insert(id, i as u64);
    }
    assert_eq!(export.lines().count() as u64, total);
    for (id, position) in &acked {
        assert_eq!(at.get(id), Some(position), "{id}");
    }
    assert_eq!(
        versions[&format!("commitment/{shared}")],
        1 + u64::from(2 * CLIENTS_PER_SERVER) * APPENDS_PER_CLIENT
    );
    assert_eq!(ok_on(&env, place.path(), &["verify"])["tree_size"], total);
}
