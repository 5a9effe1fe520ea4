//! What an import learned of the ledger, kept for the next import of the same mapping: the
//! state of every key at a tree size, so that continuing an import reads only the log after it
//! instead of the whole log (the comparison needs the state; reading it back out of every record
//! of the mapping was most of the time of a continued import).
//!
//! The file (`LEDGER/import-state/NAMESPACE.json`) is a cache, never trusted blindly: its first
//! line names the tree size and the root it was taken at and the SHA-256 of the rest, and it is
//! used only if the rest has that digest, the ledger has that root at that size (a restored or
//! altered ledger does not), and the snapshots to import come after
//! everything the mapping recorded (else the state before an older snapshot is needed, which
//! only the whole log gives). Otherwise the log is read whole, as without it. Failing to write
//! it costs the next import time, never correctness: it is not an error.
//!
//! Beside it, `NAMESPACE.csv` is the last snapshot read, when it was CSV, and the file names
//! its SHA-256, the mapping it was read under, and where each key's row is in it: the next
//! import under the same mapping begins there
//! ([`crate::reader::LastCsv`]), so that its first snapshot too is compared row by row with the
//! one before, not read whole.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::mapping::Mapping;
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

/// The file's first line: what it is, what it holds for, and the SHA-256 of the rest.
#[derive(Deserialize)]
struct Header {
    format: u32,
    namespace: Uuid,
    tree_size: u64,
    /// The root at `tree_size`, hex.
    root: String,
    latest: Option<DateTime<Utc>>,
    /// The fingerprint of the mapping the last snapshot was read under.
    mapping: String,
    /// SHA-256 of the lines after this one, hex: a file damaged in a way that still parses is
    /// not used.
    sha256: String,
}

/// The rest of the file.
#[derive(Deserialize)]
struct Body {
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

/// The saved state of `mapping`'s keys, if there is one, it is whole, and the ledger has its
/// root at its tree size; with the last snapshot read, if it was read under this very mapping.
pub(crate) fn load(target: &impl Target, mapping: &Mapping) -> Option<Saved> {
    let namespace = &mapping.namespace;
    let bytes = std::fs::read(path(target, namespace, "json")?).ok()?;
    let at = memchr::memchr(b'\n', &bytes)?;
    let (head, rest) = (&bytes[..at], &bytes[at + 1..]);
    let header: Header = serde_json::from_slice(head).ok()?;
    if header.format != FORMAT
        || header.namespace != *namespace
        || hex::encode(Sha256::digest(rest)) != header.sha256
    {
        return None;
    }
    let root = target.root_at(header.tree_size).ok()??;
    if hex::encode(root.0) != header.root {
        return None;
    }
    let body: Body = serde_json::from_slice(rest).ok()?;
    // The last snapshot, if it was read under this mapping and its body is the one named.
    let last = body
        .last
        .filter(|_| header.mapping == mapping.fingerprint)
        .and_then(|Last { sha256, mut csv }| {
            let bytes = std::fs::read(path(target, namespace, "csv")?).ok()?;
            (hex::encode(Sha256::digest(&bytes)) == sha256).then(|| {
                csv.body = bytes;
                csv
            })
        });
    Some(Saved {
        tree_size: header.tree_size,
        latest: header.latest,
        state: State::of(body.keys.into_iter().collect()),
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
    // The rest of the file, written around the parts already serialised, then the first line
    // naming its digest.
    let mut rest = Vec::with_capacity(prepared.keys.len() + last.len() + 32);
    rest.extend_from_slice(b"{\"keys\":");
    rest.extend_from_slice(&prepared.keys);
    rest.extend_from_slice(b",\"last\":");
    rest.extend_from_slice(last);
    rest.push(b'}');
    let head = serde_json::json!({
        "format": FORMAT, "namespace": namespace, "tree_size": tree_size,
        "root": hex::encode(root.0), "latest": ending.latest,
        "mapping": ending.mapping, "sha256": hex::encode(Sha256::digest(&rest)),
    })
    .to_string();
    let mut bytes = Vec::with_capacity(head.len() + 1 + rest.len());
    bytes.extend_from_slice(head.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&rest);
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
/// snapshots from `first` on (the earliest of them); else the whole log.
pub(crate) fn known(
    target: &impl Target,
    mapping: &Mapping,
    first: Option<DateTime<Utc>>,
) -> Result<Known, Error> {
    let namespace = &mapping.namespace;
    // Snapshots not after what the kept state holds need the whole log: not even its tail is
    // read for them.
    let kept = load(target, mapping).filter(|saved| match (first, saved.latest) {
        (Some(t), Some(l)) => t > l,
        _ => true,
    });
    if let Some(saved) = kept {
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
    /// The fingerprint of the mapping it was read under.
    pub(crate) mapping: String,
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
