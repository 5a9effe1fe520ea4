//! Reads for the C2SP tlog-tiles API (SPEC §11): stored hash tiles and runs of records exactly
//! as stored, both bounded by the durable head, so that nothing unacknowledged is ever served.
//! The HTTP framing (paths, entry bundles, caching) is `ikrar-tlog`'s; this is where the data
//! lives.

use crate::error::Error;
use crate::ledger::Ledger;
use crate::storage::TILE_WIDTH;
use crate::tree::merkle::HASH_BYTES;

impl Ledger {
    /// The first `width` hashes (1..=256) of the stored hash tile `index` at tree height
    /// `height` (tlog-tiles level `L` is height `8·L`), if the durable tree holds them all;
    /// `None` if it does not (yet).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ikrar_core::Error> {
    /// let dir = tempfile::tempdir()?;
    /// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
    /// assert!(ledger.stored_tile(0, 0, 1)?.is_none()); // an empty tree has no tiles
    /// # Ok(()) }
    /// ```
    pub fn stored_tile(
        &self,
        height: u8,
        index: u64,
        width: u16,
    ) -> Result<Option<Vec<u8>>, Error> {
        if width == 0 || u64::from(width) > TILE_WIDTH || height >= 64 {
            return Ok(None);
        }
        let hashes_at_height = self.head().tree_size >> height;
        let end = index
            .checked_mul(TILE_WIDTH)
            .and_then(|start| start.checked_add(u64::from(width)));
        if end.is_none_or(|end| end > hashes_at_height) {
            return Ok(None);
        }
        let Some(tile) = self.inner.store.tile(height, index)? else {
            return Err(Error::Integrity {
                position: index * TILE_WIDTH,
                what: format!("the stored hash tile {index} at height {height} is missing"),
            });
        };
        let bytes = usize::from(width) * HASH_BYTES;
        match tile.get(..bytes) {
            Some(prefix) => Ok(Some(prefix.to_vec())),
            None => Err(Error::Integrity {
                position: index * TILE_WIDTH,
                what: format!(
                    "the stored hash tile {index} at height {height} holds {} bytes, not {bytes}",
                    tile.len()
                ),
            }),
        }
    }

    /// Calls `each` with the stored bytes of the records at positions `from..from + count`, in
    /// order, without decoding them; answers how many there were. Refuses a range beyond the
    /// durable head (nothing is read then).
    pub fn for_each_record_bytes(
        &self,
        from: u64,
        count: u64,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, Error> {
        let head = self.head().tree_size;
        let end = from.checked_add(count).filter(|end| *end <= head);
        let Some(end) = end else {
            return Err(Error::NotFound {
                what: format!("records {from}..{from}+{count} (the ledger has {head})"),
            });
        };
        let mut next = from;
        if next == end {
            return Ok(0);
        }
        for chunk in self.inner.store.chunks_from(from)? {
            let chunk = chunk?;
            for (i, record) in chunk.records().enumerate() {
                let position = chunk.first + i as u64;
                if position < next {
                    continue;
                }
                if position != next {
                    return Err(Error::Integrity {
                        position: next,
                        what: "the record is missing (the log has a gap)".into(),
                    });
                }
                each(record);
                next += 1;
                if next == end {
                    return Ok(count);
                }
            }
        }
        Err(Error::Integrity {
            position: next,
            what: "the record is missing".into(),
        })
    }
}
