//! The rows of a CSV snapshot found by their bytes alone.
//!
//! Parsing a record and building its key was most of the cost of reading a snapshot whose rows
//! mostly did not change. A record read from a record boundary is a function of its bytes: the
//! same bytes at a record boundary of the next snapshot are the same record, with the same key
//! and the same end. So the next snapshot is read line by line, and a line that is, byte for
//! byte, a whole one-line row of the snapshot before is that row again — found by a hash of the
//! line, confirmed by comparing the bytes — without being parsed. Anything else (a changed row,
//! a row over several lines, a blank line) is parsed from where it starts, as before, and the
//! reading goes on from where it ends: still a record boundary.
//!
//! Only rows whose key appears once in their snapshot are indexed: a repeated key's number
//! depends on the rows before it, which are not read here.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

/// The one-line rows of a snapshot, by a hash of their bytes.
#[derive(Debug, Default)]
pub(super) struct Lines {
    rows: HashMap<u64, (Range<usize>, u32)>,
    hasher: std::collections::hash_map::RandomState,
}

impl Lines {
    /// An empty index that hashes as `other` does, so that a hash taken to look a line up in
    /// `other` can index it here too.
    pub(super) fn like(other: &Lines) -> Lines {
        Lines {
            rows: HashMap::with_capacity(other.rows.len()),
            hasher: other.hasher.clone(),
        }
    }

    pub(super) fn hash(&self, bytes: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(bytes);
        h.finish()
    }

    /// Indexes the row at `range` of `body`, of the key in `slot` (`hash`: of its bytes, if
    /// known). A row whose bytes another row already has (or whose hash it shares) is left
    /// out: it is parsed instead.
    pub(super) fn insert(
        &mut self,
        body: &[u8],
        range: Range<usize>,
        slot: u32,
        hash: Option<u64>,
    ) {
        let hash = hash.unwrap_or_else(|| self.hash(&body[range.clone()]));
        self.rows.entry(hash).or_insert((range, slot));
    }

    /// Every row indexed, and its key's slot.
    pub(super) fn rows(&self) -> impl Iterator<Item = (Range<usize>, u32)> + '_ {
        self.rows.values().cloned()
    }

    /// The row of `body` (the snapshot indexed) whose bytes are `line` (of hash `hash`), and
    /// its key's slot.
    pub(super) fn find(&self, body: &[u8], line: &[u8], hash: u64) -> Option<(Range<usize>, u32)> {
        let (range, slot) = self.rows.get(&hash)?;
        (body.get(range.clone()) == Some(line)).then(|| (range.clone(), *slot))
    }
}

/// The end of the line starting at `at` (after its `\n`, or the end of `body`).
pub(super) fn line_end(body: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i + 1)
}
