//! Questions about every commitment — a summary in a past basis, a list — answered from a
//! lazily read projection's large snapshot (over [`crate::lazy::STREAMED_ABOVE_BYTES`]; a
//! smaller one is read whole once and answers from memory) one timeline at a time, each folded and dropped: the same
//! answers as the whole projection's (`crates/state/tests/lazy_subjects.rs`), in memory that
//! grows with what is answered, not with the ledger (read whole, the snapshot of ten million
//! events takes 1.1 GiB). Each such question reads the whole file, about as long as reading it
//! whole once did; a projection that is not lazy answers from memory as before.

use ikrar_core::Status;

use crate::basis::ResolvedBasis;
use crate::error::Error;
use crate::folding::{fold_unread, read, Unread};
use crate::lazy::LAZY_TIMELINES_MAX;
use crate::projection::{Projection, Timelines};
use crate::query::{meeting_passes, MeetingFilter, Prepared, Words};
use crate::snapshot::TAG_MEETING;
use crate::timeline::{Change, Timeline};
use crate::view::{CommitmentView, MeetingView, Summary};

impl Projection {
    /// Sets the snapshot size above which a lazily opened projection answers questions about
    /// every commitment (lists, searches, summaries in past bases, series) by reading its
    /// snapshot one timeline at a time, each time, in bounded memory; at or below it the first
    /// such question reads the snapshot whole and later ones answer from memory (about 2.7
    /// times the snapshot's size). [`crate::STREAMED_ABOVE_BYTES`] by default; `u64::MAX`
    /// always holds it whole (faster lists at millions of events, for the memory), 0 always
    /// streams.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// let state = ikrar_state::Projection::open(&ledger)?;
    /// state.set_streamed_above_bytes(u64::MAX);
    /// # Ok(()) }
    /// ```
    pub fn set_streamed_above_bytes(&self, bytes: u64) {
        self.streamed_above_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The directory of a lazy projection whose snapshot is read one timeline at a time for
    /// questions about every commitment (`crate::streamed`), cloned out of the lock (a few MB
    /// at most) so that single-subject questions go on while the file is read.
    pub(crate) fn streamed_directory(&self) -> Option<crate::lazy::Directory> {
        let above = self
            .streamed_above_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        let t = self.lock_raw();
        let directory = t.lazy.as_ref()?;
        (directory.file_bytes > above).then(|| directory.for_a_pass())
    }

    /// The summary in `basis` of a lazily read projection; `None` when it is not lazy or a
    /// part of its snapshot does not check out (the whole path then answers, or rebuilds).
    pub(crate) fn streamed_summary(&self, basis: &ResolvedBasis) -> Option<Summary> {
        let directory = self.streamed_directory()?;
        let mut folded: Vec<(Status, Vec<String>)> = Vec::new();
        let read = directory.pass().and_then(|mut pass| {
            pass.each_commitment(|_, timeline| {
                if let Some((status, parties)) = timeline.fold_status_and_parties(basis) {
                    folded.push((status, parties.to_vec()));
                }
            })
        });
        match read {
            Ok(()) => Some(Summary::from_statuses(
                basis,
                folded.iter().map(|(s, p)| (*s, p.as_slice())),
            )),
            Err(e) => {
                tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
                None
            }
        }
    }

    /// The commitments in `basis` that pass `prepared`'s filter, in its order, of a lazily
    /// read projection: each folded with the meetings that name it (read from the snapshot as
    /// they are first named), its summary read from the log where a search needs it. `None`
    /// as [`Projection::streamed_summary`].
    pub(crate) fn streamed_list(
        &self,
        prepared: &Prepared<'_>,
        basis: &ResolvedBasis,
    ) -> Option<Result<Vec<CommitmentView>, Error>> {
        let directory = self.streamed_directory()?;
        // The one commitment being folded, and the meetings named so far.
        let mut scratch = Timelines::default();
        let mut passing: Vec<(u64, Unread)> = Vec::new();
        let mut damaged: Option<Error> = None;
        let mut failed: Option<Error> = None;
        // Two handles opened together: one walks the commitments, the other reads the
        // meetings they name.
        let passes = directory.pass().and_then(|c| Ok((c, directory.pass()?)));
        let (mut commitments, mut meetings) = match passes {
            Ok(passes) => passes,
            Err(e) => {
                tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
                return None;
            }
        };
        let read_all = commitments.each_commitment(|id, timeline| {
            if damaged.is_some() || failed.is_some() {
                return;
            }
            let Some(at) = timeline.made_at() else {
                return;
            };
            if scratch.meetings.len() >= LAZY_TIMELINES_MAX {
                scratch.meetings.clear();
            }
            for e in &timeline.entries {
                let Change::NamedBy { meeting_id, .. } = e.change else {
                    continue;
                };
                if scratch.meetings.contains_key(&meeting_id) {
                    continue;
                }
                match meetings.read_subject(meeting_id, TAG_MEETING) {
                    Ok(Some(entries)) => {
                        scratch.meetings.insert(meeting_id, Timeline { entries });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        damaged = Some(e);
                        return;
                    }
                }
            }
            scratch.commitments.insert(id, timeline);
            let unread = fold_unread(&scratch, id, basis);
            scratch.commitments.clear();
            let Some(mut unread) = unread else {
                return;
            };
            // Only a search tests the summary: it is read first (as the whole path reads it).
            if prepared.words.is_some() && unread.1.is_some() {
                match read(self.ledger(), unread) {
                    Ok(view) => unread = (view, None),
                    Err(e) => {
                        failed = Some(e);
                        return;
                    }
                }
            }
            if prepared.passes(&unread.0, basis) {
                passing.push((at, unread));
            }
        });
        if let Some(e) = damaged.or(read_all.err()) {
            tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
            return None;
        }
        if let Some(e) = failed {
            return Some(Err(e));
        }
        // The recorded order first, as the whole path walks it; then the filter's, stable.
        passing.sort_unstable_by_key(|(at, _)| *at);
        let list = passing
            .into_iter()
            .map(|(_, u)| read(self.ledger(), u))
            .collect::<Result<Vec<_>, Error>>();
        Some(list.map(|mut list| {
            crate::query::sort(&mut list, prepared.filter.sort);
            list
        }))
    }

    /// The meetings in `basis` that pass `filter`, by the time they were held, then in the
    /// order they were recorded, of a lazily read projection. `None` as
    /// [`Projection::streamed_summary`].
    pub(crate) fn streamed_meetings(
        &self,
        filter: &MeetingFilter,
        basis: &ResolvedBasis,
    ) -> Option<Vec<MeetingView>> {
        let directory = self.streamed_directory()?;
        let words = filter.search.as_deref().map(Words::new);
        let mut passing: Vec<(u64, MeetingView)> = Vec::new();
        let read = directory.pass().and_then(|mut pass| {
            pass.each_of(TAG_MEETING, |id, timeline| {
                let held_at = timeline
                    .entries
                    .iter()
                    .find(|e| matches!(e.change, Change::Held(_)))
                    .map(|e| e.position);
                let Some(held_at) = held_at else {
                    return;
                };
                if let Some((meeting, _)) = timeline.fold_meeting(id, basis) {
                    if meeting_passes(&meeting, filter, words.as_ref()) {
                        passing.push((held_at, meeting));
                    }
                }
            })
        });
        if let Err(e) = read {
            tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
            return None;
        }
        passing.sort_unstable_by_key(|(at, _)| *at);
        let mut list: Vec<MeetingView> = passing.into_iter().map(|(_, m)| m).collect();
        list.sort_by_key(|m| m.held_on.start());
        Some(list)
    }
}
