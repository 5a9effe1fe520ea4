//! # ikrar-server
//!
//! The HTTP API of SPEC §7 over the ikrar library: JSON over HTTP/1.1 under `/v1`, bearer tokens
//! with roles, a live Server-Sent Events feed, and an OpenAPI document generated from the code.
//! Errors are `{"error":{"kind","message"}}` with 400/401/403/404/408/409/413.
//!
//! ```no_run
//! # async fn run() -> Result<(), ikrar_server::Error> {
//! let ledger = ikrar_core::Ledger::open("ikrar-ledger")?;
//! let config = ikrar_server::ServerConfig::loopback("127.0.0.1:7878".parse().unwrap());
//! ikrar_server::serve(ledger, config, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod auth;
mod error;
pub mod openapi;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ikrar_core::Ledger;
use ikrar_state::Projection;

pub use auth::{token_hash, Role, TokenEntry, Tokens};
pub use error::{ApiError, Error};
pub use routes::{AppState, EVENTS_PAGE_MAX, HEARTBEAT_SECS};

/// Who is calling, as the auth layer established it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name (the default actor of what it appends), or `local` without tokens.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Accepted tokens; `None` allows everything, and only on loopback.
    pub tokens: Option<Tokens>,
    /// The largest request body accepted, in bytes (413 beyond).
    pub body_bytes_max: usize,
    /// The longest a request may take until its response starts, in milliseconds (408 beyond).
    pub request_timeout_ms: u64,
}

impl ServerConfig {
    /// Open access on a loopback address, with the default limits.
    pub fn loopback(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            tokens: None,
            body_bytes_max: 16 * 1024 * 1024,
            request_timeout_ms: 30_000,
        }
    }
}

#[derive(Clone)]
struct Guard {
    tokens: Option<Arc<Tokens>>,
    body_bytes_max: usize,
    request_timeout: Duration,
}

/// Authentication, roles, size and time limits, in one layer, answering in the API's error form.
async fn guard(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > g.body_bytes_max) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} bytes", g.body_bytes_max),
        )
        .into_response();
    }
    let caller = if req.uri().path() == "/healthz" {
        Caller {
            name: "health".into(),
            role: Role::Reader,
        }
    } else {
        match &g.tokens {
            None => Caller {
                name: "local".into(),
                role: Role::Recorder,
            },
            Some(tokens) => {
                let presented = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim);
                let Some(token) = presented else {
                    return ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "a bearer token is required",
                    )
                    .into_response();
                };
                let Some(role) = tokens.role_of(token) else {
                    return ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "unknown token",
                    )
                    .into_response();
                };
                let name = tokens
                    .tokens
                    .iter()
                    .find(|t| t.token_sha256 == token_hash(token))
                    .map_or_else(|| "token".to_string(), |t| t.name.clone());
                Caller { name, role }
            }
        }
    };
    if req.method() != Method::GET && req.method() != Method::HEAD && caller.role != Role::Recorder
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may only read",
        )
        .into_response();
    }
    req.extensions_mut().insert(caller);
    match tokio::time::timeout(g.request_timeout, next.run(req)).await {
        Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} bytes", g.body_bytes_max),
        )
        .into_response(),
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took over {} ms", g.request_timeout.as_millis()),
        )
        .into_response(),
    }
}

/// The application: every route of SPEC §7, behind the guard. Live feeds end when
/// `shutting_down` turns true.
pub fn router(
    ledger: Ledger,
    config: &ServerConfig,
    shutting_down: tokio::sync::watch::Receiver<bool>,
) -> Result<Router, Error> {
    let state = AppState {
        state: Arc::new(Projection::open(&ledger)?),
        ledger,
        shutting_down,
    };
    let guard_state = Guard {
        tokens: config.tokens.clone().map(Arc::new),
        body_bytes_max: config.body_bytes_max,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
    };
    Ok(Router::new()
        .route("/v1/events", post(routes::append).get(routes::events))
        .route("/v1/events/stream", get(routes::stream))
        .route("/v1/commitments", get(routes::commitments))
        .route("/v1/commitments/{id}", get(routes::commitment))
        .route("/v1/commitments/{id}/history", get(routes::history))
        .route("/v1/meetings/{id}", get(routes::meeting))
        .route("/v1/summary", get(routes::summary))
        .route("/v1/diff", get(routes::diff))
        .route("/v1/checkpoint", get(routes::checkpoint))
        .route("/v1/proofs/inclusion/{event_id}", get(routes::inclusion))
        .route("/v1/proofs/consistency", get(routes::consistency))
        .route("/v1/verify", get(routes::verify))
        .route("/v1/openapi.json", get(routes::openapi))
        .route("/healthz", get(routes::healthz))
        .fallback(routes::fallback)
        .layer(DefaultBodyLimit::max(config.body_bytes_max))
        .layer(middleware::from_fn_with_state(guard_state, guard))
        .with_state(state))
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish,
/// and closes the ledger (every acknowledged append was durable before its answer).
pub async fn serve(
    ledger: Ledger,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let listener = bind(&config).await?;
    serve_on(listener, ledger, config, shutdown).await
}

/// Binds the listen address, refusing a non-loopback one without tokens.
pub async fn bind(config: &ServerConfig) -> Result<tokio::net::TcpListener, Error> {
    if config.tokens.is_none() && !config.listen.ip().is_loopback() {
        return Err(Error::NotLoopback(config.listen));
    }
    Ok(tokio::net::TcpListener::bind(config.listen).await?)
}

/// [`serve`] on a listener already bound (e.g. to port 0 in tests).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    ledger: Ledger,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let app = router(ledger, &config, down_rx)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // End the live feeds; requests in flight (appends included) run to completion.
            let _ = down_tx.send(true);
        })
        .await?;
    Ok(())
}
