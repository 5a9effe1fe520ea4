//! Status counts at many valid times at once: what the console's chart draws. A summary per
//! point would fold every commitment once per point (tens of milliseconds each at 10,000
//! commitments); this folds each commitment's timeline once and reads it at every point.

use chrono::{DateTime, Utc};
use ikrar_core::Status;

use crate::basis::{Basis, ResolvedBasis};
use crate::error::Error;
use crate::projection::Projection;
use crate::query::{ListFilter, Listed, Page, Prepared, Sort};
use crate::timeline::Change;
use crate::view::CommitmentView;
use uuid::Uuid;

/// Counts by status at each of a list of valid times, all as known at one `known_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSeries {
    /// The basis the series was read in (its `as_of` is the last point).
    pub basis: ResolvedBasis,
    /// The valid times, ascending.
    pub points: Vec<DateTime<Utc>>,
    /// Per point, the count of each status in the order of [`Status::ALL`].
    pub counts: Vec<[u64; 8]>,
}

fn index_of(status: Status) -> usize {
    Status::ALL.iter().position(|s| *s == status).unwrap_or(0)
}

impl Projection {
    /// The status counts at `steps` valid times spread evenly from the first commitment made
    /// (in the basis) to the basis's `as_of`, as known at its `known_at`. Each count equals
    /// that of [`Projection::summary`] with `as_of` the point. No commitment: no points.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ikrar_core::{InputEvent, Ledger, Moment};
    /// use ikrar_state::{Basis, Projection};
    /// let dir = tempfile::tempdir()?;
    /// let ledger = Ledger::create(dir.path().join("l"))?;
    /// ledger.append(vec![InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
    ///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"Summit",
    ///             "made_on":"2025-01-16"}}"#)?]).await?;
    /// let state = Projection::open(&ledger)?;
    /// let basis = Basis::new(None, Some("2025-12-31".parse::<Moment>()?));
    /// let series = state.status_series(&basis, 12)?;
    /// assert_eq!(series.points.len(), 12);
    /// assert_eq!(series.counts[11][0], 1); // announced
    /// # Ok(()) }
    /// ```
    pub fn status_series(&self, basis: &Basis, steps: usize) -> Result<StatusSeries, Error> {
        let basis = self.resolved(basis)?;
        let end = basis.as_of.timestamp_micros();
        // On a large lazy snapshot: read twice, one timeline at a time (`crate::streamed`).
        if let Some(directory) = self.streamed_directory() {
            // Twice through one handle: the first commitment made, then the counts.
            let mut first: Option<i64> = None;
            let mut series = None;
            let read = directory.pass().and_then(|mut pass| {
                pass.each_commitment(|_, timeline| {
                    if let Some(made) = first_made(&timeline, &basis, end) {
                        first = Some(first.map_or(made, |f| f.min(made)));
                    }
                })?;
                let mut counting = Series::new(first, end, steps);
                pass.each_commitment(|_, timeline| counting.add(&timeline, &basis))?;
                series = Some(counting);
                Ok(())
            });
            match (read, series) {
                (Ok(()), Some(series)) => return Ok(series.finish(basis)),
                (Err(e), _) => {
                    tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
                }
                (Ok(()), None) => {}
            }
        }
        let t = self.lock();
        let first = t
            .commitments
            .values()
            .filter_map(|tl| first_made(tl, &basis, end))
            .min();
        let mut series = Series::new(first, end, steps);
        for (_, id) in &t.commitment_order {
            if let Some(timeline) = t.commitments.get(id) {
                series.add(timeline, &basis);
            }
        }
        drop(t);
        Ok(series.finish(basis))
    }
}

/// Whether an entry is known in `basis` and not withdrawn by then.
fn known(e: &crate::timeline::Entry, basis: &ResolvedBasis) -> bool {
    e.position < basis.tree_size && e.retracted_at.is_none_or(|r| r >= basis.tree_size)
}

/// When the commitment of `timeline` was made, as known in `basis`, if by `end`.
fn first_made(
    timeline: &crate::timeline::Timeline,
    basis: &ResolvedBasis,
    end: i64,
) -> Option<i64> {
    timeline
        .entries
        .iter()
        .filter(|e| known(e, basis) && matches!(e.change, Change::Made(_)))
        .map(|e| e.effective_micros)
        .filter(|m| *m <= end)
        .min()
}

/// A status series being counted, commitment by commitment.
struct Series {
    micros: Vec<i64>,
    counts: Vec<[u64; 8]>,
}

impl Series {
    /// `steps` points from the first commitment made (`None`: none, no points) to `end`.
    fn new(first: Option<i64>, end: i64, steps: usize) -> Series {
        let Some(first) = first else {
            return Series {
                micros: Vec::new(),
                counts: Vec::new(),
            };
        };
        let steps = steps.max(1);
        let micros: Vec<i64> = (0..steps)
            .map(|i| {
                if steps == 1 {
                    end
                } else {
                    first + ((end - first) as i128 * i as i128 / (steps - 1) as i128) as i64
                }
            })
            .collect();
        let counts = vec![[0u64; 8]; micros.len()];
        Series { micros, counts }
    }

    /// Counts one commitment at every point.
    fn add(&mut self, timeline: &crate::timeline::Timeline, basis: &ResolvedBasis) {
        // The entries known at `known_at` and not withdrawn by then, in fold order; each
        // point then folds the prefix effective by it (SPEC §4.1).
        let mut live: Vec<&crate::timeline::Entry> = timeline
            .entries
            .iter()
            .filter(|e| {
                known(e, basis) && matches!(e.change, Change::Made(_) | Change::Status { .. })
            })
            .collect();
        live.sort_by_key(|e| e.effective_micros);
        let mut next = 0;
        let mut state: Option<Status> = None;
        for (i, at) in self.micros.iter().enumerate() {
            while next < live.len() && live[next].effective_micros <= *at {
                match &live[next].change {
                    Change::Made(_) => state = Some(Status::Announced),
                    // A status counts only once the commitment is made (as in the fold).
                    Change::Status { status, .. } if state.is_some() => state = Some(*status),
                    _ => {}
                }
                next += 1;
            }
            if let Some(s) = state {
                self.counts[i][index_of(s)] += 1;
            }
        }
    }

    fn finish(self, basis: ResolvedBasis) -> StatusSeries {
        let points = self
            .micros
            .iter()
            .filter_map(|m| DateTime::from_timestamp_micros(*m))
            .collect();
        StatusSeries {
            basis,
            points,
            counts: self.counts,
        }
    }
}

/// What a list needs of a commitment to filter by status and party and to order it, borrowed
/// from its timeline: the fold of [`crate::timeline::Timeline::fold_commitment`] without
/// building the view.
struct Light<'a> {
    status: Status,
    parties: &'a [String],
    title: &'a str,
    made_on_days: i32,
    due_days: Option<i32>,
    status_since: i64,
}

fn fold_light<'a>(
    timeline: &'a crate::timeline::Timeline,
    basis: &ResolvedBasis,
) -> Option<Light<'a>> {
    let mut live: Vec<&crate::timeline::Entry> = timeline
        .entries
        .iter()
        .filter(|e| e.survives(basis))
        .collect();
    live.sort_by_key(|e| e.effective_micros);
    let mut state: Option<Light<'a>> = None;
    for e in live {
        match (&e.change, state.as_mut()) {
            (Change::Made(m), _) => {
                state = Some(Light {
                    status: Status::Announced,
                    parties: &m.parties,
                    title: &m.title,
                    made_on_days: m.made_on_days,
                    due_days: m.due_days,
                    status_since: e.effective_micros,
                })
            }
            (Change::Amended(a), Some(l)) => {
                if let Some(p) = &a.parties {
                    l.parties = p;
                }
                if let Some(t) = &a.title {
                    l.title = t;
                }
                if a.due_days.is_some() {
                    l.due_days = a.due_days;
                }
            }
            (Change::Status { status, .. }, Some(l)) => {
                l.status = *status;
                l.status_since = e.effective_micros;
            }
            _ => {}
        }
    }
    state
}

/// A list's order as a key (ties keep the recorded order: the sort is stable).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    None,
    Days(i32),
    Due(bool, Option<i32>),
    Since(std::cmp::Reverse<i64>),
    Title(String),
}

impl Key {
    fn of(light: &Light<'_>, sort: Sort) -> Key {
        match sort {
            Sort::Recorded => Key::None,
            Sort::Made => Key::Days(light.made_on_days),
            Sort::Due => Key::Due(light.due_days.is_none(), light.due_days),
            Sort::StatusSince => Key::Since(std::cmp::Reverse(light.status_since)),
            Sort::Title => Key::Title(crate::query::normalize_words(light.title)),
        }
    }
}

impl Projection {
    /// [`Projection::list_page`] without building the view of every commitment, when the
    /// filter needs only the status and the parties: a commitment off the page costs a fold of
    /// borrowed fields, not a whole view. `None` when the filter needs more.
    pub(crate) fn list_page_light(
        &self,
        filter: &ListFilter,
        page: Page,
        basis: &ResolvedBasis,
    ) -> Result<Option<Listed<CommitmentView>>, crate::Error> {
        let prepared = Prepared::new(filter);
        // Whether the filter is light depends on the filter alone: known before any lock.
        if prepared.passes_light(Status::Announced, &[]).is_none() {
            return Ok(None);
        }
        if let Some(listed) = self.streamed_list_page(&prepared, filter.sort, page, basis) {
            return listed.map(Some);
        }
        let t = self.lock();
        let mut passing: Vec<(Key, Uuid)> = Vec::new();
        for (_, id) in &t.commitment_order {
            let Some(light) = t.commitments.get(id).and_then(|c| fold_light(c, basis)) else {
                continue;
            };
            let Some(passes) = prepared.passes_light(light.status, light.parties) else {
                return Ok(None);
            };
            if !passes {
                continue;
            }
            passing.push((Key::of(&light, filter.sort), *id));
        }
        passing.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = page.limit.unwrap_or(usize::MAX);
        let unread: Vec<_> = passing
            .iter()
            .skip(page.offset)
            .take(limit)
            .filter_map(|(_, id)| crate::folding::fold_unread(&t, *id, basis))
            .collect();
        drop(t);
        let items = unread
            .into_iter()
            .map(|u| crate::folding::read(self.ledger(), u))
            .collect::<Result<_, crate::Error>>()?;
        Ok(Some(Listed {
            total: passing.len(),
            items,
        }))
    }

    /// [`Projection::list_page_light`] on a lazily read projection: its snapshot read one
    /// timeline at a time (each folded light, only the key and id of those that pass kept),
    /// then the page's commitments read as single subjects — the same page as the whole path,
    /// in bounded memory (read whole, the snapshot of ten million events takes 1.1 GiB).
    /// `None` when the projection is not lazy, the filter is not light or a part does not
    /// check out.
    fn streamed_list_page(
        &self,
        prepared: &Prepared<'_>,
        sort: Sort,
        page: Page,
        basis: &ResolvedBasis,
    ) -> Option<Result<Listed<CommitmentView>, crate::Error>> {
        let directory = self.streamed_directory()?;
        // Ties keep the recorded order, as the whole path's stable sort keeps it.
        let mut passing: Vec<(Key, u64, Uuid)> = Vec::new();
        let read = directory.pass().and_then(|mut pass| {
            pass.each_commitment(|id, timeline| {
                let Some(folded) = fold_light(&timeline, basis) else {
                    return;
                };
                if prepared.passes_light(folded.status, folded.parties) == Some(true) {
                    if let Some(at) = timeline.made_at() {
                        passing.push((Key::of(&folded, sort), at, id));
                    }
                }
            })
        });
        if let Err(e) = read {
            tracing::warn!(error = %e, "the projection's snapshot is read whole instead");
            return None;
        }
        passing.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let limit = page.limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        for (_, _, id) in passing.iter().skip(page.offset).take(limit) {
            let unread = {
                let t = self.lock_subject(*id, crate::snapshot::TAG_COMMITMENT);
                crate::folding::fold_unread(&t, *id, basis)
            };
            if let Some(unread) = unread {
                match crate::folding::read(self.ledger(), unread) {
                    Ok(view) => items.push(view),
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        Some(Ok(Listed {
            total: passing.len(),
            items,
        }))
    }
}
