//! Reliability through the real binary: an `ikrar append` killed mid-way and run again, and a
//! flipped byte in each kind of stored item, each reported with exit 3 and a position.

use std::time::{Duration, Instant};

use crate::{json, made_line, stderr, Env};

/// The tree size in the head file (written after every durable commit), read without opening
/// the ledger, which the running writer holds.
fn acknowledged_size(env: &Env) -> u64 {
    match std::fs::read(env.ledger().join("head")) {
        Ok(b) if b.len() == 56 => u64::from_be_bytes(b[8..16].try_into().unwrap()),
        _ => 0,
    }
}

#[test]
fn a_large_append_killed_mid_way_completes_on_rerun_without_duplicates() {
    let env = Env::with_ledger();
    let total = 3 * ikrar_core::EVENTS_PER_APPEND_MAX as u32 + 500;
    let text: String = (0..total).map(|n| made_line(n) + "\n").collect();
    let path = env.file("big.jsonl", &text);
    let mut child = env
        .process()
        .args(["append", path.to_str().unwrap()])
        .spawn()
        .unwrap();
    // Kill it once at least one batch is durable and before the last one is.
    let started = Instant::now();
    loop {
        let size = acknowledged_size(&env);
        if size > 0 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("append finished ({status}) before it could be killed");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no batch was written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = acknowledged_size(&env);
    assert!(partial > 0 && partial < total as u64, "killed at {partial}");
    assert_eq!(
        partial % ikrar_core::EVENTS_PER_APPEND_MAX as u64,
        0,
        "a prefix of whole batches"
    );

    let out = env.run(&["--format", "json", "append", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        v["tree_size"], total,
        "duplicates or losses after the rerun"
    );
    let positions = v["positions"].as_array().unwrap();
    assert!(positions.iter().enumerate().all(|(i, p)| p == i));
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(json(&out)["tree_size"], total);
}

/// Rewrites one stored value through sled (so that sled's own checksums stay valid), the way a
/// tamperer or a bug would, then runs `verify`.
fn tamper_then_verify(
    env: &Env,
    key: &[u8],
    edit: impl FnOnce(&mut Vec<u8>),
) -> std::process::Output {
    {
        let db = sled::open(env.ledger().join("db")).unwrap();
        let log = db.open_tree("log").unwrap();
        let mut value = log.get(key).unwrap().expect("the key exists").to_vec();
        edit(&mut value);
        log.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    env.run(&["--format", "json", "verify"])
}

fn key(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = vec![tag];
    k.extend_from_slice(rest);
    k
}

#[test]
fn a_flipped_byte_in_each_kind_of_stored_item_is_reported_with_its_position() {
    let setup = || {
        let env = Env::with_ledger();
        let text: String = (0..40).map(|n| made_line(n) + "\n").collect();
        let path = env.file("a.jsonl", &text);
        assert_eq!(env.append_file(&path).status.code(), Some(0));
        let signer = env.dir.path().join("k");
        env.run(&["keygen", signer.to_str().unwrap()]);
        env.run(&["checkpoint", "--key", signer.to_str().unwrap()]);
        env
    };
    let mut tile_key = key(b'h', &[0]);
    tile_key.extend_from_slice(&0u64.to_be_bytes());
    let mut checkpoint_prefix = key(b'c', &40u64.to_be_bytes());
    checkpoint_prefix.extend_from_slice(b"ikrar");
    // The 40 records of the setup's one append are bundled from position 0 on, one record a
    // line: the record at position p is line p % B of the bundle at key b‖(p - p % B).
    let bundle_records = ikrar_core::BUNDLE_RECORDS_MAX as u64;
    assert!(
        bundle_records > 2 && bundle_records < 40,
        "the cases below need several bundles"
    );
    let bundle_of = |position: u64| {
        let line = (position % bundle_records) as usize;
        (key(b'b', &(position - line as u64).to_be_bytes()), line)
    };
    let (byte_bundle, byte_line) = bundle_of(23);
    // Positions 17 and 18 in one bundle, 17 not its last record.
    let (pair_bundle, line_17) = bundle_of(17);
    assert_eq!(bundle_of(18).0, pair_bundle);
    fn edit_lines(v: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let mut lines: Vec<Vec<u8>> = v.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        edit(&mut lines);
        *v = lines.join(&b'\n');
    }

    // (what, key, how to damage it, the position verify must name)
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Vec<u8>, Damage, Option<u64>)> = vec![
        (
            "a byte of a record",
            byte_bundle,
            Box::new(move |v: &mut Vec<u8>| edit_lines(v, |l| l[byte_line][60] ^= 0x01)),
            Some(23),
        ),
        (
            "a record removed from its bundle",
            pair_bundle.clone(),
            Box::new(move |v: &mut Vec<u8>| {
                edit_lines(v, |l| {
                    l.remove(line_17);
                })
            }),
            Some(17),
        ),
        (
            "a record repeated in its bundle",
            pair_bundle,
            Box::new(move |v: &mut Vec<u8>| {
                edit_lines(v, |l| {
                    let r = l[line_17].clone();
                    l.insert(line_17 + 1, r);
                })
            }),
            Some(18),
        ),
        (
            "a tree hash tile",
            tile_key,
            Box::new(|v: &mut Vec<u8>| v[31 * 32] ^= 0x01),
            Some(31),
        ),
        (
            "the head",
            b"mhead".to_vec(),
            Box::new(|v: &mut Vec<u8>| v[45] ^= 0x01),
            None,
        ),
        (
            "a checkpoint",
            checkpoint_prefix,
            Box::new(|v: &mut Vec<u8>| v[20] ^= 0x01),
            None,
        ),
    ];
    for (what, k, damage, position) in cases {
        let env = setup();
        let out = tamper_then_verify(&env, &k, |v| damage(v));
        assert_eq!(out.status.code(), Some(3), "{what}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["ok"], false, "{what}");
        assert!(v["first_bad_position"].is_u64(), "{what}: {v}");
        if let Some(p) = position {
            assert_eq!(v["first_bad_position"], p, "{what}: {v}");
        }
        assert!(
            stderr(&out).contains("position"),
            "{what}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn damaged_and_missing_files_are_reported_never_survived() {
    let make = || {
        let env = Env::with_ledger();
        let text: String = (0..300).map(|n| made_line(n) + "\n").collect();
        let path = env.file("a.jsonl", &text);
        assert_eq!(env.append_file(&path).status.code(), Some(0));
        env
    };
    // The head file removed, emptied, or claiming more than the log holds.
    let env = make();
    std::fs::remove_file(env.ledger().join("head")).unwrap();
    assert_eq!(env.run(&["verify"]).status.code(), Some(3));
    let env = make();
    std::fs::write(env.ledger().join("head"), b"").unwrap();
    assert_eq!(env.run(&["verify"]).status.code(), Some(3));
    // sled's files: the log removed, or cut short; its config removed.
    for victim in ["db", "conf"] {
        let env = make();
        std::fs::remove_file(env.ledger().join("db").join(victim)).unwrap();
        let out = env.run(&["--format", "json", "verify"]);
        assert_eq!(out.status.code(), Some(3), "{victim}: {}", stderr(&out));
    }
    // sled's file may end in space it has not used yet, so cutting it short may lose nothing;
    // what must never happen is a shorter ledger taken for the whole one. Either the ledger is
    // reported (exit 3, with a position), or every acknowledged record is still there.
    for keep in [0.0, 0.5, 0.9] {
        let env = make();
        let file = env.ledger().join("db").join("db");
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
        let out = env.run(&["--format", "json", "verify"]);
        match out.status.code() {
            Some(3) => assert!(json(&out)["first_bad_position"].is_u64()),
            Some(0) => assert_eq!(
                json(&out)["tree_size"],
                300,
                "kept {keep}: a shorter ledger"
            ),
            other => panic!("kept {keep}: exit {other:?}: {}", stderr(&out)),
        }
    }
    // Cut to nothing, the records are certainly gone: that is always reported.
    let env = make();
    std::fs::write(env.ledger().join("db").join("db"), b"").unwrap();
    assert_eq!(env.run(&["verify"]).status.code(), Some(3));
}
