//! Finding things and safe retries (SPEC §6): the list filters, meetings, ids by prefix,
//! `--dry-run`, closed pipes, status suggestions and the tokens commands.

use std::process::Stdio;

use crate::{cid, eid, json, ok_json, stderr, stdout, Env};

fn commit(env: &Env, n: u32, title: &str, extra: &[&str]) {
    let id = cid(n);
    let mut args = vec![
        "commit",
        "--id",
        &id,
        "--title",
        title,
        "--made-on",
        "2025-01-16",
    ];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["commitment_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_filters_sorts_and_pages() {
    let env = Env::with_ledger();
    commit(
        &env,
        1,
        "Hold the first Korea–Central Asia summit",
        &[
            "--theme",
            "Regional",
            "--owner",
            "MOFA",
            "--due",
            "2025-12-31",
        ],
    );
    commit(
        &env,
        2,
        "Sommet de la Francophonie à Séoul",
        &["--theme", "culture", "--due", "2025-03-01"],
    );
    commit(
        &env,
        3,
        "Open a consulate in Almaty",
        &["--owner", "mofa", "--party", "Kazakhstan"],
    );
    let out = env.run(&["status", &cid(2), "fulfilled", "--effective", "2025-02-01"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Words, case- and accent-insensitive, each the start of a word.
    assert_eq!(ids(&ok_json(&env, &["list", "--search", "SUMM"])), [cid(1)]);
    assert_eq!(
        ids(&ok_json(&env, &["list", "--search", "seoul sommet"])),
        [cid(2)]
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--search", "ummit"])),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--theme", "regional"])),
        [cid(1)]
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--owner", "MOFA"])),
        [cid(1), cid(3)]
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--party", "Kazakhstan"])),
        [cid(3)]
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--due-before", "2025-06-01"])),
        [cid(2)]
    );
    // Overdue: due before as_of and not done; the fulfilled one is not overdue.
    assert_eq!(
        ids(&ok_json(
            &env,
            &["list", "--overdue", "--as-of", "2026-01-15"]
        )),
        [cid(1)]
    );
    assert_eq!(
        ids(&ok_json(
            &env,
            &["list", "--overdue", "--as-of", "2025-06-01"]
        )),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--sort", "title"])),
        [cid(1), cid(3), cid(2)]
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--sort", "due"])),
        [cid(2), cid(1), cid(3)]
    );
    assert_eq!(
        ids(&ok_json(&env, &["list", "--limit", "1", "--offset", "1"])),
        [cid(2)]
    );
    let bad = env.run(&["list", "--sort", "newest"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("status_since"), "{}", stderr(&bad));

    // A table shows ids whole where they differ only at the end, never wrapped.
    let table = env.run(&["--format", "table", "list"]);
    assert!(stdout(&table).contains(&cid(1)), "{}", stdout(&table));
}

#[test]
fn meetings_are_listed_and_filtered() {
    let env = Env::empty();
    env.run(&["demo"]);
    let all = ok_json(&env, &["meetings"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    // By time held: the 2024 meeting first.
    assert_eq!(all[0]["held_on"], "2024-03-18");
    let later = ok_json(&env, &["meetings", "--from", "2025-01-01"]);
    assert_eq!(later.as_array().unwrap().len(), 1);
    let by_commitment = ok_json(
        &env,
        &[
            "meetings",
            "--commitment",
            "01946d3e-0000-7000-8000-000000000109",
        ],
    );
    assert_eq!(by_commitment.as_array().unwrap().len(), 1);
    let searched = ok_json(&env, &["meetings", "--search", "blinken"]);
    assert_eq!(searched.as_array().unwrap().len(), 1, "{searched}");
}

#[test]
fn ids_are_taken_by_unique_prefix_and_an_ambiguous_one_lists_candidates() {
    let env = Env::with_ledger();
    commit(&env, 0x10, "First", &["--event-id", &eid(0x10)]);
    commit(&env, 0x21, "Second", &["--event-id", &eid(0x21)]);
    let prefix = &cid(0x10)[..30];
    let out = env.run(&["show", prefix]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ambiguous"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&cid(0x10)) && stderr(&out).contains(&cid(0x21)));
    let show = ok_json(&env, &["show", &cid(0x21)[..35]]);
    assert_eq!(show["title"], "Second");
    // `retract` takes an event id prefix too; history shows the event ids.
    let out = env.run(&["retract", &eid(0x21)[..35], "--reason", "recorded in error"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let history = env.run(&["--format", "table", "history", &cid(0x21)]);
    assert!(
        stdout(&history).contains(&eid(0x21)),
        "{}",
        stdout(&history)
    );
    assert!(
        stdout(&history).contains("2 events"),
        "{}",
        stdout(&history)
    );
}

#[test]
fn dry_runs_write_nothing_and_typos_get_suggestions() {
    let env = Env::with_ledger();
    commit(&env, 1, "Summit", &[]);
    let before = env.export();
    for args in [
        vec![
            "commit",
            "--title",
            "X",
            "--made-on",
            "2025-01-01",
            "--dry-run",
        ],
        vec!["status", &cid(1)[..], "fulfilled", "--dry-run"],
        vec![
            "amend",
            &cid(1)[..],
            "--title",
            "Y",
            "--reason",
            "r",
            "--dry-run",
        ],
        vec![
            "meeting",
            "--title",
            "M",
            "--held-on",
            "2025-02-01",
            "--dry-run",
        ],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(json(&out)["dry_run"], true, "{}", stdout(&out));
        let table = env.run(&[&["--format", "table"][..], &args[..]].concat());
        assert!(
            stdout(&table).contains("nothing was written"),
            "{}",
            stdout(&table)
        );
    }
    // A dry run still validates: a bad date is exit 2.
    let out = env.run(&[
        "status",
        &cid(1),
        "fulfilled",
        "--effective",
        "2024-01-01",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.export(), before);

    let out = env.run(&["status", &cid(1), "fulfiled"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `fulfilled`?"),
        "{}",
        stderr(&out)
    );
}

/// Every command, its standard output closed before it writes: no panic, no message, exit 0.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let env = Env::empty();
    env.run(&["demo"]);
    let commands: &[&[&str]] = &[
        &["list"],
        &["meetings"],
        &["show", "01946d3e-0000-7000-8000-000000000109"],
        &["history", "01946d3e-0000-7000-8000-000000000109"],
        &["summary"],
        &["diff", "--from", "2024-01-01", "--to", "2025-12-31"],
        &["actors"],
        &["log"],
        &["export"],
        &["verify"],
        &["demo"],
        &["completions", "bash"],
        &["commit", "--title", "Piped", "--made-on", "2025-01-01"],
    ];
    for command in commands {
        for format in ["table", "json", "jsonl", "csv"] {
            let mut child = env
                .process()
                .args(["--format", format])
                .args(*command)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            drop(child.stdout.take()); // the reader goes away before anything is written
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{command:?} {format}: {err}");
            assert!(err.is_empty(), "{command:?} {format}: {err}");
        }
    }
}

#[test]
fn tokens_are_listed_and_revoked() {
    let env = Env::empty();
    let tokens = env.dir.path().join("tokens.json");
    let file = tokens.to_str().unwrap();
    let added = ok_json(
        &env,
        &[
            "token", "add", "kim", "--role", "recorder", "--tokens", file,
        ],
    );
    let token = added["token"].as_str().unwrap().to_string();
    ok_json(
        &env,
        &["token", "add", "lee", "--role", "reader", "--tokens", file],
    );
    let listed = ok_json(&env, &["token", "list", "--tokens", file]);
    assert_eq!(listed[0]["name"], "kim");
    assert_eq!(listed[1]["role"], "reader");
    assert!(!listed.to_string().contains(&token));
    let hash_prefix = listed[0]["token_sha256_prefix"].as_str().unwrap();
    assert_eq!(hash_prefix.len(), 12);
    let revoked = env.run(&[
        "--format", "json", "token", "revoke", "kim", "--tokens", file,
    ]);
    assert_eq!(revoked.status.code(), Some(0), "{}", stderr(&revoked));
    assert_eq!(json(&revoked)["tokens"], 1);
    let listed = ok_json(&env, &["token", "list", "--tokens", file]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let again = env.run(&["token", "revoke", "kim", "--tokens", file]);
    assert_ne!(again.status.code(), Some(0));
}

#[test]
fn a_reused_event_id_names_the_fields_that_differ() {
    let env = Env::with_ledger();
    commit(&env, 1, "Summit", &["--event-id", &eid(1)]);
    // The same command again is a no-op; with another title and actor, a conflict (exit 4).
    commit(&env, 1, "Summit", &["--event-id", &eid(1)]);
    let out = env.run(&[
        "--actor",
        "root",
        "commit",
        "--id",
        &cid(1),
        "--title",
        "Summit in Astana",
        "--made-on",
        "2025-01-16",
        "--event-id",
        &eid(1),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(r#"data.title: "Summit in Astana" now, "Summit" recorded"#),
        "{err}"
    );
    assert!(
        err.contains(r#"actor: "root" now, "e2e.tester" recorded"#),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
}
