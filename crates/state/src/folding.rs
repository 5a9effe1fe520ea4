//! A commitment folded whole from the timelines: the meetings that name it in the basis, and its
//! summary — read from the log when the timeline does not hold it (`Text::InLog`). Queries
//! fold under the projection's lock and read summaries after releasing it where they can: a
//! read is storage I/O (a round trip on PostgreSQL), and catch-ups wait for that lock.

use std::collections::HashMap;

use ikrar_core::Ledger;
use uuid::Uuid;

use crate::basis::ResolvedBasis;
use crate::error::Error;
use crate::projection::Timelines;
use crate::view::CommitmentView;

/// A view whose summary may still have to be read: the position of the record that sets it.
pub(crate) type Unread = (CommitmentView, Option<u64>);

/// The commitment `id` in `basis` with its meetings, its summary not read yet if the timeline
/// does not hold it.
pub(crate) fn fold_unread(t: &Timelines, id: Uuid, basis: &ResolvedBasis) -> Option<Unread> {
    let (mut view, namings, summary_at) = t
        .commitments
        .get(&id)
        .and_then(|timeline| timeline.fold_commitment(id, basis))?;
    let mut meeting_folds: HashMap<Uuid, Option<Vec<u64>>> = HashMap::new();
    for (meeting, position, by_link) in namings {
        let links = meeting_folds.entry(meeting).or_insert_with(|| {
            t.meetings
                .get(&meeting)
                .and_then(|m| m.fold_meeting(meeting, basis))
                .map(|(_, links)| links)
        });
        let Some(links) = links else { continue };
        if (!by_link || links.contains(&position)) && !view.meetings.contains(&meeting) {
            view.meetings.push(meeting);
        }
    }
    Some((view, summary_at))
}

/// The view with its summary read, if it had to be.
pub(crate) fn read(
    ledger: &Ledger,
    (mut view, summary_at): Unread,
) -> Result<CommitmentView, Error> {
    if let Some(position) = summary_at {
        view.summary = Some(summary_in_log(ledger, position)?);
    }
    Ok(view)
}

/// The summary the record at `position` sets (a `commitment_made` or `commitment_amended`:
/// where a timeline entry that does not hold its summary points).
fn summary_in_log(ledger: &Ledger, position: u64) -> Result<String, Error> {
    let stored = ledger.read(position)?;
    let summary = match stored.record.data {
        ikrar_core::EventData::CommitmentMade(d) => d.summary,
        ikrar_core::EventData::CommitmentAmended(d) => d.summary,
        _ => None,
    };
    summary.ok_or_else(|| {
        Error::Core(ikrar_core::Error::Integrity {
            position,
            what: "the projection reads a commitment's summary here, and the record sets none"
                .into(),
        })
    })
}
