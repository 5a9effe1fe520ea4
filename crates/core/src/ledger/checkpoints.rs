//! A ledger's checkpoints (SPEC §5): signing one of the current tree, storing one signed
//! elsewhere, and reading them back. A checkpoint is stored only if this ledger's tree has its
//! root, and only if it is on one history with the checkpoints stored before it.

use crate::error::Error;
use crate::ledger::Ledger;
use crate::tree::checkpoint::{self, SignedCheckpoint, SignerKey, VerifierKey};

impl Ledger {
    /// Every checkpoint the ledger has signed or accepted, by tree size.
    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, Error> {
        self.inner
            .store
            .checkpoint_notes()?
            .into_iter()
            .map(|(size, note)| {
                checkpoint::parse_unverified(&note).map_err(|e| Error::Integrity {
                    position: size,
                    what: format!("a stored checkpoint is malformed: {e}"),
                })
            })
            .collect()
    }

    /// The checkpoint of the largest tree size, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, Error> {
        Ok(self.checkpoints()?.into_iter().max_by_key(|c| c.tree_size))
    }

    /// The stored checkpoint of exactly `tree_size`, if any.
    pub fn checkpoint_at(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>, Error> {
        Ok(self
            .checkpoints()?
            .into_iter()
            .find(|c| c.tree_size == tree_size))
    }

    /// The stored verifier key of a checkpoint origin (the key name).
    pub fn verifier_key(&self, name: &str) -> Result<Option<VerifierKey>, Error> {
        match self.inner.store.verifier_key(name)? {
            None => Ok(None),
            Some(text) => Ok(Some(VerifierKey::parse(&text)?)),
        }
    }

    /// Checks that this ledger's tree extends `checkpoint`: its size is not beyond the head and
    /// the stored tree has its root at that size.
    fn check_extends(&self, checkpoint: &SignedCheckpoint) -> Result<(), Error> {
        let head = self.head();
        if checkpoint.tree_size > head.tree_size {
            return Err(Error::Integrity {
                position: head.tree_size,
                what: format!(
                    "the checkpoint of size {} is beyond the ledger's {} records",
                    checkpoint.tree_size, head.tree_size
                ),
            });
        }
        if self.root_at(checkpoint.tree_size)? != checkpoint.root {
            return Err(Error::Integrity {
                position: checkpoint.tree_size.saturating_sub(1),
                what: format!(
                    "the tree is not consistent with the checkpoint of size {}",
                    checkpoint.tree_size
                ),
            });
        }
        Ok(())
    }

    /// Signs a checkpoint of the current tree and stores it. Refuses if the tree is not
    /// consistent with the last checkpoint stored. Signing the same tree again with the same key
    /// answers the stored checkpoint.
    pub fn sign_checkpoint(&self, key: &SignerKey) -> Result<SignedCheckpoint, Error> {
        let _guard = self.inner.checkpoint_lock.lock();
        let head = self.head();
        if let Some(last) = self.latest_checkpoint()? {
            self.check_extends(&last)?;
        }
        if let Some(existing) = self
            .checkpoints()?
            .into_iter()
            .find(|c| c.tree_size == head.tree_size && c.origin == key.name())
        {
            return Ok(existing);
        }
        let signed = key.sign(head.tree_size, head.root)?;
        self.inner.store.put_checkpoint(
            signed.tree_size,
            key.name(),
            &signed.note,
            key.verifier_key().text(),
        )?;
        Ok(signed)
    }

    /// Stores a checkpoint signed elsewhere (e.g. the one an export was imported against),
    /// after checking its signature with `key` and that this ledger's tree has its root.
    pub fn add_checkpoint(&self, note: &str, key: &VerifierKey) -> Result<SignedCheckpoint, Error> {
        let _guard = self.inner.checkpoint_lock.lock();
        let checkpoint = key.open(note)?;
        self.check_extends(&checkpoint)?;
        if let Some(last) = self.latest_checkpoint()? {
            // Both must be on one history: the later must extend the earlier.
            let (earlier, later) = if last.tree_size <= checkpoint.tree_size {
                (&last, &checkpoint)
            } else {
                (&checkpoint, &last)
            };
            if self.root_at(earlier.tree_size)? != earlier.root
                || self.root_at(later.tree_size)? != later.root
            {
                return Err(Error::Integrity {
                    position: earlier.tree_size,
                    what: "the checkpoint is not consistent with the last one".into(),
                });
            }
        }
        self.inner
            .store
            .put_checkpoint(checkpoint.tree_size, key.name(), note, key.text())?;
        Ok(checkpoint)
    }
}
