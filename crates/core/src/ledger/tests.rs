use super::*;
use uuid::Uuid;

use crate::model::event::{CommitmentMade, EventData};

/// A backend whose commit fails after the writer has taught the index (as sled's can, when
/// its flush fails while the index learns the group on the writer's thread).
struct FailingCommit(Head);

impl crate::storage::CommitLock for FailingCommit {
    fn head(&self) -> Head {
        self.0
    }

    fn commit(
        self: Box<Self>,
        _batch: crate::storage::CommitBatch<'_>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<(), Error> {
        meanwhile();
        Err(Error::storage("the disk went away"))
    }
}

#[test]
fn a_failed_commit_takes_back_what_the_index_learned() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(ledger.append(made(0..3))).unwrap();
    let store = &ledger.inner.store;
    let head = ledger.head();
    let before = store.read_index().clone();
    let mut group = crate::write::layer::Layer::new(head.tree_size, head.last_recorded_at);
    let (layer, _) =
        crate::write::stage::stage(store, &group, &(), &made(3..300), chrono::Utc::now()).unwrap();
    group.merge(layer);
    let failed = crate::write::writer::commit(store, Box::new(FailingCommit(head)), &group, &head);
    assert!(matches!(failed, Err(Error::Storage { .. })), "{failed:?}");
    let after = store.read_index();
    assert_eq!(after.size, before.size);
    assert_eq!(after.streams, before.streams);
    assert_eq!(after.ids, before.ids);
    assert_eq!(after.made_on, before.made_on);
    drop(after);
    // Nothing was written, and the ledger goes on.
    assert_eq!(ledger.head(), head);
    rt.block_on(ledger.append(made(3..5))).unwrap();
    ledger.verify().unwrap();
}

/// Once the backend's commit has returned, the group is durable: nothing after it — here the
/// index refusing one of its records — may answer the appenders that their append failed.
#[test]
fn after_a_durable_commit_nothing_turns_it_into_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(ledger.append(made(0..3))).unwrap();
    let store = &ledger.inner.store;
    let head = ledger.head();
    let mut group = crate::write::layer::Layer::new(head.tree_size, head.last_recorded_at);
    let (layer, _) =
        crate::write::stage::stage(store, &group, &(), &made(3..10), chrono::Utc::now()).unwrap();
    group.merge(layer);
    // The index is made to refuse the group's sixth record (as if its id were known).
    store.write_index().ids.insert(group.records[5].event_id, 0);
    let lock = store.backend.lock_for_commit().unwrap();
    let committed = crate::write::writer::commit(store, lock, &group, &head);
    match committed {
        Ok(crate::write::writer::Committed {
            head: new_head,
            index_fault: Some(Error::Integrity { .. }),
        }) => assert_eq!(new_head.tree_size, 10),
        other => panic!("a durable commit was answered with {other:?}"),
    }
    drop(ledger);
    // The group is there, whole, and the index is rebuilt from the log.
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.head().tree_size, 10);
    ledger.verify().unwrap();
}

/// A group commit that failed (its batch applied in sled, the flush failing) fails its own
/// appenders only: the next append works, on the acknowledged head, and nothing of the failed
/// batch is left — not even the bundles beyond what the next group overwrites.
#[test]
fn a_failed_commit_fails_its_appenders_only_and_the_next_append_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(ledger.append(made(0..3))).unwrap();
    ledger.fail_next_commits(1);
    // Large enough for several bundles, so that the next, small group cannot overwrite them.
    let events = 3 * crate::storage::on_sled::BUNDLE_RECORDS_MAX as u128;
    let failed = rt.block_on(ledger.append(made(3..3 + events)));
    assert!(matches!(failed, Err(Error::Io(_))), "{failed:?}");
    assert_eq!(ledger.head().tree_size, 3);
    let next = rt.block_on(ledger.append(made(3..5))).unwrap();
    assert_eq!(next.positions, vec![3, 4]);
    ledger.verify().unwrap();
    // The failed append, sent again, completes.
    rt.block_on(ledger.append(made(5..3 + events))).unwrap();
    let tree_size = ledger.head().tree_size;
    assert_eq!(tree_size, 3 + events as u64);
    drop(ledger);
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.discarded_at_open(), 0);
    assert_eq!(ledger.head().tree_size, tree_size);
    ledger.verify().unwrap();
}

fn made(numbers: std::ops::Range<u128>) -> Vec<InputEvent> {
    numbers
        .map(|n| {
            let mut e = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
                commitment_id: Uuid::from_u128(n + 1),
                title: format!("Commitment {n}"),
                summary: None,
                owner: None,
                parties: vec![],
                themes: vec![],
                made_on: chrono::NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
                due: None,
            }));
            e.actor = Some("tester".into());
            e
        })
        .collect()
}

/// The index check of `verify` names the first record whose entries the in-memory index
/// does not hold — whichever of the checked chunk's records it is.
#[test]
fn verify_names_the_first_record_the_index_disagrees_with() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt.block_on(ledger.append(made(0..40))).unwrap();
    ledger.verify().unwrap();
    for (damaged, other) in [(21u64, 27u64), (3, 30)] {
        let store = &ledger.inner.store;
        let saved = store.read_index().clone();
        {
            let mut index = store.write_index();
            index.ids.insert(out.event_ids[damaged as usize], 999);
            index.ids.insert(out.event_ids[other as usize], 998);
        }
        match ledger.verify() {
            Err(Error::Integrity { position, what }) => {
                assert_eq!(position, damaged, "{what}");
                assert!(what.contains("disagrees with the index"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        *store.write_index() = saved;
        ledger.verify().unwrap();
    }
}

/// Event ids by a prefix of their text: a range of the index's sorted ids, across the dashes,
/// sorted and limited; a prefix no id can have answers nothing.
#[test]
fn event_ids_by_prefix_are_the_range_of_the_sorted_ids() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids: Vec<Uuid> = [
        0x0194_a1c2_0000_7000_8000_0000_0000_0001u128,
        0x0194_a1c2_0001_7000_8000_0000_0000_0002,
        0x0194_a1c3_0000_7000_8000_0000_0000_0003,
        0x0294_0000_0000_7000_8000_0000_0000_0004,
    ]
    .into_iter()
    .map(Uuid::from_u128)
    .collect();
    let events = made(0..4)
        .into_iter()
        .zip(&ids)
        .map(|(mut e, id)| {
            e.event_id = Some(*id);
            e
        })
        .collect();
    rt.block_on(ledger.append(events)).unwrap();
    // Some in the sorted arrays, one still recent.
    ledger.inner.store.write_index().ids.compact();
    let mut later = made(4..5);
    later[0].event_id = Some(Uuid::from_u128(0x0194_a1c2_0000_7000_8000_0000_0000_0000));
    rt.block_on(ledger.append(later)).unwrap();
    let found = |prefix: &str, limit| ledger.event_ids_with_prefix(prefix, limit).unwrap();
    let all_c2: Vec<Uuid> = vec![
        Uuid::from_u128(0x0194_a1c2_0000_7000_8000_0000_0000_0000),
        ids[0],
        ids[1],
    ];
    assert_eq!(found("0194a1c2", 10), all_c2);
    assert_eq!(found("0194a1c2-", 10), all_c2);
    assert_eq!(found("0194a1c2-0000", 10), all_c2[..2].to_vec());
    assert_eq!(found("0194a1c2", 1), all_c2[..1].to_vec());
    assert_eq!(found("0194a1", 10).len(), 4);
    assert_eq!(found(&ids[3].to_string(), 10), vec![ids[3]]);
    assert_eq!(found("", 10).len(), 5);
    for nothing in ["0194a1c4", "0194a1c2-1", "zz", "0194a1c20", "+1"] {
        assert!(found(nothing, 10).is_empty(), "{nothing}");
    }
}
