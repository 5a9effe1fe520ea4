//! Queries: list, show, history, summary, diff, actors, and rebuilding projections.

use std::path::Path;

use comfy_table::Cell;
use ikrar_core::Moment;
use ikrar_state::{Basis, KnownAt, ListFilter, MeetingFilter, Page, Projection, Sort};

use super::suggest::parse_status;
use super::{print_json, resolve_id, state_failure, usage};
use crate::access::{Access, Kind, TypedBasis};
use crate::args::{BasisArgs, ListArgs};
use crate::failure::{exit, Failure};
use crate::output::{progress, Format};
use crate::render;

fn parse_moment(flag: &str, text: &str) -> Result<Moment, Failure> {
    text.parse::<Moment>()
        .map_err(|e| usage(format!("--{flag}: {e}")))
}

fn parse_known_at(text: &str) -> Result<KnownAt, Failure> {
    text.parse::<KnownAt>()
        .map_err(|e| usage(format!("--known-at: {e}")))
}

fn basis(args: &BasisArgs) -> Result<TypedBasis, Failure> {
    Ok(TypedBasis {
        basis: Basis::new(
            args.known_at.as_deref().map(parse_known_at).transpose()?,
            args.as_of
                .as_deref()
                .map(|t| parse_moment("as-of", t))
                .transpose()?,
        ),
        as_of: args.as_of.clone(),
        known_at: args.known_at.clone(),
    })
}

fn list_filter(args: &ListArgs) -> Result<ListFilter, Failure> {
    Ok(ListFilter {
        status: args
            .status
            .as_deref()
            .map(|s| parse_status("--status", s))
            .transpose()?,
        party: args.party.clone(),
        theme: args.theme.clone(),
        owner: args.owner.clone(),
        search: args.search.clone(),
        due_before: args
            .due_before
            .as_deref()
            .map(|d| {
                ikrar_core::moment::parse_date(d).map_err(|e| usage(format!("--due-before: {e}")))
            })
            .transpose()?,
        overdue: args.overdue,
        sort: args
            .sort
            .as_deref()
            .map(|s| s.parse::<Sort>().map_err(|e| usage(format!("--sort: {e}"))))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// Prints a list of JSON-able items in the chosen machine format.
fn print_items<T: serde::Serialize>(items: &[T], format: Format) {
    match format {
        Format::Jsonl => {
            for item in items {
                print_json(item);
            }
        }
        _ => print_json(&items),
    }
}

pub(super) async fn list(
    path: &Path,
    args: &ListArgs,
    basis_args: &BasisArgs,
    format: Format,
) -> Result<(), Failure> {
    let filter = list_filter(args)?;
    let basis = basis(basis_args)?;
    let access = Access::open(path)?;
    let page = Page {
        offset: args.offset,
        limit: args.limit,
    };
    let listed = access.list(&filter, page, &basis).await?;
    let list = listed.items;
    match format {
        Format::Table => {
            if list.is_empty() {
                outln!("no commitments match");
            } else {
                let others =
                    super::look_alikes(&access, list.iter().map(|c| c.commitment_id)).await?;
                outln!("{}", render::commitments_table(&list, &others));
                if list.len() < listed.total {
                    outln!(
                        "{} of {} (--offset {} --limit N for more)",
                        render::count(list.len(), "commitment"),
                        listed.total,
                        args.offset + list.len()
                    );
                }
            }
        }
        Format::Csv => render::print_csv(
            &render::COMMITMENT_CSV_HEADER,
            list.iter().map(render::commitment_csv_row),
        )?,
        _ => print_items(&list, format),
    }
    Ok(())
}

/// `ikrar meetings` options.
pub(super) struct MeetingsArgs {
    pub(super) commitment: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) search: Option<String>,
    pub(super) limit: Option<usize>,
    pub(super) offset: usize,
}

pub(super) async fn meetings(
    path: &Path,
    args: MeetingsArgs,
    basis_args: &BasisArgs,
    format: Format,
) -> Result<(), Failure> {
    let from = args
        .from
        .as_deref()
        .map(|t| parse_moment("from", t))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| parse_moment("to", t))
        .transpose()?;
    let basis = basis(basis_args)?;
    let access = Access::open(path)?;
    let commitment = match args.commitment.as_deref() {
        Some(text) => Some(resolve_id(&access, text, &[Kind::Commitment]).await?.0),
        None => None,
    };
    let filter = MeetingFilter {
        commitment,
        from,
        to,
        search: args.search,
    };
    let page = Page {
        offset: args.offset,
        limit: args.limit,
    };
    let listed = access.meetings(&filter, page, &basis).await?;
    let list = listed.items;
    match format {
        Format::Table => {
            if list.is_empty() {
                outln!("no meetings match");
            } else {
                let others = super::look_alikes(&access, list.iter().map(|m| m.meeting_id)).await?;
                outln!("{}", render::meetings_table(&list, &others));
                if list.len() < listed.total {
                    outln!(
                        "{} of {} (--offset {} --limit N for more)",
                        render::count(list.len(), "meeting"),
                        listed.total,
                        args.offset + list.len()
                    );
                }
            }
        }
        Format::Csv => render::print_csv(
            &render::MEETING_CSV_HEADER,
            list.iter().map(render::meeting_csv_row),
        )?,
        _ => print_items(&list, format),
    }
    Ok(())
}

pub(super) async fn show(
    path: &Path,
    id: &str,
    basis_args: &BasisArgs,
    format: Format,
) -> Result<(), Failure> {
    let basis = basis(basis_args)?;
    let access = Access::open(path)?;
    let (id, kind) = resolve_id(&access, id, &[Kind::Commitment, Kind::Meeting]).await?;
    let not_in_basis = |kind: &str| {
        Failure::new(
            "not_found",
            exit::OPERATIONAL,
            format!("{kind} {id} does not exist in this basis"),
        )
        .with_context(
            "it may be made later in valid time, known later, or retracted; see `ikrar history`",
        )
    };
    if kind == Kind::Meeting {
        let meeting = access
            .meeting(id, &basis)
            .await?
            .ok_or_else(|| not_in_basis("meeting"))?;
        match format {
            Format::Table => outln!("{}", render::meeting_detail(&meeting)),
            Format::Csv => render::print_csv(
                &render::MEETING_CSV_HEADER,
                [render::meeting_csv_row(&meeting)],
            )?,
            _ => print_json(&meeting),
        }
        return Ok(());
    }
    let commitment = access
        .commitment(id, &basis)
        .await?
        .ok_or_else(|| not_in_basis("commitment"))?;
    match format {
        Format::Table => {
            let mut titles: Vec<(String, String)> = Vec::new();
            for m in &commitment.meetings {
                let title = access
                    .meeting(*m, &basis)
                    .await
                    .ok()
                    .flatten()
                    .map_or_else(String::new, |v| v.title);
                titles.push((m.to_string(), title));
            }
            outln!("{}", render::commitment_detail(&commitment, &titles));
        }
        Format::Csv => render::print_csv(
            &render::COMMITMENT_CSV_HEADER,
            [render::commitment_csv_row(&commitment)],
        )?,
        _ => print_json(&commitment),
    }
    Ok(())
}

pub(super) async fn history(path: &Path, id: &str, format: Format) -> Result<(), Failure> {
    let access = Access::open(path)?;
    let (id, kind) = resolve_id(&access, id, &[Kind::Commitment, Kind::Meeting]).await?;
    let history = access.history(id, kind).await?;
    match format {
        Format::Table => {
            outln!(
                "history of {} ({})",
                history.stream,
                render::count(history.entries.len(), "event")
            );
            let mut t = render::table(&[
                "position",
                "event",
                "recorded at",
                "type",
                "actor",
                "effective",
                "what",
                "retracted by",
            ]);
            let shown: Vec<uuid::Uuid> = history
                .entries
                .iter()
                .map(|e| e.record.event_id)
                .chain(history.entries.iter().filter_map(|e| e.retracted_by))
                .collect();
            let others = super::look_alikes(&access, shown.iter().copied()).await?;
            let short = render::ShortIds::of(shown.into_iter().chain(others));
            for e in &history.entries {
                let r = &e.record;
                let what = describe(&r.data, r.reason.as_deref());
                let retracted = e.retracted_by.map_or(String::new(), |id| short.get(id));
                t.add_row(vec![
                    Cell::new(r.position),
                    Cell::new(short.get(r.event_id)),
                    Cell::new(render::readable_instant(&r.recorded_at)),
                    Cell::new(r.data.type_name()),
                    Cell::new(&r.actor),
                    Cell::new(render::readable_moment(&r.effective)),
                    Cell::new(what),
                    if e.retracted_by.is_some() {
                        Cell::new(retracted).fg(comfy_table::Color::Red)
                    } else {
                        Cell::new(retracted)
                    },
                ]);
            }
            render::keep_whole(&mut t, &[0, 1, 2, 7]);
            outln!("{t}");
        }
        Format::Csv => render::print_csv(
            &[
                "position",
                "event_id",
                "recorded_at",
                "type",
                "actor",
                "effective",
                "what",
                "reason",
                "retracted_by",
            ],
            history.entries.iter().map(|e| {
                let r = &e.record;
                vec![
                    r.position.to_string(),
                    r.event_id.to_string(),
                    ikrar_core::moment::format_instant(&r.recorded_at),
                    r.data.type_name().to_string(),
                    r.actor.clone(),
                    r.effective.to_string(),
                    describe(&r.data, None),
                    r.reason.clone().unwrap_or_default(),
                    e.retracted_by.map(|id| id.to_string()).unwrap_or_default(),
                ]
            }),
        )?,
        _ => print_items(&history.entries, format),
    }
    Ok(())
}

/// One line about what an event says.
fn describe(data: &ikrar_core::EventData, reason: Option<&str>) -> String {
    use ikrar_core::EventData as E;
    let what = match data {
        E::CommitmentMade(d) => format!("made: {}", d.title),
        E::CommitmentAmended(d) => {
            let mut fields = Vec::new();
            if let Some(t) = &d.title {
                fields.push(format!("title → {t}"));
            }
            if d.summary.is_some() {
                fields.push("summary".into());
            }
            if let Some(o) = &d.owner {
                fields.push(format!("owner → {o}"));
            }
            if let Some(p) = &d.parties {
                fields.push(format!("parties → {}", p.join(", ")));
            }
            if let Some(t) = &d.themes {
                fields.push(format!("themes → {}", t.join(", ")));
            }
            if let Some(due) = d.due {
                fields.push(format!("due → {due}"));
            }
            format!("amended: {}", fields.join("; "))
        }
        E::CommitmentStatusChanged(d) => match &d.label {
            Some(l) => format!("status → {} ({l})", d.status),
            None => format!("status → {}", d.status),
        },
        E::MeetingHeld(d) => format!("meeting held: {}", d.title),
        E::MeetingLinked(d) => format!("linked commitment {}", d.commitment_id),
        E::EventRetracted(d) => format!("retracted event {}", d.event_id),
    };
    match reason {
        Some(r) => format!("{what}\nwhy: {r}"),
        None => what,
    }
}

pub(super) async fn summary(
    path: &Path,
    basis_args: &BasisArgs,
    format: Format,
) -> Result<(), Failure> {
    let basis = basis(basis_args)?;
    let access = Access::open(path)?;
    let summary = access.summary(&basis).await?;
    print_summary(&summary, format)
}

pub(super) fn print_summary(summary: &ikrar_state::Summary, format: Format) -> Result<(), Failure> {
    match format {
        Format::Table => {
            let (heading, by_status, by_party) = render::summary_tables(summary);
            if summary.by_party.is_empty() {
                outln!("{heading}\n{by_status}\nno counterparties recorded");
            } else {
                outln!("{heading}\n{by_status}\n{by_party}");
            }
        }
        Format::Csv => {
            let rows = summary
                .by_status
                .iter()
                .map(|(s, n)| vec!["status".to_string(), s.0.to_string(), n.to_string()])
                .chain(
                    summary
                        .by_party
                        .iter()
                        .map(|(p, n)| vec!["party".to_string(), p.clone(), n.to_string()]),
                );
            render::print_csv(&["kind", "name", "commitments"], rows)?;
        }
        _ => print_json(summary),
    }
    Ok(())
}

pub(super) async fn diff(
    path: &Path,
    from_text: &str,
    to_text: &str,
    known_at_text: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let from = parse_moment("from", from_text)?;
    let to = parse_moment("to", to_text)?;
    let known_at = known_at_text
        .map(|k| Ok::<_, Failure>((parse_known_at(k)?, k.to_string())))
        .transpose()?;
    let access = Access::open(path)?;
    let diff = access
        .diff(
            known_at,
            (from, from_text.to_string()),
            (to, to_text.to_string()),
        )
        .await?;
    match format {
        Format::Table => {
            outln!(
                "from {} to {}: {} added, {} removed, {} changed",
                render::readable_instant(&diff.from),
                render::readable_instant(&diff.to),
                diff.added.len(),
                diff.removed.len(),
                diff.changed.len()
            );
            if !(diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty()) {
                outln!("{}", render::diff_table(&diff));
            }
        }
        Format::Csv => {
            let rows = diff
                .added
                .iter()
                .map(|c| {
                    vec![
                        "added".into(),
                        c.commitment_id.to_string(),
                        c.title.clone(),
                        String::new(),
                        c.status.to_string(),
                    ]
                })
                .chain(diff.removed.iter().map(|c| {
                    vec![
                        "removed".into(),
                        c.commitment_id.to_string(),
                        c.title.clone(),
                        c.status.to_string(),
                        String::new(),
                    ]
                }))
                .chain(diff.changed.iter().map(|c| {
                    let (from, to) = c
                        .status
                        .as_ref()
                        .map_or((String::new(), String::new()), |s| {
                            (s.from.to_string(), s.to.to_string())
                        });
                    vec![
                        "changed".into(),
                        c.commitment_id.to_string(),
                        c.title.clone(),
                        from,
                        to,
                    ]
                }));
            render::print_csv(
                &[
                    "change",
                    "commitment_id",
                    "title",
                    "status_from",
                    "status_to",
                ],
                rows,
            )?;
        }
        _ => print_json(&diff),
    }
    Ok(())
}

pub(super) async fn actors(path: &Path, format: Format) -> Result<(), Failure> {
    let access = Access::open(path)?;
    let actors = access.actors().await?;
    match format {
        Format::Table => {
            let mut t = render::table(&[
                "actor",
                "events",
                "retractions",
                "first recorded",
                "last recorded",
            ]);
            for a in &actors {
                t.add_row(vec![
                    a.actor.clone(),
                    a.events.to_string(),
                    a.retractions.to_string(),
                    a.first_recorded_at.clone(),
                    a.last_recorded_at.clone(),
                ]);
            }
            outln!("{t}");
        }
        Format::Csv => render::print_csv(
            &[
                "actor",
                "events",
                "retractions",
                "first_recorded_at",
                "last_recorded_at",
            ],
            actors.iter().map(|a| {
                vec![
                    a.actor.clone(),
                    a.events.to_string(),
                    a.retractions.to_string(),
                    a.first_recorded_at.clone(),
                    a.last_recorded_at.clone(),
                ]
            }),
        )?,
        _ => print_items(&actors, format),
    }
    Ok(())
}

pub(super) fn rebuild(path: &Path, format: Format) -> Result<(), Failure> {
    if crate::access::remote::Remote::connect(path).is_some() {
        return Err(Failure::new(
            "locked",
            exit::OPERATIONAL,
            "a running `ikrar serve` holds this ledger and keeps its projections live",
        )
        .with_context("stop the server to rebuild them from the log"));
    }
    let ledger = ikrar_core::Ledger::open(path)?;
    let bar = progress(ledger.head().tree_size, "rebuilding");
    let mut on_progress = |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let reached = match ledger.path().map(Path::to_path_buf) {
        // A ledger directory is rebuilt in parts, the ledger closed and opened again as the
        // log is read: memory bounded whatever the ledger's size (`ikrar_state::rebuild_directory`).
        Some(dir) => {
            drop(ledger);
            ikrar_state::rebuild_directory(&dir, &mut on_progress).map_err(state_failure)?
        }
        None => {
            let state = Projection::open(&ledger).map_err(state_failure)?;
            state.rebuild(&mut on_progress).map_err(state_failure)?;
            state.flush().map_err(state_failure)?;
            state.reached()
        }
    };
    bar.finish_and_clear();
    match format {
        Format::Table => outln!("rebuilt the state projection from {reached} events"),
        _ => print_json(&serde_json::json!({"rebuilt": ["state"], "tree_size": reached})),
    }
    Ok(())
}
