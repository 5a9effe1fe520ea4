//! The fast path: timelines per commitment and meeting, kept in memory and, for a ledger
//! directory, saved as a snapshot file under it (`projections/state/snapshot`). A database
//! ledger (PostgreSQL) has no directory: its projection lives in memory only and is folded from
//! the log when opened.
//!
//! The snapshot records the position it reflects and the ledger's root at that position;
//! opening loads it (if it is whole, of this format and of this ledger) and catches up from
//! there. It is a cache: it can be deleted or rebuilt at any time without changing an answer
//! (SPEC §4.3), and a damaged one is rebuilt. Only this module writes it.
//!
//! Why a file and not a database: the projection is read and written whole — loaded at open,
//! saved now and then — and a file streams both ways with memory bounded by the timelines
//! themselves. The sled database it replaced held everything written through it in its page
//! cache: replaying 10,000,000 events peaked at 6.2 GB with it and 2.4 GB without
//! (docs/performance.md).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use ikrar_core::Ledger;
use uuid::Uuid;

use crate::apply::apply;
use crate::basis::{Basis, ResolvedBasis};
use crate::error::Error;
use crate::query::{meeting_passes, ListFilter, Listed, MeetingFilter, Page, Prepared, Words};
use crate::snapshot::{
    read_snapshot, remove_other_files, write_snapshot, SNAPSHOT_FILE, TAG_COMMITMENT, TAG_MEETING,
};
use crate::timeline::Timeline;
use crate::view::{CommitmentView, Diff, MeetingView, Summary};

/// Where a ledger's state projection lives, relative to the ledger directory.
pub const PROJECTION_DIR: &str = "projections/state";
/// A snapshot is saved when the projection is an eighth of the ledger (and at least one record)
/// past the last one. Each save rewrites the whole file, so this bounds the writing at about
/// eight entries per record applied, and an open replays at most an eighth of the log.
pub(crate) const SAVE_LAG_FRACTION: u64 = 8;
/// While catching up from far behind, the snapshot is saved when the records applied since the
/// last save reach the position of that save (and at least this many): saves at doubling
/// positions, so a from-scratch replay writes about twice the final snapshot, and an
/// interrupted one resumes from the last.
const CATCH_UP_SAVE_MIN_RECORDS: u64 = 1_000_000;
/// How often, in records, a long catch-up checks whether to save.
const CATCH_UP_CHECK_EVERY_RECORDS: u64 = 100_000;
/// Records read from the log and then applied under one hold of the projection's lock.
pub(crate) const CATCH_UP_CHUNK_RECORDS: usize = 1_024;
/// Every subject's timeline, and the position they reflect.
#[derive(Default, Clone)]
pub(crate) struct Timelines {
    pub(crate) reached: u64,
    /// The position the snapshot on disk reflects (0: none).
    pub(crate) saved: u64,
    pub(crate) commitments: HashMap<Uuid, Timeline>,
    pub(crate) meetings: HashMap<Uuid, Timeline>,
    /// Commitments in the order their `commitment_made` was recorded.
    pub(crate) commitment_order: Vec<(u64, Uuid)>,
    /// Meetings in the order their `meeting_held` was recorded.
    pub(crate) meeting_order: Vec<(u64, Uuid)>,
    /// Per commitment, every title and summary it ever had, as [`crate::query::normalize_words`]
    /// gives them: what a search tests before folding (derived; not in the snapshot).
    pub(crate) words: HashMap<Uuid, String>,
    /// Commitments some of whose summaries are not in `words` (not held: `Text::InLog`): a
    /// search cannot rule them out before folding them (derived; not in the snapshot).
    pub(crate) words_incomplete: std::collections::HashSet<Uuid>,
    /// Set while the projection is read lazily (`crate::lazy`): the snapshot's directory, from
    /// which the timelines above are loaded as queries about single subjects ask for them.
    /// `saved` is then the snapshot's position, `reached` that and the tail's (`crate::tail`);
    /// everything else is loaded only in part.
    pub(crate) lazy: Option<crate::lazy::Directory>,
}

/// Current and bitemporal state of a ledger's commitments and meetings.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ikrar_core::{InputEvent, Ledger, Status};
/// use ikrar_state::{Basis, Projection};
/// let dir = tempfile::tempdir()?;
/// let ledger = Ledger::create(dir.path().join("l"))?;
/// ledger.append(vec![InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"Summit",
///             "parties":["Central Asia"],"made_on":"2025-01-16"}}"#)?]).await?;
/// let state = Projection::open(&ledger)?;
/// let summary = state.summary(&Basis::now())?;
/// assert_eq!(summary.total, 1);
/// assert_eq!(summary.count(Status::Announced), 1);
/// # Ok(()) }
/// ```
pub struct Projection {
    ledger: Ledger,
    /// The snapshot's directory (`None`: memory only).
    dir: Option<PathBuf>,
    timelines: Mutex<Timelines>,
    /// Snapshots larger than this are read one timeline at a time for questions about every
    /// commitment ([`crate::lazy::STREAMED_ABOVE_BYTES`]; a test seam sets it).
    pub(crate) streamed_above_bytes: std::sync::atomic::AtomicU64,
}

impl Projection {
    /// Opens the ledger's projection (from its snapshot, if there is a good one) and catches it
    /// up with the log.
    pub fn open(ledger: &Ledger) -> Result<Projection, Error> {
        Self::open_with_progress(ledger, &mut |_, _| {})
    }

    /// [`Projection::open`], reporting `(records applied, records to apply)` while catching up.
    pub fn open_with_progress(
        ledger: &Ledger,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Projection, Error> {
        let projection = Projection {
            ledger: ledger.clone(),
            dir: Self::dir(ledger),
            timelines: Mutex::new(Timelines::default()),
            streamed_above_bytes: crate::lazy::STREAMED_ABOVE_BYTES.into(),
        };
        if let Some(dir) = &projection.dir {
            std::fs::create_dir_all(dir).map_err(ikrar_core::Error::Io)?;
            remove_other_files(dir);
            // A snapshot of this ledger is read lazily: a query about one subject then reads
            // what it folds (`crate::lazy`), and anything else reads the rest first; one
            // behind the head follows the log's tail (`crate::tail`).
            match crate::lazy::open_directory(&dir.join(SNAPSHOT_FILE), ledger) {
                Ok(Some(directory)) => {
                    {
                        let mut t = projection.lock_raw();
                        t.reached = directory.reached;
                        t.saved = directory.reached;
                        t.lazy = Some(directory);
                    }
                    projection.catch_up_with_progress(progress)?;
                    return Ok(projection);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the projection's snapshot is read whole"),
            }
            // A snapshot that is missing, damaged, of another format or of another ledger is
            // not an error: the projection is a cache, rebuilt from the log.
            match read_snapshot(&dir.join(SNAPSHOT_FILE), ledger) {
                Ok(Some(t)) => *projection.lock_raw() = t,
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    error = %e,
                    "the projection's snapshot is not used; rebuilding it from the log"
                ),
            }
        }
        projection.catch_up_with_progress(progress)?;
        Ok(projection)
    }

    /// Where this projection's snapshot lives (`None`: memory only).
    pub(crate) fn snapshot_dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    /// The directory of a ledger's state projection snapshot (`None` for a database ledger,
    /// whose projection is kept in memory only).
    pub fn dir(ledger: &Ledger) -> Option<PathBuf> {
        ledger.path().map(|p| p.join(PROJECTION_DIR))
    }

    /// Throws the projection away and builds it again from the whole log.
    pub fn rebuild(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), Error> {
        self.clear()?;
        self.catch_up_with_progress(progress)
    }

    /// The position the projection has reached (the tree size it reflects).
    pub fn reached(&self) -> u64 {
        self.lock_raw().reached
    }

    /// Whether the projection was opened lazily and has not needed to read its snapshot whole
    /// yet (a seam for tests and measurements).
    #[doc(hidden)]
    pub fn is_lazy(&self) -> bool {
        self.lock_raw().lazy.is_some()
    }

    /// The lock, with every timeline in memory: a lazily opened projection reads its snapshot
    /// whole first (and, should that fail, starts over from the log). Every query but those
    /// about one subject (`crate::lazy`) takes this one.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Timelines> {
        let mut t = self.lock_raw();
        let Some(directory) = t.lazy.take() else {
            return t;
        };
        let reached = t.reached;
        match read_snapshot(&directory.path, &self.ledger) {
            // Any whole snapshot of this ledger will do (it is checked as every whole read is),
            // brought to where the lazy projection was (its tail, folded from the log).
            Ok(Some(whole)) if whole.reached >= directory.base => {
                *t = whole;
                if let Err(e) = self.apply_from_log(&mut t, reached) {
                    tracing::error!(error = %e, reached = t.reached, "the projection could not follow the log");
                }
            }
            read => {
                if let Err(e) = read {
                    tracing::warn!(error = %e, "the projection's snapshot is rebuilt from the log");
                }
                // Rebuilt here, under the lock, to where it was: no query ever sees a
                // projection short of what it was already shown to have reached.
                *t = Timelines::default();
                if let Err(e) = self.apply_from_log(&mut t, reached) {
                    tracing::error!(
                        error = %e,
                        reached = t.reached,
                        "the projection could not be rebuilt from the log; the next query's \
                         catch-up tries again"
                    );
                }
            }
        }
        t
    }

    /// Applies the log's records from `t.reached` up to `to`, under the caller's lock.
    fn apply_from_log(&self, t: &mut Timelines, to: u64) -> Result<(), Error> {
        for stored in self.ledger.iter_from(t.reached) {
            let stored = stored?;
            if stored.record.position >= to {
                break;
            }
            apply(t, &self.ledger, &stored.record)?;
            t.reached = stored.record.position + 1;
        }
        Ok(())
    }

    /// The lock as it is, whatever is loaded.
    pub(crate) fn lock_raw(&self) -> std::sync::MutexGuard<'_, Timelines> {
        // A panic while holding the lock leaves timelines that may be half-updated; start over
        // from the log (the snapshot on disk is only ever written whole).
        match self.timelines.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                *g = Timelines::default();
                g
            }
        }
    }

    fn clear(&self) -> Result<(), Error> {
        if let Some(dir) = &self.dir {
            for file in [SNAPSHOT_FILE, crate::present::PRESENT_FILE] {
                match std::fs::remove_file(dir.join(file)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(ikrar_core::Error::Io(e).into()),
                }
            }
        }
        *self.lock_raw() = Timelines::default();
        Ok(())
    }

    /// Applies the log's records beyond the position reached, and persists the result.
    pub fn catch_up(&self) -> Result<(), Error> {
        self.catch_up_with_progress(&mut |_, _| {})
    }

    fn catch_up_with_progress(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), Error> {
        let head = self.ledger.head().tree_size;
        let start = self.reached();
        if start >= head {
            return Ok(());
        }
        if self.catch_up_tail(head)? {
            progress(head - start, head - start);
            return Ok(());
        }
        // The log is read without the lock, and the lock is taken per chunk to apply it: a
        // query that needs only what is applied waits for one chunk at most, not for a whole
        // catch-up (the server catches up in the background as heads are published).
        let mut records = self.ledger.iter_from(start);
        let mut next_check = start + CATCH_UP_CHECK_EVERY_RECORDS;
        loop {
            let mut chunk = Vec::with_capacity(CATCH_UP_CHUNK_RECORDS);
            for item in records.by_ref() {
                let stored = item?;
                if stored.record.position >= head {
                    break;
                }
                chunk.push(stored);
                if chunk.len() == CATCH_UP_CHUNK_RECORDS {
                    break;
                }
            }
            if chunk.is_empty() {
                break;
            }
            let mut t = self.lock();
            for stored in &chunk {
                let position = stored.record.position;
                // Another catch-up (a query's, or the background one) may have applied some.
                if position < t.reached {
                    continue;
                }
                if position > t.reached {
                    break;
                }
                apply(&mut t, &self.ledger, &stored.record)?;
                t.reached = position + 1;
            }
            if t.reached >= next_check {
                next_check = t.reached + CATCH_UP_CHECK_EVERY_RECORDS;
                let since_save = t.reached - t.saved;
                if since_save >= CATCH_UP_SAVE_MIN_RECORDS.max(t.saved) {
                    self.save_if_possible(&mut t);
                }
                progress(t.reached.saturating_sub(start), head - start);
            }
            if t.reached >= head {
                break;
            }
        }
        let mut t = self.lock();
        if t.reached - t.saved >= (t.reached / SAVE_LAG_FRACTION).max(1) {
            self.save_if_possible(&mut t);
        }
        progress(
            t.reached.saturating_sub(start).min(head - start),
            head - start,
        );
        Ok(())
    }

    /// Writes the snapshot of `t`, whole, replacing the last one.
    fn save(&self, t: &mut Timelines) -> Result<(), Error> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let root = self.ledger.root_at(t.reached)?;
        write_snapshot(dir, t, &root.0).map_err(|e| {
            Error::Projection(format!(
                "cannot write {}: {e}",
                dir.join(SNAPSHOT_FILE).display()
            ))
        })?;
        t.saved = t.reached;
        // Only a shortcut for the next process's summary: a failure costs it the whole read.
        if let Err(e) = crate::present::write_present(dir, t, &root.0, chrono::Utc::now()) {
            tracing::warn!(error = %e, "the present's counts were not saved");
        }
        Ok(())
    }

    /// Saves the snapshot on the way: a failure (a full disk, say) does not fail the answer
    /// being caught up for — the snapshot is a cache, and the next catch-up tries again.
    fn save_if_possible(&self, t: &mut Timelines) {
        let _ = self.save(t);
    }

    /// Saves the snapshot if it is behind (it is a cache: this only saves work at the next
    /// open).
    pub fn flush(&self) -> Result<(), Error> {
        let mut t = self.lock_raw();
        if t.lazy.is_some() {
            return self.flush_tail(&mut t);
        }
        if t.reached > t.saved {
            self.save(&mut t)?;
        }
        Ok(())
    }

    /// The basis resolved against the ledger, with the projection caught up to its tree size.
    /// The projection's lock (and the log) is taken only when the basis needs records not yet
    /// applied: a projection kept caught up in the background answers without waiting.
    pub(crate) fn resolved(&self, basis: &Basis) -> Result<ResolvedBasis, Error> {
        let resolved = basis.resolve(&self.ledger)?;
        if self.reached() < resolved.tree_size {
            self.catch_up()?;
        }
        Ok(resolved)
    }

    /// One commitment in a basis, or `None` if it does not exist there.
    pub fn commitment(&self, id: Uuid, basis: &Basis) -> Result<Option<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        self.commitment_in(id, &basis)
    }

    /// One commitment in an already resolved basis. (An error: a summary not held in memory
    /// could not be read from the log.)
    pub fn commitment_in(
        &self,
        id: Uuid,
        basis: &ResolvedBasis,
    ) -> Result<Option<CommitmentView>, Error> {
        let t = self.lock_subject(id, TAG_COMMITMENT);
        let unread = crate::folding::fold_unread(&t, id, basis);
        drop(t);
        unread
            .map(|u| crate::folding::read(&self.ledger, u))
            .transpose()
    }

    /// One meeting in a basis, or `None` if it does not exist there.
    pub fn meeting(&self, id: Uuid, basis: &Basis) -> Result<Option<MeetingView>, Error> {
        let basis = self.resolved(basis)?;
        let t = self.lock_subject(id, TAG_MEETING);
        Ok(t.meetings
            .get(&id)
            .and_then(|m| m.fold_meeting(id, &basis))
            .map(|(v, _)| v))
    }

    /// The commitments of a basis that pass the filter, in the filter's order.
    pub fn list(&self, filter: &ListFilter, basis: &Basis) -> Result<Vec<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        self.list_in(filter, &basis)
    }

    /// [`Projection::list`] in an already resolved basis.
    pub fn list_in(
        &self,
        filter: &ListFilter,
        basis: &ResolvedBasis,
    ) -> Result<Vec<CommitmentView>, Error> {
        let prepared = Prepared::new(filter);
        if let Some(list) = self.streamed_list(&prepared, basis) {
            return list;
        }
        let t = self.lock();
        let mut passing = Vec::new();
        for (_, id) in &t.commitment_order {
            // Every word of a search must start a word of some title or summary the
            // commitment ever had: a cheap test that spares most folds.
            let maybe = prepared.words.as_ref().is_none_or(|w| {
                t.words_incomplete.contains(id)
                    || t.words.get(id).is_some_and(|text| w.all_in(text))
            });
            let Some(mut unread) = maybe
                .then(|| crate::folding::fold_unread(&t, *id, basis))
                .flatten()
            else {
                continue;
            };
            // Only a search tests the summary: it is read first; any other filter passes or
            // fails a commitment without it, and those that pass are read after the lock.
            if prepared.words.is_some() && unread.1.is_some() {
                unread = (crate::folding::read(&self.ledger, unread)?, None);
            }
            if prepared.passes(&unread.0, basis) {
                passing.push(unread);
            }
        }
        drop(t);
        let mut list = passing
            .into_iter()
            .map(|u| crate::folding::read(&self.ledger, u))
            .collect::<Result<Vec<_>, Error>>()?;
        crate::query::sort(&mut list, filter.sort);
        Ok(list)
    }

    /// One page of [`Projection::list`], with the number of commitments that pass in all.
    pub fn list_page(
        &self,
        filter: &ListFilter,
        page: Page,
        basis: &Basis,
    ) -> Result<Listed<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        if let Some(listed) = self.list_page_light(filter, page, &basis)? {
            return Ok(listed);
        }
        Ok(Listed::of(self.list_in(filter, &basis)?, page))
    }

    /// The meetings of a basis that pass the filter, by the time they were held (then in the
    /// order they were recorded), one page of them and how many pass in all.
    pub fn meetings(
        &self,
        filter: &MeetingFilter,
        page: Page,
        basis: &Basis,
    ) -> Result<Listed<MeetingView>, Error> {
        let basis = self.resolved(basis)?;
        Ok(Listed::of(self.meetings_in(filter, &basis), page))
    }

    /// [`Projection::meetings`] in an already resolved basis, whole.
    pub fn meetings_in(&self, filter: &MeetingFilter, basis: &ResolvedBasis) -> Vec<MeetingView> {
        if let Some(list) = self.streamed_meetings(filter, basis) {
            return list;
        }
        let words = filter.search.as_deref().map(Words::new);
        let t = self.lock();
        let mut list: Vec<MeetingView> = t
            .meeting_order
            .iter()
            .filter_map(|(_, id)| t.meetings.get(id)?.fold_meeting(*id, basis))
            .map(|(m, _)| m)
            .filter(|m| meeting_passes(m, filter, words.as_ref()))
            .collect();
        drop(t);
        list.sort_by_key(|m| m.held_on.start());
        list
    }

    /// Counts by status and party in a basis.
    pub fn summary(&self, basis: &Basis) -> Result<Summary, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.summary_in(&basis))
    }

    /// [`Projection::summary`] in an already resolved basis.
    pub fn summary_in(&self, basis: &ResolvedBasis) -> Summary {
        if let Some(summary) = self.present_summary(basis) {
            return summary;
        }
        if let Some(summary) = self.streamed_summary(basis) {
            return summary;
        }
        summary_of(&self.lock(), basis)
    }

    /// A lazily read projection's summary from the present's counts, if they hold in `basis`
    /// (`crate::present`).
    fn present_summary(&self, basis: &ResolvedBasis) -> Option<Summary> {
        let reached = {
            let t = self.lock_raw();
            t.lazy.as_ref()?;
            t.reached
        };
        crate::present::read_present(self.dir.as_deref()?, &self.ledger, reached, basis)
    }

    /// What changed between two valid times, as known at one `known_at`.
    pub fn diff(
        &self,
        known_at: Option<crate::basis::KnownAt>,
        from: ikrar_core::Moment,
        to: ikrar_core::Moment,
    ) -> Result<Diff, Error> {
        let from_basis = self.resolved(&Basis::new(known_at, Some(from)))?;
        let to_basis = self.resolved(&Basis::new(known_at, Some(to)))?;
        let before = self.list_in(&ListFilter::default(), &from_basis)?;
        let after = self.list_in(&ListFilter::default(), &to_basis)?;
        Ok(Diff::between(&from_basis, &to_basis, &before, &after))
    }

    /// Ids of commitments and meetings (ever recorded) whose text form starts with `prefix`.
    pub fn ids_with_prefix(&self, prefix: &str) -> Vec<Uuid> {
        // A lazy projection's directory names every subject: no timeline is read for this.
        if let Some(directory) = &self.lock_raw().lazy {
            let mut ids = directory.ids_with_prefix(prefix);
            ids.sort_unstable();
            ids.dedup();
            return ids;
        }
        let t = self.lock();
        let mut ids: Vec<Uuid> = t
            .commitments
            .keys()
            .chain(t.meetings.keys())
            .filter(|id| id.to_string().starts_with(prefix))
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether a meeting with this id was ever recorded (in any basis).
    pub fn is_meeting(&self, id: Uuid) -> bool {
        self.lazily_has(id, TAG_MEETING)
            .unwrap_or_else(|| self.lock().meetings.contains_key(&id))
    }

    /// The ledger the projection derives from.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// The summary of the timelines `t` in `basis`.
pub(crate) fn summary_of(t: &Timelines, basis: &ResolvedBasis) -> Summary {
    Summary::from_statuses(
        basis,
        t.commitment_order.iter().filter_map(|(_, id)| {
            t.commitments
                .get(id)
                .and_then(|c| c.fold_status_and_parties(basis))
        }),
    )
}
