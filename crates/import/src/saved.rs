//! What an import learned of the ledger, kept for the next import of the same mapping: the
//! state of every key at a tree size, so that continuing an import reads only the log after it
//! instead of the whole log (the comparison needs the state; reading it back out of every record
//! of the mapping was most of the time of a continued import).
//!
//! The file (`LEDGER/import-state/NAMESPACE.json`) is a cache, never trusted blindly: it names
//! the tree size and the root it was taken at, and is used only if the ledger has that root at
//! that size (a restored or altered ledger does not) and the snapshots to import come after
//! everything the mapping recorded (else the state before an older snapshot is needed, which
//! only the whole log gives). Otherwise the log is read whole, as without it. Failing to write
//! it costs the next import time, never correctness: it is not an error.
//!
//! Beside it, `NAMESPACE.csv` is the last snapshot read, when it was CSV, and the file names
//! its SHA-256 and where each key's row is in it: the next import's reader begins there
//! ([`crate::reader::LastCsv`]), so that its first snapshot too is compared row by row with the
//! one before, not read whole.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::reader::LastCsv;
use crate::state::{self, Current, Found, State};
use crate::target::Target;

/// The file's format; another is ignored.
const FORMAT: u32 = 1;

/// The state of a mapping's keys as the ledger held it at a tree size.
#[derive(Debug)]
pub(crate) struct Saved {
    pub(crate) tree_size: u64,
    /// The latest effective moment of the mapping's events.
    pub(crate) latest: Option<DateTime<Utc>>,
    pub(crate) state: State,
    pub(crate) last: Option<LastCsv>,
}

#[derive(Deserialize)]
struct File {
    format: u32,
    namespace: Uuid,
    tree_size: u64,
    /// The root at `tree_size`, hex.
    root: String,
    latest: Option<DateTime<Utc>>,
    keys: Vec<(String, Current)>,
    last: Option<Last>,
}

/// The last snapshot read: its header and rows, and the SHA-256 of its body (in its own file).
#[derive(Serialize, Deserialize)]
struct Last {
    sha256: String,
    #[serde(flatten)]
    csv: LastCsv,
}

fn path(target: &impl Target, namespace: &Uuid, extension: &str) -> Option<PathBuf> {
    Some(
        target
            .cache_dir()?
            .join("import-state")
            .join(format!("{namespace}.{extension}")),
    )
}

/// The saved state of `namespace`'s keys, if there is one and the ledger has its root at its
/// tree size.
pub(crate) fn load(target: &impl Target, namespace: &Uuid) -> Option<Saved> {
    let bytes = std::fs::read(path(target, namespace, "json")?).ok()?;
    let file: File = serde_json::from_slice(&bytes).ok()?;
    if file.format != FORMAT || file.namespace != *namespace {
        return None;
    }
    let root = target.root_at(file.tree_size).ok()??;
    if hex::encode(root.0) != file.root {
        return None;
    }
    // The last snapshot, if its body is the one the file names.
    let last = file.last.and_then(|Last { sha256, mut csv }| {
        let body = std::fs::read(path(target, namespace, "csv")?).ok()?;
        (hex::encode(Sha256::digest(&body)) == sha256).then(|| {
            csv.body = body;
            csv
        })
    });
    Some(Saved {
        tree_size: file.tree_size,
        latest: file.latest,
        state: State::of(file.keys.into_iter().collect()),
        last,
    })
}

/// What the file holds of an [`Ending`], made ready before the tree size it will be at is
/// known (while the import's appends are committed).
pub(crate) struct Prepared {
    keys: Vec<u8>,
    last: Option<Vec<u8>>,
}

/// [`Prepared`] of `ending`.
pub(crate) fn prepare(ending: &Ending) -> Option<Prepared> {
    let mut keys: Vec<(&String, &Current)> = ending.state.keys.iter().collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let last = match &ending.last {
        Some(csv) => Some(
            serde_json::to_vec(&serde_json::json!({
                "sha256": hex::encode(Sha256::digest(&csv.body)),
                "headers": csv.headers, "rows": csv.rows,
            }))
            .ok()?,
        ),
        None => None,
    };
    Some(Prepared {
        keys: serde_json::to_vec(&keys).ok()?,
        last,
    })
}

/// Writes `bytes` to `path` whole: to a temporary file, renamed over the old one, so that a
/// reader sees one or the other.
fn write(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// Keeps `prepared`, the state of `namespace`'s keys at `tree_size`, and the last snapshot
/// read, for the next import. Best effort: the snapshot is written first, then the file naming
/// it, each whole.
fn save(
    target: &impl Target,
    namespace: &Uuid,
    tree_size: u64,
    ending: &Ending,
    prepared: &Prepared,
) {
    let (Some(json), Some(csv), Ok(Some(root))) = (
        path(target, namespace, "json"),
        path(target, namespace, "csv"),
        target.root_at(tree_size),
    ) else {
        return;
    };
    let last = match (&prepared.last, &ending.last) {
        (Some(last), Some(snapshot)) if write(&csv, &snapshot.body).is_ok() => last.as_slice(),
        _ => b"null",
    };
    // The file of [`File`], written around the parts already serialised.
    let head = serde_json::json!({
        "format": FORMAT, "namespace": namespace, "tree_size": tree_size,
        "root": hex::encode(root.0), "latest": ending.latest,
    })
    .to_string();
    let mut bytes = Vec::with_capacity(head.len() + prepared.keys.len() + last.len() + 32);
    bytes.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    bytes.extend_from_slice(b",\"keys\":");
    bytes.extend_from_slice(&prepared.keys);
    bytes.extend_from_slice(b",\"last\":");
    bytes.extend_from_slice(last);
    bytes.push(b'}');
    let _ = write(&json, &bytes);
}

/// What the ledger holds for a mapping before an import.
pub(crate) struct Known {
    /// The state kept by the last import (empty without one)...
    pub(crate) state: State,
    /// ...and the mapping's events after it, in fold order (all of them without one).
    pub(crate) found: Vec<Found>,
    /// The latest effective moment of the mapping's events.
    pub(crate) latest: Option<DateTime<Utc>>,
    /// The tree size the log was read to.
    pub(crate) read_to: u64,
    /// The last snapshot the earlier import read, for the reader to begin at.
    pub(crate) last: Option<LastCsv>,
}

/// The saved state and the log after it, where they give what the whole log would for
/// snapshots from `first` on; else the whole log.
pub(crate) fn known(
    target: &impl Target,
    namespace: &Uuid,
    first: Option<DateTime<Utc>>,
) -> Result<Known, Error> {
    if let Some(saved) = load(target, namespace) {
        let (tail, read_to) = state::found(target, namespace, saved.tree_size)?;
        let latest = tail
            .iter()
            .map(|f| f.record.effective.start())
            .chain(saved.latest)
            .max();
        // Folded after the saved state, the tail must come after it in the fold order; and the
        // snapshots after every event (the state before an older one is only in the log).
        let in_order = tail
            .first()
            .is_none_or(|f| saved.latest.is_none_or(|l| f.record.effective.start() >= l));
        let after = match (first, latest) {
            (Some(t), Some(l)) => t > l,
            _ => true,
        };
        if in_order && after {
            return Ok(Known {
                state: saved.state,
                found: tail,
                latest,
                read_to,
                last: saved.last,
            });
        }
    }
    let (found, read_to) = state::found(target, namespace, 0)?;
    let latest = found.iter().map(|f| f.record.effective.start()).max();
    Ok(Known {
        state: State::default(),
        found,
        latest,
        read_to,
        last: None,
    })
}

/// The state a plan ends with, once it is recorded.
#[derive(Debug)]
pub(crate) struct Ending {
    pub(crate) state: State,
    /// The tree size the plan read the log to.
    pub(crate) read_to: u64,
    pub(crate) latest: Option<DateTime<Utc>>,
    /// The last snapshot read, if it was CSV.
    pub(crate) last: Option<LastCsv>,
}

/// Saves `ending` ([`prepare`]d) if the import's `new_events` are all that was appended since
/// the log was read (`tree_size` after them): else another writer's events, maybe of this
/// mapping, came between, and the state is not known to be the ledger's.
pub(crate) fn keep(
    target: &impl Target,
    namespace: &Uuid,
    ending: &Ending,
    prepared: &Prepared,
    new_events: usize,
    tree_size: u64,
) {
    if ending.read_to + new_events as u64 == tree_size {
        save(target, namespace, tree_size, ending, prepared);
    }
}
