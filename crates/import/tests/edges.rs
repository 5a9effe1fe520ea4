//! The edges of an import: what the ledger itself refuses is named by snapshot and row, and
//! keys gone from a snapshot are kept, withdrawn or retracted as the mapping says.

use ikrar_core::Ledger;
use ikrar_import::{plan, record, Error, Format, Mapping, Options, Snapshot};

const MAPPING: &str = r#"namespace = "2a9b8c7d-6e5f-4a3b-9c1d-0e2f3a4b5c6d"
key = "id"
title = "title"
label = "status"
reason = "note"
on_missing = "ON_MISSING"
[labels]
"Open" = "announced"
"Doing" = "in_progress"
"Done" = "fulfilled"
"#;

fn mapping(on_missing: &str) -> Mapping {
    Mapping::from_toml(&MAPPING.replace("ON_MISSING", on_missing), "m.toml").unwrap()
}

fn csv(date: &str, text: &str) -> Snapshot {
    Snapshot {
        name: format!("{date}.csv"),
        date: date.parse().unwrap(),
        url: None,
        format: Format::Csv,
        bytes: text.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_ledger_refuses_is_named_by_snapshot_and_row_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    // A reason too long for a record (SPEC §3: at most 65,535 bytes), in the second snapshot.
    let long = "x".repeat(70_000);
    let snapshots = vec![
        csv("2024-01-01", "id,title,status,note\n1,One,Open,\n"),
        csv(
            "2024-02-01",
            &format!("id,title,status,note\n1,One,Open,\n2,Two,Done,{long}\n"),
        ),
    ];
    let err = plan(
        &ledger,
        &mapping("retract"),
        snapshots.clone(),
        &Options::new("t"),
    )
    .await
    .unwrap_err();
    // The same refusal where each snapshot is handed to the writer as it is read (a chain of
    // appends): the first snapshot, staged already, is not written either.
    let progress = ikrar_import::Progress {
        reading: &mut |_, _| {},
        recording: &mut |_, _| {},
    };
    let chained = ikrar_import::import(
        &ledger,
        &mapping("retract"),
        snapshots,
        &Options::new("t"),
        progress,
    )
    .await
    .unwrap_err();
    for err in [err, chained] {
        assert!(err.is_bad_input(), "{err}");
        let text = err.to_string();
        assert!(text.contains("snapshot 2024-02-01.csv, row 2"), "{text}");
        assert!(matches!(err, Error::Ledger { .. }), "{err:?}");
    }
    assert_eq!(ledger.head().tree_size, 0);
    // And the ledger takes an import after it.
    let ok = vec![csv("2024-01-01", "id,title,status,note\n1,One,Open,\n")];
    import(&ledger, "retract", ok).await;
    assert_eq!(ledger.head().tree_size, 1);
}

async fn import(ledger: &Ledger, on_missing: &str, snapshots: Vec<Snapshot>) -> ikrar_import::Plan {
    let p = plan(ledger, &mapping(on_missing), snapshots, &Options::new("t"))
        .await
        .unwrap();
    record(ledger, &p, &mut |_| {}).await.unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_gone_are_kept_withdrawn_or_retracted_as_the_mapping_says() {
    let history = || {
        vec![
            csv(
                "2024-01-01",
                "id,title,status,note\n1,One,Doing,\n2,Two,Done,\n",
            ),
            csv("2024-02-01", "id,title,status,note\n1,One,Doing,\n"),
            csv(
                "2024-03-01",
                "id,title,status,note\n1,One,Doing,\n2,Two,Doing,back\n",
            ),
        ]
    };
    let counts = |p: &ikrar_import::Plan| {
        p.steps
            .iter()
            .map(|s| {
                (
                    s.counts.made,
                    s.counts.status_changed,
                    s.counts.retracted,
                    s.counts.withdrawn,
                )
            })
            .collect::<Vec<_>>()
    };
    for (on_missing, want) in [
        // made, status changed, retracted, withdrawn — per snapshot
        ("keep", vec![(2, 2, 0, 0), (0, 0, 0, 0), (0, 1, 0, 0)]),
        ("withdraw", vec![(2, 2, 0, 0), (0, 0, 0, 1), (0, 1, 0, 0)]),
        // Back after its retraction: a new commitment, and its status.
        ("retract", vec![(2, 2, 0, 0), (0, 0, 1, 0), (1, 1, 0, 0)]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create(dir.path().join("l")).unwrap();
        let p = import(&ledger, on_missing, history()).await;
        assert_eq!(counts(&p), want, "{on_missing}");
        // Continued later with the last snapshot again: nothing new.
        let again = import(&ledger, on_missing, history().split_off(2)).await;
        assert_eq!(again.new_events(), 0, "{on_missing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_returns_to_bytes_it_had_is_another_step() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let a = "id,title,status,note\n1,One,Doing,\n";
    let b = "id,title,status,note\n1,One,Done,\n";
    let p = import(
        &ledger,
        "retract",
        vec![
            csv("2024-01-01", a),
            csv("2024-02-01", b),
            csv("2024-03-01", a),
        ],
    )
    .await;
    assert_eq!(p.steps[2].counts.status_changed, 1);
    assert_eq!(p.steps[0].sha256, p.steps[2].sha256);
    assert_eq!(ledger.head().tree_size, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_older_than_what_was_recorded_is_refused_unless_it_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let jan = csv("2024-01-01", "id,title,status,note\n1,One,Doing,\n");
    let feb = csv(
        "2024-02-01",
        "id,title,status,note\n1,One,Done,\n2,Two,Open,\n",
    );
    let mar = csv(
        "2024-03-01",
        "id,title,status,note\n1,One,Done,\n2,Two,Done,\n",
    );
    import(&ledger, "retract", vec![jan.clone(), mar.clone()]).await;
    let size = ledger.head().tree_size;
    let err = plan(&ledger, &mapping("retract"), vec![feb], &Options::new("t"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("snapshot 2024-02-01.csv")
            && err.to_string().contains("oldest first"),
        "{err}"
    );
    assert_eq!(ledger.head().tree_size, size);
    // The old ones again add nothing, so they may be given.
    let again = import(&ledger, "retract", vec![jan, mar]).await;
    assert_eq!(again.new_events(), 0);
}

/// A row is compared with the snapshot before it and, where it is the same, passed over (it
/// leads to nothing) — unless the ledger's state for its key changed in between by events this
/// import does not compare: here a rerun that leaves out the middle snapshot of three, whose
/// recorded events the ledger folds between the other two. The third snapshot's row equals the
/// first's, but the state it meets is the second's, so it leads again to the status change the
/// first run recorded (already there: nothing new).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_unchanged_since_the_snapshot_before_is_compared_when_the_state_changed_between() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let first = || {
        csv(
            "2024-01-01",
            "id,title,status,note\n1,One,Doing,\n2,Two,Open,\n",
        )
    };
    let third = || {
        csv(
            "2024-03-01",
            "id,title,status,note\n1,One,Doing,\n2,Two,Open,\n3,Three,Open,\n",
        )
    };
    let second = csv(
        "2024-02-01",
        "id,title,status,note\n1,One,Done,\n2,Two,Open,\n",
    );
    let all = import(&ledger, "keep", vec![first(), second, third()]).await;
    assert_eq!(all.steps[2].counts.status_changed, 1, "back to Doing");
    let size = ledger.head().tree_size;

    let rerun = plan(
        &ledger,
        &mapping("keep"),
        vec![first(), third()],
        &Options::new("t"),
    )
    .await
    .unwrap();
    assert_eq!(rerun.new_events(), 0);
    // The first snapshot's two events (made, Doing); the third's status change back to Doing
    // and its new key.
    assert_eq!(rerun.steps[0].already_recorded, 3);
    assert_eq!(rerun.steps[1].already_recorded, 2);
    assert_eq!(ledger.head().tree_size, size);
}
