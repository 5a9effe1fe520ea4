//! Durable appends: one event at a time, and batches of 1,000 (one flush per batch).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ikrar_benches::commitment_made;
use ikrar_core::Ledger;

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("append");
    group.sample_size(10);

    group.throughput(Throughput::Elements(1_000));
    group.bench_function("batch_of_1000", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::create(dir.path().join("l")).expect("ledger");
        let mut n = 0u64;
        b.iter_batched(
            || {
                let events: Vec<_> = (n..n + 1_000).map(commitment_made).collect();
                n += 1_000;
                events
            },
            |events| rt.block_on(ledger.append(events)).expect("append"),
            BatchSize::LargeInput,
        );
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("single_event", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::create(dir.path().join("l")).expect("ledger");
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            rt.block_on(ledger.append(vec![commitment_made(n)]))
                .expect("append")
        });
    });
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
