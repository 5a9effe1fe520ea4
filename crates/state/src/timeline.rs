//! Timelines: per subject, every change that concerns it, with the position that recorded it and
//! the position of its retraction. A basis is then a filter and a small sort per subject, and
//! the fold of [`crate::reference`] restricted to one subject.

use chrono::{DateTime, NaiveDate, Utc};
use ikrar_core::{Moment, Participant, Status};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::basis::ResolvedBasis;
use crate::view::{CommitmentView, MeetingView};

/// One change of a subject. The encoding is postcard's, so these types carry no
/// `skip_serializing_if` and dates are plain day numbers.
///
/// A timeline holds one entry per event, and most events are status changes; the large
/// variants are boxed so that an entry costs about 80 bytes instead of about 200 (the
/// projection holds every entry in memory: 10,000,000 events made 2 GB of entries). postcard
/// writes a boxed struct exactly as the struct variant it replaced, so the stored form is the
/// same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Change {
    /// `commitment_made`.
    Made(Box<Made>),
    /// `commitment_amended`: the fields it replaces.
    Amended(Box<Amended>),
    /// `commitment_status_changed`.
    Status {
        status: Status,
        label: Option<String>,
    },
    /// In a commitment's timeline: a meeting named it (`meeting_held` or `meeting_linked`).
    NamedBy { meeting_id: Uuid, by_link: bool },
    /// `meeting_held`.
    Held(Box<Held>),
    /// In a meeting's timeline: `meeting_linked`.
    Linked { commitment_id: Uuid },
    /// An `event_retracted` in this subject's own stream. It changes nothing in a fold (the
    /// retracted entry carries `retracted_at`), but it takes a stream version, which
    /// `stream_version` must count: the version a writer passes as `expected_version`.
    Retraction,
}

/// A summary longer than this is not held in memory: its timeline entry keeps only the
/// position of the event that carries it (SPEC §3 lets a summary be as long as an event; a
/// ledger of 60 KB summaries held them all, once per event that set one).
pub(crate) const SUMMARY_HELD_BYTES_MAX: usize = 1024;

/// A commitment's summary as a timeline keeps it: held when it is short, else where it is — in
/// the record at `position` (the entry's own) — and read from the log when a view shows it.
/// What the projection holds per commitment is then bounded by its events, not their texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Text {
    Held(String),
    InLog { position: u64 },
}

impl Text {
    /// `summary`, recorded at `position`, as a timeline keeps it.
    pub(crate) fn of(summary: &str, position: u64) -> Text {
        if summary.len() <= SUMMARY_HELD_BYTES_MAX {
            Text::Held(summary.to_string())
        } else {
            Text::InLog { position }
        }
    }
}

/// [`Change::Made`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Made {
    pub(crate) title: String,
    pub(crate) summary: Option<Text>,
    pub(crate) owner: Option<String>,
    pub(crate) parties: Vec<String>,
    pub(crate) themes: Vec<String>,
    pub(crate) made_on_days: i32,
    pub(crate) due_days: Option<i32>,
}

/// [`Change::Amended`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Amended {
    pub(crate) title: Option<String>,
    pub(crate) summary: Option<Text>,
    pub(crate) owner: Option<String>,
    pub(crate) parties: Option<Vec<String>>,
    pub(crate) themes: Option<Vec<String>>,
    pub(crate) due_days: Option<i32>,
}

/// [`Change::Held`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) title: String,
    pub(crate) held_on: String,
    pub(crate) location: Option<String>,
    pub(crate) participants: Vec<(String, Option<String>, Option<String>)>,
    pub(crate) commitment_ids: Vec<Uuid>,
    pub(crate) outcomes: Vec<String>,
}

/// One entry of a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The position of the event that recorded the change.
    pub(crate) position: u64,
    /// Its stream version, when the event is in this subject's own stream.
    pub(crate) version: Option<u64>,
    /// Its effective instant, as microseconds since the Unix epoch.
    pub(crate) effective_micros: i64,
    /// The position of the retraction that withdrew the event, if any.
    pub(crate) retracted_at: Option<u64>,
    pub(crate) change: Change,
}

impl Entry {
    /// Whether the entry takes part in a fold in `basis` (SPEC §4.1 steps 1–3).
    pub(crate) fn survives(&self, basis: &ResolvedBasis) -> bool {
        self.position < basis.tree_size
            && self.retracted_at.is_none_or(|r| r >= basis.tree_size)
            && self.effective_micros <= basis.as_of.timestamp_micros()
    }

    pub(crate) fn effective(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.effective_micros).expect("stored from a valid instant")
    }
}

/// A meeting naming a commitment: the meeting, the position of the naming event, and whether
/// that event is a `meeting_linked` (else the `meeting_held` itself).
pub(crate) type Naming = (Uuid, u64, bool);

/// A commitment folded from its timeline: the view (without its `meetings`), the meetings that
/// name it ([`Naming`]), and the position of the record whose summary the view shows when that
/// summary is not held ([`Text::InLog`]; the view's `summary` is then `None` until it is read).
pub(crate) type Folded = (CommitmentView, Vec<Naming>, Option<u64>);

/// The summary a view shows, and where to read it if it is not held.
fn shown(summary: &Option<Text>) -> (Option<String>, Option<u64>) {
    match summary {
        None => (None, None),
        Some(Text::Held(s)) => (Some(s.clone()), None),
        Some(Text::InLog { position }) => (None, Some(*position)),
    }
}

/// Every change of one subject, in position order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timeline {
    pub(crate) entries: Vec<Entry>,
}

pub(crate) fn days(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

pub(crate) fn date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days).expect("stored from a valid date")
}

use chrono::Datelike;

impl Timeline {
    /// The surviving entries in fold order: `(effective, position)`.
    fn in_fold_order(&self, basis: &ResolvedBasis) -> Vec<&Entry> {
        let mut live: Vec<&Entry> = self.entries.iter().filter(|e| e.survives(basis)).collect();
        // Entries are in position order; a stable sort by effective keeps position order
        // among equals.
        live.sort_by_key(|e| e.effective_micros);
        live
    }

    /// The position of a commitment's `commitment_made`: where it stands in the recorded order.
    pub(crate) fn made_at(&self) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| matches!(e.change, Change::Made(_)))
            .map(|e| e.position)
    }

    /// The commitment in `basis`, without its `meetings` (which need the meetings' timelines),
    /// and the meetings that name it, in fold order, as `(meeting, position of the naming
    /// event, whether it is a link)`.
    pub(crate) fn fold_commitment(&self, id: Uuid, basis: &ResolvedBasis) -> Option<Folded> {
        let mut view: Option<CommitmentView> = None;
        let mut namings = Vec::new();
        let mut summary_at = None;
        for e in self.in_fold_order(basis) {
            match &e.change {
                Change::Made(made) => {
                    let Made {
                        title,
                        summary: summary_text,
                        owner,
                        parties,
                        themes,
                        made_on_days,
                        due_days,
                    } = &**made;
                    let summary;
                    (summary, summary_at) = shown(summary_text);
                    view = Some(CommitmentView {
                        commitment_id: id,
                        title: title.clone(),
                        summary,
                        owner: owner.clone(),
                        parties: parties.clone(),
                        themes: themes.clone(),
                        made_on: date(*made_on_days),
                        due: due_days.map(date),
                        status: Status::Announced,
                        label: None,
                        status_since: e.effective(),
                        meetings: Vec::new(),
                        version: e.version.unwrap_or(0),
                        stream_version: 0,
                    });
                }
                Change::Amended(amended) => {
                    let Amended {
                        title,
                        summary,
                        owner,
                        parties,
                        themes,
                        due_days,
                    } = &**amended;
                    if let Some(c) = view.as_mut() {
                        if let Some(v) = title {
                            c.title = v.clone();
                        }
                        if summary.is_some() {
                            (c.summary, summary_at) = shown(summary);
                        }
                        if let Some(v) = owner {
                            c.owner = Some(v.clone());
                        }
                        if let Some(v) = parties {
                            c.parties = v.clone();
                        }
                        if let Some(v) = themes {
                            c.themes = v.clone();
                        }
                        if let Some(v) = due_days {
                            c.due = Some(date(*v));
                        }
                        c.version = e.version.unwrap_or(c.version);
                    }
                }
                Change::Status { status, label } => {
                    if let Some(c) = view.as_mut() {
                        c.status = *status;
                        c.label = label.clone();
                        c.status_since = e.effective();
                        c.version = e.version.unwrap_or(c.version);
                    }
                }
                Change::NamedBy {
                    meeting_id,
                    by_link,
                } => {
                    namings.push((*meeting_id, e.position, *by_link));
                }
                Change::Held(_) | Change::Linked { .. } | Change::Retraction => {}
            }
        }
        view.map(|mut v| {
            v.stream_version = self.stream_version(basis.tree_size);
            (v, namings, summary_at)
        })
    }

    /// Only the status and parties of the commitment in `basis` — what a summary counts —
    /// without building the whole view.
    pub(crate) fn fold_status_and_parties(
        &self,
        basis: &ResolvedBasis,
    ) -> Option<(Status, &[String])> {
        let mut state: Option<(Status, &[String])> = None;
        for e in self.in_fold_order(basis) {
            match (&e.change, state.as_mut()) {
                (Change::Made(made), _) => state = Some((Status::Announced, &made.parties)),
                (Change::Amended(amended), Some(s)) => {
                    if let Some(p) = &amended.parties {
                        s.1 = p;
                    }
                }
                (Change::Status { status, .. }, Some(s)) => s.0 = *status,
                _ => {}
            }
        }
        state
    }

    /// The meeting in `basis`, and the positions of the links folded into it.
    pub(crate) fn fold_meeting(
        &self,
        id: Uuid,
        basis: &ResolvedBasis,
    ) -> Option<(MeetingView, Vec<u64>)> {
        let mut view: Option<MeetingView> = None;
        let mut links = Vec::new();
        for e in self.in_fold_order(basis) {
            match &e.change {
                Change::Held(held) => {
                    let Held {
                        title,
                        held_on,
                        location,
                        participants,
                        commitment_ids,
                        outcomes,
                    } = &**held;
                    let mut ids: Vec<Uuid> = Vec::new();
                    for c in commitment_ids {
                        if !ids.contains(c) {
                            ids.push(*c);
                        }
                    }
                    view = Some(MeetingView {
                        meeting_id: id,
                        title: title.clone(),
                        held_on: held_on
                            .parse::<Moment>()
                            .expect("stored from a valid moment"),
                        location: location.clone(),
                        participants: participants
                            .iter()
                            .map(|(name, role, organisation)| Participant {
                                name: name.clone(),
                                role: role.clone(),
                                organisation: organisation.clone(),
                            })
                            .collect(),
                        commitment_ids: ids,
                        outcomes: outcomes.clone(),
                        version: e.version.unwrap_or(0),
                        stream_version: 0,
                    });
                }
                Change::Linked { commitment_id } => {
                    if let Some(m) = view.as_mut() {
                        if !m.commitment_ids.contains(commitment_id) {
                            m.commitment_ids.push(*commitment_id);
                        }
                        m.version = e.version.unwrap_or(m.version);
                        links.push(e.position);
                    }
                }
                _ => {}
            }
        }
        view.map(|mut v| {
            v.stream_version = self.stream_version(basis.tree_size);
            (v, links)
        })
    }

    /// The stream's last version known at `tree_size`, whatever its valid time and whether
    /// retracted or not (SPEC §4.2 `stream_version`). Entries are in position order, so the
    /// last one of the subject's own stream below `tree_size` holds it.
    pub(crate) fn stream_version(&self, tree_size: u64) -> u64 {
        self.entries
            .iter()
            .rev()
            .filter(|e| e.position < tree_size)
            .find_map(|e| e.version)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored form of the projection before the large variants were boxed.
    #[derive(Serialize)]
    enum UnboxedChange {
        Made {
            title: String,
            summary: Option<String>,
            owner: Option<String>,
            parties: Vec<String>,
            themes: Vec<String>,
            made_on_days: i32,
            due_days: Option<i32>,
        },
        #[allow(dead_code)]
        Amended {},
        Status {
            status: Status,
            label: Option<String>,
        },
    }

    #[test]
    fn boxed_variants_are_stored_as_the_struct_variants_were() {
        let made = Made {
            title: "Summit".into(),
            summary: None,
            owner: Some("MOFA".into()),
            parties: vec!["Central Asia".into()],
            themes: vec![],
            made_on_days: 739_267,
            due_days: Some(739_600),
        };
        let unboxed = UnboxedChange::Made {
            title: made.title.clone(),
            summary: None,
            owner: made.owner.clone(),
            parties: made.parties.clone(),
            themes: made.themes.clone(),
            made_on_days: made.made_on_days,
            due_days: made.due_days,
        };
        let boxed = Change::Made(Box::new(made));
        assert_eq!(
            postcard::to_allocvec(&boxed).unwrap(),
            postcard::to_allocvec(&unboxed).unwrap()
        );
        let status = Change::Status {
            status: Status::Fulfilled,
            label: None,
        };
        let old_status = UnboxedChange::Status {
            status: Status::Fulfilled,
            label: None,
        };
        assert_eq!(
            postcard::to_allocvec(&status).unwrap(),
            postcard::to_allocvec(&old_status).unwrap()
        );
    }

    #[test]
    fn an_entry_stays_small() {
        // Every event is an entry held in memory; see `Change`.
        assert!(
            std::mem::size_of::<Entry>() <= 96,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }
}
