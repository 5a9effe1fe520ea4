//! TLS to the database, as libpq's `sslmode` and `sslrootcert` URL parameters ask for it.
//!
//! tokio-postgres's own URL parser knows `sslmode=disable|prefer|require` only, and leaves the
//! certificate check to the connector. So the two parameters are taken out of the URL here,
//! the rest is given to tokio-postgres, and the connector (rustls with the ring provider, the
//! stack `ikrar serve --tls-cert` already uses; docs/adr/0009) is configured for the mode:
//!
//! | `sslmode` | TLS | certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default, as libpq's) | if the server offers it | not checked |
//! | `require` | always | not checked — unless `sslrootcert` is given, then as `verify-ca` (as libpq) |
//! | `verify-ca` | always | chain checked against `sslrootcert` |
//! | `verify-full` | always | chain and host name checked |
//!
//! `sslrootcert` names a PEM file of CA certificates; absent, or `system`, the system's roots
//! are used (libpq would read `~/.postgresql/root.crt` when it is absent).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::Error;

/// libpq's `sslmode` values (`allow` is taken as `prefer`: both use TLS when it is offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, Error> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Config(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, \
                     verify-full"
                )))
            }
        })
    }
}

/// A URL made ready for tokio-postgres: its configuration and the connector for its mode.
pub(crate) struct Connection {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: MakeRustlsConnect,
    pub(crate) mode: SslMode,
    pub(crate) root_cert: Option<PathBuf>,
}

/// Parses `url` (libpq's URL form) and configures TLS as its `sslmode` and `sslrootcert` say.
/// `shown` is the URL as errors may name it (without its password).
pub(crate) fn connection(url: &str, shown: &str) -> Result<Connection, Error> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = SslMode::parse(&percent_decode(value)?)?,
            "sslrootcert" => root_cert = Some(PathBuf::from(percent_decode(value)?)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| Error::Config(format!("`{shown}` is not a PostgreSQL URL: {e}")))?;
    // As libpq: `require` with a CA file given checks the chain.
    if mode == SslMode::Require && root_cert.is_some() {
        mode = SslMode::VerifyCa;
    }
    config.ssl_mode(match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });
    let tls = MakeRustlsConnect::new(client_config(mode, root_cert.as_deref())?);
    Ok(Connection {
        config,
        tls,
        mode,
        root_cert,
    })
}

impl Connection {
    /// What to add to a connection error so that a certificate refused names the setting.
    pub(crate) fn context(&self) -> String {
        let roots = match &self.root_cert {
            Some(file) => format!(", sslrootcert={}", file.display()),
            None if matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                ", the system's root certificates".to_string()
            }
            None => String::new(),
        };
        let mode = match self.mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        };
        format!(" (sslmode={mode}{roots})")
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(mode: SslMode, root_cert: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        // Encrypted against a passive listener, as libpq's `prefer` and `require`; no defence
        // against an active one, which is what `verify-full` is for.
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            Arc::new(AnyCertificate { provider })
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(roots(root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| Error::Config(format!("TLS root certificates: {e}")))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The CA certificates of `file`, or the system's when it is absent or `system`.
fn roots(file: Option<&Path>) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    match file.filter(|f| *f != Path::new("system")) {
        Some(file) => {
            let bad = |why: String| Error::Config(format!("sslrootcert {}: {why}", file.display()));
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .and_then(|i| i.collect())
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for cert in certs {
                store
                    .add(cert)
                    .map_err(|e| bad(format!("not a CA certificate: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(Error::Config(
                    "no system root certificates found: name a CA file with sslrootcert=FILE"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// `require`'s and `prefer`'s check: any certificate, but a real handshake (the server must
/// hold the key of the certificate it shows).
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca`'s check: the chain as webpki checks it, whatever host name it is for. webpki
/// checks the chain before the name, so a name mismatch means the chain was good.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `%2F` → `/`, as in a URL's query values.
fn percent_decode(value: &str) -> Result<String, Error> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::Config(format!("`{value}`: a bad percent-escape in the URL"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Config(format!("`{value}`: not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssl_parameters_are_taken_out_and_the_rest_is_kept() {
        let c = connection(
            "postgres://u@h/db?sslmode=require&options=-csearch_path%3Ds",
            "shown",
        )
        .unwrap();
        assert_eq!(c.mode, SslMode::Require);
        assert_eq!(c.config.get_ssl_mode(), PgSslMode::Require);
        assert_eq!(c.config.get_options(), Some("-csearch_path=s"));
        let c = connection("postgres://u@h/db", "shown").unwrap();
        assert_eq!(c.mode, SslMode::Prefer);
        let c = connection("postgres://u@h/db?sslmode=disable", "shown").unwrap();
        assert_eq!(c.config.get_ssl_mode(), PgSslMode::Disable);
    }

    #[test]
    fn a_bad_mode_or_a_missing_ca_file_is_a_configuration_error_naming_it() {
        let e = connection("postgres://u@h/db?sslmode=sometimes", "shown")
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("sslmode=sometimes")),
            "{e}"
        );
        let e = connection(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fno%2Fsuch%2Fca.pem",
            "shown",
        )
        .err()
        .unwrap();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("/no/such/ca.pem")),
            "{e}"
        );
        // Client certificates are not supported: refused, not silently ignored.
        let e = connection("postgres://u@h/db?sslcert=client.pem", "shown")
            .err()
            .unwrap();
        assert!(matches!(&e, Error::Config(m) if m.contains("shown")), "{e}");
    }
}
