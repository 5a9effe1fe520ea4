//! A bounded load test of the HTTP API on loopback (SPEC §7, §9): `IKRAR_BENCH_HTTP_CLIENTS`
//! clients (default 32) each append `IKRAR_BENCH_HTTP_APPENDS` events (default 300), one event
//! per request, each to its own commitment; reports appends/s and latency percentiles.
//! Meanwhile `IKRAR_BENCH_HTTP_READERS` readers (default 8) ask for a page of commitments and
//! the summary in turn, as a dashboard does; their latencies are reported too (reads are what
//! waits when storage work runs on the async workers). Client and server share this machine's
//! two cores.
//!
//! With `IKRAR_BENCH_POSTGRES=postgres://…` it instead starts `IKRAR_BENCH_HTTP_SERVERS`
//! (default 2) `ikrar serve` processes (the binary at `IKRAR_BIN`, default
//! `target/release/ikrar`) on one new PostgreSQL ledger, spreads the clients over them, and
//! checks at the end that every server reports every append, verified.

use std::time::{Duration, Instant};

use ikrar_benches::commitment_made;
use ikrar_core::Ledger;
use ikrar_server::ServerConfig;

fn env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Appends from `clients` tasks spread over `bases`; answers the latencies and the elapsed time.
async fn load(bases: &[String], clients: usize, appends: usize) -> (Vec<Duration>, Duration) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = http.clone();
        let url = format!("{}/v1/events", bases[c % bases.len()]);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(appends);
            for i in 0..appends {
                let body = commitment_made((c * 1_000_000 + i) as u64).to_json();
                let t = Instant::now();
                let r = http.post(&url).body(body).send().await.expect("request");
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client"));
    }
    (latencies, started.elapsed())
}

/// Reads from `readers` tasks until `done` turns true; answers their latencies.
async fn reads(
    base: &str,
    readers: usize,
    done: tokio::sync::watch::Receiver<bool>,
) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for r in 0..readers {
        let (http, base, done) = (http.clone(), base.to_string(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = r;
            while !*done.borrow() {
                let path = if i % 2 == 0 {
                    "/v1/commitments?limit=20"
                } else {
                    "/v1/summary"
                };
                i += 1;
                let t = Instant::now();
                let answer = http
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .expect("read");
                assert_eq!(answer.status(), 200);
                let _ = answer.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("reader"));
    }
    all.sort_unstable();
    all
}

fn report(what: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{what}: {} durable appends in {:.2} s = {:.0} appends/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().expect("some").as_secs_f64() * 1e3,
    );
}

/// Several `ikrar serve` processes on one PostgreSQL ledger.
async fn servers_on_postgres(url: &str, clients: usize, appends: usize) {
    let servers = env("IKRAR_BENCH_HTTP_SERVERS", 2);
    let bin = std::env::var("IKRAR_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/ikrar").to_string()
    });
    let ledger = ikrar_testkit::new_schema(url, "ikrar_bench_http");
    let init = std::process::Command::new(&bin)
        .args(["--ledger", &ledger, "init"])
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e} (build it: cargo build --release -p ikrar-cli)"));
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut children = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..servers {
        let port = ikrar_testkit::free_port();
        children.push(
            std::process::Command::new(&bin)
                .args(["--ledger", &ledger, "serve", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("ikrar serve"),
        );
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let http = reqwest::Client::new();
    for base in &bases {
        let started = Instant::now();
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no server at {base}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (latencies, elapsed) = load(&bases, clients, appends).await;
    let total = latencies.len() as u64;
    report(
        &format!("http load, {servers} ikrar serve processes on one PostgreSQL ledger, {clients} clients x {appends} appends"),
        latencies,
        elapsed,
    );
    // Every server sees every append (its own and the others'), and the ledger verifies.
    for base in &bases {
        let started = Instant::now();
        loop {
            let report: serde_json::Value = http
                .get(format!("{base}/v1/verify"))
                .send()
                .await
                .expect("verify")
                .json()
                .await
                .expect("json");
            if report["tree_size"] == total {
                assert_eq!(report["ok"], true, "{report}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{base}: {report}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("every server reports {total} events, verified: none lost, none duplicated");
    for mut child in children {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clients = env("IKRAR_BENCH_HTTP_CLIENTS", 32);
    let appends = env("IKRAR_BENCH_HTTP_APPENDS", 300);
    if let Some(url) = std::env::var("IKRAR_BENCH_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    {
        servers_on_postgres(&url, clients, appends).await;
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::create(dir.path().join("l")).expect("ledger");
    let config = ServerConfig::loopback("127.0.0.1:0".parse().expect("address"));
    let listener = ikrar_server::bind(&config).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ikrar_server::serve_on(
        listener,
        ledger,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    let readers = env("IKRAR_BENCH_HTTP_READERS", 8);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let reading = {
        let base = base.clone();
        tokio::spawn(async move { reads(&base, readers, done_rx).await })
    };
    let (latencies, elapsed) = load(&[base], clients, appends).await;
    let _ = done_tx.send(true);
    let read = reading.await.expect("readers");
    report(
        &format!("http load: {clients} clients x {appends} appends"),
        latencies,
        elapsed,
    );
    if !read.is_empty() {
        let pct = |p: f64| read[((read.len() as f64 * p) as usize).min(read.len() - 1)];
        println!(
            "reads meanwhile ({readers} readers: a page of commitments, the summary): {} reads; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            read.len(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            read.last().expect("some").as_secs_f64() * 1e3,
        );
    }
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}
