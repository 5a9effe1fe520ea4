//! The RFC 9162 §2.1 Merkle tree over the records, with SHA-256.
//!
//! Hashing and the stored-hash arithmetic come from `tlog_tiles` (the C2SP tlog implementation);
//! this module keeps its types out of ikrar's API and adds a streaming builder that computes the
//! tree from leaves without any storage, used by `verify`, `import` and the tests as the
//! from-scratch reference.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Size of a hash in bytes.
pub const HASH_BYTES: usize = 32;

/// A SHA-256 tree hash.
///
/// ```
/// use ikrar_core::Hash;
/// let empty = Hash::empty_tree();
/// assert_eq!(empty.to_base64(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// assert_eq!(Hash::from_base64(&empty.to_base64()).unwrap(), empty);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_BYTES]);

impl Hash {
    /// The root of the empty tree: SHA-256 of nothing.
    pub fn empty_tree() -> Hash {
        Hash(tlog_tiles::EMPTY_HASH.0)
    }

    /// The leaf hash of a record: `SHA-256(0x00 ‖ record bytes)`.
    pub fn leaf(record_bytes: &[u8]) -> Hash {
        Hash(tlog_tiles::record_hash(record_bytes).0)
    }

    /// An interior node: `SHA-256(0x01 ‖ left ‖ right)`.
    pub fn node(left: Hash, right: Hash) -> Hash {
        Hash(tlog_tiles::node_hash(left.into(), right.into()).0)
    }

    /// Standard base64, as in checkpoints and proofs.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Option<Hash> {
        let bytes = BASE64.decode(s).ok()?;
        Some(Hash(bytes.try_into().ok()?))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl From<Hash> for tlog_tiles::Hash {
    fn from(h: Hash) -> Self {
        tlog_tiles::Hash(h.0)
    }
}

impl From<tlog_tiles::Hash> for Hash {
    fn from(h: tlog_tiles::Hash) -> Self {
        Hash(h.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_base64())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_base64(&s).ok_or_else(|| serde::de::Error::custom("not a base64 SHA-256 hash"))
    }
}

/// The root of the tree over `leaves`, by RFC 9162 §2.1.1's recursive definition, directly.
/// Quadratic-free but keeps every leaf in memory: the reference for tests, not for ledgers.
pub fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::empty_tree(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n as u64) as usize;
            Hash::node(reference_root(&leaves[..k]), reference_root(&leaves[k..]))
        }
    }
}

/// The largest power of two strictly less than `n` (for `n >= 2`), RFC 9162's `k`.
pub fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Builds the tree leaf by leaf in O(log n) memory, reporting each completed node.
///
/// The nodes it reports are exactly the stored hashes of the tlog scheme: for leaf `n`, the leaf
/// itself at `(level 0, n)`, then one node per trailing one-bit of `n`.
///
/// ```
/// use ikrar_core::{Hash, merkle::{TreeBuilder, reference_root}};
/// let leaves: Vec<Hash> = (0..7u8).map(|i| Hash::leaf(&[i])).collect();
/// let mut b = TreeBuilder::new();
/// for l in &leaves { b.push(*l); }
/// assert_eq!(b.root(), reference_root(&leaves));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    size: u64,
    /// `left[level]`: the last complete subtree at `level` whose index is even, i.e. the one
    /// still waiting for its right sibling, or (when bit `level` of `size` is set) a part of
    /// the current root.
    left: Vec<Hash>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds leaf `size` and returns the stored hashes it completes, as `(level, index, hash)`.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let mut out = Vec::with_capacity(2);
        self.push_into(leaf, &mut out);
        out
    }

    /// [`TreeBuilder::push`], writing the completed hashes into `out` (cleared first): for a
    /// caller pushing many leaves, without an allocation per leaf.
    pub fn push_into(&mut self, leaf: Hash, out: &mut Vec<(u8, u64, Hash)>) {
        out.clear();
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        out.push((0, index, hash));
        while index & 1 == 1 {
            hash = Hash::node(self.left[level as usize], hash);
            level += 1;
            index >>= 1;
            out.push((level, index, hash));
        }
        if self.left.len() <= level as usize {
            self.left.resize(level as usize + 1, Hash::default());
        }
        self.left[level as usize] = hash;
        self.size += 1;
    }

    /// The root over all leaves pushed so far.
    pub fn root(&self) -> Hash {
        if self.size == 0 {
            return Hash::empty_tree();
        }
        // The perfect subtrees of the root are the set bits of `size`, largest on the left;
        // fold them right to left.
        let mut acc: Option<Hash> = None;
        for level in 0..self.left.len() {
            if self.size >> level & 1 == 1 {
                let h = self.left[level];
                acc = Some(match acc {
                    None => h,
                    Some(right) => Hash::node(h, right),
                });
            }
        }
        acc.expect("size > 0 has a set bit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9162 §2.1.5's example: the 7 leaves `d0..d6` of RFC 6962's test vectors.
    fn rfc_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|s| hex(s))
        .collect()
    }

    #[test]
    fn rfc_test_vector_roots() {
        // Roots for sizes 1..=8 from the RFC 6962 / 9162 reference vectors.
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves: Vec<Hash> = rfc_leaves().iter().map(|d| Hash::leaf(d)).collect();
        let mut builder = TreeBuilder::new();
        for (i, leaf) in leaves.iter().enumerate() {
            builder.push(*leaf);
            assert_eq!(builder.root().to_hex(), expected[i], "size {}", i + 1);
            assert_eq!(reference_root(&leaves[..=i]).to_hex(), expected[i]);
        }
    }

    #[test]
    fn builder_matches_reference_at_every_size() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| Hash::leaf(&i.to_be_bytes())).collect();
        let mut b = TreeBuilder::new();
        assert_eq!(b.root(), Hash::empty_tree());
        for (i, l) in leaves.iter().enumerate() {
            let completed = b.push(*l);
            // The nodes reported are the tlog stored hashes for this leaf.
            let count = 1 + (i as u64 + 1).trailing_zeros() as usize;
            assert_eq!(completed.len(), count);
            assert_eq!(b.root(), reference_root(&leaves[..=i]));
        }
    }
}
