//! Workloads shared by ikrar's benchmarks (realistic events of a given count) and the
//! side-by-side `compare` harness of SPEC §9.

mod appends;
pub mod cli_append;
pub mod compare;
pub mod large_ledger;

use chrono::NaiveDate;
use ikrar_core::{CommitmentMade, EventData, InputEvent};
use uuid::Uuid;

/// `commitment_made` number `n`, about 300 bytes recorded, like a tracker's entry.
///
/// ```
/// let e = ikrar_benches::commitment_made(7);
/// assert_eq!(e.data.type_name(), "commitment_made");
/// ```
pub fn commitment_made(n: u64) -> InputEvent {
    let mut e = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
        commitment_id: Uuid::from_u64_pair(0x0194_a1c2_0000_7000, 0x8000_0000_0000_0000 | n),
        title: format!("Commitment {n}: strengthen cooperation under the 2025 master plan"),
        summary: None,
        owner: Some("Ministry of Foreign Affairs".into()),
        parties: vec!["United States".into(), "Japan".into()],
        themes: vec!["alliance".into()],
        made_on: NaiveDate::from_ymd_opt(2025, 1, 16).expect("valid date"),
        due: None,
    }));
    e.actor = Some("bench".into());
    e
}

/// A small deterministic pseudo-random generator (64-bit LCG), so that every run of a benchmark
/// builds the same ledger and asks the same questions.
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 ^ (self.0 >> 33)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The first day of the synthetic histories.
pub fn history_start() -> chrono::DateTime<chrono::Utc> {
    ikrar_core::moment::start_of_day(NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date"))
}

/// Events per commitment in [`history_ledger`].
pub const EVENTS_PER_COMMITMENT: u64 = 100;

/// A ledger of about `events` events: `events / 100` commitments, each made once and then
/// changing status 99 times, with effective dates out of order (backdated reports) and one
/// status change in 50 retracted. Events of different commitments are interleaved, as in a real
/// log. Returns the directory (keep it alive), the ledger and the commitment ids.
pub fn history_ledger(events: u64) -> (tempfile::TempDir, ikrar_core::Ledger, Vec<Uuid>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = ikrar_core::Ledger::create(dir.path().join("ledger")).expect("ledger");
    let ids = fill_history(&ledger, events);
    (dir, ledger, ids)
}

/// [`history_ledger`], kept between runs under `target/bench-ledgers/` (a 10,000,000-event
/// ledger takes minutes to build). Rebuilt if missing or of another size.
pub fn cached_history_ledger(events: u64) -> (ikrar_core::Ledger, Vec<Uuid>) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target
        .join("bench-ledgers")
        .join(format!("history-{events}"));
    let commitments = (events / EVENTS_PER_COMMITMENT).max(1);
    let ids: Vec<Uuid> = (0..commitments).map(commitment_id).collect();
    if let Ok(ledger) = ikrar_core::Ledger::open(&path) {
        if ledger.head().tree_size >= events.min(commitments * EVENTS_PER_COMMITMENT) {
            return (ledger, ids);
        }
    }
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("bench-ledgers dir");
    let ledger = ikrar_core::Ledger::create(&path).expect("ledger");
    fill_history(&ledger, events);
    (ledger, ids)
}

/// A ledger of `events` `commitment_made` events (the cheapest to build), kept between runs
/// under `target/bench-ledgers/`: for workloads that depend only on the tree's size, like
/// proofs at 10,000,000 events.
pub fn cached_bulk_ledger(events: u64) -> ikrar_core::Ledger {
    let path = bench_ledgers_dir().join(format!("bulk-{events}"));
    if let Ok(ledger) = ikrar_core::Ledger::open(&path) {
        if ledger.head().tree_size == events {
            return ledger;
        }
    }
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("bench-ledgers dir");
    let ledger = ikrar_core::Ledger::create(&path).expect("ledger");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batch = ikrar_core::EVENTS_PER_APPEND_MAX as u64;
    let mut next = 0;
    while next < events {
        let end = (next + batch).min(events);
        rt.block_on(ledger.append((next..end).map(commitment_made).collect()))
            .expect("append");
        next = end;
    }
    ledger
}

fn bench_ledgers_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench-ledgers")
}

pub(crate) fn commitment_id(n: u64) -> Uuid {
    Uuid::from_u64_pair(0x0194_a1c2_0000_7000, 0x8000_0000_0000_0000 | n)
}

fn fill_history(ledger: &ikrar_core::Ledger, events: u64) -> Vec<Uuid> {
    use ikrar_core::{CommitmentStatusChanged, EventRetracted, Moment, Status};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let commitments = (events / EVENTS_PER_COMMITMENT).max(1);
    let ids: Vec<Uuid> = (0..commitments).map(commitment_id).collect();
    let mut rng = Lcg::new(42);
    let mut batch: Vec<InputEvent> = Vec::with_capacity(ikrar_core::EVENTS_PER_APPEND_MAX);
    let mut last_status_event: Vec<Option<Uuid>> = vec![None; ids.len()];
    let flush = |batch: &mut Vec<InputEvent>| {
        if !batch.is_empty() {
            rt.block_on(ledger.append(std::mem::take(batch)))
                .expect("append");
        }
    };
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date");
    for round in 0..EVENTS_PER_COMMITMENT {
        for (i, id) in ids.iter().enumerate() {
            let made_on = start + chrono::Duration::days((i % 365) as i64);
            let mut e = if round == 0 {
                let mut e = commitment_made(i as u64);
                if let EventData::CommitmentMade(d) = &mut e.data {
                    d.commitment_id = *id;
                    d.made_on = made_on;
                    d.parties = vec![["United States", "Japan", "China", "G7"][i % 4].to_string()];
                }
                e
            } else if round % 50 == 0 && last_status_event[i].is_some() {
                let mut e = InputEvent::new(EventData::EventRetracted(EventRetracted {
                    event_id: last_status_event[i].take().expect("checked"),
                }));
                e.reason = Some("recorded in error".into());
                e
            } else {
                let event_id = Uuid::from_u64_pair(rng.next_u64(), rng.next_u64());
                last_status_event[i] = Some(event_id);
                let mut e = InputEvent::new(EventData::CommitmentStatusChanged(
                    CommitmentStatusChanged {
                        commitment_id: *id,
                        status: Status::ALL[rng.below(8) as usize],
                        label: (rng.below(2) == 0).then(|| "Underway – on track".to_string()),
                    },
                ));
                e.event_id = Some(event_id);
                // Up to ~4 years after made_on, in any order: backdated reports included.
                let days = rng.below(1_500) as i64;
                e.effective = Some(Moment::Date(made_on + chrono::Duration::days(days)));
                e
            };
            e.actor = Some("bench".into());
            batch.push(e);
            if batch.len() == ikrar_core::EVENTS_PER_APPEND_MAX {
                flush(&mut batch);
            }
        }
    }
    flush(&mut batch);
    drop(rt);
    ids
}
