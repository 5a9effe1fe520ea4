//! Proof badges checked by the browser: `verified` for genuine events, `failed` when the proof
//! served is altered on its way or when the pinned key is another; and the verifier module
//! itself against bundles the Rust code made.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use serde_json::{json, Value};

use super::harness::{rt, Browser, Server};
use super::pages::{walk_through, SUMMIT};
use crate::{stdout, Env};

const ALL_VERIFIED: &str = "const b = [...document.querySelectorAll('[data-proof-event]')]; return b.length > 0 && b.every(e => e.dataset.proof === 'verified')";
const ALL_FAILED: &str = "const b = [...document.querySelectorAll('[data-proof-event]')]; return b.length > 0 && b.every(e => e.dataset.proof === 'failed')";

/// A proxy in front of the server that flips one byte of every record in the inclusion
/// bundles it passes on: what a compromised server or network would do.
fn tampering_proxy(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let tamper = text.starts_with("GET /ui/api/proof/");
                // One request a connection: the answer is read to its end, then passed on.
                let request: String = text
                    .split("\r\n")
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let request = request.trim_end().to_string() + "\r\nConnection: close\r\n\r\n";
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let _ = server.write_all(request.as_bytes());
                let mut answer = Vec::new();
                let _ = server.read_to_end(&mut answer);
                if tamper {
                    let needle = b"\\\"actor\\\":\\\"";
                    if let Some(at) = answer.windows(needle.len()).position(|w| w == needle) {
                        let i = at + needle.len();
                        answer[i] = if answer[i] == b'x' { b'y' } else { b'x' };
                    }
                }
                let _ = client.write_all(&answer);
            });
        }
    });
    port
}

#[test]
fn console_proof_badges_verify_in_the_browser_and_fail_on_an_altered_proof_or_another_key() {
    let env = Env::empty();
    let (progress, _fulfilled, _retraction, key) = walk_through(&env);
    let other_key = {
        let f = env.dir.path().join("other.key");
        let out = env.run(&["keygen", f.to_str().unwrap(), "--name", "console.test/log"]);
        assert_eq!(out.status.code(), Some(0));
        std::fs::read_to_string(f.with_extension("key.pub"))
            .unwrap()
            .trim()
            .to_string()
    };
    let bundle: Value =
        serde_json::from_str(&stdout(&env.run(&["--format", "json", "prove", &progress]))).unwrap();
    let server = Server::start(&env, &[]);
    rt().block_on(async {
        let Some(b) = Browser::start().await else { return };
        let page = server.url(&format!("/ui/commitments/{SUMMIT}"));
        b.open(&page).await;
        b.until("every badge verified", ALL_VERIFIED).await;
        let text = b.js("return document.querySelector('[data-proof-event]').textContent").await;
        let text = text.as_str().unwrap();
        assert!(text.contains("tree size 16") && text.contains("console.test/log") && text.contains("announced by this server") && text.contains("0 witness"), "{text}");
        b.check_page("a commitment's page with its badges").await;

        // The verifier module, alone, on a bundle `ikrar prove` made.
        let check = |bundle: &Value, key: &str| {
            format!(
                "const done = arguments[arguments.length - 1];
                 import('/ui/assets/verify.js').then(m => m.checkInclusion({bundle}, {key}))
                   .then(ok => done(ok), e => done({{error: e.message}}));",
                key = json!(key)
            )
        };
        let ok = b.client.execute_async(&check(&bundle, &key), vec![]).await.unwrap();
        assert_eq!(ok["treeSize"], 16, "{ok}");
        assert_eq!(ok["keyName"], "console.test/log");
        assert_eq!(ok["eventId"], Value::String(progress.clone()));
        let mut altered = bundle.clone();
        altered["record"] = Value::String(bundle["record"].as_str().unwrap().replace("in_progress", "in_progresz"));
        let no = b.client.execute_async(&check(&altered, &key), vec![]).await.unwrap();
        assert!(no["error"].as_str().unwrap().contains("signed root"), "{no}");
        let mut short = bundle.clone();
        short["inclusion"].as_array_mut().unwrap().pop();
        let no = b.client.execute_async(&check(&short, &key), vec![]).await.unwrap();
        assert!(no["error"].is_string(), "{no}");
        let no = b.client.execute_async(&check(&bundle, &other_key), vec![]).await.unwrap();
        assert!(no["error"].as_str().unwrap().contains("not signed by"), "{no}");

        // Another key pinned: every badge fails, and says why.
        b.js(&format!("localStorage.setItem('ikrar.pinned-key', {}); return true", json!(other_key))).await;
        b.open(&page).await;
        b.until("every badge failed", ALL_FAILED).await;
        let text = b.js("return document.querySelector('[data-proof-event]').textContent").await;
        assert!(text.as_str().unwrap().contains("not signed by"), "{text}");
        // The right key pinned, through the dashboard's form.
        b.open(&server.url("/ui/")).await;
        b.js(&format!("document.getElementById('pin-key').value = {}; document.querySelector('#pin-form button[type=submit]').click(); return true", json!(key))).await;
        b.until("the pinned key in use", "return document.getElementById('key-in-use').textContent.includes('your pinned key')").await;
        b.open(&page).await;
        b.until("every badge verified again", ALL_VERIFIED).await;
        assert!(b.js("return document.querySelector('[data-proof-event]').textContent").await.as_str().unwrap().contains("pinned key"));

        // The proof altered on its way: a byte of each record flipped by a proxy.
        let proxy = tampering_proxy(server.port);
        b.open(&format!("http://127.0.0.1:{proxy}/ui/commitments/{SUMMIT}")).await;
        b.until("every badge failed through the proxy", ALL_FAILED).await;
        let text = b.js("return document.querySelector('[data-proof-event]').textContent").await;
        assert!(text.as_str().unwrap().contains("signed root"), "{text}");
    });
}
