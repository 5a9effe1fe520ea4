//! A ledger directory's projection rebuilt in parts (`ikrar_state::rebuild_directory`): the
//! subjects split into parts each folded from the whole log, the log read through a fresh
//! handle per segment — the same answers as the reference fold in every basis, from the
//! snapshot it saves, and the present's counts with it.

mod history;

use history::*;
use ikrar_core::{Ledger, Record};
use ikrar_state::{reference, Basis, Projection, ResolvedBasis};
use ikrar_testkit::Place;
use proptest::prelude::*;

fn rebuilt_in_parts(
    ops: &[Op],
    sizes: (u64, u64),
    bases: &[(proptest::sample::Index, u8)],
) -> Result<(), TestCaseError> {
    let rt = ikrar_testkit::runtime();
    let place = Place::sled();
    let ledger = Ledger::create(place.path()).unwrap();
    let mut ctx = Context::default();
    for (i, op) in ops.iter().enumerate() {
        let id = event_id(i as u8);
        if rt
            .block_on(ledger.append(vec![input(op, id, &ctx)]))
            .is_ok()
        {
            ctx.recorded.push(id);
            if let Op::Make { c, made, .. } = op {
                ctx.made.insert(*c, *made);
            }
        }
    }
    // A snapshot of the ledger as it was, to be replaced.
    drop(Projection::open(&ledger).unwrap());
    let all: Vec<Record> = ledger.iter_from(0).map(|r| r.unwrap().record).collect();
    drop(ledger);

    let mut last = (0, 0);
    let reached =
        ikrar_state::rebuild_directory_with(place.path(), sizes.0, sizes.1, &mut |d, t| {
            assert!(d <= t);
            last = (d, t);
        })
        .unwrap();
    prop_assert_eq!(reached, all.len() as u64);
    prop_assert_eq!(last.0, last.1, "progress ends whole");

    let ledger = Ledger::open(place.path()).unwrap();
    let rebuilt = Projection::open(&ledger).unwrap();
    prop_assert!(rebuilt.is_lazy(), "opened from the saved snapshot");
    let now = rebuilt.summary(&Basis::now()).unwrap();
    let basis = ResolvedBasis::new(all.len() as u64, now.as_of);
    prop_assert_eq!(
        &now,
        &ikrar_state::Summary::of(&basis, &reference::fold(&all, &basis).commitments)
    );
    rebuilt.set_streamed_above_bytes(0);
    let mut resolved: Vec<ResolvedBasis> = bases
        .iter()
        .map(|(index, as_of_day)| {
            let tree_size = index.index(all.len() + 1) as u64;
            ResolvedBasis::new(tree_size, ikrar_core::Moment::Date(day(*as_of_day)).end())
        })
        .collect();
    resolved.push(ResolvedBasis::new(all.len() as u64, chrono::Utc::now()));
    for basis in &resolved {
        same_answers(&rebuilt, &all, basis)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn a_projection_rebuilt_in_parts_answers_as_the_reference_fold(
        ops in proptest::collection::vec(op(), 1..64),
        part_records in 1u64..40,
        segment_records in 1u64..20,
        bases in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..34), 6),
    ) {
        rebuilt_in_parts(&ops, (part_records, segment_records), &bases)?;
    }
}
