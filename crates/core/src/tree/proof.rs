//! Inclusion and consistency proofs (RFC 9162 §2.1.3–2.1.4).
//!
//! Proofs are built from the stored tree in O(log n) reads and checked with `tlog_tiles` (a port
//! of Go's `golang.org/x/mod/sumdb/tlog`, whose proofs are RFC 6962's audit paths and
//! consistency proofs, which RFC 9162 keeps). The checks here wrap it so that no input — wrong
//! sizes, size 0, too many or too few hashes — can make them panic, loop, or do more than
//! O(log n) work.

use crate::tree::merkle::Hash;

/// The most hashes a proof can hold: inclusion needs at most 64 for a 64-bit tree size, and a
/// consistency proof at most about twice that.
pub const PROOF_HASHES_MAX: usize = 130;

/// Why a proof does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes or indexes do not describe a proof that can exist.
    #[error("invalid proof input: {0}")]
    InvalidInput(String),
    /// The hashes do not lead to the expected root(s).
    #[error("the proof does not lead to the expected root")]
    Mismatch,
}

fn to_tlog(proof: &[Hash]) -> Vec<tlog_tiles::Hash> {
    proof.iter().map(|h| (*h).into()).collect()
}

/// Checks that `proof` shows the leaf `leaf_hash` at `index` in the tree of `tree_size` leaves
/// whose root is `root`.
///
/// ```
/// use ikrar_core::{Hash, proof::verify_inclusion};
/// let leaves: Vec<Hash> = (0..3u8).map(|i| Hash::leaf(&[i])).collect();
/// let root = ikrar_core::merkle::reference_root(&leaves);
/// // Leaf 2 of 3: its audit path is the root of leaves 0..2.
/// let path = vec![Hash::node(leaves[0], leaves[1])];
/// assert!(verify_inclusion(leaves[2], 2, 3, &path, root).is_ok());
/// assert!(verify_inclusion(leaves[1], 2, 3, &path, root).is_err());
/// ```
pub fn verify_inclusion(
    leaf_hash: Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: Hash,
) -> Result<(), ProofError> {
    if tree_size == 0 {
        return Err(ProofError::InvalidInput(
            "a tree of size 0 has no leaves".into(),
        ));
    }
    if index >= tree_size {
        return Err(ProofError::InvalidInput(format!(
            "index {index} is not below tree size {tree_size}"
        )));
    }
    // An audit path has exactly one hash per level on the way up.
    if proof.len() > 64 {
        return Err(ProofError::InvalidInput(format!(
            "{} hashes is longer than any inclusion proof",
            proof.len()
        )));
    }
    tlog_tiles::check_record(
        &to_tlog(proof),
        tree_size,
        root.into(),
        index,
        leaf_hash.into(),
    )
    .map_err(|_| ProofError::Mismatch)
}

/// Checks that `proof` shows the tree of `old_size` leaves with root `old_root` to be a prefix of
/// the tree of `new_size` leaves with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: Hash,
    new_root: Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 {
        return Err(ProofError::InvalidInput(
            "the empty tree is a prefix of every tree; there is no proof to check".into(),
        ));
    }
    if old_size > new_size {
        return Err(ProofError::InvalidInput(format!(
            "old size {old_size} is larger than new size {new_size}"
        )));
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if proof.len() > PROOF_HASHES_MAX {
        return Err(ProofError::InvalidInput(format!(
            "{} hashes is longer than any consistency proof",
            proof.len()
        )));
    }
    tlog_tiles::check_tree(
        &to_tlog(proof),
        new_size,
        new_root.into(),
        old_size,
        old_root.into(),
    )
    .map_err(|_| ProofError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::merkle::{largest_power_of_two_below, reference_root};

    /// RFC 9162 §2.1.3.1's PATH(m, D[n]), directly.
    fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n == 1 {
            return vec![];
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m < k {
            let mut p = reference_path(m, &leaves[..k]);
            p.push(reference_root(&leaves[k..]));
            p
        } else {
            let mut p = reference_path(m - k, &leaves[k..]);
            p.push(reference_root(&leaves[..k]));
            p
        }
    }

    /// RFC 9162 §2.1.4.1's SUBPROOF(m, D[n], b), directly.
    fn reference_subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if complete {
                vec![]
            } else {
                vec![reference_root(leaves)]
            };
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m <= k {
            let mut p = reference_subproof(m, &leaves[..k], complete);
            p.push(reference_root(&leaves[k..]));
            p
        } else {
            let mut p = reference_subproof(m - k, &leaves[k..], false);
            p.push(reference_root(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Hash::leaf(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_inclusion_proof_up_to_64_leaves_checks_and_tampering_fails() {
        let all = leaves(64);
        for n in 1..=64 {
            let root = reference_root(&all[..n]);
            for m in 0..n {
                let path = reference_path(m, &all[..n]);
                verify_inclusion(all[m], m as u64, n as u64, &path, root).unwrap();
                // Wrong index, wrong leaf, a garbled, missing or extra hash: all refused.
                if n > 1 {
                    let other = (m + 1) % n;
                    assert!(verify_inclusion(all[m], other as u64, n as u64, &path, root).is_err());
                    assert!(verify_inclusion(all[other], m as u64, n as u64, &path, root).is_err());
                    let mut garbled = path.clone();
                    garbled[0].0[0] ^= 1;
                    assert!(verify_inclusion(all[m], m as u64, n as u64, &garbled, root).is_err());
                    let mut short = path.clone();
                    short.pop();
                    assert!(verify_inclusion(all[m], m as u64, n as u64, &short, root).is_err());
                }
                let mut long = path.clone();
                long.push(root);
                assert!(verify_inclusion(all[m], m as u64, n as u64, &long, root).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves_checks_and_tampering_fails() {
        let all = leaves(64);
        for n in 1..=64 {
            let new_root = reference_root(&all[..n]);
            for m in 1..=n {
                let old_root = reference_root(&all[..m]);
                let proof = reference_subproof(m, &all[..n], true);
                verify_consistency(m as u64, n as u64, old_root, new_root, &proof).unwrap();
                if m < n {
                    let mut garbled = proof.clone();
                    let last = garbled.len() - 1;
                    garbled[last].0[31] ^= 0x80;
                    assert!(
                        verify_consistency(m as u64, n as u64, old_root, new_root, &garbled)
                            .is_err()
                    );
                    let mut short = proof.clone();
                    short.remove(0);
                    assert!(
                        verify_consistency(m as u64, n as u64, old_root, new_root, &short).is_err()
                    );
                    assert!(
                        verify_consistency(m as u64, n as u64, new_root, new_root, &proof).is_err()
                    );
                }
                let mut long = proof.clone();
                long.push(new_root);
                assert!(verify_consistency(m as u64, n as u64, old_root, new_root, &long).is_err());
            }
        }
        assert!(
            verify_consistency(0, 5, Hash::empty_tree(), reference_root(&all[..5]), &[]).is_err()
        );
        assert!(verify_consistency(6, 5, Hash::empty_tree(), Hash::empty_tree(), &[]).is_err());
        assert!(verify_inclusion(all[0], 0, 0, &[], Hash::empty_tree()).is_err());
    }
}
