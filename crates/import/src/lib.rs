//! # ikrar-import
//!
//! Turns successive snapshots of a commitment tracker's table (CSV, JSON or YAML; named by
//! date, by a manifest, or read from a git repository's history) into the events that lead from
//! each to the next (SPEC §12), so that at the tree size after snapshot k, with `as_of` its
//! date, the ledger answers exactly what snapshot k said.
//!
//! Each snapshot is compared with what the ledger already holds for the mapping, and every
//! event id is a UUIDv5 of the mapping's namespace, the key, the snapshot's SHA-256 and date,
//! and the kind of change: running an import again records nothing new, an interrupted one is
//! completed, and a tracker can be followed one new snapshot at a time.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ikrar_import::{plan, record, Format, Mapping, Options, Snapshot};
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = ikrar_core::Ledger::create(dir.path().join("ledger"))?;
//! let mapping = Mapping::from_toml(r#"
//!     namespace = "5b0c6f7e-3d2a-4e1b-9c8d-7a6f5e4d3c2b"
//!     key = "id"
//!     title = "promise"
//!     label = "status"
//!     [labels]
//!     "Not started" = "announced"
//!     "Kept" = "fulfilled"
//! "#, "mapping.toml")?;
//! let snapshot = |date: &str, csv: &str| Snapshot {
//!     name: date.to_string(), date: date.parse().unwrap(), url: None,
//!     format: Format::Csv, bytes: csv.as_bytes().to_vec(),
//! };
//! let snapshots = vec![
//!     snapshot("2024-01-01", "id,promise,status\n1,Build the bridge,Not started\n"),
//!     snapshot("2024-06-01", "id,promise,status\n1,Build the bridge,Kept\n"),
//! ];
//! let options = Options::new("importer");
//! let planned = plan(&ledger, &mapping, snapshots.clone(), &options).await?;
//! assert_eq!(planned.steps[0].counts.made, 1);
//! assert_eq!(planned.steps[1].counts.status_changed, 1);
//! let recorded = record(&ledger, &planned, &mut |_| {}).await?;
//! assert_eq!(recorded[1].tree_size, 2);
//!
//! // Again: nothing new.
//! let again = plan(&ledger, &mapping, snapshots, &options).await?;
//! assert_eq!(again.new_events(), 0);
//! # Ok(()) }
//! ```

mod diff;
mod error;
mod git;
mod mapping;
mod plan;
mod reader;
mod rows;
mod saved;
mod snapshot;
mod state;
mod target;

pub use error::{Error, Place};
pub use git::snapshots_from_git;
pub use mapping::{LongTitles, Mapping, OnDuplicateKey, OnMissing};
pub use plan::{
    import, plan, plan_with_progress, record, Counts, Options, Plan, Progress, Recorded, Step,
};
pub use snapshot::{snapshots_from_args, snapshots_from_manifest, Format, Row, Snapshot};
pub use target::Target;

/// A complete mapping, for the Canada Mandate Letter Tracker's raw export (SPEC §12's
/// example, with every label the export uses and the other keys a mapping may have).
pub const EXAMPLE_MAPPING: &str = r#"namespace = "5b0c6f7e-3d2a-4e1b-9c8d-7a6f5e4d3c2b"   # any UUID: this import's ids derive from it
rows = "data"                # dotted path to the list of rows; "" for a top-level array
key = ["Commitment"]         # one or several fields
on_duplicate_key = "number"  # or "error" (the default)
on_missing = "retract"       # or "withdraw", "keep"
long_titles = "truncate"     # or "error" (the default): cut at 500 characters, on a word boundary
default_label = "Not yet rated"  # for rows without a label; without it such a row is an error
title = "Commitment"
owner = "Raw_Ministers"      # any of title, summary, owner, parties, themes, due, label, reason, url;
themes = "Priority"          #   a field holding a list gives a list (parties, themes)
label = "Status"
reason = "Raw_Comment"
# summary = "Summary"
# parties = "Partners"
# due = "Deadline"           # YYYY-MM-DD
# url = "Link"               # the source url of each row's events (else the manifest's url)

[labels]                     # the tracker's words (case, spaces and dashes aside) -> SPEC 2.1
"Not yet rated" = "announced"
"Additional commitment" = "announced"
"Underway - on track" = "in_progress"
"On-going commitment" = "in_progress"
"Underway - with challenges" = "at_risk"
"Completed - fully met" = "fulfilled"
"Completed - modified" = "partially_fulfilled"
"Not being pursued" = "withdrawn"
"#;
