//! Who is calling (SPEC §10 "Access"): open on loopback without tokens; with tokens, a token
//! given once on the sign-in page and kept in an `HttpOnly`, `SameSite=Strict` cookie;
//! `--public-read` lets anyone read. Forms carry a CSRF token derived from the session cookie
//! and a secret of the process, so no session table is kept.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{Console, Error};

/// The cookie that holds the session: the token after sign-in, else a random nonce that only
/// anchors the CSRF token.
pub(crate) const COOKIE: &str = "ikrar_session";

/// Someone a token identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The token's name: the default actor of what they record.
    pub name: String,
    /// Whether the token has the recorder role.
    pub may_record: bool,
}

/// Looks a presented token up (the server's live tokens file).
pub type TokenLookup = Arc<dyn Fn(&str) -> Option<Signed> + Send + Sync>;

/// Who may use the console.
#[derive(Clone)]
pub enum Access {
    /// No tokens file (the server listens on loopback only): everyone reads and records.
    Open,
    /// Tokens: a sign-in page takes one.
    Tokens {
        /// Checks a token.
        lookup: TokenLookup,
        /// Anyone reads without a token (recording still needs a recorder's).
        public_read: bool,
    },
}

/// The caller of one request, as [`gate`] found it.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    /// The actor recorded events default to.
    pub(crate) name: String,
    pub(crate) may_record: bool,
    /// Whether a token was presented and accepted.
    pub(crate) signed_in: bool,
    /// Whether signing in means anything here (tokens are in use).
    pub(crate) tokens: bool,
    /// The session cookie's value, which the CSRF token is derived from.
    pub(crate) session: String,
    /// Whether its cookies are `Secure`: the server speaks TLS, or a proxy in front of it
    /// says the browser does (`X-Forwarded-Proto: https`).
    pub(crate) secure: bool,
}

fn random_nonce() -> String {
    let mut bytes = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    format!("n.{}", hex::encode(bytes))
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 512)
}

pub(crate) fn set_cookie(who: &Who, value: &str) -> HeaderValue {
    let secure = if who.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("ikrar_session=; Path=/"))
}

impl Console {
    /// The CSRF token of a session: SHA-256(secret ‖ 0 ‖ session), first 16 bytes in hex.
    pub(crate) fn csrf(&self, session: &str) -> String {
        let mut h = Sha256::new();
        h.update(&self.secret[..]);
        h.update([0u8]);
        h.update(session.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// Refuses a form whose CSRF token is not its session's.
    pub(crate) fn check_csrf(&self, who: &Who, presented: Option<&str>) -> Result<(), Error> {
        let expected = self.csrf(&who.session);
        let presented = presented.unwrap_or_default();
        let same = presented.len() == expected.len()
            && presented
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the form's CSRF token is missing or not this session's; reload the page and send it again".into(),
            ))
        }
    }
}

/// Establishes [`Who`] for every console request, refuses readers where reading needs a
/// token, and gives a new browser its session cookie.
pub(crate) async fn gate(State(console): State<Console>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let presented = cookie_of(req.headers());
    let session = presented.clone().unwrap_or_else(random_nonce);
    let secure = console.config.secure_cookies
        || req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut who = match &console.config.access {
        Access::Open => Who {
            name: "local".into(),
            may_record: true,
            signed_in: false,
            tokens: false,
            session: session.clone(),
            secure: false,
        },
        Access::Tokens {
            lookup,
            public_read,
        } => {
            let signed = presented
                .as_deref()
                .filter(|v| !v.starts_with("n."))
                .and_then(|t| lookup(t));
            match signed {
                Some(s) => Who {
                    name: s.name,
                    may_record: s.may_record,
                    signed_in: true,
                    tokens: true,
                    session: session.clone(),
                    secure: false,
                },
                None => {
                    let free =
                        path == "/" || path.starts_with("/ui/assets/") || path == "/ui/sign-in";
                    if !public_read && !free {
                        return refuse_reader(&path, req.uri().query());
                    }
                    Who {
                        name: "public".into(),
                        may_record: false,
                        signed_in: false,
                        tokens: true,
                        session: session.clone(),
                        secure: false,
                    }
                }
            }
        }
    };
    who.secure = secure;
    let fresh = presented.is_none() && req.method() == Method::GET;
    req.extensions_mut().insert(who.clone());
    let mut response = next.run(req).await;
    if fresh && !path.starts_with("/ui/assets/") {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(&who, &session));
    }
    response
}

fn refuse_reader(path: &str, query: Option<&str>) -> Response {
    if path.starts_with("/ui/api/") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                serde_json::json!({"error": {"kind": "unauthorized", "message": "sign in first"}}),
            ),
        )
            .into_response();
    }
    let back = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    Redirect::to(&format!(
        "/ui/sign-in{}",
        crate::text::query(&[("next", back)])
    ))
    .into_response()
}

/// `?next=`.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Only console addresses are followed after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("/ui//") => n.to_string(),
        _ => "/ui/".to_string(),
    }
}

pub(crate) async fn sign_in_page(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Query(q): Query<NextQuery>,
) -> Result<Response, Error> {
    crate::pages::sign_in(
        &console,
        &who,
        &safe_next(q.next.as_deref()),
        None,
        StatusCode::OK,
    )
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    token: String,
    csrf: Option<String>,
    next: Option<String>,
}

pub(crate) async fn sign_in(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Form(form): Form<SignInForm>,
) -> Result<Response, Error> {
    console.check_csrf(&who, form.csrf.as_deref())?;
    let next = safe_next(form.next.as_deref());
    let Access::Tokens { lookup, .. } = &console.config.access else {
        return Ok(Redirect::to(&next).into_response());
    };
    let token = form.token.trim();
    if token.starts_with("n.") || lookup(token).is_none() {
        return crate::pages::sign_in(
            &console,
            &who,
            &next,
            Some("This token is not known to this server.".into()),
            StatusCode::UNAUTHORIZED,
        );
    }
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&who, token));
    Ok(response)
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

pub(crate) async fn sign_out(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    console.check_csrf(&who, form.csrf.as_deref())?;
    let mut response = Redirect::to("/ui/").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&who, &random_nonce()));
    Ok(response)
}
