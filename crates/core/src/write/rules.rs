//! The rulebook: SPEC §3's rules for one event, decided against the ledger as the writer sees it
//! (a [`View`]: the store, then what the group and the append have staged before the event).
//!
//! The rules run in a fixed order, and the first broken one is the answer: who records the
//! event ([`actor`]); whether its id is known ([`repeat`]: a repeat is answered before any other
//! rule, as it was when first recorded); its type's own rules ([`subject`], one function per
//! event type); its valid time ([`effective`]); and what its writer expects of the stream
//! ([`expected_version`]).
//!
//! The rules only decide. They assign nothing (no position, id or version), stage nothing and
//! know nothing of how a record is encoded or committed: that is [`super::stage`]'s business.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::model::event::{
    CommitmentAmended, CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted,
    MeetingHeld, MeetingLinked, StreamId, TITLE_CHARS_MAX,
};
use crate::model::input::{ExpectedVersion, InputEvent};
use crate::model::moment::Moment;
use crate::model::record::Record;
use crate::write::layer::View;

/// What the rules of an event's type establish about it.
pub(super) struct Subject {
    /// The stream the event is recorded in.
    pub(super) stream: StreamId,
    /// The type opens its stream: it always expects "no_stream", whatever its writer sends.
    pub(super) opens_stream: bool,
    /// For a retraction, the event it withdraws.
    pub(super) retracts: Option<Uuid>,
    /// The earliest `effective` the event may have, and what that is, in words.
    pub(super) not_before: Option<(DateTime<Utc>, String)>,
}

impl Subject {
    fn of(stream: StreamId) -> Subject {
        Subject {
            stream,
            opens_stream: false,
            retracts: None,
            not_before: None,
        }
    }
}

/// Who records the event: required, non-empty; answered trimmed.
pub(super) fn actor(index: usize, event: &InputEvent) -> Result<&str, Error> {
    match event.actor.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() => Ok(a),
        _ => Err(Error::validation(
            index,
            "actor",
            "is required: a non-empty name of who records the event",
        )),
    }
}

/// A known event id: the position and id of the recorded event if this one repeats it (SPEC
/// §2.2 idempotency), a conflict if it says something else, `None` for an id not yet recorded.
pub(super) fn repeat(
    view: &View<'_>,
    index: usize,
    event: &InputEvent,
    actor: &str,
) -> Result<Option<(u64, Uuid)>, Error> {
    let Some(id) = event.event_id else {
        return Ok(None);
    };
    let Some(position) = view.id_position(id)? else {
        return Ok(None);
    };
    let original = view.record(position)?;
    if same_content(event, actor, &original) {
        Ok(Some((position, id)))
    } else {
        Err(Error::EventIdConflict {
            index,
            event_id: id,
            position,
            differences: differences(event, actor, &original),
        })
    }
}

/// What `event` says that the recorded `record` does not, a field each, so that a retry with
/// a reused id can be fixed without reading the ledger: `actor: "root" now, "kim" recorded`.
fn differences(event: &InputEvent, actor: &str, record: &Record) -> Vec<String> {
    fn text(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Null => "nothing".to_string(),
            other => other.to_string(),
        }
    }
    let mut out = Vec::new();
    let mut field = |name: &str, now: serde_json::Value, recorded: serde_json::Value| {
        if now != recorded {
            out.push(format!(
                "{name}: {} now, {} recorded",
                text(&now),
                text(&recorded)
            ));
        }
    };
    let json = |v: &dyn erased::Json| v.json();
    field(
        "type",
        event.data.type_name().into(),
        record.data.type_name().into(),
    );
    if event.data.type_name() == record.data.type_name() {
        let now = json(&event.data);
        let recorded = json(&record.data);
        let keys: std::collections::BTreeSet<&String> = now
            .as_object()
            .into_iter()
            .chain(recorded.as_object())
            .flat_map(|o| o.keys())
            .collect();
        for key in keys {
            field(
                &format!("data.{key}"),
                now.get(key).cloned().unwrap_or_default(),
                recorded.get(key).cloned().unwrap_or_default(),
            );
        }
    }
    field("actor", actor.into(), record.actor.as_str().into());
    field("reason", json(&event.reason), json(&record.reason));
    field("source", json(&event.source), json(&record.source));
    let effective = event.effective.or(event.data.default_effective());
    let effective_now = match effective {
        Some(m) => json(&m),
        None => "the moment of recording".into(),
    };
    if effective != Some(record.effective)
        && !(effective.is_none() && record.effective == Moment::Instant(record.recorded_at))
    {
        field("effective", effective_now, json(&record.effective));
    }
    out
}

/// Values compared by their JSON form, whatever their type.
mod erased {
    pub(super) trait Json {
        fn json(&self) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

/// Whether `event`, sent again, says the same as the recorded `record` (SPEC §2.2 idempotency).
fn same_content(event: &InputEvent, actor: &str, record: &Record) -> bool {
    let effective_matches = match event.effective.or(event.data.default_effective()) {
        Some(m) => m == record.effective,
        None => record.effective == Moment::Instant(record.recorded_at),
    };
    event.data == record.data
        && actor == record.actor
        && event.reason == record.reason
        && event.source == record.source
        && effective_matches
}

/// The rules of the event's own type, and the stream it goes to.
pub(super) fn subject(view: &View<'_>, index: usize, event: &InputEvent) -> Result<Subject, Error> {
    match &event.data {
        EventData::CommitmentMade(d) => commitment_made(index, d),
        EventData::CommitmentAmended(d) => commitment_amended(view, index, event, d),
        EventData::CommitmentStatusChanged(d) => commitment_status_changed(view, index, d),
        EventData::MeetingHeld(d) => meeting_held(view, index, d),
        EventData::MeetingLinked(d) => meeting_linked(view, index, d),
        EventData::EventRetracted(d) => event_retracted(view, index, event, d),
    }
}

/// `commitment_made`: a title, and a new stream.
fn commitment_made(index: usize, d: &CommitmentMade) -> Result<Subject, Error> {
    check_title(index, "data.title", &d.title)?;
    Ok(Subject {
        opens_stream: true,
        ..Subject::of(StreamId::commitment(d.commitment_id))
    })
}

/// `commitment_amended`: a reason, at least one change, a valid title if it changes, and a
/// commitment to amend.
fn commitment_amended(
    view: &View<'_>,
    index: usize,
    event: &InputEvent,
    d: &CommitmentAmended,
) -> Result<Subject, Error> {
    require_reason(index, event)?;
    if d.is_empty() {
        return Err(Error::validation(
            index,
            "data",
            "an amendment must change at least one of title, summary, owner, parties, themes, due",
        ));
    }
    if let Some(t) = &d.title {
        check_title(index, "data.title", t)?;
    }
    commitment_exists(view, index, d.commitment_id, "data.commitment_id")?;
    Ok(Subject::of(StreamId::commitment(d.commitment_id)))
}

/// `commitment_status_changed`: a commitment to change, and no `effective` before it was made.
fn commitment_status_changed(
    view: &View<'_>,
    index: usize,
    d: &CommitmentStatusChanged,
) -> Result<Subject, Error> {
    commitment_exists(view, index, d.commitment_id, "data.commitment_id")?;
    let not_before = view.made_on(d.commitment_id)?.map(|made_on| {
        (
            Moment::Date(made_on).start(),
            format!("the commitment's made_on ({made_on})"),
        )
    });
    Ok(Subject {
        not_before,
        ..Subject::of(StreamId::commitment(d.commitment_id))
    })
}

/// `meeting_held`: a title, commitments that exist, and a new stream.
fn meeting_held(view: &View<'_>, index: usize, d: &MeetingHeld) -> Result<Subject, Error> {
    check_title(index, "data.title", &d.title)?;
    for (i, c) in d.commitment_ids.iter().enumerate() {
        commitment_exists(view, index, *c, &format!("data.commitment_ids[{i}]"))?;
    }
    Ok(Subject {
        opens_stream: true,
        ..Subject::of(StreamId::meeting(d.meeting_id))
    })
}

/// `meeting_linked`: a meeting and a commitment that both exist; recorded in the meeting's stream.
fn meeting_linked(view: &View<'_>, index: usize, d: &MeetingLinked) -> Result<Subject, Error> {
    let meeting = StreamId::meeting(d.meeting_id);
    if view.stream_head(&meeting)?.is_none() {
        return Err(Error::validation(
            index,
            "data.meeting_id",
            format!("no meeting {} is recorded", d.meeting_id),
        ));
    }
    commitment_exists(view, index, d.commitment_id, "data.commitment_id")?;
    Ok(Subject::of(meeting))
}

/// `event_retracted`: a reason, and a recorded event that is neither a retraction nor retracted
/// already; recorded in that event's stream.
fn event_retracted(
    view: &View<'_>,
    index: usize,
    event: &InputEvent,
    d: &EventRetracted,
) -> Result<Subject, Error> {
    require_reason(index, event)?;
    let position = view.id_position(d.event_id)?.ok_or_else(|| {
        Error::validation(
            index,
            "data.event_id",
            format!("no event {} is recorded", d.event_id),
        )
    })?;
    let target = view.record(position)?;
    if matches!(target.data, EventData::EventRetracted(_)) {
        return Err(Error::validation(
            index,
            "data.event_id",
            format!(
                "event {} is itself a retraction; retractions cannot be retracted",
                d.event_id
            ),
        ));
    }
    if let Some(by) = view.retraction_of(d.event_id)? {
        return Err(Error::validation(
            index,
            "data.event_id",
            format!(
                "event {} is already retracted (by the event at position {by})",
                d.event_id
            ),
        ));
    }
    Ok(Subject {
        retracts: Some(d.event_id),
        ..Subject::of(target.stream)
    })
}

/// Valid time: the event's `effective`, else its type's default, else the moment of recording.
/// It may be neither later than the recording nor before the subject's `not_before`.
pub(super) fn effective(
    index: usize,
    event: &InputEvent,
    recorded_at: DateTime<Utc>,
    not_before: Option<&(DateTime<Utc>, String)>,
) -> Result<Moment, Error> {
    let (effective, field) = match (event.effective, event.data.default_effective()) {
        (Some(m), _) => (m, "effective"),
        (None, Some(m)) => (
            m,
            match &event.data {
                EventData::MeetingHeld(_) => "data.held_on",
                _ => "data.made_on",
            },
        ),
        (None, None) => (Moment::Instant(recorded_at), "effective"),
    };
    if effective.start() > recorded_at {
        return Err(Error::validation(
            index,
            field,
            format!(
                "`{effective}` is later than the moment of recording ({})",
                crate::model::moment::format_instant(&recorded_at)
            ),
        ));
    }
    if let Some((earliest, what)) = not_before {
        if effective.start() < *earliest {
            return Err(Error::validation(
                index,
                field,
                format!("`{effective}` is before {what}"),
            ));
        }
    }
    Ok(effective)
}

/// Optimistic concurrency: what the writer expects of the stream (always "no_stream" for a type
/// that opens it), checked against the stream's last version `actual`.
pub(super) fn expected_version(
    index: usize,
    event: &InputEvent,
    subject: &Subject,
    actual: Option<u64>,
) -> Result<(), Error> {
    let expected = if subject.opens_stream {
        match event.expected_version {
            None | Some(ExpectedVersion::NoStream) => ExpectedVersion::NoStream,
            Some(other) => {
                return Err(Error::validation(
                    index,
                    "expected_version",
                    format!(
                        "{} always expects \"no_stream\", not `{other}`",
                        event.data.type_name()
                    ),
                ))
            }
        }
    } else {
        event.expected_version.unwrap_or_default()
    };
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exists => actual.is_some(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Conflict {
            index,
            stream: subject.stream.clone(),
            expected,
            actual,
        })
    }
}

/// The commitment `id`, named by `field`, is recorded.
fn commitment_exists(view: &View<'_>, index: usize, id: Uuid, field: &str) -> Result<(), Error> {
    match view.stream_head(&StreamId::commitment(id))? {
        Some(_) => Ok(()),
        None => Err(Error::validation(
            index,
            field,
            format!("no commitment {id} is recorded"),
        )),
    }
}

/// A title: not blank, at most [`TITLE_CHARS_MAX`] characters.
fn check_title(index: usize, field: &str, title: &str) -> Result<(), Error> {
    let chars = title.chars().count();
    if title.trim().is_empty() {
        return Err(Error::validation(index, field, "must not be empty"));
    }
    if chars > TITLE_CHARS_MAX {
        return Err(Error::validation(
            index,
            field,
            format!("is {chars} characters long; the limit is {TITLE_CHARS_MAX}"),
        ));
    }
    Ok(())
}

/// A `reason` that is not blank, on the types that require one.
fn require_reason(index: usize, event: &InputEvent) -> Result<(), Error> {
    match event.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => Ok(()),
        _ => Err(Error::validation(
            index,
            "reason",
            format!("is required on {}", event.data.type_name()),
        )),
    }
}
