//! The layout of a ledger on sled. Everything that knows a key format lives here.
//!
//! All of the log lives in one sled tree, `log`, so that one group commit is one
//! `Tree::apply_batch` — atomic on its own, and cheaper than a multi-tree transaction. Keys start
//! with a one-byte tag:
//!
//! | tag | key | value |
//! |---|---|---|
//! | `b` | position of its first record (u64 BE) | a bundle: up to 64 consecutive records (SPEC §2.3), each exactly as hashed, separated by `\n` |
//! | `h` | level (u8) ‖ tile index (u64 BE) | up to 256 hashes of that level, 32 bytes each |
//! | `c` | tree size (u64 BE) ‖ key name | signed checkpoint note |
//! | `k` | key name | verifier key (text form) of the checkpoints signed with that name |
//! | `m` | `head` | tree size (u64 BE) ‖ root (32) ‖ last recorded_at (i64 µs BE) |
//! | `m` | `format` | layout version (u32 BE) |
//!
//! Bundles and hash tiles follow C2SP tlog-tiles in spirit: records are packed up to 64 to a
//! value and the stored hashes of one level up to 256, so an acknowledged batch of N events
//! writes about N/64 + N/128 keys instead of three per event. Records hold no newline (they are
//! compact JSON), so a bundle splits on `\n`. (64, not 256: a bundle of 256 records, ~100 KB,
//! pushes sled to store its leaf as a separate blob file, which every point read then reloads;
//! `compare --quick` measured replay at 0.50 × raw sled with 256 and 0.94 × with 64.)
//!
//! The indexes — a stream's positions, an event id's position, a retraction's position — are not
//! stored: they are a projection of the log kept in memory ([`Index`]), built by scanning the
//! bundles when the ledger opens and extended by the writer after each durable commit, before it
//! acknowledges.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::event::StreamId;
use crate::merkle::{Hash, HASH_BYTES};

/// Hashes per tile.
pub const TILE_WIDTH: u64 = 256;
/// The layout version written to `m/format`.
pub const LAYOUT_VERSION: u32 = 2;

pub(crate) const TAG_BUNDLE: u8 = b'b';
/// Records per bundle at most (see the module notes for why 64).
pub const BUNDLE_RECORDS_MAX: usize = 64;
pub(crate) const TAG_HASH: u8 = b'h';
pub(crate) const TAG_CHECKPOINT: u8 = b'c';
pub(crate) const TAG_VERIFIER_KEY: u8 = b'k';
const META_HEAD: &[u8] = b"mhead";
const META_FORMAT: &[u8] = b"mformat";

/// Where the log stands: what the last durable commit left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of events; the next position.
    pub tree_size: u64,
    /// Merkle root over positions `0..tree_size`.
    pub root: Hash,
    /// `recorded_at` of the last event (the Unix epoch for an empty ledger).
    pub last_recorded_at: DateTime<Utc>,
}

impl Head {
    /// The head of an empty ledger.
    pub fn empty() -> Head {
        Head {
            tree_size: 0,
            root: Hash::empty_tree(),
            last_recorded_at: DateTime::UNIX_EPOCH,
        }
    }

    fn encode(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..8].copy_from_slice(&self.tree_size.to_be_bytes());
        out[8..40].copy_from_slice(&self.root.0);
        out[40..].copy_from_slice(&self.last_recorded_at.timestamp_micros().to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Head> {
        if bytes.len() != 48 {
            return None;
        }
        let tree_size = u64::from_be_bytes(bytes[..8].try_into().ok()?);
        let root = Hash(bytes[8..40].try_into().ok()?);
        let micros = i64::from_be_bytes(bytes[40..].try_into().ok()?);
        Some(Head {
            tree_size,
            root,
            last_recorded_at: DateTime::from_timestamp_micros(micros)?,
        })
    }
}

/// The name of the head file inside a ledger directory.
pub const HEAD_FILE_NAME: &str = "head";
const HEAD_FILE_MAGIC: &[u8; 8] = b"IKRARHD1";

/// A copy of the head kept outside sled, written after every durable commit.
///
/// sled recovers from a damaged log by ending it at the damage, which would make a ledger
/// silently shorter. The head file remembers what was acknowledged: on open, a sled log shorter
/// than the head file, or one whose tree disagrees with the head file's root, is an integrity
/// failure, never a quiet loss. It is written without its own fsync, after sled's flush, so it
/// can lag the log after a power cut but never run ahead of it.
pub(crate) struct HeadFile {
    file: std::fs::File,
}

impl HeadFile {
    pub(crate) fn create(dir: &Path) -> Result<HeadFile, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(HEAD_FILE_NAME))?;
        Ok(HeadFile { file })
    }

    pub(crate) fn write(&self, head: &Head) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; 56];
        bytes[..8].copy_from_slice(HEAD_FILE_MAGIC);
        bytes[8..].copy_from_slice(&head.encode());
        self.file.write_all_at(&bytes, 0)?;
        Ok(())
    }

    /// The head last written, `None` if the file is missing.
    pub(crate) fn read(dir: &Path) -> Result<Option<Head>, Error> {
        let bytes = match std::fs::read(dir.join(HEAD_FILE_NAME)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if bytes.len() != 56 || &bytes[..8] != HEAD_FILE_MAGIC {
            return Err(Error::Integrity {
                position: 0,
                what: "the head file is malformed".into(),
            });
        }
        Ok(Head::decode(&bytes[8..]))
    }
}

pub(crate) fn bundle_key(first_position: u64) -> [u8; 9] {
    let mut k = [TAG_BUNDLE; 9];
    k[1..].copy_from_slice(&first_position.to_be_bytes());
    k
}

/// The records of a bundle, in order.
pub(crate) fn bundle_records(bundle: &[u8]) -> impl Iterator<Item = &[u8]> {
    bundle.split(|b| *b == b'\n')
}

/// The index of a ledger: what the stored `s`/`i`/`r` keys used to be, kept in memory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    /// Positions of each stream's events, in version order (version = index).
    pub(crate) streams: HashMap<StreamId, Vec<u64>>,
    /// Event id → position.
    pub(crate) ids: HashMap<Uuid, u64>,
    /// Retracted event id → position of its retraction.
    pub(crate) retracted: HashMap<Uuid, u64>,
    /// `made_on` of each commitment (from its `commitment_made`).
    pub(crate) made_on: HashMap<Uuid, NaiveDate>,
    /// The records indexed: positions `0..size`.
    pub(crate) size: u64,
}

impl Index {
    /// Adds the record at the next position. Fails (naming the position) if it does not
    /// continue the log: a wrong position, version or a repeated id.
    pub(crate) fn push(&mut self, r: &crate::record::RecordHeader<'_>) -> Result<(), Error> {
        let position = self.size;
        let bad = |what: String| Error::Integrity { position, what };
        if r.position != position {
            return Err(bad(format!("the record says position {}", r.position)));
        }
        let stream = StreamId::parse(&r.stream)
            .ok_or_else(|| bad(format!("`{}` is not a stream id", r.stream)))?;
        let versions = self.streams.entry(stream).or_default();
        if r.version != versions.len() as u64 {
            return Err(bad(format!(
                "stream {} version {} where {} was expected",
                r.stream,
                r.version,
                versions.len()
            )));
        }
        versions.push(position);
        if self.ids.insert(r.event_id, position).is_some() {
            return Err(bad(format!("event id {} appears twice", r.event_id)));
        }
        if let Some(target) = r.retracts {
            self.retracted.insert(target, position);
        }
        if let Some((commitment, made_on)) = r.made {
            self.made_on.insert(commitment, made_on);
        }
        self.size += 1;
        Ok(())
    }
}

pub(crate) fn tile_key(level: u8, tile: u64) -> [u8; 10] {
    let mut k = [TAG_HASH; 10];
    k[1] = level;
    k[2..].copy_from_slice(&tile.to_be_bytes());
    k
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Opens a sled database whose directory this process is entitled to (it holds the ledger's
/// lock). sled's own lock can still be held for a moment by the background threads of a handle
/// this process just dropped, so a busy lock is retried briefly (up to 5 s) before giving up.
pub fn open_sled(config: &sled::Config) -> Result<sled::Db, Error> {
    const LOCK_RETRY_MS: u64 = 20;
    const LOCK_WAIT_MAX_MS: u64 = 5_000;
    let mut waited_ms = 0;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && waited_ms < LOCK_WAIT_MAX_MS =>
            {
                std::thread::sleep(std::time::Duration::from_millis(LOCK_RETRY_MS));
                waited_ms += LOCK_RETRY_MS;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The sled side of a ledger: one `Db`, one `log` tree, the in-memory index, typed reads.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) db: sled::Db,
    pub(crate) log: sled::Tree,
    pub(crate) index: Arc<RwLock<Index>>,
}

/// sled's page cache, in bytes. sled's default is 1 GiB; a ledger should not need more than
/// this to stay fast, and the bound keeps memory predictable (SPEC §9).
pub const CACHE_BYTES_DEFAULT: u64 = 128 * 1024 * 1024;

impl Store {
    /// Opens the database. The caller holds the ledger's lock file, so no other process has it.
    pub(crate) fn open(dir: &Path, cache_bytes: u64) -> Result<Store, Error> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            // Durability comes from the explicit flush of each group commit, not a timer.
            .flush_every_ms(None);
        let db = open_sled(&config)?;
        let log = db.open_tree("log")?;
        Ok(Store {
            db,
            log,
            index: Arc::new(RwLock::new(Index::default())),
        })
    }

    pub(crate) fn init_format(&self) -> Result<(), Error> {
        self.log
            .insert(META_FORMAT, &LAYOUT_VERSION.to_be_bytes())?;
        self.log.insert(META_HEAD, &Head::empty().encode()[..])?;
        self.db.flush()?;
        Ok(())
    }

    pub(crate) fn check_format(&self) -> Result<(), Error> {
        match self.log.get(META_FORMAT)? {
            Some(v) if v.as_ref() == LAYOUT_VERSION.to_be_bytes() => Ok(()),
            Some(v) => Err(Error::Integrity {
                position: 0,
                what: format!("unknown storage layout version {:?}", v.as_ref()),
            }),
            None => Err(Error::Integrity {
                position: 0,
                what: "the ledger's format marker is missing (not an ikrar ledger, or damaged)"
                    .into(),
            }),
        }
    }

    pub(crate) fn head(&self) -> Result<Head, Error> {
        let raw = self.log.get(META_HEAD)?.ok_or_else(|| Error::Integrity {
            position: 0,
            what: "the ledger's head is missing".into(),
        })?;
        Head::decode(&raw).ok_or_else(|| Error::Integrity {
            position: 0,
            what: "the ledger's head is malformed".into(),
        })
    }

    pub(crate) fn put_head(batch: &mut sled::Batch, head: &Head) {
        batch.insert(META_HEAD, &head.encode()[..]);
    }

    /// The bundle holding `position`, with its first position.
    pub(crate) fn bundle_at(&self, position: u64) -> Result<Option<(u64, sled::IVec)>, Error> {
        let Some(kv) = self
            .log
            .range(bundle_key(0)..=bundle_key(position))
            .next_back()
        else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let first = decode_u64(&k[1..]).ok_or_else(|| Error::Integrity {
            position,
            what: "malformed bundle key".into(),
        })?;
        Ok(Some((first, v)))
    }

    /// The stored bytes of the record at `position`.
    pub(crate) fn record_bytes(&self, position: u64) -> Result<Option<Vec<u8>>, Error> {
        let Some((first, bundle)) = self.bundle_at(position)? else {
            return Ok(None);
        };
        let record = bundle_records(&bundle)
            .nth((position - first) as usize)
            .map(<[u8]>::to_vec);
        Ok(record)
    }

    /// Bundles from the one holding `position` on, with their first positions.
    pub(crate) fn bundles_from(
        &self,
        position: u64,
    ) -> Result<impl Iterator<Item = Result<(u64, sled::IVec), Error>> + '_, Error> {
        let start = match self.bundle_at(position)? {
            Some((first, _)) => first,
            None => 0,
        };
        Ok(self
            .log
            .range(bundle_key(start)..)
            .take_while(|kv| {
                kv.as_ref()
                    .map_or(true, |(k, _)| k.first() == Some(&TAG_BUNDLE))
            })
            .map(|kv| {
                let (k, v) = kv?;
                let first = decode_u64(&k[1..]).ok_or_else(|| Error::Integrity {
                    position: 0,
                    what: "malformed bundle key".into(),
                })?;
                Ok((first, v))
            }))
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // The index is only written whole, record by record, by the writer; a panic there
        // poisons the lock but leaves a consistent prefix.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The last version and its position, if the stream exists.
    pub(crate) fn stream_head(&self, stream: &StreamId) -> Result<Option<(u64, u64)>, Error> {
        Ok(self
            .read_index()
            .streams
            .get(stream)
            .and_then(|v| v.last().map(|p| (v.len() as u64 - 1, *p))))
    }

    /// The positions of a stream's events, in version order.
    pub(crate) fn stream_positions(&self, stream: &StreamId) -> Result<Vec<u64>, Error> {
        Ok(self
            .read_index()
            .streams
            .get(stream)
            .cloned()
            .unwrap_or_default())
    }

    /// The position of an event.
    pub(crate) fn event_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        Ok(self.read_index().ids.get(&id).copied())
    }

    /// The position of the retraction of an event.
    pub(crate) fn retraction_position(&self, id: Uuid) -> Result<Option<u64>, Error> {
        Ok(self.read_index().retracted.get(&id).copied())
    }

    /// `made_on` of a commitment.
    pub(crate) fn made_on(&self, commitment: Uuid) -> Option<NaiveDate> {
        self.read_index().made_on.get(&commitment).copied()
    }

    /// Builds the index by scanning every bundle up to `tree_size` (at open).
    pub(crate) fn build_index(&self, tree_size: u64) -> Result<Index, Error> {
        let mut index = Index::default();
        for bundle in self.bundles_from(0)? {
            let (first, bytes) = bundle?;
            if first != index.size {
                return Err(Error::Integrity {
                    position: index.size,
                    what: "records are missing (the log has a gap)".into(),
                });
            }
            for record in bundle_records(&bytes) {
                if index.size >= tree_size {
                    return Err(Error::Integrity {
                        position: index.size,
                        what: format!("a record lies beyond the head (tree size {tree_size})"),
                    });
                }
                let header =
                    crate::record::RecordHeader::decode(record).map_err(|e| Error::Integrity {
                        position: index.size,
                        what: format!("the record does not decode: {e}"),
                    })?;
                index.push(&header)?;
            }
        }
        if index.size != tree_size {
            return Err(Error::Integrity {
                position: index.size,
                what: format!(
                    "the log ends at {} records but its head says {tree_size}: records are missing",
                    index.size
                ),
            });
        }
        Ok(index)
    }

    pub(crate) fn tile(&self, level: u8, tile: u64) -> Result<Option<sled::IVec>, Error> {
        Ok(self.log.get(tile_key(level, tile))?)
    }

    /// Every stored checkpoint note, by tree size (then key name).
    pub(crate) fn checkpoint_notes(&self) -> Result<Vec<(u64, String)>, Error> {
        let mut out = Vec::new();
        for kv in self.log.scan_prefix([TAG_CHECKPOINT]) {
            let (k, v) = kv?;
            let size = k
                .get(1..9)
                .and_then(decode_u64)
                .ok_or_else(|| Error::Integrity {
                    position: 0,
                    what: "malformed checkpoint key".into(),
                })?;
            let note = String::from_utf8(v.to_vec()).map_err(|_| Error::Integrity {
                position: size,
                what: "a stored checkpoint is not UTF-8".into(),
            })?;
            out.push((size, note));
        }
        Ok(out)
    }

    pub(crate) fn put_checkpoint(
        &self,
        size: u64,
        name: &str,
        note: &str,
        verifier: &str,
    ) -> Result<(), Error> {
        let mut key = vec![TAG_CHECKPOINT];
        key.extend_from_slice(&size.to_be_bytes());
        key.extend_from_slice(name.as_bytes());
        let mut vkey = vec![TAG_VERIFIER_KEY];
        vkey.extend_from_slice(name.as_bytes());
        let mut batch = sled::Batch::default();
        batch.insert(key, note.as_bytes());
        batch.insert(vkey, verifier.as_bytes());
        self.log.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// The verifier key stored for a key name.
    pub(crate) fn verifier_key(&self, name: &str) -> Result<Option<String>, Error> {
        let mut key = vec![TAG_VERIFIER_KEY];
        key.extend_from_slice(name.as_bytes());
        Ok(self
            .log
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// One stored hash, `(level, index)`.
    pub(crate) fn hash(&self, level: u8, index: u64) -> Result<Option<Hash>, Error> {
        let Some(tile) = self.tile(level, index / TILE_WIDTH)? else {
            return Ok(None);
        };
        let at = (index % TILE_WIDTH) as usize * HASH_BYTES;
        Ok(tile
            .get(at..at + HASH_BYTES)
            .map(|b| Hash(b.try_into().expect("slice of 32"))))
    }
}
