//! Ledgers and keys for the tests of ikrar-tlog.
#![allow(dead_code)]

use ikrar_core::{InputEvent, Ledger};

/// `n` commitments, with ids from `from` on.
pub fn events(from: u128, n: u128) -> Vec<InputEvent> {
    (from..from + n)
        .map(|i| {
            InputEvent::from_json(&format!(
                r#"{{"type":"commitment_made","actor":"t","data":{{"commitment_id":"{}",
                "title":"Commitment {i}","parties":["P"],"made_on":"2025-01-16"}}}}"#,
                uuid::Uuid::from_u128(0x0194_a1c2_7f00_7000_8000_0000_0000_0000 + i)
            ))
            .unwrap()
        })
        .collect()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A ledger of `n` records.
pub fn ledger_of(dir: &std::path::Path, n: u128) -> Ledger {
    let ledger = Ledger::create(dir).unwrap();
    if n > 0 {
        runtime().block_on(ledger.append(events(0, n))).unwrap();
    }
    ledger
}
