//! An append too large to hold in memory, checked in parts (SPEC §3: a file of any size is
//! validated as a whole, against the ledger plus the events before it, before its first batch
//! is written).
//!
//! Each part is staged exactly as an append would be ([`super::stage`]), on top of what the
//! earlier parts left — but of those only the maps are kept (event ids, stream heads,
//! retractions, `made_on`, and the tree's right edge), never their records: about 40 bytes an
//! event instead of the record, its hashes and its input. A record of an earlier part is needed
//! again only when a later event repeats its `event_id` or retracts it; it is then read back
//! from the caller's input by the tag the caller gave it (a file's byte offset, say) and made
//! again as that part made it.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::event::EventData;
use crate::model::input::InputEvent;
use crate::model::record::{Record, SCHEMA_VERSION};
use crate::storage::{Head, Store};
use crate::write::clock::Clock;
use crate::write::layer::{EarlierRecords, Layer, View};
use crate::write::rules;
use crate::write::stage::{stage, AppendOutcome};

/// Reads back an event of an earlier part by the tag the caller gave it.
pub type Reread<'a> = dyn Fn(u64) -> Result<InputEvent, Error> + 'a;

/// An append checked in parts: each part is validated against the ledger plus every event of
/// the parts before it, and nothing is written. Made by [`crate::Ledger::check_in_parts`]. It
/// holds for a ledger nothing else appends to meanwhile (the CLI holds the ledger's lock): a
/// part checked after another writer appended is refused.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ikrar_core::Error> {
/// use ikrar_core::{InputEvent, Ledger};
/// let dir = tempfile::tempdir()?;
/// let ledger = Ledger::create(dir.path().join("ledger"))?;
/// let lines = [
///     r#"{"type":"commitment_made","actor":"kim","data":{"commitment_id":"0194a1c2-0000-7000-8000-000000000001","title":"Hold the summit","made_on":"2025-01-16"}}"#,
///     r#"{"type":"commitment_status_changed","actor":"kim","data":{"commitment_id":"0194a1c2-0000-7000-8000-000000000001","status":"in_progress"}}"#,
/// ];
/// let events: Vec<InputEvent> = lines.iter().map(|l| InputEvent::from_json(l).unwrap()).collect();
/// // How the check finds an event of an earlier part again, by its tag (here, its index).
/// let reread = |tag: u64| -> Result<InputEvent, ikrar_core::Error> {
///     Ok(events[tag as usize].clone())
/// };
/// let mut check = ledger.check_in_parts();
/// // The second part changes the status of a commitment the first part makes.
/// check.check_part(&events[..1], &[0], &reread)?;
/// let outcome = check.check_part(&events[1..], &[1], &reread)?;
/// assert_eq!(outcome.positions, vec![1]);
/// assert_eq!(check.new_events(), 2);
/// assert_eq!(ledger.head().tree_size, 0, "nothing is written");
/// # Ok(()) }
/// ```
pub struct AppendCheck {
    store: Store,
    clock: Clock,
    /// The maps of every event checked so far; no records (its `base_position` is the next
    /// position).
    carried: Layer,
    /// The position of the first part's first new event.
    first_position: u64,
    /// The caller's tag of each new event checked so far, by position from `first_position`.
    tags: Vec<u64>,
    /// The moment of recording each part was checked with, from its first position on.
    moments: Vec<(u64, DateTime<Utc>)>,
}

impl AppendCheck {
    pub(crate) fn new(store: Store, clock: Clock, head: &Head) -> AppendCheck {
        AppendCheck {
            store,
            clock,
            carried: Layer::new(head.tree_size, head.last_recorded_at),
            first_position: head.tree_size,
            tags: Vec::new(),
            moments: Vec::new(),
        }
    }

    /// Validates `events` against the ledger plus every event of the earlier parts, as one
    /// append would be validated, and writes nothing. `tags[i]` is how `reread` finds
    /// `events[i]` again. An error names the event by its index in this part; after an error
    /// the check is over (later parts would not see this one).
    pub fn check_part(
        &mut self,
        events: &[InputEvent],
        tags: &[u64],
        reread: &Reread<'_>,
    ) -> Result<AppendOutcome, Error> {
        if tags.len() != events.len() {
            return Err(Error::storage(format!(
                "a part of {} events given {} tags",
                events.len(),
                tags.len()
            )));
        }
        // The earlier parts' positions are this check's own: a ledger another writer appended
        // to meanwhile would give them to other events.
        let tree_size = self.store.head()?.tree_size;
        if tree_size != self.first_position {
            return Err(Error::Closed {
                reason: format!(
                    "the ledger changed while the parts were checked (tree size {} then, {tree_size} now); check again",
                    self.first_position
                ),
            });
        }
        let now = self.clock.now();
        let recorded_at = now.max(self.carried.last_recorded_at);
        let base = self.carried.base_position;
        let (layer, mut outcome) = {
            let earlier = Earlier {
                first_position: self.first_position,
                end_position: base,
                tags: &self.tags,
                moments: &self.moments,
                reread,
            };
            stage(&self.store, &self.carried, &earlier, events, now)?
        };
        // New events take the next positions in order; a repeat answers an earlier one.
        let mut next = base;
        for (i, position) in outcome.positions.iter().enumerate() {
            if *position == next {
                self.tags.push(tags[i]);
                next += 1;
            }
        }
        self.moments.push((base, recorded_at));
        self.carry(layer);
        outcome.tree_size = self.carried.base_position;
        Ok(outcome)
    }

    /// How many new events the parts checked so far hold.
    pub fn new_events(&self) -> u64 {
        self.tags.len() as u64
    }

    /// The tree size the parts checked so far would make.
    pub fn tree_size(&self) -> u64 {
        self.carried.base_position
    }

    /// Keeps the maps of a part that passed, and of its tree hashes only the right edge: the
    /// last hash of each level, which is all that adding the next record combines with.
    fn carry(&mut self, part: Layer) {
        let carried = &mut self.carried;
        let next_position = part.next_position();
        if let Some(last) = part.records.last() {
            carried.last_recorded_at = last.recorded_at;
        }
        carried.stream_heads.extend(part.stream_heads);
        carried.ids.extend(part.ids);
        carried.retracted.extend(part.retracted);
        carried.made_on.extend(part.made_on);
        carried.hashes.extend(part.hashes);
        let mut last_per_level = [None::<u64>; 64];
        for &(level, index) in carried.hashes.keys() {
            let last = &mut last_per_level[usize::from(level)];
            *last = Some(last.map_or(index, |l: u64| l.max(index)));
        }
        carried
            .hashes
            .retain(|&(level, index), _| last_per_level[usize::from(level)] == Some(index));
        carried.base_position = next_position;
    }
}

/// The records of the earlier parts, read back from the caller's input.
struct Earlier<'a> {
    first_position: u64,
    end_position: u64,
    tags: &'a [u64],
    moments: &'a [(u64, DateTime<Utc>)],
    reread: &'a Reread<'a>,
}

impl EarlierRecords for Earlier<'_> {
    fn earlier_record(&self, view: &View<'_>, position: u64) -> Option<Result<Record, Error>> {
        if !(self.first_position..self.end_position).contains(&position) {
            return None;
        }
        Some(self.record(view, position))
    }
}

impl Earlier<'_> {
    /// The record at `position` as its part made it. Its stream version is not kept (no rule
    /// reads another record's version); everything the rules compare is.
    fn record(&self, view: &View<'_>, position: u64) -> Result<Record, Error> {
        let tag = self.tags[(position - self.first_position) as usize];
        let event = (self.reread)(tag)?;
        let changed = |what: &str| {
            Error::storage(format!(
                "the input changed while it was checked: the event checked at position \
                 {position} now {what}"
            ))
        };
        let recorded_at = self
            .moments
            .iter()
            .rev()
            .find(|(from, _)| *from <= position)
            .map(|(_, at)| *at)
            .ok_or_else(|| changed("has no part"))?;
        let actor = rules::actor(0, &event)
            .map_err(|_| changed("has no actor"))?
            .to_string();
        let effective = rules::effective(0, &event, recorded_at, None)
            .map_err(|_| changed("is later than its moment of recording"))?;
        let event_id = event.event_id.ok_or_else(|| changed("has no event_id"))?;
        // A retraction is recorded in its target's stream (the rules' own lookup would find
        // the target retracted — by this very event).
        let stream = match &event.data {
            EventData::EventRetracted(d) => {
                let target = view
                    .id_position(d.event_id)?
                    .ok_or_else(|| changed("retracts an event that is not there"))?;
                view.record(target)?.stream
            }
            _ => rules::subject(view, 0, &event)?.stream,
        };
        Ok(Record {
            position,
            event_id,
            stream,
            version: 0,
            recorded_at,
            schema: SCHEMA_VERSION,
            effective,
            actor,
            reason: event.reason,
            source: event.source,
            data: event.data,
        })
    }
}
