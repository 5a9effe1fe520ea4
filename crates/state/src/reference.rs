//! The reference fold: SPEC §4.1 applied literally to the whole log, with no index and no cache.
//!
//! It is slow (it reads every record for every query) and simple on purpose: it is the oracle
//! that the property tests compare the fast path ([`crate::Projection`]) against.
//!
//! The semantics, in one place:
//! 1. take the records at positions `< tree_size`;
//! 2. drop every event withdrawn by a retraction among them, and the retractions themselves;
//! 3. keep those with `effective <= as_of` (a date `effective` is the start of its day);
//! 4. fold them in order of `(effective, position)`:
//!    `commitment_made` creates the commitment (status `announced`), `commitment_amended` replaces
//!    the fields it carries, `commitment_status_changed` sets status, label and `status_since`;
//!    `meeting_held` creates the meeting, `meeting_linked` adds a commitment to it. Events about a
//!    subject that does not exist (yet, at that point of the fold) are skipped.
//!    `version` is the stream version of the last event folded in; `stream_version` the
//!    stream's last version among the records of step 1 (retractions included).
//! 5. a commitment's `meetings` are the meetings that exist in the basis and name it — in their
//!    `commitment_ids` or through a surviving `meeting_linked` — in `(effective, position)` order
//!    of the naming event.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use ikrar_core::{EventData, Record, Status};
use uuid::Uuid;

use crate::basis::ResolvedBasis;
use crate::view::{CommitmentView, MeetingView};

/// Everything in one basis.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// Commitments, in the order their `commitment_made` was recorded.
    pub commitments: Vec<CommitmentView>,
    /// Meetings, by id.
    pub meetings: BTreeMap<Uuid, MeetingView>,
}

impl State {
    /// One commitment.
    pub fn commitment(&self, id: Uuid) -> Option<&CommitmentView> {
        self.commitments.iter().find(|c| c.commitment_id == id)
    }
}

/// Folds `records` (the whole log, in position order) in `basis`.
pub fn fold(records: &[Record], basis: &ResolvedBasis) -> State {
    let known = &records[..(basis.tree_size as usize).min(records.len())];
    let retracted: HashSet<Uuid> = known
        .iter()
        .filter_map(|r| match &r.data {
            EventData::EventRetracted(d) => Some(d.event_id),
            _ => None,
        })
        .collect();
    let mut surviving: Vec<&Record> = known
        .iter()
        .filter(|r| !matches!(r.data, EventData::EventRetracted(_)))
        .filter(|r| !retracted.contains(&r.event_id))
        .filter(|r| r.effective.start() <= basis.as_of)
        .collect();
    surviving.sort_by_key(|r| (r.effective.start(), r.position));

    // Step 1's records only: every version known, whatever its valid time or retraction.
    let mut stream_versions: HashMap<&str, u64> = HashMap::new();
    for r in known {
        let v = stream_versions.entry(r.stream.as_str()).or_default();
        *v = (*v).max(r.version);
    }
    let mut commitments: HashMap<Uuid, (u64, CommitmentView)> = HashMap::new();
    let mut meetings: HashMap<Uuid, MeetingView> = HashMap::new();
    // (commitment, meeting, effective, position) of every naming event folded.
    let mut namings: Vec<(Uuid, Uuid, DateTime<Utc>, u64)> = Vec::new();

    for r in surviving {
        let effective = r.effective.start();
        match &r.data {
            EventData::CommitmentMade(d) => {
                let view = CommitmentView {
                    commitment_id: d.commitment_id,
                    title: d.title.clone(),
                    summary: d.summary.clone(),
                    owner: d.owner.clone(),
                    parties: d.parties.clone(),
                    themes: d.themes.clone(),
                    made_on: d.made_on,
                    due: d.due,
                    status: Status::Announced,
                    label: None,
                    status_since: effective,
                    meetings: Vec::new(),
                    version: r.version,
                    stream_version: stream_versions[r.stream.as_str()],
                };
                commitments.insert(d.commitment_id, (r.position, view));
            }
            EventData::CommitmentAmended(d) => {
                if let Some((_, c)) = commitments.get_mut(&d.commitment_id) {
                    if let Some(v) = &d.title {
                        c.title = v.clone();
                    }
                    if let Some(v) = &d.summary {
                        c.summary = Some(v.clone());
                    }
                    if let Some(v) = &d.owner {
                        c.owner = Some(v.clone());
                    }
                    if let Some(v) = &d.parties {
                        c.parties = v.clone();
                    }
                    if let Some(v) = &d.themes {
                        c.themes = v.clone();
                    }
                    if let Some(v) = d.due {
                        c.due = Some(v);
                    }
                    c.version = r.version;
                }
            }
            EventData::CommitmentStatusChanged(d) => {
                if let Some((_, c)) = commitments.get_mut(&d.commitment_id) {
                    c.status = d.status;
                    c.label = d.label.clone();
                    c.status_since = effective;
                    c.version = r.version;
                }
            }
            EventData::MeetingHeld(d) => {
                let mut ids = Vec::new();
                for c in &d.commitment_ids {
                    if !ids.contains(c) {
                        ids.push(*c);
                    }
                    namings.push((*c, d.meeting_id, effective, r.position));
                }
                meetings.insert(
                    d.meeting_id,
                    MeetingView {
                        meeting_id: d.meeting_id,
                        title: d.title.clone(),
                        held_on: d.held_on,
                        location: d.location.clone(),
                        participants: d.participants.clone(),
                        commitment_ids: ids,
                        outcomes: d.outcomes.clone(),
                        version: r.version,
                        stream_version: stream_versions[r.stream.as_str()],
                    },
                );
            }
            EventData::MeetingLinked(d) => {
                if let Some(m) = meetings.get_mut(&d.meeting_id) {
                    if !m.commitment_ids.contains(&d.commitment_id) {
                        m.commitment_ids.push(d.commitment_id);
                    }
                    m.version = r.version;
                    namings.push((d.commitment_id, d.meeting_id, effective, r.position));
                }
            }
            EventData::EventRetracted(_) => unreachable!("retractions were dropped"),
        }
    }

    namings.sort_by_key(|(_, _, effective, position)| (*effective, *position));
    for (commitment, meeting, _, _) in namings {
        if !meetings.contains_key(&meeting) {
            continue;
        }
        if let Some((_, c)) = commitments.get_mut(&commitment) {
            if !c.meetings.contains(&meeting) {
                c.meetings.push(meeting);
            }
        }
    }

    let mut commitments: Vec<(u64, CommitmentView)> = commitments.into_values().collect();
    commitments.sort_by_key(|(position, _)| *position);
    State {
        commitments: commitments.into_iter().map(|(_, c)| c).collect(),
        meetings: meetings.into_iter().collect(),
    }
}
