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
mod blocking;
mod connections;
mod console;
mod error;
mod lists;
mod lookup;
pub mod openapi;
mod routes;
mod telemetry;
mod tls;

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
pub use connections::{ConnectionLimits, ConnectionStats, FDS_KEPT_FOR_STORAGE};
pub use error::{ApiError, Error};
pub use lists::{EVENTS_PAGE_BYTES_MAX, PAGE_ITEMS_DEFAULT, PAGE_ITEMS_MAX};
pub use lookup::{HeadAnswer, IdMatch, IDS_PER_PREFIX_MAX};
pub use routes::{AppState, HEARTBEAT_SECS};
pub use telemetry::Metrics;
pub use tls::TlsFiles;

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
    /// The file the tokens came from: re-read whenever it changes, so that tokens added or
    /// revoked take effect without a restart.
    pub tokens_file: Option<std::path::PathBuf>,
    /// The largest request body accepted, in bytes (413 beyond).
    pub body_bytes_max: usize,
    /// The longest a request may take until its response starts, in milliseconds (408 beyond).
    pub request_timeout_ms: u64,
    /// Connections at once, and the header and shutdown timeouts.
    pub connections: ConnectionLimits,
    /// Anyone may read without a token (the reader role); appending still needs a recorder's
    /// token. Allowed on any address.
    pub public_read: bool,
    /// Serve HTTPS with these files (the console's cookies are then `Secure`); `None`: HTTP.
    pub tls: Option<TlsFiles>,
    /// The witnesses checkpoints are submitted to (SPEC §11): their counters for `/metrics`,
    /// their keys for the console's cosignature check. `None`: no witness is configured.
    pub witnessing: Option<Witnessing>,
    /// Keep full tiles (entry bundles and hash tiles) as files beside a sled ledger
    /// (`LEDGER/log/tile/…`, written in the background as they fill) and answer `/log/` from
    /// them: one file read instead of sled lookups, at the cost of the records' size again on
    /// disk.
    pub tile_files: bool,
    /// Hold the projection whole in memory once a question about every commitment has read
    /// it, however large its snapshot (`Projection::set_streamed_above_bytes(u64::MAX)`):
    /// lists and console pages answer from memory, at about 2.7 times the snapshot's size
    /// (1.1 GiB at ten million events). By default a snapshot over
    /// [`ikrar_state::STREAMED_ABOVE_BYTES`] is read one timeline at a time for each.
    pub projection_in_memory: bool,
}

/// What the server shows of the witnesses `serve` submits checkpoints to.
#[derive(Debug, Clone, Default)]
pub struct Witnessing {
    /// Their counters, kept by the publisher ([`ikrar_tlog::Publisher::stats`]).
    pub stats: Arc<ikrar_tlog::WitnessStats>,
    /// Their verifier keys (`name+keyid+base64`), as configured.
    pub keys: Vec<String>,
}

impl ServerConfig {
    /// Open access on a loopback address, with the default limits.
    pub fn loopback(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            tokens: None,
            tokens_file: None,
            body_bytes_max: 16 * 1024 * 1024,
            request_timeout_ms: 30_000,
            connections: ConnectionLimits::default(),
            public_read: false,
            tls: None,
            witnessing: None,
            tile_files: true,
            projection_in_memory: false,
        }
    }
}

#[derive(Clone)]
struct Guard {
    tokens: Option<Arc<auth::LiveTokens>>,
    public_read: bool,
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
    } else if g.public_read && !req.headers().contains_key(header::AUTHORIZATION) {
        // --public-read: no token is the reader role (SPEC §10).
        Caller {
            name: "public".into(),
            role: Role::Reader,
        }
    } else {
        match &g.tokens {
            None => Caller {
                name: "local".into(),
                role: Role::Recorder,
            },
            Some(live) => {
                let tokens = live.get();
                let presented = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    // The scheme's name is case-insensitive (RFC 7235 §2.1).
                    .and_then(|v| {
                        let (scheme, token) = v.trim_start().split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then_some(token)
                    })
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
    let actor = telemetry::Actor(caller.name.clone());
    req.extensions_mut().insert(caller);
    let mut response = guarded(&g, req, next).await;
    response.extensions_mut().insert(actor);
    response
}

/// The request under the time limit, its plain-text client errors in the API's form.
async fn guarded(g: &Guard, req: Request, next: Next) -> Response {
    match tokio::time::timeout(g.request_timeout, next.run(req)).await {
        Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} bytes", g.body_bytes_max),
        )
        .into_response(),
        Ok(response) if response.status().is_client_error() && !is_json(&response) => {
            as_api_error(response).await
        }
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took over {} ms", g.request_timeout.as_millis()),
        )
        .into_response(),
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A client error that an extractor answered in plain text (a query parameter that does not
/// parse, a body that is not UTF-8, a missing parameter), in the API's error form, so that a
/// client parses every error the same way (SPEC §7).
async fn as_api_error(response: Response) -> Response {
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let kind = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "validation",
    };
    // 422 is what axum says of a well-formed body it cannot decode; to clients of this API
    // bad input is 400 (SPEC §7).
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let message = if text.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_string()
    } else {
        text.trim().to_string()
    };
    ApiError::new(status, kind, message).into_response()
}

/// The application: every route of SPEC §7, behind the guard. Live feeds end when
/// `shutting_down` turns true.
pub fn router(
    ledger: Ledger,
    config: &ServerConfig,
    shutting_down: tokio::sync::watch::Receiver<bool>,
) -> Result<Router, Error> {
    let projection = Projection::open(&ledger)?;
    if config.projection_in_memory {
        projection.set_streamed_above_bytes(u64::MAX);
    }
    let state = AppState {
        state: Arc::new(projection),
        ledger,
        shutting_down,
        metrics: Arc::default(),
        witnessing: config.witnessing.clone(),
        // Files only where a server keeps them up to date (`serve_with_socket`).
        tile_files: None,
    };
    blocking::follow_head(&state);
    Ok(router_on(state, config, tcp_tokens(config)))
}

/// The tokens the TCP listener takes: with `--public-read` and no tokens file, none at all
/// (everyone reads, nobody appends), rather than open access.
fn tcp_tokens(config: &ServerConfig) -> Option<Tokens> {
    config
        .tokens
        .clone()
        .or_else(|| config.public_read.then(Tokens::default))
}

/// The routes over `state`, behind a guard that takes `tokens` (`None`: open access, every
/// caller a recorder named `local`).
fn router_on(state: AppState, config: &ServerConfig, tokens: Option<Tokens>) -> Router {
    let tokens = tokens.map(|t| Arc::new(auth::LiveTokens::new(t, config.tokens_file.clone())));
    let console = console::mount(&state, config, tokens.clone());
    let guard_state = Guard {
        public_read: config.public_read && tokens.is_some(),
        tokens,
        body_bytes_max: config.body_bytes_max,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
    };
    Router::new()
        .route("/v1/events", post(routes::append).get(lists::events))
        .route("/v1/events/stream", get(routes::stream))
        .route("/v1/commitments", get(lists::commitments))
        .route("/v1/commitments/{id}", get(routes::commitment))
        .route("/v1/commitments/{id}/history", get(routes::history))
        .route("/v1/meetings", get(lists::meetings))
        .route("/v1/meetings/{id}", get(routes::meeting))
        .route("/v1/meetings/{id}/history", get(routes::meeting_history))
        .route("/v1/summary", get(routes::summary))
        .route("/v1/diff", get(routes::diff))
        .route("/v1/checkpoint", get(routes::checkpoint))
        .route("/v1/checkpoints", post(lookup::add_checkpoint))
        .route("/v1/head", get(lookup::head))
        .route("/v1/ids", get(lookup::ids))
        .route("/v1/actors", get(lookup::actors))
        .route("/v1/proofs/inclusion/{event_id}", get(routes::inclusion))
        .route("/v1/proofs/consistency", get(routes::consistency))
        .route("/v1/verify", get(routes::verify))
        .route("/v1/openapi.json", get(routes::openapi))
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(telemetry::metrics))
        // The C2SP tlog-tiles read API (SPEC §11).
        .merge(ikrar_tlog::http::routes_with_files(
            state.ledger.clone(),
            state.tile_files.clone(),
        ))
        .fallback(routes::fallback)
        .layer(DefaultBodyLimit::max(config.body_bytes_max))
        .layer(middleware::from_fn_with_state(guard_state, guard))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            telemetry::observe,
        ))
        .with_state(state)
        .merge(console)
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
    if config.tokens.is_none() && !config.public_read && !config.listen.ip().is_loopback() {
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
    serve_with_socket(listener, None, ledger, config, shutdown).await
}

/// [`serve_on`], and the same API on a Unix socket for the local user (SPEC §7.1): its callers
/// need no token and have the recorder role (the socket's mode, 0600, is the access control).
/// The socket file is removed when serving ends.
pub async fn serve_with_socket(
    listener: tokio::net::TcpListener,
    socket: Option<LocalSocket>,
    ledger: Ledger,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let tile_files = config
        .tile_files
        .then(|| ikrar_tlog::tile_files::TileFiles::beside(&ledger))
        .flatten()
        .map(Arc::new);
    let projection = Projection::open(&ledger)?;
    if config.projection_in_memory {
        projection.set_streamed_above_bytes(u64::MAX);
    }
    let state = AppState {
        state: Arc::new(projection),
        ledger,
        shutting_down: down_rx.clone(),
        metrics: Arc::default(),
        witnessing: config.witnessing.clone(),
        tile_files,
    };
    blocking::follow_head(&state);
    let app = router_on(state.clone(), &config, tcp_tokens(&config));
    let stats = state.metrics.connections.clone();
    let trigger = async move {
        shutdown.await;
        // End the live feeds; requests in flight (appends included) run to completion.
        let _ = down_tx.send(true);
    };
    // HTTPS goes through the same accept loop, so that its limits hold there too; a bad
    // certificate or key fails here, before anything is served.
    let tcp: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match &config.tls {
        Some(files) => Box::pin(connections::serve(
            tls::TlsListener::new(listener, files)?,
            app,
            config.connections,
            stats.clone(),
            down_rx.clone(),
        )),
        None => Box::pin(connections::serve(
            listener,
            app,
            config.connections,
            stats.clone(),
            down_rx.clone(),
        )),
    };
    // Started once nothing can fail any more, and awaited: it ends when serving does.
    let tile_writer = state.tile_files.clone().map(|files| {
        tokio::spawn(ikrar_tlog::tile_files::keep_writing(
            files,
            state.ledger.clone(),
            down_rx.clone(),
        ))
    });
    match socket {
        None => {
            tokio::join!(tcp, trigger);
        }
        Some(socket) => {
            let local_app = router_on(state, &config, None);
            let on_socket = connections::serve(
                socket.listener,
                local_app,
                config.connections,
                stats,
                down_rx.clone(),
            );
            tokio::join!(tcp, on_socket, trigger);
            let _ = std::fs::remove_file(&socket.path);
        }
    }
    if let Some(writer) = tile_writer {
        let _ = writer.await;
    }
    Ok(())
}

/// A bound Unix socket and its path (removed when serving ends).
pub struct LocalSocket {
    listener: tokio::net::UnixListener,
    path: std::path::PathBuf,
}

impl LocalSocket {
    /// Binds `path` with mode 0600. A socket file left by a server that was killed (nothing
    /// answers on it) is replaced; one a live server answers on is an error.
    pub async fn bind(path: &std::path::Path) -> Result<LocalSocket, Error> {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is answered by a running server", path.display()),
                )));
            }
            std::fs::remove_file(path)?;
        }
        // Bound under a private umask-free name first would race nothing here: the ledger
        // directory is ours (its lock is held), so set the mode right after binding.
        let listener = tokio::net::UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(LocalSocket {
            listener,
            path: path.to_path_buf(),
        })
    }
}
