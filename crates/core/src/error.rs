//! The one error type of `ikrar-core`.

use std::path::PathBuf;
use std::sync::Arc;

use uuid::Uuid;

use crate::model::event::StreamId;
use crate::model::input::ExpectedVersion;

/// Everything that can go wrong in the core, as variants a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An event broke a rule of SPEC §3. Nothing was written. Fix the event and send it again.
    #[error("event {index}: field `{field}`: {rule}")]
    Validation {
        /// The event's index in the append (0-based).
        index: usize,
        /// The field, as a dotted path (`data.title`).
        field: String,
        /// The rule, in words.
        rule: String,
    },
    /// The stream is not at the version the writer expected. Nothing was written. Re-read the
    /// stream and decide again.
    #[error("event {index}: stream {stream}: expected version {expected}, actual {}", actual.map_or("no stream".to_string(), |v| v.to_string()))]
    Conflict {
        /// The event's index in the append.
        index: usize,
        /// The stream.
        stream: StreamId,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's last version, or `None` if it does not exist.
        actual: Option<u64>,
    },
    /// The event id is already recorded with other content. Nothing was written.
    #[error("event {index}: event_id {event_id} is already recorded at position {position} with other content: {}", differences.join("; "))]
    EventIdConflict {
        /// The event's index in the append.
        index: usize,
        /// The reused id.
        event_id: Uuid,
        /// Where the original is.
        position: u64,
        /// What differs, a field each: `actor: "root" now, "oversight.kim" recorded`.
        differences: Vec<String>,
    },
    /// Stored data does not check out: the ledger was altered or damaged. Stop writing and
    /// investigate; `position` is the first bad one.
    #[error("integrity failure at position {position}: {what}")]
    Integrity {
        /// The first bad position.
        position: u64,
        /// What is wrong.
        what: String,
    },
    /// Another process holds the ledger. Wait for it, or stop it.
    #[error("the ledger at {path} is in use by another process (lock {lock} is held)", path = path.display(), lock = lock.display())]
    Locked {
        /// The ledger directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// `init` on a path that already holds something.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// There is no ledger at the path.
    #[error("no ledger at {}", path.display())]
    NoLedger {
        /// The path.
        path: PathBuf,
    },
    /// A subject, event or position that is not in the ledger.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The filesystem holding a sled ledger has too little free space for the next commit:
    /// nothing of it was written, and the ledger takes appends again as soon as space is
    /// freed — no reopen, no restart (see `docs/reliability.md`, "a full disk").
    #[error(
        "too little free space for this commit on the disk holding {}: {available_bytes} bytes \
         free, and a commit of this size needs {needed_bytes} (its records and room for sled to \
         work); nothing was written — free space (or send fewer events at once) and send the \
         append again",
        path.display()
    )]
    DiskFull {
        /// The ledger directory.
        path: PathBuf,
        /// Free space on its filesystem, for an unprivileged writer.
        available_bytes: u64,
        /// What the commit needed free.
        needed_bytes: u64,
    },
    /// The ledger was closed, or its writer stopped after a storage failure; reopen it.
    #[error("the ledger is closed: {reason}")]
    Closed {
        /// Why.
        reason: String,
    },
    /// A key, signed note or checkpoint was refused (malformed, wrong key, bad signature).
    #[error(transparent)]
    Checkpoint(#[from] crate::tree::checkpoint::CheckpointError),
    /// A proof could not be made or does not check out.
    #[error(transparent)]
    Proof(#[from] crate::tree::proof::ProofError),
    /// A filesystem error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage backend (sled or PostgreSQL) failed: an operational error, not damage.
    /// `source` is the backend's own error where there is one. (Its words are also part of
    /// the message, which is all the CLI and the HTTP API show.)
    #[error("storage error: {what}{}", source.as_deref().map(causes).unwrap_or_default())]
    Storage {
        /// What failed, in words.
        what: String,
        /// The backend's error, if it had one (shared: the writer answers many appenders).
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The ledger's location cannot be used as given: a PostgreSQL URL that does not parse,
    /// an unknown `sslmode`, a CA file (`sslrootcert`) that cannot be read. Fix the setting.
    #[error("configuration error: {0}")]
    Config(String),
}

/// `: <error>: <its cause>: …` — every cause, since a driver's own words are often only the
/// outermost ("error performing TLS handshake") and the reason is below it.
fn causes(e: &(dyn std::error::Error + Send + Sync)) -> String {
    let mut out = format!(": {e}");
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        match e {
            // sled reading its own files and finding them shorter than it wrote them, or a
            // blob file it wrote gone: the database was cut or files were deleted — damage
            // (exit 3), not an operational error to retry.
            sled::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::NotFound
                ) =>
            {
                Error::Integrity {
                    position: 0,
                    what: format!("sled's files are cut short or missing ({io})"),
                }
            }
            sled::Error::Io(io) => Error::Io(io),
            sled::Error::Corruption { at, .. } => Error::Integrity {
                position: 0,
                what: format!("sled reports corruption at {at:?}"),
            },
            other => Error::storage_from("sled", other),
        }
    }
}

impl Error {
    /// A short machine-readable name for the kind of error, as used in JSON error bodies.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation",
            Error::Conflict { .. } | Error::EventIdConflict { .. } => "conflict",
            Error::Integrity { .. } => "integrity",
            Error::Locked { .. } => "locked",
            Error::AlreadyExists { .. } => "already_exists",
            Error::NoLedger { .. } => "no_ledger",
            Error::NotFound { .. } => "not_found",
            Error::Closed { .. } => "closed",
            Error::DiskFull { .. } => "disk_full",
            Error::Checkpoint(_) => "checkpoint",
            Error::Proof(_) => "proof",
            Error::Io(_) => "io",
            Error::Config(_) => "config",
            Error::Storage { .. } => "storage",
        }
    }

    /// A storage error without a source.
    pub(crate) fn storage(what: impl Into<String>) -> Self {
        Error::Storage {
            what: what.into(),
            source: None,
        }
    }

    /// A storage error caused by `source`.
    pub(crate) fn storage_from(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            what: what.into(),
            source: Some(Arc::new(source)),
        }
    }

    pub(crate) fn validation(
        index: usize,
        field: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Error::Validation {
            index,
            field: field.into(),
            rule: rule.into(),
        }
    }
}
