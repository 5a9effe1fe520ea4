//! The console's routes in process: headers, redirects, access with and without tokens, CSRF,
//! assets, and errors as pages.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ikrar_console::{Access, ConsoleConfig, Signed};
use ikrar_core::Ledger;
use ikrar_state::Projection;
use ikrar_testkit::events::{cid, made};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    _stop: tokio::sync::watch::Sender<bool>,
    down: tokio::sync::watch::Receiver<bool>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    ledger.append((1..=3).map(made).collect()).await.unwrap();
    let (stop, down) = tokio::sync::watch::channel(false);
    Fixture {
        _dir: dir,
        ledger,
        _stop: stop,
        down,
    }
}

fn app(f: &Fixture, access: Access, secure: bool) -> Router {
    ikrar_console::router(ConsoleConfig {
        ledger: f.ledger.clone(),
        projection: Arc::new(Projection::open(&f.ledger).unwrap()),
        access,
        secure_cookies: secure,
        shutting_down: f.down.clone(),
        witness_keys: vec![],
    })
}

fn tokens(public_read: bool) -> Access {
    Access::Tokens {
        lookup: Arc::new(|t: &str| match t {
            "reader-token" => Some(Signed {
                name: "analyst".into(),
                may_record: false,
            }),
            "recorder-token" => Some(Signed {
                name: "kim".into(),
                may_record: true,
            }),
            _ => None,
        }),
        public_read,
    }
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, format!("ikrar_session={c}"));
    }
    r.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, format!("ikrar_session={cookie}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The CSRF token a page carries.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 32].to_string()
}

#[tokio::test]
async fn open_console_serves_pages_with_security_headers_and_refuses_forms_without_csrf() {
    let f = fixture().await;
    let app = app(&f, Access::Open, false);
    let (s, h, _) = send(&app, get("/", None)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/ui/");
    let (s, h, body) = send(&app, get("/ui/", None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    let cookie = h[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly; SameSite=Strict") && !cookie.contains("Secure"));
    for status in ikrar_core::Status::ALL {
        assert!(
            body.contains(&format!("data-count-status=\"{}\"", status.as_str())),
            "{status:?}"
        );
    }
    assert!(body.contains(r#"data-count-status="announced">3<"#));
    assert!(!body.contains("<script>"), "no inline script");

    let (s, _, body) = send(&app, get(&format!("/ui/commitments/{}", cid(2)), None)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(&format!("data-commitment-id=\"{}\"", cid(2))));
    assert!(body.contains("data-proof=\"pending\""));
    for (path, code) in [
        (
            "/ui/commitments/not-a-uuid".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/ui/commitments/{}", cid(99)),
            StatusCode::NOT_FOUND,
        ),
        (
            "/ui/commitments?as_of=yesterday".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ui/commitments?page=0".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ui/commitments?status=done".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        ("/ui/log?from=x".to_string(), StatusCode::BAD_REQUEST),
        ("/ui/no-such-page".to_string(), StatusCode::NOT_FOUND),
    ] {
        assert_eq!(send(&app, get(&path, None)).await.0, code, "{path}");
    }

    // A form: refused without its session's token, taken with it.
    let (_, _, page) = send(&app, get("/ui/record", Some("n.abc"))).await;
    let csrf = csrf_of(&page);
    let form = format!(
        "kind=status&commitment_id={}&status=fulfilled&actor=kim",
        cid(1)
    );
    let refused = send(&app, post("/ui/record", "n.abc", &form)).await.0;
    assert_eq!(refused, StatusCode::FORBIDDEN);
    let other = post("/ui/record", "n.other", &format!("{form}&csrf={csrf}"));
    assert_eq!(send(&app, other).await.0, StatusCode::FORBIDDEN);
    assert_eq!(f.ledger.head().tree_size, 3);
    let (s, h, _) = send(
        &app,
        post("/ui/record", "n.abc", &format!("{form}&csrf={csrf}")),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        h[header::LOCATION],
        format!("/ui/commitments/{}", cid(1)).as_str()
    );
    assert_eq!(f.ledger.head().tree_size, 4);
    // A bad date: 400, the error beside its field, nothing written.
    let bad = format!(
        "kind=status&commitment_id={}&status=fulfilled&effective=2025-02-30&csrf={csrf}",
        cid(1)
    );
    let (s, _, body) = send(&app, post("/ui/record", "n.abc", &bad)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("aria-invalid=\"true\""));
    assert!(!body.contains("data-error-for=\"effective\"></span>"));
    assert_eq!(f.ledger.head().tree_size, 4);
}

#[tokio::test]
async fn assets_are_embedded_with_hashed_names() {
    let f = fixture().await;
    let app = app(&f, Access::Open, false);
    let (_, _, page) = send(&app, get("/ui/", None)).await;
    let at = page.find("/ui/assets/console.").unwrap();
    let name: String = page[at..].chars().take_while(|c| *c != '"').collect();
    let (s, h, css) = send(&app, get(&name, None)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.contains(":root"));
    let (s, h, _) = send(&app, get("/ui/assets/verify.js", None)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let missing = send(&app, get("/ui/assets/nothing.js", None)).await.0;
    assert_eq!(missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_tokens_a_reader_signs_in_once_and_cannot_record() {
    let f = fixture().await;
    let app = app(&f, tokens(false), true);
    let (s, h, _) = send(&app, get("/ui/commitments?status=announced", None)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        h[header::LOCATION],
        "/ui/sign-in?next=%2Fui%2Fcommitments%3Fstatus%3Dannounced"
    );
    let api = send(&app, get("/ui/api/checkpoint", None)).await.0;
    assert_eq!(api, StatusCode::UNAUTHORIZED);
    let (s, h, page) = send(&app, get("/ui/sign-in", Some("n.fresh"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h.get(header::SET_COOKIE).is_none(),
        "a browser keeps its session"
    );
    let csrf = csrf_of(&page);
    let wrong = post(
        "/ui/sign-in",
        "n.fresh",
        &format!("token=wrong&csrf={csrf}"),
    );
    assert_eq!(send(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let no_csrf = post("/ui/sign-in", "n.fresh", "token=reader-token");
    assert_eq!(send(&app, no_csrf).await.0, StatusCode::FORBIDDEN);
    let ok = post(
        "/ui/sign-in",
        "n.fresh",
        &format!("token=reader-token&csrf={csrf}&next=%2Fui%2Flog"),
    );
    let (s, h, _) = send(&app, ok).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/ui/log");
    let cookie = h[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("ikrar_session=reader-token;")
            && cookie.contains("HttpOnly; SameSite=Strict; Secure"),
        "{cookie}"
    );
    let (s, _, body) = send(&app, get("/ui/", Some("reader-token"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Signed in as <strong>analyst</strong> (reader)"));
    let record = send(&app, get("/ui/record", Some("reader-token"))).await.0;
    assert_eq!(record, StatusCode::FORBIDDEN);
    // An address elsewhere is not followed after signing in.
    let away = post(
        "/ui/sign-in",
        "n.fresh",
        &format!("token=reader-token&csrf={csrf}&next=https%3A%2F%2Fevil.example%2F"),
    );
    assert_eq!(send(&app, away).await.1[header::LOCATION], "/ui/");
    let (_, _, page) = send(&app, get("/ui/record", Some("recorder-token"))).await;
    let csrf = csrf_of(&page);
    let form = format!("kind=commitment&title=Summit&made_on=2025-01-20&csrf={csrf}");
    let made = send(&app, post("/ui/record", "recorder-token", &form))
        .await
        .0;
    assert_eq!(made, StatusCode::SEE_OTHER);
    assert_eq!(f.ledger.head().tree_size, 4);
    assert_eq!(
        f.ledger.read(3).unwrap().record.actor,
        "kim",
        "the token's name records"
    );
}

#[tokio::test]
async fn public_read_lets_anyone_read_but_not_record() {
    let f = fixture().await;
    let app = app(&f, tokens(true), false);
    assert_eq!(
        send(&app, get("/ui/commitments", None)).await.0,
        StatusCode::OK
    );
    assert_eq!(send(&app, get("/ui/log", None)).await.0, StatusCode::OK);
    let (s, _, body) = send(&app, get("/ui/record", None)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("sign in first"));
    // Behind a proxy that terminates TLS, cookies are Secure as well.
    let proxied = Request::get("/ui/")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .unwrap();
    let (_, h, _) = send(&app, proxied).await;
    assert!(h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .ends_with("; Secure"));
    let (_, h, _) = send(&app, get("/ui/", None)).await;
    assert!(!h[header::SET_COOKIE].to_str().unwrap().contains("Secure"));
}
