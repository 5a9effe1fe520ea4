//! `sled_floor`: what sled alone costs, for the figures in docs/performance.md that explain the
//! bars ikrar does not meet.
//!
//! ```sh
//! cargo run --release -p ikrar-benches --bin sled_floor -- layout-write [BATCHES]
//! cargo run --release -p ikrar-benches --bin sled_floor -- scan-rss DB_DIR [TREE]
//! cargo run --release -p ikrar-benches --bin sled_floor -- scan-rss-reopening DB_DIR KEYS_PER_OPEN
//! ```
//!
//! * `layout-write`: sled writing nothing but ikrar's layout for batches of 1,000 records of
//!   400 bytes (16 bundles of 64 records, 8 hash tiles, the head), one flush per batch — the
//!   floor of the bulk workload on sled. Prints events/s.
//! * `scan-rss`: raw sled, with ikrar's cache size, iterating every key of a tree (default
//!   `log`, the tree of a ledger's `db/` directory). Prints the keys, bytes and peak RSS (MiB).
//! * `scan-rss-reopening`: the same scan of `log`, the database closed and opened again every
//!   `KEYS_PER_OPEN` keys: what sled keeps of a scan goes only with its handle.

use std::time::Instant;

use ikrar_benches::compare;

/// Records per bulk batch, as in the `compare` workload.
const BATCH_RECORDS: u64 = 1_000;
/// A typical record's size.
const RECORD_BYTES: usize = 400;

fn layout_write(batches: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new()
        .path(dir.path())
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let tree = db.open_tree("log").expect("tree");
    let record = vec![b'x'; RECORD_BYTES];
    let bundle_records = ikrar_core::BUNDLE_RECORDS_MAX as u64;
    let started = Instant::now();
    let mut position = 0u64;
    for _ in 0..batches {
        let mut batch = sled::Batch::default();
        let end = position + BATCH_RECORDS;
        while position < end {
            let records = bundle_records.min(end - position);
            let mut value = Vec::with_capacity(records as usize * (RECORD_BYTES + 1));
            for i in 0..records {
                if i > 0 {
                    value.push(b'\n');
                }
                value.extend_from_slice(&record);
            }
            let mut key = [b'b'; 9];
            key[1..].copy_from_slice(&position.to_be_bytes());
            batch.insert(&key[..], value);
            position += records;
        }
        for level in 0..8u8 {
            let mut key = [b'h'; 10];
            key[1] = level;
            key[2..].copy_from_slice(&((position / 256) >> level).to_be_bytes());
            batch.insert(&key[..], vec![0u8; 8192]);
        }
        batch.insert(&b"mhead"[..], &[0u8; 48][..]);
        tree.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    let rate = position as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.0} events/s ({batches} batches of {BATCH_RECORDS}, one flush each)");
}

fn scan_rss(path: &str, tree_name: &str) {
    let (keys, bytes) = compare::sled_scan(std::path::Path::new(path), tree_name);
    println!(
        "{keys} keys, {bytes} bytes; peak RSS {:.0} MiB",
        compare::peak_rss_mib()
    );
}

fn scan_rss_reopening(path: &str, keys_per_open: usize) {
    let mut from: Vec<u8> = Vec::new();
    let (mut keys, mut bytes) = (0u64, 0u64);
    loop {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(ikrar_core::CACHE_BYTES_DEFAULT)
            .flush_every_ms(None)
            .open()
            .expect("sled");
        let tree = db.open_tree("log").expect("tree");
        let (mut read, mut last) = (0, None);
        for kv in tree.range(from.clone()..).take(keys_per_open) {
            let (k, v) = kv.expect("read");
            keys += 1;
            bytes += v.len() as u64;
            read += 1;
            last = Some(k);
        }
        match last {
            Some(k) if read == keys_per_open => {
                from = k.to_vec();
                from.push(0);
            }
            _ => break,
        }
    }
    println!(
        "{keys} keys, {bytes} bytes, opened every {keys_per_open} keys; peak RSS {:.0} MiB",
        compare::peak_rss_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("layout-write") => {
            layout_write(args.get(1).map_or(100, |b| b.parse().expect("a number")))
        }
        Some("scan-rss") if args.len() >= 2 => {
            scan_rss(&args[1], args.get(2).map_or("log", String::as_str))
        }
        Some("scan-rss-reopening") if args.len() >= 3 => {
            scan_rss_reopening(&args[1], args[2].parse().expect("a number"))
        }
        _ => {
            eprintln!(
                "usage: sled_floor layout-write [BATCHES] | scan-rss DB_DIR [TREE] \
                 | scan-rss-reopening DB_DIR KEYS_PER_OPEN"
            );
            std::process::exit(2);
        }
    }
}
