//! The views of SPEC §4.2. Their JSON shapes are part of the contract.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ikrar_core::moment::date_format;
use ikrar_core::{Moment, Participant, Status};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::basis::{KnownAtView, ResolvedBasis};

/// Formats an instant in views: RFC 3339, UTC, `Z`, with only the fractional digits needed.
pub fn view_instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

mod view_instant_format {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::view_instant(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        ikrar_core::moment::parse_instant(&s).map_err(serde::de::Error::custom)
    }
}

/// A commitment in a basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitmentView {
    /// Its id.
    pub commitment_id: Uuid,
    /// Current title.
    pub title: String,
    /// Current summary.
    pub summary: Option<String>,
    /// The body that made it.
    pub owner: Option<String>,
    /// Counterparties.
    pub parties: Vec<String>,
    /// Themes.
    pub themes: Vec<String>,
    /// When it was made.
    #[serde(with = "date_format")]
    pub made_on: NaiveDate,
    /// When it is due.
    #[serde(with = "date_format::option")]
    pub due: Option<NaiveDate>,
    /// Its status: of the last status change folded in, else `announced`.
    pub status: Status,
    /// The source's own word for the status.
    pub label: Option<String>,
    /// When the status took effect.
    #[serde(with = "view_instant_format")]
    pub status_since: DateTime<Utc>,
    /// Meetings that made or advanced it, in the order they took effect.
    pub meetings: Vec<Uuid>,
    /// The stream version of the last event folded in.
    pub version: u64,
    /// The stream's last version known at `known_at`, whatever its valid time, retracted or
    /// not: the value a writer passes as `expected_version`. It differs from `version` after a
    /// back-dated change or a retraction.
    pub stream_version: u64,
}

/// A meeting in a basis: its `data` fields plus linked commitments and the stream version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingView {
    /// Its id.
    pub meeting_id: Uuid,
    /// Title.
    pub title: String,
    /// When it was held: `YYYY-MM-DD` or an RFC 3339 instant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub held_on: Moment,
    /// Where.
    pub location: Option<String>,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// Commitments it named when recorded, then those linked to it later.
    pub commitment_ids: Vec<Uuid>,
    /// What came out of it.
    pub outcomes: Vec<String>,
    /// The stream version of the last event folded in.
    pub version: u64,
    /// The stream's last version known at `known_at` (see [`CommitmentView::stream_version`]).
    pub stream_version: u64,
}

/// Counts in a basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    /// What the ledger knew.
    pub known_at: KnownAtView,
    /// The moment asked about.
    #[serde(with = "view_instant_format")]
    pub as_of: DateTime<Utc>,
    /// Commitments that exist in the basis.
    pub total: u64,
    /// Commitments per status; always all eight.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    pub by_status: BTreeMap<StatusKey, u64>,
    /// Commitments per counterparty (a commitment with two parties counts for both).
    pub by_party: BTreeMap<String, u64>,
}

/// A status as a map key, ordered as SPEC §2.1 lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StatusKey(pub Status);

impl Summary {
    /// Counts the commitments of a basis.
    pub fn of<'a>(
        basis: &ResolvedBasis,
        commitments: impl IntoIterator<Item = &'a CommitmentView>,
    ) -> Summary {
        Self::from_statuses(
            basis,
            commitments
                .into_iter()
                .map(|c| (c.status, c.parties.as_slice())),
        )
    }

    /// Counts `(status, parties)` of each commitment of a basis.
    pub fn from_statuses<'a>(
        basis: &ResolvedBasis,
        commitments: impl IntoIterator<Item = (Status, &'a [String])>,
    ) -> Summary {
        let mut by_status: BTreeMap<StatusKey, u64> =
            Status::ALL.iter().map(|s| (StatusKey(*s), 0)).collect();
        let mut by_party: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0;
        for (status, parties) in commitments {
            total += 1;
            *by_status.entry(StatusKey(status)).or_default() += 1;
            for (i, p) in parties.iter().enumerate() {
                // A party named twice in one commitment counts once.
                if parties[..i].contains(p) {
                    continue;
                }
                match by_party.get_mut(p) {
                    Some(n) => *n += 1,
                    None => {
                        by_party.insert(p.clone(), 1);
                    }
                }
            }
        }
        Summary {
            known_at: basis.known_at_json(),
            as_of: basis.as_of,
            total,
            by_status,
            by_party,
        }
    }

    /// The count for one status.
    pub fn count(&self, status: Status) -> u64 {
        self.by_status.get(&StatusKey(status)).copied().unwrap_or(0)
    }
}

/// One value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change<T> {
    /// In the earlier basis.
    pub from: T,
    /// In the later basis.
    pub to: T,
}

/// A commitment present in both bases, with what differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangedCommitment {
    /// Its id.
    pub commitment_id: Uuid,
    /// Its title in the later basis.
    pub title: String,
    /// The status change, if the status differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Change<Status>>,
    /// The label change, if the label differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Change<Option<String>>>,
    /// Other fields that differ, by name (`title`, `summary`, `owner`, `parties`, `themes`,
    /// `due`, `meetings`), as JSON values.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: BTreeMap<String, Change<serde_json::Value>>,
}

/// What changed between two valid times (SPEC §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Diff {
    /// What the ledger knew (the same for both).
    pub known_at: KnownAtView,
    /// The earlier valid time.
    #[serde(with = "view_instant_format")]
    pub from: DateTime<Utc>,
    /// The later valid time.
    #[serde(with = "view_instant_format")]
    pub to: DateTime<Utc>,
    /// Commitments that exist at `to` but not at `from`.
    pub added: Vec<CommitmentView>,
    /// Commitments that exist at `from` but not at `to`.
    pub removed: Vec<CommitmentView>,
    /// Commitments in both whose state differs.
    pub changed: Vec<ChangedCommitment>,
}

impl Diff {
    /// Compares two lists of commitments (each in a basis with the same `known_at`).
    pub fn between(
        from_basis: &ResolvedBasis,
        to_basis: &ResolvedBasis,
        from: &[CommitmentView],
        to: &[CommitmentView],
    ) -> Diff {
        let before: BTreeMap<Uuid, &CommitmentView> =
            from.iter().map(|c| (c.commitment_id, c)).collect();
        let after: BTreeMap<Uuid, &CommitmentView> =
            to.iter().map(|c| (c.commitment_id, c)).collect();
        let added = to
            .iter()
            .filter(|c| !before.contains_key(&c.commitment_id))
            .cloned()
            .collect();
        let removed = from
            .iter()
            .filter(|c| !after.contains_key(&c.commitment_id))
            .cloned()
            .collect();
        let mut changed = Vec::new();
        for new in to {
            let Some(old) = before.get(&new.commitment_id) else {
                continue;
            };
            let mut fields = BTreeMap::new();
            let mut field = |name: &str, a: serde_json::Value, b: serde_json::Value| {
                if a != b {
                    fields.insert(name.to_string(), Change { from: a, to: b });
                }
            };
            use serde_json::json;
            field("title", json!(old.title), json!(new.title));
            field("summary", json!(old.summary), json!(new.summary));
            field("owner", json!(old.owner), json!(new.owner));
            field("parties", json!(old.parties), json!(new.parties));
            field("themes", json!(old.themes), json!(new.themes));
            field(
                "due",
                json!(old.due.map(|d| d.to_string())),
                json!(new.due.map(|d| d.to_string())),
            );
            field("meetings", json!(old.meetings), json!(new.meetings));
            let status = (old.status != new.status).then_some(Change {
                from: old.status,
                to: new.status,
            });
            let label = (old.label != new.label).then(|| Change {
                from: old.label.clone(),
                to: new.label.clone(),
            });
            if status.is_some() || label.is_some() || !fields.is_empty() {
                changed.push(ChangedCommitment {
                    commitment_id: new.commitment_id,
                    title: new.title.clone(),
                    status,
                    label,
                    fields,
                });
            }
        }
        Diff {
            known_at: to_basis.known_at_json(),
            from: from_basis.as_of,
            to: to_basis.as_of,
            added,
            removed,
            changed,
        }
    }
}
