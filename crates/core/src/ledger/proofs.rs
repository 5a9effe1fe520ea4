//! The tree of a ledger (SPEC §5): roots at any size and RFC 9162 proofs, from the stored hashes
//! in O(log n) reads. The proofs are checked by [`crate::proof`], which needs no ledger.

use crate::error::Error;
use crate::ledger::Ledger;
use crate::storage::Hashes;
use crate::tree::merkle::Hash;

impl Ledger {
    /// The Merkle root of the tree of the first `tree_size` records, from the stored hashes in
    /// O(log n) reads.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, Error> {
        let head = self.head();
        if tree_size > head.tree_size {
            return Err(Error::NotFound {
                what: format!("tree size {tree_size} (the ledger has {})", head.tree_size),
            });
        }
        self.inner.store.root_at(tree_size)
    }

    /// The inclusion proof (RFC 9162 §2.1.3) of the record at `position` in the tree of
    /// `tree_size` records, from the stored tree in O(log n) reads.
    pub fn inclusion_proof(&self, position: u64, tree_size: u64) -> Result<Vec<Hash>, Error> {
        let head = self.head();
        if tree_size > head.tree_size || position >= tree_size {
            return Err(Error::NotFound {
                what: format!(
                    "an inclusion proof of position {position} in a tree of size {tree_size} \
                     (the ledger has {})",
                    head.tree_size
                ),
            });
        }
        let hashes = Hashes::new(&self.inner.store);
        let proof = tlog_tiles::prove_record(tree_size, position, &hashes);
        let proof: Vec<tlog_tiles::Hash> = hashes.outcome(proof, |e| Error::Integrity {
            position,
            what: format!("stored tree hashes are missing: {e}"),
        })?;
        Ok(proof.into_iter().map(Hash::from).collect())
    }

    /// The consistency proof (RFC 9162 §2.1.4) between the trees of `old_size` and `new_size`
    /// records.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, Error> {
        let head = self.head();
        if old_size == 0 || old_size > new_size || new_size > head.tree_size {
            return Err(Error::NotFound {
                what: format!(
                    "a consistency proof from size {old_size} to {new_size} (sizes must satisfy \
                     1 <= old <= new <= {})",
                    head.tree_size
                ),
            });
        }
        if old_size == new_size {
            return Ok(Vec::new());
        }
        let hashes = Hashes::new(&self.inner.store);
        let proof = tlog_tiles::prove_tree(new_size, old_size, &hashes);
        let proof: Vec<tlog_tiles::Hash> = hashes.outcome(proof, |e| Error::Integrity {
            position: new_size - 1,
            what: format!("stored tree hashes are missing: {e}"),
        })?;
        Ok(proof.into_iter().map(Hash::from).collect())
    }
}
