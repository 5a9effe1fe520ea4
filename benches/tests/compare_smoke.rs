//! The compare harness works end to end at a tiny size (the real runs are benchmarks).

use ikrar_benches::compare::{measure_here, run, Sizes};

#[test]
fn the_compare_harness_evaluates_every_workload() {
    // With a PostgreSQL server configured (as in CI), the postgres column is exercised too.
    let postgres = ikrar_testkit::postgres_url();
    let workloads = run(&Sizes::tiny(), &measure_here, postgres.as_deref());
    let json = serde_json::to_value(serde_json::json!({ "workloads": workloads })).unwrap();
    let rows = json["workloads"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert!(
        rows.iter()
            .any(|r| r["name"].as_str().unwrap().starts_with("search of titles")),
        "{rows:?}"
    );
    for row in rows {
        for key in [
            "name",
            "unit",
            "ikrar",
            "sqlite",
            "sled_raw",
            "ratio_vs_sqlite",
            "ratio_vs_sled_raw",
            "bar_met",
        ] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
        assert!(row["ikrar"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["bar_met"].is_boolean());
    }
    // The throughput workloads have both baselines, and the PostgreSQL figure when a server
    // is given (verify too).
    for row in &rows[..3] {
        assert!(
            row["sqlite"].as_f64().unwrap() > 0.0 && row["sled_raw"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert_eq!(row["postgres"].is_number(), postgres.is_some(), "{row}");
    }
    // Memory has the raw sled scan as its baseline.
    assert!(rows[9]["sled_raw"].as_f64().unwrap() > 0.0, "{}", rows[9]);
    assert_eq!(
        rows[3]["postgres"].is_number(),
        postgres.is_some(),
        "{}",
        rows[3]
    );
}
