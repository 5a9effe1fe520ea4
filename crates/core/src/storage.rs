//! The layout of a ledger on sled. Everything that knows a key format lives here.
//!
//! All of the log lives in one sled tree, `log`, so that one group commit is one
//! `Tree::apply_batch` — atomic on its own, and cheaper than a multi-tree transaction. Keys start
//! with a one-byte tag:
//!
//! | tag | key | value |
//! |---|---|---|
//! | `e` | position (u64 BE) | record bytes (SPEC §2.3) |
//! | `s` | stream id ‖ `0x00` ‖ version (u64 BE) | position (u64 BE) |
//! | `i` | event id (16 bytes) | position (u64 BE) |
//! | `r` | retracted event id (16 bytes) | position of the retraction (u64 BE) |
//! | `h` | level (u8) ‖ tile index (u64 BE) | up to 256 hashes of that level, 32 bytes each |
//! | `c` | tree size (u64 BE) ‖ key name | signed checkpoint note |
//! | `k` | key name | verifier key (text form) of the checkpoints signed with that name |
//! | `m` | `head` | tree size (u64 BE) ‖ root (32) ‖ last recorded_at (i64 µs BE) |
//! | `m` | `format` | layout version (u32 BE) |
//!
//! Hash tiles follow C2SP tlog-tiles in spirit: the stored hashes of one level, 256 to a value,
//! so the tree costs about one key write per 128 events instead of two per event.

use std::path::Path;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::event::StreamId;
use crate::merkle::{Hash, HASH_BYTES};

/// Hashes per tile.
pub const TILE_WIDTH: u64 = 256;
/// The layout version written to `m/format`.
pub const LAYOUT_VERSION: u32 = 1;

pub(crate) const TAG_EVENT: u8 = b'e';
pub(crate) const TAG_STREAM: u8 = b's';
pub(crate) const TAG_ID: u8 = b'i';
pub(crate) const TAG_RETRACTED: u8 = b'r';
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

pub(crate) fn event_key(position: u64) -> [u8; 9] {
    let mut k = [TAG_EVENT; 9];
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

pub(crate) fn stream_prefix(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 10);
    k.push(TAG_STREAM);
    k.extend_from_slice(stream.as_str().as_bytes());
    k.push(0);
    k
}

pub(crate) fn stream_key(stream: &StreamId, version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 10);
    write_stream_key(&mut k, stream.as_str(), version);
    k
}

/// Writes the stream index key of `(stream, version)` into `buf` (cleared first), so that a
/// scan can reuse one buffer.
pub(crate) fn write_stream_key(buf: &mut Vec<u8>, stream: &str, version: u64) {
    buf.clear();
    buf.push(TAG_STREAM);
    buf.extend_from_slice(stream.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&version.to_be_bytes());
}

pub(crate) fn id_key(tag: u8, id: Uuid) -> [u8; 17] {
    let mut k = [tag; 17];
    k[1..].copy_from_slice(id.as_bytes());
    k
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

/// The sled side of a ledger: one `Db`, one `log` tree, typed reads.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) db: sled::Db,
    pub(crate) log: sled::Tree,
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
        Ok(Store { db, log })
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

    pub(crate) fn record_bytes(&self, position: u64) -> Result<Option<sled::IVec>, Error> {
        Ok(self.log.get(event_key(position))?)
    }

    /// The last version and its position, if the stream exists.
    pub(crate) fn stream_head(&self, stream: &StreamId) -> Result<Option<(u64, u64)>, Error> {
        let prefix = stream_prefix(stream);
        match self.log.scan_prefix(&prefix).next_back() {
            None => Ok(None),
            Some(kv) => {
                let (k, v) = kv?;
                let version = decode_u64(&k[prefix.len()..]);
                let position = decode_u64(&v);
                match (version, position) {
                    (Some(ver), Some(pos)) => Ok(Some((ver, pos))),
                    _ => Err(Error::Integrity {
                        position: position.unwrap_or(0),
                        what: format!("malformed index entry for stream {stream}"),
                    }),
                }
            }
        }
    }

    /// The position of one version of a stream.
    pub(crate) fn stream_position(
        &self,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<u64>, Error> {
        match self.log.get(stream_key(stream, version))? {
            None => Ok(None),
            Some(v) => decode_u64(&v).map(Some).ok_or_else(|| Error::Integrity {
                position: 0,
                what: format!("malformed index entry for stream {stream}"),
            }),
        }
    }

    /// The positions of a stream's events, in version order.
    pub(crate) fn stream_positions(&self, stream: &StreamId) -> Result<Vec<u64>, Error> {
        let prefix = stream_prefix(stream);
        self.log
            .scan_prefix(&prefix)
            .map(|kv| {
                let (_, v) = kv?;
                decode_u64(&v).ok_or_else(|| Error::Integrity {
                    position: 0,
                    what: format!("malformed index entry for stream {stream}"),
                })
            })
            .collect()
    }

    pub(crate) fn id_position(&self, tag: u8, id: Uuid) -> Result<Option<u64>, Error> {
        match self.log.get(id_key(tag, id))? {
            None => Ok(None),
            Some(v) => decode_u64(&v).map(Some).ok_or_else(|| Error::Integrity {
                position: 0,
                what: format!("malformed index entry for event {id}"),
            }),
        }
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
