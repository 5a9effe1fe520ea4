//! Model-based property test: random sequences of appends — with conflicts, reused event ids,
//! retractions and appends submitted concurrently — against a plain in-memory model of the
//! rules of SPEC §3. The ledger and the model must agree on every outcome and on the final log,
//! the stored root must equal a from-scratch computation, and the log must survive reopening.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use ikrar_core::merkle::reference_root;
use ikrar_core::{
    CommitmentMade, CommitmentStatusChanged, Error, EventData, EventRetracted, ExpectedVersion,
    Hash, InputEvent, Ledger, Status, StreamId,
};
use ikrar_testkit::Place;
use proptest::prelude::*;
use uuid::Uuid;

const COMMITMENTS: u8 = 3;
const EVENT_IDS: u8 = 10;

#[derive(Debug, Clone)]
enum Op {
    Make {
        c: u8,
        id: Option<u8>,
    },
    Status {
        c: u8,
        expected: Option<ExpectedVersion>,
        id: Option<u8>,
        s: u8,
    },
    Retract {
        target: u8,
        id: Option<u8>,
    },
}

fn commitment(c: u8) -> Uuid {
    Uuid::from_u128(0x0194_a1c2_0000_7000_8000_0000_0000_0000 + c as u128)
}

fn event_id(i: u8) -> Uuid {
    Uuid::from_u128(0x0194_a1c2_0000_7000_9000_0000_0000_0000 + i as u128)
}

fn to_input(op: &Op) -> InputEvent {
    let (data, id, expected, reason) = match op {
        Op::Make { c, id } => (
            EventData::CommitmentMade(CommitmentMade {
                commitment_id: commitment(*c),
                title: format!("Commitment {c}"),
                summary: None,
                owner: None,
                parties: vec![],
                themes: vec![],
                made_on: NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
                due: None,
            }),
            *id,
            None,
            None,
        ),
        Op::Status { c, expected, id, s } => (
            EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                commitment_id: commitment(*c),
                status: Status::ALL[*s as usize % 8],
                label: None,
            }),
            *id,
            *expected,
            None,
        ),
        Op::Retract { target, id } => (
            EventData::EventRetracted(EventRetracted {
                event_id: event_id(*target),
            }),
            *id,
            None,
            Some("recorded in error".to_string()),
        ),
    };
    let mut e = InputEvent::new(data);
    e.event_id = id.map(event_id);
    e.actor = Some("model".into());
    e.expected_version = expected;
    e.reason = reason;
    e
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let c = 0..COMMITMENTS;
    let id = proptest::option::weighted(0.85, 0..EVENT_IDS);
    let expected = prop_oneof![
        Just(None),
        Just(Some(ExpectedVersion::Any)),
        Just(Some(ExpectedVersion::NoStream)),
        Just(Some(ExpectedVersion::Exists)),
        (0u64..4).prop_map(|v| Some(ExpectedVersion::Exact(v))),
    ];
    prop_oneof![
        2 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Make { c, id }),
        3 => (c, expected, id.clone(), 0u8..8).prop_map(|(c, expected, id, s)| Op::Status { c, expected, id, s }),
        1 => (0..EVENT_IDS, id).prop_map(|(target, id)| Op::Retract { target, id }),
    ]
}

/// One append, and whether it is submitted together with the next ones.
#[derive(Debug, Clone)]
struct Step {
    ops: Vec<Op>,
    concurrent_with_next: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(op_strategy(), 1..3),
            any::<bool>(),
        )
            .prop_map(|(ops, c)| Step {
                ops,
                concurrent_with_next: c,
            }),
        1..32,
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok(Vec<u64>),
    Validation(usize),
    Conflict(usize),
    IdConflict(usize),
}

#[derive(Clone, Default)]
struct Model {
    /// (event id or None when the ledger makes one, stream, version) per position.
    log: Vec<(Option<Uuid>, StreamId, u64)>,
    heads: HashMap<StreamId, u64>,
    /// Event id → (position, the event as sent, without expected_version).
    ids: HashMap<Uuid, (u64, InputEvent)>,
    retractions: HashSet<Uuid>,
    retracted: HashSet<Uuid>,
}

impl Model {
    fn apply(&mut self, events: &[InputEvent]) -> Outcome {
        let mut next = self.clone();
        let mut positions = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match next.apply_one(i, e) {
                Ok(p) => positions.push(p),
                Err(o) => return o,
            }
        }
        *self = next;
        Outcome::Ok(positions)
    }

    fn apply_one(&mut self, i: usize, e: &InputEvent) -> Result<u64, Outcome> {
        let mut content = e.clone();
        content.expected_version = None;
        if let Some(id) = e.event_id {
            if let Some((p, original)) = self.ids.get(&id) {
                return if *original == content {
                    Ok(*p)
                } else {
                    Err(Outcome::IdConflict(i))
                };
            }
        }
        let (stream, expected) = match &e.data {
            EventData::CommitmentMade(d) => (
                StreamId::commitment(d.commitment_id),
                ExpectedVersion::NoStream,
            ),
            EventData::CommitmentStatusChanged(d) => {
                let s = StreamId::commitment(d.commitment_id);
                if !self.heads.contains_key(&s) {
                    return Err(Outcome::Validation(i));
                }
                (s, e.expected_version.unwrap_or_default())
            }
            EventData::EventRetracted(d) => {
                let Some((p, _)) = self.ids.get(&d.event_id) else {
                    return Err(Outcome::Validation(i));
                };
                if self.retractions.contains(&d.event_id) || self.retracted.contains(&d.event_id) {
                    return Err(Outcome::Validation(i));
                }
                (self.log[*p as usize].1.clone(), ExpectedVersion::Any)
            }
            _ => unreachable!("the model generates no other types"),
        };
        let actual = self.heads.get(&stream).copied();
        let ok = match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.is_none(),
            ExpectedVersion::Exists => actual.is_some(),
            ExpectedVersion::Exact(v) => actual == Some(v),
        };
        if !ok {
            return Err(Outcome::Conflict(i));
        }
        let version = actual.map_or(0, |v| v + 1);
        let position = self.log.len() as u64;
        self.heads.insert(stream.clone(), version);
        self.log.push((e.event_id, stream, version));
        if let Some(id) = e.event_id {
            self.ids.insert(id, (position, content));
        }
        if let EventData::EventRetracted(d) = &e.data {
            self.retracted.insert(d.event_id);
            if let Some(id) = e.event_id {
                self.retractions.insert(id);
            }
        }
        Ok(position)
    }
}

fn classify(r: Result<ikrar_core::AppendOutcome, Error>) -> Outcome {
    match r {
        Ok(o) => Outcome::Ok(o.positions),
        Err(Error::Validation { index, .. }) => Outcome::Validation(index),
        Err(Error::Conflict { index, .. }) => Outcome::Conflict(index),
        Err(Error::EventIdConflict { index, .. }) => Outcome::IdConflict(index),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Runs `steps` against a new ledger at `place` and against the model, and compares.
fn agrees_with_the_model(place: &Place, steps: &[Step]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let path = place.path();
    let ledger = Ledger::create(path).unwrap();
    let mut model = Model::default();

    let mut i = 0;
    while i < steps.len() {
        // A run of steps marked concurrent is submitted at once; the writer takes them in
        // submission order (one group commit), which the model follows.
        let mut j = i;
        while j + 1 < steps.len() && steps[j].concurrent_with_next {
            j += 1;
        }
        let batches: Vec<Vec<InputEvent>> = steps[i..=j]
            .iter()
            .map(|s| s.ops.iter().map(to_input).collect())
            .collect();
        let outcomes: Vec<Outcome> = rt.block_on(async {
            let futures: Vec<_> = batches.iter().map(|b| ledger.append(b.clone())).collect();
            futures::future::join_all(futures)
                .await
                .into_iter()
                .map(classify)
                .collect()
        });
        for (batch, got) in batches.iter().zip(outcomes) {
            let expected = model.apply(batch);
            prop_assert_eq!(got, expected, "batch {:?}", batch);
        }
        i = j + 1;
    }

    // The log is the model's log: gapless positions, versions per stream, ids.
    let records: Vec<_> = ledger.iter_from(0).map(|r| r.unwrap()).collect();
    prop_assert_eq!(records.len(), model.log.len());
    for (r, (id, stream, version)) in records.iter().zip(&model.log) {
        if let Some(id) = id {
            prop_assert_eq!(r.record.event_id, *id);
        }
        prop_assert_eq!(&r.record.stream, stream);
        prop_assert_eq!(r.record.version, *version);
    }
    let leaves: Vec<Hash> = records.iter().map(|r| Hash::leaf(&r.bytes)).collect();
    for size in 0..=leaves.len() {
        prop_assert_eq!(
            ledger.root_at(size as u64).unwrap(),
            reference_root(&leaves[..size])
        );
    }
    let head = ledger.head();
    drop(ledger);
    let reopened = Ledger::open(path).unwrap();
    prop_assert_eq!(reopened.head(), head);
    prop_assert_eq!(reopened.verify().unwrap().root, head.root);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn the_ledger_agrees_with_the_model_on_sled(steps in steps()) {
        agrees_with_the_model(&Place::sled(), &steps)?;
    }
}

proptest! {
    // Fewer cases: each is a new schema and a few hundred round trips.
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn the_ledger_agrees_with_the_model_on_postgres(steps in steps()) {
        if let Some(place) = Place::postgres_for("agrees_with_the_model") {
            agrees_with_the_model(&place, &steps)?;
        }
    }
}
