//! Random histories for the projection's property tests: the operations, the events they
//! record, and the comparison of every query with the reference fold in one basis.
#![allow(dead_code)]

use chrono::{Duration, NaiveDate};
use ikrar_core::{
    CommitmentAmended, CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted,
    InputEvent, Ledger, MeetingHeld, MeetingLinked, Moment, Record, Status,
};
use ikrar_state::reference;
use ikrar_state::{Basis, KnownAt, ListFilter, Projection, ResolvedBasis};
use proptest::prelude::*;
use uuid::Uuid;

pub const COMMITMENTS: u8 = 4;
pub const MEETINGS: u8 = 2;
pub const EVENT_IDS: u8 = 64;
pub const PARTIES: [&str; 3] = ["Japan", "China", "United States"];

pub fn base_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
}

pub fn day(offset: u8) -> NaiveDate {
    base_day() + Duration::days(offset as i64 * 10)
}

pub fn commitment(c: u8) -> Uuid {
    Uuid::from_u128(0xc000 + c as u128)
}

pub fn meeting(m: u8) -> Uuid {
    Uuid::from_u128(0xd000 + m as u128)
}

pub fn event_id(i: u8) -> Uuid {
    Uuid::from_u128(0xe000 + i as u128)
}

#[derive(Debug, Clone)]
pub enum Op {
    Make {
        c: u8,
        made: u8,
        party: u8,
    },
    Amend {
        c: u8,
        title: bool,
        party: Option<u8>,
        due: Option<u8>,
        effective: Option<u8>,
    },
    /// `effective` is in days after the commitment's `made_on` (when known), so that most
    /// status changes are valid yet arrive with effective times out of order.
    Status {
        c: u8,
        s: u8,
        label: bool,
        effective: Option<u8>,
    },
    Hold {
        m: u8,
        held: u8,
        named: Vec<u8>,
    },
    Link {
        m: u8,
        c: u8,
        effective: Option<u8>,
    },
    Retract {
        target: proptest::sample::Index,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    let c = 0..COMMITMENTS;
    let d = 0u8..30;
    prop_oneof![
        2 => (c.clone(), d.clone(), 0u8..3).prop_map(|(c, made, party)| Op::Make { c, made, party }),
        1 => (c.clone(), any::<bool>(), proptest::option::of(0u8..3), proptest::option::of(d.clone()), proptest::option::of(d.clone()))
            .prop_map(|(c, title, party, due, effective)| Op::Amend { c, title, party, due, effective }),
        4 => (c.clone(), 0u8..8, any::<bool>(), proptest::option::of(d.clone()))
            .prop_map(|(c, s, label, effective)| Op::Status { c, s, label, effective }),
        1 => (0..MEETINGS, d.clone(), proptest::collection::vec(c.clone(), 0..3))
            .prop_map(|(m, held, named)| Op::Hold { m, held, named }),
        1 => (0..MEETINGS, c, proptest::option::of(d)).prop_map(|(m, c, effective)| Op::Link { m, c, effective }),
        2 => any::<proptest::sample::Index>().prop_map(|target| Op::Retract { target }),
    ]
}

/// What the history so far makes possible: `made_on` per commitment, the ids recorded.
#[derive(Default)]
pub struct Context {
    pub made: std::collections::HashMap<u8, u8>,
    pub recorded: Vec<Uuid>,
}

/// A summary for commitment `c`: over the projection's 1 KiB for odd `c` (kept as a position and
/// read from the log), short for even `c` (held), so that both paths meet the reference.
pub fn summary_of(c: u8, edition: &str) -> String {
    let text = format!("{edition} summary of commitment {c}");
    if c % 2 == 1 {
        format!("{text} {}", "with many words ".repeat(80))
    } else {
        text
    }
}

pub fn input(op: &Op, id: Uuid, ctx: &Context) -> InputEvent {
    let eff = |o: &Option<u8>| o.map(|d| Moment::Date(day(d)));
    let (data, effective, reason) = match op {
        Op::Make { c, made, party } => (
            EventData::CommitmentMade(CommitmentMade {
                commitment_id: commitment(*c),
                title: format!("Commitment {c}"),
                summary: Some(summary_of(*c, "first")),
                owner: None,
                parties: vec![PARTIES[*party as usize].to_string()],
                themes: vec![],
                made_on: day(*made),
                due: None,
            }),
            None,
            None,
        ),
        Op::Amend {
            c,
            title,
            party,
            due,
            effective,
        } => (
            EventData::CommitmentAmended(CommitmentAmended {
                commitment_id: commitment(*c),
                title: title.then(|| format!("Commitment {c}, amended")),
                summary: title.then(|| summary_of(*c, "amended")),
                owner: None,
                parties: party.map(|p| vec![PARTIES[p as usize].to_string()]),
                themes: None,
                due: due.map(day),
            }),
            eff(effective),
            Some("amended".to_string()),
        ),
        Op::Status {
            c,
            s,
            label,
            effective,
        } => (
            EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                commitment_id: commitment(*c),
                status: Status::ALL[*s as usize],
                label: label.then(|| format!("label {s}")),
            }),
            eff(&effective.map(|e| ctx.made.get(c).copied().unwrap_or(0).saturating_add(e % 8))),
            None,
        ),
        Op::Hold { m, held, named } => (
            EventData::MeetingHeld(MeetingHeld {
                meeting_id: meeting(*m),
                title: format!("Meeting {m}"),
                held_on: Moment::Date(day(*held)),
                location: None,
                participants: vec![],
                commitment_ids: named.iter().map(|c| commitment(*c)).collect(),
                outcomes: vec![],
            }),
            None,
            None,
        ),
        Op::Link { m, c, effective } => (
            EventData::MeetingLinked(MeetingLinked {
                meeting_id: meeting(*m),
                commitment_id: commitment(*c),
            }),
            eff(effective),
            None,
        ),
        Op::Retract { target } => (
            EventData::EventRetracted(EventRetracted {
                event_id: if ctx.recorded.is_empty() {
                    event_id(EVENT_IDS)
                } else {
                    ctx.recorded[target.index(ctx.recorded.len())]
                },
            }),
            None,
            Some("recorded in error".to_string()),
        ),
    };
    let mut e = InputEvent::new(data);
    e.event_id = Some(id);
    e.actor = Some("prop".into());
    e.effective = effective;
    e.reason = reason;
    e
}

pub fn records(ledger: &Ledger) -> Vec<Record> {
    ledger.iter_from(0).map(|r| r.unwrap().record).collect()
}

/// Checks every query of the projection against the reference in one basis.
pub fn same_answers(
    projection: &Projection,
    all: &[Record],
    basis: &ResolvedBasis,
) -> Result<(), TestCaseError> {
    let expected = reference::fold(all, basis);
    for c in 0..COMMITMENTS {
        prop_assert_eq!(
            projection.commitment_in(commitment(c), basis).unwrap(),
            expected.commitment(commitment(c)).cloned(),
            "commitment {} in {:?}",
            c,
            basis
        );
    }
    prop_assert_eq!(
        &projection.list_in(&ListFilter::default(), basis).unwrap(),
        &expected.commitments
    );
    let summary = projection.summary_in(basis);
    prop_assert_eq!(
        summary,
        ikrar_state::Summary::of(basis, &expected.commitments)
    );
    for m in 0..MEETINGS {
        let b = Basis::new(
            Some(KnownAt::TreeSize(basis.tree_size)),
            Some(Moment::Instant(basis.as_of)),
        );
        prop_assert_eq!(
            projection.meeting(meeting(m), &b).unwrap(),
            expected.meetings.get(&meeting(m)).cloned(),
            "meeting {} in {:?}",
            m,
            basis
        );
    }
    Ok(())
}

/// Records `ops` in order, as far as the ledger accepts them.
pub fn record(
    rt: &tokio::runtime::Runtime,
    ledger: &Ledger,
    ops: &[(usize, Op)],
    ctx: &mut Context,
) {
    for (i, op) in ops {
        let id = event_id(*i as u8);
        if rt.block_on(ledger.append(vec![input(op, id, ctx)])).is_ok() {
            ctx.recorded.push(id);
            if let Op::Make { c, made, .. } = op {
                ctx.made.insert(*c, *made);
            }
        }
    }
}

/// The bases `bases` pick in a history of `all`, and the present at its head.
pub fn bases_of(all: &[Record], bases: &[(proptest::sample::Index, u8)]) -> Vec<ResolvedBasis> {
    let mut resolved: Vec<ResolvedBasis> = bases
        .iter()
        .map(|(index, as_of_day)| {
            let tree_size = index.index(all.len() + 1) as u64;
            ResolvedBasis::new(tree_size, ikrar_core::Moment::Date(day(*as_of_day)).end())
        })
        .collect();
    resolved.push(ResolvedBasis::new(all.len() as u64, chrono::Utc::now()));
    resolved
}
