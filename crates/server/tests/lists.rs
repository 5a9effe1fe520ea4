//! Lists over HTTP as a client pages them (filters, `X-Total-Count`, `Link: rel="next"`),
//! `stream_version` after a back-dated change, dry runs, error details, ids by prefix, and a
//! tokens file changed under a running server.

mod common;

use common::Server;
use ikrar_server::{Role, Tokens};
use serde_json::{json, Value};

fn cid(n: u32) -> String {
    format!("0194a1c2-7f00-7000-8000-{n:012x}")
}

fn made(n: u32, title: &str, theme: &str) -> Value {
    json!({"type":"commitment_made","data":{"commitment_id":cid(n),"title":title,
           "themes":[theme],"made_on":"2025-01-16"}})
}

async fn post(http: &reqwest::Client, server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Every item of a list, following `Link` from `path`; checks `X-Total-Count` on each page.
async fn all_pages(http: &reqwest::Client, server: &Server, path: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(path.to_string());
    let mut total = None;
    while let Some(p) = next.take() {
        let r = http.get(server.url(&p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        let count: usize = r.headers()["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(*total.get_or_insert(count), count);
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        let page: Vec<Value> = r.json().await.unwrap();
        assert!(!page.is_empty());
        items.extend(page);
        pages += 1;
    }
    // Events count the whole ledger (the tree size) whatever `from` is.
    if !path.contains("from=") {
        assert_eq!(items.len(), total.unwrap());
    }
    (items, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_and_page_with_total_and_next_links() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 24).await;
    let http = reqwest::Client::new();
    let events: Vec<Value> = (0..250)
        .map(|n| {
            let theme = if n % 5 == 0 { "Climate" } else { "trade" };
            made(n, &format!("Commitment number {n} on Café policy"), theme)
        })
        .collect();
    assert_eq!(
        post(&http, &server, "/v1/events", json!(events)).await.0,
        200
    );

    let (all, pages) = all_pages(&http, &server, "/v1/commitments?limit=100").await;
    assert_eq!((all.len(), pages), (250, 3));
    let ids: Vec<&str> = all
        .iter()
        .map(|c| c["commitment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], cid(0));
    assert_eq!(ids[249], cid(249));
    // The default page is 100.
    let r = http
        .get(server.url("/v1/commitments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "250");
    assert!(r.headers()["link"].to_str().unwrap().contains("offset=100"));
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 100);

    let (climate, _) = all_pages(&http, &server, "/v1/commitments?theme=climate&limit=7").await;
    assert_eq!(climate.len(), 50);
    let (cafe, _) = all_pages(
        &http,
        &server,
        "/v1/commitments?search=CAFE%20numb&limit=1000",
    )
    .await;
    assert_eq!(cafe.len(), 250);
    let r = http
        .get(server.url("/v1/commitments?search=number%20249%20cafe"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    assert!(r.headers().get("link").is_none());

    let (events, pages) = all_pages(&http, &server, "/v1/events?limit=1000").await;
    assert_eq!((events.len(), pages), (250, 1));
    let (events, pages) = all_pages(&http, &server, "/v1/events?from=200&limit=20").await;
    assert_eq!(events[0]["position"], 200);
    assert_eq!((events.len(), pages), (50, 3));

    for bad in [
        "/v1/commitments?limit=0",
        "/v1/commitments?limit=1001",
        "/v1/commitments?offset=-1",
        "/v1/commitments?sort=newest",
        "/v1/commitments?due_before=tomorrow",
        "/v1/meetings?from=someday",
        "/v1/events?from=18446744073709551616",
    ] {
        let r = http.get(server.url(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "validation", "{bad}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_back_dated_change_then_an_update_expecting_the_stream_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 24).await;
    let http = reqwest::Client::new();
    let id = cid(1);
    assert_eq!(
        post(&http, &server, "/v1/events", made(1, "Summit", "x"))
            .await
            .0,
        200
    );
    let change = |status: &str, effective: Option<&str>, expected: Option<u64>| {
        let mut e = json!({"type":"commitment_status_changed",
                           "data":{"commitment_id":id,"status":status}});
        if let Some(d) = effective {
            e["effective"] = json!(d);
        }
        if let Some(v) = expected {
            e["expected_version"] = json!(v);
        }
        e
    };
    assert_eq!(
        post(
            &http,
            &server,
            "/v1/events",
            change("at_risk", Some("2025-06-01"), None)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &http,
            &server,
            "/v1/events",
            change("in_progress", Some("2025-03-01"), None)
        )
        .await
        .0,
        200
    );
    let view: Value = http
        .get(server.url(&format!("/v1/commitments/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (view["status"].as_str(), view["version"].as_u64()),
        (Some("at_risk"), Some(1))
    );
    assert_eq!(view["stream_version"], 2);
    // `version` is the wrong expectation after a back-dated change; `stream_version` is right.
    let (code, body) = post(
        &http,
        &server,
        "/v1/events",
        change("fulfilled", None, Some(1)),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(body["error"]["detail"]["actual"], 2);
    assert_eq!(body["error"]["detail"]["expected"], 1);
    let (code, _) = post(
        &http,
        &server,
        "/v1/events",
        change("fulfilled", None, Some(2)),
    )
    .await;
    assert_eq!(code, 200);
    // Known at 3 events, the stream was at version 2.
    let then: Value = http
        .get(server.url(&format!("/v1/commitments/{id}?known_at=3")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(then["stream_version"], 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_details_ids_and_meetings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("l"), None, 1 << 24).await;
    let http = reqwest::Client::new();
    let (code, body) = post(
        &http,
        &server,
        "/v1/events?dry_run=true",
        made(1, "Summit", "x"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (body["dry_run"].as_bool(), body["new_events"].as_u64()),
        (Some(true), Some(1))
    );
    let health: Value = http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["tree_size"], 0, "a dry run writes nothing");

    let (code, body) = post(
        &http,
        &server,
        "/v1/events",
        json!([made(1, "Summit", "x"), made(2, "", "x")]),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(body["error"]["detail"]["index"], 1);
    assert_eq!(body["error"]["detail"]["field"], "data.title");

    assert_eq!(
        post(
            &http,
            &server,
            "/v1/events",
            json!([made(1, "Summit", "x"), made(2, "Visit", "y")])
        )
        .await
        .0,
        200
    );
    let meeting = json!({"type":"meeting_held","data":{"meeting_id":cid(0x100),"title":"Ministers meet",
        "held_on":"2025-02-03","location":"Seoul","commitment_ids":[cid(2)]}});
    assert_eq!(post(&http, &server, "/v1/events", meeting).await.0, 200);
    let ids: Vec<Value> = http
        .get(server.url("/v1/ids?prefix=0194a1c2-7f00-7000-8000-0000000001"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids, vec![json!({"id": cid(0x100), "kind": "meeting"})]);
    let r = http
        .get(server.url("/v1/ids?prefix=xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (meetings, _) = all_pages(
        &http,
        &server,
        &format!("/v1/meetings?commitment={}", cid(2)),
    )
    .await;
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0]["stream_version"], 0);
    let r = http
        .get(server.url(&format!("/v1/meetings?commitment={}", cid(1))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "0");
    let (searched, _) = all_pages(&http, &server, "/v1/meetings?search=seoul").await;
    assert_eq!(searched.len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tokens_file_takes_effect_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.json");
    let kim = Tokens::add(&file, "kim", Role::Reader).unwrap();
    let tokens = Tokens::load(&file).unwrap();
    let path = file.clone();
    let server = Server::start_with(&dir.path().join("l"), move |c| {
        c.tokens = Some(tokens);
        c.tokens_file = Some(path);
    })
    .await;
    let http = reqwest::Client::new();
    let get = |token: String| {
        let http = http.clone();
        let url = server.url("/v1/summary");
        async move {
            http.get(url)
                // The scheme's name is case-insensitive.
                .header("authorization", format!("bEaReR {token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(kim.clone()).await, 200);
    // Filesystems keep modification times in coarse steps: wait past one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let lee = Tokens::add(&file, "lee", Role::Reader).unwrap();
    assert_eq!(get(lee.clone()).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    Tokens::revoke(&file, "kim").unwrap();
    assert_eq!(get(kim).await, 401);
    assert_eq!(get(lee).await, 200);
    server.shutdown().await;
}
