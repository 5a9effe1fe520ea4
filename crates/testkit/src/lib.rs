//! # ikrar-testkit
//!
//! Fresh, empty ledger locations for tests, on each backend, so that one test body can run
//! against sled and against PostgreSQL (the conformance suite); and what the tests would
//! otherwise each write again: event builders ([`events`]), a tamperer's access to a ledger's
//! files ([`tamper`]), a runtime and a free port.
//!
//! The PostgreSQL half needs a server: `IKRAR_TEST_POSTGRES` names it
//! (`postgres://user@host:port/database`); `scripts/with-postgres` starts a throwaway cluster and
//! sets it, and `.ci/run` runs the tests that way. Each [`Place::postgres`] is a new schema in
//! that database, so tests never share a ledger. Without the variable the PostgreSQL half of
//! each test says so on stderr and checks nothing; with it, a server that cannot be reached
//! fails the test.
//!
//! ```
//! let place = ikrar_testkit::Place::sled();
//! assert!(place.location().ends_with("ledger"));
//! ```

use std::path::Path;

pub mod cluster;
pub mod events;
pub mod tamper;

pub use events::{cid, commitment_made, made, status};

/// A two-worker runtime, as the tests drive a ledger from.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS chose it), for a server to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The environment variable naming the PostgreSQL server the tests may use.
pub const POSTGRES_ENV: &str = "IKRAR_TEST_POSTGRES";

/// The backend of a [`Place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A ledger directory on sled.
    Sled,
    /// A schema in a PostgreSQL database.
    Postgres,
}

/// A fresh location for one ledger: a directory in a temporary directory, or a new schema.
pub struct Place {
    location: String,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    /// A path for a new ledger directory (not created yet).
    pub fn sled() -> Place {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let location = dir.path().join("ledger").display().to_string();
        Place {
            location,
            backend: Backend::Sled,
            _dir: Some(dir),
        }
    }

    /// A URL for a new ledger in a schema of its own, or `None` if no server is configured.
    pub fn postgres() -> Option<Place> {
        let base = postgres_url()?;
        Some(Place {
            location: new_schema(&base, "ikrar_test"),
            backend: Backend::Postgres,
            _dir: None,
        })
    }

    /// [`Place::postgres`], saying on stderr that `test`'s PostgreSQL half is not run when no
    /// server is configured.
    pub fn postgres_for(test: &str) -> Option<Place> {
        let place = Place::postgres();
        if place.is_none() {
            eprintln!("{test}: PostgreSQL half not run ({POSTGRES_ENV} is not set)");
        }
        place
    }

    /// A fresh place on `backend` (`None`: PostgreSQL is not configured).
    pub fn on(backend: Backend) -> Option<Place> {
        match backend {
            Backend::Sled => Some(Place::sled()),
            Backend::Postgres => Place::postgres(),
        }
    }

    /// The `--ledger` value: a directory path or a `postgres://` URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// [`Place::location`] as a path, as `Ledger::create` and `Ledger::open` take it.
    pub fn path(&self) -> &Path {
        Path::new(&self.location)
    }

    /// Which backend this place is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Set (to `1`) where the PostgreSQL half must run — CI sets it — so that a missing server
/// fails the tests instead of letting them pass without checking anything.
pub const REQUIRE_POSTGRES_ENV: &str = "IKRAR_REQUIRE_POSTGRES";

/// The configured PostgreSQL server, if any. Panics if none is configured but
/// [`REQUIRE_POSTGRES_ENV`] says one must be.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty());
    if url.is_none() && std::env::var(REQUIRE_POSTGRES_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_ENV} names no server: the PostgreSQL half of the suite must run here");
    }
    url
}

/// Creates a new, empty schema `PREFIX_<unique>` in the database at `url` and answers the URL
/// of a ledger in it (`search_path` set through the connection's options).
pub fn new_schema(url: &str, prefix: &str) -> String {
    let schema = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    run_sql(url, &format!("CREATE SCHEMA {schema}"));
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

/// Runs one SQL statement on `url`, panicking with the server's words if it fails. Runs on a
/// thread of its own, so it works inside or outside an async runtime.
pub fn run_sql(url: &str, statement: &str) {
    let (url, statement) = (url.to_string(), statement.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot reach {POSTGRES_ENV}={url}: {e}"));
            tokio::spawn(connection);
            client
                .batch_execute(&statement)
                .await
                .unwrap_or_else(|e| panic!("`{statement}` failed: {e:?}"));
        })
    })
    .join()
    .expect("the SQL thread panicked");
}

/// Runs each named test function (`fn name(place: &Place)`) once per backend: generates
/// `on_sled::name` and `on_postgres::name` tests. The PostgreSQL one reports on stderr and
/// returns when no server is configured.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::Place::sled());
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(place) = $crate::Place::postgres_for(stringify!($name)) {
                        super::$name(&place);
                    }
                }
            )*
        }
    };
}
