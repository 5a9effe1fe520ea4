//! Faults of a real deployment, through the binary (SPEC §9): a data file cut anywhere is
//! exit 3 or an intact ledger — never a panic, never a shorter ledger — and errors carry the
//! exit code of what happened.

use crate::{json, stderr, Env};

/// A ledger of large records (60 KB summaries, stored as sled blobs) and small ones.
fn large_records_ledger() -> Env {
    let env = Env::with_ledger();
    let mut lines = String::new();
    for n in 0..48u32 {
        lines.push_str(&format!(
            r#"{{"type":"commitment_made","data":{{"commitment_id":"{}","title":"Commitment {n}","summary":"{}","made_on":"2025-01-16"}}}}"#,
            crate::cid(n),
            "s".repeat(60_000)
        ));
        lines.push('\n');
    }
    for n in 0..48u32 {
        lines.push_str(&format!(
            r#"{{"type":"commitment_status_changed","data":{{"commitment_id":"{}","status":"in_progress"}}}}"#,
            crate::cid(n)
        ));
        lines.push('\n');
    }
    let file = env.file("large.jsonl", &lines);
    let out = env.append_file(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_data_file_cut_anywhere_is_exit_3_or_intact_never_a_panic_or_shorter() {
    let env = large_records_ledger();
    let acknowledged = 96;
    let data = env.ledger().join("db").join("db");
    let size = std::fs::metadata(&data).unwrap().len();
    let mut outcomes = Vec::new();
    for percent in (0..100).step_by(5) {
        let copy = env.dir.path().join(format!("cut-{percent}"));
        copy_dir(&env.ledger(), &copy);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.join("db").join("db"))
            .unwrap();
        file.set_len(size * percent / 100).unwrap();
        drop(file);
        // Every cut is verified and queried; an export (slower) at every fourth.
        let commands: &[&[&str]] = if percent % 20 == 0 {
            &[&["verify"], &["summary"], &["export"]]
        } else {
            &[&["verify"], &["summary"]]
        };
        for command in commands.iter().copied() {
            let out = env
                .cmd_for(&copy)
                .args(["--format", "json"])
                .args(command)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(
                !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
                "cut at {percent}%, {command:?}: {err}"
            );
            match out.status.code() {
                Some(3) => {
                    assert!(err.contains("integrity"), "cut at {percent}%: {err}");
                    outcomes.push((percent, 3));
                }
                Some(0) if command == ["verify"] => {
                    assert_eq!(json(&out)["tree_size"], acknowledged, "cut at {percent}%");
                    outcomes.push((percent, 0));
                }
                Some(0) if command == ["summary"] => {
                    assert_eq!(json(&out)["known_at"]["tree_size"], acknowledged);
                }
                Some(0) => {
                    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
                    assert_eq!(lines, acknowledged as usize, "cut at {percent}%: export");
                }
                other => panic!("cut at {percent}%, {command:?}: exit {other:?}: {err}"),
            }
        }
    }
    // The sweep saw damage: a cut near the start loses what sled kept in that file.
    assert!(outcomes.iter().any(|(_, code)| *code == 3), "{outcomes:?}");
}

#[test]
fn bad_files_given_to_the_cli_are_exit_2_and_missing_ones_exit_1() {
    let env = Env::with_ledger();
    let tokens = env.file("tokens.json", "this is not JSON");
    let out = env.run(&["serve", "--tokens", tokens.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a tokens file"),
        "{}",
        stderr(&out)
    );

    // A tokens file anyone may write is refused: anyone could give themselves a token.
    let tokens = env.dir.path().join("open-tokens.json");
    let out = env.run(&[
        "token",
        "add",
        "kim",
        "--role",
        "reader",
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = env.run(&["serve", "--tokens", tokens.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writable by every user"),
        "{}",
        stderr(&out)
    );

    // A bundle that is not UTF-8, with a good key: bad input.
    let key = env.dir.path().join("key");
    env.run(&["keygen", key.to_str().unwrap()]);
    let bundle = env.dir.path().join("bundle.json");
    std::fs::write(&bundle, [0xff, 0xfe, b'{']).unwrap();
    let pub_key = format!("{}.pub", key.display());
    let out = env.run(&[
        "check-proof",
        bundle.to_str().unwrap(),
        "--public-key",
        &pub_key,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A verifier key file that does not exist is named as a missing file.
    let out = env.run(&[
        "check-proof",
        bundle.to_str().unwrap(),
        "--public-key",
        "/nonexistent/key.pub",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("there is no file"),
        "{}",
        stderr(&out)
    );
}
