//! The event types of SPEC §2 and their input form (§2.2).
//!
//! Parsing is strict: unknown fields, unknown types and malformed values are refused with an
//! [`InputError`] that names the field (as a dotted path, e.g. `data.title`) and the rule.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::moment::{date_format, Moment};

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

    /// Parses `data` for the given type. Errors name the field under `data.`.
    pub fn parse(type_name: &str, data: &RawValue) -> Result<EventData, InputError> {
        fn typed<T: serde::de::DeserializeOwned>(data: &RawValue) -> Result<T, InputError> {
            let mut de = serde_json::Deserializer::from_str(data.get());
            serde_path_to_error::deserialize(&mut de).map_err(|e| InputError::from_serde("data", e))
        }
        Ok(match type_name {
            "commitment_made" => EventData::CommitmentMade(typed(data)?),
            "commitment_amended" => EventData::CommitmentAmended(typed(data)?),
            "commitment_status_changed" => EventData::CommitmentStatusChanged(typed(data)?),
            "meeting_held" => EventData::MeetingHeld(typed(data)?),
            "meeting_linked" => EventData::MeetingLinked(typed(data)?),
            "event_retracted" => EventData::EventRetracted(typed(data)?),
            other => {
                return Err(InputError::new(
                    "type",
                    format!(
                        "unknown event type `{other}` (expected one of {})",
                        EVENT_TYPES.join(", ")
                    ),
                ))
            }
        })
    }
}

/// What the writer expects of the stream before its event (SPEC §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpectedVersion {
    /// No expectation (the default, except for `commitment_made` and `meeting_held`).
    #[default]
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist.
    Exists,
    /// The stream's last version must be exactly this.
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no_stream"),
            ExpectedVersion::Exists => f.write_str("exists"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

impl Serialize for ExpectedVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExpectedVersion::Exact(v) => s.serialize_u64(*v),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectedVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(u64),
            Text(String),
        }
        match Repr::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "must be a non-negative integer, \"no_stream\", \"exists\" or \"any\"",
            )
        })? {
            Repr::Number(v) => Ok(ExpectedVersion::Exact(v)),
            Repr::Text(t) => match t.as_str() {
                "any" => Ok(ExpectedVersion::Any),
                "no_stream" => Ok(ExpectedVersion::NoStream),
                "exists" => Ok(ExpectedVersion::Exists),
                _ => Err(serde::de::Error::custom(format!(
                    "`{t}` must be a non-negative integer, \"no_stream\", \"exists\" or \"any\""
                ))),
            },
        }
    }
}

/// A bad input field: which field (a dotted path) and which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The field, e.g. `data.title`; `-` when the line is not a JSON object at all.
    pub field: String,
    /// The rule it broke, in words.
    pub rule: String,
}

impl InputError {
    /// A new error about `field`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        InputError {
            field: field.into(),
            rule: rule.into(),
        }
    }

    fn from_serde(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde_json appends " at line L column C"; the line is the caller's business.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        let mut field = match (prefix.is_empty(), path.as_str()) {
            (true, ".") => String::new(),
            (true, p) => p.to_string(),
            (false, ".") => prefix.to_string(),
            (false, p) => format!("{prefix}.{p}"),
        };
        // serde reports a missing field at the enclosing object: name the field.
        let named = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        if let Some(name) = named {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        if field.is_empty() {
            field = "-".to_string();
        }
        let rule = if message.starts_with("missing field") {
            "is required".to_string()
        } else if message.starts_with("unknown field") {
            "is not a known field (unknown fields are refused)".to_string()
        } else {
            message
        };
        InputError { field, rule }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.rule)
    }
}

impl std::error::Error for InputError {}

/// One event as a writer sends it (SPEC §2.2).
///
/// ```
/// use ikrar_core::InputEvent;
/// let line = r#"{"type":"commitment_made","actor":"kim",
///   "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001",
///           "title":"Hold the first Korea–Central Asia summit","made_on":"2025-01-16"}}"#;
/// let event = InputEvent::from_json(line).unwrap();
/// assert_eq!(event.data.type_name(), "commitment_made");
///
/// let bad = r#"{"type":"commitment_made","colour":"red","data":{}}"#;
/// let err = InputEvent::from_json(bad).unwrap_err();
/// assert_eq!(err.field, "colour");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputEvent {
    /// Optional; the ledger makes a UUIDv7 when absent. Makes retries idempotent.
    pub event_id: Option<Uuid>,
    /// Valid time; see [`EventData::default_effective`] for the default.
    pub effective: Option<Moment>,
    /// Who records it; required by the ledger (the CLI fills in `--actor`).
    pub actor: Option<String>,
    /// Why; required on `event_retracted` and `commitment_amended`.
    pub reason: Option<String>,
    /// Where the fact comes from.
    pub source: Option<Source>,
    /// What the writer expects of the stream.
    pub expected_version: Option<ExpectedVersion>,
    /// The type and its fields.
    pub data: EventData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputEnvelope<'a> {
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    event_id: Option<Uuid>,
    #[serde(default)]
    effective: Option<Moment>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    expected_version: Option<ExpectedVersion>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Serialize)]
struct InputRepr<'a> {
    #[serde(rename = "type")]
    type_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effective: Option<Moment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_version: Option<ExpectedVersion>,
    data: &'a EventData,
}

impl InputEvent {
    /// An event with only its data; everything else defaulted.
    pub fn new(data: EventData) -> Self {
        InputEvent {
            event_id: None,
            effective: None,
            actor: None,
            reason: None,
            source: None,
            expected_version: None,
            data,
        }
    }

    /// Parses one JSON object in the input form. The error names the field and the rule.
    pub fn from_json(text: &str) -> Result<InputEvent, InputError> {
        let value: &RawValue = serde_json::from_str(text).map_err(|e| {
            InputError::new(
                "-",
                format!("not valid JSON: {}", strip_position(&e.to_string())),
            )
        })?;
        if !value.get().trim_start().starts_with('{') {
            return Err(InputError::new("-", "an event must be a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_str(value.get());
        let envelope: InputEnvelope<'_> =
            serde_path_to_error::deserialize(&mut de).map_err(|e| InputError::from_serde("", e))?;
        let data = EventData::parse(&envelope.type_name, envelope.data)?;
        Ok(InputEvent {
            event_id: envelope.event_id,
            effective: envelope.effective,
            actor: envelope.actor,
            reason: envelope.reason,
            source: envelope.source,
            expected_version: envelope.expected_version,
            data,
        })
    }

    /// The input form as one line of compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&InputRepr {
            type_name: self.data.type_name(),
            event_id: self.event_id,
            effective: self.effective,
            actor: self.actor.as_deref(),
            reason: self.reason.as_deref(),
            source: self.source.as_ref(),
            expected_version: self.expected_version,
            data: &self.data,
        })
        .expect("input events always serialise")
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> InputError {
        InputEvent::from_json(line).unwrap_err()
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let e = err(
            r#"{"type":"commitment_made","data":{"commitment_id":"x","title":"t","made_on":"2025-01-01"}}"#,
        );
        assert_eq!(e.field, "data.commitment_id");
        let e = err(
            r#"{"type":"commitment_made","data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","made_on":"2025-01-01"}}"#,
        );
        assert_eq!(
            (e.field.as_str(), e.rule.as_str()),
            ("data.title", "is required")
        );
        let e = err(
            r#"{"type":"commitment_made","data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"t","made_on":"2025-13-01"}}"#,
        );
        assert_eq!(e.field, "data.made_on");
        assert!(e.rule.contains("YYYY-MM-DD"), "{e}");
        let e = err(
            r#"{"type":"commitment_status_changed","data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","status":"done"}}"#,
        );
        assert_eq!(e.field, "data.status");
        let e = err(r#"{"type":"promise_made","data":{}}"#);
        assert_eq!(e.field, "type");
        let e = err(
            r#"{"type":"event_retracted","data":{"event_id":"0194a1c2-7f00-7000-8000-000000000001","why":"x"}}"#,
        );
        assert_eq!(e.field, "data.why");
        assert!(e.rule.contains("unknown"));
        let e = err(
            r#"{"type":"event_retracted","expected_version":"sometime","data":{"event_id":"0194a1c2-7f00-7000-8000-000000000001"}}"#,
        );
        assert_eq!(e.field, "expected_version");
        let e = err(r#"[1,2]"#);
        assert_eq!(e.field, "-");
        let e = err(r#"{"type":"event_retracted""#);
        assert_eq!(e.field, "-");
    }

    #[test]
    fn input_round_trips() {
        let line = r#"{"type":"meeting_held","event_id":"0194a1c2-7f00-7000-8000-000000000009","actor":"a","expected_version":"no_stream","data":{"meeting_id":"0194a1c2-7f00-7000-8000-000000000002","title":"Talks","held_on":"2024-03-18","location":null,"participants":[{"name":"Cho Tae-yul","role":null,"organisation":null}],"commitment_ids":[],"outcomes":[]}}"#;
        let e = InputEvent::from_json(line).unwrap();
        assert_eq!(e.to_json(), line);
    }
}
