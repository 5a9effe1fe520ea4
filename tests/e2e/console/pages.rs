//! Every page with its test hooks, checked in the browser; the basis bar moving what is shown.

use serde_json::Value;

use super::harness::{demo_with_checkpoint, rt, sign, Browser, Server};
use crate::{json, ok_json, stderr, Env};

/// The demo's "first Korea–Central Asia summit" commitment.
pub(crate) const SUMMIT: &str = "01946d3e-0000-7000-8000-000000000109";
/// The demo's one meeting.
pub(crate) const MEETING: &str = "01946d3e-0000-7000-8000-000000000201";

/// The guide's walk-through on the demo: a back-dated change to in progress (position 13), a
/// change to fulfilled (14) retracted as recorded in error (15); then a checkpoint of 16.
/// Answers the event ids of 13, 14, 15 and the verifier key.
pub(crate) fn walk_through(env: &Env) -> (String, String, String, String) {
    demo_with_checkpoint(env);
    let id = |args: &[&str]| {
        let mut full = vec!["--format", "json"];
        full.extend_from_slice(args);
        let out = env.run(&full);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)["event_ids"][0].as_str().unwrap().to_string()
    };
    let progress = id(&[
        "status",
        SUMMIT,
        "in_progress",
        "--effective",
        "2025-03-01",
        "--reason",
        "Preparations announced",
    ]);
    let fulfilled = id(&[
        "status",
        SUMMIT,
        "fulfilled",
        "--effective",
        "2025-06-01",
        "--label",
        "Held",
    ]);
    let retraction = id(&[
        "retract",
        &fulfilled,
        "--reason",
        "Recorded in error: the summit was postponed",
    ]);
    let key = sign(env);
    (progress, fulfilled, retraction, key)
}

async fn status_on(b: &Browser, url: &str) -> String {
    b.open(url).await;
    b.js("const e = document.querySelector('article[data-commitment-id] [data-status]'); return e ? e.dataset.status : 'absent'")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn console_pages_show_the_ledger_with_their_hooks_and_pass_the_browser_checks() {
    let env = Env::empty();
    let (progress, fulfilled, retraction, _key) = walk_through(&env);
    let summary = ok_json(&env, &["summary"]);
    let server = Server::start(&env, &[]);
    rt().block_on(async {
        let Some(b) = Browser::start().await else { return };

        // The dashboard: the eight counts are `ikrar summary`'s, the chart has its numbers.
        b.open(&server.url("/")).await;
        assert!(b.js("return location.pathname").await == "/ui/");
        let counts = b
            .js("return Object.fromEntries([...document.querySelectorAll('[data-count-status]')].map(e => [e.dataset.countStatus, Number(e.textContent)]))")
            .await;
        assert_eq!(counts, summary["by_status"], "dashboard counts against `ikrar summary`");
        assert_eq!(b.js("return document.querySelector('[data-basis-known-at]').dataset.basisKnownAt").await, "16");
        assert!(b.js("return document.querySelectorAll('table.numbers tbody tr').length").await.as_u64().unwrap() > 1);
        assert!(b.js("return document.querySelectorAll('svg.chart polygon').length").await.as_u64().unwrap() >= 1);
        b.until("the checkpoint badge", "const e = document.querySelector('[data-proof-checkpoint]'); if (e.dataset.proof === 'failed') throw new Error(e.textContent); return e.dataset.proof === 'verified'").await;
        b.screenshot("dashboard").await;
        b.check_page("the dashboard").await;

        // The list, its filters and search.
        b.open(&server.url("/ui/commitments")).await;
        let rows = b.js("return document.querySelectorAll('li[data-commitment-id] [data-status]').length").await;
        assert_eq!(rows, 11);
        b.screenshot("commitments").await;
        b.check_page("the commitment list").await;
        b.open(&server.url("/ui/commitments?party=China")).await;
        assert_eq!(b.js("return document.querySelectorAll('li[data-commitment-id]').length").await, 2);
        b.open(&server.url("/ui/commitments?search=japan")).await;
        assert_eq!(b.js("return document.querySelectorAll('li[data-commitment-id]').length").await, 2);
        b.open(&server.url("/ui/commitments?status=in_progress")).await;
        assert_eq!(
            b.js("return [...document.querySelectorAll('li[data-commitment-id]')].map(e => e.dataset.commitmentId)").await,
            Value::Array(vec![Value::String(SUMMIT.into())])
        );

        // The commitment: status, timeline, trail with the retracted event struck through
        // and linked to its retraction.
        let page = server.url(&format!("/ui/commitments/{SUMMIT}"));
        assert_eq!(status_on(&b, &page).await, "in_progress");
        let trail = b.js("return [...document.querySelectorAll('.trail [data-event-id]')].map(e => [e.dataset.eventId, e.dataset.retracted])").await;
        assert_eq!(trail.as_array().unwrap().len(), 4, "{trail}");
        let retracted = b.js(&format!("const e = document.querySelector('[data-event-id=\"{fulfilled}\"]'); return [e.dataset.retracted, !!e.querySelector('del'), !!e.querySelector('a[href$=\"#event-{retraction}\"]')]")).await;
        assert_eq!(retracted, serde_json::json!(["true", true, true]));
        assert_eq!(b.js(&format!("return document.querySelector('[data-event-id=\"{progress}\"]').dataset.retracted")).await, "false");
        assert!(b.js("return !!document.querySelector('blockquote[lang=\"id\"]')").await == true, "the quote in its own language");
        b.until("the badges", "return [...document.querySelectorAll('[data-proof-event]')].every(e => e.dataset.proof !== 'pending')").await;
        b.js("document.getElementById('trail-h').scrollIntoView(); return true").await;
        b.screenshot("commitment").await;
        b.check_page("a commitment's page").await;

        // Moving as_of changes the status shown; moving known_at back hides what came later.
        assert_eq!(status_on(&b, &format!("{page}?as_of=2025-02-01")).await, "announced");
        assert_eq!(status_on(&b, &format!("{page}?as_of=2025-04-01")).await, "in_progress");
        assert_eq!(status_on(&b, &format!("{page}?known_at=15")).await, "fulfilled", "before the retraction was known");
        assert_eq!(status_on(&b, &format!("{page}?known_at=13")).await, "announced", "before the change was known");
        assert_eq!(b.js("return document.querySelectorAll('.trail [data-event-id]').length").await, 1);
        assert_eq!(status_on(&b, &format!("{page}?known_at=8")).await, "absent", "before it was made");

        // The basis bar itself: a date typed into it, submitted, lands in the URL; the link to
        // exactly this view reproduces it.
        b.open(&page).await;
        b.js("document.getElementById('basis-as-of').value = '2025-02-01'; document.querySelector('form.basis button[type=submit]').click(); return true").await;
        b.until("the basis in the URL", "return location.search.includes('as_of=2025-02-01')").await;
        let here = b.js("return location.href").await;
        assert_eq!(status_on(&b, here.as_str().unwrap()).await, "announced");
        assert_eq!(b.js("return document.querySelector('[data-basis-as-of]').dataset.basisAsOf").await, "2025-02-01T23:59:59.999999Z");
        let permalink = b.js("return document.querySelector('a[rel=bookmark]').href").await.as_str().unwrap().to_string();
        assert_eq!(status_on(&b, &permalink).await, "announced");
        assert!(b.js("return [...document.querySelectorAll('nav a')].every(a => !a.href.includes('/ui/') || a.href.includes('as_of=') || a.getAttribute('href') === '/ui/record')").await == true,
            "navigation keeps the basis");
        // The slider: known_at moved to 13 through the form.
        b.open(&page).await;
        b.js("const s = document.getElementById('basis-known-at'); s.value = '13'; s.dispatchEvent(new Event('input')); document.querySelector('form.basis button[type=submit]').click(); return true").await;
        b.until("known_at in the URL", "return location.search.includes('known_at=13')").await;
        let here = b.js("return location.href").await;
        assert_eq!(status_on(&b, here.as_str().unwrap()).await, "announced");

        // The meeting, the diff, the log.
        b.open(&server.url(&format!("/ui/meetings/{MEETING}"))).await;
        assert_eq!(b.js("return document.querySelectorAll('li[data-commitment-id] [data-status]').length").await, 11);
        b.check_page("a meeting's page").await;
        b.open(&server.url("/ui/diff?from=2025-02-01&to=2025-04-01")).await;
        let changed = b.js("return [...document.querySelectorAll('#changed-h + ul [data-commitment-id]')].map(e => e.dataset.commitmentId + ' ' + e.querySelector('[data-status]').dataset.status)").await;
        assert_eq!(changed, serde_json::json!([format!("{SUMMIT} in_progress")]));
        b.screenshot("diff").await;
        b.check_page("the diff").await;
        b.open(&server.url("/ui/log")).await;
        let log = b.js("return [...document.querySelectorAll('[data-event-id]')].map(e => e.dataset.retracted)").await;
        assert_eq!(log.as_array().unwrap().len(), 16);
        assert_eq!(log[1], "true", "newest first: the retracted event is second");
        assert_eq!(b.js("return document.querySelector('.pos').textContent").await, "#15");
        b.check_page("the log").await;
        b.open(&server.url("/ui/record")).await;
        b.screenshot("record").await;
        b.check_page("the recording forms").await;
        b.open(&server.url("/ui/commitments/0194a1c2-7f00-7000-8000-00000000dead")).await;
        assert!(b.js("return document.title").await.as_str().unwrap().contains("Not Found") || b.js("return document.body.innerText").await.as_str().unwrap().contains("no commitment"));
    });
}

#[test]
fn console_list_pages_through_ten_thousand_commitments() {
    let env = Env::with_ledger();
    let lines: Vec<String> = (1..=10_000).map(crate::made_line).collect();
    let file = env.file("many.jsonl", &(lines.join("\n") + "\n"));
    let out = env.append_file(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let server = Server::start(&env, &[]);
    rt().block_on(async {
        let Some(b) = Browser::start().await else {
            return;
        };
        b.open(&server.url("/ui/commitments")).await;
        assert_eq!(
            b.js("return document.querySelectorAll('li[data-commitment-id]').length")
                .await,
            50
        );
        assert_eq!(
            b.js("return document.getElementById('list-total').dataset.total")
                .await,
            "10000"
        );
        let first = b
            .js("return document.querySelector('li[data-commitment-id]').dataset.commitmentId")
            .await;
        b.js("document.querySelector('a[rel=next]').click(); return true")
            .await;
        b.until("page 2", "return location.search.includes('page=2')")
            .await;
        b.until("page 2 loaded", "return document.readyState === 'complete'")
            .await;
        let second = b
            .js("return document.querySelector('li[data-commitment-id]').dataset.commitmentId")
            .await;
        assert_ne!(first, second);
        assert_eq!(second, crate::cid(51));
        b.open(&server.url("/ui/commitments?page=200")).await;
        assert_eq!(
            b.js("return document.querySelectorAll('li[data-commitment-id]').length")
                .await,
            50
        );
        assert_eq!(
            b.js("return !!document.querySelector('a[rel=next]')").await,
            false
        );
        b.open(&server.url("/ui/commitments?page=201")).await;
        assert_eq!(
            b.js("return document.querySelectorAll('li[data-commitment-id]').length")
                .await,
            0
        );
        b.open(&server.url("/ui/commitments?search=Commitment+9999"))
            .await;
        assert_eq!(
            b.js("return document.querySelectorAll('li[data-commitment-id]').length")
                .await,
            1
        );
        b.open(&server.url("/ui/")).await;
        assert_eq!(
            b.js("return document.querySelector('[data-count-status=announced]').textContent")
                .await,
            "10000"
        );
    });
}
