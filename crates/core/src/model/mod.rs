//! What the ledger holds: the event types (SPEC §2), their input form (§2.2), the recorded form
//! (§2.3) and the two kinds of time an event carries.
//!
//! The model knows nothing of storage, validation against a ledger, or the tree: every type here
//! can be built, parsed and encoded without a ledger at hand.

pub mod event;
pub mod input;
pub mod moment;
pub mod record;
