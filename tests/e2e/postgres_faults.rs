//! `ikrar serve` on a PostgreSQL ledger through the faults of the database server: the server
//! restarted while appends arrive, the server frozen (it stops answering, its connections
//! open), and a primary with a synchronous standby stopped with
//! `-m immediate` and the standby promoted. Each test runs clusters of its own
//! (`ikrar_testkit::cluster`), stopped and deleted at the end even when it fails.
//!
//! Needs PostgreSQL's server binaries; without them each test says so and checks nothing,
//! unless `IKRAR_REQUIRE_POSTGRES=1`.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikrar_testkit::cluster::{Cluster, StopMode};
use ikrar_testkit::free_port;
use serde_json::{json, Value};

use crate::{cid, json as stdout_json, stderr, stdout, Env};

/// One request on a new connection with a 30 s limit: (status, body), or `None` if the
/// server did not answer.
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
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
    let body = text.split_once("\r\n\r\n")?.1;
    Some((code, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// `ikrar serve` on `url`, answering on its port.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(url: &str) -> Server {
        Server::start_with(url, &[])
    }

    /// [`Server::start`] with more environment variables.
    fn start_with(url: &str, vars: &[(&str, &str)]) -> Server {
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_ikrar"))
            .envs(vars.iter().copied())
            .args([
                "--ledger",
                url,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("IKRAR_LEDGER")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while request(port, "GET", "/healthz", "").is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "no server");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok_on(env: &Env, url: &str, args: &[&str]) -> Value {
    let out = env
        .cmd_for(std::path::Path::new(url))
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout_json(&out)
}

/// A status change with an event id of its own, so that it can be sent again.
fn step(commitment: &str, label: String) -> (String, String) {
    let id = uuid::Uuid::now_v7().to_string();
    let event = json!({"type": "commitment_status_changed", "event_id": id, "actor": "e2e",
        "effective": "2025-02-01",
        "data": {"commitment_id": commitment, "status": "in_progress", "label": label}});
    (id, event.to_string())
}

/// What the clients saw: the acknowledged events' ids and positions, and the events whose
/// append failed (id, body).
#[derive(Default)]
struct Seen {
    acked: Vec<(String, u64)>,
    failed: Vec<(String, String)>,
    /// (status, error kind) of each failure.
    errors: HashMap<(u16, String), usize>,
}

/// `clients` threads appending to `commitment` through `port` until `stop` is set, counting
/// acknowledgements in `acks`.
fn load(
    port: u16,
    commitment: &str,
    clients: u32,
    stop: &Arc<AtomicBool>,
    acks: &Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..clients)
        .map(|k| {
            let (stop, commitment) = (stop.clone(), commitment.to_string());
            let acks = acks.clone();
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let (id, body) = step(&commitment, format!("client {k} step {i}"));
                    let (code, answer) = request(port, "POST", "/v1/events", &body)
                        .expect("the server answers within 30 s, database down or not");
                    if code == 200 {
                        acks.fetch_add(1, Ordering::Relaxed);
                        seen.acked
                            .push((id, answer["positions"][0].as_u64().unwrap()));
                    } else {
                        let kind = answer["error"]["kind"].as_str().unwrap_or("").to_string();
                        *seen.errors.entry((code, kind)).or_default() += 1;
                        seen.failed.push((id, body));
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                seen
            })
        })
        .collect()
}

fn gather(handles: Vec<std::thread::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for h in handles {
        let seen = h.join().unwrap();
        all.acked.extend(seen.acked);
        all.failed.extend(seen.failed);
        for (k, n) in seen.errors {
            *all.errors.entry(k).or_default() += n;
        }
    }
    all
}

/// Every event of the export once, by id, at its position.
fn positions_by_id(env: &Env, url: &str) -> HashMap<String, u64> {
    let out = env
        .cmd_for(std::path::Path::new(url))
        .arg("export")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut at = HashMap::new();
    for (i, line) in stdout(&out).lines().enumerate() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["position"], i as u64);
        let id = r["event_id"].as_str().unwrap().to_string();
        assert!(at.insert(id.clone(), i as u64).is_none(), "{id} twice");
    }
    at
}

/// Waits until the clients have had `n` appends acknowledged: the load is under way, however
/// slow the machine.
fn wait_for_acks(acks: &AtomicUsize, n: usize) {
    Cluster::wait_for(Duration::from_secs(30), "acknowledged appends", || {
        acks.load(Ordering::Relaxed) >= n
    });
}

/// A new ledger on `url` with one commitment, whose id it answers.
fn ledger_with_a_commitment(env: &Env, url: &str) -> String {
    ok_on(env, url, &["init"]);
    let commitment = cid(1);
    let made = json!({"type": "commitment_made", "actor": "e2e",
        "data": {"commitment_id": commitment, "title": "Under load", "made_on": "2025-01-16"}});
    let file = env.file("made.jsonl", &format!("{made}\n"));
    ok_on(env, url, &["append", file.to_str().unwrap()]);
    commitment
}

#[test]
fn a_postgres_restart_under_load_loses_nothing_and_serve_recovers_without_a_restart() {
    let Some(cluster) = Cluster::new("a_postgres_restart_under_load") else {
        return;
    };
    cluster.start();
    let env = Env::empty();
    let url = cluster.url();
    let commitment = ledger_with_a_commitment(&env, &url);
    let server = Server::start(&url);

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let clients = load(server.port, &commitment, 3, &stop, &acks);
    wait_for_acks(&acks, 30);
    // The restart, with an outage long enough that appends arrive while the server is down.
    cluster.stop(StopMode::Fast);
    std::thread::sleep(Duration::from_secs(1));
    cluster.start();
    let restarted = Instant::now();
    // Appends work again, through the same `ikrar serve` process.
    let (id, body) = step(&commitment, "after the restart".into());
    let after = loop {
        let (code, answer) = request(server.port, "POST", "/v1/events", &body).unwrap();
        if code == 200 {
            break answer;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "serve did not recover: {code} {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "appends succeed again {:.2} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut seen = gather(clients);
    seen.acked
        .push((id, after["positions"][0].as_u64().unwrap()));
    eprintln!(
        "{} acknowledged, {} failed during the outage: {:?}",
        seen.acked.len(),
        seen.failed.len(),
        seen.errors
    );
    assert!(
        !seen.failed.is_empty(),
        "no append arrived during the outage"
    );
    // A failure is the API's storage error (503, kind `storage`), never anything else.
    for (code, kind) in seen.errors.keys() {
        assert!(*code == 503 && kind == "storage", "{code} {kind}");
    }
    // The failed ones, sent again with their ids: each recorded once.
    // (A connection the pool had not yet found dead may cost one more 503.)
    for (id, body) in &seen.failed {
        let mut attempts = 0;
        let answer = loop {
            attempts += 1;
            let (code, answer) = request(server.port, "POST", "/v1/events", body).unwrap();
            match code {
                200 => break answer,
                503 if attempts < 5 => std::thread::sleep(Duration::from_millis(100)),
                _ => panic!("{id}: {code} {answer}"),
            }
        };
        seen.acked
            .push((id.clone(), answer["positions"][0].as_u64().unwrap()));
    }
    drop(server);

    let at = positions_by_id(&env, &url);
    for (id, position) in &seen.acked {
        assert_eq!(at.get(id), Some(position), "{id}");
    }
    assert_eq!(at.len(), 1 + seen.acked.len());
    assert_eq!(ok_on(&env, &url, &["verify"])["tree_size"], at.len() as u64);
}

#[test]
fn a_server_that_stops_answering_fails_appends_within_the_wait_and_serve_recovers_when_it_answers()
{
    let Some(cluster) = Cluster::new("a_server_that_stops_answering") else {
        return;
    };
    cluster.start();
    let env = Env::empty();
    let url = cluster.url();
    let commitment = ledger_with_a_commitment(&env, &url);
    let server = Server::start_with(&url, &[("IKRAR_POSTGRES_WAIT_MS", "2000")]);
    let (_, body) = step(&commitment, "before".into());
    assert_eq!(
        request(server.port, "POST", "/v1/events", &body).unwrap().0,
        200
    );

    cluster.freeze();
    let (id, body) = step(&commitment, "while frozen".into());
    let sent = Instant::now();
    let answer = request(server.port, "POST", "/v1/events", &body);
    let waited = sent.elapsed();
    cluster.thaw();
    let (code, answer) = answer.expect("an answer, not a hang");
    assert_eq!(
        (code, answer["error"]["kind"].as_str()),
        (503, Some("storage")),
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("did not answer"), "{message}");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    eprintln!(
        "the append failed {:.2} s after it was sent",
        waited.as_secs_f64()
    );

    // Answering again: the same event, sent again, is recorded once; appends go on.
    let started = Instant::now();
    let position = loop {
        let (code, answer) = request(server.port, "POST", "/v1/events", &body).unwrap();
        if code == 200 {
            break answer["positions"][0].as_u64().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve did not recover: {code} {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, after) = step(&commitment, "after".into());
    assert_eq!(
        request(server.port, "POST", "/v1/events", &after)
            .unwrap()
            .0,
        200
    );
    drop(server);
    let at = positions_by_id(&env, &url);
    assert_eq!(at.get(&id), Some(&position));
    assert_eq!(at.len(), 4, "made, before, the frozen one once, after");
    assert_eq!(ok_on(&env, &url, &["verify"])["tree_size"], 4);
}

#[test]
fn a_promoted_synchronous_standby_holds_every_acknowledged_event() {
    let Some(primary) = Cluster::new("a_promoted_synchronous_standby") else {
        return;
    };
    // COMMIT returns only once the standby named `standby` has the WAL.
    primary.append_conf("synchronous_standby_names = 'standby'\nsynchronous_commit = on\n");
    primary.start();
    let standby = Cluster::standby_of(&primary);
    // The standby copied the primary's settings; once promoted it has no standby of its own
    // to wait for (an operator promoting a standby makes the same change).
    standby.append_conf("synchronous_standby_names = ''\n");
    standby.start();
    let replicating = || {
        primary
            .query_text(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'",
            )
            .is_some_and(|state| state == "sync")
    };
    Cluster::wait_for(
        Duration::from_secs(30),
        "a synchronous standby",
        replicating,
    );

    let env = Env::empty();
    let commitment = ledger_with_a_commitment(&env, &primary.url());
    let server = Server::start(&primary.url());
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let clients = load(server.port, &commitment, 3, &stop, &acks);
    wait_for_acks(&acks, 60);
    // The primary dies as in a crash, appends in flight.
    primary.stop(StopMode::Immediate);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let seen = gather(clients);
    drop(server);
    standby.promote();
    eprintln!(
        "{} acknowledged before the primary stopped, {} failed: {:?}",
        seen.acked.len(),
        seen.failed.len(),
        seen.errors
    );
    assert!(seen.acked.len() >= 60, "too few appends to show anything");

    // On the promoted standby: every acknowledged event, where its answer said, and a ledger
    // that verifies (and takes appends).
    let promoted = standby.url();
    let at = positions_by_id(&env, &promoted);
    let acked: HashSet<&String> = seen.acked.iter().map(|(id, _)| id).collect();
    for (id, position) in &seen.acked {
        assert_eq!(
            at.get(id),
            Some(position),
            "{id} acknowledged but not on the standby"
        );
    }
    eprintln!(
        "the promoted standby holds {} events: the commitment, {} acknowledged, {} unanswered \
         appends that had landed",
        at.len(),
        acked.len(),
        at.len() - 1 - acked.len()
    );
    assert_eq!(
        ok_on(&env, &promoted, &["verify"])["tree_size"],
        at.len() as u64
    );
    let (_, body) = step(&commitment, "on the promoted server".into());
    let file = env.file("after.jsonl", &format!("{body}\n"));
    ok_on(&env, &promoted, &["append", file.to_str().unwrap()]);
}

#[test]
fn a_missing_ca_file_or_an_unknown_sslmode_is_exit_2_naming_it() {
    // Refused before any connection is tried: no server is needed.
    let env = Env::empty();
    let missing = env.dir.path().join("no-such-ca.pem");
    for (url, named) in [
        (
            format!(
                "postgres://ikrar@127.0.0.1:1/db?sslmode=verify-full&sslrootcert={}",
                missing.display()
            ),
            missing.display().to_string(),
        ),
        (
            "postgres://ikrar@127.0.0.1:1/db?sslmode=sometimes".to_string(),
            "sslmode=sometimes".to_string(),
        ),
    ] {
        let out = env
            .cmd_for(std::path::Path::new(&url))
            .arg("verify")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        assert!(stderr(&out).contains(&named), "{}", stderr(&out));
    }
}
