//! The list routes (SPEC §7): commitments, meetings and recorded events, filtered as the CLI
//! filters them and paged with `limit`/`offset`, `X-Total-Count` and an RFC 8288
//! `Link: <…>; rel="next"` while more remain. The body stays a JSON array.

use axum::extract::{OriginalUri, Query, State};
use axum::http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LINK};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use ikrar_core::{Moment, Status};
use ikrar_state::{ListFilter, MeetingFilter, Page, Sort};
use serde::Deserialize;

use crate::blocking::storage;
use crate::error::ApiError;
use crate::routes::{json_ok, parse_id, AppState, BasisQuery};

/// Items per page of a list when `limit` is not given.
pub const PAGE_ITEMS_DEFAULT: usize = 100;
/// Items per page of a list at most.
pub const PAGE_ITEMS_MAX: usize = 1_000;
/// Bytes of records per page of `GET /v1/events` at most (a page holds at least one record):
/// at 64 KiB a record, 1,000 records would be 64 MB in one answer.
pub const EVENTS_PAGE_BYTES_MAX: usize = 4 * 1024 * 1024;
const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<Page, ApiError> {
    let limit = match limit {
        None => PAGE_ITEMS_DEFAULT,
        Some(n) if (1..=PAGE_ITEMS_MAX as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit: {n} is not between 1 and {PAGE_ITEMS_MAX}"
            )))
        }
    };
    let offset = match offset {
        None => 0,
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => return Err(ApiError::bad_request(format!("offset: {n} is negative"))),
    };
    Ok(Page {
        offset,
        limit: Some(limit),
    })
}

/// The request's own URI with `name` set to `value` (every other parameter kept), for `Link`.
fn with_param(uri: &Uri, name: &str, value: u64) -> String {
    let mut pairs: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_string)
        .collect();
    pairs.push(format!("{name}={value}"));
    format!("{}?{}", uri.path(), pairs.join("&"))
}

/// A JSON array body with the paging headers.
fn paged(body: Response, total: u64, next: Option<String>) -> Response {
    let mut response = body;
    let headers = response.headers_mut();
    headers.insert(TOTAL_COUNT, HeaderValue::from(total));
    if let Some(next) =
        next.and_then(|n| HeaderValue::from_str(&format!("<{n}>; rel=\"next\"")).ok())
    {
        headers.insert(LINK, next);
    }
    response
}

fn parse<T: std::str::FromStr>(name: &str, text: Option<&str>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| {
        t.parse::<T>()
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
    })
    .transpose()
}

/// `GET /v1/commitments` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this counterparty (case- and accent-insensitive).
    pub party: Option<String>,
    /// Only this theme.
    pub theme: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Words of the title or summary (each matches the start of a word; case- and
    /// accent-insensitive).
    pub search: Option<String>,
    /// Only those due before this day (`YYYY-MM-DD`).
    pub due_before: Option<String>,
    /// Only overdue ones (`true`): due before `as_of` and not fulfilled, partially fulfilled,
    /// withdrawn or superseded.
    pub overdue: Option<bool>,
    /// `recorded` (default), `made`, `due`, `status_since` (most recent first) or `title`.
    pub sort: Option<String>,
    /// Items per page (default 100, at most 1,000).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
    /// Valid time.
    pub as_of: Option<String>,
    /// Transaction time.
    pub known_at: Option<String>,
}

impl ListQuery {
    /// The library's filter for these parameters.
    pub fn filter(&self) -> Result<ListFilter, ApiError> {
        Ok(ListFilter {
            status: parse::<Status>("status", self.status.as_deref())?,
            party: self.party.clone(),
            theme: self.theme.clone(),
            owner: self.owner.clone(),
            search: self.search.clone(),
            due_before: self
                .due_before
                .as_deref()
                .map(|d| {
                    ikrar_core::moment::parse_date(d)
                        .map_err(|e| ApiError::bad_request(format!("due_before: {e}")))
                })
                .transpose()?,
            overdue: self.overdue.unwrap_or(false),
            sort: parse::<Sort>("sort", self.sort.as_deref())?.unwrap_or_default(),
        })
    }
}

/// Commitments in a basis, filtered and paged.
#[utoipa::path(get, path = "/v1/commitments", tag = "state", params(ListQuery),
    responses(
        (status = 200, body = Vec<ikrar_state::CommitmentView>,
         headers(("X-Total-Count" = u64, description = "Commitments that pass the filters"),
                 ("Link" = String, description = "`<…>; rel=\"next\"` while more remain"))),
        (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn commitments(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter()?;
    let page = page(q.limit, q.offset)?;
    let basis = BasisQuery {
        as_of: q.as_of.clone(),
        known_at: q.known_at.clone(),
    }
    .basis()?;
    let listed = storage(move || Ok(app.state.list_page(&filter, page, &basis)?)).await?;
    let end = page.offset.saturating_add(listed.items.len());
    let next = (end < listed.total).then(|| with_param(&uri, "offset", end as u64));
    Ok(paged(json_ok(&listed.items), listed.total as u64, next))
}

/// `GET /v1/meetings` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MeetingsQuery {
    /// Only meetings that name this commitment.
    pub commitment: Option<String>,
    /// Only meetings held at or after this date or instant.
    pub from: Option<String>,
    /// Only meetings held at or before this date (its whole day) or instant.
    pub to: Option<String>,
    /// Words of the title, location or outcomes.
    pub search: Option<String>,
    /// Items per page (default 100, at most 1,000).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
    /// Valid time.
    pub as_of: Option<String>,
    /// Transaction time.
    pub known_at: Option<String>,
}

/// Meetings in a basis, by the time they were held, filtered and paged.
#[utoipa::path(get, path = "/v1/meetings", tag = "state", params(MeetingsQuery),
    responses(
        (status = 200, body = Vec<ikrar_state::MeetingView>,
         headers(("X-Total-Count" = u64, description = "Meetings that pass the filters"),
                 ("Link" = String, description = "`<…>; rel=\"next\"` while more remain"))),
        (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn meetings(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<MeetingsQuery>,
) -> Result<Response, ApiError> {
    let filter = MeetingFilter {
        commitment: q.commitment.as_deref().map(parse_id).transpose()?,
        from: parse::<Moment>("from", q.from.as_deref())?,
        to: parse::<Moment>("to", q.to.as_deref())?,
        search: q.search.clone(),
    };
    let page = page(q.limit, q.offset)?;
    let basis = BasisQuery {
        as_of: q.as_of.clone(),
        known_at: q.known_at.clone(),
    }
    .basis()?;
    let listed = storage(move || Ok(app.state.meetings(&filter, page, &basis)?)).await?;
    let end = page.offset.saturating_add(listed.items.len());
    let next = (end < listed.total).then(|| with_param(&uri, "offset", end as u64));
    Ok(paged(json_ok(&listed.items), listed.total as u64, next))
}

/// `GET /v1/events` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// The first position (default 0).
    pub from: Option<String>,
    /// Records per page (default 100, at most 1,000; fewer when they pass 4 MiB).
    pub limit: Option<i64>,
}

/// Recorded events from a position, exactly as stored; `Link` gives the next page.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses(
        (status = 200, description = "A JSON array of records (SPEC §2.3)",
         headers(("X-Total-Count" = u64, description = "Events in the ledger (its tree size)"),
                 ("Link" = String, description = "`<…>; rel=\"next\"` while more remain"))),
        (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn events(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let from = match q.from.as_deref() {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("from: `{text}` is not a position (0 to 2^64-1)"))
        })?,
    };
    let limit = page(q.limit, None)?.limit.unwrap_or(PAGE_ITEMS_DEFAULT);
    let ledger = app.ledger.clone();
    let (body, next_from) = storage(move || events_page(&ledger, from, limit)).await?;
    let tree_size = app.ledger.head().tree_size;
    let next = next_from
        .filter(|n| *n < tree_size)
        .map(|n| with_param(&uri, "from", n));
    let body = ([(CONTENT_TYPE, "application/json")], body).into_response();
    Ok(paged(body, tree_size, next))
}

/// The records of one page as a JSON array, exactly as stored, and the position after them.
fn events_page(
    ledger: &ikrar_core::Ledger,
    from: u64,
    limit: usize,
) -> Result<(String, Option<u64>), ApiError> {
    let mut body = String::from("[");
    let mut next = None;
    for (i, r) in ledger.read_range(from, limit)?.iter().enumerate() {
        if i > 0 && body.len() + r.as_json().len() > EVENTS_PAGE_BYTES_MAX {
            break;
        }
        if i > 0 {
            body.push(',');
        }
        body.push_str(r.as_json());
        next = Some(r.record.position + 1);
    }
    body.push(']');
    Ok((body, next))
}
