//! The PostgreSQL backend: the same ledger in a database several processes (on several
//! machines) write at once.
//!
//! Tables (in the connection's `search_path` schema, so one database can hold several ledgers):
//!
//! | table | rows |
//! |---|---|
//! | `ikrar_schema_migrations` | one per applied migration (`version`, `applied_at`) |
//! | `ikrar_head` | exactly one: `tree_size`, `root`, `last_recorded_at_us` |
//! | `ikrar_records` | one per event: `position` (primary key), `stream`, `version`, `event_id`, `record` (`bytea`, the bytes hashed) |
//! | `ikrar_tiles` | one per hash tile: `level`, `tile`, `hashes` (up to 256 × 32 bytes) |
//! | `ikrar_checkpoints`, `ikrar_verifier_keys` | signed checkpoint notes and their signers' keys |
//!
//! **Appends are serialised by the database**, not the process: a group commit begins with
//! `SELECT … FROM ikrar_head FOR UPDATE`, so a second writer (thread, process or machine) waits
//! for the first to commit and then sees its head. Under that lock the writer catches its index
//! up with records other processes committed, validates, and writes records, tiles and the new
//! head in the one transaction, which `COMMIT` makes durable (`synchronous_commit` on, the
//! default). The constraints are a second line: `position` is the primary key, `(stream,
//! version)` and `event_id` are unique, so even a faulty writer cannot record a gap-free lie
//! about versions or reuse an id.
//!
//! **Other processes' commits** reach this one through `LISTEN ikrar_head` (each commit sends a
//! `NOTIFY` carrying its schema): a follower thread then reads the head, extends the index and
//! publishes the head to subscribers. It also polls once a second, so a lost notification (or
//! a dropped listening connection) delays a subscriber, never loses a record.
//!
//! The client is tokio-postgres with a deadpool pool, running on a small runtime of the
//! backend's own: the `Backend` trait is synchronous (sled is), so each call runs its query on
//! that runtime and waits for the answer, from any thread, inside an async context or not.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use crate::error::Error;
use crate::merkle::Hash;
use crate::storage::{
    Backend, Bytes, Chunk, ChunkRecords, Chunks, CommitBatch, CommitLock, Head, Store,
};

/// The schema version this build writes; migrations up to it are applied on open.
pub const SCHEMA_VERSION: i32 = 1;

/// Connections in the pool at most. Readers share it; the writer holds one per group commit.
const POOL_CONNECTIONS_MAX: usize = 16;
/// Records read per query when scanning.
const PAGE_RECORDS: i64 = 4096;
/// How often the follower looks at the head even without a notification.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// Serialises schema changes between processes opening the same database at once.
const MIGRATION_LOCK_KEY: i64 = 0x0069_6b72_6172; // "ikrar" in ASCII

/// The migrations, in order; migration `n` takes the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE ikrar_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        tree_size bigint NOT NULL CHECK (tree_size >= 0),
        root bytea NOT NULL CHECK (length(root) = 32),
        last_recorded_at_us bigint NOT NULL
    );
    CREATE TABLE ikrar_records (
        position bigint PRIMARY KEY CHECK (position >= 0),
        stream text NOT NULL,
        version bigint NOT NULL CHECK (version >= 0),
        event_id uuid NOT NULL UNIQUE,
        record bytea NOT NULL,
        UNIQUE (stream, version)
    );
    CREATE TABLE ikrar_tiles (
        level smallint NOT NULL,
        tile bigint NOT NULL,
        hashes bytea NOT NULL,
        PRIMARY KEY (level, tile)
    );
    CREATE TABLE ikrar_checkpoints (
        tree_size bigint NOT NULL,
        key_name text NOT NULL,
        note text NOT NULL,
        PRIMARY KEY (tree_size, key_name)
    );
    CREATE TABLE ikrar_verifier_keys (
        key_name text PRIMARY KEY,
        verifier text NOT NULL
    );
"];

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                Error::Storage(format!("PostgreSQL {}: {}", db.code().code(), db.message()))
            }
            None => {
                let source = std::error::Error::source(&e)
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default();
                Error::Storage(format!("PostgreSQL: {e}{source}"))
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Error::Storage(format!("PostgreSQL connection pool: {other}")),
        }
    }
}

fn integrity(position: u64, what: impl Into<String>) -> Error {
    Error::Integrity {
        position,
        what: what.into(),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).expect("positions and sizes stay below 2^63")
}

fn to_u64(n: i64, position: u64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| integrity(position, format!("a stored number is negative ({n})")))
}

/// A ledger in a PostgreSQL database (see the module notes).
pub(crate) struct PostgresBackend {
    /// Kept to shut the runtime down without blocking when the backend is dropped, which may
    /// happen inside another runtime.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    config: tokio_postgres::Config,
    url: String,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresBackend {
    fn connect(url: &str) -> Result<PostgresBackend, Error> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::Storage(format!("`{}` is not a PostgreSQL URL: {e}", redact(url)))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ikrar-postgres")
            .enable_all()
            .build()?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_CONNECTIONS_MAX)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Storage(format!("PostgreSQL connection pool: {e}")))?;
        let backend = PostgresBackend {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            config,
            url: url.to_string(),
        };
        // Fail here, with the server's words, rather than at the first read.
        backend.run(|pool| async move {
            drop(pool.get().await?);
            Ok(())
        })?;
        Ok(backend)
    }

    /// Runs `work` with the pool on the backend's runtime and waits for its answer.
    fn run<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        // A plain channel, not `block_on(JoinHandle)`: the caller may itself be a tokio worker,
        // whose cooperative budget would then starve a nested poll of the join handle.
        let (answer_tx, answer_rx) = std::sync::mpsc::sync_channel(1);
        let future = work(self.pool.clone());
        self.handle.spawn(async move {
            let _ = answer_tx.send(future.await);
        });
        answer_rx.recv().map_err(|_| {
            Error::Storage("a PostgreSQL task ended without an answer (the runtime stopped)".into())
        })?
    }

    /// The first column of the row `sql` answers with `params`, if there is a row.
    fn query_value<T>(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Sync + Send>>,
    ) -> Result<Option<T>, Error>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a> + Send + 'static,
    {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let row = client.query_opt(sql, &params).await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn location(&self) -> PathBuf {
        PathBuf::from(redact(&self.url))
    }

    /// Whether the database (schema) at `url` holds a ledger.
    pub(crate) fn exists(url: &str) -> Result<bool, Error> {
        Self::connect(url)?.has_ledger()
    }

    fn has_ledger(&self) -> Result<bool, Error> {
        Ok(self.query_value(HAS_LEDGER, vec![])?.unwrap_or(false))
    }

    /// Creates the tables of an empty ledger. Refuses a schema that already holds one.
    pub(crate) fn create(url: &str) -> Result<PostgresBackend, Error> {
        let backend = Self::connect(url)?;
        let location = backend.location();
        backend.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let exists = lock_schema(&tx).await?;
            if exists {
                return Err(Error::AlreadyExists { path: location });
            }
            tx.batch_execute(
                "CREATE TABLE ikrar_schema_migrations (
                     version integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await?;
            migrate(&tx, 0).await?;
            let empty = Head::empty();
            tx.execute(
                "INSERT INTO ikrar_head (tree_size, root, last_recorded_at_us) VALUES ($1, $2, $3)",
                &[
                    &0i64,
                    &&empty.root.0[..],
                    &empty.last_recorded_at.timestamp_micros(),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })?;
        Ok(backend)
    }

    /// Opens the ledger at `url`, applying any migrations it lacks.
    pub(crate) fn open(url: &str) -> Result<PostgresBackend, Error> {
        let backend = Self::connect(url)?;
        let location = backend.location();
        backend.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let exists = lock_schema(&tx).await?;
            if !exists {
                return Err(Error::NoLedger { path: location });
            }
            let version: i32 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM ikrar_schema_migrations",
                    &[],
                )
                .await?
                .get(0);
            if version > SCHEMA_VERSION {
                return Err(Error::Storage(format!(
                    "the ledger's schema is version {version}; this build knows up to \
                     {SCHEMA_VERSION}: upgrade ikrar"
                )));
            }
            migrate(&tx, version).await?;
            tx.commit().await?;
            Ok(())
        })?;
        Ok(backend)
    }

    /// Starts following commits other processes make: on each (and once a second), reads the
    /// head, extends `store`'s index to it, and calls `on_head`. Returns the function that stops
    /// following.
    pub(crate) fn follow(
        &self,
        store: Store,
        on_head: impl Fn(Head) + Send + 'static,
    ) -> Result<Box<dyn FnOnce() + Send + Sync>, Error> {
        let stopped = Arc::new(AtomicBool::new(false));
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let config = self.config.clone();
        let listener = self.handle.spawn(listen(config, wake_tx));
        let thread_stopped = stopped.clone();
        std::thread::Builder::new()
            .name("ikrar-follower".into())
            .spawn(move || {
                while !thread_stopped.load(Ordering::Relaxed) {
                    match wake_rx.recv_timeout(FOLLOW_POLL) {
                        Ok(()) => while wake_rx.try_recv().is_ok() {},
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        // The listening connection ended: keep polling.
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            std::thread::sleep(FOLLOW_POLL)
                        }
                    }
                    if thread_stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    // A failed read is retried at the next wake-up; the writer's own lock
                    // catches the index up before any append regardless.
                    if let Ok(head) = store.head() {
                        if store.catch_up_index(head.tree_size).is_ok() {
                            on_head(head);
                        }
                    }
                }
            })?;
        Ok(Box::new(move || {
            stopped.store(true, Ordering::Relaxed);
            listener.abort();
        }))
    }
}

/// Listens for `ikrar_head` notifications of this connection's schema and wakes the follower.
async fn listen(config: tokio_postgres::Config, wake: std::sync::mpsc::Sender<()>) {
    use futures::StreamExt;
    let Ok((client, mut connection)) = config.connect(NoTls).await else {
        return;
    };
    let (messages_tx, mut messages_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if messages_tx.send(message).is_err() {
                break;
            }
        }
    });
    let Ok(row) = client.query_one("SELECT current_schema()", &[]).await else {
        return;
    };
    let schema: String = row.get(0);
    if client.batch_execute("LISTEN ikrar_head").await.is_err() {
        return;
    }
    while let Some(message) = messages_rx.recv().await {
        if let tokio_postgres::AsyncMessage::Notification(n) = message {
            if n.payload() == schema && wake.send(()).is_err() {
                return;
            }
        }
    }
}

/// Takes the schema lock for the rest of `tx` (two processes creating or migrating one ledger
/// at once take turns) and answers whether the schema holds a ledger.
async fn lock_schema(tx: &deadpool_postgres::Transaction<'_>) -> Result<bool, Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    Ok(tx.query_one(HAS_LEDGER, &[]).await?.get(0))
}

/// Whether the connection's schema holds a ledger.
const HAS_LEDGER: &str = "SELECT to_regclass('ikrar_schema_migrations') IS NOT NULL";

async fn migrate(tx: &deadpool_postgres::Transaction<'_>, from_version: i32) -> Result<(), Error> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from_version as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO ikrar_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    Ok(())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    crate::ledger::Location::Postgres(url.to_string()).display()
}

fn head_of(row: &tokio_postgres::Row) -> Result<Head, Error> {
    let tree_size = to_u64(row.get::<_, i64>(0), 0)?;
    let root: &[u8] = row.get(1);
    let micros: i64 = row.get(2);
    Ok(Head {
        tree_size,
        root: Hash(
            root.try_into()
                .map_err(|_| integrity(tree_size, "the stored root is not 32 bytes"))?,
        ),
        last_recorded_at: DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| integrity(tree_size, "the stored last recorded_at is out of range"))?,
    })
}

const SELECT_HEAD: &str = "SELECT tree_size, root, last_recorded_at_us FROM ikrar_head";

/// Pages of records from a position on, split into runs of consecutive positions.
struct Pages<'a> {
    backend: &'a PostgresBackend,
    next: u64,
    ready: VecDeque<Chunk>,
    done: bool,
}

impl Pages<'_> {
    fn fetch(&mut self) -> Result<(), Error> {
        let from = to_i64(self.next);
        let rows: Vec<(i64, Vec<u8>)> = self.backend.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT position, record FROM ikrar_records WHERE position >= $1 \
                     ORDER BY position LIMIT $2",
                    &[&from, &PAGE_RECORDS],
                )
                .await?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        if (rows.len() as i64) < PAGE_RECORDS {
            self.done = true;
        }
        for (position, record) in rows {
            let position = to_u64(position, self.next)?;
            match self.ready.back_mut() {
                Some(Chunk {
                    first,
                    records: ChunkRecords::Rows(run),
                }) if *first + run.len() as u64 == position => run.push(record),
                _ => self.ready.push_back(Chunk {
                    first: position,
                    records: ChunkRecords::Rows(vec![record]),
                }),
            }
            self.next = position + 1;
        }
        Ok(())
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Chunk, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.done {
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        // A run may continue on the next page: only hand it out once the next page is read
        // (or there is none), so that a run is never split.
        if self.ready.len() == 1 && !self.done {
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.ready.pop_front().map(Ok)
    }
}

impl Backend for PostgresBackend {
    fn head(&self) -> Result<Head, Error> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let row = client.query_one(SELECT_HEAD, &[]).await?;
            head_of(&row)
        })
    }

    fn chunks_from(&self, position: u64) -> Result<Chunks<'_>, Error> {
        Ok(Box::new(Pages {
            backend: self,
            next: position,
            ready: VecDeque::new(),
            done: false,
        }))
    }

    fn last_position(&self) -> Result<Option<u64>, Error> {
        // max() answers one row, NULL for an empty log.
        let last: Option<Option<i64>> =
            self.query_value("SELECT max(position) FROM ikrar_records", vec![])?;
        last.flatten().map(|p| to_u64(p, 0)).transpose()
    }

    fn record_bytes(&self, position: u64) -> Result<Option<Vec<u8>>, Error> {
        self.query_value(
            "SELECT record FROM ikrar_records WHERE position = $1",
            vec![Box::new(to_i64(position))],
        )
    }

    fn records_at(&self, positions: &[u64]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let wanted: Vec<i64> = positions.iter().map(|&p| to_i64(p)).collect();
        let rows: Vec<(i64, Vec<u8>)> = self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT position, record FROM ikrar_records WHERE position = ANY($1)",
                    &[&wanted],
                )
                .await?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        let mut found: std::collections::HashMap<i64, Vec<u8>> = rows.into_iter().collect();
        Ok(positions
            .iter()
            .map(|&p| found.remove(&to_i64(p)))
            .collect())
    }

    fn tile(&self, level: u8, tile: u64) -> Result<Option<Bytes>, Error> {
        let hashes: Option<Vec<u8>> = self.query_value(
            "SELECT hashes FROM ikrar_tiles WHERE level = $1 AND tile = $2",
            vec![Box::new(i16::from(level)), Box::new(to_i64(tile))],
        )?;
        Ok(hashes.map(Bytes::Owned))
    }

    fn tiles(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<Bytes>>, Error> {
        let levels: Vec<i16> = keys.iter().map(|k| i16::from(k.0)).collect();
        let tiles: Vec<i64> = keys.iter().map(|k| to_i64(k.1)).collect();
        let rows: Vec<(i16, i64, Vec<u8>)> = self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT t.level, t.tile, t.hashes FROM ikrar_tiles t \
                     JOIN unnest($1::smallint[], $2::bigint[]) AS k(level, tile) \
                     ON t.level = k.level AND t.tile = k.tile",
                    &[&levels, &tiles],
                )
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })?;
        let mut found: std::collections::HashMap<(i16, i64), Vec<u8>> = rows
            .into_iter()
            .map(|(level, tile, hashes)| ((level, tile), hashes))
            .collect();
        Ok(keys
            .iter()
            .map(|&(level, tile)| {
                found
                    .remove(&(i16::from(level), to_i64(tile)))
                    .map(Bytes::Owned)
            })
            .collect())
    }

    fn checkpoint_notes(&self) -> Result<Vec<(u64, String)>, Error> {
        let rows: Vec<(i64, String)> = self.run(|pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT tree_size, note FROM ikrar_checkpoints ORDER BY tree_size, key_name",
                    &[],
                )
                .await?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        rows.into_iter()
            .map(|(size, note)| Ok((to_u64(size, 0)?, note)))
            .collect()
    }

    fn put_checkpoint(
        &self,
        size: u64,
        name: &str,
        note: &str,
        verifier: &str,
    ) -> Result<(), Error> {
        let (size, name, note, verifier) = (
            to_i64(size),
            name.to_string(),
            note.to_string(),
            verifier.to_string(),
        );
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO ikrar_checkpoints (tree_size, key_name, note) VALUES ($1, $2, $3) \
                 ON CONFLICT (tree_size, key_name) DO UPDATE SET note = EXCLUDED.note",
                &[&size, &name, &note],
            )
            .await?;
            tx.execute(
                "INSERT INTO ikrar_verifier_keys (key_name, verifier) VALUES ($1, $2) \
                 ON CONFLICT (key_name) DO UPDATE SET verifier = EXCLUDED.verifier",
                &[&name, &verifier],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn verifier_key(&self, name: &str) -> Result<Option<String>, Error> {
        self.query_value(
            "SELECT verifier FROM ikrar_verifier_keys WHERE key_name = $1",
            vec![Box::new(name.to_string())],
        )
    }

    fn lock_for_commit(&self) -> Result<Box<dyn CommitLock + '_>, Error> {
        let (client, head) = self.run(|pool| async move {
            let client = pool.get().await?;
            // BEGIN and the locking read are pipelined: one round trip. The read waits for any
            // other writer's transaction, then sees its commit.
            let select = format!("{SELECT_HEAD} FOR UPDATE");
            let (begun, row) = futures::join!(
                client.batch_execute("BEGIN"),
                client.query_one(&select, &[])
            );
            match begun.and(row) {
                Ok(row) => {
                    let head = head_of(&row)?;
                    Ok((client, head))
                }
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    Err(e.into())
                }
            }
        })?;
        Ok(Box::new(PostgresCommit {
            backend: self,
            client: Some(client),
            head,
        }))
    }

    fn close(&self) {}

    fn commit_failure_is_fatal(&self) -> bool {
        // The next lock reads the head as the database has it, and the index catches up.
        false
    }
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
            let _ = self.backend.run(|_| async move {
                client.batch_execute("ROLLBACK").await?;
                Ok(())
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
        self.backend.run(move |_| async move {
            let head_size = to_i64(head.tree_size);
            let head_root = head.root.0.to_vec();
            let head_micros = head.last_recorded_at.timestamp_micros();
            type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
            let record_params: [Param<'_>; 5] = [&positions, &streams, &versions, &ids, &records];
            let tile_params: [Param<'_>; 3] = [&levels, &tiles, &hashes];
            let head_params: [Param<'_>; 3] = [&head_size, &head_root, &head_micros];
            let result = async {
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
                client.batch_execute("COMMIT").await?;
                Ok::<(), Error>(())
            }
            .await;
            if result.is_err() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            result
        })?;
        // Nothing to overlap: COMMIT is one round trip, awaited above.
        meanwhile();
        Ok(())
    }
}
