//! HTTPS (`ikrar serve --tls-cert FILE --tls-key FILE`): rustls with the ring provider, through
//! axum-server, so that a ledger can be published without a proxy in front of it.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;

/// The PEM files of a TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf.
    pub key: PathBuf,
}

/// How long connections may take to finish once shutdown begins.
const GRACE: Duration = Duration::from_secs(30);

/// Serves `app` over TLS on `listener` until `down` turns true, then shuts down gracefully.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    files: &TlsFiles,
    mut down: tokio::sync::watch::Receiver<bool>,
) -> io::Result<Pin<Box<dyn Future<Output = io::Result<()>> + Send>>> {
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "TLS certificate {} or key {}: {e}",
                    files.cert.display(),
                    files.key.display()
                ),
            )
        })?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = down.wait_for(|d| *d).await;
        stopper.graceful_shutdown(Some(GRACE));
    });
    let server = axum_server::from_tcp_rustls(listener.into_std()?, config)?.handle(handle);
    Ok(Box::pin(server.serve(app.into_make_service())))
}
