//! HTTPS (`ikrar serve --tls-cert FILE --tls-key FILE`): rustls with the ring provider, so that
//! a ledger can be published without a proxy in front of it. The listener hands out
//! connections whose TLS handshake runs on their first read or write, inside the connection's
//! own task: a client that is slow to shake hands holds up nobody, and the accept loop's limits
//! (connections at once, the header timeout) apply as they do over plain HTTP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{Accept, TlsAcceptor};

use crate::Error;

/// The PEM files of a TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf.
    pub key: PathBuf,
}

fn config(files: &TlsFiles) -> Result<rustls::ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|i| i.collect())
        .map_err(|e| format!("certificate {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "certificate {}: no certificate in it",
            files.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("key {}: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A TCP listener whose connections speak TLS.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Reads the certificate and key; an unreadable or mismatched pair is an error here.
    pub(crate) fn new(tcp: TcpListener, files: &TlsFiles) -> Result<TlsListener, Error> {
        let config = config(files).map_err(|e| Error::Io(io::Error::other(format!("TLS: {e}"))))?;
        Ok(TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = LazyTls;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LazyTls, SocketAddr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.tcp).await;
        (
            LazyTls::Handshaking(Box::new(self.acceptor.accept(stream))),
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A connection that completes its TLS handshake when first read or written.
pub(crate) enum LazyTls {
    Handshaking(Box<Accept<TcpStream>>),
    Ready(Box<TlsStream<TcpStream>>),
    Failed,
}

impl LazyTls {
    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut TlsStream<TcpStream>>> {
        loop {
            match self {
                LazyTls::Handshaking(accept) => match Pin::new(&mut **accept).poll(cx) {
                    Poll::Ready(Ok(stream)) => *self = LazyTls::Ready(Box::new(stream)),
                    Poll::Ready(Err(e)) => {
                        *self = LazyTls::Failed;
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => return Poll::Pending,
                },
                LazyTls::Ready(stream) => return Poll::Ready(Ok(stream)),
                LazyTls::Failed => {
                    return Poll::Ready(Err(io::Error::other("the TLS handshake failed")))
                }
            }
        }
    }
}

impl AsyncRead for LazyTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for LazyTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LazyTls::Ready(s) => Pin::new(s).poll_shutdown(cx),
            // Nothing was said over TLS yet: there is nothing to close but the socket.
            _ => Poll::Ready(Ok(())),
        }
    }
}
