//! Accepting connections with limits (SPEC §9 faults): a client that sends its headers slowly,
//! or holds a connection open doing nothing, is cut off after the header timeout; at most
//! `connections_max` connections are served at once and the next are refused at once with a
//! 503 in the API's error form; file descriptors are kept back for the storage, which needs
//! them to commit; and a shutdown waits for requests in flight only so long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// How connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once at most (more are refused with 503). Lowered, if need be, so
    /// that [`FDS_KEPT_FOR_STORAGE`] descriptors stay free under the process's limit.
    pub connections_max: usize,
    /// The longest a client may take to send a request's headers, and the longest a
    /// connection may sit idle between requests, in milliseconds.
    pub header_timeout_ms: u64,
    /// On shutdown, how long requests in flight may still run, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            connections_max: 512,
            header_timeout_ms: 10_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

/// File descriptors never given to connections: sled opens blob files and the projection its
/// snapshot while committing and reading, and a commit that cannot open a file fails.
pub const FDS_KEPT_FOR_STORAGE: usize = 128;

/// Counts of what the accept loop did, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections refused because `connections_max` were open.
    pub refused: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
}

/// The soft limit on open files of this process (`/proc/self/limits`), if it can be read.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl ConnectionLimits {
    /// `connections_max`, lowered to leave [`FDS_KEPT_FOR_STORAGE`] descriptors (and one per
    /// listener) under the process's limit on open files.
    pub fn effective_connections_max(&self) -> usize {
        match open_files_limit() {
            Some(limit) => self
                .connections_max
                .min(limit.saturating_sub(FDS_KEPT_FOR_STORAGE + 16))
                .max(1),
            None => self.connections_max,
        }
    }
}

/// The 503 a connection over the limit gets, whole, before it is closed.
fn refusal(connections_max: usize) -> Vec<u8> {
    let body = format!(
        r#"{{"error":{{"kind":"too_many_connections","message":"the server is serving {connections_max} connections, its limit; try again shortly"}}}}"#
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `down` turns true, then lets connections finish their
/// requests for at most the shutdown grace.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    mut down: watch::Receiver<bool>,
) where
    L: Listener,
    L::Io: Send + Unpin + 'static,
{
    let connections_max = limits.effective_connections_max();
    let permits = Arc::new(tokio::sync::Semaphore::new(connections_max));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = Duration::from_millis(limits.header_timeout_ms);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = down.wait_for(|d| *d) => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            let answer = refusal(connections_max);
            tokio::spawn(async move {
                let mut stream = stream;
                // A lingering close, bounded: the answer, then our end of the stream (the
                // client reads the whole 503 and then its end), then whatever the client
                // still sends read and dropped until it closes. Closing with its request
                // unread would make the kernel reset the connection, and the reset can
                // destroy the answer before the client reads it — however late the request's
                // bytes arrive.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let _ = stream.write_all(&answer).await;
                    let _ = stream.shutdown().await;
                    let mut request = [0u8; 4096];
                    while let Ok(n) = tokio::io::AsyncReadExt::read(&mut stream, &mut request).await
                    {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await;
            });
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The header timer starts whenever the connection waits for a request's head: it is
        // the slow-header limit and the idle limit in one.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let stats = stats.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(
        Duration::from_millis(limits.shutdown_grace_ms),
        graceful.shutdown(),
    )
    .await;
}
