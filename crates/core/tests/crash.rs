//! Crash harness: a child process appends in a loop, from several concurrent tasks, printing
//! each acknowledged position; the parent kills it with SIGKILL at random moments, then reopens
//! the ledger and checks that every acknowledged event is there, that the log is a gapless
//! prefix, and that `verify` passes. Then it starts the next round on the same ledger.
//!
//! Deterministic by seed: `IKRAR_CRASH_SEED` (default below) chooses the kill delays and the
//! appends; `IKRAR_CRASH_ROUNDS` the number of rounds (default 20). On failure the seed is
//! printed. The test binary runs itself as the child (with `IKRAR_CRASH_CHILD_LEDGER` set).
//! The rounds run on sled, then (with `IKRAR_TEST_POSTGRES` set) on a PostgreSQL ledger.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ikrar_core::{
    CommitmentStatusChanged, EventData, ExpectedVersion, InputEvent, Ledger, Status, StreamId,
};
use uuid::Uuid;

const DEFAULT_SEED: u64 = 0x1c4a_2026;
const CHILD_TASKS: u64 = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn made(id: Uuid, event_id: Uuid) -> InputEvent {
    let mut e = ikrar_testkit::commitment_made(id, format!("Commitment {id}"));
    e.event_id = Some(event_id);
    e.actor = Some("crash-child".into());
    e
}

/// The child: appends forever from several tasks; prints `ack <position> <event id>` per event
/// once its append is acknowledged.
fn child(ledger_path: &str, seed: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ledger = Ledger::open_or_create(ledger_path).expect("open the ledger");
    let out = Arc::new(Mutex::new(std::io::stdout()));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..CHILD_TASKS {
            let ledger = ledger.clone();
            let out = out.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(seed ^ ((task + 1) * 0x9e37_79b9));
                // Each task owns a stream and appends to it with exact expected versions.
                let own = Uuid::from_u64_pair(seed, task);
                let mut n = 0u64;
                loop {
                    n += 1;
                    let mut events = Vec::new();
                    let stream = StreamId::commitment(own);
                    let version = ledger
                        .read_stream(&stream)
                        .unwrap()
                        .last()
                        .map(|r| r.record.version);
                    if version.is_none() {
                        events.push(made(own, Uuid::from_u64_pair(seed ^ 0xabc, task)));
                    }
                    for _ in 0..1 + rng.below(3) {
                        let mut e = InputEvent::new(EventData::CommitmentStatusChanged(
                            CommitmentStatusChanged {
                                commitment_id: own,
                                status: Status::ALL[rng.below(8) as usize],
                                label: Some(format!("update {n}")),
                            },
                        ));
                        e.event_id = Some(Uuid::now_v7());
                        e.actor = Some("crash-child".into());
                        events.push(e);
                    }
                    if let (Some(v), Some(first)) = (version, events.first_mut()) {
                        first.expected_version = Some(ExpectedVersion::Exact(v));
                    }
                    let outcome = ledger.append(events).await.expect("append");
                    let mut out = out.lock().unwrap();
                    for (p, id) in outcome.positions.iter().zip(&outcome.event_ids) {
                        writeln!(out, "ack {p} {id}").unwrap();
                    }
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn fail(seed: u64, round: u32, what: String) -> ! {
    eprintln!("crash harness FAILED in round {round} (seed {seed:#x}; rerun with IKRAR_CRASH_SEED={seed}): {what}");
    println!("0 passed, 1 failed");
    std::process::exit(1);
}

fn main() {
    let seed: u64 = std::env::var("IKRAR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    if let Ok(path) = std::env::var("IKRAR_CRASH_CHILD_LEDGER") {
        child(&path, seed);
        return;
    }
    let rounds: u32 = std::env::var("IKRAR_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let sled = ikrar_testkit::Place::sled();
    rounds_on(sled.path(), rounds, seed);
    println!("crash harness on sled: {rounds} passed, 0 failed");
    // On PostgreSQL a killed writer's open transaction is rolled back by the server; what was
    // acknowledged was committed. Fewer rounds: each reopen rebuilds the index over the network.
    match ikrar_testkit::Place::postgres() {
        Some(place) => {
            let rounds = rounds.div_ceil(2);
            rounds_on(place.path(), rounds, seed);
            println!("crash harness on PostgreSQL: {rounds} passed, 0 failed");
        }
        None => println!(
            "crash harness on PostgreSQL: not run ({} is not set)",
            ikrar_testkit::POSTGRES_ENV
        ),
    }
}

/// Kills a writer `rounds` times at random moments on the ledger at `path`, checking after each.
fn rounds_on(path: &std::path::Path, rounds: u32, seed: u64) {
    let path = path.to_path_buf();
    let mut rng = Rng(seed);
    let mut acknowledged: Vec<(u64, Uuid)> = Vec::new();
    let me = std::env::current_exe().unwrap();
    for round in 0..rounds {
        let mut child = Command::new(&me)
            .env("IKRAR_CRASH_CHILD_LEDGER", &path)
            .env("IKRAR_CRASH_SEED", (seed ^ round as u64).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acks = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let acks = acks.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut parts = line.split(' ');
                    if parts.next() == Some("ack") {
                        let p: u64 = parts.next().unwrap().parse().unwrap();
                        let id: Uuid = parts.next().unwrap().parse().unwrap();
                        acks.lock().unwrap().push((p, id));
                    }
                }
            })
        };
        // Kill at a random moment: sometimes before the first append, mostly in full flow.
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let round_acks = std::mem::take(&mut *acks.lock().unwrap());
        acknowledged.extend(round_acks.iter().copied());

        // Reopen: every acknowledged event is there, the log is gapless, verify passes.
        let ledger = match Ledger::open(&path) {
            Ok(l) => l,
            Err(ikrar_core::Error::NoLedger { .. }) if acknowledged.is_empty() => continue,
            Err(e) => fail(seed, round, format!("reopen: {e}")),
        };
        let size = ledger.head().tree_size;
        for (p, id) in &acknowledged {
            match ledger.read(*p) {
                Ok(r) if r.record.event_id == *id => {}
                Ok(r) => fail(
                    seed,
                    round,
                    format!(
                        "position {p} holds {} instead of acknowledged {id}",
                        r.record.event_id
                    ),
                ),
                Err(e) => fail(
                    seed,
                    round,
                    format!("acknowledged position {p} ({id}) lost: {e} (tree size {size})"),
                ),
            }
        }
        let mut count = 0;
        for (i, r) in ledger.iter_from(0).enumerate() {
            match r {
                Ok(r) if r.record.position == i as u64 => count += 1,
                Ok(r) => fail(seed, round, format!("gap: {} at {i}", r.record.position)),
                Err(e) => fail(seed, round, format!("read {i}: {e}")),
            }
        }
        if count != size {
            // On PostgreSQL a COMMIT the writer sent just before it was killed is still carried
            // out by the server, and may land between the read of the head and the scan: then
            // the ledger, opened again, must say exactly what the scan found. Reopen until it
            // does (or time is up); fewer records than the head says is a failure at once.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let settled = loop {
                let settled = Ledger::open(&path).map(|l| l.head().tree_size);
                if count < size
                    || settled.as_ref().is_ok_and(|s| *s == count)
                    || std::time::Instant::now() >= deadline
                {
                    break settled;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if !(count > size && settled.as_ref().is_ok_and(|s| *s == count)) {
                fail(
                    seed,
                    round,
                    format!("{count} records but tree size {size} (reopened: {settled:?})"),
                );
            }
        }
        if let Err(e) = ledger.verify() {
            fail(seed, round, format!("verify: {e}"));
        }
        eprintln!(
            "round {round}: killed after {} acknowledged events this round; ledger holds {size}, all {} acknowledged present",
            round_acks.len(),
            acknowledged.len()
        );
    }
    if acknowledged.len() < rounds as usize {
        fail(seed, rounds, format!("only {} events were acknowledged in {rounds} rounds: the harness did not exercise the writer", acknowledged.len()));
    }
}
