//! A bounded load test of the HTTP API on loopback (SPEC §7, §9): `IKRAR_BENCH_HTTP_CLIENTS`
//! clients (default 32) each append `IKRAR_BENCH_HTTP_APPENDS` events (default 300), one event
//! per request, each to its own commitment; reports appends/s and latency percentiles. Client
//! and server share this machine's two cores.

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clients = env("IKRAR_BENCH_HTTP_CLIENTS", 32);
    let appends = env("IKRAR_BENCH_HTTP_APPENDS", 300);
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
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = http.clone();
        let url = format!("{base}/v1/events");
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
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "http load: {clients} clients x {appends} appends = {} durable appends in {:.2} s = {:.0} appends/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().expect("some").as_secs_f64() * 1e3,
    );
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}
