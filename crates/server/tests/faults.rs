//! Bad requests answered in the API's error form, and arithmetic on client-supplied numbers
//! that never wraps (SPEC §7, §9 faults).

mod common;

use common::Server;
use serde_json::Value;

/// Every answer here is `{"error":{"kind","message"}}` with the status given.
async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{status} {content_type}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let http = reqwest::Client::new();
    for path in [
        "/v1/events?limit=-1",
        "/v1/events?from=18446744073709551616",
        "/v1/events?from=x",
        "/v1/diff?from=2025-01-01",
        "/v1/proofs/consistency",
        "/v1/proofs/consistency?from=-3",
        "/v1/events/stream?from=-1",
        "/v1/commitments?overdue=perhaps",
        "/v1/summary?as_of=yesterday",
    ] {
        let (status, body) = error_of(http.get(server.url(path)).send().await.unwrap()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["kind"], "validation", "{path}");
    }
    // A body that is not UTF-8.
    let r = http
        .post(server.url("/v1/events"))
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap();
    let (status, _) = error_of(r).await;
    assert_eq!(status, 400);
    // A route that does not exist, a method that is not allowed.
    let (status, _) = error_of(http.get(server.url("/v2/nothing")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, body) =
        error_of(http.delete(server.url("/v1/events")).send().await.unwrap()).await;
    assert_eq!(status, 405, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_at_the_edges_never_replays_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let http = reqwest::Client::new();
    for bad in ["18446744073709551615", "18446744073709551616", "-1", "x"] {
        let r = http
            .get(server.url("/v1/events/stream"))
            .header("last-event-id", bad)
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(r).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The largest position that has a next one: the feed starts there (nothing yet), it does
    // not start over at 0.
    let r = http
        .get(server.url("/v1/events/stream"))
        .header("last-event-id", "18446744073709551614")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_commits_requests_and_open_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let http = reqwest::Client::new();
    for n in 0..3 {
        let e = serde_json::json!({"type":"commitment_made","data":{
            "commitment_id": format!("0194a1c2-7f00-7000-8000-{n:012x}"),
            "title":"Summit","made_on":"2025-01-16"}});
        let r = http
            .post(server.url("/v1/events"))
            .json(&e)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let _ = http.get(server.url("/v1/nothing")).send().await.unwrap();
    let feed = http
        .get(server.url("/v1/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let r = http.get(server.url("/metrics")).send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for line in [
        "ikrar_tree_size 3",
        "ikrar_appends_total 3",
        "ikrar_events_appended_total 3",
        "ikrar_group_commit_failures_total 0",
        "ikrar_sse_feeds_open 1",
        r#"ikrar_http_requests_total{route="/v1/events",status="200"} 3"#,
        r#"ikrar_http_requests_total{route="unmatched",status="404"} 1"#,
        "ikrar_flush_seconds_count 3",
        r#"ikrar_group_commit_events_bucket{le="1"} 3"#,
        "ikrar_projection_lag_events",
        "ikrar_http_request_duration_seconds_bucket{le=\"+Inf\"}",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} missing in:\n{text}"
        );
    }
    drop(feed);
    server.shutdown().await;
}
