//! Events as the tests build them: numbered commitments, status changes of them.

use chrono::NaiveDate;
use ikrar_core::{
    CommitmentMade, CommitmentStatusChanged, EventData, ExpectedVersion, InputEvent, Status,
};
use uuid::Uuid;

/// Commitment id number `n`.
pub fn cid(n: u128) -> Uuid {
    Uuid::from_u128(0x0194_a1c2_0000_7000_8000_0000_0000_0000 + n)
}

/// `commitment_made` of the commitment `commitment_id`, titled `title`, recorded by `tester`.
pub fn commitment_made(commitment_id: Uuid, title: impl Into<String>) -> InputEvent {
    let mut e = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
        commitment_id,
        title: title.into(),
        summary: None,
        owner: Some("Ministry of Foreign Affairs".into()),
        parties: vec!["Japan".into()],
        themes: vec![],
        made_on: NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
        due: None,
    }));
    e.actor = Some("tester".into());
    e
}

/// `commitment_made` of commitment `n` ([`cid`]), titled `Commitment <n>`.
pub fn made(n: u128) -> InputEvent {
    commitment_made(cid(n), format!("Commitment {n}"))
}

/// `commitment_status_changed` of commitment `n` to `status`, expecting `expected` of its
/// stream, recorded by `tester`.
pub fn status(n: u128, status: Status, expected: Option<ExpectedVersion>) -> InputEvent {
    let mut e = InputEvent::new(EventData::CommitmentStatusChanged(
        CommitmentStatusChanged {
            commitment_id: cid(n),
            status,
            label: None,
        },
    ));
    e.actor = Some("tester".into());
    e.expected_version = expected;
    e
}
