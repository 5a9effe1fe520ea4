//! The present's counts, saved beside the snapshot: the summary as known at the snapshot's
//! position, for every `as_of` from the moment it was saved until the next change any entry
//! takes effect at. A summary in that basis — `ikrar summary` with no basis given, on a ledger
//! no one has written since — is then answered from this small file, without reading the
//! snapshot whole (`crate::lazy`).
//!
//! Like the snapshot it is a cache, and nothing in it is taken on trust: it names the position
//! and the ledger's root there (checked against the ledger), and carries its own digest; one
//! that does not check out, or whose basis differs, is passed over for the whole path.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use ikrar_core::Ledger;
use serde::{Deserialize, Serialize};

use crate::basis::ResolvedBasis;
use crate::projection::Timelines;
use crate::view::{StatusKey, Summary};

/// The file's name in the projection's directory.
pub(crate) const PRESENT_FILE: &str = "present";
/// Bumped whenever what the counts mean changes.
const PRESENT_FORMAT: u32 = 1;

/// What the file holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct Present {
    format: u32,
    /// The position the counts are known at, and the ledger's root there (hex).
    pub(crate) reached: u64,
    root: String,
    /// The counts hold for `as_of` in `[from, until)` (microseconds since the Unix epoch;
    /// `until` absent: no entry takes effect later).
    pub(crate) from_micros: i64,
    pub(crate) until_micros: Option<i64>,
    pub(crate) total: u64,
    pub(crate) by_status: BTreeMap<StatusKey, u64>,
    pub(crate) by_party: BTreeMap<String, u64>,
}

impl Present {
    /// The counts of `summary`, known at `reached` (whose root is `root`), holding for `as_of`
    /// in `[from_micros, until_micros)`.
    pub(crate) fn new(
        reached: u64,
        root: &[u8; 32],
        from_micros: i64,
        until_micros: Option<i64>,
        summary: Summary,
    ) -> Present {
        Present {
            format: PRESENT_FORMAT,
            reached,
            root: hex::encode(root),
            from_micros,
            until_micros,
            total: summary.total,
            by_status: summary.by_status,
            by_party: summary.by_party,
        }
    }

    /// The counts as a summary in `basis`.
    pub(crate) fn summary(&self, basis: &ResolvedBasis) -> Summary {
        let mut summary = Summary::from_statuses(basis, std::iter::empty());
        summary.total = self.total;
        summary.by_status = self.by_status.clone();
        summary.by_party = self.by_party.clone();
        summary
    }

    /// Writes the counts to `dir`: a new file, renamed over the old one only once whole.
    pub(crate) fn store(&self, dir: &Path) -> std::io::Result<()> {
        let body = serde_json::to_string(self).map_err(std::io::Error::other)?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let tmp = dir.join(format!("{PRESENT_FILE}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, format!("{body}\n{digest}\n"))?;
        std::fs::rename(&tmp, dir.join(PRESENT_FILE))
    }

    /// The counts in `dir`, if they are whole, of this ledger at `reached`, and hold at
    /// `as_of_micros`.
    pub(crate) fn load(
        dir: &Path,
        ledger: &Ledger,
        reached: u64,
        as_of_micros: i64,
    ) -> Option<Present> {
        let text = std::fs::read_to_string(dir.join(PRESENT_FILE)).ok()?;
        let (body, digest) = text.trim_end().split_once('\n')?;
        if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())) != digest {
            return None;
        }
        let present: Present = serde_json::from_str(body).ok()?;
        let holds = present.format == PRESENT_FORMAT
            && present.reached == reached
            && present.from_micros <= as_of_micros
            && present
                .until_micros
                .is_none_or(|until| as_of_micros < until)
            && ledger
                .root_at(reached)
                .is_ok_and(|root| hex::encode(root.0) == present.root);
        holds.then_some(present)
    }
}

/// Writes the counts of `t` (at `t.reached`, whose root is `root`) as of `now`.
pub(crate) fn write_present(
    dir: &Path,
    t: &Timelines,
    root: &[u8; 32],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    let basis = ResolvedBasis::new(t.reached, now);
    let summary = crate::projection::summary_of(t, &basis);
    let now_micros = now.timestamp_micros();
    // The first instant after `now` at which any entry the basis knows takes effect: until then
    // every fold in this `known_at` is what it is at `now`.
    let until_micros = t
        .commitments
        .values()
        .flat_map(|timeline| &timeline.entries)
        .filter(|e| e.position < t.reached && e.effective_micros > now_micros)
        .map(|e| e.effective_micros)
        .min();
    Present::new(t.reached, root, now_micros, until_micros, summary).store(dir)
}

/// The summary in `basis` from the counts in `dir`, if they are whole, of this ledger at
/// `reached`, and hold in `basis`.
pub(crate) fn read_present(
    dir: &Path,
    ledger: &Ledger,
    reached: u64,
    basis: &ResolvedBasis,
) -> Option<Summary> {
    if basis.tree_size != reached {
        return None;
    }
    let present = Present::load(dir, ledger, reached, basis.as_of.timestamp_micros())?;
    Some(present.summary(basis))
}
