//! What the writer did: group commits, their sizes and how long each took to become durable —
//! the figures an operator watches (`/metrics`). Counted with relaxed atomics: a reader sees
//! each count whole, and the writer's path pays a few uncontended increments per group.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the group-size buckets, in events.
pub const GROUP_EVENTS_BUCKETS: [u64; 6] = [1, 10, 100, 1_000, 10_000, 20_000];
/// Upper bounds of the commit-latency buckets, in seconds.
pub const COMMIT_SECONDS_BUCKETS: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0];

/// The writer's counters, shared by the ledger's handles.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    groups: AtomicU64,
    events: AtomicU64,
    failures: AtomicU64,
    group_events: [AtomicU64; GROUP_EVENTS_BUCKETS.len() + 1],
    commit_micros: [AtomicU64; COMMIT_SECONDS_BUCKETS.len() + 1],
    commit_micros_sum: AtomicU64,
}

impl WriterStats {
    /// One group commit of `events` events that took `took` to be durable.
    pub(crate) fn committed(&self, events: u64, took: Duration) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        let size_bucket = GROUP_EVENTS_BUCKETS
            .iter()
            .position(|le| events <= *le)
            .unwrap_or(GROUP_EVENTS_BUCKETS.len());
        self.group_events[size_bucket].fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let time_bucket = COMMIT_SECONDS_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(COMMIT_SECONDS_BUCKETS.len());
        self.commit_micros[time_bucket].fetch_add(1, Ordering::Relaxed);
        self.commit_micros_sum
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// One group commit that failed.
    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CommitStats {
        let cumulative = |counts: &[AtomicU64]| {
            let mut sum = 0;
            counts
                .iter()
                .map(|c| {
                    sum += c.load(Ordering::Relaxed);
                    sum
                })
                .collect::<Vec<u64>>()
        };
        CommitStats {
            groups: self.groups.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            group_events_cumulative: cumulative(&self.group_events),
            commit_seconds_cumulative: cumulative(&self.commit_micros),
            commit_seconds_sum: self.commit_micros_sum.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// The writer's figures at one moment (see [`crate::Ledger::commit_stats`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CommitStats {
    /// Group commits made (each durable: one flush).
    pub groups: u64,
    /// Events they wrote.
    pub events: u64,
    /// Group commits that failed (nothing of them acknowledged).
    pub failures: u64,
    /// Groups of at most [`GROUP_EVENTS_BUCKETS`]`[i]` events (the last: any size).
    pub group_events_cumulative: Vec<u64>,
    /// Groups durable within [`COMMIT_SECONDS_BUCKETS`]`[i]` seconds (the last: any time).
    pub commit_seconds_cumulative: Vec<u64>,
    /// The seconds all groups took, summed.
    pub commit_seconds_sum: f64,
}
