//! How a writer's events arrive (SPEC §2.2): the input form, parsed strictly.
//!
//! Parsing is strict: unknown fields, unknown types and malformed values are refused with an
//! [`InputError`] that names the field (as a dotted path, e.g. `data.title`) and the rule.
//! Whether an event may be *recorded* is another matter, decided against the ledger by the
//! rulebook ([`crate::write`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::model::event::{EventData, Source, EVENT_TYPES};
use crate::model::moment::Moment;

impl EventData {
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
