//! Storage work off tokio's workers, and the projection kept caught up in the background.
//!
//! A read of the ledger (sled or PostgreSQL, through a synchronous API) or a projection
//! catching up (reading the log, perhaps rewriting its snapshot) can take milliseconds to
//! seconds; on one of tokio's few workers it would stall every other request and feed
//! scheduled there. Handlers run such work through [`storage`], on the blocking pool.

use std::sync::Arc;

use axum::http::StatusCode;

use crate::error::ApiError;
use crate::routes::AppState;

/// Runs `work` (which reads or writes storage) on tokio's blocking pool and answers its result.
pub(crate) async fn storage<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("a storage task failed: {e}"),
        )
    })?
}

/// Applies each new head of the ledger to the projection as it is published, on the blocking
/// pool, so that a query finds the projection caught up and only waits when it needs a tree
/// size not yet applied (it then catches up itself). The task holds the projection weakly and
/// ends with the ledger (its head channel closes), or when the server shuts down. Without a
/// runtime (a router built outside one) there is no task: queries catch up as they need.
pub(crate) fn follow_head(app: &AppState) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut heads = app.ledger.watch_head();
    let projection = Arc::downgrade(&app.state);
    let mut shutting_down = app.shutting_down.clone();
    runtime.spawn(async move {
        loop {
            let Some(p) = projection.upgrade() else {
                return;
            };
            match tokio::task::spawn_blocking(move || p.catch_up()).await {
                Ok(Ok(())) => {}
                // Not fatal: the next head, or the next query, tries again.
                Ok(Err(e)) => tracing::warn!(error = %e, "the projection could not catch up"),
                Err(e) => tracing::warn!(error = %e, "the projection's catch-up task failed"),
            }
            tokio::select! {
                changed = heads.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = shutting_down.wait_for(|down| *down) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikrar_core::{InputEvent, Ledger};
    use ikrar_state::Projection;

    fn made(n: u32) -> InputEvent {
        InputEvent::from_json(&format!(
            r#"{{"type":"commitment_made","actor":"kim","data":{{"commitment_id":"0194a1c2-7f00-7000-8000-{n:012}","title":"t","made_on":"2025-01-16"}}}}"#
        ))
        .unwrap()
    }

    /// Appends made straight to the ledger (no query) are applied to the projection by the
    /// background task; once the server's state is dropped the task lets the ledger go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_projection_follows_the_head_without_a_query_and_lets_the_ledger_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let ledger = Ledger::create(&path).unwrap();
        let (_down_tx, down_rx) = tokio::sync::watch::channel(false);
        let app = AppState {
            state: Arc::new(Projection::open(&ledger).unwrap()),
            ledger: ledger.clone(),
            shutting_down: down_rx,
            metrics: Arc::default(),
            witnessing: None,
            tile_files: None,
        };
        follow_head(&app);
        for n in 0..3 {
            ledger.append(vec![made(n)]).await.unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.state.reached() < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the projection did not follow"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(app);
        drop(ledger);
        // The task held neither the projection nor the ledger: the ledger closes, and opens again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Ledger::open(&path) {
                Ok(reopened) => {
                    assert_eq!(reopened.head().tree_size, 3);
                    break;
                }
                Err(e) => {
                    assert!(std::time::Instant::now() < deadline, "still held: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }
}
