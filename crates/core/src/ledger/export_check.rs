//! The check of an export against the checkpoint it is to be imported with (SPEC §5), made
//! before anything is written: the export's first `tree_size` records, hashed as recorded, must
//! make the tree whose root the checkpoint signs.
//!
//! ```
//! use ikrar_core::{ExportCheck, SignerKey};
//! let key = SignerKey::generate("example.org/ikrar").unwrap();
//! let records = [&b"{\"position\":0}"[..], b"{\"position\":1}"];
//! let mut tree = ikrar_core::merkle::TreeBuilder::new();
//! tree.push(ikrar_core::Hash::leaf(records[0]));
//! let checkpoint = key.sign(1, tree.root()).unwrap();
//!
//! let mut check = ExportCheck::new(Some(&checkpoint));
//! for record in records {
//!     check.push(record);
//! }
//! assert_eq!(check.finish().unwrap(), 2);
//! ```

use crate::error::Error;
use crate::tree::checkpoint::SignedCheckpoint;
use crate::tree::merkle::{Hash, TreeBuilder};

/// An export's records checked against a checkpoint, one at a time: [`ExportCheck::push`] each
/// record in order, exactly as recorded, then [`ExportCheck::finish`].
pub struct ExportCheck<'c> {
    checkpoint: Option<&'c SignedCheckpoint>,
    tree: TreeBuilder,
    /// The root of the first `checkpoint.tree_size` records, once that many were pushed.
    root_at_checkpoint: Option<Hash>,
}

impl<'c> ExportCheck<'c> {
    /// A check against `checkpoint`; with none, it only counts the records.
    pub fn new(checkpoint: Option<&'c SignedCheckpoint>) -> Self {
        let root_at_checkpoint = checkpoint
            .filter(|c| c.tree_size == 0)
            .map(|_| Hash::empty_tree());
        ExportCheck {
            checkpoint,
            tree: TreeBuilder::new(),
            root_at_checkpoint,
        }
    }

    /// The next record of the export, exactly as recorded (without its line end).
    pub fn push(&mut self, record: &[u8]) {
        self.tree.push(Hash::leaf(record));
        if let Some(checkpoint) = self.checkpoint {
            if self.tree.size() == checkpoint.tree_size {
                self.root_at_checkpoint = Some(self.tree.root());
            }
        }
    }

    /// The number of records pushed, if the export extends the checkpoint; otherwise an
    /// [`Error::Integrity`] that says how it does not.
    pub fn finish(self) -> Result<u64, Error> {
        let total = self.tree.size();
        let Some(checkpoint) = self.checkpoint else {
            return Ok(total);
        };
        match self.root_at_checkpoint {
            None => Err(Error::Integrity {
                position: total,
                what: format!(
                    "the export has {total} records; the checkpoint signs {}",
                    checkpoint.tree_size
                ),
            }),
            Some(root) if root != checkpoint.root => Err(Error::Integrity {
                position: checkpoint.tree_size.saturating_sub(1),
                what: format!(
                    "the export's first {} records do not have the checkpoint's root",
                    checkpoint.tree_size
                ),
            }),
            Some(_) => Ok(total),
        }
    }
}
