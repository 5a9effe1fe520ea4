//! The one error type of `ikrar-import`.

use std::fmt;

/// Where in the input something is wrong: the snapshot, and within it the row and the field.
///
/// ```
/// use ikrar_import::Place;
/// let place = Place::snapshot("2017-11-01=tracker.json").row(12).field("Status");
/// assert_eq!(place.to_string(), "snapshot 2017-11-01=tracker.json, row 12, field `Status`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    /// The snapshot, as the command line named it (`DATE=FILE`, a manifest line, a commit).
    pub snapshot: Option<String>,
    /// The row, counted from 1 in the order of the snapshot's rows.
    pub row: Option<usize>,
    /// The field of the row (or of the mapping).
    pub field: Option<String>,
}

impl Place {
    /// A place in a snapshot.
    pub fn snapshot(name: impl Into<String>) -> Place {
        Place {
            snapshot: Some(name.into()),
            ..Place::default()
        }
    }

    /// The same place, narrowed to a row.
    pub fn row(mut self, row: usize) -> Place {
        self.row = Some(row);
        self
    }

    /// The same place, narrowed to a field.
    pub fn field(mut self, field: impl Into<String>) -> Place {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = &self.snapshot {
            parts.push(format!("snapshot {s}"));
        }
        if let Some(r) = self.row {
            parts.push(format!("row {r}"));
        }
        if let Some(field) = &self.field {
            parts.push(format!("field `{field}`"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Everything that can go wrong in an import. Every variant but [`Error::Ledger`] is bad input:
/// nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mapping is not valid TOML, has an unknown key, or says something impossible.
    #[error("mapping {file}: {message}")]
    Mapping {
        /// The mapping file.
        file: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A snapshot does not parse, holds no rows, or a row breaks the mapping.
    #[error("{place}: {message}")]
    Snapshot {
        /// The snapshot, row and field.
        place: Place,
        /// What is wrong.
        message: String,
    },
    /// A file named on the command line (a snapshot, the manifest) cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The arguments naming the snapshots are malformed (`DATE=FILE`, `REPO:PATH`, a manifest).
    #[error("{0}")]
    Usage(String),
    /// `git` could not list or read the history of the path.
    #[error("git: {0}")]
    Git(String),
    /// The ledger refused or failed; `place` names the snapshot and row the event came from.
    #[error("{}{source}", prefix(place))]
    Ledger {
        /// Where the event came from, when the error is about one event.
        place: Place,
        /// The ledger's error (boxed: it is large, and every other variant small).
        source: Box<ikrar_core::Error>,
    },
}

fn prefix(place: &Place) -> String {
    if place.snapshot.is_none() {
        String::new()
    } else {
        format!("{place}: ")
    }
}

impl Error {
    /// Whether the error is bad input (SPEC §6 exit code 2): everything but the ledger's own
    /// operational, integrity and conflict errors.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Ledger { source, .. } => {
                matches!(**source, ikrar_core::Error::Validation { .. })
            }
            Error::Read { source, .. } => source.kind() != std::io::ErrorKind::PermissionDenied,
            _ => true,
        }
    }

    pub(crate) fn at(place: Place, message: impl Into<String>) -> Error {
        Error::Snapshot {
            place,
            message: message.into(),
        }
    }
}

impl From<ikrar_core::Error> for Error {
    fn from(source: ikrar_core::Error) -> Self {
        Error::Ledger {
            place: Place::default(),
            source: Box::new(source),
        }
    }
}
