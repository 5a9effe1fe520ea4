//! Helpers shared by the tests. Each test binary uses some of them, not all.
#![allow(dead_code)]

pub mod history;

use ikrar_core::Ledger;
use ikrar_import::{import, Mapping, Options, Plan, Progress, Snapshot, Target};

/// The log without the moments of recording (which differ between runs): two ledgers with the
/// same events compare equal.
pub fn log(ledger: &Ledger) -> Vec<String> {
    ledger
        .iter_from(0)
        .map(|r| {
            let r = r.unwrap().record;
            format!(
                "{} {:?} {:?} {:?}",
                r.event_id, r.data, r.effective, r.source
            )
        })
        .collect()
}

/// [`import`], reporting no progress, recorded by `t`.
pub async fn import_quietly(
    target: &impl Target,
    mapping: &Mapping,
    snapshots: &[Snapshot],
) -> Plan {
    let progress = Progress {
        reading: &mut |_, _| {},
        recording: &mut |_, _| {},
    };
    import(
        target,
        mapping,
        snapshots.to_vec(),
        &Options::new("t"),
        progress,
    )
    .await
    .unwrap()
    .0
}
