//! A lazily read projection behind the ledger's head: the records after its snapshot's
//! position held as each subject's new entries ([`Tail`]) and merged into every timeline read
//! from the snapshot (`crate::lazy`). A query after an append then reads the appended records
//! and the timelines they touch, where it used to read the whole snapshot first (at ten million
//! events 1.1 GiB and 9 s) and fold the tail into that.
//!
//! The present's counts are carried forward with the tail: the counts at the position before
//! it, less what the touched commitments counted for then, plus what they count for now
//! (`Projection::carry_counts`). And once the tail is an eighth of the ledger, the snapshot is
//! saved at the head by carrying every untouched timeline's bytes over as they are (each
//! checked against its digest on the way) and encoding only the touched ones again: memory
//! grows with the tail, never with the snapshot.

use std::collections::{HashMap, HashSet};

use ikrar_core::{EventData, Ledger, Record};
use uuid::Uuid;

use crate::apply::{apply, subjects};
use crate::basis::ResolvedBasis;
use crate::error::Error;
use crate::lazy::{open_directory, Directory};
use crate::present::Present;
use crate::projection::{Projection, Timelines};
use crate::snapshot::{write_snapshot_with, SNAPSHOT_FILE, TAG_COMMITMENT, TAG_MEETING};
use crate::timeline::{Entry, Timeline};
use crate::view::{StatusKey, Summary};

/// A tail up to this many records (or as long as the snapshot behind it, if that is longer) is
/// followed lazily; a longer one sends the projection down the whole path, which then reads
/// about as much as following it would.
const TAIL_RECORDS_MIN: u64 = 65_536;
/// [`Projection::flush`] saves a lazily read projection's snapshot at the head once its tail
/// is this long: every process that opens it after reads the tail from the log again.
const FLUSH_TAIL_RECORDS: u64 = 65_536;

/// The records after a snapshot's position, as the entries they file per subject.
#[derive(Default, Clone)]
pub(crate) struct Tail {
    /// Each subject's entries from the tail, as [`apply`] files them into timelines that start
    /// empty (only their `commitments` and `meetings` are read).
    sparse: Timelines,
    /// Retractions in the tail, per subject holding the retracted event's entries: (the
    /// retracted entry's position, the retraction's). The snapshot's entries get them as read.
    marks: HashMap<(u8, Uuid), Vec<(u64, u64)>>,
}

impl Tail {
    fn map(&self, tag: u8) -> &HashMap<Uuid, Timeline> {
        if tag == TAG_COMMITMENT {
            &self.sparse.commitments
        } else {
            &self.sparse.meetings
        }
    }

    /// Whether the tail files an entry for subject `id` of kind `tag`.
    pub(crate) fn has(&self, tag: u8, id: Uuid) -> bool {
        self.map(tag).contains_key(&id)
    }

    /// Whether the tail changes subject `id`'s timeline (an entry, or a retraction of one).
    fn touches(&self, tag: u8, id: Uuid) -> bool {
        self.has(tag, id) || self.marks.contains_key(&(tag, id))
    }

    /// Every subject the tail files an entry for, as (tag, id).
    pub(crate) fn subjects(&self) -> impl Iterator<Item = (u8, Uuid)> + '_ {
        (self
            .sparse
            .commitments
            .keys()
            .map(|id| (TAG_COMMITMENT, *id)))
        .chain(self.sparse.meetings.keys().map(|id| (TAG_MEETING, *id)))
    }

    /// The timeline of subject `id` of kind `tag`: what the snapshot `stored` (if it has one)
    /// with the tail's changes; `None` if neither has any entry.
    pub(crate) fn merged(
        &self,
        tag: u8,
        id: Uuid,
        stored: Option<Vec<Entry>>,
    ) -> Option<Vec<Entry>> {
        let added = self.map(tag).get(&id);
        let marks = self.marks.get(&(tag, id));
        if added.is_none() && marks.is_none() {
            return stored;
        }
        let mut entries = stored.unwrap_or_default();
        // Every entry of the tail comes after every entry of the snapshot.
        entries.extend(added.iter().flat_map(|t| t.entries.iter().cloned()));
        for (retracted, at) in marks.into_iter().flatten() {
            for e in entries.iter_mut().filter(|e| e.position == *retracted) {
                e.retracted_at = Some(*at);
            }
        }
        (!entries.is_empty()).then_some(entries)
    }

    /// The subjects of kind `tag` the tail has and `directory`'s snapshot does not, in the
    /// order of their first entries.
    pub(crate) fn only_in_tail(&self, tag: u8, directory: &Directory) -> Vec<Uuid> {
        let mut new: Vec<(u64, Uuid)> = self
            .map(tag)
            .iter()
            .filter(|(id, _)| directory.record(**id, tag).is_none())
            .filter_map(|(id, t)| Some((t.entries.first()?.position, *id)))
            .collect();
        new.sort_unstable();
        new.into_iter().map(|(_, id)| id).collect()
    }

    /// Files `record`'s entries; the subjects whose timelines it changes.
    fn apply(&mut self, ledger: &Ledger, record: &Record) -> Result<Vec<(u8, Uuid)>, Error> {
        let touched = match &record.data {
            EventData::EventRetracted(d) => match ledger.find_event(d.event_id)? {
                Some(target) => {
                    let touched = subjects(&target.record.data);
                    for subject in &touched {
                        self.marks
                            .entry(*subject)
                            .or_default()
                            .push((target.record.position, record.position));
                    }
                    touched
                }
                // `apply` names the error.
                None => Vec::new(),
            },
            data => subjects(data),
        };
        apply(&mut self.sparse, ledger, record)?;
        Ok(touched)
    }
}

impl Projection {
    /// Catches a lazily read projection up to `head` by following the tail (this module's
    /// comment); `Ok(false)` when it is not lazy or the tail is too long to follow, and the
    /// caller takes the whole path.
    pub(crate) fn catch_up_tail(&self, head: u64) -> Result<bool, Error> {
        let start = {
            let t = self.lock_raw();
            let Some(directory) = t.lazy.as_ref() else {
                return Ok(false);
            };
            // Another catch-up may have gone further (and saved past `head`) meanwhile.
            if t.reached >= head {
                return Ok(true);
            }
            if head.saturating_sub(directory.base) > directory.base.max(TAIL_RECORDS_MIN) {
                return Ok(false);
            }
            t.reached
        };
        let now = chrono::Utc::now();
        let mut touched_commitments: HashSet<Uuid> = HashSet::new();
        // Whether this catch-up applied every record from `start` on itself (another one may
        // apply some meanwhile: then it does not know every commitment touched since `start`),
        // and up to where.
        let (mut all_ours, mut applied_to) = (true, start);
        // As the whole path does: the log read without the lock, the lock taken per chunk.
        let mut records = self.ledger().iter_from(start);
        loop {
            let mut chunk = Vec::with_capacity(crate::projection::CATCH_UP_CHUNK_RECORDS);
            for item in records.by_ref() {
                let stored = item?;
                if stored.record.position >= head {
                    break;
                }
                chunk.push(stored);
                if chunk.len() == crate::projection::CATCH_UP_CHUNK_RECORDS {
                    break;
                }
            }
            if chunk.is_empty() {
                break;
            }
            let mut t = self.lock_raw();
            let t = &mut *t;
            let Some(directory) = t.lazy.as_mut() else {
                // Read whole meanwhile: the whole path goes on from where it is.
                return Ok(false);
            };
            // A subject found absent may be in the tail now (cleared first: an error part way
            // through the chunk leaves what it applied).
            directory.absent.clear();
            let tail = std::sync::Arc::make_mut(&mut directory.tail);
            for stored in &chunk {
                let position = stored.record.position;
                if position < t.reached {
                    all_ours = false;
                    continue;
                }
                if position > t.reached {
                    all_ours = false;
                    break;
                }
                for (tag, id) in tail.apply(self.ledger(), &stored.record)? {
                    // What was loaded of a touched subject is stale: it is read again, merged.
                    if tag == TAG_COMMITMENT {
                        t.commitments.remove(&id);
                        touched_commitments.insert(id);
                    } else {
                        t.meetings.remove(&id);
                    }
                }
                t.reached = position + 1;
                directory.reached = t.reached;
                applied_to = t.reached;
            }
            if t.reached >= head {
                break;
            }
        }
        {
            let mut t = self.lock_raw();
            let lag = t.lazy.as_ref().map(|d| d.reached - d.base);
            if lag
                .is_some_and(|lag| lag >= (t.reached / crate::projection::SAVE_LAG_FRACTION).max(1))
            {
                // A cache: a failure costs the next catch-up the longer tail, nothing else.
                if let Err(e) = self.save_tail(&mut t) {
                    tracing::warn!(error = %e, "the projection's snapshot was not saved at the head");
                }
            }
        }
        if all_ours {
            if let Err(e) = self.carry_counts((start, applied_to), now, &touched_commitments) {
                tracing::warn!(error = %e, "the present's counts were not carried forward");
            }
        }
        Ok(true)
    }

    /// Writes the present's counts at `reached` from those at `start`, if they hold at `now`:
    /// less what each of `touched` (every commitment the records in between touched) counted
    /// for at `start`, plus what it counts for now. Nothing is written if they do not hold, if
    /// the counts at `reached` are there, or if the projection has moved past `reached`.
    fn carry_counts(
        &self,
        (start, reached): (u64, u64),
        now: chrono::DateTime<chrono::Utc>,
        touched: &HashSet<Uuid>,
    ) -> Result<(), Error> {
        let Some(dir) = self.snapshot_dir() else {
            return Ok(());
        };
        let Some(directory) = self.lock_raw().lazy.as_ref().map(Directory::for_a_pass) else {
            return Ok(());
        };
        let ledger = self.ledger();
        let now_micros = now.timestamp_micros();
        if directory.reached != reached || Present::load(dir, ledger, reached, now_micros).is_some()
        {
            return Ok(());
        }
        let Some(old) = Present::load(dir, ledger, start, now_micros) else {
            return Ok(());
        };
        let (before, after) = (
            ResolvedBasis::new(start, now),
            ResolvedBasis::new(reached, now),
        );
        // Read in the order they lie in the file, through one handle.
        let mut ids: Vec<(u64, Uuid)> = touched
            .iter()
            .map(|id| (directory.offset_of(*id, TAG_COMMITMENT), *id))
            .collect();
        ids.sort_unstable();
        let mut pass = directory.pass()?;
        let (mut was, mut is) = (Vec::new(), Vec::new());
        let mut until = old.until_micros;
        for (_, id) in ids {
            let Some(entries) = pass.read_subject(id, TAG_COMMITMENT)? else {
                continue;
            };
            let timeline = Timeline { entries };
            for (basis, folds) in [(&before, &mut was), (&after, &mut is)] {
                if let Some((status, parties)) = timeline.fold_status_and_parties(basis) {
                    folds.push((status, parties.to_vec()));
                }
            }
            // The first instant after `now` at which one of its entries takes effect.
            for e in &timeline.entries {
                if e.position < reached && e.effective_micros > now_micros {
                    until = Some(until.map_or(e.effective_micros, |u| u.min(e.effective_micros)));
                }
            }
        }
        let summary = |basis, folds: &[(ikrar_core::Status, Vec<String>)]| {
            Summary::from_statuses(basis, folds.iter().map(|(s, p)| (*s, p.as_slice())))
        };
        let Some(counts) = carried(
            old.summary(&after),
            &summary(&before, &was),
            &summary(&after, &is),
        ) else {
            tracing::warn!("the present's counts do not match the snapshot; not carried forward");
            return Ok(());
        };
        let root = ledger.root_at(reached)?;
        Present::new(reached, &root.0, now_micros, until, counts)
            .store(dir)
            .map_err(|e| Error::Core(ikrar_core::Error::Io(e)))
    }

    /// [`Projection::flush`] of a lazily read projection: it is its snapshot and the log's
    /// tail after it, saved once the tail is long enough ([`FLUSH_TAIL_RECORDS`]) that reading
    /// it again would cost the next process more.
    pub(crate) fn flush_tail(&self, t: &mut Timelines) -> Result<(), Error> {
        match &t.lazy {
            Some(directory) if directory.reached - directory.base >= FLUSH_TAIL_RECORDS => {
                self.save_tail(t)
            }
            _ => Ok(()),
        }
    }

    /// Saves a lazily read projection's snapshot at the position reached: the untouched
    /// timelines' bytes carried over (each checked against its digest: a damaged one is not
    /// carried into a file whose own digest would then vouch for it), the touched ones merged
    /// and encoded again; then opens the new one lazily, with no tail.
    pub(crate) fn save_tail(&self, t: &mut Timelines) -> Result<(), Error> {
        let (Some(dir), Some(directory)) = (self.snapshot_dir(), t.lazy.as_ref()) else {
            return Ok(());
        };
        let root = self.ledger().root_at(directory.reached)?;
        let failed = |e: Error| std::io::Error::other(e.to_string());
        let written = write_snapshot_with(dir, directory.reached, &root.0, |w| {
            let mut pass = directory.pass().map_err(failed)?;
            let tail = &directory.tail;
            for tag in [TAG_COMMITMENT, TAG_MEETING] {
                for record in pass.records_of(tag) {
                    let id = Uuid::from_slice(&record[1..17]).expect("16 bytes");
                    if tail.touches(tag, id) {
                        let stored = pass.read(record).map_err(failed)?;
                        let entries = tail.merged(tag, id, Some(stored)).unwrap_or_default();
                        w.timeline(tag, id, &entries)?;
                    } else {
                        let bytes = pass.raw(record).map_err(failed)?;
                        if <sha2::Sha256 as sha2::Digest>::digest(&bytes)[..] != record[29..] {
                            return Err(std::io::Error::other(
                                "a timeline does not match its digest",
                            ));
                        }
                        w.stored(tag, id, &bytes, &record[29..])?;
                    }
                }
                for id in tail.only_in_tail(tag, directory) {
                    let entries = tail.merged(tag, id, None).unwrap_or_default();
                    w.timeline(tag, id, &entries)?;
                }
            }
            Ok(())
        });
        written.map_err(|e| {
            Error::Projection(format!(
                "cannot write {}: {e}",
                dir.join(SNAPSHOT_FILE).display()
            ))
        })?;
        match open_directory(&dir.join(SNAPSHOT_FILE), self.ledger())? {
            Some(saved) if saved.reached == t.reached => {
                t.lazy = Some(saved);
                t.saved = t.reached;
                Ok(())
            }
            _ => Err(Error::Projection(format!(
                "{}: not at {} once saved",
                dir.join(SNAPSHOT_FILE).display(),
                t.reached
            ))),
        }
    }
}

/// `counts` less `was` plus `is`, field by field; `None` if a count would fall below zero
/// (counts that do not match the snapshot).
fn carried(counts: Summary, was: &Summary, is: &Summary) -> Option<Summary> {
    let mut out = counts;
    out.total = (out.total + is.total).checked_sub(was.total)?;
    for (status, n) in &mut out.by_status {
        let zero = 0;
        let key: &StatusKey = status;
        *n = (*n + is.by_status.get(key).unwrap_or(&zero))
            .checked_sub(*was.by_status.get(key).unwrap_or(&zero))?;
    }
    for (party, n) in &is.by_party {
        *out.by_party.entry(party.clone()).or_default() += n;
    }
    for (party, n) in &was.by_party {
        let count = out.by_party.get_mut(party)?;
        *count = count.checked_sub(*n)?;
        if *count == 0 {
            out.by_party.remove(party);
        }
    }
    Some(out)
}
