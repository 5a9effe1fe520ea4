//! Event id → position for every record of a ledger, in a compact form: at the ten million
//! events SPEC §9 names, a hash map of `(Uuid, u64)` took about 420 MB (24 bytes an entry, at
//! its load factor and power-of-two growth) and was most of what `ikrar serve` held.
//!
//! The bulk is kept as two sorted arrays — the ids, and at the same index each one's position
//! in 32 bits — 20 bytes an entry and no slack; what came since the last compaction is in a
//! small hash map beside them, merged into the arrays once it holds [`RECENT_MAX`] entries (a
//! merge moves the arrays once: about 0.1 s at ten million, once per million appends). A
//! position beyond `u32::MAX` stays in the map. Sorted by id, the arrays also answer a prefix
//! (the ids a person typing a short one means) with a range instead of a scan.

use uuid::Uuid;

use crate::Map;

/// Entries of the recent map at which it is merged into the sorted arrays: its table stays
/// under about 50 MB, and a merge comes at most once per this many appends.
const RECENT_MAX: usize = 1 << 20;

/// Event id → position (see the module's documentation).
#[derive(Debug, Default, Clone)]
pub(crate) struct IdPositions {
    /// Sorted, each id once; not in `recent`.
    sorted_ids: Vec<Uuid>,
    /// The position of `sorted_ids[i]`.
    sorted_positions: Vec<u32>,
    /// Entries since the last merge, and any whose position does not fit in 32 bits.
    recent: Map<Uuid, u64>,
    /// The size of `recent` at which it is merged: [`RECENT_MAX`] more than what a merge
    /// leaves there (only positions beyond 32 bits stay, so merges never come at every insert).
    merge_at: usize,
}

impl IdPositions {
    pub(crate) fn len(&self) -> usize {
        self.sorted_ids.len() + self.recent.len()
    }

    fn sorted_at(&self, id: &Uuid) -> Result<usize, usize> {
        // Ids the ledger assigns are UUIDv7, later than every one before: one comparison with
        // the last sorted id answers most lookups of an id being appended.
        match self.sorted_ids.last() {
            Some(last) if id > last => Err(self.sorted_ids.len()),
            _ => self.sorted_ids.binary_search(id),
        }
    }

    pub(crate) fn get(&self, id: &Uuid) -> Option<u64> {
        if let Some(p) = self.recent.get(id) {
            return Some(*p);
        }
        let at = self.sorted_at(id).ok()?;
        Some(u64::from(self.sorted_positions[at]))
    }

    pub(crate) fn contains_key(&self, id: &Uuid) -> bool {
        self.get(id).is_some()
    }

    /// Sets `id`'s position; the one it had, if any.
    pub(crate) fn insert(&mut self, id: Uuid, position: u64) -> Option<u64> {
        if let Ok(at) = self.sorted_at(&id) {
            let earlier = u64::from(self.sorted_positions[at]);
            match u32::try_from(position) {
                Ok(p) => self.sorted_positions[at] = p,
                Err(_) => {
                    self.remove_sorted(at);
                    self.recent.insert(id, position);
                }
            }
            return Some(earlier);
        }
        let earlier = self.recent.insert(id, position);
        if self.recent.len() >= self.merge_at.max(RECENT_MAX) {
            self.compact();
        }
        earlier
    }

    pub(crate) fn remove(&mut self, id: &Uuid) -> Option<u64> {
        if let Some(p) = self.recent.remove(id) {
            return Some(p);
        }
        // Only a failed commit takes entries back, and they are nearly always still recent: a
        // shift of the arrays here is rare.
        let at = self.sorted_at(id).ok()?;
        let position = u64::from(self.sorted_positions[at]);
        self.remove_sorted(at);
        Some(position)
    }

    fn remove_sorted(&mut self, at: usize) {
        self.sorted_ids.remove(at);
        self.sorted_positions.remove(at);
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Uuid, u64)> + '_ {
        let sorted = self
            .sorted_ids
            .iter()
            .zip(&self.sorted_positions)
            .map(|(id, p)| (*id, u64::from(*p)));
        sorted.chain(self.recent.iter().map(|(id, p)| (*id, *p)))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|(_, p)| p)
    }

    /// The entries whose id is in `from..=to`, in id order (the recent ones merged in).
    pub(crate) fn sorted_range(
        &self,
        from: Uuid,
        to: Uuid,
    ) -> impl Iterator<Item = (Uuid, u64)> + '_ {
        let start = self.sorted_ids.partition_point(|id| *id < from);
        let end = self.sorted_ids.partition_point(|id| *id <= to).max(start);
        let mut recent: Vec<(Uuid, u64)> = self
            .recent
            .iter()
            .filter(|(id, _)| (from..=to).contains(*id))
            .map(|(id, p)| (*id, *p))
            .collect();
        recent.sort_unstable();
        let sorted = self.sorted_ids[start..end]
            .iter()
            .zip(&self.sorted_positions[start..end])
            .map(|(id, p)| (*id, u64::from(*p)));
        Merged {
            a: sorted.peekable(),
            b: recent.into_iter().peekable(),
        }
    }

    /// Makes room in the sorted arrays for `additional` entries, so that a large append grows
    /// them once. Only a hint: an allocation that fails is not an error.
    pub(crate) fn try_reserve(&mut self, additional: usize) {
        if self.sorted_ids.try_reserve(additional).is_ok() {
            let _ = self.sorted_positions.try_reserve(additional);
        }
    }

    /// Appends an entry to the sorted arrays: `id` is after every id there, and not recent.
    /// Fails (changing nothing) if it is not after them.
    pub(crate) fn push_sorted(&mut self, id: Uuid, position: u64) -> Result<(), ()> {
        if self.sorted_ids.last().is_some_and(|last| *last >= id) {
            return Err(());
        }
        match u32::try_from(position) {
            Ok(p) => {
                self.sorted_ids.push(id);
                self.sorted_positions.push(p);
            }
            Err(_) => {
                self.recent.insert(id, position);
            }
        }
        Ok(())
    }

    /// Merges the recent entries that fit into the sorted arrays, in place from their end.
    pub(crate) fn compact(&mut self) {
        let mut fresh: Vec<(Uuid, u32)> = Vec::with_capacity(self.recent.len());
        self.recent.retain(|id, p| match u32::try_from(*p) {
            Ok(p) => {
                fresh.push((*id, p));
                false
            }
            Err(_) => true,
        });
        if self.recent.is_empty() {
            // Its table is given back: after a merge of a million it would hold 50 MB.
            self.recent = Map::default();
        }
        self.merge_at = self.recent.len() + RECENT_MAX;
        if fresh.is_empty() {
            return;
        }
        fresh.sort_unstable_by_key(|(id, _)| *id);
        let old = self.sorted_ids.len();
        let total = old + fresh.len();
        // Exactly: a merge must not double the arrays' capacity.
        self.sorted_ids.reserve_exact(fresh.len());
        self.sorted_positions.reserve_exact(fresh.len());
        self.sorted_ids.resize(total, Uuid::nil());
        self.sorted_positions.resize(total, 0);
        // Backwards: the largest of what is left of either goes to the end of the free space.
        let (mut i, mut j) = (old, fresh.len());
        for slot in (0..total).rev() {
            let take_fresh = j > 0 && (i == 0 || fresh[j - 1].0 > self.sorted_ids[i - 1]);
            if take_fresh {
                j -= 1;
                self.sorted_ids[slot] = fresh[j].0;
                self.sorted_positions[slot] = fresh[j].1;
            } else {
                i -= 1;
                self.sorted_ids[slot] = self.sorted_ids[i];
                self.sorted_positions[slot] = self.sorted_positions[i];
            }
            if j == 0 {
                // The rest of the old entries are where they were.
                break;
            }
        }
    }
}

/// Two iterators sorted by id, merged.
struct Merged<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (Uuid, u64)>,
    B: Iterator<Item = (Uuid, u64)>,
{
    type Item = (Uuid, u64);

    fn next(&mut self) -> Option<(Uuid, u64)> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// Equal when they map the same ids to the same positions, however each is laid out.
impl PartialEq for IdPositions {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(id, p)| other.get(&id) == Some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Any sequence of inserts, removals and compactions answers as a plain map does.
        #[test]
        fn answers_as_a_map_does(ops in proptest::collection::vec((0u8..4, 0u128..64, 0u64..100), 0..300)) {
            let mut ids = IdPositions::default();
            let mut model = BTreeMap::new();
            for (op, id, position) in ops {
                let id = Uuid::from_u128(id);
                // Some positions beyond 32 bits, which stay in the recent map.
                let position = if position % 7 == 0 { u64::from(u32::MAX) + position } else { position };
                match op {
                    0 | 1 => prop_assert_eq!(ids.insert(id, position), model.insert(id, position)),
                    2 => prop_assert_eq!(ids.remove(&id), model.remove(&id)),
                    _ => ids.compact(),
                }
                prop_assert_eq!(ids.len(), model.len());
            }
            for (id, p) in &model {
                prop_assert_eq!(ids.get(id), Some(*p));
            }
            let all: Vec<_> = ids.sorted_range(Uuid::nil(), Uuid::max()).collect();
            let expected: Vec<_> = model.iter().map(|(id, p)| (*id, *p)).collect();
            prop_assert_eq!(all, expected);
            let (from, to) = (Uuid::from_u128(30), Uuid::from_u128(45));
            let some: Vec<_> = ids.sorted_range(from, to).collect();
            let expected: Vec<_> = model.range(from..=to).map(|(id, p)| (*id, *p)).collect();
            prop_assert_eq!(some, expected);
        }
    }

    #[test]
    fn the_recent_map_is_merged_once_it_is_full() {
        let mut ids = IdPositions::default();
        for i in 0..RECENT_MAX as u64 + 10 {
            // Not in id order, so the merge has to sort.
            let id = Uuid::from_u128(u128::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            assert_eq!(ids.insert(id, i), None);
        }
        assert_eq!(ids.len(), RECENT_MAX + 10);
        assert_eq!(ids.recent.len(), 10);
        assert!(ids.sorted_ids.windows(2).all(|w| w[0] < w[1]));
        for i in [0u64, 1, 77, RECENT_MAX as u64 + 9] {
            let id = Uuid::from_u128(u128::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            assert_eq!(ids.get(&id), Some(i));
        }
    }
}
