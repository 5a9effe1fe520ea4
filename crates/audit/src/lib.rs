//! # ikrar-audit
//!
//! Audit trails over an ikrar ledger, for oversight staff: the history of one subject (every
//! recorded event of a commitment or meeting, in position order, each with the retraction that
//! withdrew it), the activity of each actor, a verification report built on
//! [`ikrar_core::Ledger::verify`], and proof bundles that outsiders check with the verifier key
//! alone.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ikrar_core::{InputEvent, Ledger};
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::create(dir.path().join("l"))?;
//! let id = "0194a1c2-7f00-7000-8000-000000000001";
//! let made = ledger.append(vec![InputEvent::from_json(&format!(r#"{{"type":"commitment_made",
//!     "actor":"kim","data":{{"commitment_id":"{id}","title":"Summit","made_on":"2025-01-16"}}}}"#))?]).await?;
//! ledger.append(vec![InputEvent::from_json(&format!(r#"{{"type":"event_retracted","actor":"lee",
//!     "reason":"duplicate","data":{{"event_id":"{}"}}}}"#, made.event_ids[0]))?]).await?;
//! let history = ikrar_audit::history(&ledger, id.parse()?)?;
//! assert_eq!(history.entries.len(), 2);
//! assert!(history.entries[0].retracted_by.is_some());
//! let actors = ikrar_audit::actors(&ledger)?;
//! assert_eq!(actors.len(), 2);
//! # Ok(()) }
//! ```

mod bundle;

pub use bundle::{
    check_bundle, consistency_bundle, inclusion_bundle, BundleCheck, ConsistencyBundle,
    InclusionBundle, ProofBundle, TreeHead,
};

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ikrar_core::moment::format_instant;
use ikrar_core::{EventData, Ledger, Record, StreamId};
use serde::Serialize;
use uuid::Uuid;

/// The one error type of `ikrar-audit`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger underneath failed.
    #[error(transparent)]
    Core(#[from] ikrar_core::Error),
    /// No commitment or meeting with that id was ever recorded.
    #[error("no commitment or meeting {0} is recorded")]
    UnknownSubject(Uuid),
    /// No stored checkpoint fits the proof asked for.
    #[error("{0}")]
    NoCheckpoint(String),
    /// A proof bundle that cannot be read at all.
    #[error("malformed proof bundle: {0}")]
    MalformedBundle(String),
    /// A proof bundle that reads, but does not prove what it claims.
    #[error("the proof does not check out: {0}")]
    ProofFailed(String),
}

/// One recorded event of a subject's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The decoded record.
    pub record: Record,
    /// The record exactly as stored.
    pub record_json: serde_json::Map<String, serde_json::Value>,
    /// The `event_id` of the retraction that withdrew this event, if any.
    pub retracted_by: Option<Uuid>,
}

impl Serialize for HistoryEntry {
    /// The record's own fields in stored order, then `retracted_by` (SPEC §4.2).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.record_json.len() + 1))?;
        for (k, v) in &self.record_json {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("retracted_by", &self.retracted_by)?;
        map.end()
    }
}

/// The audit trail of one commitment or meeting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// The subject's stream.
    pub stream: StreamId,
    /// Its recorded events in position order (retractions included: they are in the stream of
    /// the event they withdraw).
    pub entries: Vec<HistoryEntry>,
}

/// The history of a commitment or meeting: every event of its stream, each with `retracted_by`.
pub fn history(ledger: &Ledger, subject: Uuid) -> Result<History, Error> {
    let candidates = [StreamId::commitment(subject), StreamId::meeting(subject)];
    for stream in candidates {
        let records = ledger.read_stream(&stream)?;
        if records.is_empty() {
            continue;
        }
        let mut retracted_by: HashMap<Uuid, Uuid> = HashMap::new();
        for r in &records {
            if let EventData::EventRetracted(d) = &r.record.data {
                retracted_by.insert(d.event_id, r.record.event_id);
            }
        }
        let entries = records
            .into_iter()
            .map(|stored| {
                let record_json = serde_json::from_slice(&stored.bytes).map_err(|e| {
                    ikrar_core::Error::Integrity {
                        position: stored.record.position,
                        what: format!("stored record is not a JSON object: {e}"),
                    }
                })?;
                Ok(HistoryEntry {
                    retracted_by: retracted_by.get(&stored.record.event_id).copied(),
                    record: stored.record,
                    record_json,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        return Ok(History { stream, entries });
    }
    Err(Error::UnknownSubject(subject))
}

/// What one actor recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ActorActivity {
    /// The actor's name.
    pub actor: String,
    /// Events recorded.
    pub events: u64,
    /// Of which retractions.
    pub retractions: u64,
    /// Events per type.
    pub by_type: BTreeMap<String, u64>,
    /// `recorded_at` of the first and last.
    pub first_recorded_at: String,
    /// See `first_recorded_at`.
    pub last_recorded_at: String,
}

/// The activity of every actor, by name.
pub fn actors(ledger: &Ledger) -> Result<Vec<ActorActivity>, Error> {
    struct Acc {
        events: u64,
        retractions: u64,
        by_type: BTreeMap<String, u64>,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    }
    let mut by_actor: BTreeMap<String, Acc> = BTreeMap::new();
    for stored in ledger.iter_from(0) {
        let r = stored?.record;
        let acc = by_actor.entry(r.actor.clone()).or_insert(Acc {
            events: 0,
            retractions: 0,
            by_type: BTreeMap::new(),
            first: r.recorded_at,
            last: r.recorded_at,
        });
        acc.events += 1;
        if matches!(r.data, EventData::EventRetracted(_)) {
            acc.retractions += 1;
        }
        *acc.by_type
            .entry(r.data.type_name().to_string())
            .or_default() += 1;
        acc.last = r.recorded_at;
    }
    Ok(by_actor
        .into_iter()
        .map(|(actor, a)| ActorActivity {
            actor,
            events: a.events,
            retractions: a.retractions,
            by_type: a.by_type,
            first_recorded_at: format_instant(&a.first),
            last_recorded_at: format_instant(&a.last),
        })
        .collect())
}

/// The outcome of a full verification, in a form to file with an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationReport {
    /// Whether every check passed.
    pub ok: bool,
    /// The tree size the ledger's head claims.
    pub tree_size: u64,
    /// The root recomputed from the records (when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The first bad position (when not `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_position: Option<u64>,
    /// What is wrong (when not `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// When the check ran.
    pub checked_at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// Runs [`Ledger::verify`] and reports the outcome. Integrity failures are part of the report;
/// only operational errors (I/O) are returned as errors.
pub fn verification_report(
    ledger: &Ledger,
    progress: &mut dyn FnMut(u64),
) -> Result<VerificationReport, Error> {
    let started = Instant::now();
    let checked_at = format_instant(&Utc::now());
    let tree_size = ledger.head().tree_size;
    let outcome = ledger.verify_with_progress(progress);
    let duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(report) => Ok(VerificationReport {
            ok: true,
            tree_size: report.tree_size,
            root: Some(report.root.to_base64()),
            first_bad_position: None,
            what: None,
            checked_at,
            duration_ms,
        }),
        Err(ikrar_core::Error::Integrity { position, what }) => Ok(VerificationReport {
            ok: false,
            tree_size,
            root: None,
            first_bad_position: Some(position),
            what: Some(what),
            checked_at,
            duration_ms,
        }),
        Err(e) => Err(e.into()),
    }
}
