//! init, log, export, verify; locks and integrity failures, through the real binary.

use crate::{json, made_line, stderr, stdout, Env};

#[test]
fn init_refuses_to_overwrite() {
    let env = Env::with_ledger();
    let out = env.run(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("refusing to overwrite"));
}

#[test]
fn commands_on_a_missing_ledger_exit_1_and_say_how_to_make_one() {
    let env = Env::empty();
    let out = env.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ikrar init"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::with_ledger();
    assert_eq!(env.run(&["append"]).status.code(), Some(2));
    assert_eq!(env.run(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["--format", "yaml", "verify"]).status.code(),
        Some(2)
    );
}

#[test]
fn log_and_export_print_the_records_exactly_as_stored() {
    let env = Env::with_ledger();
    let text: String = (0..5).map(|n| made_line(n) + "\n").collect();
    let path = env.file("a.jsonl", &text);
    assert_eq!(env.append_file(&path).status.code(), Some(0));
    let exported = env.export();
    assert_eq!(exported.lines().count(), 5);
    for (i, line) in exported.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["position"], i);
        assert_eq!(v["schema"], 1);
        assert_eq!(v["version"], 0);
        // Compact JSON, one line, the recorded form's field order.
        assert!(line.starts_with(&format!("{{\"position\":{i},\"event_id\":")));
    }
    let out = env.run(&["log", "--from", "2", "--limit", "2"]);
    let logged = stdout(&out);
    let expected: Vec<&str> = exported.lines().skip(2).take(2).collect();
    assert_eq!(logged.lines().collect::<Vec<_>>(), expected);

    let file = env.dir.path().join("export.jsonl");
    let out = env.run(&["export", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(file).unwrap(), exported);
}

#[test]
fn log_follow_prints_new_events_as_they_are_recorded() {
    let env = Env::with_ledger();
    let path = env.file("a.jsonl", &(made_line(1) + "\n"));
    env.append_file(&path);
    // The ledger has one writer process, so a follower in another process sees what exists;
    // live following is the library's subscription (tested in ikrar-core). With a limit,
    // `--follow` returns once it has printed that many.
    let out = env.run(&["log", "--follow", "--limit", "1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn verify_prints_tree_size_and_root() {
    let env = Env::with_ledger();
    let path = env.file("a.jsonl", &(made_line(1) + "\n" + &made_line(2) + "\n"));
    env.append_file(&path);
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["tree_size"], 2);
    assert_eq!(v["root"].as_str().unwrap().len(), 44);
    let out = env.run(&["--format", "table", "verify"]);
    assert!(stdout(&out).starts_with("ok: 2 records verified; root "));
}

#[test]
fn a_ledger_held_by_another_process_exits_1_naming_the_lock() {
    let env = Env::with_ledger();
    let holder = ikrar_core::Ledger::open(env.ledger()).unwrap();
    let out = env.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ikrar.lock") && err.contains("in use by another process"),
        "{err}"
    );
    drop(holder);
    assert_eq!(env.run(&["verify"]).status.code(), Some(0));
}

#[test]
fn verify_exits_3_and_names_the_first_bad_position_of_an_altered_record() {
    let env = Env::with_ledger();
    let text: String = (0..10).map(|n| made_line(n) + "\n").collect();
    let path = env.file("a.jsonl", &text);
    env.append_file(&path);
    crate::rewrite_bundle(&env, 6, |records, i| {
        records[i] = records[i].replace("Commitment 6", "Commitment 9");
    });
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad_position"], 6);
    assert_eq!(v["tree_size"], 10);
    assert!(stderr(&out).contains("position 6"));
}

#[test]
fn a_truncated_database_is_reported_with_exit_3_not_taken_for_a_shorter_ledger() {
    let env = Env::with_ledger();
    let text: String = (0..300).map(|n| made_line(n) + "\n").collect();
    let path = env.file("a.jsonl", &text);
    env.append_file(&path);
    // Cut a file of sled's where a record certainly is: at the first copy of the last record's
    // text (in the log or in a blob).
    let (file, at) = crate::find_in_sled_files(&env, b"Commitment 299\"")
        .into_iter()
        .next()
        .expect("the last record is in sled's files");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..at + 4]).unwrap();
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(json(&out)["ok"], false);
}
