//! Errors at the edge: every library error becomes `{"error":{"kind","message"}}` with the
//! status code a client can act on (SPEC §7).

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The one error type of `ikrar-server` (starting and configuring the server).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger failed to open or answer.
    #[error(transparent)]
    Core(#[from] ikrar_core::Error),
    /// The state projection failed to open.
    #[error(transparent)]
    State(#[from] ikrar_state::Error),
    /// The tokens file cannot be read or written.
    #[error("tokens file {}: {what}", path.display())]
    Tokens {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The tokens file is not what it must be: not the JSON of SPEC §7, or writable by other
    /// users (anyone who can write it can give themselves a recorder token).
    #[error("tokens file {}: {what}", path.display())]
    TokensInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Without a tokens file the server only listens on loopback.
    #[error(
        "refusing to listen on {0} without a tokens file: use a loopback address or --tokens FILE"
    )]
    NotLoopback(std::net::SocketAddr),
    /// Binding or serving failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short machine-readable kind.
    pub kind: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The error's own fields, for programs (see [`crate::openapi::ErrorDetail::detail`]).
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "validation", message)
    }

    /// 500, with the cause (a task that panicked, say).
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            cause.to_string(),
        )
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::openapi::ErrorBody {
            error: crate::openapi::ErrorDetail {
                kind: self.kind.to_string(),
                message: self.message,
                detail: self.detail,
            },
        };
        let cause = self
            .status
            .is_server_error()
            .then(|| body.error.message.clone());
        let mut response = (self.status, Json(body)).into_response();
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(crate::telemetry::Cause(cause));
        }
        response
    }
}

impl From<ikrar_core::Error> for ApiError {
    fn from(e: ikrar_core::Error) -> Self {
        use ikrar_core::Error as E;
        let status = match &e {
            E::Validation { .. } | E::Checkpoint(_) | E::Proof(_) => StatusCode::BAD_REQUEST,
            E::Conflict { .. } | E::EventIdConflict { .. } => StatusCode::CONFLICT,
            E::NotFound { .. } | E::NoLedger { .. } => StatusCode::NOT_FOUND,
            // A storage error is the database unreachable or a commit cut off (a restarted
            // PostgreSQL server): the client should try again, with the same event ids.
            E::Locked { .. } | E::Closed { .. } | E::Storage { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // Nothing was written and the ledger takes appends once space is freed.
            E::DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = match &e {
            E::Validation { index, field, rule } => {
                Some(serde_json::json!({"index": index, "field": field, "rule": rule}))
            }
            E::Conflict {
                index,
                stream,
                expected,
                actual,
            } => Some(
                serde_json::json!({"index": index, "stream": stream.as_str(),
                                          "expected": expected, "actual": actual}),
            ),
            E::EventIdConflict {
                index,
                event_id,
                position,
                differences,
            } => Some(serde_json::json!({"index": index, "event_id": event_id,
                                          "position": position, "differences": differences})),
            E::Integrity { position, what } => {
                Some(serde_json::json!({"position": position, "what": what}))
            }
            E::DiskFull {
                available_bytes,
                needed_bytes,
                ..
            } => Some(
                serde_json::json!({"available_bytes": available_bytes, "needed_bytes": needed_bytes}),
            ),
            _ => None,
        };
        let mut api = ApiError::new(status, e.kind(), e.to_string());
        api.detail = detail;
        api
    }
}

impl From<ikrar_state::Error> for ApiError {
    fn from(e: ikrar_state::Error) -> Self {
        match e {
            ikrar_state::Error::Core(core) => core.into(),
            e @ ikrar_state::Error::InvalidBasis { .. } => ApiError::bad_request(e.to_string()),
            e @ ikrar_state::Error::NotFound { .. } => ApiError::not_found(e.to_string()),
            e => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "projection",
                e.to_string(),
            ),
        }
    }
}

impl From<ikrar_audit::Error> for ApiError {
    fn from(e: ikrar_audit::Error) -> Self {
        match e {
            ikrar_audit::Error::Core(core) => core.into(),
            e @ (ikrar_audit::Error::UnknownSubject(_) | ikrar_audit::Error::NoCheckpoint(_)) => {
                ApiError::not_found(e.to_string())
            }
            e => ApiError::bad_request(e.to_string()),
        }
    }
}
