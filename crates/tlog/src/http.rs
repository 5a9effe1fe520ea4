//! The tlog-tiles read API under `/log/` (SPEC §11): the latest checkpoint with every
//! cosignature collected, hash tiles and entry bundles, with the spec's content types and
//! caching. Mount it beside the JSON API with `Router::merge`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ikrar_core::Ledger;

use std::sync::Arc;

use crate::path::{TilePath, FULL_WIDTH};
use crate::tile_files::TileFiles;
use crate::tiles;

/// Full tiles never change: cache them for a year, and say so.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A partial tile never changes either, but may be dropped once its full tile exists.
pub const PARTIAL: &str = "public, max-age=3600";
/// The checkpoint moves: "headers SHOULD prevent caching beyond a few seconds".
pub const CHECKPOINT: &str = "public, max-age=2";

/// The `/log/…` routes over `ledger`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ikrar_tlog::Error> {
/// let dir = tempfile::tempdir()?;
/// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
/// let app: axum::Router = axum::Router::new().merge(ikrar_tlog::http::routes(ledger));
/// # let _ = app; Ok(()) }
/// ```
pub fn routes<S: Clone + Send + Sync + 'static>(ledger: Ledger) -> Router<S> {
    routes_with_files(ledger, None)
}

/// The `/log/…` routes over `ledger`, answering full tiles from `files` where they hold them
/// (see [`crate::tile_files`]); a full tile missing there is read from the store and its file
/// written.
pub fn routes_with_files<S: Clone + Send + Sync + 'static>(
    ledger: Ledger,
    files: Option<Arc<TileFiles>>,
) -> Router<S> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/tile/{*path}", get(tile))
        .with_state(Log { ledger, files })
}

#[derive(Clone)]
struct Log {
    ledger: Ledger,
    files: Option<Arc<TileFiles>>,
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.into(),
    )
        .into_response()
}

async fn checkpoint(State(log): State<Log>) -> Response {
    let read = tokio::task::spawn_blocking(move || log.ledger.latest_checkpoint()).await;
    let Ok(read) = read else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the checkpoint failed\n",
        );
    };
    match read {
        Ok(Some(c)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, CHECKPOINT),
            ],
            c.note,
        )
            .into_response(),
        Ok(None) => plain(StatusCode::NOT_FOUND, "no checkpoint has been signed yet\n"),
        Err(e) => {
            tracing::error!(error = %e, "reading the latest checkpoint");
            plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

async fn tile(State(log): State<Log>, Path(rest): Path<String>) -> Response {
    let Ok(path) = TilePath::parse(&format!("tile/{rest}")) else {
        return plain(StatusCode::NOT_FOUND, "no such tile path\n");
    };
    // On PostgreSQL a read is a round trip: on the blocking pool, never on tokio's workers. On
    // sled it is one file read or a few lookups (a tile, or 16 values of records), mostly
    // from the page cache: answered in place, since the hand-off to the pool costs more than
    // the read (measured: a hash tile's p50 0.03 ms in place, 0.23 ms through the pool).
    let Log { ledger, files } = log;
    let ledger_is_local = ledger.path().is_some();
    let read = move || {
        if let Some(bytes) = files.as_ref().and_then(|f| f.read(&path)) {
            return (path, Ok(Some(bytes)));
        }
        let read = tiles::read(&ledger, &path);
        if let (Some(files), Ok(Some(bytes))) = (&files, &read) {
            // A file this process wrote or checked, found missing or damaged: write it again.
            // (Tiles not yet written are the background writer's, so requests cannot multiply
            // writes.)
            if files.expects(&path) {
                if let Err(e) = files.write(&path, bytes) {
                    tracing::warn!(error = %e, path = %path.to_path(), "writing a tile file");
                }
            }
        }
        (path, read)
    };
    let answer = if ledger_is_local {
        Ok(read())
    } else {
        tokio::task::spawn_blocking(read).await
    };
    let (path, read) = match answer {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "reading a tile");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the tile failed\n",
            );
        }
    };
    match read {
        Ok(Some(bytes)) => tile_response(
            bytes,
            if path.width == FULL_WIDTH {
                IMMUTABLE
            } else {
                PARTIAL
            },
        ),
        Ok(None) => plain(StatusCode::NOT_FOUND, "the tree does not hold this tile\n"),
        Err(e) => {
            tracing::error!(error = %e, path = %path.to_path(), "reading a tile");
            plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

fn tile_response(bytes: Vec<u8>, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
