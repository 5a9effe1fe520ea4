//! Reading a ledger: one record, a run in position order, a stream, an event by id, and the live
//! feed of new records. Every read stops at the durable head as it is when the read starts, so a
//! reader never sees a record before it is acknowledged.

use crate::write::stats::CommitStats;
use std::collections::VecDeque;

use futures::Stream;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::Error;
use crate::ledger::Ledger;
use crate::model::event::StreamId;
use crate::model::record::{Record, StoredRecord};
use crate::storage::Head;

/// Records of one chunk with their positions, as `iter_from` unpacks them.
type PositionedRecords = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), Error>>>;

impl Ledger {
    fn decode_at(&self, position: u64, bytes: &[u8]) -> Result<StoredRecord, Error> {
        let record = Record::decode(bytes).map_err(|e| Error::Integrity {
            position,
            what: format!("stored record does not decode: {e}"),
        })?;
        Ok(StoredRecord {
            record,
            bytes: bytes.to_vec(),
        })
    }

    /// The record at `position`.
    pub fn read(&self, position: u64) -> Result<StoredRecord, Error> {
        let head = self.head();
        if position >= head.tree_size {
            return Err(Error::NotFound {
                what: format!("position {position} (tree size {})", head.tree_size),
            });
        }
        let bytes = self
            .inner
            .store
            .record_bytes(position)?
            .ok_or_else(|| Error::Integrity {
                position,
                what: "the record is missing".into(),
            })?;
        self.decode_at(position, &bytes)
    }

    /// Records from `from` on, in position order, up to the durable head as it is now.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = Result<StoredRecord, Error>> + '_ {
        self.iter_bytes_from(from).map(move |item| {
            let (position, bytes) = item?;
            self.decode_at(position, &bytes)
        })
    }

    /// [`Ledger::iter_from`] without decoding: each record's position and stored bytes (what a
    /// reader that decodes only some records, or only some fields, iterates; [`Record::decode`]
    /// decodes one).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ikrar_core::{InputEvent, Ledger, Record};
    /// let dir = tempfile::tempdir()?;
    /// let ledger = Ledger::create(dir.path().join("l"))?;
    /// ledger.append(vec![InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
    ///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"Summit",
    ///             "made_on":"2025-01-16"}}"#)?]).await?;
    /// let (position, bytes) = ledger.iter_bytes_from(0).next().unwrap()?;
    /// assert_eq!(position, 0);
    /// assert_eq!(Record::decode(&bytes)?.position, 0);
    /// # Ok(()) }
    /// ```
    pub fn iter_bytes_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), Error>> + '_ {
        let end = self.head().tree_size;
        let chunks: crate::storage::Chunks<'_> = if from >= end {
            Box::new(std::iter::empty())
        } else {
            match self.inner.store.chunks_from(from) {
                Ok(it) => it,
                Err(e) => Box::new(std::iter::once(Err(e))),
            }
        };
        let mut expected = from;
        chunks
            .flat_map(move |chunk| -> PositionedRecords {
                match chunk {
                    Err(e) => Box::new(std::iter::once(Err(e))),
                    Ok(chunk) => Box::new(
                        chunk
                            .records()
                            .enumerate()
                            .map(|(i, r)| Ok((chunk.first + i as u64, r.to_vec())))
                            .collect::<Vec<_>>()
                            .into_iter(),
                    ),
                }
            })
            .skip_while(move |item| matches!(item, Ok((p, _)) if *p < from))
            .take_while(move |item| !matches!(item, Ok((p, _)) if *p >= end))
            .map(move |item| {
                let (position, bytes) = item?;
                if position != expected {
                    return Err(Error::Integrity {
                        position: expected,
                        what: "the record is missing (the log has a gap)".into(),
                    });
                }
                expected += 1;
                Ok((position, bytes))
            })
    }

    /// Up to `limit` records from `from` on.
    pub fn read_range(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, Error> {
        self.iter_from(from).take(limit).collect()
    }

    /// Every event of one stream, in version order.
    pub fn read_stream(&self, stream: &StreamId) -> Result<Vec<StoredRecord>, Error> {
        let end = self.head().tree_size;
        let positions: Vec<u64> = self
            .inner
            .store
            .stream_positions(stream)?
            .into_iter()
            .filter(|p| *p < end)
            .collect();
        let records = self.inner.store.records_at(&positions)?;
        positions
            .into_iter()
            .zip(records)
            .map(|(position, bytes)| {
                let bytes = bytes.ok_or_else(|| Error::Integrity {
                    position,
                    what: "the record is missing".into(),
                })?;
                self.decode_at(position, &bytes)
            })
            .collect()
    }

    /// The record of an event, by its id.
    pub fn find_event(&self, event_id: Uuid) -> Result<Option<StoredRecord>, Error> {
        match self.inner.store.event_position(event_id)? {
            Some(p) if p < self.head().tree_size => self.read(p).map(Some),
            _ => Ok(None),
        }
    }

    /// What this process's writer did so far: group commits, their sizes, their latency.
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.store.stats.snapshot()
    }

    /// Event ids recorded (below the head) whose text form starts with `prefix` (lowercase
    /// hex and dashes), sorted; at most `limit` of them. The index keeps its ids sorted, so
    /// they are a range of it: for people typing a short id.
    pub fn event_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Uuid>, Error> {
        let tree_size = self.head().tree_size;
        // Built first if it was deferred: a log the index cannot be built from is damage.
        self.inner.store.ensure_index()?;
        // The smallest and largest ids whose text could start with `prefix`: its hex digits,
        // then zeros or `f`s.
        let digits: String = prefix.chars().filter(|c| *c != '-').collect();
        let bound = |pad: char| {
            (digits.len() <= 32 && digits.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| {
                    let mut hex = digits.clone();
                    hex.extend(std::iter::repeat_n(pad, 32 - digits.len()));
                    hex
                })
                .and_then(|hex| u128::from_str_radix(&hex, 16).ok())
                .map(Uuid::from_u128)
        };
        let (Some(from), Some(to)) = (bound('0'), bound('f')) else {
            return Ok(Vec::new());
        };
        let index = self.inner.store.read_index();
        let mut buf = Uuid::encode_buffer();
        // Text order is byte order, so the ids with the prefix come together from `from` on.
        Ok(index
            .ids
            .sorted_range(from, to)
            .take_while(|(id, _)| id.hyphenated().encode_lower(&mut buf).starts_with(prefix))
            .filter(|(_, p)| *p < tree_size)
            .map(|(id, _)| id)
            .take(limit)
            .collect())
    }

    /// The position of the retraction of `event_id`, if it was retracted.
    pub fn retraction_of(&self, event_id: Uuid) -> Result<Option<u64>, Error> {
        Ok(self
            .inner
            .store
            .retraction_position(event_id)?
            .filter(|p| *p < self.head().tree_size))
    }

    /// A stream of every record from `from` on: first those already recorded, then each new one
    /// as soon as it is durable. Ends only if the ledger's writer stops.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ikrar_core::Error> {
    /// use futures::StreamExt;
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// let mut feed = Box::pin(ledger.subscribe(0));
    /// let e = ikrar_core::InputEvent::from_json(r#"{"type":"commitment_made","actor":"kim",
    ///     "data":{"commitment_id":"0194a1c2-7f00-7000-8000-000000000001","title":"t","made_on":"2025-01-16"}}"#).unwrap();
    /// ledger.append(vec![e]).await?;
    /// let first = feed.next().await.unwrap()?;
    /// assert_eq!(first.record.position, 0);
    /// # Ok(()) }
    /// ```
    pub fn subscribe(
        &self,
        from: u64,
    ) -> impl Stream<Item = Result<StoredRecord, Error>> + Send + 'static {
        struct State {
            ledger: Ledger,
            next: u64,
            buffer: VecDeque<StoredRecord>,
            head_rx: watch::Receiver<Head>,
            failed: bool,
        }
        const CHUNK_RECORDS: usize = 512;
        let state = State {
            head_rx: self.inner.head_rx.clone(),
            ledger: self.clone(),
            next: from,
            buffer: VecDeque::new(),
            failed: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            if s.failed {
                return None;
            }
            loop {
                if let Some(r) = s.buffer.pop_front() {
                    return Some((Ok(r), s));
                }
                let size = s.head_rx.borrow_and_update().tree_size;
                if s.next < size {
                    match s.ledger.read_range(s.next, CHUNK_RECORDS) {
                        Ok(chunk) => {
                            s.next += chunk.len() as u64;
                            s.buffer.extend(chunk);
                            continue;
                        }
                        Err(e) => {
                            s.failed = true;
                            return Some((Err(e), s));
                        }
                    }
                }
                if s.head_rx.changed().await.is_err() {
                    return None;
                }
            }
        })
    }
}
