//! `ikrar append`: the input form and SPEC §3's rules, through the real binary.

use crate::{cid, eid, json, made_line, stderr, Env};

/// Lines recorded before each bad input, so that rules about existing events can be tested.
fn setup_lines() -> String {
    let retract = format!(
        r#"{{"type":"event_retracted","event_id":"{}","reason":"typo","data":{{"event_id":"{}"}}}}"#,
        eid(900),
        eid(2)
    );
    let meeting = format!(
        r#"{{"type":"meeting_held","event_id":"{}","data":{{"meeting_id":"{}","title":"Talks","held_on":"2024-03-18"}}}}"#,
        eid(800),
        cid(800)
    );
    [made_line(1), made_line(2), retract, meeting].join("\n") + "\n"
}

/// Every bad input of SPEC §3: (what, line, expected field, words the rule must contain).
fn bad_inputs() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let c1 = cid(1);
    let long_title = "x".repeat(501);
    let huge = "y".repeat(70_000);
    vec![
        ("unknown type", r#"{"type":"promise_made","data":{}}"#.to_string(), "type", "unknown event type"),
        (
            "unknown top-level field",
            format!(r#"{{"type":"commitment_status_changed","colour":"red","data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "colour",
            "not a known field",
        ),
        (
            "unknown data field",
            format!(r#"{{"type":"commitment_status_changed","data":{{"commitment_id":"{c1}","status":"fulfilled","colour":"red"}}}}"#),
            "data.colour",
            "not a known field",
        ),
        (
            "missing field",
            format!(r#"{{"type":"commitment_status_changed","data":{{"commitment_id":"{c1}"}}}}"#),
            "data.status",
            "required",
        ),
        (
            "missing data",
            r#"{"type":"commitment_status_changed"}"#.to_string(),
            "data",
            "required",
        ),
        (
            "malformed uuid",
            r#"{"type":"commitment_status_changed","data":{"commitment_id":"not-a-uuid","status":"fulfilled"}}"#.to_string(),
            "data.commitment_id",
            "UUID",
        ),
        (
            "malformed date",
            r#"{"type":"commitment_made","data":{"commitment_id":"0194a1c2-7f00-7000-8000-00000000aaaa","title":"t","made_on":"16/01/2025"}}"#.to_string(),
            "data.made_on",
            "YYYY-MM-DD",
        ),
        (
            "malformed effective",
            format!(r#"{{"type":"commitment_status_changed","effective":"yesterday","data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "effective",
            "neither a date",
        ),
        (
            "empty title",
            r#"{"type":"commitment_made","data":{"commitment_id":"0194a1c2-7f00-7000-8000-00000000aaaa","title":"  ","made_on":"2025-01-16"}}"#.to_string(),
            "data.title",
            "must not be empty",
        ),
        (
            "over-long title",
            format!(r#"{{"type":"commitment_made","data":{{"commitment_id":"0194a1c2-7f00-7000-8000-00000000aaaa","title":"{long_title}","made_on":"2025-01-16"}}}}"#),
            "data.title",
            "limit is 500",
        ),
        (
            "unknown status",
            format!(r#"{{"type":"commitment_status_changed","data":{{"commitment_id":"{c1}","status":"done"}}}}"#),
            "data.status",
            "unknown variant",
        ),
        (
            "status change for a commitment that does not exist",
            r#"{"type":"commitment_status_changed","data":{"commitment_id":"0194a1c2-7f00-7000-8000-00000000bbbb","status":"fulfilled"}}"#.to_string(),
            "data.commitment_id",
            "no commitment",
        ),
        (
            "link to a commitment that does not exist",
            format!(r#"{{"type":"meeting_linked","data":{{"meeting_id":"{}","commitment_id":"0194a1c2-7f00-7000-8000-00000000bbbb"}}}}"#, cid(800)),
            "data.commitment_id",
            "no commitment",
        ),
        (
            "link to a meeting that does not exist",
            format!(r#"{{"type":"meeting_linked","data":{{"meeting_id":"0194a1c2-7f00-7000-8000-00000000cccc","commitment_id":"{c1}"}}}}"#),
            "data.meeting_id",
            "no meeting",
        ),
        (
            "meeting naming a commitment that does not exist",
            r#"{"type":"meeting_held","data":{"meeting_id":"0194a1c2-7f00-7000-8000-00000000dddd","title":"t","held_on":"2024-03-18","commitment_ids":["0194a1c2-7f00-7000-8000-00000000bbbb"]}}"#.to_string(),
            "data.commitment_ids[0]",
            "no commitment",
        ),
        (
            "effective later than the moment of recording",
            format!(r#"{{"type":"commitment_status_changed","effective":"2999-01-01","data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "effective",
            "later than the moment of recording",
        ),
        (
            "made_on in the future",
            r#"{"type":"commitment_made","data":{"commitment_id":"0194a1c2-7f00-7000-8000-00000000aaaa","title":"t","made_on":"2999-01-01"}}"#.to_string(),
            "data.made_on",
            "later than the moment of recording",
        ),
        (
            "status effective before made_on",
            format!(r#"{{"type":"commitment_status_changed","effective":"2024-12-31","data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "effective",
            "before the commitment's made_on",
        ),
        (
            "retraction of an unknown event",
            r#"{"type":"event_retracted","reason":"r","data":{"event_id":"0194a1c2-7f00-7000-9000-00000000eeee"}}"#.to_string(),
            "data.event_id",
            "no event",
        ),
        (
            "retraction of an already retracted event",
            format!(r#"{{"type":"event_retracted","reason":"r","data":{{"event_id":"{}"}}}}"#, eid(2)),
            "data.event_id",
            "already retracted",
        ),
        (
            "retraction of a retraction",
            format!(r#"{{"type":"event_retracted","reason":"r","data":{{"event_id":"{}"}}}}"#, eid(900)),
            "data.event_id",
            "cannot be retracted",
        ),
        (
            "retraction without a reason",
            format!(r#"{{"type":"event_retracted","data":{{"event_id":"{}"}}}}"#, eid(1)),
            "reason",
            "required",
        ),
        (
            "amendment without a reason",
            format!(r#"{{"type":"commitment_amended","data":{{"commitment_id":"{c1}","title":"New"}}}}"#),
            "reason",
            "required",
        ),
        (
            "amendment that changes nothing",
            format!(r#"{{"type":"commitment_amended","reason":"r","data":{{"commitment_id":"{c1}"}}}}"#),
            "data",
            "at least one",
        ),
        (
            "expected_version on commitment_made other than no_stream",
            r#"{"type":"commitment_made","expected_version":3,"data":{"commitment_id":"0194a1c2-7f00-7000-8000-00000000aaaa","title":"t","made_on":"2025-01-16"}}"#.to_string(),
            "expected_version",
            "no_stream",
        ),
        (
            "malformed expected_version",
            format!(r#"{{"type":"commitment_status_changed","expected_version":-1,"data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "expected_version",
            "non-negative integer",
        ),
        (
            "empty actor",
            format!(r#"{{"type":"commitment_status_changed","actor":" ","data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "actor",
            "non-empty",
        ),
        (
            "record over 65,535 bytes",
            format!(r#"{{"type":"commitment_status_changed","reason":"{huge}","data":{{"commitment_id":"{c1}","status":"fulfilled"}}}}"#),
            "-",
            "limit is 65535",
        ),
        ("not JSON", "{this is not json".to_string(), "-", "not valid JSON"),
        ("not an object", "[1,2,3]".to_string(), "-", "JSON object"),
    ]
}

#[test]
fn every_bad_input_exits_2_names_line_field_and_rule_and_writes_nothing() {
    let env = Env::with_ledger();
    let setup = env.file("setup.jsonl", &setup_lines());
    assert_eq!(env.append_file(&setup).status.code(), Some(0));
    let before = env.export();
    let good = made_line(50);
    for (what, bad, field, rule) in bad_inputs() {
        // The bad event is on line 3, after a good one and a blank line.
        let path = env.file("bad.jsonl", &format!("{good}\n\n{bad}\n"));
        let out = env.run(&["--format", "table", "append", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.starts_with("error: line 3: "), "{what}: {err}");
        assert!(err.contains(&format!("field `{field}`")), "{what}: {err}");
        assert!(err.contains(rule), "{what}: expected {rule:?} in {err}");
        assert!(err.contains("nothing was written"), "{what}: {err}");
        assert_eq!(env.export(), before, "{what}: the ledger changed");
    }
}

#[test]
fn bad_input_in_json_format_also_prints_an_error_object() {
    let env = Env::with_ledger();
    let out = env.run_stdin(
        &["--format", "json", "append", "-"],
        "{\"type\":\"nope\",\"data\":{}}\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "validation");
    assert!(v["error"]["message"].as_str().unwrap().contains("line 1"));
}

#[test]
fn every_bad_line_of_a_file_is_reported() {
    let env = Env::with_ledger();
    let path = env.file(
        "bad.jsonl",
        "{\"type\":\"x\",\"data\":{}}\n{\"type\":\"y\",\"data\":{}}\n",
    );
    let out = env.append_file(&path);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("line 1") && err.contains("line 2"), "{err}");
}

#[test]
fn appends_print_positions_and_tree_size_and_repeat_idempotently() {
    let env = Env::with_ledger();
    let lines = format!("{}\n{}\n", made_line(1), made_line(2));
    let path = env.file("a.jsonl", &lines);
    let out = env.run(&["--format", "json", "append", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out),
        serde_json::json!({"positions":[0,1],"tree_size":2})
    );
    // The same file again changes nothing and answers the original positions.
    let out = env.run(&["--format", "json", "append", path.to_str().unwrap()]);
    assert_eq!(
        json(&out),
        serde_json::json!({"positions":[0,1],"tree_size":2})
    );
    // The actor came from IKRAR_ACTOR.
    assert!(env.export().contains("\"actor\":\"e2e.tester\""));
}

#[test]
fn dry_run_validates_and_writes_nothing() {
    let env = Env::with_ledger();
    let path = env.file("a.jsonl", &(made_line(1) + "\n"));
    let out = env.run(&[
        "--format",
        "json",
        "append",
        "--dry-run",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["valid"], true);
    assert_eq!(env.export(), "");
}

#[test]
fn conflicts_exit_4_and_write_nothing() {
    let env = Env::with_ledger();
    let path = env.file("a.jsonl", &(made_line(1) + "\n"));
    env.append_file(&path);
    let before = env.export();
    let stale = format!(
        r#"{{"type":"commitment_status_changed","expected_version":7,"data":{{"commitment_id":"{}","status":"fulfilled"}}}}"#,
        cid(1)
    );
    let out = env.run_stdin(&["append", "-"], &stale);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("expected version 7, actual 0"), "{err}");
    // An event id reused with other content.
    let reused = made_line(1).replace("Commitment 1", "Something else");
    let out = env.run_stdin(&["append", "-"], &reused);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("already recorded at position 0"));
    // A second commitment_made for the same commitment.
    let again = made_line(1).replace(&eid(1), &eid(99));
    assert_eq!(
        env.run_stdin(&["append", "-"], &again).status.code(),
        Some(4)
    );
    assert_eq!(env.export(), before);
}

#[test]
fn a_file_larger_than_one_batch_is_written_in_batches_and_a_rerun_completes_it() {
    let env = Env::with_ledger();
    let total = ikrar_core::EVENTS_PER_APPEND_MAX as u32 + 250;
    let text: String = (0..total).map(|n| made_line(n) + "\n").collect();
    let path = env.file("big.jsonl", &text);
    // Simulate an interrupted earlier run: the first 3,000 lines are already recorded.
    let head: String = text.lines().take(3000).map(|l| format!("{l}\n")).collect();
    let first = env.file("first.jsonl", &head);
    assert_eq!(env.append_file(&first).status.code(), Some(0));
    let out = env.run(&["--format", "json", "append", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["tree_size"], total);
    let positions = v["positions"].as_array().unwrap();
    assert_eq!(positions.len(), total as usize);
    assert!(positions.iter().enumerate().all(|(i, p)| p == i));
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(json(&out)["tree_size"], total);
}
