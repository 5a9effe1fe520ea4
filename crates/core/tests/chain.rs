//! A chain of appends (`Ledger::begin_chain`): every link atomic at its own tree size, all
//! committed together or none, nothing else appended in between — on both backends.

use ikrar_core::{Error, Ledger, Status, CHAIN_EVENTS_MAX};
use ikrar_testkit::{made, runtime, status, Place};

fn places(test: &str) -> Vec<Place> {
    let mut out = vec![Place::sled()];
    out.extend(Place::postgres_for(test));
    out
}

#[test]
fn a_chain_commits_every_link_in_order_in_one_commit() {
    let rt = runtime();
    for place in places("a_chain_commits_every_link_in_order_in_one_commit") {
        let ledger = Ledger::create(place.path()).unwrap();
        rt.block_on(ledger.append(vec![made(0)])).unwrap();
        let groups = ledger.commit_stats().groups;
        let mut chain = rt.block_on(ledger.begin_chain()).unwrap();
        // A link sees the links before it: commitment 1 is made in the first, changed in the
        // second.
        assert!(chain.push(vec![made(1), made(2)]));
        assert!(chain.push(vec![status(1, Status::InProgress, None)]));
        assert!(chain.push(vec![]));
        assert_eq!(chain.events(), 3);
        assert_eq!(
            ledger.head().tree_size,
            1,
            "nothing is written before the end"
        );
        let outcome = rt.block_on(chain.commit()).unwrap();
        assert_eq!(outcome.positions, vec![1, 2, 3]);
        assert_eq!((outcome.new_events, outcome.tree_size), (3, 4));
        assert_eq!(ledger.head().tree_size, 4);
        assert_eq!(ledger.commit_stats().groups, groups + 1, "one commit");
        assert_eq!(
            ledger.read(3).unwrap().record.event_id,
            outcome.event_ids[2]
        );
        assert_eq!(ledger.verify().unwrap().tree_size, 4);
    }
}

#[test]
fn a_bad_link_writes_nothing_of_the_chain_and_says_where_it_is() {
    let rt = runtime();
    for place in places("a_bad_link_writes_nothing_of_the_chain_and_says_where_it_is") {
        let ledger = Ledger::create(place.path()).unwrap();
        let mut chain = rt.block_on(ledger.begin_chain()).unwrap();
        chain.push(vec![made(1), made(2)]);
        // The second link's second event changes a commitment nobody made.
        chain.push(vec![
            status(1, Status::InProgress, None),
            status(9, Status::InProgress, None),
        ]);
        // Once the writer has refused the chain it stops reading it, and later links are
        // refused at once.
        let started = std::time::Instant::now();
        while chain.push(vec![]) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "links after a refused one are still taken"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        match rt.block_on(chain.commit()) {
            Err(Error::Validation { index, .. }) => assert_eq!(index, 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(ledger.head().tree_size, 0);
        // The ledger takes appends as before.
        let after = rt.block_on(ledger.append(vec![made(1)])).unwrap();
        assert_eq!(after.positions, vec![0]);
    }
}

#[test]
fn a_chain_dropped_before_its_end_writes_nothing_and_appends_wait_for_it() {
    let rt = runtime();
    for place in places("a_chain_dropped_before_its_end_writes_nothing_and_appends_wait_for_it") {
        let ledger = Ledger::create(place.path()).unwrap();
        let mut chain = rt.block_on(ledger.begin_chain()).unwrap();
        chain.push(vec![made(1)]);
        // An append made while the chain is open waits for it: nothing lands between links.
        let other = ledger.clone();
        let waiting = rt.spawn(async move { other.append(vec![made(7)]).await });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiting.is_finished());
        chain.push(vec![made(2)]);
        drop(chain);
        let appended = rt.block_on(waiting).unwrap().unwrap();
        assert_eq!(
            appended.positions,
            vec![0],
            "the dropped chain left nothing"
        );
        assert_eq!(ledger.head().tree_size, 1);
    }
}

#[test]
fn a_chain_over_its_bound_is_refused_whole() {
    let rt = runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    let mut chain = rt.block_on(ledger.begin_chain()).unwrap();
    let per_link = 5_000;
    let mut n = 0;
    while chain.events() <= CHAIN_EVENTS_MAX {
        chain.push((n..n + per_link).map(made).collect());
        n += per_link;
    }
    let refused = rt.block_on(chain.commit());
    assert!(
        matches!(&refused, Err(Error::Validation { rule, .. }) if rule.contains("a chain holds")),
        "{refused:?}"
    );
    assert_eq!(ledger.head().tree_size, 0);
}

#[test]
fn a_ledger_closed_while_a_chain_is_open_waits_for_it() {
    let rt = runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    let mut chain = rt.block_on(ledger.begin_chain()).unwrap();
    chain.push(vec![made(1)]);
    // The chain keeps the ledger open: dropping the handle neither blocks nor loses the chain.
    drop(ledger);
    let outcome = rt.block_on(chain.commit()).unwrap();
    assert_eq!(outcome.tree_size, 1);
    let reopened = Ledger::open(place.path()).unwrap();
    assert_eq!(reopened.head().tree_size, 1);
}
