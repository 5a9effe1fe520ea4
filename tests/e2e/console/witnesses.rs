//! The console of a witnessed log (SPEC §10, §11): three real `ikrar witness serve` processes,
//! one killed. The checkpoint badge and the event badges check each cosignature in the
//! browser against the witnesses' keys; a forged cosignature fails the check; the killed
//! witness's alarm is on the dashboard and counted in `/metrics`.

use serde_json::{json, Value};

use super::harness::{rt, Browser};
use crate::tiles_client::http;
use crate::witnessed::{alarms, wait_cosigned, wait_for, Deployment};

const W1: &str = "witness.example/w1";
const W2: &str = "witness.example/w2";
const W3: &str = "witness.example/w3";

/// `/metrics`' value of `name{witness="W"}`.
fn witness_metric(port: u16, name: &str, witness: &str) -> u64 {
    let (status, _, body) = http(port, "GET", "/metrics", b"").expect("the server answers");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let prefix = format!("{name}{{witness=\"{witness}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn console_checks_cosignatures_in_the_browser_and_shows_a_killed_witness_alarm() {
    let mut d = Deployment::new();
    let ledger = d.env.ledger();
    let (_server, port) = d.serve(&ledger);
    d.append(&ledger, 1, 5);
    wait_cosigned(port, 5, 3);
    d.witnesses[2].process.take().unwrap().signal("-KILL");
    d.append(&ledger, 2, 5);
    wait_cosigned(port, 10, 2);
    wait_for("the alarm", || {
        alarms(&ledger).iter().any(|a| a["witness"] == W3)
    });
    wait_for("the alarm counted", || {
        witness_metric(port, "ikrar_witness_alarms_total", W3) >= 1
    });
    assert!(witness_metric(port, "ikrar_witness_cosignatures_total", W1) >= 2);
    assert_eq!(witness_metric(port, "ikrar_witness_alarms_total", W1), 0);

    rt().block_on(async {
        let Some(b) = Browser::start().await else { return };
        let base = format!("http://127.0.0.1:{port}");
        b.open(&format!("{base}/ui/")).await;
        b.until(
            "the checkpoint badge verified",
            "const e = document.querySelector('[data-proof-checkpoint]'); return !!e && e.dataset.proof === 'verified'",
        )
        .await;
        let by = b
            .js("return document.querySelector('[data-proof-checkpoint]').dataset.proofCosignedBy")
            .await;
        assert_eq!(by, json!(format!("{W1} {W2}")));
        let text = b
            .js("return document.querySelector('[data-proof-checkpoint]').textContent")
            .await;
        assert!(
            text.as_str().unwrap().contains("2 of 3 witnesses"),
            "{text}"
        );
        let alarm = b
            .js("const e = document.querySelector('[data-witness-alarms]'); return e ? e.textContent : ''")
            .await;
        let alarm = alarm.as_str().unwrap();
        assert!(alarm.contains(W3) && alarm.contains("size 10"), "{alarm}");
        b.check_page("the dashboard of a witnessed log with an alarm").await;

        // An event's badge: its bundle's checkpoint, cosigned by the two that answered.
        let event_badge = "const e = document.querySelector('[data-proof-event]'); return !!e && e.dataset.proof === 'verified'";
        b.open(&format!(
            "{base}/ui/commitments/0194a1c2-7f00-7000-8000-000200000000"
        ))
        .await;
        b.until("the event badge verified", event_badge).await;
        let text = b
            .js("return document.querySelector('[data-proof-event]').textContent")
            .await;
        assert!(
            text.as_str().unwrap().contains(&format!("cosigned by {W1}, {W2} (2 of 3")),
            "{text}"
        );

        // The verifier module on the served note: whole, then with a cosignature forged (one
        // byte of W1's signature changed) — refused, not counted as one more witness.
        let (_, _, note) = http(port, "GET", "/log/checkpoint", b"").unwrap();
        let note = String::from_utf8(note).unwrap();
        let forged = forge(&note, W1);
        let open = |note: &str| {
            format!(
                "const done = arguments[arguments.length - 1];
                 import('/ui/assets/verify.js').then(async m => {{
                   const key = await m.parseKey({log});
                   const ws = await Promise.all({ws}.map(m.parseWitnessKey));
                   return m.openCheckpoint({note}, key, ws);
                 }}).then(ok => done({{size: ok.size, by: ok.cosignedBy}}), e => done({{error: e.message}}));",
                log = json!(d.log_pub),
                ws = json!(d.witnesses.iter().map(|w| w.vkey.clone()).collect::<Vec<_>>()),
                note = json!(note),
            )
        };
        let ok: Value = b.client.execute_async(&open(&note), vec![]).await.unwrap();
        assert_eq!(ok["size"], 10, "{ok}");
        assert_eq!(ok["by"], json!([W1, W2]), "{ok}");
        let no: Value = b.client.execute_async(&open(&forged), vec![]).await.unwrap();
        assert!(
            no["error"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("cosignature of {W1} does not verify"))),
            "{no}"
        );
    });
}

/// `note` with the last signature byte of `witness`'s line changed (its key id kept).
fn forge(note: &str, witness: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    note.lines()
        .map(|l| match l.strip_prefix(&format!("— {witness} ")) {
            Some(sig) => {
                let mut raw = b64.decode(sig).unwrap();
                *raw.last_mut().unwrap() ^= 1;
                format!("— {witness} {}\n", b64.encode(raw))
            }
            None => format!("{l}\n"),
        })
        .collect()
}
