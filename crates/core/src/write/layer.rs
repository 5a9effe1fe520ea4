//! The overlay the writer validates against: the store, then what the group commit has staged
//! so far, then what the append being checked has staged.
//!
//! Every event is checked against the ledger *plus* the events staged before it — earlier
//! events of the same append and earlier appends of the same group commit. Staged state lives
//! in [`Layer`]s: the group's layer, and on top of it the layer of the append being checked,
//! which is merged into the group only if every one of its events passes. A [`View`] reads
//! through both to the store. The overlay holds state and answers lookups; it decides nothing
//! (the rules do: [`super::rules`]).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::model::event::StreamId;
use crate::model::record::{Record, RecordHeader};
use crate::storage::Store;
use crate::tree::merkle::Hash;
use crate::Map;

/// An event that passed validation and waits for the group's commit: its recorded bytes and
/// the fields the index learns from it. The decoded record is not kept: it is needed again only
/// when a later event of the same group repeats or retracts this one, and is then decoded.
pub(crate) struct Staged {
    pub(crate) position: u64,
    pub(crate) event_id: Uuid,
    pub(crate) stream: StreamId,
    pub(crate) version: u64,
    pub(crate) recorded_at: DateTime<Utc>,
    /// For a retraction, the event it withdraws.
    pub(crate) retracts: Option<Uuid>,
    /// For `commitment_made`, the commitment and its `made_on`.
    pub(crate) made: Option<(Uuid, NaiveDate)>,
    /// The record exactly as it will be stored and hashed.
    pub(crate) bytes: Vec<u8>,
}

impl Staged {
    /// The index's view of the record.
    pub(crate) fn header(&self) -> RecordHeader<'_> {
        RecordHeader {
            position: self.position,
            event_id: self.event_id,
            stream: std::borrow::Cow::Borrowed(self.stream.as_str()),
            version: self.version,
            recorded_at: self.recorded_at,
            retracts: self.retracts,
            made: self.made,
        }
    }
}

/// Staged state on top of the store.
pub(crate) struct Layer {
    /// The position of this layer's first record.
    pub(crate) base_position: u64,
    pub(crate) records: Vec<Staged>,
    /// Last version and its position, per stream touched.
    pub(crate) stream_heads: Map<StreamId, (u64, u64)>,
    pub(crate) ids: Map<Uuid, u64>,
    /// Retracted event id → position of its retraction.
    pub(crate) retracted: Map<Uuid, u64>,
    /// Stored hashes `(level, index)` completed by the staged records.
    pub(crate) hashes: Map<(u8, u64), Hash>,
    /// `made_on` of the commitments made in this layer.
    pub(crate) made_on: Map<Uuid, NaiveDate>,
    pub(crate) last_recorded_at: DateTime<Utc>,
}

impl Layer {
    pub(crate) fn new(base_position: u64, last_recorded_at: DateTime<Utc>) -> Layer {
        Layer {
            base_position,
            records: Vec::new(),
            stream_heads: Map::default(),
            ids: Map::default(),
            retracted: Map::default(),
            hashes: Map::default(),
            made_on: Map::default(),
            last_recorded_at,
        }
    }

    pub(crate) fn next_position(&self) -> u64 {
        self.base_position + self.records.len() as u64
    }

    pub(crate) fn merge(&mut self, child: Layer) {
        debug_assert_eq!(child.base_position, self.next_position());
        if self.records.is_empty() && !child.records.is_empty() {
            // Nothing staged yet (so every map is empty too): take the append's layer whole
            // rather than re-inserting its entries — the common case of a one-append group.
            *self = child;
            return;
        }
        self.stream_heads.extend(child.stream_heads);
        self.ids.extend(child.ids);
        self.retracted.extend(child.retracted);
        self.hashes.extend(child.hashes);
        self.made_on.extend(child.made_on);
        // An append of idempotent repeats only adds no record and must not move the clock.
        if let Some(last) = child.records.last() {
            self.last_recorded_at = last.recorded_at;
        }
        self.records.extend(child.records);
    }

    pub(super) fn staged(&self, position: u64) -> Option<&Staged> {
        position
            .checked_sub(self.base_position)
            .and_then(|i| self.records.get(i as usize))
    }
}

/// The events of the append being validated that are not yet encoded, by offset from the
/// append's first position.
pub(crate) trait PendingRecords {
    /// The record at `offset` as it will be recorded, if it is pending.
    fn encode_at(&self, offset: u64) -> Option<Vec<u8>>;
}

/// Nothing pending (a view outside validation).
impl PendingRecords for () {
    fn encode_at(&self, _offset: u64) -> Option<Vec<u8>> {
        None
    }
}

/// Events checked in an earlier part of an append checked in parts
/// ([`crate::AppendCheck`]): kept by their maps alone, so that a record is read back from its
/// input only when a later event repeats or retracts it.
pub(crate) trait EarlierRecords {
    /// The record at `position` as the earlier part would have recorded it, if it is one of
    /// theirs; `view` answers what the record's rules look up.
    fn earlier_record(&self, view: &View<'_>, position: u64) -> Option<Result<Record, Error>>;
}

/// No earlier parts (an ordinary append).
impl EarlierRecords for () {
    fn earlier_record(&self, _view: &View<'_>, _position: u64) -> Option<Result<Record, Error>> {
        None
    }
}

/// The ledger as the writer sees it: the store, then the group's layer (or the earlier parts
/// of an append checked in parts), then the append's, then the append's events validated but
/// not yet encoded.
pub(crate) struct View<'a> {
    pub(crate) store: &'a Store,
    pub(crate) layers: [&'a Layer; 2],
    pub(crate) pending: &'a dyn PendingRecords,
    pub(crate) earlier: &'a dyn EarlierRecords,
}

impl<'a> View<'a> {
    /// The store under two layers, with nothing pending.
    pub(crate) fn new(store: &'a Store, layers: [&'a Layer; 2]) -> View<'a> {
        View {
            store,
            layers,
            pending: &(),
            earlier: &(),
        }
    }

    pub(super) fn record(&self, position: u64) -> Result<Record, Error> {
        let staged = self.layers.iter().find_map(|layer| layer.staged(position));
        if staged.is_none() {
            if let Some(record) = self.earlier.earlier_record(self, position) {
                return record;
            }
        }
        let other;
        let bytes = match staged {
            Some(s) => &s.bytes,
            None => {
                // The append's pending records hold positions from its layer's base on.
                let pending = position
                    .checked_sub(self.layers[1].base_position)
                    .and_then(|offset| self.pending.encode_at(offset));
                other = match pending {
                    // Rare (an event repeating or retracting one earlier in its own append):
                    // encoded now, as it will be recorded.
                    Some(bytes) => bytes,
                    None => self
                        .store
                        .record_bytes(position)?
                        .ok_or_else(|| Error::Integrity {
                            position,
                            what: "an index points at a record that is missing".into(),
                        })?,
                };
                &other
            }
        };
        Record::decode(bytes).map_err(|e| Error::Integrity {
            position,
            what: format!("stored record does not decode: {e}"),
        })
    }

    pub(super) fn stream_head(&self, stream: &StreamId) -> Result<Option<(u64, u64)>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(h) = layer.stream_heads.get(stream) {
                return Ok(Some(*h));
            }
        }
        self.store.stream_head(stream)
    }

    pub(super) fn id_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(p) = layer.ids.get(&id) {
                return Ok(Some(*p));
            }
        }
        self.store.event_position(id)
    }

    pub(super) fn retraction_of(&self, id: Uuid) -> Result<Option<u64>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(p) = layer.retracted.get(&id) {
                return Ok(Some(*p));
            }
        }
        self.store.retraction_position(id)
    }

    /// `made_on` of a commitment, read from its `commitment_made` (stream version 0).
    pub(super) fn made_on(&self, commitment_id: Uuid) -> Result<Option<NaiveDate>, Error> {
        for layer in self.layers {
            if let Some(d) = layer.made_on.get(&commitment_id) {
                return Ok(Some(*d));
            }
        }
        self.store.made_on(commitment_id)
    }

    pub(crate) fn hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        for layer in self.layers.iter().rev() {
            if let Some(h) = layer.hashes.get(&(level, index)) {
                return Ok(Some(*h));
            }
        }
        self.store.hash(level, index)
    }
}

impl crate::storage::HashSource for View<'_> {
    fn stored_hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        self.hash(level, index)
    }
}
