//! The pages of one subject (a commitment, a meeting), the diff of two valid times, and the log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use ikrar_core::{EventData, Moment, Status};
use ikrar_state::KnownAt;
use serde::Deserialize;

use crate::basis::{Bar, BasisQuery, Chosen};
use crate::pages::{parse_id, Frame, EVENTS_PER_PAGE};
use crate::rows::{CommitmentRow, EventRow};
use crate::session::Who;
use crate::text::{query, short};
use crate::{html, Console, Error};

/// A stretch of a commitment's status over valid time.
pub(crate) struct TimelineRow {
    pub(crate) from: String,
    pub(crate) status: &'static str,
    pub(crate) label: String,
}

/// A meeting as a commitment's page lists it.
pub(crate) struct MeetingRow {
    pub(crate) link: String,
    pub(crate) title: String,
    pub(crate) held_on: String,
}

#[derive(Template)]
#[template(path = "commitment.html")]
struct CommitmentPage {
    f: Frame,
    id: String,
    c: Option<CommitmentRow>,
    summary: String,
    themes: String,
    status_since: String,
    version: u64,
    stream_version: u64,
    timeline: Vec<TimelineRow>,
    trail: Vec<EventRow>,
    meetings: Vec<MeetingRow>,
}

pub(crate) async fn commitment(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
    Query(q): Query<BasisQuery>,
) -> Result<Response, Error> {
    console
        .blocking(move |c| {
            let id = parse_id(&id)?;
            let chosen = q.choose(c)?;
            let view = c.projection().commitment_in(id, &chosen.resolved)?;
            let history = ikrar_audit::history(c.ledger(), id)?;
            if history.stream.as_str().starts_with("meeting/") {
                return Err(Error::NotFound(format!(
                    "{id} is a meeting: see /ui/meetings/{id}"
                )));
            }
            let size = chosen.resolved.tree_size;
            let known: Vec<&ikrar_audit::HistoryEntry> = history
                .entries
                .iter()
                .filter(|e| e.record.position < size)
                .collect();
            // A retraction counts only once it is known in the basis.
            let retracted_by = |e: &ikrar_audit::HistoryEntry| {
                e.retracted_by
                    .filter(|r| known.iter().any(|k| k.record.event_id == *r))
            };
            let trail: Vec<EventRow> = known
                .iter()
                .map(|e| EventRow::of(&e.record, retracted_by(e), &chosen))
                .collect();
            let as_of = chosen.resolved.as_of;
            let mut living: Vec<&&ikrar_audit::HistoryEntry> = known
                .iter()
                .filter(|e| retracted_by(e).is_none() && e.record.effective.start() <= as_of)
                .filter(|e| {
                    matches!(
                        e.record.data,
                        EventData::CommitmentMade(_) | EventData::CommitmentStatusChanged(_)
                    )
                })
                .collect();
            living.sort_by_key(|e| (e.record.effective.start(), e.record.position));
            let timeline = living
                .iter()
                .map(|e| match &e.record.data {
                    EventData::CommitmentStatusChanged(s) => TimelineRow {
                        from: e.record.effective.to_string(),
                        status: s.status.as_str(),
                        label: s.label.clone().unwrap_or_default(),
                    },
                    _ => TimelineRow {
                        from: e.record.effective.to_string(),
                        status: Status::Announced.as_str(),
                        label: "made".into(),
                    },
                })
                .collect();
            let meetings = match &view {
                Some(v) => v
                    .meetings
                    .iter()
                    .filter_map(|m| c.projection().meeting(*m, &chosen.basis).ok().flatten())
                    .map(|m| MeetingRow {
                        link: chosen.link(&format!("/ui/meetings/{}", m.meeting_id)),
                        title: m.title,
                        held_on: m.held_on.to_string(),
                    })
                    .collect(),
                None => Vec::new(),
            };
            let title = view
                .as_ref()
                .map_or_else(|| format!("Commitment {}", short(&id)), |v| v.title.clone());
            let page = CommitmentPage {
                id: id.to_string(),
                c: view.as_ref().map(|v| CommitmentRow::of(v, &chosen)),
                summary: view
                    .as_ref()
                    .and_then(|v| v.summary.clone())
                    .unwrap_or_default(),
                themes: view
                    .as_ref()
                    .map(|v| v.themes.join(", "))
                    .unwrap_or_default(),
                status_since: view
                    .as_ref()
                    .map(|v| crate::pages::instant(&v.status_since))
                    .unwrap_or_default(),
                version: view.as_ref().map_or(0, |v| v.version),
                stream_version: view.as_ref().map_or(0, |v| v.stream_version),
                timeline,
                trail,
                meetings,
                f: Frame::new(
                    c,
                    &who,
                    title,
                    "commitments",
                    Some(&chosen),
                    Some(Bar::new(
                        c,
                        &chosen,
                        &format!("/ui/commitments/{id}"),
                        vec![],
                    )),
                ),
            };
            // Absent from this basis but recorded: the page still answers (its trail shows
            // when it came to be), so it is not a 404.
            Ok(html(page.render()?))
        })
        .await
}

#[derive(Template)]
#[template(path = "meeting.html")]
struct MeetingPage {
    f: Frame,
    title: String,
    held_on: String,
    location: String,
    participants: Vec<(String, String, String)>,
    outcomes: Vec<String>,
    commitments: Vec<CommitmentRow>,
}

pub(crate) async fn meeting(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
    Query(q): Query<BasisQuery>,
) -> Result<Response, Error> {
    console
        .blocking(move |c| {
            let id = parse_id(&id)?;
            let chosen = q.choose(c)?;
            let m = c.projection().meeting(id, &chosen.basis)?.ok_or_else(|| {
                Error::NotFound(format!("meeting {id} does not exist in this basis"))
            })?;
            let page = MeetingPage {
                held_on: m.held_on.to_string(),
                location: m.location.clone().unwrap_or_default(),
                participants: m
                    .participants
                    .iter()
                    .map(|p| {
                        (
                            p.name.clone(),
                            p.role.clone().unwrap_or_default(),
                            p.organisation.clone().unwrap_or_default(),
                        )
                    })
                    .collect(),
                outcomes: m.outcomes.clone(),
                commitments: m
                    .commitment_ids
                    .iter()
                    .filter_map(|cid| {
                        c.projection()
                            .commitment_in(*cid, &chosen.resolved)
                            .transpose()
                    })
                    .map(|v| v.map(|v| CommitmentRow::of(&v, &chosen)))
                    .collect::<Result<_, _>>()?,
                f: Frame::new(
                    c,
                    &who,
                    m.title.clone(),
                    "commitments",
                    Some(&chosen),
                    Some(Bar::new(c, &chosen, &format!("/ui/meetings/{id}"), vec![])),
                ),
                title: m.title,
            };
            Ok(html(page.render()?))
        })
        .await
}

/// `/ui/diff?from=&to=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DiffQuery {
    #[serde(flatten)]
    basis: BasisQuery,
    from: Option<String>,
    to: Option<String>,
}

/// One changed commitment in a diff.
pub(crate) struct ChangedRow {
    pub(crate) id: String,
    pub(crate) link: String,
    pub(crate) title: String,
    pub(crate) status: Option<(&'static str, &'static str)>,
    pub(crate) fields: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    f: Frame,
    from: String,
    to: String,
    shown: bool,
    added: Vec<CommitmentRow>,
    removed: Vec<CommitmentRow>,
    changed: Vec<ChangedRow>,
}

pub(crate) async fn diff(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, Error> {
    console
        .blocking(move |c| {
            let chosen = q.basis.choose(c)?;
            let from = q.from.clone().unwrap_or_default().trim().to_string();
            let to = q.to.clone().unwrap_or_default().trim().to_string();
            let moment = |name: &str, t: &str| {
                t.parse::<Moment>()
                    .map_err(|e| Error::BadRequest(format!("{name}: {e}")))
            };
            let mut page = DiffPage {
                shown: false,
                added: Vec::new(),
                removed: Vec::new(),
                changed: Vec::new(),
                f: Frame::new(
                    c,
                    &who,
                    "Diff",
                    "diff",
                    Some(&chosen),
                    Some(Bar::new(
                        c,
                        &chosen,
                        "/ui/diff",
                        vec![("from", from.clone()), ("to", to.clone())],
                    )),
                ),
                from: from.clone(),
                to: to.clone(),
            };
            if !from.is_empty() && !to.is_empty() {
                let d = c.projection().diff(
                    Some(KnownAt::TreeSize(chosen.resolved.tree_size)),
                    moment("from", &from)?,
                    moment("to", &to)?,
                )?;
                page.shown = true;
                page.added = d
                    .added
                    .iter()
                    .map(|v| CommitmentRow::of(v, &chosen))
                    .collect();
                page.removed = d
                    .removed
                    .iter()
                    .map(|v| CommitmentRow::of(v, &chosen))
                    .collect();
                page.changed = d
                    .changed
                    .iter()
                    .map(|ch| ChangedRow {
                        id: ch.commitment_id.to_string(),
                        link: chosen.link(&format!("/ui/commitments/{}", ch.commitment_id)),
                        title: ch.title.clone(),
                        status: ch.status.as_ref().map(|s| (s.from.as_str(), s.to.as_str())),
                        fields: ch
                            .fields
                            .iter()
                            .map(|(k, v)| (k.clone(), v.from.to_string(), v.to.to_string()))
                            .chain(ch.label.iter().map(|l| {
                                (
                                    "label".to_string(),
                                    format!("{:?}", l.from.clone().unwrap_or_default()),
                                    format!("{:?}", l.to.clone().unwrap_or_default()),
                                )
                            }))
                            .collect(),
                    })
                    .collect();
            }
            Ok(html(page.render()?))
        })
        .await
}

/// `/ui/log?from=`: `from` is the newest position shown.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(flatten)]
    basis: BasisQuery,
    from: Option<String>,
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    f: Frame,
    events: Vec<EventRow>,
    newer: String,
    older: String,
    tree_size: u64,
}

pub(crate) async fn log(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Query(q): Query<LogQuery>,
) -> Result<Response, Error> {
    console
        .blocking(move |c| {
            let chosen: Chosen = q.basis.choose(c)?;
            let size = chosen.resolved.tree_size;
            let top = match q.from.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => size.saturating_sub(1),
                Some(f) => f
                    .parse::<u64>()
                    .map_err(|_| Error::BadRequest(format!("from: `{f}` is not a position")))?
                    .min(size.saturating_sub(1)),
            };
            let page_size = EVENTS_PER_PAGE as u64;
            let bottom = (top + 1).saturating_sub(page_size);
            let events = if size == 0 {
                Vec::new()
            } else {
                crate::pages::events_newest_first(c, &chosen, bottom, top + 1)?
            };
            let link = |from: u64| {
                let mut pairs = chosen.pairs();
                pairs.push(("from", from.to_string()));
                format!("/ui/log{}", query(&pairs))
            };
            let page = LogPage {
                events,
                newer: if top + 1 < size {
                    link((top + page_size).min(size - 1))
                } else {
                    String::new()
                },
                older: if bottom > 0 {
                    link(bottom - 1)
                } else {
                    String::new()
                },
                tree_size: size,
                f: Frame::new(
                    c,
                    &who,
                    "Log",
                    "log",
                    Some(&chosen),
                    Some(Bar::new(
                        c,
                        &chosen,
                        "/ui/log",
                        vec![("from", q.from.clone().unwrap_or_default())],
                    )),
                ),
            };
            Ok(html(page.render()?))
        })
        .await
}
