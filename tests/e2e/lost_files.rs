//! Files of a sled ledger lost or cut, through the binary: each is an integrity failure
//! (exit 3) that names what is missing — never an operational error (exit 1) that invites a
//! retry, never a fresh empty ledger in place of the lost one, and a check never repairs
//! (or hides) the loss by making a file again.

use crate::faults::{copy_dir, large_records_ledger};
use crate::{stderr, Env};

/// What every command below must answer on a damaged copy: exit 3, the error named.
fn assert_integrity(env: &Env, ledger: &std::path::Path, command: &[&str], names: &str) {
    let out = env.cmd_for(ledger).args(command).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{command:?}: {err}");
    assert!(!err.contains("panicked"), "{command:?}: {err}");
    assert!(
        err.contains(names),
        "{command:?}: expected {names:?} in: {err}"
    );
}

const COMMANDS: [&[&str]; 4] = [&["verify"], &["summary"], &["export"], &["list"]];

#[test]
fn every_data_file_of_sled_deleted_is_exit_3_named() {
    let env = large_records_ledger();
    let db = env.ledger().join("db");
    // The blob files (the large records) deleted; then the blobs and the log itself.
    let blobs = env.dir.path().join("no-blobs");
    copy_dir(&env.ledger(), &blobs);
    let removed = std::fs::read_dir(blobs.join("db").join("blobs"))
        .unwrap()
        .map(|e| std::fs::remove_file(e.unwrap().path()).unwrap())
        .count();
    assert!(removed > 0, "the ledger holds blobs");
    for command in COMMANDS {
        assert_integrity(&env, &blobs, command, "integrity failure");
    }
    let all = env.dir.path().join("no-data");
    copy_dir(&env.ledger(), &all);
    std::fs::remove_dir_all(all.join("db").join("blobs")).unwrap();
    std::fs::remove_file(all.join("db").join("db")).unwrap();
    for command in COMMANDS {
        assert_integrity(&env, &all, command, "sled's files are missing");
    }
    assert!(db.join("db").exists());
}

#[test]
fn a_deleted_database_with_a_head_file_that_records_events_is_exit_3_not_a_new_ledger() {
    let env = large_records_ledger();
    std::fs::remove_dir_all(env.ledger().join("db")).unwrap();
    let lost = "the head file records 96 events but the database is missing";
    for command in COMMANDS {
        assert_integrity(&env, &env.ledger(), command, lost);
    }
    // Commands that create a ledger where there is none refuse too.
    let line = env.file("one.jsonl", &(crate::made_line(1000) + "\n"));
    assert_integrity(
        &env,
        &env.ledger(),
        &["append", line.to_str().unwrap()],
        lost,
    );
    assert_integrity(&env, &env.ledger(), &["demo"], lost);
    assert_integrity(&env, &env.ledger(), &["init"], lost);
    assert!(
        !env.ledger().join("db").exists(),
        "no new database was made"
    );
}

#[test]
fn a_data_file_cut_at_90_percent_is_exit_3_or_intact_never_exit_1() {
    let small = Env::with_ledger();
    let text: String = (0..300).map(|n| crate::made_line(n) + "\n").collect();
    let path = small.file("a.jsonl", &text);
    assert_eq!(small.append_file(&path).status.code(), Some(0));
    for (env, acknowledged) in [(large_records_ledger(), 96), (small, 300)] {
        let copy = env.dir.path().join("cut-90");
        copy_dir(&env.ledger(), &copy);
        let file = copy.join("db").join("db");
        let size = std::fs::metadata(&file).unwrap().len();
        let cut = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        cut.set_len(size * 90 / 100).unwrap();
        drop(cut);
        for command in COMMANDS.iter().copied().chain([&["log"][..]]) {
            let out = env
                .cmd_for(&copy)
                .args(["--format", "json"])
                .args(command)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(!err.contains("panicked"), "{command:?}: {err}");
            match out.status.code() {
                Some(3) => assert!(err.contains("integrity"), "{command:?}: {err}"),
                Some(0) if command == ["verify"] => {
                    assert_eq!(crate::json(&out)["tree_size"], acknowledged)
                }
                Some(0) => {}
                other => panic!("{command:?}: exit {other:?}: {err}"),
            }
        }
    }
}

#[test]
fn a_deleted_head_file_is_named_missing_and_a_check_does_not_make_it_again() {
    let env = large_records_ledger();
    let head = env.ledger().join("head");
    std::fs::remove_file(&head).unwrap();
    for command in [&["verify"][..], &["summary"]] {
        assert_integrity(&env, &env.ledger(), command, "the head file is missing");
        assert!(!head.exists(), "{command:?} made the head file again");
    }
}
