//! The Government of Canada's Mandate Letter Tracker (November 2017, 364 commitments), recorded
//! through `ikrar append` and summarised: ikrar must give the tracker's own counts.
//!
//! The tracker's statuses map onto SPEC §2.1, and its labels are kept:
//!
//! | status_key | tracker's label | ikrar status |
//! |---|---|---|
//! | ontrack | Underway – on track | in_progress |
//! | met_full | Completed – fully met | fulfilled |
//! | additional_commitment | Additional commitment | announced |
//! | ongoing | On-going commitment | in_progress |
//! | challenging | Underway – with challenges | at_risk |
//! | give_up | Not being pursued | withdrawn |
//! | met_changed | Completed – modified | partially_fulfilled |

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::{json as stdout_json, stderr, Env};

pub(crate) fn data_file() -> PathBuf {
    // The workspace sits beside `shared/`, in development and in CI alike.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/canada-mandate-letter-tracker-2017/mlt_clean_2017-11.json")
}

fn mapping(key: &str) -> (&'static str, &'static str) {
    match key {
        "ontrack" => ("in_progress", "Underway – on track"),
        "met_full" => ("fulfilled", "Completed – fully met"),
        "additional_commitment" => ("announced", "Additional commitment"),
        "ongoing" => ("in_progress", "On-going commitment"),
        "challenging" => ("at_risk", "Underway – with challenges"),
        "give_up" => ("withdrawn", "Not being pursued"),
        "met_changed" => ("partially_fulfilled", "Completed – modified"),
        other => panic!("unknown status_key {other}"),
    }
}

/// The tracker as ikrar input: per commitment, `commitment_made` and the status it had.
/// The data has no dates (it is one snapshot), so both are placed at the snapshot's month.
pub(crate) fn tracker_as_input(items: &[Value]) -> String {
    let mut lines = String::new();
    for (i, item) in items.iter().enumerate() {
        let id = format!("0194a1c2-7f00-7000-8000-{:012x}", 0x2017_0000 + i);
        let ministers: Vec<&str> = item["ministers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let source = json!({"title": "Mandate Letter Tracker", "publisher": "Government of Canada",
                            "published": "2017-11-01", "lang": "en"});
        let made = json!({
            "type": "commitment_made",
            "event_id": format!("0194a1c2-7f00-7000-9000-{:012x}", 0x2017_0000 + 2 * i),
            "source": source,
            "data": {"commitment_id": id, "title": item["commitment"], "owner": ministers.join("; "),
                     "themes": [item["priority"]], "made_on": "2017-11-01"}
        });
        let (status, label) = mapping(item["status_key"].as_str().unwrap());
        let changed = json!({
            "type": "commitment_status_changed",
            "event_id": format!("0194a1c2-7f00-7000-9000-{:012x}", 0x2017_0000 + 2 * i + 1),
            "effective": "2017-11-01",
            "expected_version": 0,
            "source": source,
            "data": {"commitment_id": id, "status": status, "label": label}
        });
        lines.push_str(&format!("{made}\n{changed}\n"));
    }
    lines
}

#[test]
fn the_canada_tracker_gives_the_trackers_own_counts() {
    let raw = std::fs::read_to_string(data_file()).expect("shared/data is beside the workspace");
    let items: Vec<Value> = serde_json::from_str(&raw).unwrap();
    assert_eq!(items.len(), 364);
    let env = Env::with_ledger();
    let path = env.file("canada.jsonl", &tracker_as_input(&items));
    let out = env.run(&["--format", "json", "append", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["tree_size"], 728);

    let out = env.run(&["--format", "json", "summary"]);
    let summary = stdout_json(&out);
    assert_eq!(summary["total"], 364);
    let expected = json!({"announced": 42, "in_progress": 239, "at_risk": 13, "fulfilled": 66,
                          "partially_fulfilled": 1, "broken": 0, "withdrawn": 3, "superseded": 0});
    assert_eq!(summary["by_status"], expected);

    // The tracker's own labels are kept, with the tracker's own counts.
    let out = env.run(&["--format", "json", "list"]);
    let list = stdout_json(&out);
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    for c in list.as_array().unwrap() {
        *labels
            .entry(c["label"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, u64> = [
        ("Underway – on track", 218),
        ("Completed – fully met", 66),
        ("Additional commitment", 42),
        ("On-going commitment", 21),
        ("Underway – with challenges", 13),
        ("Not being pursued", 3),
        ("Completed – modified", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(labels, expected);

    // Before the snapshot, nothing had a status but `announced`... and nothing existed yet.
    let out = env.run(&["--format", "json", "summary", "--as-of", "2017-10-31"]);
    assert_eq!(stdout_json(&out)["total"], 0);
}

/// `ikrar demo canada` records the tracker with its statuses and labels: the tracker's own
/// counts now, everything announced before the snapshot, and nothing new the second time.
#[test]
fn the_canada_demo_has_the_trackers_statuses() {
    let env = Env::empty();
    let first = crate::ok_json(&env, &["demo", "canada"]);
    assert_eq!(first["total"], 364);
    let by_status = &first["by_status"];
    assert_eq!(by_status["in_progress"], 218 + 21);
    assert_eq!(by_status["fulfilled"], 66);
    assert_eq!(by_status["announced"], 42);
    assert_eq!(by_status["at_risk"], 13);
    assert_eq!(by_status["withdrawn"], 3);
    assert_eq!(by_status["partially_fulfilled"], 1);
    let before = crate::ok_json(&env, &["summary", "--as-of", "2016-12-31"]);
    assert_eq!(before["by_status"]["announced"], 364);
    let again = env.run(&["--format", "table", "demo", "canada"]);
    assert!(
        crate::stdout(&again).starts_with("0 of 728 demo events recorded"),
        "{}",
        crate::stdout(&again)
    );
    let labelled = crate::ok_json(&env, &["list", "--status", "at_risk", "--limit", "1"]);
    assert_eq!(labelled[0]["label"], "Underway – with challenges");
}
