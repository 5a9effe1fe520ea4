//! The reading pages of SPEC §10. Each is one projection query (never a fold from scratch)
//! or one stream read, run off the async workers, rendered by a template checked at compile
//! time.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use ikrar_core::moment::format_instant;
use ikrar_core::{Status, StoredRecord};
use ikrar_state::{ListFilter, Page, Sort};
use serde::Deserialize;
use uuid::Uuid;

use crate::assets::{names, Assets};
use crate::basis::{Bar, BasisQuery, Chosen};
use crate::chart::Chart;
use crate::rows::{CommitmentRow, EventRow};
use crate::session::Who;
use crate::text::query;
use crate::{html, Console, Error};

/// Commitments a list page shows.
pub const COMMITMENTS_PER_PAGE: usize = 50;
/// Events a log page shows.
pub const EVENTS_PER_PAGE: usize = 100;
/// Events the dashboard shows before live ones arrive.
const LATEST_EVENTS: usize = 10;
/// Points of the dashboard's chart.
const CHART_POINTS: usize = 24;

/// What every page's frame shows: the navigation, who is signed in, the basis bar.
pub(crate) struct Frame {
    pub(crate) title: String,
    pub(crate) assets: Assets,
    pub(crate) who: Who,
    pub(crate) csrf: String,
    pub(crate) bar: Option<Bar>,
    /// The basis as a query string, for the navigation's links.
    pub(crate) basis_q: String,
    /// The basis as given, for hidden inputs of the page's own forms.
    pub(crate) basis_keep: Vec<(&'static str, String)>,
    pub(crate) nav: &'static str,
}

impl Frame {
    pub(crate) fn new(
        console: &Console,
        who: &Who,
        title: impl Into<String>,
        nav: &'static str,
        chosen: Option<&Chosen>,
        bar: Option<Bar>,
    ) -> Frame {
        Frame {
            title: title.into(),
            assets: names(),
            csrf: console.csrf(&who.session),
            who: who.clone(),
            bar,
            basis_q: chosen.map(|c| query(&c.pairs())).unwrap_or_default(),
            basis_keep: chosen
                .map(|c| {
                    c.pairs()
                        .into_iter()
                        .filter(|(_, v)| !v.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            nav,
        }
    }
}

/// An error, as a page.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) status: u16,
    pub(crate) title: String,
    pub(crate) message: String,
    pub(crate) assets: Assets,
}

pub(crate) async fn not_found() -> Error {
    Error::NotFound("no such page in the console".into())
}

/// The retraction (event id) of `record` known in the basis, if any.
fn retraction(
    console: &Console,
    record: &StoredRecord,
    chosen: &Chosen,
) -> Result<Option<Uuid>, Error> {
    let Some(at) = console.ledger().retraction_of(record.record.event_id)? else {
        return Ok(None);
    };
    if at >= chosen.resolved.tree_size {
        return Ok(None);
    }
    Ok(Some(console.ledger().read(at)?.record.event_id))
}

/// Events at positions `[from, to)`, newest first.
pub(crate) fn events_newest_first(
    console: &Console,
    chosen: &Chosen,
    from: u64,
    to: u64,
) -> Result<Vec<EventRow>, Error> {
    let records = console.ledger().read_range(
        from,
        usize::try_from(to.saturating_sub(from)).unwrap_or(usize::MAX),
    )?;
    let mut rows = Vec::with_capacity(records.len());
    for r in records.iter().rev() {
        rows.push(EventRow::of(
            &r.record,
            retraction(console, r, chosen)?,
            chosen,
        ));
    }
    Ok(rows)
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    f: Frame,
    total: u64,
    counts: Vec<(&'static str, u64)>,
    parties: Vec<(String, u64)>,
    chart: Chart,
    latest: Vec<EventRow>,
    feed_from: u64,
    live: bool,
    checkpoint: Option<(String, u64)>,
    /// The names of the witnesses checkpoints are submitted to.
    witnesses: Vec<String>,
    /// Their alarms, newest first (at most [`ALARMS_SHOWN`]), and how many there are in all.
    alarms: Vec<ikrar_tlog::client::Alarm>,
    alarms_total: usize,
}

/// Alarms the dashboard lists; the rest are in `LEDGER/witness-alarms.jsonl` and `ikrar verify`.
const ALARMS_SHOWN: usize = 10;

pub(crate) async fn dashboard(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Query(q): Query<BasisQuery>,
) -> Result<Response, Error> {
    console
        .blocking(move |c| {
            let chosen = q.choose(c)?;
            let basis = ikrar_state::Basis::new(
                Some(ikrar_state::KnownAt::TreeSize(chosen.resolved.tree_size)),
                Some(ikrar_core::Moment::Instant(chosen.resolved.as_of)),
            );
            let summary = c.projection().summary(&basis)?;
            let series = c.projection().status_series(&basis, CHART_POINTS)?;
            let size = chosen.resolved.tree_size;
            let latest =
                events_newest_first(c, &chosen, size.saturating_sub(LATEST_EVENTS as u64), size)?;
            // Kept beside a sled ledger by the witness client of `serve` (none on PostgreSQL).
            let alarms = c
                .ledger()
                .path()
                .map(ikrar_tlog::client::read_alarms)
                .unwrap_or_default();
            let mut parties: Vec<(String, u64)> = summary.by_party.clone().into_iter().collect();
            parties.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let page = Dashboard {
                total: summary.total,
                counts: Status::ALL
                    .iter()
                    .map(|s| (s.as_str(), summary.count(*s)))
                    .collect(),
                parties,
                chart: Chart::of(&series),
                latest,
                feed_from: size,
                // New events belong on the page only when it shows the ledger as it grows.
                live: chosen.known_at.is_empty(),
                checkpoint: c
                    .ledger()
                    .latest_checkpoint()?
                    .map(|cp| (cp.origin, cp.tree_size)),
                witnesses: c
                    .config
                    .witness_keys
                    .iter()
                    .map(|k| k.split('+').next().unwrap_or_default().to_string())
                    .collect(),
                alarms: alarms.iter().rev().take(ALARMS_SHOWN).cloned().collect(),
                alarms_total: alarms.len(),
                f: Frame::new(
                    c,
                    &who,
                    "Dashboard",
                    "dashboard",
                    Some(&chosen),
                    Some(Bar::new(c, &chosen, "/ui/", vec![])),
                ),
            };
            Ok(html(page.render()?))
        })
        .await
}

/// `/ui/commitments?…`: the list's filters, as strings (so that a bad one is shown, not lost).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(flatten)]
    basis: BasisQuery,
    status: Option<String>,
    party: Option<String>,
    theme: Option<String>,
    owner: Option<String>,
    search: Option<String>,
    overdue: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

fn opt(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_string()
}

#[derive(Template)]
#[template(path = "commitments.html")]
struct CommitmentsPage {
    f: Frame,
    rows: Vec<CommitmentRow>,
    total: usize,
    page: usize,
    pages: usize,
    first_shown: usize,
    last_shown: usize,
    prev: String,
    next: String,
    status: String,
    party: String,
    theme: String,
    owner: String,
    search: String,
    overdue: bool,
    sort: String,
    statuses: [Status; 8],
    sorts: [&'static str; 5],
}

pub(crate) async fn commitments(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Error> {
    console
        .blocking(move |c| {
            let chosen = q.basis.choose(c)?;
            let status = opt(&q.status);
            let sort = opt(&q.sort);
            let nonempty = |s: String| Some(s).filter(|s| !s.is_empty());
            let overdue = matches!(opt(&q.overdue).as_str(), "1" | "true" | "on" | "yes");
            let filter = ListFilter {
                status: nonempty(status.clone())
                    .map(|s| {
                        s.parse::<Status>()
                            .map_err(|e| Error::BadRequest(format!("status: {e}")))
                    })
                    .transpose()?,
                party: nonempty(opt(&q.party)),
                theme: nonempty(opt(&q.theme)),
                owner: nonempty(opt(&q.owner)),
                search: nonempty(opt(&q.search)),
                due_before: None,
                overdue,
                sort: nonempty(sort.clone())
                    .map(|s| {
                        s.parse::<Sort>()
                            .map_err(|e| Error::BadRequest(format!("sort: {e}")))
                    })
                    .transpose()?
                    .unwrap_or_default(),
            };
            let page: usize = match opt(&q.page).as_str() {
                "" => 1,
                p => p.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                    Error::BadRequest(format!("page: `{p}` is not a page number (1, 2, …)"))
                })?,
            };
            let listed = c.projection().list_page(
                &filter,
                Page {
                    offset: (page - 1).saturating_mul(COMMITMENTS_PER_PAGE),
                    limit: Some(COMMITMENTS_PER_PAGE),
                },
                &chosen.basis,
            )?;
            let pages = listed.total.div_ceil(COMMITMENTS_PER_PAGE).max(1);
            let keep: Vec<(&'static str, String)> = vec![
                ("status", status.clone()),
                ("party", opt(&q.party)),
                ("theme", opt(&q.theme)),
                ("owner", opt(&q.owner)),
                ("search", opt(&q.search)),
                ("overdue", if overdue { "1".into() } else { String::new() }),
                ("sort", sort.clone()),
            ];
            let page_link = |n: usize| {
                let mut pairs = keep.clone();
                pairs.extend(chosen.pairs());
                pairs.push(("page", n.to_string()));
                format!("/ui/commitments{}", query(&pairs))
            };
            let first_shown = (page - 1) * COMMITMENTS_PER_PAGE + 1;
            let view = CommitmentsPage {
                rows: listed
                    .items
                    .iter()
                    .map(|v| CommitmentRow::of(v, &chosen))
                    .collect(),
                total: listed.total,
                page,
                pages,
                first_shown: first_shown.min(listed.total),
                last_shown: (first_shown + listed.items.len()).saturating_sub(1),
                prev: if page > 1 {
                    page_link(page - 1)
                } else {
                    String::new()
                },
                next: if page < pages {
                    page_link(page + 1)
                } else {
                    String::new()
                },
                party: opt(&q.party),
                theme: opt(&q.theme),
                owner: opt(&q.owner),
                search: opt(&q.search),
                overdue,
                statuses: Status::ALL,
                sorts: Sort::NAMES,
                f: Frame::new(
                    c,
                    &who,
                    "Commitments",
                    "commitments",
                    Some(&chosen),
                    Some(Bar::new(c, &chosen, "/ui/commitments", keep.clone())),
                ),
                status,
                sort,
            };
            Ok(html(view.render()?))
        })
        .await
}

pub(crate) fn parse_id(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text.trim())
        .map_err(|e| Error::BadRequest(format!("`{text}` is not a UUID: {e}")))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn {
    f: Frame,
    next: String,
    error: Option<String>,
}

pub(crate) fn sign_in(
    console: &Console,
    who: &Who,
    next: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, Error> {
    let page = SignIn {
        f: Frame::new(console, who, "Sign in", "sign-in", None, None),
        next: next.to_string(),
        error,
    };
    Ok((status, html(page.render()?)).into_response())
}

pub(crate) use crate::subject::{commitment, diff, log, meeting};

/// Formats an instant as the pages show it.
pub(crate) fn instant(t: &chrono::DateTime<chrono::Utc>) -> String {
    format_instant(t)
}
