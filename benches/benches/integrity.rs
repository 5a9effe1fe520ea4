//! Verification at scale (SPEC §9): `verify` throughput on 1,000,000 events (bar: ≥ 1,000,000
//! events/s), and inclusion / consistency proofs at 10,000,000 events (bar: ≤ 1 ms), generated
//! from the stored tree and verified.
//!
//! `IKRAR_BENCH_VERIFY_EVENTS` and `IKRAR_BENCH_PROOF_EVENTS` set the sizes (defaults 1,000,000
//! and 10,000,000). The ledgers are kept under `target/bench-ledgers/` between runs; the proof
//! ledger holds `commitment_made` events only, since a proof's cost depends on the tree's size.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::Instant;

use criterion::{criterion_group, Criterion};
use ikrar_benches::{cached_bulk_ledger, cached_history_ledger, Lcg};
use ikrar_core::proof::{verify_consistency, verify_inclusion};
use ikrar_core::Hash;

fn size(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn verify_throughput() {
    let (ledger, _) = cached_history_ledger(size("IKRAR_BENCH_VERIFY_EVENTS", 1_000_000));
    let n = ledger.head().tree_size;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        ledger.verify().expect("the bench ledger verifies");
        best = best.min(t.elapsed().as_secs_f64());
    }
    eprintln!(
        "verify: {n} events in {best:.2} s (best of 3) = {:.0} events/s (bar: >= 1,000,000 events/s)",
        n as f64 / best
    );
}

fn proofs(c: &mut Criterion) {
    verify_throughput();
    // Proof costs depend only on the tree's size: the cheapest ledger of that size will do.
    let started = Instant::now();
    let ledger = cached_bulk_ledger(size("IKRAR_BENCH_PROOF_EVENTS", 10_000_000));
    eprintln!(
        "proof ledger ready in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let n = ledger.head().tree_size;
    let root = ledger.head().root;
    eprintln!("proofs against a tree of {n} events");
    let mut group = c.benchmark_group("proofs");
    let mut rng = Lcg::new(3);
    group.bench_function("inclusion_generate", |b| {
        b.iter(|| ledger.inclusion_proof(rng.below(n), n).expect("proof"))
    });
    group.bench_function("consistency_generate", |b| {
        b.iter(|| {
            ledger
                .consistency_proof(1 + rng.below(n - 1), n)
                .expect("proof")
        })
    });
    // Verification of pre-built proofs (the leaf hash read once, outside the loop).
    let samples: Vec<(u64, Hash, Vec<Hash>)> = (0..256)
        .map(|_| {
            let p = rng.below(n);
            let leaf = Hash::leaf(&ledger.read(p).expect("record").bytes);
            (p, leaf, ledger.inclusion_proof(p, n).expect("proof"))
        })
        .collect();
    let mut i = 0;
    group.bench_function("inclusion_verify", |b| {
        b.iter(|| {
            let (p, leaf, proof) = &samples[i % samples.len()];
            i += 1;
            verify_inclusion(*leaf, *p, n, proof, root).expect("valid")
        })
    });
    let consistency: Vec<(u64, Hash, Vec<Hash>)> = (0..256)
        .map(|_| {
            let m = 1 + rng.below(n - 1);
            (
                m,
                ledger.root_at(m).expect("root"),
                ledger.consistency_proof(m, n).expect("proof"),
            )
        })
        .collect();
    group.bench_function("consistency_verify", |b| {
        b.iter(|| {
            let (m, old, proof) = &consistency[i % consistency.len()];
            i += 1;
            verify_consistency(*m, n, *old, root, proof).expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, proofs);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
