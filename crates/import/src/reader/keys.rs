//! What the reader knows of each key, by slot: a key is looked up by its text once per row, and
//! a row recognised by its bytes ([`super::lines`]) reaches its key's marks without the text.

use std::collections::HashMap;
use std::ops::Range;

/// What the reader knows of one key. Fields are numbered by the read that set them (`seq`),
/// so that a snapshot skipped part way leaves nothing that a later read would trust.
#[derive(Debug, Default)]
pub(super) struct Marks {
    /// The read in which the key (as the row writes it, before numbering) was last seen, its
    /// first row there and how many rows had it: for duplicate keys.
    pub(super) seen: usize,
    pub(super) first_row: usize,
    pub(super) count: usize,
    /// The read in which the key (numbered where repeated) was last present.
    pub(super) present: usize,
    /// The read that last gave the key a row, and where that row is: a CSV record's bytes, or
    /// an object's index.
    pub(super) row: Option<(usize, Range<usize>)>,
}

/// Every key's marks.
#[derive(Debug, Default)]
pub(super) struct Keys {
    marks: Vec<Marks>,
    slots: HashMap<String, u32>,
}

impl Keys {
    /// The slot of `key`, made for a key not seen before (the only rows that allocate).
    pub(super) fn slot(&mut self, key: &str) -> u32 {
        if let Some(slot) = self.slots.get(key) {
            return *slot;
        }
        let slot = u32::try_from(self.marks.len()).expect("fewer than 2^32 keys");
        self.marks.push(Marks::default());
        self.slots.insert(key.to_string(), slot);
        slot
    }

    /// The marks of a slot.
    pub(super) fn at(&mut self, slot: u32) -> &mut Marks {
        &mut self.marks[slot as usize]
    }

    /// The marks of a slot, to read.
    pub(super) fn marks(&self, slot: u32) -> &Marks {
        &self.marks[slot as usize]
    }

    /// Every key, by slot.
    pub(super) fn names(&self) -> Vec<&str> {
        let mut names = vec![""; self.marks.len()];
        for (name, slot) in &self.slots {
            names[*slot as usize] = name;
        }
        names
    }

    /// The marks of `key`, if it was ever seen.
    pub(super) fn get(&self, key: &str) -> Option<&Marks> {
        self.slots.get(key).map(|s| &self.marks[*s as usize])
    }

    /// [`Keys::get`], to change.
    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Marks> {
        let slot = *self.slots.get(key)?;
        Some(&mut self.marks[slot as usize])
    }
}
