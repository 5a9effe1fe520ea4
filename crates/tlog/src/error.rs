//! The one error type of `ikrar-tlog`.

/// Why a tlog operation failed. Parsers and verifiers answer these for any input, never panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger below failed or refused.
    #[error(transparent)]
    Core(#[from] ikrar_core::Error),
    /// A file or socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A key in none of the accepted text forms, or with a wrong key id.
    #[error("malformed key: {0}")]
    Key(String),
    /// A request, note, proof or policy that does not parse.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What was being parsed (`tlog-proof`, `policy`, `add-checkpoint request`, …).
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// A signature or proof that does not verify, or a quorum not met.
    #[error("verification failed: {0}")]
    Verification(String),
    /// A witness answered with something other than cosignatures.
    #[error("witness {witness}: {what}")]
    Witness {
        /// The witness's key name.
        witness: String,
        /// What went wrong, with the HTTP status where there was one.
        what: String,
    },
    /// An HTTP client failure (connection refused, timeout).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// A witness state directory that is missing or malformed.
    #[error("witness state: {0}")]
    State(String),
}

impl Error {
    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Error {
        Error::Malformed {
            what,
            why: why.into(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
