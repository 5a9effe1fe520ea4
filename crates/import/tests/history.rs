//! Synthetic histories imported through the library, checked in every basis SPEC §12 names: at
//! the tree size after snapshot k, as of its date, the ledger answers what snapshot k said.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use common::history::{self, Snapshot};
use ikrar_core::Ledger;
use ikrar_import::{import, plan, record, Format, Mapping, Options, Progress};
use ikrar_state::{ListFilter, Projection, ResolvedBasis};

type Rows = Vec<(String, &'static str, Option<String>)>;

fn snapshots(history: &[Snapshot], format: &str) -> Vec<ikrar_import::Snapshot> {
    let f = match format {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => Format::Yaml,
    };
    history
        .iter()
        .map(|s| ikrar_import::Snapshot {
            name: format!("{}.{format}", s.date),
            date: s.date.parse().unwrap(),
            url: Some(format!("https://tracker.example/{}.{format}", s.date)),
            format: f,
            bytes: s.render(format).into_bytes(),
        })
        .collect()
}

/// What a list in a basis says, comparable with a snapshot's rows.
fn listed(p: &Projection, basis: &ResolvedBasis) -> Rows {
    let mut rows: Rows = p
        .list_in(&ListFilter::default(), basis)
        .unwrap()
        .into_iter()
        .map(|c| {
            let status = c.status.as_str();
            let label = (status != "announced").then(|| c.label.clone()).flatten();
            (history::title_start(&c.title), status, label)
        })
        .collect();
    rows.sort();
    rows
}

fn expected(s: &Snapshot, keep: impl Fn(usize) -> bool) -> Rows {
    let mut rows: Rows = s
        .rows
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, r)| (r.title_start(), r.status(), r.shown_label()))
        .collect();
    rows.sort();
    rows
}

async fn check_history(seed: u64, format: &str, on_missing: &str) {
    let history = history::history(seed, 8, 24);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let mapping = Mapping::from_toml(&history::mapping(on_missing), "m.toml").unwrap();
    let options = Options::new("tester");
    // Through a chain of appends: each snapshot at the tree size `import` says it recorded.
    let progress = Progress {
        reading: &mut |_, _| {},
        recording: &mut |_, _| {},
    };
    let (planned, recorded) = import(
        &ledger,
        &mapping,
        snapshots(&history, format),
        &options,
        progress,
    )
    .await
    .unwrap_or_else(|e| panic!("seed {seed} {format}: {e}"));
    let projection = Projection::open(&ledger).unwrap();
    let dates: Vec<DateTime<Utc>> = planned.steps.iter().map(|s| s.date.start()).collect();
    let what = |k: usize| format!("seed {seed}, {format}, on_missing {on_missing}, snapshot {k}");

    for (k, s) in history.iter().enumerate() {
        let at_k = ResolvedBasis::new(recorded[k].tree_size, planned.steps[k].date.end());
        let summary = projection.summary_in(&at_k);
        let by_status: BTreeMap<&str, u64> = summary
            .by_status
            .iter()
            .map(|(st, n)| (st.0.as_str(), *n))
            .filter(|(_, n)| *n > 0)
            .collect();
        let withdrawn_extra = if on_missing == "withdraw" {
            listed(&projection, &at_k)
                .iter()
                .filter(|r| r.1 == "withdrawn")
                .count() as u64
        } else {
            0
        };
        let mut want = s.counts();
        if withdrawn_extra > 0 {
            *want.entry("withdrawn").or_default() += withdrawn_extra;
        }
        assert_eq!(by_status, want, "{}", what(k));
        if on_missing == "retract" {
            assert_eq!(
                listed(&projection, &at_k),
                expected(s, |_| true),
                "{}",
                what(k)
            );
        }

        // Between snapshot k and k + 1, as known after k + 1: snapshot k's state, less the keys
        // k + 1 took back (retracted: withdrawn in error, whatever the valid time).
        if let (Some(next), Some(t_next)) = (history.get(k + 1), dates.get(k + 1)) {
            if on_missing != "retract" {
                continue;
            }
            let between = ResolvedBasis::new(
                recorded[k + 1].tree_size,
                *t_next - TimeDelta::microseconds(1),
            );
            let next_keys = next.keys();
            let keys = s.keys();
            let want = expected(s, |i| next_keys.contains(&keys[i]));
            assert_eq!(listed(&projection, &between), want, "between {}", what(k));
        }
    }

    // Running it again records nothing.
    let again = plan(&ledger, &mapping, snapshots(&history, format), &options)
        .await
        .unwrap();
    assert_eq!(again.new_events(), 0, "{}", what(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_histories_answer_what_each_snapshot_said() {
    for seed in 0..6 {
        for format in ["csv", "json", "yaml"] {
            check_history(seed, format, "retract").await;
        }
        check_history(seed, "json", "withdraw").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_continued_one_snapshot_at_a_time_ends_with_the_same_ledger() {
    let history = history::history(42, 6, 20);
    let mapping = Mapping::from_toml(&history::mapping("retract"), "m.toml").unwrap();
    let options = Options::new("tester");
    let all = snapshots(&history, "json");

    let whole_dir = tempfile::tempdir().unwrap();
    let whole = Ledger::create(whole_dir.path().join("l")).unwrap();
    let p = plan(&whole, &mapping, all.clone(), &options).await.unwrap();
    record(&whole, &p, &mut |_| {}).await.unwrap();

    let steps_dir = tempfile::tempdir().unwrap();
    let steps = Ledger::create(steps_dir.path().join("l")).unwrap();
    // The first three together, then one at a time, each from the dates the import gave
    // (a later run knows nothing of the earlier run's moved dates but what the ledger says).
    let moved: Vec<ikrar_import::Snapshot> = all
        .iter()
        .zip(&p.steps)
        .map(|(s, step)| ikrar_import::Snapshot {
            date: step.date,
            ..s.clone()
        })
        .collect();
    // Recorded through chains, the whole one planned and recorded apart: the same ledger.
    for part in [&moved[..3], &moved[3..4], &moved[4..5], &moved[5..]] {
        let progress = Progress {
            reading: &mut |_, _| {},
            recording: &mut |_, _| {},
        };
        import(&steps, &mapping, part.to_vec(), &options, progress)
            .await
            .unwrap();
    }
    assert_eq!(common::log(&whole), common::log(&steps));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Any history, not only the seeds above: in every basis, what each snapshot said.
    #[test]
    fn any_history_answers_what_each_snapshot_said(seed in proptest::prelude::any::<u64>(), format in 0usize..3) {
        let format = ["csv", "json", "yaml"][format];
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check_history(seed, format, "retract"));
    }
}
