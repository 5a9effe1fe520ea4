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
//!
//! **Every wait is bounded** ([`wait`]: 10 s, `IKRAR_POSTGRES_WAIT_MS` to change it): a server
//! that stops answering — a network partition, a frozen host — fails the call with a storage
//! error instead of hanging an appender or a reader for ever. A connection given up on inside
//! a transaction (the commit's lock, its writes, `COMMIT`, a rollback) is taken out of the pool
//! and dropped, so no later caller inherits the transaction; the server rolls it back when the
//! connection ends — once the server answers again, or when TCP gives up on a peer that never
//! does (keepalives and a user timeout are set for that, unless the URL sets them).

mod commit;
mod follow;
mod schema;
mod tls;

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;

use chrono::DateTime;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;

use crate::error::Error;
use crate::location::Location;
use crate::storage::{Backend, Bytes, Chunk, ChunkRecords, Chunks, CommitLock, Head};
use crate::tree::merkle::Hash;

/// The environment variable that bounds every wait for PostgreSQL, in milliseconds.
pub(crate) const WAIT_MS_VAR: &str = "IKRAR_POSTGRES_WAIT_MS";

/// How long a call waits for PostgreSQL: the pool's wait for a connection, a connection's
/// creation, a statement, a transaction's step. Long enough for a writer to wait behind
/// another process's group commit; well inside `ikrar serve`'s request time limit (30 s), so
/// that its clients are told the storage error (503, and for COMMIT that its outcome is
/// unknown), not only that the request took too long.
const WAIT_DEFAULT_MS: u64 = 10_000;

/// The bound on each wait for PostgreSQL ([`WAIT_MS_VAR`], else [`WAIT_DEFAULT_MS`]).
pub(super) fn wait() -> std::time::Duration {
    static WAIT_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let ms = *WAIT_MS.get_or_init(|| {
        std::env::var(WAIT_MS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .unwrap_or(WAIT_DEFAULT_MS)
    });
    std::time::Duration::from_millis(ms)
}

/// The error of a wait that ran out, naming what was waited for.
pub(super) fn waited_too_long(what: &str) -> Error {
    Error::storage(format!(
        "PostgreSQL did not answer {what} within {} ms ({WAIT_MS_VAR}); is the server \
         reachable?",
        wait().as_millis()
    ))
}

/// Runs `step` on `client` for at most [`wait`]. Past it the connection is closed rather than
/// returned to the pool (it may hold a transaction, or be stuck), and the error says `what`
/// was waited for.
pub(super) async fn bounded_step<T>(
    client: deadpool_postgres::Object,
    what: &str,
    step: impl AsyncFnOnce(&deadpool_postgres::Object) -> Result<T, Error>,
) -> (Option<deadpool_postgres::Object>, Result<T, Error>) {
    let outcome = tokio::time::timeout(wait(), step(&client)).await;
    match outcome {
        Ok(result) => (Some(client), result),
        Err(_) => {
            drop(deadpool_postgres::Object::take(client));
            (None, Err(waited_too_long(what)))
        }
    }
}

/// The schema version this build writes; migrations up to it are applied on open.
pub const SCHEMA_VERSION: i32 = 1;

/// Connections in the pool at most. Readers share it; the writer holds one per group commit.
const POOL_CONNECTIONS_MAX: usize = 16;
/// Records read per query when scanning.
const PAGE_RECORDS: i64 = 4096;

/// The migrations, in order; migration `n` takes the schema from version `n - 1` to `n`.
pub(super) const MIGRATIONS: &[&str] = &[include_str!("sql/0001_initial.sql")];

/// The table of applied migrations, which `create` makes before the first migration.
pub(super) const SCHEMA_MIGRATIONS: &str = include_str!("sql/schema_migrations.sql");

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        // The driver's error is kept as the source: a dropped connection is an operational
        // failure whose cause the operator needs, never damage.
        let what = match e.as_db_error() {
            Some(db) => format!("PostgreSQL {}", db.code().code()),
            None => "PostgreSQL".to_string(),
        };
        Error::storage_from(what, e)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Error::storage(format!("PostgreSQL connection pool: {other}")),
        }
    }
}

fn integrity(position: u64, what: impl Into<String>) -> Error {
    Error::Integrity {
        position,
        what: what.into(),
    }
}

pub(super) fn to_i64(n: u64) -> i64 {
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
    /// The connector for the URL's `sslmode`, for the follower's listening connection too.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
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
    pub(super) fn connect(url: &str) -> Result<PostgresBackend, Error> {
        let connection = tls::connection(url, &redact(url))?;
        let context = connection.context();
        let tls::Connection {
            mut config, tls, ..
        } = connection;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(wait());
        }
        // A peer that stops answering is given up by TCP too, which ends the connections the
        // waits above gave up on (the server then rolls their transactions back).
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(wait());
        }
        if config.get_keepalives_idle() > wait() {
            config.keepalives_idle(wait());
        }
        if config.get_application_name().is_none() {
            // What `pg_stat_activity` shows for the ledger's connections.
            config.application_name("ikrar");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ikrar-postgres")
            .enable_all()
            .build()?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_CONNECTIONS_MAX)
            .wait_timeout(Some(wait()))
            .create_timeout(Some(wait()))
            .recycle_timeout(Some(wait()))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::storage(format!("PostgreSQL connection pool: {e}")))?;
        let backend = PostgresBackend {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            config,
            tls,
            url: url.to_string(),
        };
        // Fail here, with the server's words, rather than at the first read; a refused
        // certificate also names the TLS settings that refused it.
        backend
            .run(|pool| async move {
                drop(pool.get().await?);
                Ok(())
            })
            .map_err(|e| match e {
                Error::Storage { what, source } => Error::Storage {
                    what: format!("{what}{context}"),
                    source,
                },
                other => other,
            })?;
        Ok(backend)
    }

    /// Runs `work` with the pool on the backend's runtime and waits for its answer.
    pub(super) fn run<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        // A plain channel, not `block_on(JoinHandle)`: the caller may itself be a tokio worker,
        // whose cooperative budget would then starve a nested poll of the join handle.
        // Getting a connection is bounded by the pool (its wait, then a creation's), each
        // statement by this limit, with a second of margin over the pool's own.
        self.run_with_limit(work, Some(2 * wait() + std::time::Duration::from_secs(1)))
    }

    /// [`PostgresBackend::run`] for a step of a transaction, with no limit of its own: every
    /// wait inside it is bounded by [`bounded_step`], which takes the connection out of the
    /// pool when it gives up — a limit here would drop the future and put the connection back
    /// with its transaction open.
    pub(super) fn run_in_transaction<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        self.run_with_limit(work, None)
    }

    fn run_with_limit<T, F>(
        &self,
        work: impl FnOnce(Pool) -> F,
        limit: Option<std::time::Duration>,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let (answer_tx, answer_rx) = std::sync::mpsc::sync_channel(1);
        let future = work(self.pool.clone());
        self.handle.spawn(async move {
            let answer = match limit {
                Some(limit) => tokio::time::timeout(limit, future)
                    .await
                    .unwrap_or_else(|_| Err(waited_too_long("a query"))),
                None => future.await,
            };
            let _ = answer_tx.send(answer);
        });
        answer_rx.recv().map_err(|_| {
            Error::storage("a PostgreSQL task ended without an answer (the runtime stopped)")
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

    pub(super) fn location(&self) -> PathBuf {
        PathBuf::from(redact(&self.url))
    }

    /// Whether the database (schema) at `url` holds a ledger.
    pub(crate) fn exists(url: &str) -> Result<bool, Error> {
        Self::connect(url)?.has_ledger()
    }

    fn has_ledger(&self) -> Result<bool, Error> {
        Ok(self
            .query_value(schema::HAS_LEDGER, vec![])?
            .unwrap_or(false))
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    Location::Postgres(url.to_string()).display()
}

pub(super) fn head_of(row: &tokio_postgres::Row) -> Result<Head, Error> {
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

pub(super) const SELECT_HEAD: &str = "SELECT tree_size, root, last_recorded_at_us FROM ikrar_head";

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
        commit::lock(self)
    }

    fn close(&self) {}
}
