//! The fast path: timelines per commitment and meeting, kept in memory and, for a ledger
//! directory, persisted in a sled database of their own under it (`projections/state`). A
//! database ledger (PostgreSQL) has no directory: its projection lives in memory only and is
//! folded from the log when opened.
//!
//! The persisted projection records the position it has reached; opening it catches up from
//! there, and it can be deleted or rebuilt at any time without changing an answer (SPEC §4.3).
//! Only this module writes it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use ikrar_core::{EventData, Ledger, Record};
use uuid::Uuid;

use crate::basis::{Basis, ResolvedBasis};
use crate::error::Error;
use crate::timeline::{days, Amended, Change, Entry, Held, Made, Timeline};
use crate::view::{CommitmentView, Diff, MeetingView, Summary};

/// Where a ledger's state projection lives, relative to the ledger directory.
pub const PROJECTION_DIR: &str = "projections/state";
/// Bumped whenever the persisted encoding or the fold changes: a projection written by another
/// version is rebuilt.
const PROJECTION_FORMAT: u32 = 2;
const KEY_REACHED: &[u8] = b"~reached";
const KEY_FORMAT: &[u8] = b"~format";
const TAG_COMMITMENT: u8 = b'c';
const TAG_MEETING: u8 = b'm';
/// A timeline is persisted in pages of this many entries, key tag ‖ subject id (16) ‖ page
/// (u32 BE): catching up rewrites only the pages it changed (the last, mostly), so each entry is
/// written a bounded number of times however long its timeline grows, while the key count stays
/// small (sled's memory grows with its key count).
const PAGE_ENTRIES: usize = 64;
const PAGE_KEY_BYTES: usize = 1 + 16 + 4;
/// Records applied between two writes of the persisted projection while catching up: a long
/// catch-up is saved now and then (an interrupted one resumes from there) without rewriting the
/// same pages over and over — sled's memory grows with what is rewritten (measured: every
/// 50,000 records, a 10,000,000-event replay peaked several GB higher).
const CATCH_UP_CHUNK_RECORDS: usize = 1_000_000;
/// sled's page cache for the projection database.
const PROJECTION_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Filters of [`Projection::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only commitments with this status.
    pub status: Option<ikrar_core::Status>,
    /// Only commitments with this counterparty.
    pub party: Option<String>,
}

#[derive(Default)]
struct Timelines {
    reached: u64,
    commitments: HashMap<Uuid, Timeline>,
    meetings: HashMap<Uuid, Timeline>,
    /// Commitments in the order their `commitment_made` was recorded.
    commitment_order: Vec<(u64, Uuid)>,
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
    /// The persisted copy (`None`: memory only).
    persisted: Option<Persisted>,
    timelines: Mutex<Timelines>,
}

struct Persisted {
    db: sled::Db,
    tree: sled::Tree,
}

impl Projection {
    /// Opens (or creates) the ledger's persisted projection and catches it up with the log.
    pub fn open(ledger: &Ledger) -> Result<Projection, Error> {
        Self::open_with_progress(ledger, &mut |_, _| {})
    }

    /// [`Projection::open`], reporting `(records applied, records to apply)` while catching up.
    pub fn open_with_progress(
        ledger: &Ledger,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Projection, Error> {
        let persisted = match Self::dir(ledger) {
            None => None,
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(ikrar_core::Error::Io)?;
                let db = ikrar_core::open_sled(
                    &sled::Config::new()
                        .path(&dir)
                        .cache_capacity(PROJECTION_CACHE_BYTES),
                )?;
                let tree = db.open_tree("timelines")?;
                Some(Persisted { db, tree })
            }
        };
        let projection = Projection {
            ledger: ledger.clone(),
            persisted,
            timelines: Mutex::new(Timelines::default()),
        };
        match &projection.persisted {
            None => {}
            Some(persisted) => {
                let format_ok = persisted
                    .tree
                    .get(KEY_FORMAT)?
                    .is_some_and(|v| v.as_ref() == PROJECTION_FORMAT.to_be_bytes());
                let reached = persisted
                    .tree
                    .get(KEY_REACHED)?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes));
                match (format_ok, reached) {
                    // A projection ahead of the log belongs to another ledger (or a damaged
                    // one): never trust it.
                    (true, Some(reached)) if reached <= ledger.head().tree_size => {
                        projection.load(&persisted.tree)?
                    }
                    _ => projection.clear()?,
                }
            }
        }
        projection.catch_up_with_progress(progress)?;
        Ok(projection)
    }

    /// The directory of a ledger's persisted state projection (`None` for a database ledger,
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
        self.lock().reached
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timelines> {
        // A panic while holding the lock leaves timelines that may be half-updated; the
        // persisted copy is only written whole, so recover by reloading it.
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
        if let Some(Persisted { tree, .. }) = &self.persisted {
            tree.clear()?;
            tree.insert(KEY_FORMAT, &PROJECTION_FORMAT.to_be_bytes())?;
            tree.insert(KEY_REACHED, &0u64.to_be_bytes())?;
        }
        *self.lock() = Timelines::default();
        Ok(())
    }

    fn load(&self, tree: &sled::Tree) -> Result<(), Error> {
        let mut t = Timelines::default();
        for kv in tree.iter() {
            let (k, v) = kv?;
            if k.as_ref() == KEY_REACHED {
                t.reached = u64::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| Error::Projection("malformed reached position".into()))?,
                );
                continue;
            }
            if k.len() != PAGE_KEY_BYTES {
                continue;
            }
            let id = Uuid::from_slice(&k[1..17]).map_err(|e| Error::Projection(e.to_string()))?;
            let page: Vec<Entry> = postcard::from_bytes(&v)?;
            // Keys sort by subject, then page: each timeline's entries arrive in order.
            match k[0] {
                TAG_COMMITMENT => {
                    if let Some(made) = page.iter().find(|e| matches!(e.change, Change::Made(_))) {
                        t.commitment_order.push((made.position, id));
                    }
                    t.commitments.entry(id).or_default().entries.extend(page);
                }
                TAG_MEETING => t.meetings.entry(id).or_default().entries.extend(page),
                _ => {}
            }
        }
        t.commitment_order.sort_unstable();
        *self.lock() = t;
        Ok(())
    }

    /// Applies the log's records beyond the position reached, and persists the result.
    pub fn catch_up(&self) -> Result<(), Error> {
        self.catch_up_with_progress(&mut |_, _| {})
    }

    fn catch_up_with_progress(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), Error> {
        let mut t = self.lock();
        let head = self.ledger.head().tree_size;
        if t.reached >= head {
            return Ok(());
        }
        let start = t.reached;
        let mut dirty: HashSet<(u8, Uuid, usize)> = HashSet::new();
        let mut applied_in_chunk = 0usize;
        for item in self.ledger.iter_from(start) {
            let stored = item?;
            let position = stored.record.position;
            if position >= head {
                break;
            }
            apply(&mut t, &self.ledger, &stored.record, &mut dirty)?;
            t.reached = position + 1;
            applied_in_chunk += 1;
            if applied_in_chunk == CATCH_UP_CHUNK_RECORDS {
                self.persist(&t, &mut dirty)?;
                applied_in_chunk = 0;
                progress(t.reached - start, head - start);
            }
        }
        self.persist(&t, &mut dirty)?;
        progress(t.reached - start, head - start);
        Ok(())
    }

    /// Writes the pages of entries added or changed since the last call (`dirty`: subject and
    /// page number).
    fn persist(&self, t: &Timelines, dirty: &mut HashSet<(u8, Uuid, usize)>) -> Result<(), Error> {
        let Some(persisted) = &self.persisted else {
            dirty.clear();
            return Ok(());
        };
        let mut batch = sled::Batch::default();
        for (tag, id, page) in dirty.drain() {
            let timeline = match tag {
                TAG_COMMITMENT => t.commitments.get(&id),
                _ => t.meetings.get(&id),
            };
            let Some(timeline) = timeline else { continue };
            let start = page * PAGE_ENTRIES;
            let end = (start + PAGE_ENTRIES).min(timeline.entries.len());
            if start >= end {
                continue;
            }
            let mut key = [0u8; PAGE_KEY_BYTES];
            key[0] = tag;
            key[1..17].copy_from_slice(id.as_bytes());
            key[17..].copy_from_slice(&(page as u32).to_be_bytes());
            batch.insert(
                &key[..],
                postcard::to_stdvec(&timeline.entries[start..end])?,
            );
        }
        batch.insert(KEY_REACHED, &t.reached.to_be_bytes()[..]);
        // One batch: the pages and the position they reflect change together.
        persisted.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Flushes the persisted projection (it is a cache: this only saves work at the next open).
    pub fn flush(&self) -> Result<(), Error> {
        if let Some(persisted) = &self.persisted {
            persisted.db.flush()?;
        }
        Ok(())
    }

    fn resolved(&self, basis: &Basis) -> Result<ResolvedBasis, Error> {
        self.catch_up()?;
        basis.resolve(&self.ledger)
    }

    /// One commitment in a basis, or `None` if it does not exist there.
    pub fn commitment(&self, id: Uuid, basis: &Basis) -> Result<Option<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.commitment_in(id, &basis))
    }

    /// One commitment in an already resolved basis.
    pub fn commitment_in(&self, id: Uuid, basis: &ResolvedBasis) -> Option<CommitmentView> {
        let t = self.lock();
        fold_commitment(&t, id, basis)
    }

    /// One meeting in a basis, or `None` if it does not exist there.
    pub fn meeting(&self, id: Uuid, basis: &Basis) -> Result<Option<MeetingView>, Error> {
        let basis = self.resolved(basis)?;
        let t = self.lock();
        Ok(t.meetings
            .get(&id)
            .and_then(|m| m.fold_meeting(id, &basis))
            .map(|(v, _)| v))
    }

    /// The commitments of a basis that pass the filter, in the order they were recorded.
    pub fn list(&self, filter: &ListFilter, basis: &Basis) -> Result<Vec<CommitmentView>, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.list_in(filter, &basis))
    }

    /// [`Projection::list`] in an already resolved basis.
    pub fn list_in(&self, filter: &ListFilter, basis: &ResolvedBasis) -> Vec<CommitmentView> {
        let t = self.lock();
        t.commitment_order
            .iter()
            .filter_map(|(_, id)| fold_commitment(&t, *id, basis))
            .filter(|c| filter.status.is_none_or(|s| c.status == s))
            .filter(|c| filter.party.as_ref().is_none_or(|p| c.parties.contains(p)))
            .collect()
    }

    /// Counts by status and party in a basis.
    pub fn summary(&self, basis: &Basis) -> Result<Summary, Error> {
        let basis = self.resolved(basis)?;
        Ok(self.summary_in(&basis))
    }

    /// [`Projection::summary`] in an already resolved basis.
    pub fn summary_in(&self, basis: &ResolvedBasis) -> Summary {
        let t = self.lock();
        Summary::from_statuses(
            basis,
            t.commitment_order.iter().filter_map(|(_, id)| {
                t.commitments
                    .get(id)
                    .and_then(|c| c.fold_status_and_parties(basis))
            }),
        )
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
        let before = self.list_in(&ListFilter::default(), &from_basis);
        let after = self.list_in(&ListFilter::default(), &to_basis);
        Ok(Diff::between(&from_basis, &to_basis, &before, &after))
    }

    /// Ids of commitments and meetings (ever recorded) whose text form starts with `prefix`.
    pub fn ids_with_prefix(&self, prefix: &str) -> Vec<Uuid> {
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
        self.lock().meetings.contains_key(&id)
    }

    /// The ledger the projection derives from.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

fn fold_commitment(t: &Timelines, id: Uuid, basis: &ResolvedBasis) -> Option<CommitmentView> {
    let (mut view, namings) = t.commitments.get(&id)?.fold_commitment(id, basis)?;
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
    Some(view)
}

fn entry(record: &Record, own_stream: bool, change: Change) -> Entry {
    Entry {
        position: record.position,
        version: own_stream.then_some(record.version),
        effective_micros: record.effective.start().timestamp_micros(),
        retracted_at: None,
        change,
    }
}

/// Applies one record to the timelines, noting which subjects changed.
fn apply(
    t: &mut Timelines,
    ledger: &Ledger,
    record: &Record,
    dirty: &mut HashSet<(u8, Uuid, usize)>,
) -> Result<(), Error> {
    let mut push = |t: &mut Timelines, tag: u8, id: Uuid, e: Entry| {
        let map = if tag == TAG_COMMITMENT {
            &mut t.commitments
        } else {
            &mut t.meetings
        };
        let entries = &mut map.entry(id).or_default().entries;
        dirty.insert((tag, id, entries.len() / PAGE_ENTRIES));
        entries.push(e);
    };
    match &record.data {
        EventData::CommitmentMade(d) => {
            t.commitment_order.push((record.position, d.commitment_id));
            let change = Change::Made(Box::new(Made {
                title: d.title.clone(),
                summary: d.summary.clone(),
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
            let change = Change::Amended(Box::new(Amended {
                title: d.title.clone(),
                summary: d.summary.clone(),
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
            // Every timeline that holds an entry of the retracted event.
            let subjects: Vec<(u8, Uuid)> = match &target.record.data {
                EventData::CommitmentMade(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
                EventData::CommitmentAmended(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
                EventData::CommitmentStatusChanged(x) => vec![(TAG_COMMITMENT, x.commitment_id)],
                EventData::MeetingHeld(x) => std::iter::once((TAG_MEETING, x.meeting_id))
                    .chain(x.commitment_ids.iter().map(|c| (TAG_COMMITMENT, *c)))
                    .collect(),
                EventData::MeetingLinked(x) => {
                    vec![
                        (TAG_MEETING, x.meeting_id),
                        (TAG_COMMITMENT, x.commitment_id),
                    ]
                }
                EventData::EventRetracted(_) => Vec::new(),
            };
            for (tag, id) in subjects {
                let map = if tag == TAG_COMMITMENT {
                    &mut t.commitments
                } else {
                    &mut t.meetings
                };
                if let Some(timeline) = map.get_mut(&id) {
                    for (i, e) in timeline.entries.iter_mut().enumerate() {
                        if e.position == target_position {
                            e.retracted_at = Some(record.position);
                            dirty.insert((tag, id, i / PAGE_ENTRIES));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
