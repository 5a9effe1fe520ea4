//! The index of a ledger, kept in memory: a projection of the log (a stream's positions, an
//! event id's position, a retraction's position, a commitment's `made_on`). Not in the database:
//! built by scanning the log (on sled when first needed, not at open:
//! [`super::Store::ensure_index`] — or loaded from the file it was saved in and caught up with
//! the log's tail, `super::index_file`), and extended by the writer after each durable commit,
//! before it acknowledges.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::error::Error;
use crate::model::event::StreamId;
use crate::model::record::RecordHeader;
use crate::storage::id_positions::IdPositions;
use crate::storage::Chunks;
use crate::Map;

/// The index of a ledger, kept in memory: a projection of the log.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    /// Positions of each stream's events, in version order (version = index).
    pub(crate) streams: Map<StreamId, Vec<u64>>,
    /// Event id → position (compact: ten million of them).
    pub(crate) ids: IdPositions,
    /// Retracted event id → position of its retraction.
    pub(crate) retracted: Map<Uuid, u64>,
    /// `made_on` of each commitment (from its `commitment_made`).
    pub(crate) made_on: Map<Uuid, NaiveDate>,
    /// The records indexed: positions `0..size`.
    pub(crate) size: u64,
}

impl Index {
    /// Adds the record at the next position. Fails (naming the position) if it does not
    /// continue the log: a wrong position, version or a repeated id. Every check comes before
    /// the first change, so a refused record leaves the index exactly as it was (a writer
    /// that is refused must be able to go on with a true index).
    pub(crate) fn push(&mut self, r: &RecordHeader<'_>) -> Result<(), Error> {
        let position = self.size;
        let bad = |what: String| Error::Integrity { position, what };
        if r.position != position {
            return Err(bad(format!("the record says position {}", r.position)));
        }
        if self.ids.contains_key(&r.event_id) {
            return Err(bad(format!("event id {} appears twice", r.event_id)));
        }
        // A known stream is found by its text (no parse, no allocation); only a new one is
        // parsed, and owned only once the record is accepted.
        let known = self.streams.get(r.stream.as_ref()).map(Vec::len);
        let new_stream = match known {
            Some(_) => None,
            None => Some(
                StreamId::parse(&r.stream)
                    .ok_or_else(|| bad(format!("`{}` is not a stream id", r.stream)))?,
            ),
        };
        let expected_version = known.unwrap_or(0) as u64;
        if r.version != expected_version {
            return Err(bad(format!(
                "stream {} version {} where {expected_version} was expected",
                r.stream, r.version,
            )));
        }
        // Accepted: from here on nothing fails.
        match new_stream {
            Some(stream) => self.streams.entry(stream).or_default().push(position),
            None => {
                if let Some(versions) = self.streams.get_mut(r.stream.as_ref()) {
                    versions.push(position);
                }
            }
        }
        let earlier = self.ids.insert(r.event_id, position);
        debug_assert!(earlier.is_none(), "checked before any change");
        if let Some(target) = r.retracts {
            self.retracted.insert(target, position);
        }
        if let Some((commitment, made_on)) = r.made {
            self.made_on.insert(commitment, made_on);
        }
        self.size += 1;
        Ok(())
    }

    /// Takes back the records `pushed` (the last ones pushed, in position order): a group
    /// commit that failed after its records were pushed.
    pub(crate) fn unpush(&mut self, pushed: &[RecordHeader<'_>]) {
        for r in pushed.iter().rev() {
            if r.position + 1 != self.size {
                continue;
            }
            if let Some(versions) = self.streams.get_mut(r.stream.as_ref()) {
                versions.pop();
                if versions.is_empty() {
                    self.streams.remove(r.stream.as_ref());
                }
            }
            self.ids.remove(&r.event_id);
            if let Some(target) = r.retracts {
                self.retracted.remove(&target);
            }
            if let Some((commitment, _)) = r.made {
                self.made_on.remove(&commitment);
            }
            self.size -= 1;
        }
    }

    /// Adds the records of `chunks` from position `self.size` up to `tree_size`, checking that
    /// they continue the log without gaps.
    pub(super) fn extend(&mut self, chunks: Chunks<'_>, tree_size: u64) -> Result<(), Error> {
        for chunk in chunks {
            let chunk = chunk?;
            // Beyond what is to be indexed: not read (a failed commit may have left scattered
            // records there, which the open removes).
            if chunk.first >= tree_size {
                return Ok(());
            }
            if chunk.first > self.size {
                return Err(Error::Integrity {
                    position: self.size,
                    what: "records are missing (the log has a gap)".into(),
                });
            }
            for (i, record) in chunk.records().enumerate() {
                let position = chunk.first + i as u64;
                if position < self.size {
                    continue;
                }
                if position >= tree_size {
                    return Ok(());
                }
                let header = RecordHeader::decode(record).map_err(|e| Error::Integrity {
                    position,
                    what: format!("the record does not decode: {e}"),
                })?;
                self.push(&header)?;
            }
        }
        Ok(())
    }
}

/// The log holds `size` records where its head says `tree_size`.
pub(super) fn records_missing(size: u64, tree_size: u64) -> Error {
    Error::Integrity {
        position: size,
        what: format!(
            "the log ends at {size} records but its head says {tree_size}: records are missing"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn header(position: u64, stream: &str, version: u64) -> RecordHeader<'_> {
        RecordHeader {
            position,
            event_id: Uuid::from_u128(1000 + u128::from(position)),
            stream: Cow::Borrowed(stream),
            version,
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            retracts: (position == 3).then(|| Uuid::from_u128(1000)),
            made: (version == 0)
                .then(|| (Uuid::from_u128(position.into()), chrono::NaiveDate::MIN)),
        }
    }

    #[test]
    fn unpush_takes_back_exactly_what_push_added() {
        let a = "commitment/0194a1c2-0000-7000-8000-000000000001";
        let b = "commitment/0194a1c2-0000-7000-8000-000000000002";
        let mut index = Index::default();
        index.push(&header(0, a, 0)).unwrap();
        index.push(&header(1, a, 1)).unwrap();
        let before = index.clone();
        let group = [header(2, b, 0), header(3, a, 2), header(4, b, 1)];
        for h in &group {
            index.push(h).unwrap();
        }
        assert_eq!(index.size, 5);
        index.unpush(&group);
        assert_eq!(index.size, before.size);
        assert_eq!(index.streams, before.streams);
        assert_eq!(index.ids, before.ids);
        assert_eq!(index.retracted, before.retracted);
        assert_eq!(index.made_on, before.made_on);
        // And the same records can be pushed again.
        for h in &group {
            index.push(h).unwrap();
        }
        assert_eq!(index.size, 5);
    }

    #[test]
    fn a_refused_record_changes_nothing() {
        let a = "commitment/0194a1c2-0000-7000-8000-000000000001";
        let b = "commitment/0194a1c2-0000-7000-8000-000000000002";
        let mut index = Index::default();
        index.push(&header(0, a, 0)).unwrap();
        index.push(&header(1, a, 1)).unwrap();
        let before = index.clone();
        // A repeated id, on a new stream and on a known one; a wrong version; a wrong position;
        // a stream id that does not parse.
        let mut repeated_new = header(2, b, 0);
        repeated_new.event_id = header(0, a, 0).event_id;
        let mut repeated_known = header(2, a, 2);
        repeated_known.event_id = header(1, a, 1).event_id;
        let refused = [
            repeated_new,
            repeated_known,
            header(2, a, 5),
            header(7, a, 2),
            header(2, "not a stream", 0),
        ];
        for (case, r) in refused.iter().enumerate() {
            assert!(matches!(
                index.push(r),
                Err(Error::Integrity { position: 2, .. })
            ));
            assert_eq!(index.size, before.size);
            assert_eq!(index.streams, before.streams, "case {case}");
            assert_eq!(index.ids, before.ids, "case {case}");
            assert_eq!(index.retracted, before.retracted);
            assert_eq!(index.made_on, before.made_on);
        }
        // And the index goes on.
        index.push(&header(2, b, 0)).unwrap();
        assert_eq!(index.size, 3);
    }
}
