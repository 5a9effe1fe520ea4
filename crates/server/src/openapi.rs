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
    modifiers(&BearerAuth, &ErrorResponses),
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

/// The error answers every route can give, added to each operation of the document from what
/// it declares (its input, its method, whether it needs a token) and how the guard in `lib.rs`
/// treats every request — written once here, so that a new route cannot leave them out:
///
/// - 400 where the route takes input (a parameter or a body): input that does not parse or
///   breaks a rule;
/// - 401 where a token is needed (every route but `/healthz`, when the server has tokens);
/// - 403 where the route records (not a GET): a reader's token may only read;
/// - 507 where the route records: the ledger's disk has no room for the commit (nothing was
///   written; the same request succeeds once space is freed);
/// - 408, 413 and 503 on every route: the request's time limit, the body size limit (a
///   declared `Content-Length` is checked first, whatever the route), and a server that
///   refuses a connection over its limit (or whose ledger is closed).
///
/// A response a route's annotation already describes keeps its description (and gets the error
/// body if it named none).
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let path_takes_input = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for (records, operation) in [(false, item.get.as_mut()), (true, item.post.as_mut())] {
                let Some(operation) = operation else {
                    continue;
                };
                let takes_input = path_takes_input
                    || operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let needs_token = path != "/healthz";
                let mut answers = Vec::new();
                if takes_input {
                    answers.push(("400", "Input that does not parse or breaks a rule"));
                }
                if needs_token {
                    answers.push(("401", "No bearer token, or an unknown one"));
                }
                if needs_token && records {
                    answers.push(("403", "The token's role may only read"));
                }
                if records {
                    answers.push((
                        "507",
                        "Too little free space on the ledger's disk for the commit (`disk_full`): nothing was written",
                    ));
                }
                answers.extend([
                    (
                        "408",
                        "The request took longer than the server's time limit",
                    ),
                    (
                        "413",
                        "The body (or its declared length) is over the size limit",
                    ),
                    (
                        "503",
                        "Too many connections (`too_many_connections`), or the ledger is closed",
                    ),
                ]);
                for (status, description) in answers {
                    let response = operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                    // An annotation that named the status without its body: the error body.
                    if let utoipa::openapi::RefOr::T(response) = response {
                        if response.content.is_empty() {
                            response.content = error(description).content;
                        }
                    }
                }
            }
        }
    }
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
