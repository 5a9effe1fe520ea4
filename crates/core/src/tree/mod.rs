//! The verifiable part (SPEC §5): the RFC 9162 Merkle tree over every record, the proofs a
//! reader checks without trusting the ledger, and signed checkpoints (C2SP signed notes).
//!
//! Pure functions and types over hashes: the tree knows nothing of events, storage or the
//! writer. Where the stored hashes live is the storage's business; this module only computes
//! and checks.

pub mod checkpoint;
pub mod merkle;
pub mod proof;
