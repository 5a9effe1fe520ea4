//! Applying one record to the timelines: which subjects an event concerns, and what entry each
//! gets. The fold itself is in [`crate::timeline`]; this module only files changes.

use ikrar_core::{EventData, Ledger, Record};
use uuid::Uuid;

use crate::error::Error;
use crate::projection::Timelines;
use crate::snapshot::{TAG_COMMITMENT, TAG_MEETING};
use crate::timeline::{days, Amended, Change, Entry, Held, Made, Text};

fn entry(record: &Record, own_stream: bool, change: Change) -> Entry {
    Entry {
        position: record.position,
        version: own_stream.then_some(record.version),
        effective_micros: record.effective.start().timestamp_micros(),
        retracted_at: None,
        change,
    }
}

/// Applies one record to the timelines.
pub(crate) fn apply(t: &mut Timelines, ledger: &Ledger, record: &Record) -> Result<(), Error> {
    let push = |t: &mut Timelines, tag: u8, id: Uuid, e: Entry| {
        let map = if tag == TAG_COMMITMENT {
            &mut t.commitments
        } else {
            &mut t.meetings
        };
        map.entry(id).or_default().entries.push(e);
    };
    match &record.data {
        EventData::CommitmentMade(d) => {
            t.commitment_order.push((record.position, d.commitment_id));
            let summary = d.summary.as_deref().map(|s| Text::of(s, record.position));
            add_words(t, d.commitment_id, Some(&d.title), summary.as_ref());
            let change = Change::Made(Box::new(Made {
                title: d.title.clone(),
                summary,
                owner: d.owner.clone(),
                parties: d.parties.clone(),
                themes: d.themes.clone(),
                made_on_days: days(d.made_on),
                due_days: d.due.map(days),
            }));
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, true, change),
            );
        }
        EventData::CommitmentAmended(d) => {
            let summary = d.summary.as_deref().map(|s| Text::of(s, record.position));
            add_words(t, d.commitment_id, d.title.as_deref(), summary.as_ref());
            let change = Change::Amended(Box::new(Amended {
                title: d.title.clone(),
                summary,
                owner: d.owner.clone(),
                parties: d.parties.clone(),
                themes: d.themes.clone(),
                due_days: d.due.map(days),
            }));
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, true, change),
            );
        }
        EventData::CommitmentStatusChanged(d) => {
            let change = Change::Status {
                status: d.status,
                label: d.label.clone(),
            };
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, true, change),
            );
        }
        EventData::MeetingHeld(d) => {
            t.meeting_order.push((record.position, d.meeting_id));
            let change = Change::Held(Box::new(Held {
                title: d.title.clone(),
                held_on: d.held_on.to_string(),
                location: d.location.clone(),
                participants: d
                    .participants
                    .iter()
                    .map(|p| (p.name.clone(), p.role.clone(), p.organisation.clone()))
                    .collect(),
                commitment_ids: d.commitment_ids.clone(),
                outcomes: d.outcomes.clone(),
            }));
            push(t, TAG_MEETING, d.meeting_id, entry(record, true, change));
            let mut named = Vec::new();
            for c in &d.commitment_ids {
                if !named.contains(c) {
                    named.push(*c);
                    let change = Change::NamedBy {
                        meeting_id: d.meeting_id,
                        by_link: false,
                    };
                    push(t, TAG_COMMITMENT, *c, entry(record, false, change));
                }
            }
        }
        EventData::MeetingLinked(d) => {
            let change = Change::Linked {
                commitment_id: d.commitment_id,
            };
            push(t, TAG_MEETING, d.meeting_id, entry(record, true, change));
            let change = Change::NamedBy {
                meeting_id: d.meeting_id,
                by_link: true,
            };
            push(
                t,
                TAG_COMMITMENT,
                d.commitment_id,
                entry(record, false, change),
            );
        }
        EventData::EventRetracted(d) => {
            let target = ledger.find_event(d.event_id)?.ok_or_else(|| {
                Error::Core(ikrar_core::Error::Integrity {
                    position: record.position,
                    what: format!("retracts event {} which is not in the ledger", d.event_id),
                })
            })?;
            let target_position = target.record.position;
            let subjects = subjects(&target.record.data);
            // The retraction itself is in the retracted event's stream (the first subject):
            // its own entry there keeps the stream's versions whole.
            if let Some((tag, id)) = subjects.first() {
                push(t, *tag, *id, entry(record, true, Change::Retraction));
            }
            // Every timeline that holds an entry of the retracted event.
            for (tag, id) in subjects {
                let map = if tag == TAG_COMMITMENT {
                    &mut t.commitments
                } else {
                    &mut t.meetings
                };
                if let Some(timeline) = map.get_mut(&id) {
                    for e in timeline.entries.iter_mut() {
                        if e.position == target_position {
                            e.retracted_at = Some(record.position);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The subjects whose timelines an event of this kind files an entry in: its own stream first,
/// then those it names (none for a retraction: what it touches is what its target touched).
pub(crate) fn subjects(data: &EventData) -> Vec<(u8, Uuid)> {
    match data {
        EventData::CommitmentMade(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
        EventData::CommitmentAmended(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
        EventData::CommitmentStatusChanged(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
        EventData::MeetingHeld(x) => std::iter::once((TAG_MEETING, x.meeting_id))
            .chain(x.commitment_ids.iter().map(|c| (TAG_COMMITMENT, *c)))
            .collect(),
        EventData::MeetingLinked(x) => vec![
            (TAG_MEETING, x.meeting_id),
            (TAG_COMMITMENT, x.commitment_id),
        ],
        EventData::EventRetracted(_) => Vec::new(),
    }
}

/// Adds a title and summary to what a search of the commitment tests first. A summary not held
/// ([`Text::InLog`]) is not copied in either: the commitment is marked instead, and a search
/// then folds it and tests its texts as they are.
pub(crate) fn add_words(t: &mut Timelines, id: Uuid, title: Option<&str>, summary: Option<&Text>) {
    let summary = match summary {
        Some(Text::Held(s)) => Some(s.as_str()),
        Some(Text::InLog { .. }) => {
            t.words_incomplete.insert(id);
            None
        }
        None => None,
    };
    let words = t.words.entry(id).or_default();
    for text in title.into_iter().chain(summary) {
        words.push_str(&crate::query::normalize_words(text));
    }
}
