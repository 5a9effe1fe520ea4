//! Routes a client needs beside the views: ids by prefix (people type short ids), the tree
//! head (to sign a checkpoint with a key the server never sees), storing such a checkpoint, and
//! who recorded what. The CLI beside a running server (SPEC §7.1) is built on them.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::Json;
use ikrar_core::VerifierKey;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::blocking::storage;
use crate::error::ApiError;
use crate::routes::{json_ok, AppState};

/// Ids answered per prefix at most.
pub const IDS_PER_PREFIX_MAX: usize = 20;

/// `?prefix=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct IdsQuery {
    /// The start of an id: hex digits and dashes.
    pub prefix: String,
}

/// An id and what it names.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdMatch {
    /// The whole id.
    pub id: Uuid,
    /// `commitment`, `meeting` or `event`.
    pub kind: String,
}

/// Commitment, meeting and event ids that start with a prefix (at most 20).
#[utoipa::path(get, path = "/v1/ids", tag = "meta", params(IdsQuery),
    responses((status = 200, body = Vec<IdMatch>), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn ids(
    State(app): State<AppState>,
    Query(q): Query<IdsQuery>,
) -> Result<Response, ApiError> {
    let prefix = q.prefix.to_ascii_lowercase();
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(ApiError::bad_request(
            "prefix: the start of an id is hex digits and dashes",
        ));
    }
    let out = storage(move || ids_with_prefix(&app, &prefix)).await?;
    Ok(json_ok(&out))
}

/// The ids that start with `prefix`: the projection's subjects, then the ledger's events.
fn ids_with_prefix(app: &AppState, prefix: &str) -> Result<Vec<IdMatch>, ApiError> {
    app.state.catch_up()?;
    let mut out: Vec<IdMatch> = app
        .state
        .ids_with_prefix(prefix)
        .into_iter()
        .map(|id| IdMatch {
            id,
            kind: if app.state.is_meeting(id) {
                "meeting"
            } else {
                "commitment"
            }
            .into(),
        })
        .collect();
    out.extend(
        app.ledger
            .event_ids_with_prefix(prefix, IDS_PER_PREFIX_MAX)?
            .into_iter()
            .map(|id| IdMatch {
                id,
                kind: "event".into(),
            }),
    );
    out.truncate(IDS_PER_PREFIX_MAX);
    Ok(out)
}

/// The tree head: size and root.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeadAnswer {
    /// Events in the ledger.
    pub tree_size: u64,
    /// The Merkle root, standard base64.
    pub root: String,
}

/// The current tree size and root (what a checkpoint signs).
#[utoipa::path(get, path = "/v1/head", tag = "integrity",
    responses((status = 200, body = HeadAnswer)))]
pub async fn head(State(app): State<AppState>) -> Response {
    let head = app.ledger.head();
    json_ok(&HeadAnswer {
        tree_size: head.tree_size,
        root: head.root.to_base64(),
    })
}

/// A checkpoint signed elsewhere, to store.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckpointSubmission {
    /// The signed note.
    pub checkpoint: String,
    /// The signer's verifier key (`name+keyid+base64`).
    pub verifier_key: String,
}

/// Stores a checkpoint signed with a key the server never sees: it must verify against the
/// given key, have this ledger's root at its size and be consistent with the last one stored.
#[utoipa::path(post, path = "/v1/checkpoints", tag = "integrity",
    request_body = CheckpointSubmission,
    responses((status = 200, body = crate::openapi::CheckpointAnswer), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn add_checkpoint(
    State(app): State<AppState>,
    Json(submission): Json<CheckpointSubmission>,
) -> Result<Response, ApiError> {
    let key = VerifierKey::parse(submission.verifier_key.trim())
        .map_err(|e| ApiError::bad_request(format!("verifier_key: {e}")))?;
    // Stored durably (a flush): storage work.
    let cp = storage(move || Ok(app.ledger.add_checkpoint(&submission.checkpoint, &key)?)).await?;
    Ok(json_ok(&crate::openapi::CheckpointAnswer {
        origin: cp.origin,
        tree_size: cp.tree_size,
        root: cp.root.to_base64(),
        checkpoint: cp.note,
    }))
}

/// Events and retractions per actor.
#[utoipa::path(get, path = "/v1/actors", tag = "audit",
    responses((status = 200, description = "Per actor: events, retractions, first and last recorded_at")))]
pub async fn actors(State(app): State<AppState>) -> Result<Response, ApiError> {
    let ledger = app.ledger.clone();
    let actors = storage(move || Ok(ikrar_audit::actors(&ledger)?)).await?;
    Ok(json_ok(&actors))
}
