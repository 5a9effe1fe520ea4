//! What the console's scripts fetch: an event's inclusion bundle with the key the server
//! announces for it, the latest checkpoint, and the live feed. They live under `/ui/api/` so
//! that the session cookie, not a bearer token, authorises them; the answers come from the
//! same library calls as `/v1/proofs/inclusion`, `/v1/checkpoint` and `/v1/events/stream`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;

use crate::pages::parse_id;
use crate::{Console, Error};

fn json_error(e: &Error) -> Response {
    // No checkpoint covers it yet: not a failure of the request but a proof still to come, and
    // answered so that browsers do not log it as a failed load.
    if matches!(e, Error::Audit(ikrar_audit::Error::NoCheckpoint(_)))
        || matches!(e, Error::NotFound(_))
    {
        return Json(json!({"pending": e.to_string()})).into_response();
    }
    (
        e.status(),
        Json(json!({"error": {"kind": "console", "message": e.to_string()}})),
    )
        .into_response()
}

/// The verifier key text the ledger stores for a checkpoint origin, if any.
fn announced(console: &Console, origin: &str) -> Result<Option<String>, Error> {
    Ok(console
        .ledger()
        .verifier_key(origin)?
        .map(|k| k.text().to_string()))
}

/// `{"bundle": <inclusion bundle>, "announced_key": "<verifier key>" | null,
/// "witness_keys": ["<witness verifier key>", …]}`.
pub(crate) async fn proof(
    State(console): State<Console>,
    Path(event_id): Path<String>,
) -> Response {
    let answer = console
        .blocking(move |c| {
            let id = parse_id(&event_id)?;
            let bundle = ikrar_audit::inclusion_bundle(c.ledger(), id, None)?;
            let origin = bundle
                .checkpoint
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            Ok(
                json!({"bundle": bundle, "announced_key": announced(c, &origin)?,
                      "witness_keys": c.config.witness_keys}),
            )
        })
        .await;
    match answer {
        Ok(v) => Json(v).into_response(),
        Err(e) => json_error(&e),
    }
}

/// `{"checkpoint": "<signed note>", "tree_size": N, "announced_key": …, "witness_keys": […]}`.
pub(crate) async fn checkpoint(State(console): State<Console>) -> Response {
    let answer = console
        .blocking(|c| {
            let cp = c
                .ledger()
                .latest_checkpoint()?
                .ok_or_else(|| Error::NotFound("no checkpoint is stored yet".into()))?;
            Ok(json!({"checkpoint": cp.note, "tree_size": cp.tree_size,
                      "announced_key": announced(c, &cp.origin)?,
                      "witness_keys": c.config.witness_keys}))
        })
        .await;
    match answer {
        Ok(v) => Json(v).into_response(),
        Err(e) => json_error(&e),
    }
}

/// `?from=`.
#[derive(Debug, Deserialize)]
pub(crate) struct FeedQuery {
    from: Option<u64>,
}

/// Server-Sent Events from `from` on: each event as `id: <position>` and a short JSON object
/// (what the dashboard's list shows), so the page needs no second request per event.
pub(crate) async fn feed(
    State(console): State<Console>,
    Query(q): Query<FeedQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let from = q.from.unwrap_or_else(|| console.ledger().head().tree_size);
    let mut down = console.config.shutting_down.clone();
    let stream = console
        .ledger()
        .subscribe(from)
        .take_until(async move {
            let _ = down.wait_for(|d| *d).await;
        })
        .take_while(|r| futures::future::ready(r.is_ok()))
        .filter_map(|r| async move {
            let r = r.ok()?;
            let rec = &r.record;
            let subject = rec.stream.as_str().to_string();
            let data = json!({
                "position": rec.position,
                "event_id": rec.event_id,
                "type": rec.data.type_name(),
                "what": crate::rows::describe(&rec.data),
                "actor": rec.actor,
                "recorded_at": ikrar_core::moment::format_instant(&rec.recorded_at),
                "subject": subject,
            });
            Some(Ok(Event::default()
                .id(rec.position.to_string())
                .data(data.to_string())))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
