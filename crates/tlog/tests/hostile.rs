//! Hostile input for every parser and verifier of ikrar-tlog: arbitrary bytes never panic, and
//! a good receipt with any one byte changed is refused.

mod common;

use std::sync::OnceLock;

use ikrar_core::SignerKey;
use ikrar_tlog::cosignature::{CosignerKey, Vkey};
use ikrar_tlog::note::{Checkpoint, SignedNote};
use ikrar_tlog::path::TilePath;
use ikrar_tlog::policy::Policy;
use ikrar_tlog::receipt::Receipt;
use ikrar_tlog::witness::Request;
use proptest::prelude::*;

struct Fixture {
    receipt: String,
    log: Vkey,
    witnesses: Vec<Vkey>,
    _dir: tempfile::TempDir,
}

/// A receipt of position 3 in a tree of 5, cosigned by three witnesses.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ledger = common::ledger_of(&dir.path().join("l"), 5);
        let key = SignerKey::generate("example.org/log").unwrap();
        let signed = ledger.sign_checkpoint(&key).unwrap();
        let text = &signed.note[..signed.note.find("\n\n").unwrap() + 1];
        let cosigners: Vec<CosignerKey> = (1..=3)
            .map(|i| CosignerKey::generate(&format!("w.example/{i}")).unwrap())
            .collect();
        let lines: Vec<String> = cosigners
            .iter()
            .map(|c| c.cosign(text.as_bytes(), 1_700_000_000))
            .collect();
        ledger
            .add_cosignatures(5, "example.org/log", &lines)
            .unwrap();
        let receipt = Receipt::build(&ledger, 3, 5).unwrap().to_text();
        Fixture {
            receipt,
            log: Vkey::parse(key.verifier_key().text()).unwrap(),
            witnesses: cosigners.iter().map(CosignerKey::vkey).collect(),
            _dir: dir,
        }
    })
}

fn check(text: &str, quorum: usize) -> Result<(), ikrar_tlog::Error> {
    let f = fixture();
    let policy = Policy::k_of(Some(f.log.clone()), f.witnesses.clone(), quorum)?;
    Receipt::parse(text)?.verify(&policy, None).map(|_| ())
}

#[test]
fn the_good_receipt_checks_and_its_failures_are_named() {
    let f = fixture();
    assert!(check(&f.receipt, 2).is_ok());
    assert!(check(&f.receipt, 3).is_ok());
    // Too few cosignatures for the quorum: drop two witness lines.
    let kept: Vec<&str> = f
        .receipt
        .lines()
        .filter(|l| !l.starts_with("— w.example/2") && !l.starts_with("— w.example/3"))
        .collect();
    let two_dropped = format!("{}\n", kept.join("\n"));
    assert!(check(&two_dropped, 2)
        .unwrap_err()
        .to_string()
        .contains("quorum"));
    // A witness the policy does not know does not count.
    let stranger = CosignerKey::generate("w.example/9").unwrap().vkey();
    let policy = Policy::k_of(
        Some(f.log.clone()),
        vec![stranger, f.witnesses[0].clone()],
        2,
    )
    .unwrap();
    assert!(Receipt::parse(&f.receipt)
        .unwrap()
        .verify(&policy, None)
        .is_err());
    // A forged cosignature by a known witness refuses the whole receipt.
    let forged_by =
        CosignerKey::parse(&CosignerKey::generate("w.example/1").unwrap().text()).unwrap();
    let mut lines: Vec<String> = f.receipt.lines().map(str::to_string).collect();
    let text_start = lines.iter().position(|l| l.is_empty()).unwrap() + 1;
    let body = format!("{}\n", lines[text_start..text_start + 3].join("\n"));
    let pos = lines
        .iter()
        .position(|l| l.starts_with("— w.example/1 "))
        .unwrap();
    // Same name, key id of the real witness, signature by another key.
    let real_id = &lines[pos]["— w.example/1 ".len()..][..6];
    let fake = forged_by.cosign(body.as_bytes(), 1_700_000_000);
    lines[pos] = format!(
        "— w.example/1 {real_id}{}",
        &fake.trim_end()["— w.example/1 ".len() + 6..]
    );
    let forged = format!("{}\n", lines.join("\n"));
    assert!(check(&forged, 2).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_changed_byte_of_a_receipt_is_refused(at in any::<prop::sample::Index>(), with in 0x20u8..0x7f) {
        let f = fixture();
        let mut bytes = f.receipt.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != with);
        bytes[i] = with;
        let text = String::from_utf8_lossy(&bytes);
        // With all three required, no change can leave enough good signatures.
        prop_assert!(check(&text, 3).is_err());
    }

    #[test]
    fn any_cut_receipt_is_refused(at in any::<prop::sample::Index>()) {
        let f = fixture();
        let chars: Vec<char> = f.receipt.chars().collect();
        let cut: String = chars[..at.index(chars.len())].iter().collect();
        // Whole signature lines may be dropped from a note and it stays a note: with all three
        // witnesses required, every cut is short of the quorum or malformed.
        prop_assert!(check(&cut, 3).is_err());
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = TilePath::parse(&text);
        let _ = SignedNote::parse(&bytes);
        let _ = Checkpoint::parse(&text);
        let _ = Request::parse(&bytes);
        let _ = Receipt::parse(&text);
        let _ = Policy::parse(&text);
        let _ = Vkey::parse(&text);
        let _ = CosignerKey::parse(&text);
        let _ = ikrar_tlog::tiles::split_bundle(&bytes);
        let _ = ikrar_tlog::WitnessEndpoint::parse(&text);
    }

    #[test]
    fn structured_garbage_never_panics(
        old in any::<u64>(),
        lines in proptest::collection::vec("[A-Za-z0-9+/=]{0,50}", 0..70),
        size in any::<u64>(),
        sig in "[A-Za-z0-9+/=]{0,120}",
    ) {
        let body = format!(
            "old {old}\n{}\n\nexample.org/log\n{size}\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— example.org/log {sig}\n",
            lines.join("\n")
        );
        let _ = Request::parse(body.as_bytes());
        let receipt = format!("c2sp.org/tlog-proof@v1\nextra {sig}\nindex {old}\n{}\n\n{}", lines.join("\n"), &body[body.find("\n\n").unwrap_or(0)..]);
        if let Ok(r) = Receipt::parse(&receipt) {
            let f = fixture();
            let policy = Policy::k_of(Some(f.log.clone()), f.witnesses.clone(), 1).unwrap();
            prop_assert!(r.verify(&policy, None).is_err());
        }
        let path = format!("tile/{}/{}", lines.first().map_or("", String::as_str), sig);
        let _ = TilePath::parse(&path);
    }

    #[test]
    fn policies_of_random_lines_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("quorum none".to_string()),
                "group [a-c] (all|any|[0-9]) [a-c ]{0,7}",
                "quorum [a-cx]",
                "witness [a-c] [A-Za-z0-9+/.]{0,30}",
                "# .{0,10}",
            ],
            0..12,
        )
    ) {
        if let Ok(p) = Policy::parse(&lines.join("\n")) {
            let _ = p.satisfied_by(&[]);
        }
    }
}

#[test]
fn a_quorum_is_evaluated_through_nested_groups() {
    let w: Vec<CosignerKey> = (0..6)
        .map(|i| CosignerKey::generate(&format!("w/{i}")).unwrap())
        .collect();
    let v: Vec<Vkey> = w.iter().map(CosignerKey::vkey).collect();
    let text = format!(
        "# two organisations\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X 2 X1 X2 X3\n\twitness Y1 {} \nwitness Y2 {}\nwitness Y3 {}\ngroup Y any Y1 Y2 Y3\ngroup XY all X Y\nquorum XY\n",
        v[0].text(), v[1].text(), v[2].text(), v[3].text(), v[4].text(), v[5].text()
    );
    let p = Policy::parse(&text).unwrap();
    assert!(p.satisfied_by(&[v[0].clone(), v[2].clone(), v[5].clone()]));
    assert!(!p.satisfied_by(&[v[0].clone(), v[5].clone()]));
    assert!(!p.satisfied_by(&[v[0].clone(), v[1].clone()]));
    for bad in [
        format!(
            "witness a {}\nwitness a {}\nquorum a\n",
            v[0].text(),
            v[1].text()
        ),
        format!(
            "witness a {}\nwitness b {}\nquorum a\n",
            v[0].text(),
            v[0].text()
        ),
        format!("witness a {}\ngroup g 2 a\nquorum g\n", v[0].text()),
        format!("witness a {}\ngroup g 1 a a\nquorum g\n", v[0].text()),
        format!("witness a {}\nquorum a\nquorum a\n", v[0].text()),
        format!("witness none {}\nquorum none\n", v[0].text()),
        format!("group g any a\nwitness a {}\nquorum g\n", v[0].text()),
        format!("witness a {}\n", v[0].text()),
        "quorum none\nlog x\n".to_string(),
    ] {
        assert!(Policy::parse(&bad).is_err(), "{bad}");
    }
}
