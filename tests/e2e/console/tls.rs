//! `ikrar serve --tls-cert --tls-key`: the API and the console over HTTPS, with `Secure`
//! cookies. The certificate is made by `openssl` and the requests sent by `curl`, checking it.

use std::process::Command;

use super::harness::Server;
use super::pages::SUMMIT;
use crate::{stdout, Env};

#[test]
fn console_and_api_serve_https_with_secure_cookies() {
    let env = Env::empty();
    assert_eq!(env.run(&["demo"]).status.code(), Some(0));
    let cert = env.dir.path().join("cert.pem");
    let key = env.dir.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: the TLS test needs openssl to make a certificate");
        return;
    }
    let server = Server::start(
        &env,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let curl = |path: &str| {
        Command::new("curl")
            .args(["-sS", "-D", "-", "--cacert"])
            .arg(&cert)
            .arg(format!("https://127.0.0.1:{}{path}", server.port))
            .output()
    };
    let Ok(page) = curl("/ui/") else {
        eprintln!("SKIPPED: the TLS test needs curl");
        return;
    };
    let page = stdout(&page);
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/2 200"),
        "{page}"
    );
    assert!(
        page.to_ascii_lowercase()
            .contains("set-cookie: ikrar_session=")
            && page.contains("; Secure"),
        "{page}"
    );
    assert!(page.contains("data-count-status=\"announced\">11<"));
    let api = stdout(&curl(&format!("/v1/commitments/{SUMMIT}")).unwrap());
    assert!(api.contains(SUMMIT), "{api}");
    // Plain HTTP on the TLS port gets no page.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{}/ui/", server.port))
        .output()
        .unwrap();
    assert!(!stdout(&plain).contains("data-count-status"));
}
