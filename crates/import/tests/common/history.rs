//! Synthetic tracker histories for tests: a table that lives through random additions,
//! removals, status flips in both directions, title edits, repeated keys and titles, rows
//! without a label, several spellings of a label, reappearances, and a snapshot dated before
//! the one before it. Shared by the crate's tests and the end-to-end tests of the binary.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// The mapping every synthetic history is read with (`rows` is ignored for CSV).
pub fn mapping(on_missing: &str) -> String {
    format!(
        r#"namespace = "0f8e2d4c-6b1a-4e3f-9d7c-5a4b3c2d1e0f"
rows = "promises"
key = "id"
on_duplicate_key = "number"
on_missing = "{on_missing}"
long_titles = "truncate"
default_label = "Not started"
title = "title"
label = "status"
reason = "note"

[labels]
"Not started" = "announced"
"In progress" = "in_progress"
"Underway" = "in_progress"
"Stalled" = "at_risk"
"Done" = "fulfilled"
"Achieved" = "fulfilled"
"Broken" = "broken"
"#
    )
}

/// The labels rows carry, as written (with another spelling of two of them); `None` is a row
/// without a label (the mapping's default applies).
const LABELS: [Option<&str>; 10] = [
    Some("Not started"),
    Some("In progress"),
    Some("in  PROGRESS"),
    Some("Underway"),
    Some("Stalled"),
    Some("Done"),
    Some("Achieved"),
    Some("Broken"),
    Some("not started"),
    None,
];

/// The canonical status a label of [`LABELS`] means under [`mapping`].
pub fn status_of(label: Option<&str>) -> &'static str {
    match label.map(|l| {
        l.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }) {
        None => "announced",
        Some(l) => match l.as_str() {
            "not started" => "announced",
            "in progress" | "underway" => "in_progress",
            "stalled" => "at_risk",
            "done" | "achieved" => "fulfilled",
            "broken" => "broken",
            other => panic!("no status for {other}"),
        },
    }
}

/// One row of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub label: Option<String>,
}

impl Row {
    /// The status this row gives its commitment.
    pub fn status(&self) -> &'static str {
        status_of(self.label.as_deref())
    }

    /// The label the ledger shows for it, as far as the spec fixes it: a commitment still
    /// `announced` may show its label or none (its first label needs no status change).
    pub fn shown_label(&self) -> Option<String> {
        if self.status() == "announced" {
            None
        } else {
            self.label.as_ref().map(|l| l.trim().to_string())
        }
    }

    /// The title as the ledger holds it, for comparisons (long titles are cut, so only their
    /// start is compared).
    pub fn title_start(&self) -> String {
        title_start(&self.title)
    }
}

pub fn title_start(title: &str) -> String {
    title.trim().chars().take(60).collect()
}

/// One snapshot: the date it is given, and its rows in order.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub date: String,
    pub rows: Vec<Row>,
}

impl Snapshot {
    /// The keys of its rows as the mapping makes them (`id`, then `id #2`, … for repeats).
    pub fn keys(&self) -> Vec<String> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        self.rows
            .iter()
            .map(|r| {
                let n = seen.entry(&r.id).or_default();
                *n += 1;
                if *n == 1 {
                    r.id.clone()
                } else {
                    format!("{} #{n}", r.id)
                }
            })
            .collect()
    }

    /// Its counts by canonical status.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut c = BTreeMap::new();
        for r in &self.rows {
            *c.entry(r.status()).or_default() += 1;
        }
        c
    }

    pub fn csv(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut out = String::from("id,title,status,note\n");
        for r in &self.rows {
            let label = r.label.as_deref().unwrap_or("");
            out.push_str(&format!(
                "{},{},{},{}\n",
                q(&r.id),
                q(&r.title),
                q(label),
                q("")
            ));
        }
        out
    }

    pub fn json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({"id": r.id, "title": r.title});
                if let Some(l) = &r.label {
                    v["status"] = serde_json::json!(l);
                    v["note"] = serde_json::json!(format!("rated {l}"));
                }
                v
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({"version": 3, "promises": rows})).unwrap()
    }

    pub fn yaml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut out = String::from("version: 3\npromises:\n");
        for r in &self.rows {
            out.push_str(&format!(
                "  - id: {}\n    title: {}\n",
                q(&r.id),
                q(&r.title)
            ));
            if let Some(l) = &r.label {
                out.push_str(&format!("    status: {}\n", q(l)));
            }
        }
        out
    }

    /// The snapshot in a format: `csv`, `json` or `yaml`.
    pub fn render(&self, format: &str) -> String {
        match format {
            "csv" => self.csv(),
            "json" => self.json(),
            "yaml" => self.yaml(),
            other => panic!("no format {other}"),
        }
    }
}

/// splitmix64: a few lines of well-mixed, seedable randomness, so that a failing seed can be
/// replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn label(&mut self) -> Option<String> {
        LABELS[self.below(LABELS.len() as u64) as usize].map(str::to_string)
    }
}

/// A history of `snapshots` snapshots of about `size` rows.
pub fn history(seed: u64, snapshots: usize, size: usize) -> Vec<Snapshot> {
    let mut rng = Rng::new(seed);
    let mut next_id = 0u64;
    let mut fresh = |rng: &mut Rng| {
        next_id += 1;
        let id = format!("P{next_id}");
        let title = if rng.chance(3) {
            // Longer than a ledger title may be: cut on a word boundary by the mapping.
            format!("{id} {}", "a long promise to do many things ".repeat(20))
        } else {
            format!("Promise {id}")
        };
        Row {
            id,
            title,
            label: rng.label(),
        }
    };
    let mut rows: Vec<Row> = (0..size).map(|_| fresh(&mut rng)).collect();
    let mut gone: Vec<Row> = Vec::new();
    let mut day = 0i64;
    let mut out = Vec::new();
    for k in 0..snapshots {
        if k > 0 {
            // Removals, kept aside so that some come back later.
            let mut i = 0;
            while i < rows.len() {
                if rng.chance(12) {
                    gone.push(rows.remove(i));
                } else {
                    i += 1;
                }
            }
            // Reappearances, with whatever label they have now.
            let mut i = 0;
            while i < gone.len() {
                if rng.chance(30) {
                    let mut back = gone.remove(i);
                    back.label = rng.label();
                    rows.push(back);
                } else {
                    i += 1;
                }
            }
            for r in rows.iter_mut() {
                if rng.chance(30) {
                    r.label = rng.label(); // any status after any other
                }
                if rng.chance(8) {
                    r.title = format!("Promise {} revised in snapshot {k}", r.id);
                }
            }
            for _ in 0..rng.below(size as u64 / 4 + 1) {
                let mut row = fresh(&mut rng);
                if rng.chance(10) && !rows.is_empty() {
                    // The same title twice in one snapshot.
                    row.title = rows[rng.below(rows.len() as u64) as usize].title.clone();
                }
                rows.push(row);
            }
            if rng.chance(15) && !rows.is_empty() {
                // The same key twice: keyed by order of appearance.
                let mut twin = rows[rng.below(rows.len() as u64) as usize].clone();
                twin.title = format!("{} (second row)", twin.title);
                rows.push(twin);
            }
        }
        if rows.is_empty() {
            rows.push(fresh(&mut rng));
        }
        // Mostly forwards; now and then a snapshot dated before the one before it.
        day += if k > 0 && rng.chance(15) {
            -3
        } else {
            1 + rng.below(40) as i64
        };
        let date =
            chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::TimeDelta::days(day);
        out.push(Snapshot {
            date: date.format("%Y-%m-%d").to_string(),
            rows: rows.clone(),
        });
    }
    out
}
