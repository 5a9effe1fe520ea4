//! The checks run when a ledger opens: cheap (O(log n)), so every open can afford them, and
//! aimed at what a crash, a truncated database or a rewritten history leaves behind. The full
//! scan is [`super::verify`].

use crate::error::Error;
use crate::model::record::Record;
use crate::storage::{Hashes, Head, Store};
use crate::tree::checkpoint::parse_unverified;
use crate::tree::merkle::Hash;
use crate::verify::integrity;

/// At open: the latest checkpoint is within the log and the stored tree has its root.
pub(crate) fn check_latest_checkpoint(store: &Store, head: &Head) -> Result<(), Error> {
    let notes = store.checkpoint_notes()?;
    let Some((size, note)) = notes.iter().max_by_key(|(size, _)| *size) else {
        return Ok(());
    };
    let checkpoint = parse_unverified(note)
        .map_err(|e| integrity(*size, format!("the latest checkpoint is malformed: {e}")))?;
    if checkpoint.tree_size > head.tree_size {
        return Err(checkpoint_beyond_log(checkpoint.tree_size, head));
    }
    let root = stored_root(store, checkpoint.tree_size)?;
    if root != checkpoint.root {
        return Err(integrity(
            checkpoint.tree_size.saturating_sub(1),
            format!(
                "the tree differs from the checkpoint of size {}",
                checkpoint.tree_size
            ),
        ));
    }
    Ok(())
}

/// The check run at open: the head, the last record and the root agree, and nothing lies
/// beyond the head. O(log n), so every open can afford it. `shared`: other processes may commit
/// between reading the head and the records, so records beyond the head are later commits.
pub(crate) fn check_tail(store: &Store, head: &Head, shared: bool) -> Result<(), Error> {
    let last = match store.backend.last_position()? {
        Some(p) if shared && p >= head.tree_size => head.tree_size.checked_sub(1),
        last => last,
    };
    if head.tree_size == 0 {
        return match last {
            None => Ok(()),
            Some(_) => Err(integrity(0, "a record lies beyond the head (tree size 0)")),
        };
    }
    let expected_last = head.tree_size - 1;
    match last {
        Some(p) if p > expected_last => {
            return Err(integrity(
                expected_last + 1,
                format!(
                    "a record lies beyond the head (tree size {})",
                    head.tree_size
                ),
            ))
        }
        Some(p) if p < expected_last => {
            return Err(integrity(
                p + 1,
                format!(
                    "the log ends at {} records but its head says {}: records are missing",
                    p + 1,
                    head.tree_size
                ),
            ))
        }
        None => {
            return Err(integrity(
                0,
                format!(
                    "the log is empty but its head says {} records",
                    head.tree_size
                ),
            ))
        }
        Some(_) => {}
    }
    let bytes = store
        .record_bytes(expected_last)?
        .ok_or_else(|| integrity(expected_last, "the last record is missing"))?;
    let record = Record::decode(&bytes).map_err(|e| {
        integrity(
            expected_last,
            format!("the last record does not decode: {e}"),
        )
    })?;
    if record.position != expected_last || record.recorded_at != head.last_recorded_at {
        return Err(integrity(
            expected_last,
            "the last record does not match the head",
        ));
    }
    if store.hash(0, expected_last)? != Some(Hash::leaf(&bytes)) {
        return Err(integrity(
            expected_last,
            "the last record's hash differs from the stored tree (the record was altered)",
        ));
    }
    let root = stored_root(store, head.tree_size)?;
    if root != head.root {
        return Err(integrity(
            expected_last,
            "the stored tree does not give the head's root",
        ));
    }
    Ok(())
}

/// The root of the first `tree_size` records, from the stored tree hashes.
pub(super) fn stored_root(store: &Store, tree_size: u64) -> Result<Hash, Error> {
    let hashes = Hashes::new(store);
    let root = tlog_tiles::tree_hash(tree_size, &hashes);
    hashes.outcome(root, |e| {
        integrity(
            tree_size.saturating_sub(1),
            format!("stored tree hashes are missing: {e}"),
        )
    })
}

/// A checkpoint signed at a size the log no longer reaches.
pub(super) fn checkpoint_beyond_log(checkpoint_size: u64, head: &Head) -> Error {
    integrity(
        head.tree_size,
        format!(
            "a checkpoint was signed at size {checkpoint_size} but the log holds {} records: records were lost",
            head.tree_size
        ),
    )
}
/// Compares the log with the head file written after every acknowledged commit: the log must
/// hold at least the acknowledged records, with the acknowledged root.
pub(crate) fn check_against_head_file(
    store: &Store,
    head: &Head,
    acknowledged: Option<Head>,
) -> Result<(), Error> {
    let Some(acknowledged) = acknowledged else {
        return Err(integrity(
            head.tree_size,
            "the head file is missing, so lost records could not be detected; \
             if it was deleted by mistake, restore it from a backup",
        ));
    };
    if acknowledged.tree_size > head.tree_size {
        return Err(integrity(
            head.tree_size,
            format!(
                "{} records were acknowledged but the log holds only {}: records were lost \
                 (the database was truncated or damaged)",
                acknowledged.tree_size, head.tree_size
            ),
        ));
    }
    let root = stored_root(store, acknowledged.tree_size)?;
    if root != acknowledged.root {
        return Err(integrity(
            acknowledged.tree_size.saturating_sub(1),
            "the log's tree differs from the acknowledged root: history was rewritten",
        ));
    }
    Ok(())
}
