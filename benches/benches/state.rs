//! Queries in any basis on a large ledger (SPEC §9): a commitment's state (bar: p99 ≤ 1 ms at
//! 1,000,000 events) and a summary (bar: ≤ 100 ms with 10,000 commitments, 1,000,000 events).
//!
//! `IKRAR_BENCH_EVENTS` sets the ledger size (default 1,000,000; 100 events per commitment).
//! After criterion's figures it prints the p50/p99 latency of 10,000 random commitment queries.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::Instant;

use criterion::{criterion_group, Criterion};
use ikrar_benches::{history_ledger, Lcg};
use ikrar_state::{Projection, ResolvedBasis};

fn events() -> u64 {
    std::env::var("IKRAR_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn random_basis(rng: &mut Lcg, tree_size: u64) -> ResolvedBasis {
    let known = 1 + rng.below(tree_size);
    let as_of = ikrar_benches::history_start() + chrono::Duration::days(rng.below(2_000) as i64);
    ResolvedBasis::new(known, as_of)
}

fn queries(c: &mut Criterion) {
    let (_dir, ledger, commitments) = history_ledger(events());
    let started = Instant::now();
    let projection = Projection::open(&ledger).expect("projection");
    eprintln!(
        "projection caught up with {} events in {:.1} s",
        ledger.head().tree_size,
        started.elapsed().as_secs_f64()
    );
    let size = ledger.head().tree_size;
    let mut group = c.benchmark_group("state");
    group.sample_size(20);
    let mut rng = Lcg::new(7);
    group.bench_function("commitment_in_random_basis", |b| {
        b.iter(|| {
            let id = commitments[rng.below(commitments.len() as u64) as usize];
            projection.commitment_in(id, &random_basis(&mut rng, size))
        })
    });
    group.bench_function("summary_in_random_basis", |b| {
        b.iter(|| projection.summary_in(&random_basis(&mut rng, size)))
    });
    group.finish();

    let mut latencies_ns: Vec<u64> = (0..10_000)
        .map(|_| {
            let id = commitments[rng.below(commitments.len() as u64) as usize];
            let basis = random_basis(&mut rng, size);
            let t = Instant::now();
            std::hint::black_box(projection.commitment_in(id, &basis).unwrap());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    latencies_ns.sort_unstable();
    let pct = |p: f64| {
        latencies_ns[((latencies_ns.len() as f64 * p) as usize).min(latencies_ns.len() - 1)]
    };
    eprintln!(
        "commitment state, {} events, {} commitments: p50 {:.3} ms, p99 {:.3} ms (bar: p99 <= 1 ms)",
        size,
        commitments.len(),
        pct(0.50) as f64 / 1e6,
        pct(0.99) as f64 / 1e6
    );
}

criterion_group!(benches, queries);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
