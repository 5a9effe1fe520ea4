//! What the ledger already holds for a mapping: the events this import recorded (recognised by
//! their ids), folded into the state of each key.
//!
//! Every event of an import carries a source naming its snapshot (`snapshot of DATE,
//! sha256:HEX`) and quoting its key; its id is the UUIDv5 of the namespace, the key, the
//! snapshot's SHA-256, its date and the kind of change. An event is this mapping's exactly when
//! its id is what those fields give under this namespace — no marker that another writer could
//! copy by accident. (What an import learns is kept beside a sled ledger only as a cache of
//! this, checked against the root: `crate::saved`.)

use std::collections::HashMap;

use ikrar_core::moment::format_instant;
use ikrar_core::{EventData, Moment, Record, Source, Status};
use uuid::Uuid;

use crate::error::Error;
use crate::rows::Fields;
use crate::target::Target;

/// The kinds of change, as they enter the ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// The commitment's own id.
    Commitment,
    Made,
    Status,
    Amended,
    Retracted,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Commitment => "commitment",
            Kind::Made => "commitment_made",
            Kind::Status => "commitment_status_changed",
            Kind::Amended => "commitment_amended",
            Kind::Retracted => "event_retracted",
        }
    }

    fn of(data: &EventData) -> Option<Kind> {
        Some(match data {
            EventData::CommitmentMade(_) => Kind::Made,
            EventData::CommitmentStatusChanged(_) => Kind::Status,
            EventData::CommitmentAmended(_) => Kind::Amended,
            EventData::EventRetracted(_) => Kind::Retracted,
            _ => return None,
        })
    }
}

/// The UUIDv5 of a change. The date is part of the name because a tracker's file can return
/// to bytes it had before (a reverted edit): the same SHA-256 on another date is another step.
pub(crate) fn id(namespace: &Uuid, key: &str, sha256: &str, date: &Moment, kind: Kind) -> Uuid {
    let date = format_instant(&date.start());
    let mut name = Vec::with_capacity(key.len() + sha256.len() + date.len() + 32);
    for part in [key, sha256, &date, kind.as_str()] {
        name.extend_from_slice(part.as_bytes());
        name.push(0);
    }
    Uuid::new_v5(namespace, &name)
}

const TITLE_PREFIX: &str = "snapshot of ";
const SHA_MARK: &str = "sha256:";

/// The source every event of a snapshot carries.
pub(crate) fn source(date: &Moment, sha256: &str, url: Option<String>, key: &str) -> Source {
    Source {
        title: Some(format!("{TITLE_PREFIX}{date}, {SHA_MARK}{sha256}")),
        url,
        published: Some(*date),
        quote: Some(key.to_string()),
        ..Source::default()
    }
}

/// The key and snapshot SHA-256 a source names, if it is an import's source.
fn key_and_sha(source: &Source) -> Option<(&str, &str)> {
    let title = source.title.as_deref()?.strip_prefix(TITLE_PREFIX)?;
    let at = title.rfind(SHA_MARK)?;
    let sha = title.get(at + SHA_MARK.len()..at + SHA_MARK.len() + 64)?;
    Some((source.quote.as_deref()?, sha))
}

/// The ledger's state of one key. Kept by an import for the next ([`crate::saved`]) in short
/// names, and without what is empty: the file is read whole by every continued import.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Current {
    #[serde(rename = "c")]
    pub(crate) commitment_id: Uuid,
    #[serde(rename = "m")]
    pub(crate) made_event: Uuid,
    #[serde(rename = "f")]
    pub(crate) fields: Fields,
    #[serde(rename = "s")]
    pub(crate) status: Status,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub(crate) label: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) retracted: bool,
}

/// One event of this mapping found in the ledger.
pub(crate) struct Found {
    pub(crate) key: String,
    pub(crate) record: Record,
}

/// The state of every key this mapping has recorded.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) keys: HashMap<String, Current>,
    /// How many keys are not retracted: a snapshot whose rows give as many such keys takes
    /// none back, and the keys need not be searched for ones it lacks.
    live: usize,
}

impl State {
    /// The state of `keys`.
    pub(crate) fn of(keys: HashMap<String, Current>) -> State {
        let live = keys.values().filter(|c| !c.retracted).count();
        State { keys, live }
    }

    /// Keys not retracted.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Folds one event of this mapping in (recorded, or about to be). Takes the event's data
    /// by value: the log's events are folded once each, and their fields become the state.
    pub(crate) fn apply(&mut self, key: String, event_id: Uuid, data: EventData) {
        match data {
            EventData::CommitmentMade(m) => {
                let was = self.keys.insert(
                    key,
                    Current {
                        commitment_id: m.commitment_id,
                        made_event: event_id,
                        fields: Fields {
                            title: m.title,
                            summary: m.summary,
                            owner: m.owner,
                            parties: m.parties,
                            themes: m.themes,
                            due: m.due,
                        },
                        status: Status::Announced,
                        label: None,
                        retracted: false,
                    },
                );
                if was.is_none_or(|c| c.retracted) {
                    self.live += 1;
                }
            }
            EventData::CommitmentStatusChanged(s) => {
                if let Some(c) = self.current(&key, s.commitment_id) {
                    c.status = s.status;
                    c.label = s.label;
                }
            }
            EventData::CommitmentAmended(a) => {
                if let Some(c) = self.current(&key, a.commitment_id) {
                    let f = &mut c.fields;
                    if let Some(t) = a.title {
                        f.title = t;
                    }
                    if a.summary.is_some() {
                        f.summary = a.summary;
                    }
                    if a.owner.is_some() {
                        f.owner = a.owner;
                    }
                    if let Some(p) = a.parties {
                        f.parties = p;
                    }
                    if let Some(t) = a.themes {
                        f.themes = t;
                    }
                    if a.due.is_some() {
                        f.due = a.due;
                    }
                }
            }
            EventData::EventRetracted(r) => {
                if let Some(c) = self.keys.get_mut(&key) {
                    if c.made_event == r.event_id && !c.retracted {
                        c.retracted = true;
                        self.live -= 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// The key's state, if `commitment_id` is its current commitment (events of a commitment
    /// retracted and made anew are history, not state).
    fn current(&mut self, key: &str, commitment_id: Uuid) -> Option<&mut Current> {
        self.keys
            .get_mut(key)
            .filter(|c| c.commitment_id == commitment_id)
    }
}

/// Every event of this mapping in the ledger from position `from` on, in order of
/// `(effective, position)` — the order the ledger folds them in — and the tree size read to.
pub(crate) fn found(
    target: &impl Target,
    namespace: &Uuid,
    from: u64,
) -> Result<(Vec<Found>, u64), Error> {
    let mut out = Vec::new();
    let mut read_to = from;
    target.for_each_record_from(from, &mut |record| {
        read_to = record.position + 1;
        let Some(kind) = Kind::of(&record.data) else {
            return;
        };
        let Some((key, sha)) = record.source.as_ref().and_then(key_and_sha) else {
            return;
        };
        if id(namespace, key, sha, &record.effective, kind) != record.event_id {
            return;
        }
        out.push(Found {
            key: key.to_string(),
            record,
        });
    })?;
    out.sort_by_key(|f| (f.record.effective.start(), f.record.position));
    Ok((out, read_to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_every_part() {
        let ns = Uuid::from_u128(7);
        let d: Moment = "2024-01-01".parse().unwrap();
        let e: Moment = "2024-01-01T00:00:01Z".parse().unwrap();
        let base = id(&ns, "k", "ab", &d, Kind::Made);
        assert_eq!(base, id(&ns, "k", "ab", &d, Kind::Made));
        assert_eq!(base.get_version_num(), 5);
        for other in [
            id(&Uuid::from_u128(8), "k", "ab", &d, Kind::Made),
            id(&ns, "k2", "ab", &d, Kind::Made),
            id(&ns, "k", "ac", &d, Kind::Made),
            id(&ns, "k", "ab", &e, Kind::Made),
            id(&ns, "k", "ab", &d, Kind::Status),
        ] {
            assert_ne!(base, other);
        }
        // A date and the instant of its start are the same moment of valid time.
        let midnight: Moment = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(base, id(&ns, "k", "ab", &midnight, Kind::Made));
    }

    #[test]
    fn sources_name_the_snapshot_and_the_key() {
        let sha = "a".repeat(64);
        let d: Moment = "2024-01-01".parse().unwrap();
        let s = source(&d, &sha, None, "Dept | 7");
        assert_eq!(
            s.title.as_deref(),
            Some(format!("snapshot of 2024-01-01, sha256:{sha}").as_str())
        );
        assert_eq!(key_and_sha(&s), Some(("Dept | 7", sha.as_str())));
        let other = Source {
            title: Some("snapshot of a meeting".into()),
            quote: Some("k".into()),
            ..Source::default()
        };
        assert_eq!(key_and_sha(&other), None);
    }
}
