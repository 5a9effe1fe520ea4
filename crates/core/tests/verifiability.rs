//! Proofs from a real ledger, signed checkpoints checked by independent code, and verifiers fed
//! garbage.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use ikrar_core::merkle::reference_root;
use ikrar_core::proof::{verify_consistency, verify_inclusion};
use ikrar_core::{Error, Hash, InputEvent, Ledger, SignerKey, VerifierKey};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn made(n: u64) -> InputEvent {
    ikrar_testkit::made(u128::from(n))
}

fn ledger_with(n: u64) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Several appends, so that the stored tree is built across group commits.
    let mut next = 0;
    for chunk in [1u64, 2, 5, 13, 40, 100] {
        let end = (next + chunk).min(n);
        if next < end {
            rt.block_on(ledger.append((next..end).map(made).collect()))
                .unwrap();
        }
        next = end;
    }
    if next < n {
        rt.block_on(ledger.append((next..n).map(made).collect()))
            .unwrap();
    }
    (dir, ledger)
}

#[test]
fn proofs_from_the_stored_tree_verify_for_every_leaf_and_size() {
    let (_dir, ledger) = ledger_with(70);
    let leaves: Vec<Hash> = ledger
        .iter_from(0)
        .map(|r| Hash::leaf(&r.unwrap().bytes))
        .collect();
    for n in 1..=70u64 {
        let root = reference_root(&leaves[..n as usize]);
        assert_eq!(ledger.root_at(n).unwrap(), root);
        for m in 0..n {
            let p = ledger.inclusion_proof(m, n).unwrap();
            verify_inclusion(leaves[m as usize], m, n, &p, root).unwrap();
            let c = ledger.consistency_proof(m + 1, n).unwrap();
            verify_consistency(
                m + 1,
                n,
                reference_root(&leaves[..m as usize + 1]),
                root,
                &c,
            )
            .unwrap();
        }
    }
    assert!(ledger.inclusion_proof(70, 70).is_err());
    assert!(ledger.inclusion_proof(0, 71).is_err());
    assert!(ledger.consistency_proof(0, 5).is_err());
    assert!(ledger.consistency_proof(6, 5).is_err());
}

#[test]
fn checkpoints_are_stored_signed_consistent_and_checked_by_verify() {
    let (dir, ledger) = ledger_with(10);
    let key = SignerKey::generate("example.org/ikrar").unwrap();
    let first = ledger.sign_checkpoint(&key).unwrap();
    assert_eq!(first.tree_size, 10);
    assert_eq!(first.root, ledger.head().root);
    assert_eq!(key.verifier_key().open(&first.note).unwrap(), first);
    // Signing again without new records answers the stored checkpoint.
    assert_eq!(ledger.sign_checkpoint(&key).unwrap(), first);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(ledger.append(vec![made(99)])).unwrap();
    let second = ledger.sign_checkpoint(&key).unwrap();
    assert_eq!(second.tree_size, 11);
    assert_eq!(ledger.checkpoints().unwrap().len(), 2);
    assert_eq!(ledger.latest_checkpoint().unwrap().unwrap(), second);
    ledger.verify().unwrap();

    // Another key's note does not open with this key.
    let other = SignerKey::generate("example.org/ikrar").unwrap();
    assert!(other.verifier_key().open(&first.note).is_err());

    // A rewritten record breaks the tree's agreement with the checkpoints: open or verify fail.
    drop(ledger);
    ikrar_testkit::tamper::rewrite_record(&dir.path().join("l").join("db"), 3, |r| {
        r.replace("Commitment 3", "Commitment 8")
    });
    let outcome = Ledger::open(dir.path().join("l")).and_then(|l| l.verify());
    match outcome {
        Err(Error::Integrity { position, .. }) => assert_eq!(position, 3),
        other => panic!("expected an integrity failure at 3, got {other:?}"),
    }
}

/// Writes a key straight into the ledger's sled tree, as a tamperer with the files could.
fn tamper(dir: &std::path::Path, key: Vec<u8>, value: Vec<u8>) {
    let db = ikrar_testkit::tamper::open_raw_sled(&dir.join("l").join("db"));
    let log = db.open_tree("log").unwrap();
    log.insert(key, value).unwrap();
    db.flush().unwrap();
}

fn checkpoint_key(size: u64, name: &str) -> Vec<u8> {
    let mut k = vec![b'c'];
    k.extend_from_slice(&size.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

#[test]
fn checkpoints_that_disagree_with_the_tree_are_reported() {
    let name = "example.org/ikrar";
    let key = SignerKey::generate(name).unwrap();

    // A validly signed checkpoint of an earlier size with another root: verify names it.
    let (dir, ledger) = ledger_with(5);
    ledger.sign_checkpoint(&key).unwrap();
    drop(ledger);
    let forged = key.sign(3, Hash::leaf(b"another history")).unwrap();
    tamper(
        dir.path(),
        checkpoint_key(3, name),
        forged.note.into_bytes(),
    );
    let ledger = Ledger::open(dir.path().join("l")).unwrap();
    match ledger.verify() {
        Err(Error::Integrity { position, what }) => {
            assert_eq!(position, 2, "{what}");
            assert!(what.contains("checkpoint of size 3"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    drop(ledger);

    // A checkpoint beyond the log (as after losing records): opening refuses the ledger.
    let (dir, ledger) = ledger_with(5);
    ledger.sign_checkpoint(&key).unwrap();
    drop(ledger);
    let ahead = key.sign(9, Hash::leaf(b"x")).unwrap();
    tamper(dir.path(), checkpoint_key(9, name), ahead.note.into_bytes());
    assert!(matches!(
        Ledger::open(dir.path().join("l")),
        Err(Error::Integrity { position: 5, .. })
    ));

    // A stored tree hash flipped underneath: verify names the leaf.
    let (dir, ledger) = ledger_with(5);
    drop(ledger);
    let mut tile_key = vec![b'h', 0];
    tile_key.extend_from_slice(&0u64.to_be_bytes());
    let mut tile = ikrar_testkit::tamper::open_raw_sled(&dir.path().join("l").join("db"))
        .open_tree("log")
        .unwrap()
        .get(&tile_key)
        .unwrap()
        .unwrap()
        .to_vec();
    tile[2 * 32] ^= 1;
    tamper(dir.path(), tile_key, tile);
    let outcome = Ledger::open(dir.path().join("l")).and_then(|l| l.verify());
    assert!(
        matches!(outcome, Err(Error::Integrity { position: 2, .. })),
        "{outcome:?}"
    );
}

/// The signed-note format of SPEC §5, produced and checked with ed25519-dalek directly.
#[test]
fn notes_agree_with_an_independent_implementation_of_the_format() {
    let name = "example.org/ikrar";
    let seed = [7u8; 32];
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key().to_bytes();
    let key_id: [u8; 4] = {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update([0x01]);
        h.update(public);
        h.finalize()[..4].try_into().unwrap()
    };
    let id_hex: String = key_id.iter().map(|b| format!("{b:02x}")).collect();
    let skey = format!(
        "PRIVATE+KEY+{name}+{id_hex}+{}",
        BASE64.encode([&[1u8][..], &seed].concat())
    );
    let vkey = format!(
        "{name}+{id_hex}+{}",
        BASE64.encode([&[1u8][..], &public].concat())
    );

    // ikrar's note, checked by hand.
    let key = SignerKey::parse(&skey).unwrap();
    assert_eq!(key.verifier_key().text(), vkey);
    let root = Hash::leaf(b"x");
    let signed = key.sign(42, root).unwrap();
    let text = format!("{name}\n42\n{}\n", root.to_base64());
    let (body, sig_line) = signed.note.split_once("\n\n").unwrap();
    assert_eq!(format!("{body}\n"), text);
    let sig_b64 = sig_line
        .strip_prefix(&format!("— {name} "))
        .and_then(|s| s.strip_suffix('\n'))
        .unwrap();
    let sig = BASE64.decode(sig_b64).unwrap();
    assert_eq!(&sig[..4], &key_id);
    let signature = ed25519_dalek::Signature::from_slice(&sig[4..]).unwrap();
    signing
        .verifying_key()
        .verify(text.as_bytes(), &signature)
        .unwrap();

    // A note made by hand, checked by ikrar.
    let text = format!("{name}\n7\n{}\n", root.to_base64());
    let sig = signing.sign(text.as_bytes()).to_bytes();
    let note = format!(
        "{text}\n— {name} {}\n",
        BASE64.encode([&key_id[..], &sig].concat())
    );
    let opened = VerifierKey::parse(&vkey).unwrap().open(&note).unwrap();
    assert_eq!((opened.tree_size, opened.root), (7, root));
    // One flipped bit anywhere in the text, and it does not verify.
    let tampered = note.replacen("\n7\n", "\n8\n", 1);
    assert!(VerifierKey::parse(&vkey).unwrap().open(&tampered).is_err());
}

fn arb_hash() -> impl Strategy<Value = Hash> {
    proptest::array::uniform32(any::<u8>()).prop_map(Hash)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Verifiers on hostile input: any sizes, any index, any number of hashes. They answer
    /// (almost always "no") and never panic.
    #[test]
    fn verifiers_never_panic_on_garbage(
        index in any::<u64>(),
        size in prop_oneof![0u64..200, any::<u64>()],
        old in prop_oneof![0u64..200, any::<u64>()],
        proof in proptest::collection::vec(arb_hash(), 0..200),
        a in arb_hash(),
        b in arb_hash(),
    ) {
        let _ = verify_inclusion(a, index, size, &proof, b);
        let _ = verify_consistency(old, size, a, b, &proof);
    }

    #[test]
    fn note_and_key_parsers_never_panic(text in ".{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = VerifierKey::parse(&text);
        let _ = SignerKey::parse(&text);
        let key = SignerKey::parse("PRIVATE+KEY+k+6f1b6a0b+AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH");
        if let Ok(key) = key {
            let _ = key.verifier_key().open(&text);
            let _ = key.verifier_key().open(&String::from_utf8_lossy(&bytes));
        }
        let _ = ikrar_core::checkpoint::parse_unverified(&text);
    }

    #[test]
    fn the_record_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), text in ".{0,400}") {
        let _ = ikrar_core::Record::decode(&bytes);
        let _ = ikrar_core::Record::decode(text.as_bytes());
        let _ = InputEvent::from_json(&text);
    }
}
