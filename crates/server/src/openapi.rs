//! The OpenAPI document, generated from the handlers' annotations and the view types' derives,
//! so that it cannot drift from the code; and the answer types only the API has.

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// `{"error":{"kind","message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error's kind and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `validation`, `conflict`, `not_found`, `unauthorized`, `forbidden`, `too_large`, `timeout`,
    /// `integrity`, …
    pub kind: String,
    /// For people.
    pub message: String,
    /// For programs, on validation and conflict errors: the event's `index` in the append and
    /// the error's own fields (`field` and `rule`; `stream`, `expected` and `actual`;
    /// `event_id` and `position`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// The answer to an append.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppendAnswer {
    /// The position of each event, in order (the original one for an idempotent repeat).
    pub positions: Vec<u64>,
    /// The tree size after the commit.
    pub tree_size: u64,
    /// The id of each event (made by the ledger where none was given).
    pub event_ids: Vec<uuid::Uuid>,
}

/// The answer to an append with `?dry_run=true`: what would be recorded; nothing was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunAnswer {
    /// Always true.
    pub dry_run: bool,
    /// The position each event would take (the original one for an idempotent repeat).
    pub positions: Vec<u64>,
    /// How many events would be new.
    pub new_events: usize,
    /// The id of each event.
    pub event_ids: Vec<uuid::Uuid>,
    /// The tree size the append would leave.
    pub tree_size: u64,
}

/// The latest signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointAnswer {
    /// The key name.
    pub origin: String,
    /// The signed tree size.
    pub tree_size: u64,
    /// The signed root, standard base64.
    pub root: String,
    /// The signed note (C2SP signed-note with a tlog-checkpoint).
    pub checkpoint: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ikrar", description = "An append-only, verifiable ledger of public commitments (SPEC §7)."),
    paths(
        crate::routes::append,
        crate::lists::events,
        crate::routes::stream,
        crate::lists::commitments,
        crate::lists::meetings,
        crate::routes::commitment,
        crate::routes::history,
        crate::routes::meeting_history,
        crate::lookup::ids,
        crate::lookup::head,
        crate::lookup::add_checkpoint,
        crate::lookup::actors,
        crate::routes::meeting,
        crate::routes::summary,
        crate::routes::diff,
        crate::routes::checkpoint,
        crate::routes::inclusion,
        crate::routes::consistency,
        crate::routes::verify,
        crate::routes::healthz,
        crate::routes::openapi,
        crate::telemetry::metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail, AppendAnswer, DryRunAnswer, CheckpointAnswer)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
