//! The one error type of `ikrar-console`, and how each variant answers a browser.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What can go wrong serving a page.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger underneath failed.
    #[error(transparent)]
    Core(#[from] ikrar_core::Error),
    /// Deriving state failed (a bad basis, a subject not in the basis).
    #[error(transparent)]
    State(#[from] ikrar_state::Error),
    /// Reading history or proofs failed.
    #[error(transparent)]
    Audit(#[from] ikrar_audit::Error),
    /// A query parameter or path that does not parse.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing at this address.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A template failed to render.
    #[error("the page could not be drawn: {0}")]
    Render(#[from] askama::Error),
    /// A background task panicked or was cancelled.
    #[error("a background task failed: {0}")]
    Task(String),
}

impl Error {
    /// The HTTP status the error answers with.
    pub fn status(&self) -> StatusCode {
        use ikrar_state::Error as S;
        match self {
            Error::BadRequest(_) | Error::State(S::InvalidBasis { .. }) => StatusCode::BAD_REQUEST,
            Error::NotFound(_)
            | Error::State(S::NotFound { .. })
            | Error::Core(ikrar_core::Error::NotFound { .. })
            | Error::Audit(ikrar_audit::Error::UnknownSubject(_))
            | Error::Audit(ikrar_audit::Error::NoCheckpoint(_)) => StatusCode::NOT_FOUND,
            Error::Audit(ikrar_audit::Error::Core(ikrar_core::Error::NotFound { .. })) => {
                StatusCode::NOT_FOUND
            }
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            // Nothing was written; the same form, sent again once space is freed, records.
            Error::Core(ikrar_core::Error::DiskFull { .. }) => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "console page failed");
        }
        let page = crate::pages::ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.to_string(),
            assets: crate::assets::names(),
        };
        let body = askama::Template::render(&page)
            .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title>"));
        (status, crate::html(body)).into_response()
    }
}
