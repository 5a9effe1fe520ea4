//! Long summaries are not held by the projection: what it keeps per commitment does not grow
//! with the length of its texts, while every view, search and basis shows them as recorded.
//! Measured with dhat's counting allocator: the bytes the projection frees when it is dropped are
//! what it held (sled's cache, which also holds the records, stays with the ledger).

use ikrar_core::{CommitmentAmended, EventData, InputEvent, Ledger, Moment};
use ikrar_state::{Basis, KnownAt, ListFilter, Projection};
use ikrar_testkit::events::{cid, made};

/// dhat's allocator: it counts the bytes allocated and not yet freed.
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const COMMITMENTS: u128 = 48;
const SUMMARY_BYTES: usize = 60_000;

/// A summary of about 60 KB whose last word names its commitment.
fn long_summary(n: u128, edition: &str) -> String {
    let mut text = String::with_capacity(SUMMARY_BYTES + 32);
    while text.len() < SUMMARY_BYTES {
        text.push_str("obligations ");
    }
    text.push_str(&format!("{edition}{n}"));
    text
}

fn with_summary(n: u128) -> InputEvent {
    let mut e = made(n);
    if let EventData::CommitmentMade(d) = &mut e.data {
        d.summary = Some(long_summary(n, "first"));
    }
    e
}

fn amended(n: u128) -> InputEvent {
    let mut e = InputEvent::new(EventData::CommitmentAmended(CommitmentAmended {
        commitment_id: cid(n),
        title: None,
        summary: Some(long_summary(n, "second")),
        owner: None,
        parties: None,
        themes: None,
        due: None,
    }));
    e.actor = Some("tester".into());
    e.reason = Some("restated".into());
    e.effective = Some("2025-06-01".parse().unwrap());
    e
}

fn live_bytes() -> isize {
    dhat::HeapStats::get().curr_bytes as isize
}

#[test]
fn a_projection_of_long_summaries_holds_none_of_them_and_shows_each_as_recorded() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = ikrar_testkit::runtime();
    rt.block_on(ledger.append((1..=COMMITMENTS).map(with_summary).collect()))
        .unwrap();
    rt.block_on(ledger.append((1..=COMMITMENTS).map(amended).collect()))
        .unwrap();
    let made_size = COMMITMENTS as u64;

    for from_snapshot in [false, true] {
        // What the projection holds is what its drop frees (opening also fills sled's cache).
        let state = Projection::open(&ledger).unwrap();
        let before = live_bytes();
        drop(state);
        let held = before - live_bytes();
        let state = Projection::open(&ledger).unwrap();
        // Two summaries of 60 KB per commitment were recorded (5.8 MB in all); the projection
        // holds their positions, not them.
        let texts = 2 * COMMITMENTS as isize * SUMMARY_BYTES as isize;
        eprintln!("the projection holds {held} bytes for {texts} bytes of summaries");
        assert!(
            held < texts / 20,
            "the projection holds {held} bytes for {texts} bytes of summaries (from a snapshot: \
             {from_snapshot})"
        );

        // Each shown whole, in every basis: the amended one now, the first before the
        // amendment's valid time, and as known before the amendment was recorded.
        let now = state.commitment(cid(7), &Basis::now()).unwrap().unwrap();
        assert_eq!(
            now.summary.as_deref(),
            Some(long_summary(7, "second").as_str())
        );
        let earlier = Basis::new(None, Some("2025-03-01".parse::<Moment>().unwrap()));
        let then = state.commitment(cid(7), &earlier).unwrap().unwrap();
        assert_eq!(
            then.summary.as_deref(),
            Some(long_summary(7, "first").as_str())
        );
        let known_before = Basis::new(Some(KnownAt::TreeSize(made_size)), None);
        let known = state.commitment(cid(7), &known_before).unwrap().unwrap();
        assert_eq!(known.summary, then.summary);
        let listed = state.list(&ListFilter::default(), &Basis::now()).unwrap();
        assert_eq!(listed.len(), COMMITMENTS as usize);
        assert!(listed
            .iter()
            .all(|c| c.summary.as_ref().is_some_and(|s| s.len() > SUMMARY_BYTES)));

        // A search finds the word at the end of one summary, in the basis where it is there.
        let search = |text: &str, basis: &Basis| {
            let filter = ListFilter {
                search: Some(text.into()),
                ..ListFilter::default()
            };
            state
                .list(&filter, basis)
                .unwrap()
                .iter()
                .map(|c| c.commitment_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(search("second7", &Basis::now()), vec![cid(7)]);
        assert_eq!(search("first7", &Basis::now()), Vec::<uuid::Uuid>::new());
        assert_eq!(search("first7", &earlier), vec![cid(7)]);
        assert_eq!(search("nowhere", &Basis::now()), Vec::<uuid::Uuid>::new());
        // Written as a snapshot; the second round opens from it.
        state.flush().unwrap();
        drop(state);
    }
}
