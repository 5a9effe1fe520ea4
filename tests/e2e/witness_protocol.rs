//! `ikrar witness serve` answers every case of tlog-witness v1.0.0 over HTTP, with checkpoints
//! and proofs made by the CLI.

use crate::tiles_client::{header, http};
use crate::witnessed::{Deployment, ORIGIN};

#[test]
fn the_witness_answers_every_case_of_the_protocol_over_http() {
    let d = Deployment::new();
    let w = &d.witnesses[0];
    // Checkpoints signed by the CLI on a ledger of 3, then 6 records (no server).
    let ledger = d.env.ledger();
    let sign = |tag: u16| {
        d.append(&ledger, tag, 3);
        let out = d
            .env
            .cmd()
            .args([
                "--format",
                "json",
                "checkpoint",
                "--key",
                d.key.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["checkpoint"].as_str().unwrap().to_string()
    };
    let c3 = sign(1);
    let c6 = sign(2);
    let proof = {
        let out = d
            .env
            .cmd()
            .args(["prove", "--consistency", "3", "--size", "6"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["consistency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| format!("{}\n", h.as_str().unwrap()))
            .collect::<String>()
    };
    let post = |body: String| http(w.port, "POST", "/add-checkpoint", body.as_bytes()).unwrap();

    let (status, headers, body) = post(format!("old 0\n\n{c3}"));
    assert_eq!(status, 200);
    assert!(String::from_utf8(body)
        .unwrap()
        .starts_with("— witness.example/w1 "));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    // 409 with the stored size and its content type.
    let (status, headers, body) = post(format!("old 0\n\n{c6}"));
    assert_eq!((status, body.as_slice()), (409, &b"3\n"[..]));
    assert_eq!(header(&headers, "content-type"), Some("text/x.tlog.size"));
    // 400: old above new; and a body that is no request.
    assert_eq!(post(format!("old 7\n\n{c6}")).0, 400);
    assert_eq!(post("old three\n\n".to_string()).0, 400);
    // 403: the note altered, or signed by nobody the witness trusts.
    assert_eq!(
        post(format!(
            "old 3\n{proof}\n{}",
            c6.replacen("\n6\n", "\n7\n", 1)
        ))
        .0,
        403
    );
    let stranger = d.env.dir.path().join("stranger.key");
    d.env
        .cmd()
        .arg("keygen")
        .arg(&stranger)
        .args(["--name", ORIGIN])
        .output()
        .unwrap();
    // (On a ledger of its own: this ledger answers its stored checkpoint for a known name.)
    let elsewhere = d.env.dir.path().join("elsewhere");
    assert_eq!(
        d.env
            .cmd_for(&elsewhere)
            .arg("init")
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let other = d
        .env
        .cmd_for(&elsewhere)
        .args([
            "--format",
            "json",
            "checkpoint",
            "--key",
            stranger.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let other: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(
        post(format!(
            "old 0\n\n{}",
            other["checkpoint"].as_str().unwrap()
        ))
        .0,
        403
    );
    // 404: an origin it does not witness.
    let unknown = d.env.dir.path().join("unknown.key");
    d.env
        .cmd()
        .arg("keygen")
        .arg(&unknown)
        .args(["--name", "example.org/unknown"])
        .output()
        .unwrap();
    let un = d
        .env
        .cmd()
        .args([
            "--format",
            "json",
            "checkpoint",
            "--key",
            unknown.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let un: serde_json::Value = serde_json::from_slice(&un.stdout).unwrap();
    assert_eq!(
        post(format!("old 0\n\n{}", un["checkpoint"].as_str().unwrap())).0,
        404
    );
    // 422: a consistency proof that does not verify.
    let bad_proof = proof.replacen(&proof[..4], "AAAA", 1);
    assert_eq!(post(format!("old 3\n{bad_proof}\n{c6}")).0, 422);
    // 200 with the good proof; the stored size moves to 6.
    assert_eq!(post(format!("old 3\n{proof}\n{c6}")).0, 200);
    assert_eq!(w.stored_size(), 6);
    // Only GET-free POST is served.
    assert_eq!(http(w.port, "GET", "/add-checkpoint", b"").unwrap().0, 405);
}
