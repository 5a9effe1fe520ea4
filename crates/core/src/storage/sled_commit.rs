//! The group commit of a sled ledger: one batch, a bounded flush, then the head file.

use crate::error::Error;
use crate::storage::on_sled::{
    bundle_key, tile_key, SledBackend, BUNDLE_RECORDS_MAX, FLUSH_WAIT_MAX_MS, META_HEAD,
};
use crate::storage::sled_files::check_free_space;
use crate::storage::{CommitBatch, CommitLock, Head, TILE_WIDTH};

pub(super) struct SledCommit<'a> {
    pub(super) backend: &'a SledBackend,
    pub(super) head: Head,
}

/// A group of at least this many records is flushed on another thread while the writer
/// teaches the index its records (about 0.7 ms per 1,000, otherwise spent after the flush).
/// A smaller group's index work is too small to be worth a thread.
const FLUSH_ON_ANOTHER_THREAD_RECORDS_MIN: usize = 256;

use std::sync::atomic::Ordering::SeqCst;

impl CommitLock for SledCommit<'_> {
    fn head(&self) -> Head {
        self.head
    }

    fn commit(
        self: Box<Self>,
        batch: CommitBatch<'_>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<(), Error> {
        // Invariants, right before writing: the batch continues the log at the locked head
        // (so no stored record is overwritten), and its head counts exactly its records.
        debug_assert!(batch
            .records
            .iter()
            .enumerate()
            .all(|(i, r)| r.position == self.head.tree_size + i as u64));
        debug_assert_eq!(
            batch.head.tree_size,
            self.head.tree_size + batch.records.len() as u64
        );
        // Before anything is written: a commit the disk has no room for is refused whole,
        // and the ledger stays writable.
        let batch_bytes = batch
            .records
            .iter()
            .map(|r| r.bytes.len() as u64)
            .sum::<u64>()
            + batch.tiles.iter().map(|t| t.2.len() as u64).sum::<u64>();
        check_free_space(&self.backend.dir, batch_bytes)?;
        let overlap = batch.records.len() >= FLUSH_ON_ANOTHER_THREAD_RECORDS_MIN;
        let mut sled_batch = sled::Batch::default();
        // Records go into new bundles of up to BUNDLE_RECORDS_MAX; a bundle is never
        // rewritten, so the head is always a bundle boundary.
        for chunk in batch.records.chunks(BUNDLE_RECORDS_MAX) {
            let mut value = Vec::with_capacity(chunk.iter().map(|r| r.bytes.len() + 1).sum());
            for (i, record) in chunk.iter().enumerate() {
                if i > 0 {
                    value.push(b'\n');
                }
                value.extend_from_slice(record.bytes);
            }
            sled_batch.insert(&bundle_key(chunk[0].position)[..], value);
        }
        for (level, tile, hashes) in batch.tiles {
            debug_assert!(hashes.len() as u64 <= TILE_WIDTH * 32);
            sled_batch.insert(&tile_key(level, tile)[..], hashes);
        }
        sled_batch.insert(META_HEAD, &batch.head.encode()[..]);
        if let Err(e) = self.backend.log.apply_batch(sled_batch) {
            self.backend.write_failed.store(true, SeqCst);
            return Err(e.into());
        }
        #[cfg(any(test, feature = "testing"))]
        if self
            .backend
            .failing_commits
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::Io(std::io::Error::other(
                "an injected flush failure",
            )));
        }
        // The flush runs on a thread of its own and is waited for a bounded time: on a full
        // disk sled's flush can wait for a write that never completes, and an append must
        // fail, not hang. A flush given up on may still land later: its records are then
        // beyond the head, never acknowledged, and the next open removes them.
        let db = self.backend.db.clone();
        let (flushed_tx, flushed_rx) = std::sync::mpsc::channel();
        let flusher = std::thread::Builder::new()
            .name("ikrar-flush".into())
            .spawn(move || {
                let _ = flushed_tx.send(db.flush());
            });
        if overlap {
            meanwhile();
        }
        let flushed = match flusher {
            Ok(_) => {
                match flushed_rx.recv_timeout(std::time::Duration::from_millis(FLUSH_WAIT_MAX_MS)) {
                    Ok(result) => result.map(|_| ()).map_err(Error::from),
                    Err(_) => Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "sled's flush did not complete within {} s (is the disk full?)",
                            FLUSH_WAIT_MAX_MS / 1000
                        ),
                    ))),
                }
            }
            Err(_) => self.backend.db.flush().map(|_| ()).map_err(Error::from),
        };
        if let Err(e) = flushed {
            self.backend.write_failed.store(true, SeqCst);
            return Err(e);
        }
        if !overlap {
            meanwhile();
        }
        // Only after the flush: the head file may lag the log, never run ahead of it. The
        // batch is durable by now, so a failure here must not tell the appenders theirs
        // failed: a head file that lags is what a power cut leaves too, accepted at open; the
        // next commit writes it again.
        if let Err(e) = self.backend.head_file.write(&batch.head) {
            tracing::warn!(
                error = %e,
                tree_size = batch.head.tree_size,
                "the head file was not updated after a durable commit; it lags the log until \
                 the next commit"
            );
        }
        Ok(())
    }
}
