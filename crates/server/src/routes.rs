//! Routes → library calls → JSON, nothing else (SPEC §7).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::{Stream, StreamExt};
use ikrar_core::{InputEvent, Ledger, Moment};
use ikrar_state::{Basis, KnownAt, Projection};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::blocking::storage;
use crate::error::ApiError;
use crate::Caller;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The ledger.
    pub ledger: Ledger,
    /// Its state projection.
    pub state: Arc<Projection>,
    /// Turns true when the server begins to shut down; live feeds end then, so that graceful
    /// shutdown does not wait for them forever.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    /// The server's counters (`/metrics`).
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// The witnesses' counters and keys, when `serve` submits checkpoints to witnesses.
    pub witnessing: Option<crate::Witnessing>,
    /// Full tiles as files, kept up by a background task (`ServerConfig::tile_files`).
    pub tile_files: Option<Arc<ikrar_tlog::tile_files::TileFiles>>,
}

/// Interval of SSE heartbeats.
pub const HEARTBEAT_SECS: u64 = 15;

/// `?as_of=&known_at=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct BasisQuery {
    /// Valid time: a date (end of that day) or an instant.
    pub as_of: Option<String>,
    /// Transaction time: a tree size, or a date or instant.
    pub known_at: Option<String>,
}

impl BasisQuery {
    pub(crate) fn basis(&self) -> Result<Basis, ApiError> {
        Ok(Basis::new(
            self.known_at
                .as_deref()
                .map(|k| {
                    k.parse::<KnownAt>()
                        .map_err(|e| ApiError::bad_request(format!("known_at: {e}")))
                })
                .transpose()?,
            self.as_of
                .as_deref()
                .map(|a| {
                    a.parse::<Moment>()
                        .map_err(|e| ApiError::bad_request(format!("as_of: {e}")))
                })
                .transpose()?,
        ))
    }
}

pub(crate) fn json_ok<T: serde::Serialize>(value: &T) -> Response {
    Json(value).into_response()
}

/// Parses a body that is one input event or an array of them.
fn parse_events(body: &str) -> Result<Vec<InputEvent>, ApiError> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(body).map_err(|e| {
            ApiError::bad_request(format!("the body is not a JSON array of events: {e}"))
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                InputEvent::from_json(raw.get())
                    .map_err(|e| ApiError::bad_request(format!("event {i}: {e}")))
            })
            .collect()
    } else {
        Ok(vec![InputEvent::from_json(body).map_err(|e| {
            ApiError::bad_request(format!("event 0: {e}"))
        })?])
    }
}

/// `?dry_run=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AppendQuery {
    /// `true`: validate against the ledger and answer what would be recorded; write nothing.
    pub dry_run: Option<bool>,
}

/// Append one event or an array of them; answers once they are durable.
#[utoipa::path(post, path = "/v1/events", tag = "events", params(AppendQuery),
    request_body(content = String, description = "One event in the input form (SPEC §2.2), or a JSON array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded (or already recorded with the same content); with `dry_run`, a DryRunAnswer", body = crate::openapi::AppendAnswer),
        (status = 400, description = "Bad input: names the event, field and rule; nothing written", body = crate::openapi::ErrorBody),
        (status = 409, description = "expected_version or event_id conflict; nothing written", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body too large"),
    ))]
pub async fn append(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AppendQuery>,
    body: String,
) -> Result<Response, ApiError> {
    let mut events = parse_events(&body)?;
    for e in &mut events {
        if e.actor.is_none() {
            e.actor = Some(caller.name.clone());
        }
    }
    if q.dry_run.unwrap_or(false) {
        let checked = app.ledger.check(events).await?;
        return Ok(json_ok(&crate::openapi::DryRunAnswer {
            dry_run: true,
            positions: checked.positions,
            new_events: checked.new_events,
            event_ids: checked.event_ids,
            tree_size: checked.tree_size,
        }));
    }
    let count = events.len() as u64;
    let outcome = app.ledger.append(events).await?;
    app.metrics
        .appends
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    app.metrics
        .events_appended
        .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
    Ok(json_ok(&crate::openapi::AppendAnswer {
        positions: outcome.positions,
        tree_size: outcome.tree_size,
        event_ids: outcome.event_ids,
    }))
}

/// `?from=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// The first position (default 0); `Last-Event-ID: P` overrides it with P + 1.
    pub from: Option<u64>,
}

/// The live feed: Server-Sent Events, catch-up then live, resumable with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events", params(StreamQuery),
    responses((status = 200, description = "text/event-stream: `id: <position>` and `data: <record>` per event, heartbeats as comments")))]
pub async fn stream(
    State(app): State<AppState>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let from = match headers.get("last-event-id") {
        Some(v) => {
            let last: u64 = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a position"))?;
            // The position after the last one seen; the largest position has none after it
            // (never a wrap to 0, which would replay the whole log).
            last.checked_add(1).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Last-Event-ID {last} is the last possible position; nothing follows it"
                ))
            })?
        }
        None => q.from.unwrap_or(0),
    };
    let mut shutting_down = app.shutting_down.clone();
    let open = FeedOpen::new(app.metrics.clone());
    let feed = app
        .ledger
        .subscribe(from)
        .take_until(async move {
            let _ = shutting_down.wait_for(|down| *down).await;
        })
        .take_while(|r| futures::future::ready(r.is_ok()))
        .map(move |r| {
            // Held by the stream: the feed counts as open until the stream is dropped.
            let _open = &open;
            let r = r.expect("errors end the stream above");
            Ok(Event::default()
                .id(r.record.position.to_string())
                .data(r.as_json()))
        });
    Ok(Sse::new(feed).keep_alive(KeepAlive::new().interval(Duration::from_secs(HEARTBEAT_SECS))))
}

pub(crate) fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|e| ApiError::bad_request(format!("`{text}` is not a UUID: {e}")))
}

/// One open live feed, counted while it lives.
struct FeedOpen(Arc<crate::telemetry::Metrics>);

impl FeedOpen {
    fn new(metrics: Arc<crate::telemetry::Metrics>) -> FeedOpen {
        metrics
            .feeds_open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FeedOpen(metrics)
    }
}

impl Drop for FeedOpen {
    fn drop(&mut self) {
        self.0
            .feeds_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One commitment in a basis.
#[utoipa::path(get, path = "/v1/commitments/{id}", tag = "state", params(("id" = Uuid, Path), BasisQuery),
    responses((status = 200, body = ikrar_state::CommitmentView), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn commitment(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<BasisQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let basis = q.basis()?;
    let view = storage(move || Ok(app.state.commitment(id, &basis)?)).await?;
    let view = view.ok_or_else(|| {
        ApiError::not_found(format!("commitment {id} does not exist in this basis"))
    })?;
    Ok(json_ok(&view))
}

/// The audit trail of a meeting: every event of its stream, each with `retracted_by`.
#[utoipa::path(get, path = "/v1/meetings/{id}/history", tag = "audit", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Records as stored, each with `retracted_by`"), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn meeting_history(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let history = storage(move || Ok(ikrar_audit::history(&app.ledger, id)?)).await?;
    Ok(json_ok(&history.entries))
}

/// The audit trail of a commitment: every event of its stream, each with `retracted_by`.
#[utoipa::path(get, path = "/v1/commitments/{id}/history", tag = "audit", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Records as stored, each with `retracted_by`"), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn history(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let history = storage(move || Ok(ikrar_audit::history(&app.ledger, id)?)).await?;
    Ok(json_ok(&history.entries))
}

/// One meeting in a basis.
#[utoipa::path(get, path = "/v1/meetings/{id}", tag = "state", params(("id" = Uuid, Path), BasisQuery),
    responses((status = 200, body = ikrar_state::MeetingView), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn meeting(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<BasisQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let basis = q.basis()?;
    let view = storage(move || Ok(app.state.meeting(id, &basis)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("meeting {id} does not exist in this basis")))?;
    Ok(json_ok(&view))
}

/// Counts by status and party in a basis.
#[utoipa::path(get, path = "/v1/summary", tag = "state", params(BasisQuery),
    responses((status = 200, body = ikrar_state::Summary), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn summary(
    State(app): State<AppState>,
    Query(q): Query<BasisQuery>,
) -> Result<Response, ApiError> {
    let basis = q.basis()?;
    Ok(json_ok(
        &storage(move || Ok(app.state.summary(&basis)?)).await?,
    ))
}

/// `?from=&to=&known_at=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DiffQuery {
    /// The earlier valid time.
    pub from: String,
    /// The later valid time.
    pub to: String,
    /// Transaction time for both.
    pub known_at: Option<String>,
}

/// What changed between two valid times.
#[utoipa::path(get, path = "/v1/diff", tag = "state", params(DiffQuery),
    responses((status = 200, body = ikrar_state::Diff), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn diff(
    State(app): State<AppState>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, ApiError> {
    let moment = |name: &str, t: &str| {
        t.parse::<Moment>()
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
    };
    let known_at = q
        .known_at
        .as_deref()
        .map(|k| {
            k.parse::<KnownAt>()
                .map_err(|e| ApiError::bad_request(format!("known_at: {e}")))
        })
        .transpose()?;
    let (from, to) = (moment("from", &q.from)?, moment("to", &q.to)?);
    Ok(json_ok(
        &storage(move || Ok(app.state.diff(known_at, from, to)?)).await?,
    ))
}

/// The latest signed checkpoint.
#[utoipa::path(get, path = "/v1/checkpoint", tag = "integrity",
    responses((status = 200, body = crate::openapi::CheckpointAnswer), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn checkpoint(State(app): State<AppState>) -> Result<Response, ApiError> {
    let cp = storage(move || Ok(app.ledger.latest_checkpoint()?)).await?;
    let cp = cp.ok_or_else(|| {
        ApiError::not_found("no checkpoint is stored yet; sign one with `ikrar checkpoint`")
    })?;
    Ok(json_ok(&crate::openapi::CheckpointAnswer {
        origin: cp.origin,
        tree_size: cp.tree_size,
        root: cp.root.to_base64(),
        checkpoint: cp.note,
    }))
}

/// `?size=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SizeQuery {
    /// The checkpoint's tree size (default: the latest).
    pub size: Option<u64>,
    /// `tlog-proof` for a C2SP tlog-proof receipt (text) instead of the JSON bundle.
    pub format: Option<String>,
}

/// The inclusion proof bundle of an event.
#[utoipa::path(get, path = "/v1/proofs/inclusion/{event_id}", tag = "integrity", params(("event_id" = Uuid, Path), SizeQuery),
    responses((status = 200, body = ikrar_audit::InclusionBundle), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn inclusion(
    State(app): State<AppState>,
    Path(event_id): Path<String>,
    Query(q): Query<SizeQuery>,
) -> Result<Response, ApiError> {
    let event_id = parse_id(&event_id)?;
    if q.format.as_deref() == Some("tlog-proof") {
        return storage(move || tlog_receipt(&app.ledger, event_id, q.size)).await;
    }
    let bundle = storage(move || {
        Ok(ikrar_audit::inclusion_bundle(
            &app.ledger,
            event_id,
            q.size,
        )?)
    })
    .await?;
    Ok(json_ok(&bundle))
}

/// The receipt of `?format=tlog-proof`, as `text/plain`.
fn tlog_receipt(
    ledger: &ikrar_core::Ledger,
    event_id: Uuid,
    size: Option<u64>,
) -> Result<Response, ApiError> {
    match ikrar_tlog::receipt::for_event(ledger, event_id, size) {
        Ok(receipt) => Ok((
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            receipt.to_text(),
        )
            .into_response()),
        Err(ikrar_tlog::Error::Core(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}

/// `?from=&to=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConsistencyQuery {
    /// The earlier tree size.
    pub from: u64,
    /// The checkpoint's tree size (default: the latest).
    pub to: Option<u64>,
}

/// The consistency proof bundle between a tree size and a checkpoint.
#[utoipa::path(get, path = "/v1/proofs/consistency", tag = "integrity", params(ConsistencyQuery),
    responses((status = 200, body = ikrar_audit::ConsistencyBundle), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn consistency(
    State(app): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let bundle =
        storage(move || Ok(ikrar_audit::consistency_bundle(&app.ledger, q.from, q.to)?)).await?;
    Ok(json_ok(&bundle))
}

/// Re-reads and re-hashes the whole ledger; `ok` false names the first bad position.
#[utoipa::path(get, path = "/v1/verify", tag = "integrity",
    responses((status = 200, body = ikrar_audit::VerificationReport)))]
pub async fn verify(State(app): State<AppState>) -> Result<Response, ApiError> {
    let report =
        storage(move || Ok(ikrar_audit::verification_report(&app.ledger, &mut |_| {})?)).await?;
    Ok(json_ok(&report))
}

/// Liveness; needs no token.
#[utoipa::path(get, path = "/healthz", tag = "meta", security(()), responses((status = 200, description = "`{\"ok\":true,\"tree_size\":N}`")))]
pub async fn healthz(State(app): State<AppState>) -> Response {
    json_ok(&json!({"ok": true, "tree_size": app.ledger.head().tree_size}))
}

/// This API's OpenAPI document, generated from the code.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn openapi() -> Response {
    json_ok(&crate::openapi::document())
}

/// Anything else.
pub async fn fallback() -> ApiError {
    ApiError::not_found("no such route; see /v1/openapi.json")
}
