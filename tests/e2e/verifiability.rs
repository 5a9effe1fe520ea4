//! Keys, checkpoints, proofs, offline checks and verified import, through the real binary.

use std::os::unix::fs::PermissionsExt;

use crate::{json, made_line, stderr, stdout, Env};

fn setup(n: u32) -> Env {
    let env = Env::with_ledger();
    let text: String = (0..n).map(|i| made_line(i) + "\n").collect();
    let path = env.file("events.jsonl", &text);
    assert_eq!(env.append_file(&path).status.code(), Some(0));
    env
}

fn keygen(env: &Env) -> (String, String) {
    let key = env.dir.path().join("signer.key");
    let out = env.run(&[
        "--format",
        "json",
        "keygen",
        key.to_str().unwrap(),
        "--name",
        "example.org/ikrar",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    (
        key.to_str().unwrap().to_string(),
        v["verifier_key"].as_str().unwrap().to_string(),
    )
}

#[test]
fn keygen_writes_a_private_key_file_and_never_overwrites_it() {
    let env = Env::empty();
    let (key, vkey) = keygen(&env);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("PRIVATE+KEY+example.org/ikrar+"));
    assert_eq!(
        std::fs::read_to_string(format!("{key}.pub"))
            .unwrap()
            .trim(),
        vkey
    );
    let out = env.run(&["keygen", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        env.run(&["keygen", "x.key", "--name", "has space"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn checkpoint_prove_and_check_proof_offline() {
    let env = setup(20);
    let (key, vkey) = keygen(&env);
    let out = env.run(&["--format", "table", "checkpoint", "--key", &key]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let note = stdout(&out);
    assert!(note.starts_with("example.org/ikrar\n20\n"), "{note}");
    assert!(note.contains("\n\n— example.org/ikrar "));

    // Inclusion of an event, checked with the verifier key alone (text or file).
    let out = env.run(&["prove", &crate::eid(7)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bundle = json(&out);
    assert_eq!(bundle["tree_size"], 20);
    assert_eq!(bundle["position"], 7);
    let bundle_path = env.file("inclusion.json", &stdout(&out));
    for key_arg in [vkey.clone(), format!("{key}.pub")] {
        let out = env.run(&[
            "--format",
            "json",
            "check-proof",
            bundle_path.to_str().unwrap(),
            "--public-key",
            &key_arg,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(json(&out)["ok"], true);
    }

    // Consistency from an earlier size to a later checkpoint.
    let more = env.file("more.jsonl", &(made_line(100) + "\n"));
    env.append_file(&more);
    env.run(&["checkpoint", "--key", &key]);
    let out = env.run(&["prove", "--consistency", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let consistency = env.file("consistency.json", &stdout(&out));
    let out = env.run(&[
        "check-proof",
        consistency.to_str().unwrap(),
        "--public-key",
        &vkey,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The older checkpoint is still there to prove against.
    let out = env.run(&["prove", &crate::eid(3), "--size", "20"]);
    assert_eq!(json(&out)["tree_size"], 20);

    // Tampered bundles: exit 3. Another key: exit 3. Not a bundle: exit 2.
    let mut tampered = bundle.clone();
    tampered["record"] = serde_json::Value::String(
        bundle["record"]
            .as_str()
            .unwrap()
            .replace("Commitment 7", "Commitment 8"),
    );
    let t = env.file("t.json", &tampered.to_string());
    assert_eq!(
        env.run(&["check-proof", t.to_str().unwrap(), "--public-key", &vkey])
            .status
            .code(),
        Some(3)
    );
    let mut wrong_position = bundle.clone();
    wrong_position["position"] = serde_json::json!(6);
    let t = env.file("t.json", &wrong_position.to_string());
    assert_eq!(
        env.run(&["check-proof", t.to_str().unwrap(), "--public-key", &vkey])
            .status
            .code(),
        Some(3)
    );
    let mut short = bundle.clone();
    short["inclusion"].as_array_mut().unwrap().pop();
    let t = env.file("t.json", &short.to_string());
    assert_eq!(
        env.run(&["check-proof", t.to_str().unwrap(), "--public-key", &vkey])
            .status
            .code(),
        Some(3)
    );
    let other = Env::empty();
    let (_, other_vkey) = keygen(&other);
    assert_eq!(
        env.run(&[
            "check-proof",
            bundle_path.to_str().unwrap(),
            "--public-key",
            &other_vkey
        ])
        .status
        .code(),
        Some(3)
    );
    let junk = env.file("junk.json", "{\"not\":\"a bundle\"}");
    assert_eq!(
        env.run(&["check-proof", junk.to_str().unwrap(), "--public-key", &vkey])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        env.run(&[
            "check-proof",
            bundle_path.to_str().unwrap(),
            "--public-key",
            "nonsense"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn prove_without_a_checkpoint_says_how_to_make_one() {
    let env = setup(3);
    let out = env.run(&["prove", &crate::eid(1)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ikrar checkpoint"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn export_and_import_round_trip_with_the_same_root_and_a_checked_checkpoint() {
    let env = setup(30);
    let (key, vkey) = keygen(&env);
    let out = env.run(&["--format", "json", "checkpoint", "--key", &key]);
    let note = json(&out)["checkpoint"].as_str().unwrap().to_string();
    let note_path = env.file("checkpoint.txt", &note);
    let export = env.dir.path().join("export.jsonl");
    env.run(&["export", export.to_str().unwrap()]);
    let root = json(&env.run(&["--format", "json", "verify"]))["root"].clone();

    let restored = env.dir.path().join("restored");
    let import = |file: &std::path::Path, target: &std::path::Path| {
        env.cmd_for(target)
            .args([
                "--format",
                "json",
                "import",
                file.to_str().unwrap(),
                "--checkpoint",
                note_path.to_str().unwrap(),
                "--public-key",
                &vkey,
            ])
            .output()
            .unwrap()
    };
    let out = import(&export, &restored);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["root"], root);
    let out = env
        .cmd_for(&restored)
        .args(["--format", "json", "verify"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["root"], root);
    // The restored ledger holds the checkpoint, so it can prove against it.
    let out = env
        .cmd_for(&restored)
        .args(["prove", &crate::eid(4)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A record altered in the export: the rebuilt root differs from the checkpoint's. Exit 3,
    // nothing written.
    let text = std::fs::read_to_string(&export)
        .unwrap()
        .replace("Commitment 12", "Commitment 21");
    let altered = env.file("altered.jsonl", &text);
    let target = env.dir.path().join("altered-ledger");
    let out = import(&altered, &target);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!target.join("db").exists(), "nothing may be written");

    // Without a checkpoint, structure is still checked: a gap in positions is exit 3.
    let gapped: String = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let gapped = env.file("gapped.jsonl", &gapped);
    let target = env.dir.path().join("gapped-ledger");
    let out = env
        .cmd_for(&target)
        .args(["import", gapped.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("position 5"), "{}", stderr(&out));

    // Importing into a ledger that holds records is refused.
    let out = env.run(&["import", export.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_flipped_byte_in_a_stored_record_is_reported_with_exit_3() {
    let env = setup(200);
    // sled may hold stale copies of a record besides the live one, in its log or in blobs:
    // alter every copy, so that the live record is certainly damaged.
    let copies = crate::find_in_sled_files(&env, b"Commitment 150\"");
    assert!(!copies.is_empty(), "the record's text is in sled's files");
    for (file, at) in copies {
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[at + 3] ^= 0x20;
        std::fs::write(&file, bytes).unwrap();
    }
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(v["first_bad_position"].as_u64().unwrap() <= 150);
}

/// docs/verification.md says an outsider can check a bundle with standard tools; its script,
/// which shares no code with ikrar, must accept ikrar's bundles and refuse an altered one.
#[test]
fn the_documented_standard_tools_check_accepts_real_bundles() {
    let env = setup(12);
    let (key, _) = keygen(&env);
    env.run(&["checkpoint", "--key", &key]);
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/check_bundle.py");
    let pubkey = format!("{key}.pub");
    for event in [0, 5, 11] {
        let out = env.run(&["prove", &crate::eid(event)]);
        let bundle = env.file("b.json", &stdout(&out));
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&bundle)
            .arg(&pubkey)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: position"));
    }
    let out = env.run(&["prove", &crate::eid(5)]);
    let altered = stdout(&out).replace("Commitment 5", "Commitment 6");
    let bundle = env.file("b.json", &altered);
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&bundle)
        .arg(&pubkey)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
