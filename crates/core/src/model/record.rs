//! The recorded form (SPEC §2.3): what the ledger stores, exports and hashes.
//!
//! A record is encoded once, at append, as compact JSON with a fixed field order; those bytes are
//! never rewritten. Everything that checks a record (verify, import, proofs) hashes the stored
//! bytes, never a re-encoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::model::event::{EventData, Source, StreamId};
use crate::model::input::InputError;
use crate::model::moment::{instant_format, Moment};

/// The version of the recorded form this code writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest recorded form accepted, in bytes (SPEC §3): what a C2SP entry bundle can frame
/// with its big-endian uint16 length prefix, so that every record can be served as a tile entry.
pub const RECORD_BYTES_MAX: usize = u16::MAX as usize;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Index in the whole ledger.
    pub position: u64,
    /// The event's id (given by the writer, or a UUIDv7 made by the ledger).
    pub event_id: Uuid,
    /// The subject's stream.
    pub stream: StreamId,
    /// Index in the stream.
    pub version: u64,
    /// Transaction time, assigned by the ledger.
    pub recorded_at: DateTime<Utc>,
    /// The recorded form's version.
    pub schema: u32,
    /// Valid time, resolved: the writer's, else the type's default, else `recorded_at`.
    pub effective: Moment,
    /// Who recorded it.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// Where the fact comes from.
    pub source: Option<Source>,
    /// The type and its fields.
    pub data: EventData,
}

#[derive(Serialize)]
struct RecordRepr<'a> {
    position: u64,
    event_id: Uuid,
    stream: &'a StreamId,
    version: u64,
    #[serde(with = "instant_format")]
    recorded_at: DateTime<Utc>,
    schema: u32,
    #[serde(rename = "type")]
    type_name: &'static str,
    effective: Moment,
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Source>,
    data: &'a EventData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordEnvelope<'a> {
    position: u64,
    event_id: Uuid,
    stream: String,
    version: u64,
    #[serde(with = "instant_format")]
    recorded_at: DateTime<Utc>,
    schema: u32,
    #[serde(rename = "type")]
    type_name: String,
    effective: Moment,
    actor: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// The fields of a record, borrowed: what the writer encodes straight from an input event,
/// without first copying it into a [`Record`].
pub(crate) struct RecordFields<'a> {
    pub(crate) position: u64,
    pub(crate) event_id: Uuid,
    pub(crate) stream: &'a StreamId,
    pub(crate) version: u64,
    pub(crate) recorded_at: DateTime<Utc>,
    pub(crate) schema: u32,
    pub(crate) effective: Moment,
    pub(crate) actor: &'a str,
    pub(crate) reason: Option<&'a str>,
    pub(crate) source: Option<&'a Source>,
    pub(crate) data: &'a EventData,
}

/// Room reserved for a record's encoding: most records fit, so the buffer is not regrown.
const ENCODED_BYTES_TYPICAL: usize = 1024;

impl RecordFields<'_> {
    /// The recorded form: compact JSON, fixed field order, no trailing newline.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_BYTES_TYPICAL);
        serde_json::to_writer(
            &mut out,
            &RecordRepr {
                position: self.position,
                event_id: self.event_id,
                stream: self.stream,
                version: self.version,
                recorded_at: self.recorded_at,
                schema: self.schema,
                type_name: self.data.type_name(),
                effective: self.effective,
                actor: self.actor,
                reason: self.reason,
                source: self.source,
                data: self.data,
            },
        )
        .expect("records always serialise");
        out
    }
}

impl Record {
    /// Encodes the recorded form: compact JSON, fixed field order, no trailing newline.
    pub fn encode(&self) -> Vec<u8> {
        RecordFields {
            position: self.position,
            event_id: self.event_id,
            stream: &self.stream,
            version: self.version,
            recorded_at: self.recorded_at,
            schema: self.schema,
            effective: self.effective,
            actor: &self.actor,
            reason: self.reason.as_deref(),
            source: self.source.as_ref(),
            data: &self.data,
        }
        .encode()
    }

    /// Decodes stored or exported bytes, strictly: unknown fields, a wrong schema, or a stream
    /// that does not fit the data are errors.
    ///
    /// ```
    /// use ikrar_core::Record;
    /// let bytes = br#"{"position":0,"event_id":"0194a1c2-7f00-7000-8000-000000000009","stream":"commitment/0194a1c2-7f00-7000-8000-000000000001","version":0,"recorded_at":"2025-01-17T00:00:00.000000Z","schema":1,"type":"commitment_made","effective":"2025-01-16","actor":"kim","data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"t","summary":null,"owner":null,"parties":[],"themes":[],"made_on":"2025-01-16","due":null}}"#;
    /// let record = Record::decode(bytes).unwrap();
    /// assert_eq!(record.encode(), bytes.to_vec());
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Record, InputError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| InputError::new("-", format!("a record must be UTF-8 ({e})")))?;
        let mut de = serde_json::Deserializer::from_str(text);
        let env: RecordEnvelope<'_> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            InputError::new(
                if path == "." { "-".into() } else { path },
                e.inner().to_string(),
            )
        })?;
        de.end()
            .map_err(|e| InputError::new("-", format!("trailing bytes after the record ({e})")))?;
        if env.schema != SCHEMA_VERSION {
            return Err(InputError::new(
                "schema",
                format!(
                    "schema {} is not supported (this build reads {SCHEMA_VERSION})",
                    env.schema
                ),
            ));
        }
        let data = EventData::parse(&env.type_name, env.data)?;
        let stream = StreamId::parse(&env.stream).ok_or_else(|| {
            InputError::new("stream", format!("`{}` is not a stream id", env.stream))
        })?;
        if let Some(own) = data.own_stream() {
            if own != stream {
                return Err(InputError::new(
                    "stream",
                    format!("`{stream}` does not match the event's subject `{own}`"),
                ));
            }
        }
        if env.actor.trim().is_empty() {
            return Err(InputError::new("actor", "must not be empty"));
        }
        Ok(Record {
            position: env.position,
            event_id: env.event_id,
            stream,
            version: env.version,
            recorded_at: env.recorded_at,
            schema: env.schema,
            effective: env.effective,
            actor: env.actor,
            reason: env.reason,
            source: env.source,
            data,
        })
    }
}

/// A record together with the exact bytes it is stored as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The decoded record.
    pub record: Record,
    /// The stored bytes; their hash is the Merkle leaf.
    pub bytes: Vec<u8>,
}

impl StoredRecord {
    /// The stored bytes as text (records are UTF-8 JSON).
    pub fn as_json(&self) -> &str {
        std::str::from_utf8(&self.bytes).expect("records are UTF-8")
    }
}

/// The fields of a record that `verify` checks, decoded without building the whole record
/// (borrowed strings, the other fields skipped). The hash over the exact bytes covers the rest.
pub(crate) struct RecordHeader<'a> {
    pub(crate) position: u64,
    pub(crate) event_id: Uuid,
    pub(crate) stream: std::borrow::Cow<'a, str>,
    pub(crate) version: u64,
    pub(crate) recorded_at: DateTime<Utc>,
    /// For a retraction, the event it withdraws.
    pub(crate) retracts: Option<Uuid>,
    /// For `commitment_made`, the commitment and its `made_on`.
    pub(crate) made: Option<(Uuid, chrono::NaiveDate)>,
}

#[derive(Deserialize)]
struct HeaderRepr<'a> {
    position: u64,
    event_id: Uuid,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    version: u64,
    #[serde(borrow)]
    recorded_at: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    type_name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct RetractionData {
    event_id: Uuid,
}

#[derive(Deserialize)]
struct MadeData {
    commitment_id: Uuid,
    #[serde(with = "crate::model::moment::date_format")]
    made_on: chrono::NaiveDate,
}

impl<'a> RecordHeader<'a> {
    /// Decodes the header, by a fast scan of the canonical field order where it can (every record
    /// ikrar writes), else by serde.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<RecordHeader<'a>, String> {
        match Self::scan_canonical(bytes) {
            Some(h) => Ok(h),
            None => Self::decode_with_serde(bytes),
        }
    }

    /// Reads `{"position":N,"event_id":"…","stream":"…","version":N,"recorded_at":"…Z",
    /// "schema":1,"type":"…",` without a JSON parser. Gives up (`None`) on anything else, and on
    /// the two types whose data the index needs (`commitment_made`, `event_retracted`), which
    /// take the serde path.
    fn scan_canonical(bytes: &'a [u8]) -> Option<RecordHeader<'a>> {
        fn field(rest: &mut &[u8], name: &[u8]) -> Option<()> {
            *rest = rest.strip_prefix(name)?;
            Some(())
        }
        fn number(rest: &mut &[u8]) -> Option<u64> {
            let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if len == 0 || len > 19 || (len > 1 && rest[0] == b'0') {
                return None;
            }
            let n = std::str::from_utf8(&rest[..len]).ok()?.parse().ok()?;
            *rest = &rest[len..];
            Some(n)
        }
        fn string<'b>(rest: &mut &'b [u8]) -> Option<&'b str> {
            *rest = rest.strip_prefix(b"\"")?;
            let len = rest.iter().position(|b| *b == b'"')?;
            let s = &rest[..len];
            if s.contains(&b'\\') {
                return None;
            }
            *rest = &rest[len + 1..];
            std::str::from_utf8(s).ok()
        }
        let mut rest = bytes;
        field(&mut rest, b"{\"position\":")?;
        let position = number(&mut rest)?;
        field(&mut rest, b",\"event_id\":")?;
        let event_id = Uuid::parse_str(string(&mut rest)?).ok()?;
        field(&mut rest, b",\"stream\":")?;
        let stream = string(&mut rest)?;
        field(&mut rest, b",\"version\":")?;
        let version = number(&mut rest)?;
        field(&mut rest, b",\"recorded_at\":")?;
        let recorded_at = string(&mut rest)?;
        field(&mut rest, b",\"schema\":1,\"type\":")?;
        let type_name = string(&mut rest)?;
        if type_name == "commitment_made" || type_name == "event_retracted" {
            return None;
        }
        // The recorded form always writes `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
        let t = recorded_at.as_bytes();
        if t.len() != 27
            || t[26] != b'Z'
            || [
                (4, b'-'),
                (7, b'-'),
                (10, b'T'),
                (13, b':'),
                (16, b':'),
                (19, b'.'),
            ]
            .iter()
            .any(|(i, c)| t[*i] != *c)
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            std::str::from_utf8(&t[r]).ok()?.parse().ok()
        };
        let recorded_at =
            chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?
                .and_hms_micro_opt(num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?)?
                .and_utc();
        Some(RecordHeader {
            position,
            event_id,
            stream: std::borrow::Cow::Borrowed(stream),
            version,
            recorded_at,
            retracts: None,
            made: None,
        })
    }

    fn decode_with_serde(bytes: &'a [u8]) -> Result<RecordHeader<'a>, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
        let h: HeaderRepr<'a> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let recorded_at = crate::model::moment::parse_instant(&h.recorded_at)?;
        let (mut retracts, mut made) = (None, None);
        if h.type_name == "event_retracted" {
            let d: RetractionData =
                serde_json::from_str(h.data.get()).map_err(|e| e.to_string())?;
            retracts = Some(d.event_id);
        } else if h.type_name == "commitment_made" {
            let d: MadeData = serde_json::from_str(h.data.get()).map_err(|e| e.to_string())?;
            made = Some((d.commitment_id, d.made_on));
        }
        Ok(RecordHeader {
            position: h.position,
            event_id: h.event_id,
            stream: h.stream,
            version: h.version,
            recorded_at,
            retracts,
            made,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{CommitmentMade, CommitmentStatusChanged, EventRetracted, Status};

    fn record(position: u64, data: EventData) -> Record {
        Record {
            position,
            event_id: Uuid::from_u128(0xabc0 + position as u128),
            stream: data
                .own_stream()
                .unwrap_or_else(|| StreamId::commitment(Uuid::from_u128(1))),
            version: position,
            recorded_at: crate::model::moment::parse_instant("2026-11-26T19:43:36.479996Z")
                .unwrap(),
            schema: SCHEMA_VERSION,
            effective: Moment::Instant(
                crate::model::moment::parse_instant("2025-03-01T10:00:00Z").unwrap(),
            ),
            actor: "kim \"the \\ auditor\"".into(),
            reason: Some("a reason with \"quotes\"".into()),
            source: None,
            data,
        }
    }

    /// The fast header scan and the serde path must agree on every record ikrar writes.
    #[test]
    fn the_header_scan_agrees_with_serde() {
        let c = Uuid::from_u128(1);
        let records = [
            record(
                0,
                EventData::CommitmentMade(CommitmentMade {
                    commitment_id: c,
                    title: "t".into(),
                    summary: None,
                    owner: None,
                    parties: vec![],
                    themes: vec![],
                    made_on: chrono::NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
                    due: None,
                }),
            ),
            record(
                1,
                EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                    commitment_id: c,
                    status: Status::AtRisk,
                    label: Some("Underway – with challenges".into()),
                }),
            ),
            record(
                12345678901,
                EventData::EventRetracted(EventRetracted {
                    event_id: Uuid::from_u128(9),
                }),
            ),
        ];
        for r in &records {
            let bytes = r.encode();
            let serde = RecordHeader::decode_with_serde(&bytes).unwrap();
            let fast = RecordHeader::decode(&bytes).unwrap();
            assert_eq!(fast.position, serde.position);
            assert_eq!(fast.event_id, serde.event_id);
            assert_eq!(fast.stream, serde.stream);
            assert_eq!(fast.version, serde.version);
            assert_eq!(fast.recorded_at, serde.recorded_at);
            assert_eq!(fast.retracts, serde.retracts);
            assert_eq!(fast.made, serde.made);
        }
        // The status change takes the fast path; a reordered record falls back to serde.
        let bytes = records[1].encode();
        assert!(RecordHeader::scan_canonical(&bytes).is_some());
        let reordered = String::from_utf8(bytes).unwrap().replacen(
            "{\"position\":1,",
            "{\"schema\":1,\"position\":1,",
            1,
        );
        assert!(RecordHeader::scan_canonical(reordered.as_bytes()).is_none());
    }

    /// The recorded form, written down once by hand: the encoding must give exactly this, field
    /// order and escaping included, with and without the optional fields.
    #[test]
    fn the_encoding_is_the_canonical_form() {
        let mut r = record(
            3,
            EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                commitment_id: Uuid::from_u128(1),
                status: Status::AtRisk,
                label: None,
            }),
        );
        let expected = concat!(
            r#"{"position":3,"event_id":"00000000-0000-0000-0000-00000000abc3","#,
            r#""stream":"commitment/00000000-0000-0000-0000-000000000001","version":3,"#,
            r#""recorded_at":"2026-11-26T19:43:36.479996Z","schema":1,"#,
            r#""type":"commitment_status_changed","effective":"2025-03-01T10:00:00.000000Z","#,
            r#""actor":"kim \"the \\ auditor\"","reason":"a reason with \"quotes\"","#,
            r#""data":{"commitment_id":"00000000-0000-0000-0000-000000000001","status":"at_risk","label":null}}"#
        );
        assert_eq!(String::from_utf8(r.encode()).unwrap(), expected);
        assert_eq!(Record::decode(expected.as_bytes()).unwrap(), r);
        r.reason = None;
        let without_reason = expected.replace(r#""reason":"a reason with \"quotes\"","#, "");
        assert_eq!(String::from_utf8(r.encode()).unwrap(), without_reason);
    }
}
