//! # ikrar-console
//!
//! The web console of SPEC §10: pages rendered on the server from the same library calls as the
//! JSON API (so a page and `GET /v1/...` cannot disagree), assets compiled into the binary, and
//! proofs checked in the browser against a key the reader pins. `ikrar-server` mounts
//! [`router`] beside its `/v1` routes.
//!
//! ```no_run
//! # fn run(ledger: ikrar_core::Ledger) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let projection = Arc::new(ikrar_state::Projection::open(&ledger)?);
//! let (_stop, shutting_down) = tokio::sync::watch::channel(false);
//! let app: axum::Router = ikrar_console::router(ikrar_console::ConsoleConfig {
//!     ledger,
//!     projection,
//!     access: ikrar_console::Access::Open,
//!     secure_cookies: false,
//!     shutting_down,
//!     witness_keys: vec![],
//! });
//! # let _ = app; Ok(()) }
//! ```

mod api;
mod assets;
mod basis;
mod chart;
mod error;
mod pages;
mod record;
mod rows;
mod session;
mod subject;
mod text;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use ikrar_core::Ledger;
use ikrar_state::Projection;

pub use error::Error;
pub use session::{Access, Signed, TokenLookup};

/// The largest form the console accepts, in bytes: a recording form is a few kilobytes.
pub const FORM_BYTES_MAX: usize = 256 * 1024;

/// What the console serves from.
#[derive(Clone)]
pub struct ConsoleConfig {
    /// The ledger.
    pub ledger: Ledger,
    /// Its projection, shared with the JSON API: pages never fold the log from scratch.
    pub projection: Arc<Projection>,
    /// Who may read and record.
    pub access: Access,
    /// Whether cookies carry `Secure` (the server speaks TLS).
    pub secure_cookies: bool,
    /// Turns true when the server shuts down: live feeds end then.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    /// The verifier keys of the witnesses the server submits checkpoints to (SPEC §11): the
    /// browser checks their cosignatures, and the dashboard shows their alarms.
    pub witness_keys: Vec<String>,
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Console {
    pub(crate) config: Arc<ConsoleConfig>,
    /// A secret of this process, from which CSRF tokens are derived (they need no storage and
    /// die with the process).
    pub(crate) secret: Arc<[u8; 32]>,
}

impl Console {
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.config.ledger
    }

    pub(crate) fn projection(&self) -> &Projection {
        &self.config.projection
    }

    /// Runs a blocking library call off the async workers (reads from disk, folds).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Console) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }
}

/// The console's routes: `GET /` (a redirect to `/ui/`) and everything under `/ui/`.
pub fn router(config: ConsoleConfig) -> Router {
    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let console = Console {
        config: Arc::new(config),
        secret: Arc::new(secret),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::dashboard))
        .route("/ui/commitments", get(pages::commitments))
        .route("/ui/commitments/{id}", get(pages::commitment))
        .route("/ui/meetings/{id}", get(pages::meeting))
        .route("/ui/diff", get(pages::diff))
        .route("/ui/log", get(pages::log))
        .route("/ui/record", get(record::form).post(record::submit))
        .route(
            "/ui/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/ui/sign-out", axum::routing::post(session::sign_out))
        .route("/ui/api/proof/{event_id}", get(api::proof))
        .route("/ui/api/checkpoint", get(api::checkpoint))
        .route("/ui/api/feed", get(api::feed))
        .route("/ui/assets/{name}", get(assets::serve))
        // Not a fallback: the server merges these routes beside its own, which has one.
        .route("/ui/{*rest}", get(pages::not_found))
        .layer(DefaultBodyLimit::max(FORM_BYTES_MAX))
        .layer(middleware::from_fn_with_state(
            console.clone(),
            session::gate,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// The Content-Security-Policy: only the console's own scripts, styles and connections; no
/// inline script, no framing, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
base-uri 'none'; frame-ancestors 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// An HTML page, as a response.
pub(crate) fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}
