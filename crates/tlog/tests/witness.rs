//! The witness against every case of tlog-witness v1.0.0, in process: each status code, the
//! 409 body and content type, evidence kept, the stored state after a restart, and racing
//! submissions that never roll the stored size back.

mod common;

use std::sync::Arc;

use ikrar_core::{Hash, SignerKey};
use ikrar_tlog::cosignature::{SignatureLine, Vkey};
use ikrar_tlog::witness::{Witness, WitnessDir};

struct Setup {
    _dir: tempfile::TempDir,
    ledger: ikrar_core::Ledger,
    key: SignerKey,
    witness: Witness,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::ledger_of(&dir.path().join("ledger"), 0);
    let key = SignerKey::generate("example.org/log").unwrap();
    let wdir = WitnessDir::init(&dir.path().join("w"), "witness.example/w1").unwrap();
    wdir.add_log(
        "example.org/log",
        &Vkey::parse(key.verifier_key().text()).unwrap(),
    )
    .unwrap();
    let witness = Witness::open(wdir).unwrap();
    Setup {
        _dir: dir,
        ledger,
        key,
        witness,
    }
}

impl Setup {
    fn grow(&self, from: u128, n: u128) -> ikrar_core::SignedCheckpoint {
        common::runtime()
            .block_on(self.ledger.append(common::events(from, n)))
            .unwrap();
        self.ledger.sign_checkpoint(&self.key).unwrap()
    }

    fn body(&self, old: u64, note: &str) -> String {
        let mut body = format!("old {old}\n");
        let size = ikrar_tlog::note::Checkpoint::parse(
            &ikrar_tlog::note::SignedNote::parse(note.as_bytes())
                .unwrap()
                .text,
        )
        .unwrap()
        .size;
        if old > 0 && old < size {
            for h in self.ledger.consistency_proof(old, size).unwrap() {
                body.push_str(&format!("{}\n", h.to_base64()));
            }
        }
        format!("{body}\n{note}")
    }
}

#[test]
fn every_status_code_of_the_spec() {
    let s = setup();
    let c3 = s.grow(0, 3);
    // 200 from nothing, with a cosignature that verifies over the checkpoint text.
    let a = s.witness.add_checkpoint(s.body(0, &c3.note).as_bytes());
    assert_eq!(a.status, 200, "{}", a.body);
    let line = SignatureLine::parse(a.body.trim_end()).unwrap();
    let text = &c3.note[..c3.note.find("\n\n").unwrap() + 1];
    assert!(line.is_by(&s.witness.vkey()));
    assert!(s.witness.vkey().check(text.as_bytes(), &line.sig).is_some());
    assert!(a.body.ends_with('\n') && a.body.starts_with("— witness.example/w1 "));

    // 409: a stale old size, answered with the stored size as text/x.tlog.size.
    let c5 = s.grow(3, 2);
    let a = s.witness.add_checkpoint(s.body(0, &c5.note).as_bytes());
    assert_eq!(
        (a.status, a.content_type, a.body.as_str()),
        (409, "text/x.tlog.size", "3\n")
    );
    // 200 once resent from that size.
    let a = s.witness.add_checkpoint(s.body(3, &c5.note).as_bytes());
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.witness
            .dir()
            .state("example.org/log")
            .unwrap()
            .unwrap()
            .size,
        5
    );

    // 400: old size above the checkpoint's.
    let a = s.witness.add_checkpoint(s.body(9, &c5.note).as_bytes());
    assert_eq!(a.status, 400);
    // 400: not a request at all.
    assert_eq!(s.witness.add_checkpoint(b"hello").status, 400);

    // 404: unknown origin.
    let other = SignerKey::generate("example.org/other").unwrap();
    let foreign = other.sign(5, c5.root).unwrap();
    assert_eq!(
        s.witness
            .add_checkpoint(format!("old 5\n\n{}", foreign.note).as_bytes())
            .status,
        404
    );

    // 403: signed by a key of the right name that the witness does not trust, or unsigned.
    let impostor = SignerKey::generate("example.org/log").unwrap();
    let forged = impostor.sign(5, c5.root).unwrap();
    assert_eq!(
        s.witness
            .add_checkpoint(format!("old 5\n\n{}", forged.note).as_bytes())
            .status,
        403
    );
    let mut tampered = c5.note.clone();
    tampered = tampered.replacen("\n5\n", "\n6\n", 1);
    assert_eq!(
        s.witness
            .add_checkpoint(format!("old 5\n\n{tampered}").as_bytes())
            .status,
        403
    );

    // 422: a consistency proof that does not verify.
    let c8 = s.grow(5, 3);
    let mut bad = s.body(5, &c8.note);
    let first_hash = bad.lines().nth(1).unwrap().to_string();
    bad = bad.replacen(&first_hash, &Hash::leaf(b"forged").to_base64(), 1);
    assert_eq!(s.witness.add_checkpoint(bad.as_bytes()).status, 422);
    // 422: a proof from size 0 must be empty.
    let s2 = setup();
    let d3 = s2.grow(0, 3);
    let with_proof = format!("old 0\n{}\n\n{}", Hash::leaf(b"x").to_base64(), d3.note);
    assert_eq!(s2.witness.add_checkpoint(with_proof.as_bytes()).status, 422);

    // Same size as stored, another root: a split view, 422 (SPEC §11), kept as evidence.
    let same_size_other_root = s.key.sign(5, Hash::leaf(b"another history")).unwrap();
    let a = s
        .witness
        .add_checkpoint(format!("old 5\n\n{}", same_size_other_root.note).as_bytes());
    assert_eq!(a.status, 422, "{}", a.body);
    // The same checkpoint again is cosigned again, without changing the state.
    assert_eq!(
        s.witness
            .add_checkpoint(s.body(5, &c5.note).as_bytes())
            .status,
        200
    );

    // Evidence: the 400 (old > new), the 422 and the same-size 409; never the 403s.
    let evidence = s.witness.dir().evidence().unwrap();
    let statuses: Vec<String> = evidence
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|l| l.starts_with("refused 422"))
            .count(),
        2,
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|l| l.starts_with("refused 400")));

    // A witness reopened from its directory holds what it stored.
    let reopened = Witness::open(WitnessDir::open(s.witness.dir().path()).unwrap()).unwrap();
    assert_eq!(
        reopened
            .add_checkpoint(s.body(5, &c8.note).as_bytes())
            .status,
        200
    );
}

#[test]
fn racing_submissions_never_roll_the_stored_size_back() {
    let s = setup();
    let mut notes = Vec::new();
    for i in 0..12u128 {
        notes.push(s.grow(i * 2, 2));
    }
    let c = s
        .witness
        .add_checkpoint(s.body(0, &notes[0].note).as_bytes());
    assert_eq!(c.status, 200);
    let witness = Arc::new(s.witness);
    let bodies: Vec<(u64, String)> = notes[1..]
        .iter()
        .map(|n| {
            let mut b = "old 2\n".to_string();
            for h in s.ledger.consistency_proof(2, n.tree_size).unwrap() {
                b.push_str(&format!("{}\n", h.to_base64()));
            }
            (n.tree_size, format!("{b}\n{}", n.note))
        })
        .collect();
    // Every submission claims the witness holds size 2: exactly one can win; the others see
    // its size and get 409. Whichever wins, the stored size is its size, never smaller.
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|(size, body)| {
            let w = witness.clone();
            std::thread::spawn(move || (size, w.add_checkpoint(body.as_bytes()).status))
        })
        .collect();
    let results: Vec<(u64, u16)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, st)| *st == 200)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|(_, st)| *st == 200 || *st == 409));
    let stored = witness.dir().state("example.org/log").unwrap().unwrap();
    assert_eq!(stored.size, winners[0]);
}

#[test]
fn the_cosignature_is_the_specs_message_signed_with_ed25519() {
    use base64::Engine;
    use ed25519_dalek::Verifier;
    use sha2::Digest;
    // Computed here from the spec's definitions, not with the crate's helpers.
    let key = ikrar_tlog::cosignature::CosignerKey::generate("witness.example/w1").unwrap();
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let line = key.cosign(text.as_bytes(), 1_679_315_147);
    let b64 = line.trim_end().rsplit(' ').next().unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    let public = key.vkey().public;
    let mut id_input = b"witness.example/w1\n\x04".to_vec();
    id_input.extend_from_slice(&public);
    assert_eq!(&raw[..4], &sha2::Sha256::digest(&id_input)[..4]);
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1_679_315_147
    );
    let message = format!("cosignature/v1\ntime 1679315147\n{text}");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
    assert!(vk.verify(message.as_bytes(), &sig).is_ok());
    // The vkey text is the signed-note form with type 0x04; the secret round-trips.
    let vkey = key.vkey().text();
    // The name has no '+'; the base64 key may.
    let key64 = vkey.splitn(3, '+').nth(2).unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(key64)
            .unwrap()[0],
        0x04
    );
    let again = ikrar_tlog::cosignature::CosignerKey::parse(&key.text()).unwrap();
    assert_eq!(again.vkey(), key.vkey());
}

#[test]
fn log_vkeys_agree_with_signed_note_and_core() {
    // A log key made by core (signed_note) parses here with the same id, and its checkpoints
    // verify with this crate's note verifier.
    let key = SignerKey::generate("example.org/log").unwrap();
    let vkey = Vkey::parse(key.verifier_key().text()).unwrap();
    assert_eq!(vkey.kind, 0x01);
    assert_eq!(vkey.text(), key.verifier_key().text());
    let signed = key.sign(0, Hash::empty_tree()).unwrap();
    let (_, c) = ikrar_tlog::note::open_checkpoint(signed.note.as_bytes(), &[vkey]).unwrap();
    assert_eq!((c.size, c.root), (0, Hash::empty_tree()));
}
