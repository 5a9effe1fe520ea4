//! What a page shows of a commitment or an event: the views and records of the library, turned
//! into the strings the templates print.

use ikrar_core::moment::format_instant;
use ikrar_core::{EventData, Record};
use ikrar_state::CommitmentView;
use uuid::Uuid;

use crate::basis::Chosen;

/// A commitment in a list.
#[derive(Debug, Clone)]
pub(crate) struct CommitmentRow {
    pub(crate) id: String,
    pub(crate) link: String,
    pub(crate) title: String,
    pub(crate) status: &'static str,
    pub(crate) label: String,
    pub(crate) owner: String,
    pub(crate) parties: String,
    pub(crate) made_on: String,
    pub(crate) due: String,
}

impl CommitmentRow {
    pub(crate) fn of(c: &CommitmentView, chosen: &Chosen) -> CommitmentRow {
        CommitmentRow {
            id: c.commitment_id.to_string(),
            link: chosen.link(&format!("/ui/commitments/{}", c.commitment_id)),
            title: c.title.clone(),
            status: c.status.as_str(),
            label: c.label.clone().unwrap_or_default(),
            owner: c.owner.clone().unwrap_or_default(),
            parties: c.parties.join(", "),
            made_on: c.made_on.to_string(),
            due: c.due.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// The source of an event, as shown.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceRow {
    pub(crate) title: String,
    /// Only `http(s)` addresses become links.
    pub(crate) url: String,
    pub(crate) publisher: String,
    pub(crate) published: String,
    pub(crate) author: String,
    pub(crate) lang: String,
    pub(crate) quote: String,
}

/// An event in a trail, a log or the live feed.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) position: u64,
    pub(crate) version: u64,
    pub(crate) event_id: String,
    pub(crate) type_name: &'static str,
    pub(crate) what: String,
    pub(crate) actor: String,
    pub(crate) recorded_at: String,
    pub(crate) effective: String,
    pub(crate) subject_link: String,
    pub(crate) subject_id: String,
    pub(crate) reason: String,
    pub(crate) source: Option<SourceRow>,
    pub(crate) retracted: bool,
    /// The retraction's event id, when retracted.
    pub(crate) retracted_by: String,
    /// Where the retraction is shown.
    pub(crate) retracted_by_link: String,
    /// For a retraction: the event it withdrew, and where that is shown.
    pub(crate) withdraws: String,
    pub(crate) withdraws_link: String,
}

/// One line saying what an event did.
pub(crate) fn describe(data: &EventData) -> String {
    match data {
        EventData::CommitmentMade(d) => format!("made: {}", d.title),
        EventData::CommitmentAmended(d) => {
            let mut fields = Vec::new();
            for (name, present) in [
                ("title", d.title.is_some()),
                ("summary", d.summary.is_some()),
                ("owner", d.owner.is_some()),
                ("parties", d.parties.is_some()),
                ("themes", d.themes.is_some()),
                ("due", d.due.is_some()),
            ] {
                if present {
                    fields.push(name);
                }
            }
            format!("amended: {}", fields.join(", "))
        }
        EventData::CommitmentStatusChanged(d) => match &d.label {
            Some(l) => format!("status → {} (“{l}”)", d.status.as_str()),
            None => format!("status → {}", d.status.as_str()),
        },
        EventData::MeetingHeld(d) => format!("meeting held: {}", d.title),
        EventData::MeetingLinked(d) => format!("linked to commitment {}", d.commitment_id),
        EventData::EventRetracted(d) => format!("retracted event {}", d.event_id),
    }
}

fn subject_of(record: &Record) -> (String, Uuid) {
    let stream = record.stream.as_str();
    let (kind, id) = stream.split_once('/').unwrap_or(("commitment", stream));
    let id = Uuid::parse_str(id).unwrap_or_default();
    let path = if kind == "meeting" {
        "meetings"
    } else {
        "commitments"
    };
    (format!("/ui/{path}/{id}"), id)
}

impl EventRow {
    /// `retracted_by`: the retraction's event id, if one known in the basis withdrew it.
    pub(crate) fn of(record: &Record, retracted_by: Option<Uuid>, chosen: &Chosen) -> EventRow {
        let (subject, id) = subject_of(record);
        let source = record.source.as_ref().map(|s| SourceRow {
            title: s.title.clone().unwrap_or_default(),
            url: s
                .url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .unwrap_or_default(),
            publisher: s.publisher.clone().unwrap_or_default(),
            published: s.published.map(|p| p.to_string()).unwrap_or_default(),
            author: s.author.clone().unwrap_or_default(),
            lang: s.lang.clone().unwrap_or_default(),
            quote: s.quote.clone().unwrap_or_default(),
        });
        let subject_link = chosen.link(&subject);
        let (withdraws, withdraws_link) = match &record.data {
            EventData::EventRetracted(d) => (
                d.event_id.to_string(),
                format!("{subject_link}#event-{}", d.event_id),
            ),
            _ => (String::new(), String::new()),
        };
        EventRow {
            position: record.position,
            version: record.version,
            event_id: record.event_id.to_string(),
            type_name: record.data.type_name(),
            what: describe(&record.data),
            actor: record.actor.clone(),
            recorded_at: format_instant(&record.recorded_at),
            effective: record.effective.to_string(),
            subject_id: id.to_string(),
            reason: record.reason.clone().unwrap_or_default(),
            source,
            retracted: retracted_by.is_some(),
            retracted_by: retracted_by.map(|r| r.to_string()).unwrap_or_default(),
            retracted_by_link: retracted_by
                .map(|r| format!("{subject_link}#event-{r}"))
                .unwrap_or_default(),
            subject_link,
            withdraws,
            withdraws_link,
        }
    }
}
