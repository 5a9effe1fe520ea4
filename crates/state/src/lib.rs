//! # ikrar-state
//!
//! Derives the state of a ledger's commitments and meetings in any basis (SPEC §4): the current
//! state, the state at any past date *as known at any past moment*, summaries and diffs.
//!
//! Two implementations of the same semantics live here: [`reference::fold`], a literal fold of
//! the whole log kept as the oracle, and [`Projection`], per-subject timelines persisted beside
//! the ledger, which answer a query with a filter and a small sort per subject. Property tests
//! hold the two to the same answers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ikrar_core::{InputEvent, Ledger, Moment, Status};
//! use ikrar_state::{Basis, KnownAt, Projection};
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::create(dir.path().join("l"))?;
//! let id = "0194a1c2-7f00-7000-8000-000000000001";
//! ledger.append(vec![InputEvent::from_json(&format!(r#"{{"type":"commitment_made","actor":"kim",
//!     "data":{{"commitment_id":"{id}","title":"Summit","made_on":"2025-01-16"}}}}"#))?]).await?;
//! ledger.append(vec![InputEvent::from_json(&format!(r#"{{"type":"commitment_status_changed",
//!     "actor":"kim","effective":"2025-06-01",
//!     "data":{{"commitment_id":"{id}","status":"fulfilled","label":"Held"}}}}"#))?]).await?;
//! let state = Projection::open(&ledger)?;
//! let id = id.parse()?;
//! // What was true on 30 April 2025, as we know it now:
//! let april = Basis::new(None, Some("2025-04-30".parse::<Moment>()?));
//! assert_eq!(state.commitment(id, &april)?.unwrap().status, Status::Announced);
//! // Today:
//! assert_eq!(state.commitment(id, &Basis::now())?.unwrap().status, Status::Fulfilled);
//! // What did the ledger say when it held only the first event?
//! let then = Basis::new(Some(KnownAt::TreeSize(1)), None);
//! assert_eq!(state.commitment(id, &then)?.unwrap().status, Status::Announced);
//! # Ok(()) }
//! ```

mod apply;
mod basis;
mod error;
mod folding;
mod lazy;
mod present;
mod projection;
mod query;
mod rebuild;
pub mod reference;
mod series;
mod snapshot;
mod streamed;
mod tail;
mod timeline;
mod view;

pub use basis::{Basis, KnownAt, KnownAtView, ResolvedBasis};
pub use error::Error;
pub use lazy::{LAZY_TIMELINES_MAX, STREAMED_ABOVE_BYTES};
pub use projection::{Projection, PROJECTION_DIR};
pub use query::{normalize_words, ListFilter, Listed, MeetingFilter, Page, Sort};
pub use rebuild::{rebuild_directory, rebuild_directory_with};
pub use series::StatusSeries;
pub use view::{
    view_instant, Change, ChangedCommitment, CommitmentView, Diff, MeetingView, StatusKey, Summary,
};
