//! The event types of SPEC §2: what each kind of event says, and the stream it belongs to.
//!
//! Their input form (how a writer sends them, parsed strictly) is [`crate::model::input`]; their
//! recorded form (what is stored and hashed) is [`crate::model::record`].

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::moment::{date_format, Moment};

/// The longest title a commitment or meeting may have, in characters (SPEC §2).
pub const TITLE_CHARS_MAX: usize = 500;

/// A stream: the events of one subject, `commitment/<uuid>` or `meeting/<uuid>`.
///
/// ```
/// use ikrar_core::StreamId;
/// let id = uuid::Uuid::nil();
/// assert_eq!(StreamId::commitment(id).as_str(), "commitment/00000000-0000-0000-0000-000000000000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    /// The stream of a commitment.
    pub fn commitment(id: Uuid) -> Self {
        Self::of_kind("commitment", id)
    }

    /// The stream of a meeting.
    pub fn meeting(id: Uuid) -> Self {
        Self::of_kind("meeting", id)
    }

    /// `kind/id`, written without the formatting machinery (once per appended event).
    fn of_kind(kind: &str, id: Uuid) -> Self {
        let mut text = String::with_capacity(kind.len() + 1 + uuid::fmt::Hyphenated::LENGTH);
        text.push_str(kind);
        text.push('/');
        text.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        StreamId(text)
    }

    /// Parses `commitment/<uuid>` or `meeting/<uuid>`.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once('/')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "commitment" => Some(Self::commitment(id)),
            "meeting" => Some(Self::meeting(id)),
            _ => None,
        }
    }

    /// The stream id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// StreamId hashes and compares as its text, so maps keyed by it can be searched with a `&str`.
impl std::borrow::Borrow<str> for StreamId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The canonical statuses of SPEC §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Made, no progress reported (the status a commitment starts with).
    Announced,
    /// Work under way.
    InProgress,
    /// Under way with serious obstacles.
    AtRisk,
    /// Done as committed.
    Fulfilled,
    /// Done in part or in changed form.
    PartiallyFulfilled,
    /// Not done, deadline passed or abandoned without saying so.
    Broken,
    /// The body said it will not pursue it.
    Withdrawn,
    /// Replaced by another commitment.
    Superseded,
}

impl Status {
    /// All eight statuses, in the order summaries list them.
    pub const ALL: [Status; 8] = [
        Status::Announced,
        Status::InProgress,
        Status::AtRisk,
        Status::Fulfilled,
        Status::PartiallyFulfilled,
        Status::Broken,
        Status::Withdrawn,
        Status::Superseded,
    ];

    /// The snake_case name used in JSON and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Announced => "announced",
            Status::InProgress => "in_progress",
            Status::AtRisk => "at_risk",
            Status::Fulfilled => "fulfilled",
            Status::PartiallyFulfilled => "partially_fulfilled",
            Status::Broken => "broken",
            Status::Withdrawn => "withdrawn",
            Status::Superseded => "superseded",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown status `{s}` (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Where a fact comes from. All fields optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Title of the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Where it can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Who published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// When it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Moment>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Its language (BCP 47, e.g. `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The words of the source that the event rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

/// Someone who took part in a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The person's name.
    pub name: String,
    /// Their role, e.g. "Minister of Foreign Affairs".
    #[serde(default)]
    pub role: Option<String>,
    /// The body they represent.
    #[serde(default)]
    pub organisation: Option<String>,
}

/// `commitment_made`: a new commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentMade {
    /// The commitment's id; its stream is `commitment/<id>`.
    pub commitment_id: Uuid,
    /// 1–500 characters.
    pub title: String,
    /// A longer description.
    #[serde(default)]
    pub summary: Option<String>,
    /// The body that made it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Counterparties, e.g. "United States".
    #[serde(default)]
    pub parties: Vec<String>,
    /// Free-form themes.
    #[serde(default)]
    pub themes: Vec<String>,
    /// The day it was made.
    #[serde(with = "date_format")]
    pub made_on: NaiveDate,
    /// When it is due.
    #[serde(default, with = "date_format::option")]
    pub due: Option<NaiveDate>,
}

/// `commitment_amended`: present fields replace the old values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentAmended {
    /// The commitment amended.
    pub commitment_id: Uuid,
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// New owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// New parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parties: Option<Vec<String>>,
    /// New themes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub themes: Option<Vec<String>>,
    /// New due date.
    #[serde(
        default,
        with = "date_format::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub due: Option<NaiveDate>,
}

impl CommitmentAmended {
    /// Whether the amendment changes anything at all.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.summary.is_none()
            && self.owner.is_none()
            && self.parties.is_none()
            && self.themes.is_none()
            && self.due.is_none()
    }
}

/// `commitment_status_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentStatusChanged {
    /// The commitment.
    pub commitment_id: Uuid,
    /// The canonical status.
    pub status: Status,
    /// The source's own word for it, e.g. "Achieved".
    #[serde(default)]
    pub label: Option<String>,
}

/// `meeting_held`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingHeld {
    /// The meeting's id; its stream is `meeting/<id>`.
    pub meeting_id: Uuid,
    /// 1–500 characters.
    pub title: String,
    /// When it was held: a date or an instant.
    pub held_on: Moment,
    /// Where.
    #[serde(default)]
    pub location: Option<String>,
    /// Who took part.
    #[serde(default)]
    pub participants: Vec<Participant>,
    /// Commitments made or advanced there; each must exist.
    #[serde(default)]
    pub commitment_ids: Vec<Uuid>,
    /// What came out of it.
    #[serde(default)]
    pub outcomes: Vec<String>,
}

/// `meeting_linked`: a commitment is linked to a meeting after the fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingLinked {
    /// The meeting.
    pub meeting_id: Uuid,
    /// The commitment; must exist.
    pub commitment_id: Uuid,
}

/// `event_retracted`: withdraws an earlier event recorded in error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRetracted {
    /// The event withdrawn; it stays in the log.
    pub event_id: Uuid,
}

/// An event's type and its own fields (`data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    /// `commitment_made`
    CommitmentMade(CommitmentMade),
    /// `commitment_amended`
    CommitmentAmended(CommitmentAmended),
    /// `commitment_status_changed`
    CommitmentStatusChanged(CommitmentStatusChanged),
    /// `meeting_held`
    MeetingHeld(MeetingHeld),
    /// `meeting_linked`
    MeetingLinked(MeetingLinked),
    /// `event_retracted`
    EventRetracted(EventRetracted),
}

/// The names of the event types, as they appear in `type`.
pub const EVENT_TYPES: [&str; 6] = [
    "commitment_made",
    "commitment_amended",
    "commitment_status_changed",
    "meeting_held",
    "meeting_linked",
    "event_retracted",
];

impl EventData {
    /// The event's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventData::CommitmentMade(_) => "commitment_made",
            EventData::CommitmentAmended(_) => "commitment_amended",
            EventData::CommitmentStatusChanged(_) => "commitment_status_changed",
            EventData::MeetingHeld(_) => "meeting_held",
            EventData::MeetingLinked(_) => "meeting_linked",
            EventData::EventRetracted(_) => "event_retracted",
        }
    }

    /// The stream the event belongs to, when the event itself names it (everything but a
    /// retraction, whose stream is that of the retracted event).
    pub fn own_stream(&self) -> Option<StreamId> {
        match self {
            EventData::CommitmentMade(d) => Some(StreamId::commitment(d.commitment_id)),
            EventData::CommitmentAmended(d) => Some(StreamId::commitment(d.commitment_id)),
            EventData::CommitmentStatusChanged(d) => Some(StreamId::commitment(d.commitment_id)),
            EventData::MeetingHeld(d) => Some(StreamId::meeting(d.meeting_id)),
            EventData::MeetingLinked(d) => Some(StreamId::meeting(d.meeting_id)),
            EventData::EventRetracted(_) => None,
        }
    }

    /// The `effective` an event gets when its writer gives none: `made_on` for
    /// `commitment_made`, `held_on` for `meeting_held`, else `None` (meaning: the moment of
    /// recording).
    pub fn default_effective(&self) -> Option<Moment> {
        match self {
            EventData::CommitmentMade(d) => Some(Moment::Date(d.made_on)),
            EventData::MeetingHeld(d) => Some(d.held_on),
            _ => None,
        }
    }
}
