//! The web console's bars (SPEC §9): `/ui/commitments` p99 ≤ 100 ms and `/ui/` p99 ≤ 200 ms of
//! server time at 10,000 commitments and 1,000,000 events. The requests go to the server's
//! router in process (routing, the guard, the projection, the templates; no network), in
//! random bases, pages and filters. `IKRAR_BENCH_CONSOLE_EVENTS` (default 1,000,000) and
//! `IKRAR_BENCH_CONSOLE_REQUESTS` (default 200 per page) change the sizes.
//!
//! ```text
//! cargo bench -p ikrar-benches --bench console
//! ```

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ikrar_benches::{cached_history_ledger, history_start, Lcg};
use ikrar_server::ServerConfig;
use tower::ServiceExt;

fn env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

async fn time(app: &axum::Router, paths: &[String]) -> Vec<Duration> {
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let started = Instant::now();
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        std::hint::black_box(body.len());
        out.push(started.elapsed());
    }
    out.sort_unstable();
    out
}

fn report(what: &str, bar_ms: f64, samples: &[Duration]) -> bool {
    let p99 = pct(samples, 0.99);
    let met = p99 <= bar_ms;
    println!(
        "{what}: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; bar p99 <= {bar_ms} ms: {}",
        samples.len(),
        pct(samples, 0.50),
        p99,
        samples.last().expect("some").as_secs_f64() * 1e3,
        if met { "met" } else { "NOT met" }
    );
    met
}

fn main() {
    let events = env("IKRAR_BENCH_CONSOLE_EVENTS", 1_000_000);
    let requests = env("IKRAR_BENCH_CONSOLE_REQUESTS", 200);
    let built = Instant::now();
    let (ledger, _ids) = cached_history_ledger(events);
    let n = ledger.head().tree_size;
    eprintln!(
        "ledger of {n} events ready in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (_stop, down) = tokio::sync::watch::channel(false);
        let config = ServerConfig::loopback("127.0.0.1:0".parse().expect("addr"));
        let opened = Instant::now();
        let app = ikrar_server::router(ledger, &config, down).expect("router");
        eprintln!("projection open in {:.1} s", opened.elapsed().as_secs_f64());
        let mut rng = Lcg::new(17);
        let day = |rng: &mut Lcg| {
            (history_start() + chrono::Duration::days(rng.below(2_000) as i64))
                .format("%Y-%m-%d")
                .to_string()
        };
        let statuses = ["", "", "in_progress", "fulfilled", "broken"];
        let sorts = ["", "title", "due", "status_since"];
        let list: Vec<String> = (0..requests)
            .map(|i| {
                let s = statuses[rng.below(statuses.len() as u64) as usize];
                // A filtered list is shorter: its first pages.
                let page = if s.is_empty() {
                    1 + rng.below(200)
                } else {
                    1 + rng.below(3)
                };
                let mut q = format!("/ui/commitments?page={page}");
                if !s.is_empty() {
                    q.push_str(&format!("&status={s}"));
                }
                if i % 2 == 0 {
                    q.push_str(&format!("&as_of={}", day(&mut rng)));
                }
                if i % 3 == 0 {
                    q.push_str(&format!("&known_at={}", 1 + rng.below(n)));
                }
                let o = sorts[rng.below(sorts.len() as u64) as usize];
                if !o.is_empty() {
                    q.push_str(&format!("&sort={o}"));
                }
                q
            })
            .collect();
        let dash: Vec<String> = (0..requests)
            .map(|i| match i % 3 {
                0 => "/ui/".to_string(),
                1 => format!("/ui/?as_of={}", day(&mut rng)),
                _ => format!("/ui/?as_of={}&known_at={}", day(&mut rng), 1 + rng.below(n)),
            })
            .collect();
        // Warm up: the first requests fill caches that every later one finds.
        time(&app, &list[..5.min(list.len())]).await;
        time(&app, &dash[..5.min(dash.len())]).await;
        let (recorded, sorted): (Vec<String>, Vec<String>) =
            list.iter().cloned().partition(|p| !p.contains("sort="));
        let list_ok = report(
            &format!(
                "/ui/commitments (50 a page, random basis, page, status and order) at {n} events"
            ),
            100.0,
            &time(&app, &list).await,
        );
        report(
            "  of which in recorded order",
            100.0,
            &time(&app, &recorded).await,
        );
        for key in ["title", "due", "status_since"] {
            let these: Vec<String> = sorted
                .iter()
                .filter(|p| p.contains(&format!("sort={key}")))
                .cloned()
                .collect();
            report(
                &format!("  of which sorted by {key}"),
                100.0,
                &time(&app, &these).await,
            );
        }
        let dash_ok = report(
            &format!("/ui/ (summary, chart of 24 points, latest events) at {n} events"),
            200.0,
            &time(&app, &dash).await,
        );
        if !(list_ok && dash_ok) {
            std::process::exit(1);
        }
    });
}
