//! The schema of a PostgreSQL ledger: creating it, opening it, and migrating it to the version
//! this build writes. The SQL itself is in `sql/`, one file per migration.

use crate::error::Error;
use crate::storage::on_postgres::{PostgresBackend, MIGRATIONS, SCHEMA_MIGRATIONS, SCHEMA_VERSION};
use crate::storage::Head;

/// Serialises schema changes between processes opening the same database at once.
const MIGRATION_LOCK_KEY: i64 = 0x0069_6b72_6172; // "ikrar" in ASCII

impl PostgresBackend {
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
            tx.batch_execute(SCHEMA_MIGRATIONS).await?;
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
                return Err(Error::storage(format!(
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
}

/// Takes the schema lock for the rest of `tx` (two processes creating or migrating one ledger
/// at once take turns) and answers whether the schema holds a ledger.
async fn lock_schema(tx: &deadpool_postgres::Transaction<'_>) -> Result<bool, Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    Ok(tx.query_one(HAS_LEDGER, &[]).await?.get(0))
}

/// Whether the connection's schema holds a ledger.
pub(super) const HAS_LEDGER: &str = "SELECT to_regclass('ikrar_schema_migrations') IS NOT NULL";

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
