//! The group commit on PostgreSQL: a transaction that begins with the head row's lock and ends
//! with the records, tiles and new head written together, or with nothing written.

use deadpool_postgres::Object;

use crate::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::storage::on_postgres::{
    bounded_step, head_of, to_i64, wait, waited_too_long, PostgresBackend, SELECT_HEAD,
};

/// What a timeout on `COMMIT` itself says: the server may have committed.
const COMMIT_UNANSWERED: &str = "COMMIT, whose outcome is therefore unknown — the group may \
                                 have been recorded (send it again with its event ids to find \
                                 out)";
use crate::storage::{CommitBatch, CommitLock, Head};

/// Begins a transaction holding the head row's lock: the group commit's write lock.
pub(super) fn lock(backend: &PostgresBackend) -> Result<Box<dyn CommitLock + '_>, Error> {
    let (client, head) = backend.run_in_transaction(|pool| async move {
        let client = pool.get().await?;
        // BEGIN and the locking read are pipelined: one round trip. The read waits for any
        // other writer's transaction, then sees its commit — within the bound on waits.
        let (client, head) = bounded_step(
            client,
            "the commit's lock (BEGIN, the head FOR UPDATE)",
            async |client| {
                let select = format!("{SELECT_HEAD} FOR UPDATE");
                let (begun, row) = futures::join!(
                    client.batch_execute("BEGIN"),
                    client.query_one(&select, &[])
                );
                match begun.and(row) {
                    Ok(row) => head_of(&row),
                    Err(e) => {
                        let _ = client.batch_execute("ROLLBACK").await;
                        Err(e.into())
                    }
                }
            },
        )
        .await;
        let head = head?;
        Ok((
            client.expect("a connection is kept when its step succeeds"),
            head,
        ))
    })?;
    Ok(Box::new(PostgresCommit {
        backend,
        client: Some(client),
        head,
    }))
}

/// An open transaction holding the head row's lock.
struct PostgresCommit<'a> {
    backend: &'a PostgresBackend,
    client: Option<Object>,
    head: Head,
}

impl Drop for PostgresCommit<'_> {
    fn drop(&mut self) {
        // Not committed: roll back before the connection goes back to the pool.
        if let Some(client) = self.client.take() {
            let _ = self.backend.run_in_transaction(|_| async move {
                bounded_step(client, "ROLLBACK", async |client| {
                    Ok(client.batch_execute("ROLLBACK").await?)
                })
                .await
                .1
            });
        }
    }
}

impl CommitLock for PostgresCommit<'_> {
    fn head(&self) -> Head {
        self.head
    }

    fn commit(
        mut self: Box<Self>,
        batch: CommitBatch<'_>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<(), Error> {
        // Invariants, right before writing: the batch continues the log at the locked head
        // (the primary key refuses an overwrite anyway), and its head counts exactly its records.
        debug_assert!(batch
            .records
            .iter()
            .enumerate()
            .all(|(i, r)| r.position == self.head.tree_size + i as u64));
        debug_assert_eq!(
            batch.head.tree_size,
            self.head.tree_size + batch.records.len() as u64
        );
        let client = self.client.take().expect("a commit lock commits once");
        let positions: Vec<i64> = batch.records.iter().map(|r| to_i64(r.position)).collect();
        let streams: Vec<String> = batch.records.iter().map(|r| r.stream.to_string()).collect();
        let versions: Vec<i64> = batch.records.iter().map(|r| to_i64(r.version)).collect();
        let ids: Vec<uuid::Uuid> = batch.records.iter().map(|r| r.event_id).collect();
        let records: Vec<Vec<u8>> = batch.records.iter().map(|r| r.bytes.to_vec()).collect();
        let levels: Vec<i16> = batch.tiles.iter().map(|t| i16::from(t.0)).collect();
        let tiles: Vec<i64> = batch.tiles.iter().map(|t| to_i64(t.1)).collect();
        let hashes: Vec<Vec<u8>> = batch.tiles.into_iter().map(|t| t.2).collect();
        let head = batch.head;
        self.backend.run_in_transaction(move |_| async move {
            // Whether a timeout leaves the outcome unknown: only once COMMIT has been sent.
            let commit_sent = AtomicBool::new(false);
            let head_size = to_i64(head.tree_size);
            let head_root = head.root.0.to_vec();
            let head_micros = head.last_recorded_at.timestamp_micros();
            type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
            let record_params: [Param<'_>; 5] = [&positions, &streams, &versions, &ids, &records];
            let tile_params: [Param<'_>; 3] = [&levels, &tiles, &hashes];
            let head_params: [Param<'_>; 3] = [&head_size, &head_root, &head_micros];
            let (client, result) = bounded_step(
                client,
                "the group commit's writes (nothing was committed)",
                async |client| {
                    // The four statements are pipelined (sent together, one round trip), then
                    // COMMIT. Any failure aborts the transaction, and the others with it.
                    let (inserted, upserted, moved, notified) = futures::join!(
                    client.execute(
                        "INSERT INTO ikrar_records (position, stream, version, event_id, record) \
                         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], \
                         $4::uuid[], $5::bytea[])",
                        &record_params,
                    ),
                    client.execute(
                        "INSERT INTO ikrar_tiles (level, tile, hashes) \
                         SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) \
                         ON CONFLICT (level, tile) DO UPDATE SET hashes = EXCLUDED.hashes",
                        &tile_params,
                    ),
                    client.execute(
                        "UPDATE ikrar_head SET tree_size = $1, root = $2, last_recorded_at_us = $3",
                        &head_params,
                    ),
                    // Delivered at COMMIT, to the followers of this schema's ledger.
                    client.execute("SELECT pg_notify('ikrar_head', current_schema())", &[]),
                );
                    inserted?;
                    upserted?;
                    if moved? != 1 {
                        return Err(Error::Integrity {
                            position: head.tree_size,
                            what: "the ledger's head row is missing".into(),
                        });
                    }
                    notified?;
                    // An error before COMMIT means nothing was written; one from COMMIT itself
                    // (the connection lost, the backend killed while it waited for a synchronous
                    // standby) leaves the outcome unknown: the server may have committed. Sending
                    // the append again with its event ids is safe either way — a recorded id
                    // answers its position — and says which.
                    commit_sent.store(true, Ordering::SeqCst);
                    client.batch_execute("COMMIT").await.map_err(|e| {
                        Error::storage_from(
                            "the outcome of COMMIT is unknown, the group may have been recorded \
                         (send it again with its event ids to find out)",
                            e,
                        )
                    })?;
                    Ok::<(), Error>(())
                },
            )
            .await;
            if client.is_none() && commit_sent.load(Ordering::SeqCst) {
                return Err(waited_too_long(COMMIT_UNANSWERED));
            }
            // A step that failed with an answer (a constraint, a lost connection) leaves the
            // transaction aborted on a connection still ours: roll it back before the pool
            // takes it again.
            if let (Some(client), Err(_)) = (&client, &result) {
                let _ = tokio::time::timeout(wait(), client.batch_execute("ROLLBACK")).await;
            }
            result
        })?;
        // Nothing to overlap: COMMIT is one round trip, awaited above.
        meanwhile();
        Ok(())
    }
}
