//! The recording commands of SPEC §6, through the real binary.

use crate::{ok_json, stderr, stdout, Env};

#[test]
fn every_recording_command_records_and_prints_what_it_made() {
    let env = Env::with_ledger();
    let made = ok_json(
        &env,
        &[
            "commit",
            "--title",
            "Hold the first Korea–Central Asia summit",
            "--made-on",
            "2025-01-16",
            "--party",
            "Central Asia",
            "--theme",
            "summit",
            "--due",
            "2025-12-31",
            "--owner",
            "Ministry of Foreign Affairs",
            "--source-url",
            "https://www.korea.kr/",
            "--source-title",
            "Rencana induk 2025",
        ],
    );
    assert_eq!(made["positions"], serde_json::json!([0]));
    assert_eq!(made["tree_size"], 1);
    let commitment = made["commitment_id"].as_str().unwrap().to_string();

    let status = ok_json(
        &env,
        &[
            "status",
            &commitment,
            "in_progress",
            "--label",
            "Underway",
            "--effective",
            "2025-03-01",
            "--reason",
            "Preparatory talks",
        ],
    );
    assert_eq!(status["positions"], serde_json::json!([1]));
    let amended = ok_json(
        &env,
        &[
            "amend",
            &commitment,
            "--reason",
            "Date announced",
            "--due",
            "2025-06-30",
            "--party",
            "Kazakhstan",
            "--party",
            "Uzbekistan",
        ],
    );
    assert_eq!(amended["tree_size"], 3);
    let meeting = ok_json(
        &env,
        &[
            "meeting",
            "--title",
            "Senior officials' meeting",
            "--held-on",
            "2025-04-02",
            "--location",
            "Seoul",
            "--participant",
            "Cho Tae-yul; Minister of Foreign Affairs; Korea",
            "--participant",
            "An observer",
            "--commitment",
            &commitment,
            "--outcome",
            "Agenda agreed",
        ],
    );
    let meeting_id = meeting["meeting_id"].as_str().unwrap().to_string();
    let other = ok_json(
        &env,
        &["commit", "--title", "Another", "--made-on", "2025-01-16"],
    );
    let other_id = other["commitment_id"].as_str().unwrap().to_string();
    ok_json(&env, &["link", &meeting_id, &other_id]);
    let wrong = ok_json(&env, &["status", &other_id, "broken"]);
    let retracted = ok_json(
        &env,
        &[
            "retract",
            wrong["event_ids"][0].as_str().unwrap(),
            "--reason",
            "wrong commitment",
        ],
    );
    assert_eq!(retracted["tree_size"], 8);

    let view = ok_json(&env, &["show", &commitment]);
    assert_eq!(view["status"], "in_progress");
    assert_eq!(view["due"], "2025-06-30");
    assert_eq!(
        view["parties"],
        serde_json::json!(["Kazakhstan", "Uzbekistan"])
    );
    assert_eq!(view["meetings"], serde_json::json!([meeting_id]));
    let m = ok_json(&env, &["show", &meeting_id]);
    assert_eq!(m["participants"][0]["role"], "Minister of Foreign Affairs");
    assert!(m["participants"][1]["role"].is_null());
    assert_eq!(
        m["commitment_ids"],
        serde_json::json!([commitment, other_id])
    );
    let other_view = ok_json(&env, &["show", &other_id]);
    assert_eq!(other_view["status"], "announced");

    // Recorded as the actor, with the source.
    let log = env.export();
    assert!(log.lines().all(|l| l.contains("\"actor\":\"e2e.tester\"")));
    assert!(log
        .lines()
        .next()
        .unwrap()
        .contains("\"url\":\"https://www.korea.kr/\""));
    // On a table, the id is printed for people.
    let out = env.run(&[
        "--format",
        "table",
        "commit",
        "--title",
        "T",
        "--made-on",
        "2025-01-16",
    ]);
    assert!(stdout(&out).contains("commitment id: "), "{}", stdout(&out));
}

#[test]
fn recording_errors_have_the_exit_codes_of_the_spec() {
    let env = Env::with_ledger();
    let made = ok_json(
        &env,
        &[
            "commit",
            "--id",
            "0194a1c2-7f00-7000-8000-000000000001",
            "--title",
            "T",
            "--made-on",
            "2025-01-16",
        ],
    );
    let id = made["commitment_id"].as_str().unwrap().to_string();
    let before = env.export();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["commit", "--title", "", "--made-on", "2025-01-16"],
            2,
            "data.title",
        ),
        (
            vec!["commit", "--title", "T", "--made-on", "16 January"],
            2,
            "--made-on",
        ),
        (
            vec!["commit", "--title", "T", "--made-on", "2999-01-01"],
            2,
            "later than the moment of recording",
        ),
        (
            vec![
                "commit",
                "--id",
                &id,
                "--title",
                "T",
                "--made-on",
                "2025-01-16",
            ],
            4,
            "expected version no_stream",
        ),
        (vec!["status", &id, "finished"], 2, "unknown status"),
        (
            vec![
                "status",
                "0194a1c2-7f00-7000-8000-0000000000ff",
                "fulfilled",
            ],
            2,
            "no commitment",
        ),
        (
            vec!["status", &id, "fulfilled", "--effective", "2024-01-01"],
            2,
            "before the commitment's made_on",
        ),
        (
            vec!["status", &id, "fulfilled", "--expected-version", "3"],
            4,
            "expected version 3, actual 0",
        ),
        (vec!["amend", &id, "--reason", "r"], 2, "at least one"),
        (vec!["amend", &id, "--title", "New"], 2, "reason"),
        (
            vec![
                "meeting",
                "--title",
                "M",
                "--held-on",
                "2025-01-01",
                "--participant",
                ";x",
            ],
            2,
            "no name",
        ),
        (
            vec!["link", "0194a1c2-7f00-7000-8000-0000000000fe", &id],
            2,
            "no meeting",
        ),
        (
            vec![
                "retract",
                "0194a1c2-7f00-7000-8000-0000000000fd",
                "--reason",
                "r",
            ],
            2,
            "no event",
        ),
        (
            vec!["retract", "0194a1c2-7f00-7000-8000-0000000000fd"],
            2,
            "--reason",
        ),
    ];
    for (args, code, words) in cases {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(words),
            "{args:?}: expected {words:?} in {}",
            stderr(&out)
        );
        assert_eq!(env.export(), before, "{args:?} wrote something");
    }
}

#[test]
fn help_and_completions_are_there_for_new_users() {
    let env = Env::empty();
    let out = env.run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for words in [
        "ikrar demo",
        "Exit codes",
        "--known-at",
        "commit",
        "history",
    ] {
        assert!(help.contains(words), "help lacks {words:?}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = env.run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("ikrar"));
    }
}
