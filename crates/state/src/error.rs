//! The one error type of `ikrar-state`.

/// What can go wrong deriving state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger underneath failed; see the core error for what to do.
    #[error(transparent)]
    Core(#[from] ikrar_core::Error),
    /// The basis asked for cannot be answered (e.g. a tree size beyond the ledger). Fix the query.
    #[error("invalid {field}: {rule}")]
    InvalidBasis {
        /// `known_at` or `as_of`.
        field: String,
        /// Why.
        rule: String,
    },
    /// No commitment or meeting with that id exists in the basis.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The persisted projection could not be read or written. Deleting it is safe: it is
    /// rebuilt from the log.
    #[error("projection storage: {0}")]
    Projection(String),
}

impl From<postcard::Error> for Error {
    fn from(e: postcard::Error) -> Self {
        Error::Projection(format!("cannot decode a persisted timeline: {e}"))
    }
}
