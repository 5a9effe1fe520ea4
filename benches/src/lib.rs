//! Workloads shared by ikrar's benchmarks: realistic events of a given count.

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
