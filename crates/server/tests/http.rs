//! The HTTP API over real HTTP on loopback: roles, every route, errors and limits, concurrent
//! clients, the feed across reconnects, and a shutdown under load.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{open_when_released, Server};
use futures::StreamExt;
use ikrar_core::Ledger;
use ikrar_server::{Role, ServerConfig, Tokens};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const C1: &str = "0194a1c2-7f00-7000-8000-000000000001";

fn made(id: &str, title: &str) -> Value {
    json!({"type":"commitment_made","data":{"commitment_id":id,"title":title,"parties":["Japan"],"made_on":"2025-01-16"}})
}

fn status(id: &str, s: &str, expected: Option<u64>) -> Value {
    let mut v = json!({"type":"commitment_status_changed","data":{"commitment_id":id,"status":s}});
    if let Some(e) = expected {
        v["expected_version"] = json!(e);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_and_health_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let tokens_path = dir.path().join("tokens.json");
    let reader = Tokens::add(&tokens_path, "analyst", Role::Reader).unwrap();
    let recorder = Tokens::add(&tokens_path, "service.a", Role::Recorder).unwrap();
    // The file holds hashes, never tokens.
    let file = std::fs::read_to_string(&tokens_path).unwrap();
    assert!(!file.contains(&reader) && !file.contains(&recorder));
    let server = Server::start(
        &dir.path().join("l"),
        Some(Tokens::load(&tokens_path).unwrap()),
        1 << 20,
    )
    .await;
    let http = reqwest::Client::new();

    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http.get(server.url("/v1/summary")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "unauthorized");
    let r = http
        .get(server.url("/v1/summary"))
        .bearer_auth("ikrar_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(server.url("/v1/summary"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(server.url("/v1/events"))
        .bearer_auth(&reader)
        .json(&made(C1, "T"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(server.url("/v1/events"))
        .bearer_auth(&recorder)
        .json(&made(C1, "T"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The token's name is the default actor.
    let events: Value = http
        .get(server.url("/v1/events"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events[0]["actor"], "service.a");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_with_the_shapes_of_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let http = http.clone();
        let url = server.url(path);
        async move {
            let r = http.get(url).send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let meeting_id = "0194a1c2-7f00-7000-8000-0000000000aa";
    let batch = json!([
        made(C1, "Hold the first Korea–Central Asia summit"),
        {"type":"meeting_held","data":{"meeting_id":meeting_id,"title":"Talks","held_on":"2025-01-16","commitment_ids":[C1]}},
        {"type":"commitment_status_changed","effective":"2025-03-01","expected_version":0,"data":{"commitment_id":C1,"status":"in_progress","label":"Underway"}},
    ]);
    let r = http
        .post(server.url("/v1/events"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["positions"], json!([0, 1, 2]));
    assert_eq!(answer["tree_size"], 3);
    let status_event = answer["event_ids"][2].as_str().unwrap().to_string();

    let (code, events) = get("/v1/events?from=1&limit=1").await;
    assert_eq!((code, events.as_array().unwrap().len()), (200, 1));
    assert_eq!(events[0]["position"], 1);
    let (code, list) = get("/v1/commitments?status=in_progress&party=Japan").await;
    assert_eq!((code, list.as_array().unwrap().len()), (200, 1));
    let (code, c) = get(&format!("/v1/commitments/{C1}?as_of=2025-02-01")).await;
    assert_eq!(code, 200);
    assert_eq!(c["status"], "announced");
    assert_eq!(c["meetings"], json!([meeting_id]));
    let (code, c) = get(&format!("/v1/commitments/{C1}?known_at=2")).await;
    assert_eq!((code, c["status"].clone()), (200, json!("announced")));
    let (code, h) = get(&format!("/v1/commitments/{C1}/history")).await;
    assert_eq!((code, h.as_array().unwrap().len()), (200, 2));
    assert!(h[1]["retracted_by"].is_null());
    let (code, m) = get(&format!("/v1/meetings/{meeting_id}")).await;
    assert_eq!((code, m["commitment_ids"].clone()), (200, json!([C1])));
    let (code, s) = get("/v1/summary?as_of=2025-12-31").await;
    assert_eq!(code, 200);
    assert_eq!(s["by_status"]["in_progress"], 1);
    assert_eq!(s["as_of"], "2025-12-31T23:59:59.999999Z");
    let (code, d) = get("/v1/diff?from=2025-02-01&to=2025-04-01").await;
    assert_eq!(
        (code, d["changed"][0]["status"]["to"].clone()),
        (200, json!("in_progress"))
    );
    let (code, v) = get("/v1/verify").await;
    assert_eq!(
        (code, v["ok"].clone(), v["tree_size"].clone()),
        (200, json!(true), json!(3))
    );
    let (code, _) = get("/v1/checkpoint").await;
    assert_eq!(code, 404);

    // Checkpoints and proofs, once a checkpoint is signed (through the library, as `ikrar
    // checkpoint` would; the server holds the ledger).
    server.shutdown().await;
    let key = ikrar_core::SignerKey::generate("example.org/ikrar").unwrap();
    {
        let ledger = open_when_released(&dir.path().join("l")).await;
        ledger.sign_checkpoint(&key).unwrap();
    }
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let get = |path: &str| {
        let http = http.clone();
        let url = server.url(path);
        async move {
            let r = http.get(url).send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.text().await.unwrap())
        }
    };
    let (code, cp) = get("/v1/checkpoint").await;
    assert_eq!(code, 200);
    let cp: Value = serde_json::from_str(&cp).unwrap();
    assert_eq!(cp["tree_size"], 3);
    let (code, bundle) = get(&format!("/v1/proofs/inclusion/{status_event}")).await;
    assert_eq!(code, 200);
    let check = ikrar_audit::check_bundle(&bundle, &key.verifier_key()).unwrap();
    assert_eq!(check.position, Some(2));
    let (code, bundle) = get("/v1/proofs/consistency?from=1").await;
    assert_eq!(code, 200);
    ikrar_audit::check_bundle(&bundle, &key.verifier_key()).unwrap();
    let (code, doc) = get("/v1/openapi.json").await;
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/v1/events",
        "/v1/events/stream",
        "/v1/commitments",
        "/v1/commitments/{id}",
        "/v1/commitments/{id}/history",
        "/v1/meetings/{id}",
        "/v1/summary",
        "/v1/diff",
        "/v1/checkpoint",
        "/v1/proofs/inclusion/{event_id}",
        "/v1/proofs/consistency",
        "/v1/verify",
        "/healthz",
        "/v1/openapi.json",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["CommitmentView"].is_object());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_their_status_codes_and_limits_hold() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 64 * 1024).await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let http = http.clone();
        let url = server.url("/v1/events");
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(post(made(C1, "T")).await.0, 200);
    let (code, e) = post(json!({"type":"nope","data":{}})).await;
    assert_eq!(
        (code, e["error"]["kind"].clone()),
        (400, json!("validation"))
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("field `type`"));
    let (code, e) = post(json!([made(C1, "again")])).await;
    assert_eq!((code, e["error"]["kind"].clone()), (409, json!("conflict")));
    let (code, e) = post(status(C1, "fulfilled", Some(5))).await;
    assert_eq!(code, 409);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expected version 5, actual 0"));
    let big = json!({"type":"commitment_made","reason":"x".repeat(100_000),"data":{"commitment_id":C1,"title":"t","made_on":"2025-01-16"}});
    let r = http
        .post(server.url("/v1/events"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["kind"], "too_large");
    for (path, code) in [
        ("/v1/commitments/0194a1c2-7f00-7000-8000-0000000000ff", 404),
        ("/v1/commitments/not-a-uuid", 400),
        ("/v1/summary?as_of=yesterday", 400),
        ("/v1/summary?known_at=999", 400),
        ("/v1/meetings/0194a1c2-7f00-7000-8000-0000000000ff", 404),
        ("/v1/no/such/route", 404),
    ] {
        let r = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), code, "{path}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].is_string(), "{path}");
    }
    server.shutdown().await;

    // Without tokens, only loopback.
    let mut config = ServerConfig::loopback("0.0.0.0:0".parse().unwrap());
    config.tokens = None;
    assert!(matches!(
        ikrar_server::bind(&config).await,
        Err(ikrar_server::Error::NotLoopback(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_lose_and_double_nothing_and_conflicts_are_409() {
    const CLIENTS: usize = 16;
    const APPENDS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let http = reqwest::Client::new();
    let shared = "0194a1c2-7f00-7000-8000-00000000ffff";
    let r = http
        .post(server.url("/v1/events"))
        .json(&made(shared, "Shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let http = http.clone();
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let own = format!("0194a1c2-7f00-7000-8000-{client:012x}");
            let r = http
                .post(format!("{base}/v1/events"))
                .json(&made(&own, "Own"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let mut conflicts = 0;
            for i in 0..APPENDS {
                let r = http
                    .post(format!("{base}/v1/events"))
                    .json(&status(&own, "in_progress", Some(i as u64)))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                loop {
                    let c: Value = http
                        .get(format!("{base}/v1/commitments/{shared}"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let version = c["version"].as_u64().unwrap();
                    let mut e = status(shared, "in_progress", Some(version));
                    e["data"]["label"] = json!(format!("client {client} update {i}"));
                    let r = http
                        .post(format!("{base}/v1/events"))
                        .json(&e)
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        200 => break,
                        409 => conflicts += 1,
                        other => panic!("unexpected {other}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    // Every page, following `Link: rel="next"` (a page holds at most 1,000 records).
    let mut events: Vec<Value> = Vec::new();
    let mut next = Some("/v1/events?limit=1000".to_string());
    while let Some(path) = next.take() {
        let r = http.get(server.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        next = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string())
            .map(|l| l[1..l.find('>').unwrap()].to_string());
        let page: Value = r.json().await.unwrap();
        events.extend(page.as_array().unwrap().iter().cloned());
    }
    let events = &events;
    assert_eq!(
        events.len(),
        1 + CLIENTS * (1 + APPENDS) + CLIENTS * APPENDS
    );
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut labels = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["position"], i);
        let v = versions
            .entry(e["stream"].as_str().unwrap().to_string())
            .or_insert(0);
        assert_eq!(e["version"], *v);
        *v += 1;
        if e["stream"] == format!("commitment/{shared}") && e["type"] == "commitment_status_changed"
        {
            assert!(
                labels.insert(e["data"]["label"].as_str().unwrap().to_string()),
                "doubled"
            );
        }
    }
    assert_eq!(labels.len(), CLIENTS * APPENDS, "lost");
    eprintln!("{conflicts} conflicts answered 409 and retried");
    server.shutdown().await;
}

/// Reads SSE events (`id`, `data`) from a response until `count` have arrived.
async fn read_events(resp: reqwest::Response, count: usize) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while out.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the feed stalled")
            .expect("the feed ended")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.parse::<u64>().unwrap());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str::<Value>(v).unwrap());
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, data));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_resumes_after_a_disconnect_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 20).await;
    let http = reqwest::Client::new();
    let post = |v: Value| {
        let http = http.clone();
        let url = server.url("/v1/events");
        async move { assert_eq!(http.post(url).json(&v).send().await.unwrap().status(), 200) }
    };
    for n in 0..5 {
        post(made(&format!("0194a1c2-7f00-7000-8000-{n:012x}"), "T")).await;
    }
    // Catch-up, then live.
    let resp = http
        .get(server.url("/v1/events/stream?from=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let writer = {
        let http = http.clone();
        let url = server.url("/v1/events");
        tokio::spawn(async move {
            for n in 5..10 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let v = made(&format!("0194a1c2-7f00-7000-8000-{n:012x}"), "T");
                assert_eq!(http.post(&url).json(&v).send().await.unwrap().status(), 200);
            }
        })
    };
    let first = read_events(resp, 7).await;
    assert_eq!(
        first.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        (0..7).collect::<Vec<u64>>()
    );
    for (id, data) in &first {
        assert_eq!(data["position"], *id);
    }
    // Disconnect (the response is dropped), more events arrive, then resume.
    writer.await.unwrap();
    for n in 10..12 {
        post(made(&format!("0194a1c2-7f00-7000-8000-{n:012x}"), "T")).await;
    }
    let last_seen = first.last().unwrap().0;
    let resp = http
        .get(server.url("/v1/events/stream"))
        .header("Last-Event-ID", last_seen.to_string())
        .send()
        .await
        .unwrap();
    let rest = read_events(resp, 5).await;
    assert_eq!(
        rest.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        (7..12).collect::<Vec<u64>>()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_under_load_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let server = Server::start(&path, None, 1 << 20).await;
    let http = reqwest::Client::new();
    // A live feed is open: shutdown must not wait for it forever.
    let feed = http
        .get(server.url("/v1/events/stream"))
        .send()
        .await
        .unwrap();
    let mut clients = Vec::new();
    for client in 0..8u32 {
        let http = http.clone();
        let url = server.url("/v1/events");
        clients.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..1_000u32 {
                let id = format!("0194a1c2-7f00-7000-8000-{:012x}", client * 100_000 + n);
                match http.post(&url).json(&made(&id, "Load")).send().await {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().await.unwrap();
                        acked.push((
                            v["positions"][0].as_u64().unwrap(),
                            v["event_ids"][0].as_str().unwrap().to_string(),
                        ));
                    }
                    // Refused or cut off by the shutdown: not acknowledged, fine.
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("graceful shutdown finished");
    drop(feed);
    let mut acked = Vec::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    assert!(
        !acked.is_empty(),
        "no append was acknowledged before the shutdown"
    );
    let ledger = open_when_released(&path).await;
    for (position, id) in &acked {
        let r = ledger.read(*position).unwrap();
        assert_eq!(r.record.event_id.to_string(), *id);
    }
    ledger.verify().unwrap();
    eprintln!(
        "{} acknowledged appends, all present after the shutdown",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_the_time_limit_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open_or_create(dir.path().join("l")).unwrap();
    let mut config = ServerConfig::loopback("127.0.0.1:0".parse().unwrap());
    config.request_timeout_ms = 300;
    let listener = ikrar_server::bind(&config).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ikrar_server::serve_on(
        listener,
        ledger,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    // A client that announces a body and then stalls: the handler waits for it, the limit fires.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"kind\":\"timeout\""), "{text}");
    let _ = stop.send(());
    drop(s);
    task.await.unwrap().unwrap();
}
