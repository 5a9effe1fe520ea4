//! `ikrar import-snapshots` (SPEC §12), through the binary: synthetic histories in CSV, JSON and
//! YAML answered in every basis, the Canada tracker's raw export, `--git` against the same
//! files, reruns (a SIGKILL mid-import: `import_killed.rs`), `--dry-run`, and every bad input (exit 2, nothing
//! written).

#[path = "../../crates/import/tests/common/history.rs"]
pub(crate) mod history;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use serde_json::Value;

use crate::{json, ok_json, stderr, Env};

/// Writes a history's snapshots as files and returns the `DATE=FILE` arguments.
pub(crate) fn write_history(env: &Env, history: &[history::Snapshot], format: &str) -> Vec<String> {
    history
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let path = env.file(&format!("s{k:02}.{format}"), &s.render(format));
            format!("{}={}", s.date, path.display())
        })
        .collect()
}

pub(crate) fn import(env: &Env, mapping: &Path, args: &[String]) -> std::process::Output {
    let mut full = vec![
        "--format".to_string(),
        "json".to_string(),
        "import-snapshots".to_string(),
        "--mapping".to_string(),
        mapping.display().to_string(),
    ];
    full.extend(args.iter().cloned());
    env.cmd().args(&full).output().unwrap()
}

pub(crate) fn import_ok(env: &Env, mapping: &Path, args: &[String]) -> Value {
    let out = import(env, mapping, args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)
}

/// The ledger's events without what the ledger assigns at recording (`recorded_at`): two
/// ledgers that got the same appends compare equal.
pub(crate) fn log_without_times(env: &Env) -> Vec<Value> {
    let out = env.run(&["log"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("recorded_at");
            v
        })
        .collect()
}

fn listed(env: &Env, basis: &[&str]) -> Vec<(String, String, Option<String>)> {
    let mut args = vec!["list"];
    args.extend_from_slice(basis);
    let mut rows: Vec<_> = ok_json(env, &args)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let status = c["status"].as_str().unwrap().to_string();
            let label = c["label"].as_str().map(str::to_string);
            let label = if status == "announced" { None } else { label };
            (
                history::title_start(c["title"].as_str().unwrap()),
                status,
                label,
            )
        })
        .collect();
    rows.sort();
    rows
}

fn rows_of(
    s: &history::Snapshot,
    keep: impl Fn(usize) -> bool,
) -> Vec<(String, String, Option<String>)> {
    let mut rows: Vec<_> = s
        .rows
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, r)| (r.title_start(), r.status().to_string(), r.shown_label()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn synthetic_histories_answer_what_each_snapshot_said_in_every_format() {
    let history = history::history(7, 5, 15);
    let backwards = history.windows(2).any(|w| w[1].date <= w[0].date);
    for format in ["csv", "json", "yaml"] {
        let env = Env::with_ledger();
        let mapping = env.file("m.toml", &history::mapping("retract"));
        let args = write_history(&env, &history, format);
        let out = import(&env, &mapping, &args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).contains("not after the snapshot before it"),
            backwards,
            "{}",
            stderr(&out)
        );
        let report = json(&out);
        let steps = report["snapshots"].as_array().unwrap();
        assert_eq!(steps.len(), history.len());
        for (k, s) in history.iter().enumerate() {
            let size = steps[k]["tree_size"].to_string();
            let date = steps[k]["date"].as_str().unwrap();
            let basis = ["--known-at", size.as_str(), "--as-of", date];
            let mut args = vec!["summary"];
            args.extend_from_slice(&basis);
            let summary = ok_json(&env, &args);
            let by_status: BTreeMap<&str, u64> = summary["by_status"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_u64().unwrap()))
                .filter(|(_, n)| *n > 0)
                .collect();
            assert_eq!(by_status, s.counts(), "{format}, snapshot {k}");
            assert_eq!(
                listed(&env, &basis),
                rows_of(s, |_| true),
                "{format}, snapshot {k}"
            );
        }
        // Between the first two snapshots, as known after the second: the first one's state,
        // less what the second took back.
        let size = steps[1]["tree_size"].to_string();
        let first: chrono::DateTime<chrono::Utc> = steps[0]["date"]
            .as_str()
            .unwrap()
            .parse::<ikrar_core::Moment>()
            .unwrap()
            .end();
        let second = steps[1]["date"]
            .as_str()
            .unwrap()
            .parse::<ikrar_core::Moment>()
            .unwrap()
            .start();
        let between = (first.min(second - chrono::TimeDelta::seconds(1))).to_rfc3339();
        let (keys0, keys1) = (history[0].keys(), history[1].keys());
        assert_eq!(
            listed(&env, &["--known-at", &size, "--as-of", &between]),
            rows_of(&history[0], |i| keys1.contains(&keys0[i])),
            "{format}, between"
        );
        // A rerun records nothing.
        let before = env.export();
        let again = import_ok(&env, &mapping, &args);
        assert_eq!(again["new_events"], 0);
        assert_eq!(env.export(), before);
    }
}

#[test]
fn the_canada_raw_export_gives_the_trackers_own_counts_and_a_second_import_nothing() {
    let raw = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/data/canada-mandate-letter-tracker-2017/mlt_raw_export_2017-11.json",
    );
    let env = Env::with_ledger();
    let mapping = env.file("canada.toml", ikrar_import::EXAMPLE_MAPPING);
    let args = [format!("2017-11-01={}", raw.display())];
    let report = import_ok(&env, &mapping, &args);
    assert_eq!(report["snapshots"][0]["made"], 364);
    let summary = ok_json(&env, &["summary"]);
    assert_eq!(summary["total"], 364);
    let expected = serde_json::json!({"announced": 42, "in_progress": 239, "at_risk": 13,
        "fulfilled": 66, "partially_fulfilled": 1, "broken": 0, "withdrawn": 3, "superseded": 0});
    assert_eq!(summary["by_status"], expected);
    // The tracker's own labels are kept where they changed the status.
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    for c in ok_json(&env, &["list"]).as_array().unwrap() {
        if let Some(l) = c["label"].as_str() {
            *labels.entry(l.to_string()).or_default() += 1;
        }
    }
    assert_eq!(labels["Underway - on track"], 218);
    assert_eq!(labels["Completed - fully met"], 66);
    assert_eq!(labels["Not being pursued"], 3);

    let before = env.export();
    let again = import_ok(&env, &mapping, &args);
    assert_eq!(again["new_events"], 0);
    assert_eq!(again["snapshots"][0]["already_recorded"], 364 + 322);
    assert_eq!(env.export(), before);
}

fn git(repo: &Path, args: &[&str], date: Option<&str>) {
    let mut c = Process::new("git");
    c.arg("-C").arg(repo).args(args);
    c.env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid");
    c.env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
    if let Some(d) = date {
        c.env("GIT_COMMITTER_DATE", d).env("GIT_AUTHOR_DATE", d);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_git_history_gives_the_same_ledger_as_its_files() {
    let history = history::history(11, 5, 12);
    let by_git = Env::with_ledger();
    let repo = by_git.dir.path().join("tracker");
    std::fs::create_dir_all(repo.join("data")).unwrap();
    git(&repo, &["init", "-q"], None);
    // Commit times: a day apart, but the fourth commit's clock was wrong (before the third's).
    let times = [
        "2021-03-01T09:00:00Z",
        "2021-03-02T09:00:00Z",
        "2021-03-03T09:00:00Z",
        "2021-03-02T18:00:00Z",
        "2021-03-05T09:00:00Z",
    ];
    let mut files = Vec::new();
    for (k, (s, time)) in history.iter().zip(times).enumerate() {
        // A commit in between whose file does not parse (the tracker's format changed for a
        // while): skipped, with a warning naming it.
        if k == 2 {
            std::fs::write(repo.join("data/promises.json"), "promises:\n  - not json").unwrap();
            git(&repo, &["add", "."], None);
            git(
                &repo,
                &["commit", "-q", "-m", "broken"],
                Some("2021-03-02T12:00:00Z"),
            );
        }
        std::fs::write(repo.join("data/promises.json"), s.json()).unwrap();
        git(&repo, &["add", "."], None);
        git(
            &repo,
            &["commit", "-q", "-m", &format!("snapshot {k}")],
            Some(time),
        );
        let copy = by_git.file(&format!("copy{k}.json"), &s.json());
        files.push(format!("{time}={}", copy.display()));
    }
    let mapping = by_git.file("m.toml", &history::mapping("retract"));
    let spec = format!("{}:data/promises.json", repo.display());
    let out = import(
        &by_git,
        &mapping,
        &["--skip-unreadable".into(), "--git".into(), spec.clone()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warnings = stderr(&out);
    assert!(
        warnings.contains("warning: skipped snapshot") && warnings.contains("not valid JSON"),
        "{warnings}"
    );
    assert!(
        warnings.contains("not after the snapshot before it"),
        "{warnings}"
    );
    assert_eq!(json(&out)["snapshots"].as_array().unwrap().len(), 5);
    // Without --skip-unreadable the broken commit is refused, naming it.
    let fresh = Env::with_ledger();
    let out = import(&fresh, &mapping, &["--git".into(), spec]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("data/promises.json@"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fresh.export(), "");

    let by_files = Env::with_ledger();
    import_ok(&by_files, &mapping, &files);
    assert_eq!(log_without_times(&by_git), log_without_times(&by_files));
}

#[test]
fn dry_run_prints_what_would_be_recorded_and_writes_nothing() {
    let history = history::history(5, 3, 10);
    let env = Env::with_ledger();
    let mapping = env.file("m.toml", &history::mapping("withdraw"));
    let args = write_history(&env, &history, "yaml");
    let mut dry = args.clone();
    dry.push("--dry-run".into());
    let report = import_ok(&env, &mapping, &dry);
    assert_eq!(report["dry_run"], true);
    let counted = report["new_events"].as_u64().unwrap();
    assert_eq!(
        report["snapshots"][0]["made"].as_u64(),
        Some(history[0].rows.len() as u64)
    );
    assert_eq!(env.export(), "");
    let mut jsonl = vec![
        "--format",
        "jsonl",
        "import-snapshots",
        "--mapping",
        mapping.to_str().unwrap(),
    ];
    jsonl.extend(dry.iter().map(String::as_str));
    let out = env.run(&jsonl);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len() as u64, counted);
    assert!(events
        .iter()
        .all(|e| e["source"]["title"].as_str().unwrap().contains("sha256:")));
    assert_eq!(env.export(), "");
    let recorded = import_ok(&env, &mapping, &args);
    assert_eq!(recorded["new_events"].as_u64(), Some(counted));
}

const MAPPING: &str = r#"namespace = "0f8e2d4c-6b1a-4e3f-9d7c-5a4b3c2d1e0f"
key = "id"
title = "title"
label = "status"
[labels]
"Open" = "announced"
"Done" = "fulfilled"
"#;

#[test]
fn bad_input_is_exit_2_naming_the_snapshot_the_row_and_the_field_and_writes_nothing() {
    let env = Env::with_ledger();
    let good = env.file("m.toml", MAPPING);
    let first = env.file("a.csv", "id,title,status\n1,One,Open\n2,Two,Done\n");
    import_ok(&env, &good, &[format!("2024-01-01={}", first.display())]);
    let before = env.export();
    let second = env.file(
        "b.csv",
        "id,title,status\n1,One,Done\n2,Two,Done\n3,Three,Open\n",
    );
    let second = format!("2024-02-01={}", second.display());

    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        (
            "malformed mapping",
            format!("{MAPPING}titel = \"x\"\n"),
            "id,title,status\n1,A,Open\n",
            vec!["mapping", "titel"],
        ),
        (
            "unmapped label",
            MAPPING.into(),
            "id,title,status\n1,A,Open\n2,B,Finished\n",
            vec!["c.csv", "row 2", "field `status`", "Finished"],
        ),
        (
            "no key",
            MAPPING.into(),
            "id,title,status\n1,A,Open\n,B,Open\n",
            vec!["c.csv", "row 2", "field `id`"],
        ),
        (
            "no title",
            MAPPING.into(),
            "id,title,status\n1,,Open\n",
            vec!["c.csv", "row 1", "field `title`"],
        ),
        (
            "duplicate key",
            MAPPING.into(),
            "id,title,status\n1,A,Open\n1,B,Open\n",
            vec!["c.csv", "row 2", "field `id`", "row 1"],
        ),
        (
            "unreadable",
            MAPPING.into(),
            "id,title,status\n1,A,Open,extra\n",
            vec!["c.csv", "not valid CSV"],
        ),
        (
            "no rows",
            MAPPING.into(),
            "id,title,status\n",
            vec!["c.csv", "holds no rows"],
        ),
    ];
    for (what, mapping, third, names) in cases {
        let mapping = env.file("bad.toml", &mapping);
        let third = env.file("c.csv", third);
        let out = import(
            &env,
            &mapping,
            &[second.clone(), format!("2024-03-01={}", third.display())],
        );
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        for name in names {
            assert!(err.contains(name), "{what}: `{name}` not in {err}");
        }
        assert!(err.contains("nothing was written"), "{what}: {err}");
        assert_eq!(env.export(), before, "{what}: something was written");
    }

    // A missing file, a missing mapping, no snapshots at all, a date that is not one.
    let missing = env.dir.path().join("nowhere.csv");
    let usage: Vec<(Vec<String>, &Path, &str)> = vec![
        (
            vec![second.clone(), format!("2024-03-01={}", missing.display())],
            &good,
            "nowhere.csv",
        ),
        (
            vec![second.clone()],
            Path::new("no-mapping.toml"),
            "no-mapping.toml",
        ),
        (vec![], &good, "name the snapshots"),
        (vec!["yesterday=b.csv".into()], &good, "yesterday"),
        (
            vec![second.replace("2024-02-01", "2999-01-01")],
            &good,
            "in the future",
        ),
    ];
    for (args, mapping, name) in usage {
        let out = import(&env, mapping, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(name),
            "{name} not in {}",
            stderr(&out)
        );
        assert_eq!(env.export(), before);
    }

    // With --skip-unreadable, an unreadable snapshot is skipped with a warning naming it.
    let broken = env.file("broken.json", "{\"promises\": [");
    let out = import(
        &env,
        &good,
        &[
            format!("2024-01-15={}", broken.display()),
            second,
            "--skip-unreadable".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: skipped snapshot 2024-01-15="),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)["new_events"], 2);
}

#[test]
fn a_manifest_names_the_snapshots_and_the_url_each_was_published_at() {
    let history = history::history(9, 3, 8);
    let env = Env::with_ledger();
    let mapping = env.file("m.toml", &history::mapping("keep"));
    std::fs::create_dir_all(env.dir.path().join("snapshots")).unwrap();
    let mut manifest = String::from("date,file,url\n");
    for (k, s) in history.iter().enumerate() {
        env.file(&format!("snapshots/{k}.json"), &s.json());
        manifest.push_str(&format!(
            "{},{k}.json,https://tracker.example/archive/{k}.json\n",
            s.date
        ));
    }
    let manifest = env.file("snapshots/manifest.csv", &manifest);
    let report = import_ok(
        &env,
        &mapping,
        &["--manifest".into(), manifest.display().to_string()],
    );
    assert_eq!(report["snapshots"].as_array().unwrap().len(), history.len());
    let urls: std::collections::BTreeSet<String> = log_without_times(&env)
        .iter()
        .map(|e| e["source"]["url"].as_str().unwrap().to_string())
        .collect();
    let expected: std::collections::BTreeSet<String> = (0..history.len())
        .map(|k| format!("https://tracker.example/archive/{k}.json"))
        .filter(|u| urls.contains(u))
        .collect();
    assert!(
        urls.contains("https://tracker.example/archive/0.json"),
        "{urls:?}"
    );
    assert_eq!(urls, expected);

    // A manifest line that is not date,file[,url] is exit 2, naming the line.
    let bad = env.file("snapshots/bad.csv", "date,file\n2024-01-01\n");
    let out = import(
        &env,
        &mapping,
        &["--manifest".into(), bad.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
}
