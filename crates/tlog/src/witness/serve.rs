//! The witness's HTTP interface: `POST /add-checkpoint` (the submission prefix is the root).

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::{Witness, REQUEST_BYTES_MAX};
use crate::error::Result;

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // fsync and rename: off the runtime's threads.
    let answer = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    match answer {
        Ok(a) => {
            let status =
                StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if a.status != 200 && a.status != 409 {
                tracing::warn!(
                    status = a.status,
                    why = a.body.trim(),
                    "add-checkpoint refused"
                );
            }
            (status, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Serves `witness` on `listener` until `shutdown` completes; requests in flight finish (each
/// one's state is durable before its answer, so stopping never loses a cosigned size).
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
