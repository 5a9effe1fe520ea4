//! CSV snapshots whose rows an import recognises by their bytes (a row unchanged since the
//! snapshot before is not parsed again, and a continued import begins at the last snapshot the
//! one before it read): whatever the file holds — rows over several lines, quotes, commas, CRLF
//! line ends, blank lines, repeated keys, rows that move — one import of every snapshot, and
//! imports of one snapshot each continuing the one before, record exactly what importing each
//! snapshot with nothing kept records, where every row is parsed.

mod common;

use common::{import_quietly, log};
use ikrar_core::Ledger;
use ikrar_import::{Format, Mapping, Snapshot};

const MAPPING: &str = r#"namespace = "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
key = "id"
on_duplicate_key = "number"
title = "title"
label = "status"
reason = "note"
[labels]
"Open" = "announced"
"Doing" = "in_progress"
"Stuck" = "at_risk"
"Done" = "fulfilled"
"#;

const LABELS: [&str; 4] = ["Open", "Doing", "Stuck", "Done"];

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[derive(Clone)]
struct Row {
    id: String,
    title: String,
    label: usize,
    note: String,
}

/// A field as CSV writes it: quoted where it must be, quotes doubled.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn title(rng: &mut Rng, n: usize) -> String {
    match rng.next(6) {
        0 => format!("Promise {n}, with a comma"),
        1 => format!("Promise {n}: the \"quoted\" one"),
        2 => format!("Promise {n}\nover two lines"),
        _ => format!("Promise {n}"),
    }
}

fn history(seed: u64) -> Vec<Snapshot> {
    let mut rng = Rng(seed);
    let mut rows: Vec<Row> = (0..40)
        .map(|i| Row {
            // Some ids repeat: the rows are numbered by their order.
            id: format!("K{}", if i % 13 == 5 { i - 1 } else { i }),
            title: title(&mut rng, i),
            label: rng.next(4),
            note: String::new(),
        })
        .collect();
    let mut out = Vec::new();
    for k in 0..12 {
        if k > 0 {
            for _ in 0..6 {
                let i = rng.next(rows.len());
                match rng.next(5) {
                    0 => rows[i].label = (rows[i].label + 1) % 4,
                    1 => rows[i].title = title(&mut rng, 100 * k + i),
                    2 => rows[i].note = format!("noted, week {k}"),
                    3 => {
                        // A row moves.
                        let row = rows.remove(i);
                        let to = rng.next(rows.len());
                        rows.insert(to, row);
                    }
                    _ => {
                        // A row goes, another comes (sometimes with a repeated id).
                        rows.remove(i);
                        rows.push(Row {
                            id: format!("K{}", 40 + k * 10 + rng.next(3)),
                            title: title(&mut rng, 1000 + k),
                            label: rng.next(4),
                            note: String::new(),
                        });
                    }
                }
            }
        }
        let end = if k % 4 >= 2 { "\r\n" } else { "\n" };
        let mut text = format!("id,title,status,note{end}");
        for row in &rows {
            text.push_str(&format!(
                "{},{},{},{}{end}",
                field(&row.id),
                field(&row.title),
                LABELS[row.label],
                field(&row.note)
            ));
            if rng.next(15) == 0 {
                text.push_str(end);
            }
        }
        let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
            + chrono::TimeDelta::days(7 * k as i64);
        out.push(Snapshot {
            name: format!("{date}.csv"),
            date: date.to_string().parse().unwrap(),
            url: None,
            format: Format::Csv,
            bytes: text.into_bytes(),
        });
    }
    out
}

async fn imported(ledger: &Ledger, snapshots: &[Snapshot]) {
    imported_under(ledger, MAPPING, snapshots).await
}

async fn imported_under(ledger: &Ledger, mapping: &str, snapshots: &[Snapshot]) {
    let mapping = Mapping::from_toml(mapping, "m.toml").unwrap();
    import_quietly(ledger, &mapping, snapshots).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_found_by_their_bytes_record_what_rows_parsed_record() {
    for seed in 0..8 {
        let snapshots = history(seed);
        let together_dir = tempfile::tempdir().unwrap();
        let together = Ledger::create(together_dir.path().join("l")).unwrap();
        imported(&together, &snapshots).await;

        // One import per snapshot, with nothing kept between them: every row parsed.
        let apart_dir = tempfile::tempdir().unwrap();
        let apart = Ledger::create(apart_dir.path().join("l")).unwrap();
        let kept = apart_dir.path().join("l").join("import-state");
        for s in &snapshots {
            let _ = std::fs::remove_dir_all(&kept);
            imported(&apart, std::slice::from_ref(s)).await;
        }
        assert!(together.head().tree_size > 40, "seed {seed}");
        assert_eq!(log(&together), log(&apart), "seed {seed}");

        // One import per snapshot, each beginning at the snapshot the one before read (and once,
        // with that snapshot's file damaged, at nothing).
        let resumed_dir = tempfile::tempdir().unwrap();
        let resumed = Ledger::create(resumed_dir.path().join("l")).unwrap();
        let last = resumed_dir.path().join("l").join("import-state");
        for (k, s) in snapshots.iter().enumerate() {
            if k == 5 {
                let csv = std::fs::read_dir(&last)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .find(|p| p.extension().is_some_and(|e| e == "csv"))
                    .expect("the last snapshot is kept");
                std::fs::write(csv, b"id,title,status,note\n").unwrap();
            }
            imported(&resumed, std::slice::from_ref(s)).await;
        }
        assert_eq!(log(&resumed), log(&apart), "seed {seed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_kept_under_another_mapping_is_not_compared_with() {
    // The mapping changes between two imports: a label now means another status. The rows of
    // the kept snapshot are the same bytes, but not the same rows to this mapping.
    let changed = MAPPING.replace("\"Stuck\" = \"at_risk\"", "\"Stuck\" = \"in_progress\"");
    assert_ne!(changed, MAPPING);
    let snapshots = history(3);
    // Both sides of the split end their lines alike (LF), so that rows can match.
    let (before, after) = snapshots.split_at(5);
    let mut logs = Vec::new();
    for forget in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create(dir.path().join("l")).unwrap();
        imported(&ledger, before).await;
        if forget {
            std::fs::remove_dir_all(dir.path().join("l").join("import-state")).unwrap();
        }
        imported_under(&ledger, &changed, after).await;
        logs.push(log(&ledger));
    }
    assert_eq!(logs[0], logs[1]);
}
