//! `ikrar serve` and `ikrar token add`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ikrar_core::Ledger;
use ikrar_server::{LocalSocket, Role, ServerConfig, Tokens};
use serde_json::json;

use super::{print_json, usage};
use crate::args::{LogFormat, TokenCommand};
use crate::failure::{exit, Failure};
use crate::output::Format;

fn server_failure(e: ikrar_server::Error) -> Failure {
    match e {
        ikrar_server::Error::Core(core) => Failure::from(core),
        e @ (ikrar_server::Error::NotLoopback(_) | ikrar_server::Error::TokensInvalid { .. }) => {
            usage(e.to_string())
        }
        e => Failure::new("server", exit::OPERATIONAL, e.to_string()),
    }
}

/// Request logs on standard error: text for people, JSON for log collectors. `RUST_LOG`
/// (e.g. `ikrar_server=debug`) sets what is logged; the default is every request and warning.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Resolves when SIGTERM or Ctrl-C arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("shutting down: finishing requests in flight");
}

/// `ikrar serve`'s options.
pub(super) struct ServeOptions {
    pub(super) listen: SocketAddr,
    pub(super) tokens: Option<PathBuf>,
    pub(super) connections_max: usize,
    pub(super) header_timeout: std::time::Duration,
    pub(super) log_format: LogFormat,
    /// --public-read, --tls-cert, --tls-key.
    pub(super) web: crate::args::WebArgs,
    /// Not --no-tile-files.
    pub(super) tile_files: bool,
    /// --projection-in-memory.
    pub(super) projection_in_memory: bool,
}

pub(super) async fn serve(
    path: &Path,
    options: ServeOptions,
    publishing: Option<super::witness::Publishing>,
) -> Result<(), Failure> {
    init_logging(options.log_format);
    let mut config = ServerConfig::loopback(options.listen);
    config.connections.connections_max = options.connections_max;
    config.connections.header_timeout_ms = options.header_timeout.as_millis() as u64;
    config.public_read = options.web.public_read;
    config.tile_files = options.tile_files;
    config.projection_in_memory = options.projection_in_memory;
    if let (Some(cert), Some(key)) = (&options.web.tls_cert, &options.web.tls_key) {
        config.tls = Some(ikrar_server::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    if let Some(file) = options.tokens.as_deref() {
        config.tokens = Some(Tokens::load(file).map_err(server_failure)?);
        config.tokens_file = Some(file.to_path_buf());
    }
    let listener = ikrar_server::bind(&config).await.map_err(server_failure)?;
    let ledger = Ledger::open(path)?;
    // The index, deferred at open, is built now on the blocking pool: reads are served
    // meanwhile, and no request pays for the scan of the log.
    {
        let ledger = ledger.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = ledger.build_index() {
                tracing::error!(error = %e, "the ledger's index cannot be built; appends will fail");
            }
        });
    }
    if ledger.discarded_at_open() > 0 {
        tracing::warn!(
            records = ledger.discarded_at_open(),
            "records of a commit that was never acknowledged lay beyond the head and were removed"
        );
    }
    // The CLI beside the server (SPEC §7.1): a sled ledger is a directory, and the socket
    // lives in it, reachable only by this user.
    let socket = match ledger.path() {
        Some(dir) => Some(
            LocalSocket::bind(&dir.join(crate::access::remote::SOCKET_FILE))
                .await
                .map_err(server_failure)?,
        ),
        None => None,
    };
    eprintln!(
        "ikrar serving {} on {}://{}/ ({}); the console is at /ui/",
        ledger.location().display(),
        if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        listener.local_addr()?,
        match (config.tokens.is_some(), config.public_read) {
            (_, true) => "anyone reads; recording needs a recorder token",
            (true, false) => "bearer tokens required",
            (false, false) => "open access, loopback only",
        }
    );
    // Checkpoints and cosignatures (SPEC §11), stopped with the server.
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    // The witnesses' counters go to `/metrics`, their keys to the console.
    let publisher = match publishing {
        Some(p) => {
            let (task, witnessing) = p.start(&ledger, down_rx)?;
            config.witnessing = Some(witnessing);
            Some(task)
        }
        None => None,
    };
    let shutdown = async move {
        shutdown_signal().await;
        let _ = down_tx.send(true);
    };
    let ledger_for_index = ledger.clone();
    let served = ikrar_server::serve_with_socket(listener, socket, ledger, config, shutdown).await;
    if let Some(task) = publisher {
        let _ = task.await;
    }
    // What the server appended is indexed for the next process (when it is much), however
    // serving ended.
    if let Err(e) = ledger_for_index.save_index() {
        tracing::warn!(error = %e, "the ledger's index was not saved; the next open builds it");
    }
    served.map_err(server_failure)?;
    eprintln!("stopped; every acknowledged append is durable");
    Ok(())
}

pub(super) fn token(command: TokenCommand, format: Format) -> Result<(), Failure> {
    match command {
        TokenCommand::Add { name, role, tokens } => token_add(&name, &role, &tokens, format),
        TokenCommand::List { tokens } => {
            let file = Tokens::load(&tokens).map_err(server_failure)?;
            match format {
                Format::Table => {
                    let mut t = crate::render::table(&["name", "role", "sha-256 prefix"]);
                    for e in &file.tokens {
                        t.add_row(vec![
                            e.name.clone(),
                            format!("{:?}", e.role).to_lowercase(),
                            e.token_sha256.chars().take(12).collect(),
                        ]);
                    }
                    outln!("{t}");
                }
                _ => print_json(&json!(file
                    .tokens
                    .iter()
                    .map(|e| json!({"name": e.name, "role": e.role,
                        "token_sha256_prefix": e.token_sha256.chars().take(12).collect::<String>()}))
                    .collect::<Vec<_>>())),
            }
            Ok(())
        }
        TokenCommand::Revoke { name, tokens } => {
            let removed = Tokens::revoke(&tokens, &name).map_err(server_failure)?;
            match format {
                Format::Table => outln!(
                    "revoked {} named {name}; a running server refuses it from its next request",
                    crate::render::count(removed, "token")
                ),
                _ => print_json(&json!({"revoked": name, "tokens": removed})),
            }
            Ok(())
        }
    }
}

fn token_add(name: &str, role: &str, tokens: &Path, format: Format) -> Result<(), Failure> {
    let role: Role = role
        .parse()
        .map_err(|e: String| usage(format!("--role: {e}")))?;
    let token = Tokens::add(tokens, name, role).map_err(server_failure)?;
    match format {
        Format::Table => {
            outln!("{token}");
            eprintln!(
                "token for {name} ({role:?}) added to {}; it is shown only now",
                tokens.display()
            );
        }
        _ => print_json(&json!({"name": name, "role": role, "token": token})),
    }
    Ok(())
}
