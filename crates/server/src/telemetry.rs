//! What an operator sees (SPEC §7): every request logged with method, route, status, latency
//! and actor (a 5xx with its cause), and `GET /metrics` in Prometheus text exposition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::connections::ConnectionStats;
use crate::routes::AppState;

/// Upper bounds of the request-latency buckets, in seconds.
const REQUEST_SECONDS_BUCKETS: [f64; 10] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0,
];

/// The server's own counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests by (route, status).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Requests per latency bucket (the last: any latency), and the seconds summed in micros.
    request_buckets: [AtomicU64; REQUEST_SECONDS_BUCKETS.len() + 1],
    request_micros_sum: AtomicU64,
    /// Live feeds open now.
    pub(crate) feeds_open: AtomicU64,
    /// Appends answered, and the events they carried.
    pub(crate) appends: AtomicU64,
    pub(crate) events_appended: AtomicU64,
    /// Connections, shared with the accept loops.
    pub(crate) connections: Arc<ConnectionStats>,
}

/// The name of the caller a response was made for, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct Actor(pub(crate) String);

/// The cause of a 5xx, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct Cause(pub(crate) String);

/// Logs each request and counts it by route and status.
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // The route's pattern, not the path: ids do not make a route each.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    let actor = response
        .extensions()
        .get::<Actor>()
        .map_or("-", |a| a.0.as_str())
        .to_string();
    if let Ok(mut requests) = metrics.requests.lock() {
        *requests.entry((route.clone(), status)).or_default() += 1;
    }
    let seconds = took.as_secs_f64();
    let bucket = REQUEST_SECONDS_BUCKETS
        .iter()
        .position(|le| seconds <= *le)
        .unwrap_or(REQUEST_SECONDS_BUCKETS.len());
    metrics.request_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    metrics
        .request_micros_sum
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    let latency_ms = took.as_secs_f64() * 1e3;
    if status >= 500 {
        let cause = response
            .extensions()
            .get::<Cause>()
            .map_or("", |c| c.0.as_str());
        tracing::error!(%method, route, status, latency_ms, actor, cause, "request failed");
    } else {
        tracing::info!(%method, route, status, latency_ms, actor, "request");
    }
    response
}

/// Prometheus text exposition of the ledger's, the writer's and the server's figures.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition (text/plain; version=0.0.4)")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let m = &app.metrics;
    let mut out = String::new();
    let head = app.ledger.head();
    gauge(
        &mut out,
        "ikrar_tree_size",
        "Events in the ledger.",
        head.tree_size,
    );
    gauge(
        &mut out,
        "ikrar_projection_lag_events",
        "Events the state projection has yet to apply.",
        head.tree_size.saturating_sub(app.state.reached()),
    );
    counter(
        &mut out,
        "ikrar_appends_total",
        "Appends answered with success.",
        m.appends.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ikrar_events_appended_total",
        "Events in the appends answered with success.",
        m.events_appended.load(Ordering::Relaxed),
    );
    let commits = app.ledger.commit_stats();
    counter(
        &mut out,
        "ikrar_group_commits_total",
        "Durable group commits (one flush each).",
        commits.groups,
    );
    counter(
        &mut out,
        "ikrar_group_commit_failures_total",
        "Group commits that failed.",
        commits.failures,
    );
    histogram(
        &mut out,
        "ikrar_group_commit_events",
        "Events per group commit.",
        &ikrar_core::GROUP_EVENTS_BUCKETS.map(|b| b as f64),
        &commits.group_events_cumulative,
        commits.events as f64,
    );
    histogram(
        &mut out,
        "ikrar_flush_seconds",
        "Seconds from a group commit's start until it is durable.",
        &ikrar_core::COMMIT_SECONDS_BUCKETS,
        &commits.commit_seconds_cumulative,
        commits.commit_seconds_sum,
    );
    gauge(
        &mut out,
        "ikrar_sse_feeds_open",
        "Live feeds open now.",
        m.feeds_open.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "ikrar_connections_open",
        "Connections open now.",
        m.connections.open.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ikrar_connections_accepted_total",
        "Connections accepted.",
        m.connections.accepted.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ikrar_connections_refused_total",
        "Connections refused at the connection limit (503).",
        m.connections.refused.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP ikrar_http_requests_total HTTP requests by route and status."
    );
    let _ = writeln!(out, "# TYPE ikrar_http_requests_total counter");
    if let Ok(requests) = m.requests.lock() {
        for ((route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "ikrar_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                route.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
    }
    let mut sum = 0;
    let cumulative: Vec<u64> = m
        .request_buckets
        .iter()
        .map(|b| {
            sum += b.load(Ordering::Relaxed);
            sum
        })
        .collect();
    histogram(
        &mut out,
        "ikrar_http_request_duration_seconds",
        "Seconds from a request's arrival to its response.",
        &REQUEST_SECONDS_BUCKETS,
        &cumulative,
        m.request_micros_sum.load(Ordering::Relaxed) as f64 / 1e6,
    );
    if let Some(w) = &app.witnessing {
        // Per witness: cosignatures, alarms (refusals, bad cosignatures, no answer), resyncs.
        out.push_str(&w.stats.prometheus_text());
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// A histogram from its bucket bounds and cumulative counts (one more count than bounds: the
/// `+Inf` bucket, which is also the total).
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[f64],
    cumulative: &[u64],
    sum: f64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (le, n) in bounds.iter().zip(cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let total = cumulative.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {total}");
}
