//! `ikrar append` of a file of many appends' worth: checked whole, part by part, before its
//! first batch is written (SPEC §3), and never held in memory whole — every rule that looks at
//! earlier events sees the events of earlier parts.

use crate::{cid, eid, json, made_line, stderr, Env};

/// Lines in the file: two and a half parts of 10,000.
const LINES: usize = 25_000;

fn status_line(n: u32, commitment: u32, status: &str) -> String {
    format!(
        r#"{{"type":"commitment_status_changed","event_id":"{}","reason":"reported","data":{{"commitment_id":"{}","status":"{status}"}}}}"#,
        eid(n),
        cid(commitment)
    )
}

fn retraction_line(n: u32, target: u32) -> String {
    format!(
        r#"{{"type":"event_retracted","event_id":"{}","reason":"entered twice","data":{{"event_id":"{}"}}}}"#,
        eid(n),
        eid(target)
    )
}

/// A file whose later parts change, retract and repeat events of earlier parts: commitments
/// 1–12,000 made, then status changes of commitments made 12,000 lines earlier, at line 21,000
/// a retraction of line 12,007's status change, and at line 22,000 a repeat of line 3 with the
/// same content. `replace(number)` may replace any line.
fn file_lines(replace: &dyn Fn(usize) -> Option<String>) -> String {
    let mut text = String::new();
    for number in 1..=LINES {
        let n = number as u32;
        let line = replace(number).unwrap_or_else(|| match number {
            21_000 => retraction_line(100_000 + n, 112_007),
            22_000 => made_line(3),
            1..=12_000 => made_line(n),
            _ => status_line(100_000 + n, (n - 12_001) % 12_000 + 1, "in_progress"),
        });
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[test]
fn a_bad_event_near_the_end_of_a_file_of_many_parts_writes_nothing_and_names_its_line() {
    let env = Env::with_ledger();
    let first = env.file("first.jsonl", &(made_line(0) + "\n"));
    assert_eq!(env.append_file(&first).status.code(), Some(0));
    let before = env.export();

    // Appends the file with line `number` replaced by `line`: refused with `code`, naming the
    // line and the words of the rule; nothing of any part written.
    let refused = |number: usize, line: String, code: i32, words: &[&str]| {
        let text = file_lines(&|n| (n == number).then(|| line.clone()));
        let out = env.append_file(&env.file(&format!("bad-{number}.jsonl"), &text));
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("line {number}")), "{err}");
        for w in words {
            assert!(err.contains(w), "{w}: {err}");
        }
        assert_eq!(
            env.export(),
            before,
            "nothing of the first parts was written"
        );
    };

    // A status change of a commitment that is nowhere, in the third part.
    refused(
        24_990,
        status_line(999_999, 999_999, "fulfilled"),
        2,
        &["data.commitment_id", "nothing was written"],
    );
    // A repeat of a first-part event id with other content: a conflict, naming what differs.
    refused(
        23_000,
        made_line(9).replace("Commitment 9", "Commitment nine"),
        4,
        &["data.title"],
    );
    // Retracting the retraction of line 21,000 (from another part).
    refused(
        24_000,
        retraction_line(777_777, 121_000),
        2,
        &["itself a retraction"],
    );
    // Retracting line 12,007's event again, after line 21,000 did.
    refused(
        24_500,
        retraction_line(777_778, 112_007),
        2,
        &["already retracted"],
    );
}

#[test]
fn a_file_of_many_parts_is_checked_and_appended_whole_from_a_file_or_a_pipe() {
    let env = Env::with_ledger();
    let good = file_lines(&|_| None);
    let path = env.file("good.jsonl", &good);

    // A dry run checks every part and writes nothing: one line repeats another.
    let out = env.run(&[
        "--format",
        "json",
        "append",
        "--dry-run",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        (v["events"].as_u64(), v["new_events"].as_u64()),
        (Some(25_000), Some(24_999))
    );
    assert_eq!(
        v["positions"][21_999], 2,
        "the repeat answers the first line's position"
    );
    assert_eq!(env.export(), "");

    // Appended through a pipe: standard input is read twice by way of a spooled copy.
    let out = env
        .cmd()
        .args(["--format", "json", "append", "-"])
        .write_stdin(good.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["tree_size"], 24_999);
    assert_eq!(v["positions"].as_array().unwrap().len(), LINES);
    let out = env.run(&["--format", "json", "verify"]);
    assert_eq!(json(&out)["tree_size"], 24_999);
    // The retraction of line 21,000 went to the stream of the event it retracts: commitment
    // 7's stream holds lines 7 (version 0), 12,007, 21,000 and 24,007 (version 3).
    let shown = env.run(&["--format", "json", "show", &cid(7)]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    assert_eq!(
        json(&shown)["stream_version"],
        3,
        "{}",
        crate::stdout(&shown)
    );
    let history = env.run(&["--format", "json", "history", &cid(7)]);
    assert!(
        crate::stdout(&history).contains("entered twice"),
        "{}",
        crate::stdout(&history)
    );

    // The same file again: every event a repeat, nothing new.
    let out = env.run(&["--format", "json", "append", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["tree_size"], 24_999);
}
