//! Recording through the console's forms, its roles and CSRF, access with tokens and
//! `--public-read`, its headers, and the live feed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{demo_with_checkpoint, rt, Browser, Server};
use super::pages::SUMMIT;
use crate::{json, stderr, Env};

/// A raw HTTP/1.1 request: `(status, head, body)`.
fn http(port: u16, method: &str, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

fn tree_size(port: u16) -> u64 {
    let (_, _, body) = http(port, "GET", "/healthz", "", "");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["tree_size"]
        .as_u64()
        .unwrap()
}

/// Fills the status form and sends it.
const SEND_STATUS: &str = "const [id, status, effective] = arguments;
    const f = document.querySelector('form[data-form=status]');
    f.querySelector('[name=commitment_id]').value = id;
    f.querySelector('[name=status]').value = status;
    f.querySelector('[name=effective]').value = effective;
    f.querySelector('[name=reason]').value = 'Reported by the ministry';
    f.querySelector('[name=source_url]').value = 'https://example.org/report';
    f.querySelector('button[type=submit]').click(); return true;";

#[test]
fn console_records_a_status_change_through_its_form_and_refuses_bad_dates_and_missing_csrf() {
    let env = Env::empty();
    demo_with_checkpoint(&env);
    let server = Server::start(&env, &[]);
    rt().block_on(async {
        let Some(b) = Browser::start().await else { return };
        let before = tree_size(server.port);
        b.open(&server.url("/ui/record")).await;
        b.client.execute(SEND_STATUS, vec![json!(SUMMIT), json!("at_risk"), json!("2025-13-45")]).await.unwrap();
        b.until("the error beside the field", "return !!document.querySelector('form[data-form=status] [data-error-for=effective]')?.textContent.trim()").await;
        assert_eq!(b.js("return document.querySelector('form[data-form=status] [name=effective]').getAttribute('aria-invalid')").await, "true");
        assert_eq!(b.js("return document.querySelector('form[data-form=status] [name=commitment_id]').value").await, SUMMIT, "what was typed is kept");
        assert_eq!(tree_size(server.port), before, "nothing written");
        // The page that shows the error answers 400, which the browser notes; nothing else.
        let log = b.console_log().await;
        assert!(log.len() == 1 && log[0].contains("/ui/record") && log[0].contains("400"), "{log:#?}");
        b.check_page("a form with an error").await;

        // A status effective before the commitment was made: the ledger's rule, beside its field.
        b.client.execute(SEND_STATUS, vec![json!(SUMMIT), json!("at_risk"), json!("2024-01-01")]).await.unwrap();
        b.until("the rule beside the field", "return /before/.test(document.querySelector('form[data-form=status] [data-error-for=effective]')?.textContent ?? '')").await;
        assert_eq!(tree_size(server.port), before);

        b.client.execute(SEND_STATUS, vec![json!(SUMMIT), json!("at_risk"), json!("2025-05-01")]).await.unwrap();
        b.until("the commitment's page", &format!("return location.pathname === '/ui/commitments/{SUMMIT}'")).await;
        b.until("the new status", "return document.querySelector('article [data-status]')?.dataset.status === 'at_risk'").await;
        assert_eq!(tree_size(server.port), before + 1);

        // Without its CSRF token, or with another's, a form is refused.
        let refused = b.client.execute_async(
            "const done = arguments[arguments.length - 1];
             const body = new URLSearchParams({kind: 'status', commitment_id: arguments[0], status: 'broken', actor: 'x'});
             const other = new URLSearchParams(body); other.set('csrf', '0123456789abcdef0123456789abcdef');
             Promise.all([fetch('/ui/record', {method: 'POST', body}), fetch('/ui/record', {method: 'POST', body: other})])
               .then(rs => done(rs.map(r => r.status)));",
            vec![json!(SUMMIT)],
        ).await.unwrap();
        assert_eq!(refused, json!([403, 403]));
        assert_eq!(tree_size(server.port), before + 1);

        // A new commitment, a meeting naming it, a retraction of the status change.
        b.open(&server.url("/ui/record")).await;
        b.js("const f = document.querySelector('form[data-form=commitment]'); f.querySelector('[name=title]').value = 'Open a consulate in Almaty'; f.querySelector('[name=made_on]').value = '2025-02-01'; f.querySelector('[name=parties]').value = 'Kazakhstan, Central Asia'; f.querySelector('button[type=submit]').click(); return true").await;
        b.until("the new commitment", "return document.querySelector('article h1')?.textContent === 'Open a consulate in Almaty'").await;
        let new_id = b.js("return document.querySelector('article').dataset.commitmentId").await;
        b.open(&server.url("/ui/record")).await;
        b.client.execute("const f = document.querySelector('form[data-form=meeting]'); f.querySelector('[name=title]').value = 'Consular talks'; f.querySelector('[name=held_on]').value = '2025-02-10'; f.querySelector('[name=participants]').value = 'Kim; Director; MOFA'; f.querySelector('[name=commitment_ids]').value = arguments[0]; f.querySelector('[name=outcomes]').value = 'Agreed on a site'; f.querySelector('button[type=submit]').click(); return true", vec![new_id.clone()]).await.unwrap();
        b.until("the meeting's page", "return location.pathname.startsWith('/ui/meetings/')").await;
        b.until("the meeting names it", &format!("return !!document.querySelector('[data-commitment-id=\"{}\"]')", new_id.as_str().unwrap())).await;
        assert_eq!(tree_size(server.port), before + 3);
        let history = crate::ok_json(&env, &["history", SUMMIT]);
        let last = history.as_array().unwrap().last().unwrap()["event_id"].as_str().unwrap().to_string();
        b.open(&server.url("/ui/record")).await;
        b.client.execute("const f = document.querySelector('form[data-form=retraction]'); f.querySelector('[name=event_id]').value = arguments[0]; f.querySelector('[name=reason]').value = 'Entered in error'; f.querySelector('button[type=submit]').click(); return true", vec![json!(last)]).await.unwrap();
        b.until("the retracted event struck through", &format!("return document.querySelector('[data-event-id=\"{last}\"]')?.dataset.retracted === 'true'")).await;
        b.until("the status back", "return document.querySelector('article [data-status]')?.dataset.status === 'announced'").await;
    });
}

fn token(env: &Env, tokens: &std::path::Path, name: &str, role: &str) -> String {
    let out = env.run(&[
        "--format",
        "json",
        "token",
        "add",
        name,
        "--role",
        role,
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)["token"].as_str().unwrap().to_string()
}

async fn sign_in(b: &Browser, server: &Server, token: &str) {
    b.open(&server.url("/ui/sign-in")).await;
    b.client.execute("document.getElementById('token').value = arguments[0]; document.querySelector('main form button[type=submit]').click(); return true", vec![json!(token)]).await.unwrap();
    b.until(
        "signed in",
        "return document.readyState === 'complete' && location.pathname === '/ui/'",
    )
    .await;
}

#[test]
fn console_with_tokens_signs_in_once_keeps_roles_and_publishes_read_only() {
    let env = Env::empty();
    demo_with_checkpoint(&env);
    let tokens = env.dir.path().join("tokens.json");
    let reader = token(&env, &tokens, "analyst", "reader");
    let recorder = token(&env, &tokens, "oversight.kim", "recorder");
    let server = Server::start(&env, &["--tokens", tokens.to_str().unwrap()]);

    // The headers, and a cookie that scripts cannot read and other sites cannot send.
    let (code, head, _) = http(server.port, "GET", "/ui/sign-in", "", "");
    assert_eq!(code, 200);
    let head = head.to_ascii_lowercase();
    for h in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "referrer-policy: same-origin",
    ] {
        assert!(head.contains(h), "missing {h} in\n{head}");
    }
    assert!(
        head.contains("set-cookie: ikrar_session=")
            && head.contains("httponly")
            && head.contains("samesite=strict"),
        "{head}"
    );
    assert!(!head.contains("secure"), "no Secure cookie over plain HTTP");
    let (code, head, _) = http(server.port, "GET", "/ui/commitments", "", "");
    assert_eq!(code, 303, "{head}");
    assert!(
        head.contains("location: /ui/sign-in?next=%2Fui%2Fcommitments"),
        "{head}"
    );

    rt().block_on(async {
        let Some(b) = Browser::start().await else { return };
        b.open(&server.url("/ui/")).await;
        assert_eq!(b.js("return location.pathname").await, "/ui/sign-in");
        b.check_page("the sign-in page").await;
        b.client.execute("document.getElementById('token').value = 'ikrar_wrong'; document.querySelector('main form button[type=submit]').click(); return true", vec![]).await.unwrap();
        b.until("the refusal", "return document.readyState === 'complete' && !!document.getElementById('token-error')").await;

        sign_in(&b, &server, &reader).await;
        assert!(b.js("return document.querySelector('.who').textContent").await.as_str().unwrap().contains("analyst"));
        assert_eq!(b.js("return document.cookie.includes('ikrar_session')").await, false, "HttpOnly");
        assert_eq!(b.js("return !!document.querySelector('a[href=\"/ui/record\"]')").await, false);
        b.open(&server.url("/ui/record")).await;
        assert!(b.js("return document.body.innerText").await.as_str().unwrap().contains("may only read"));
        let before = tree_size(server.port);
        b.open(&server.url(&format!("/ui/commitments/{SUMMIT}"))).await;
        b.until("badges verified with a session", "return [...document.querySelectorAll('[data-proof-event]')].every(e => e.dataset.proof === 'verified')").await;
        b.js("document.querySelector('.who button').click(); return true").await;
        b.until("signed out", "return location.pathname === '/ui/sign-in' || document.querySelector('.who a[href=\"/ui/sign-in\"]') !== null").await;

        sign_in(&b, &server, &recorder).await;
        b.open(&server.url("/ui/record")).await;
        b.client.execute(SEND_STATUS, vec![json!(SUMMIT), json!("in_progress"), json!("2025-04-01")]).await.unwrap();
        b.until("recorded", "return document.querySelector('article [data-status]')?.dataset.status === 'in_progress'").await;
        assert_eq!(tree_size(server.port), before + 1);
        let trail_actor = b.js("return [...document.querySelectorAll('.trail [data-event-id]')].pop().innerText").await;
        assert!(trail_actor.as_str().unwrap().contains("oversight.kim"), "the token's name is the actor");
    });
    drop(server);

    // Published read-only: anyone reads the console and the API; nobody records without a token.
    let public = Server::start(
        &env,
        &["--tokens", tokens.to_str().unwrap(), "--public-read"],
    );
    assert_eq!(http(public.port, "GET", "/ui/commitments", "", "").0, 200);
    assert_eq!(http(public.port, "GET", "/v1/summary", "", "").0, 200);
    assert_eq!(http(public.port, "GET", "/ui/record", "", "").0, 403);
    let body = r#"{"type":"commitment_status_changed","data":{"commitment_id":"01946d3e-0000-7000-8000-000000000109","status":"broken"}}"#;
    assert_eq!(
        http(
            public.port,
            "POST",
            "/v1/events",
            "Content-Type: application/json\r\n",
            body
        )
        .0,
        403
    );
    let auth = format!("Authorization: Bearer {recorder}\r\nContent-Type: application/json\r\n");
    assert_eq!(http(public.port, "POST", "/v1/events", &auth, body).0, 200);
}

#[test]
fn console_live_feed_shows_an_event_appended_by_another_client_within_two_seconds() {
    let env = Env::empty();
    demo_with_checkpoint(&env);
    let server = Server::start(&env, &[]);
    rt().block_on(async {
        let Some(b) = Browser::start().await else {
            return;
        };
        b.open(&server.url("/ui/")).await;
        b.until(
            "the live feed",
            "return document.getElementById('feed-state').textContent.startsWith('Live')",
        )
        .await;
        // Another client: the CLI, through the running server's socket.
        let out = env.run(&[
            "--format",
            "json",
            "status",
            SUMMIT,
            "in_progress",
            "--reason",
            "From another client",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let appended = Instant::now();
        let id = json(&out)["event_ids"][0].as_str().unwrap().to_string();
        let script = format!("return !!document.querySelector('#feed [data-event-id=\"{id}\"]')");
        while b.js(&script).await != true {
            assert!(
                appended.elapsed() < Duration::from_secs(2),
                "the event did not appear within 2 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            b.js("return document.querySelector('#feed [data-event-id]').dataset.retracted")
                .await,
            "false"
        );
        b.check_page("the dashboard with live events").await;
    });
}
