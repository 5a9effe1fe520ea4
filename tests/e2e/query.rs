//! Queries in any basis, history, the demo, and the real Canada tracker data.

use serde_json::Value;

use crate::{ok_json, stderr, stdout, Env};

const SUMMIT: &str = "01946d3e-0000-7000-8000-000000000109";
const ANNOUNCEMENT_MEETING: &str = "01946d3e-0000-7000-8000-000000000201";
const BLINKEN_MEETING: &str = "01946d3e-0000-7000-8000-000000000202";

#[test]
fn the_demo_records_the_seed_article_and_a_second_run_changes_nothing() {
    let env = Env::empty();
    let first = ok_json(&env, &["demo"]);
    assert_eq!(first["total"], 11);
    assert_eq!(first["by_status"]["announced"], 11);
    assert_eq!(first["by_status"].as_object().unwrap().len(), 8);
    assert_eq!(first["by_party"]["United States"], 2);
    assert_eq!(first["by_party"]["Japan"], 2);
    assert_eq!(first["by_party"]["China"], 2);
    assert_eq!(first["by_party"]["Central Asia"], 1);
    let exported = env.export();
    assert_eq!(exported.lines().count(), 13);
    // Every event cites the article.
    for line in exported.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["source"]["publisher"], "korea.kr");
        assert_eq!(v["source"]["published"], "2025-01-17");
        assert_eq!(v["source"]["author"], "Gil Kyuyoung");
        assert_eq!(v["source"]["lang"], "id");
        assert!(v["source"]["quote"].as_str().unwrap().len() > 20);
    }
    let second = ok_json(&env, &["demo"]);
    assert_eq!(second["total"], 11);
    assert_eq!(
        env.export(),
        exported,
        "a second demo run changed the ledger"
    );

    // The two meetings of the article.
    let announced = ok_json(&env, &["show", ANNOUNCEMENT_MEETING]);
    assert_eq!(announced["held_on"], "2025-01-16");
    assert_eq!(announced["commitment_ids"].as_array().unwrap().len(), 11);
    let blinken = ok_json(&env, &["show", BLINKEN_MEETING]);
    assert_eq!(blinken["held_on"], "2024-03-18");
    assert_eq!(
        blinken["location"],
        "Ministry of Foreign Affairs, Jongno-gu, Seoul"
    );
    let names: Vec<&str> = blinken["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Cho Tae-yul", "Antony Blinken"]);
    let summit = ok_json(&env, &["show", SUMMIT]);
    assert_eq!(
        summit["title"],
        "Hold the first Korea–Central Asia summit in 2025"
    );
    assert_eq!(
        summit["meetings"],
        serde_json::json!([ANNOUNCEMENT_MEETING])
    );
}

#[test]
fn views_have_the_shapes_of_the_spec() {
    let env = Env::empty();
    ok_json(&env, &["demo"]);
    let c = ok_json(&env, &["show", SUMMIT]);
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "commitment_id",
            "title",
            "summary",
            "owner",
            "parties",
            "themes",
            "made_on",
            "due",
            "status",
            "label",
            "status_since",
            "meetings",
            "version",
            "stream_version"
        ]
    );
    assert_eq!(c["status_since"], "2025-01-16T00:00:00Z");
    let s = ok_json(
        &env,
        &["summary", "--as-of", "2025-12-31", "--known-at", "13"],
    );
    assert_eq!(s["known_at"], serde_json::json!({"tree_size": 13}));
    assert_eq!(s["as_of"], "2025-12-31T23:59:59.999999Z");
    let keys: Vec<&str> = s["by_status"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "announced",
            "in_progress",
            "at_risk",
            "fulfilled",
            "partially_fulfilled",
            "broken",
            "withdrawn",
            "superseded"
        ]
    );
}

/// The two questions of SPEC §4.1 on one commitment, through the command line.
#[test]
fn bitemporal_questions_have_repeatable_answers() {
    let env = Env::empty();
    ok_json(&env, &["demo"]); // tree size 13
                              // Recorded now: the summit preparations were under way from 1 June 2025 ...
    ok_json(
        &env,
        &[
            "status",
            SUMMIT,
            "in_progress",
            "--label",
            "Preparations",
            "--effective",
            "2025-06-01",
        ],
    );
    // ... and a second status change, effective earlier (backdated), recorded later.
    let out = ok_json(
        &env,
        &[
            "status",
            SUMMIT,
            "at_risk",
            "--effective",
            "2025-05-01",
            "--reason",
            "late report",
        ],
    );
    let at_risk_event = out["event_ids"][0].as_str().unwrap().to_string();

    // What was true on 15 May 2025, as we know it now: at risk (the backdated report).
    let may = ok_json(&env, &["show", SUMMIT, "--as-of", "2025-05-15"]);
    assert_eq!(may["status"], "at_risk");
    // On 30 June: in progress (effective 1 June, after the at-risk report's 1 May).
    let june = ok_json(&env, &["show", SUMMIT, "--as-of", "2025-06-30"]);
    assert_eq!(june["status"], "in_progress");
    assert_eq!(june["label"], "Preparations");
    // What did the ledger say when it held 14 events: no backdated report yet.
    let then = ok_json(
        &env,
        &["show", SUMMIT, "--as-of", "2025-05-15", "--known-at", "14"],
    );
    assert_eq!(then["status"], "announced");
    // Before it was made, it did not exist.
    let out = env.run(&["show", SUMMIT, "--as-of", "2025-01-15"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist in this basis"));

    // A retraction withdraws the report; the history keeps both, marked.
    ok_json(
        &env,
        &[
            "retract",
            &at_risk_event,
            "--reason",
            "recorded against the wrong commitment",
        ],
    );
    let may = ok_json(&env, &["show", SUMMIT, "--as-of", "2025-05-15"]);
    assert_eq!(may["status"], "announced");
    let history = ok_json(&env, &["history", SUMMIT]);
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[2]["event_id"], at_risk_event.as_str());
    assert!(entries[2]["retracted_by"].is_string());
    assert_eq!(entries[3]["type"], "event_retracted");
    assert!(entries[0]["retracted_by"].is_null());

    // The diff between two valid times.
    let diff = ok_json(
        &env,
        &["diff", "--from", "2025-03-01", "--to", "2025-07-01"],
    );
    assert_eq!(diff["changed"][0]["commitment_id"], SUMMIT);
    assert_eq!(
        diff["changed"][0]["status"],
        serde_json::json!({"from": "announced", "to": "in_progress"})
    );
    assert_eq!(diff["added"].as_array().unwrap().len(), 0);
    let diff = ok_json(
        &env,
        &["diff", "--from", "2025-01-01", "--to", "2025-02-01"],
    );
    assert_eq!(diff["added"].as_array().unwrap().len(), 11);

    // Filters.
    let list = ok_json(&env, &["list", "--status", "in_progress"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list = ok_json(&env, &["list", "--party", "Japan"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn known_at_as_an_instant_and_a_prefix_id() {
    let env = Env::empty();
    ok_json(&env, &["demo"]);
    let before = ok_json(&env, &["summary", "--known-at", "2020-01-01"]);
    assert_eq!(before["known_at"]["tree_size"], 0);
    assert_eq!(before["total"], 0);
    // The demo's ids share long prefixes: a short one is ambiguous.
    let out = env.run(&["show", &SUMMIT[..SUMMIT.len() - 2]]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ambiguous"));
    let id = "abcdef01-2345-7000-8000-000000000001";
    ok_json(
        &env,
        &[
            "commit",
            "--id",
            id,
            "--title",
            "Prefix test",
            "--made-on",
            "2025-02-01",
        ],
    );
    let out = ok_json(&env, &["show", "abcdef"]);
    assert_eq!(out["commitment_id"], id);
}

#[test]
fn every_query_format_works() {
    let env = Env::empty();
    ok_json(&env, &["demo"]);
    for cmd in [
        &["list"][..],
        &["show", SUMMIT],
        &["history", SUMMIT],
        &["summary"],
        &["actors"],
        &["diff", "--from", "2025-01-01", "--to", "2025-02-01"],
    ] {
        for format in ["table", "json", "jsonl", "csv"] {
            let mut args = vec!["--format", format];
            args.extend_from_slice(cmd);
            let out = env.run(&args);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
            let text = stdout(&out);
            assert!(!text.trim().is_empty(), "{args:?} printed nothing");
            match format {
                "json" => {
                    serde_json::from_str::<Value>(&text).unwrap();
                }
                "jsonl" => {
                    for line in text.lines() {
                        serde_json::from_str::<Value>(line).unwrap();
                    }
                }
                "csv" => assert!(text.lines().count() >= 2, "{args:?}: {text}"),
                _ => assert!(!text.contains("\u{1b}["), "colour off a terminal: {args:?}"),
            }
        }
    }
}

#[test]
fn bad_query_arguments_exit_2() {
    let env = Env::empty();
    ok_json(&env, &["demo"]);
    for args in [
        &["list", "--status", "done"][..],
        &["summary", "--as-of", "yesterday"],
        &["summary", "--known-at", "99"],
        &["diff", "--from", "2025-13-01", "--to", "2025-01-01"],
        &["show", "zz"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = env.run(&["show", "0194a1c2-7f00-7000-8000-00000000ffff"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn projections_are_caches_deleting_or_rebuilding_them_changes_no_answer() {
    let env = Env::empty();
    ok_json(&env, &["demo"]);
    ok_json(&env, &["status", SUMMIT, "fulfilled", "--label", "Held"]);
    let before = stdout(&env.run(&["--format", "json", "list"]));
    std::fs::remove_dir_all(env.ledger().join("projections")).unwrap();
    assert_eq!(stdout(&env.run(&["--format", "json", "list"])), before);
    let rebuilt = ok_json(&env, &["rebuild"]);
    assert_eq!(rebuilt["tree_size"], 14);
    assert_eq!(stdout(&env.run(&["--format", "json", "list"])), before);
}
