//! The transparency-log bars of SPEC §9, over HTTP on loopback:
//!
//! * a full hash tile or entry bundle at `IKRAR_BENCH_TLOG_EVENTS` events (default 10,000,000;
//!   the ledger is kept under `target/bench-ledgers/`): p99 ≤ 1 ms;
//! * a client downloading the whole log through `/log/` (every entry bundle, in order, one
//!   keep-alive connection) against exporting it (every record read and written as a line, as
//!   `ikrar export` does): ≥ 0.5 × the export's events/s;
//! * a checkpoint cosigned by 3 witnesses on loopback: ≤ 100 ms from signing to the last
//!   cosignature stored.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikrar_benches::{cached_bulk_ledger, commitment_made, Lcg};
use ikrar_core::{Ledger, SignerKey};
use ikrar_tlog::cosignature::Vkey;
use ikrar_tlog::path::{encode_index, TileKind, TilePath};
use ikrar_tlog::tile_files::TileFiles;
use ikrar_tlog::witness::{Witness, WitnessDir};
use ikrar_tlog::{Publisher, WitnessEndpoint};

fn size(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

async fn serve(ledger: Ledger, files: Option<Arc<TileFiles>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = ikrar_tlog::http::routes_with_files(ledger, files);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn tiles(base: &str, n: u64, kinds: &[(&str, TileKind)]) {
    let client = reqwest::Client::new();
    let full_tiles = n / 256;
    let mut rng = Lcg::new(7);
    for &(what, kind) in kinds {
        let mut times = Vec::new();
        for i in 0..2_200 {
            let path = TilePath {
                kind,
                index: rng.below(full_tiles),
                width: 256,
            };
            let t = Instant::now();
            let body = client
                .get(format!("{base}/log/{}", path.to_path()))
                .send()
                .await
                .unwrap();
            assert!(body.status().is_success());
            let bytes = body.bytes().await.unwrap();
            if i >= 200 {
                times.push(t.elapsed());
            }
            assert!(!bytes.is_empty());
        }
        times.sort();
        eprintln!(
            "tlog-tiles: a full {what} at {n} events over HTTP: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (bar: p99 <= 1 ms)",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            percentile(&times, 1.0)
        );
    }
}

/// The same reads without HTTP: where the time of a bundle goes.
fn library_reads(ledger: &Ledger, n: u64) {
    let mut rng = Lcg::new(11);
    for (what, kind) in [
        ("hash tile", TileKind::Hashes(0)),
        ("entry bundle", TileKind::Entries),
    ] {
        let mut times = Vec::new();
        for _ in 0..2_000 {
            let path = TilePath {
                kind,
                index: rng.below(n / 256),
                width: 256,
            };
            let t = Instant::now();
            let bytes = ikrar_tlog::tiles::read(ledger, &path).unwrap().unwrap();
            times.push(t.elapsed());
            assert!(!bytes.is_empty());
        }
        times.sort();
        eprintln!(
            "tlog-tiles: a full {what} at {n} events, read by the library (no HTTP): p50 {:.3} ms, p99 {:.3} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
}

async fn download_vs_export(base: &str, ledger: &Ledger, n: u64) {
    let client = reqwest::Client::new();
    let t = Instant::now();
    let mut bytes = 0usize;
    let mut index = 0u64;
    while index * 256 < n {
        let width = (n - index * 256).min(256);
        let suffix = if width == 256 {
            String::new()
        } else {
            format!(".p/{width}")
        };
        let url = format!("{base}/log/tile/entries/{}{suffix}", encode_index(index));
        bytes += client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len();
        index += 1;
    }
    let download = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut out = std::io::BufWriter::new(std::io::sink());
    for r in ledger.iter_from(0) {
        let r = r.unwrap();
        out.write_all(&r.bytes).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    let export = t.elapsed().as_secs_f64();
    let (d, e) = (n as f64 / download, n as f64 / export);
    eprintln!(
        "tlog-tiles: the whole log ({n} events, {:.0} MB) through /log/ in {download:.2} s = {d:.0} events/s; export {export:.2} s = {e:.0} events/s; ratio {:.2} (bar: >= 0.5)",
        bytes as f64 / 1e6,
        d / e
    );
}

async fn cosigning() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("ledger")).unwrap();
    let key = SignerKey::generate("bench.example/log").unwrap();
    let log_vkey = Vkey::parse(key.verifier_key().text()).unwrap();
    let mut endpoints = Vec::new();
    for i in 0..3 {
        let wdir =
            WitnessDir::init(&dir.path().join(format!("w{i}")), &format!("w.example/{i}")).unwrap();
        wdir.add_log("bench.example/log", &log_vkey).unwrap();
        let witness = Arc::new(Witness::open(wdir).unwrap());
        let vkey = witness.vkey();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(ikrar_tlog::witness::serve(
            listener,
            witness,
            std::future::pending(),
        ));
        endpoints.push(WitnessEndpoint { url, vkey });
    }
    let publisher = Publisher::new(ledger.clone(), key, endpoints).unwrap();
    let mut times = Vec::new();
    for round in 0..60u64 {
        ledger
            .append((round * 10..round * 10 + 10).map(commitment_made).collect())
            .await
            .unwrap();
        let t = Instant::now();
        let signed = publisher.round().await.unwrap().unwrap();
        let cosigs = signed.note.lines().filter(|l| l.starts_with('—')).count() - 1;
        assert_eq!(cosigs, 3, "every round is cosigned by all three");
        if round >= 10 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    eprintln!(
        "cosigning: sign a checkpoint and store 3 witnesses' cosignatures (add-checkpoint on loopback, fsync'd state): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (bar: <= 100 ms)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
}

fn main() {
    let n = size("IKRAR_BENCH_TLOG_EVENTS", 10_000_000);
    let ledger = cached_bulk_ledger(n);
    let key = SignerKey::generate("bench.example/log").unwrap();
    ledger.sign_checkpoint(&key).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The files `ikrar serve` keeps (written here as its background task writes them).
    let files = Arc::new(TileFiles::beside(&ledger).expect("a sled ledger"));
    let t = Instant::now();
    let mut written = 0;
    loop {
        match files.keep_up(&ledger).unwrap() {
            0 => break,
            k => written += k,
        }
    }
    if written > 0 {
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "tlog-tiles: {written} full tile files written in {secs:.1} s ({:.0} tiles/s)",
            written as f64 / secs
        );
    }
    rt.block_on(async {
        let from_store = serve(ledger.clone(), None).await;
        let base = serve(ledger.clone(), Some(files)).await;
        tiles(
            &base,
            n,
            &[
                ("hash tile (from its file)", TileKind::Hashes(0)),
                ("entry bundle (from its file)", TileKind::Entries),
            ],
        )
        .await;
        tiles(
            &from_store,
            n,
            &[
                ("hash tile (from the store alone)", TileKind::Hashes(0)),
                ("entry bundle (from the store alone)", TileKind::Entries),
            ],
        )
        .await;
        library_reads(&ledger, n);
        download_vs_export(&base, &ledger, n).await;
        cosigning().await;
    });
}
