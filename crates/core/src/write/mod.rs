//! Writing: how an append becomes durable records.
//!
//! * [`writer`]: the single writer thread per open ledger and its group commit.
//! * [`rules`]: the rulebook, SPEC §3's rules for one event, one function per event type.
//! * [`stage`]: an append decided by the rules, assigned positions, ids and versions, and staged.
//! * [`chain`]: appends handed over one by one, staged as they come, committed together or not.
//! * [`in_parts`]: an append too large for memory, checked part by part against the ones before.
//! * [`import`]: the checks of recorded records (an export) and their staging, byte for byte.
//! * [`layer`]: the overlay the rules read — the store under what is staged so far.
//! * [`pipeline`]: validated events encoded and hashed, on a second thread for a large append.
//! * [`clock`]: where the writer reads the moment of recording.
//!
//! Writing sits on [`crate::storage`] and below the public API ([`crate::Ledger`]); it knows
//! nothing of the ledger's location, of readers or of verify.

pub(crate) mod chain;
pub(crate) mod clock;
pub(crate) mod import;
pub(crate) mod in_parts;
pub(crate) mod layer;
pub(crate) mod pipeline;
pub(crate) mod rules;
pub(crate) mod stage;
pub(crate) mod stats;
pub(crate) mod writer;

pub use chain::{AppendChain, CHAIN_EVENTS_MAX};
pub use clock::Clock;
pub use in_parts::{AppendCheck, Reread};
pub use stage::{AppendOutcome, EVENTS_PER_APPEND_MAX};
pub use writer::{GROUP_EVENTS_MAX, QUEUE_APPENDS_MAX};
