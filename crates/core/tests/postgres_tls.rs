//! TLS to PostgreSQL: `sslmode` and `sslrootcert` in a ledger's URL, against a cluster of the
//! test's own with `ssl = on` and a certificate the test makes (a CA, a server certificate for
//! `localhost` signed by it, and a second CA that signed nothing).
//!
//! Needs PostgreSQL's server binaries (see `ikrar_testkit::cluster`); without them it says so
//! and checks nothing, unless `IKRAR_REQUIRE_POSTGRES=1`.

use ikrar_core::{Error, Ledger};
use ikrar_testkit::cluster::Cluster;
use ikrar_testkit::{made, runtime};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A CA: its certificate in PEM and the issuer that signs with it.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Whether every connection named `application` is encrypted, and how many there are, as the
/// server sees them (asked over a plain connection).
fn ssl_of(url: &str, application: &str) -> (bool, i64) {
    let rt = runtime();
    rt.block_on(async {
        let plain = format!("{url}?sslmode=disable");
        let (client, connection) = tokio_postgres::connect(&plain, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
                &[&application],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    })
}

#[test]
fn sslmode_require_encrypts_and_verify_full_checks_the_chain_and_the_host_name() {
    let Some(cluster) = Cluster::new("sslmode_require_encrypts") else {
        return;
    };
    let authority = ca("ikrar test CA");
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &authority)
        .unwrap();
    let cert = cluster.put_file("server.crt", server.pem().as_bytes());
    let key = cluster.put_file("server.key", server_key.serialize_pem().as_bytes());
    cluster.append_conf(&format!(
        "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
        cert.display(),
        key.display()
    ));
    cluster.start();
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, authority.pem()).unwrap();
    let other_ca = files.path().join("other-ca.pem");
    std::fs::write(&other_ca, ca("another CA").pem()).unwrap();
    let port = cluster.port();
    let url = |host: &str, application: &str, params: &str| {
        format!(
            "postgres://postgres@{host}:{port}/postgres?application_name={application}&{params}"
        )
    };
    let rt = runtime();

    // require: encrypted, whatever the certificate.
    let ledger = Ledger::create(url("127.0.0.1", "tls_require", "sslmode=require")).unwrap();
    rt.block_on(ledger.append(vec![made(1)])).unwrap();
    let (encrypted, connections) = ssl_of(&cluster.url(), "tls_require");
    assert!(encrypted && connections >= 1, "{encrypted} {connections}");
    drop(ledger);

    // prefer (the default): encrypted, since this server offers TLS; disable: in clear.
    for (application, params, want) in [
        ("tls_default", "", true),
        ("tls_disable", "sslmode=disable", false),
    ] {
        let ledger = Ledger::open(url("127.0.0.1", application, params)).unwrap();
        assert_eq!(ledger.head().tree_size, 1);
        let (encrypted, connections) = ssl_of(&cluster.url(), application);
        assert!(connections >= 1, "{application}");
        assert_eq!(encrypted, want, "{application}");
    }

    // verify-full with the right CA and the certificate's host name.
    let right = format!("sslmode=verify-full&sslrootcert={}", ca_file.display());
    let ledger = Ledger::open(url("localhost", "tls_verify_full", &right)).unwrap();
    rt.block_on(ledger.append(vec![made(2)])).unwrap();
    assert_eq!(ledger.verify().unwrap().tree_size, 2);
    let (encrypted, _) = ssl_of(&cluster.url(), "tls_verify_full");
    assert!(encrypted);
    drop(ledger);

    // verify-full with a CA that did not sign the server's certificate.
    let wrong = format!("sslmode=verify-full&sslrootcert={}", other_ca.display());
    let refused = Ledger::open(url("localhost", "tls_wrong_ca", &wrong))
        .err()
        .unwrap();
    let message = refused.to_string();
    assert!(matches!(refused, Error::Storage { .. }), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert!(
        message.contains(&other_ca.display().to_string()),
        "{message}"
    );
    eprintln!("the wrong CA: {message}");

    // verify-full on a host name the certificate is not for (it is for localhost); verify-ca
    // checks the chain only, so the same connection is accepted there.
    let refused = Ledger::open(url("127.0.0.1", "tls_wrong_host", &right))
        .err()
        .unwrap();
    let message = refused.to_string();
    assert!(
        message.contains("certificate") && message.contains("verify-full"),
        "{message}"
    );
    eprintln!("the wrong host name: {message}");
    let chain_only = format!("sslmode=verify-ca&sslrootcert={}", ca_file.display());
    let ledger = Ledger::open(url("127.0.0.1", "tls_verify_ca", &chain_only)).unwrap();
    assert_eq!(ledger.head().tree_size, 2);
    drop(ledger);
    // ... but verify-ca still refuses the wrong CA.
    let wrong_ca_only = format!("sslmode=verify-ca&sslrootcert={}", other_ca.display());
    assert!(Ledger::open(url("localhost", "tls_ca_wrong", &wrong_ca_only)).is_err());

    // A CA file that is missing, or holds no certificate: a configuration error naming it.
    let missing = files.path().join("missing.pem");
    let not_pem = files.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for file in [&missing, &not_pem] {
        let params = format!("sslmode=verify-full&sslrootcert={}", file.display());
        let refused = Ledger::open(url("localhost", "tls_bad_file", &params))
            .err()
            .unwrap();
        let message = refused.to_string();
        assert!(matches!(refused, Error::Config(_)), "{message}");
        assert!(message.contains(&file.display().to_string()), "{message}");
    }
}
