//! Queries: list, show, history, summary, diff, actors, and rebuilding projections.

use std::path::Path;

use comfy_table::Cell;
use ikrar_core::{Moment, Status};
use ikrar_state::{Basis, KnownAt, ListFilter, Projection};

use super::{open_state, print_json, resolve_id, state_failure, usage};
use crate::args::BasisArgs;
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

fn basis(args: &BasisArgs) -> Result<Basis, Failure> {
    Ok(Basis::new(
        args.known_at.as_deref().map(parse_known_at).transpose()?,
        args.as_of
            .as_deref()
            .map(|t| parse_moment("as-of", t))
            .transpose()?,
    ))
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

pub(super) fn list(
    path: &Path,
    status: Option<String>,
    party: Option<String>,
    basis_args: &BasisArgs,
    format: Format,
) -> Result<(), Failure> {
    let status = status
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| usage(format!("--status: {e}")))
        })
        .transpose()?;
    let basis = basis(basis_args)?;
    let state = open_state(path)?;
    let list = state
        .list(&ListFilter { status, party }, &basis)
        .map_err(state_failure)?;
    match format {
        Format::Table => {
            if list.is_empty() {
                println!("no commitments match");
            } else {
                println!("{}", render::commitments_table(&list));
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

pub(super) fn show(
    path: &Path,
    id: &str,
    basis_args: &BasisArgs,
    format: Format,
) -> Result<(), Failure> {
    let basis = basis(basis_args)?;
    let state = open_state(path)?;
    let id = resolve_id(&state, id)?;
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
    if state.is_meeting(id) {
        let meeting = state
            .meeting(id, &basis)
            .map_err(state_failure)?
            .ok_or_else(|| not_in_basis("meeting"))?;
        match format {
            Format::Table => println!("{}", render::meeting_detail(&meeting)),
            Format::Csv => render::print_csv(
                &[
                    "meeting_id",
                    "title",
                    "held_on",
                    "location",
                    "commitment_ids",
                    "version",
                ],
                [vec![
                    meeting.meeting_id.to_string(),
                    meeting.title.clone(),
                    meeting.held_on.to_string(),
                    meeting.location.clone().unwrap_or_default(),
                    meeting
                        .commitment_ids
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(";"),
                    meeting.version.to_string(),
                ]],
            )?,
            _ => print_json(&meeting),
        }
        return Ok(());
    }
    let commitment = state
        .commitment(id, &basis)
        .map_err(state_failure)?
        .ok_or_else(|| not_in_basis("commitment"))?;
    match format {
        Format::Table => {
            let titles: Vec<(String, String)> = commitment
                .meetings
                .iter()
                .map(|m| {
                    let title = state
                        .meeting(*m, &basis)
                        .ok()
                        .flatten()
                        .map_or_else(String::new, |v| v.title);
                    (m.to_string(), title)
                })
                .collect();
            println!("{}", render::commitment_detail(&commitment, &titles));
        }
        Format::Csv => render::print_csv(
            &render::COMMITMENT_CSV_HEADER,
            [render::commitment_csv_row(&commitment)],
        )?,
        _ => print_json(&commitment),
    }
    Ok(())
}

pub(super) fn history(path: &Path, id: &str, format: Format) -> Result<(), Failure> {
    let state = open_state(path)?;
    let id = resolve_id(&state, id)?;
    let history = ikrar_audit::history(state.ledger(), id).map_err(|e| match e {
        ikrar_audit::Error::Core(core) => Failure::from(core),
        other => Failure::new("not_found", exit::OPERATIONAL, other.to_string()),
    })?;
    match format {
        Format::Table => {
            println!(
                "history of {} ({} events)",
                history.stream,
                history.entries.len()
            );
            let mut t = render::table(&[
                "position",
                "recorded at",
                "type",
                "actor",
                "effective",
                "what",
                "retracted by",
            ]);
            for e in &history.entries {
                let r = &e.record;
                let what = describe(&r.data, r.reason.as_deref());
                let retracted = e.retracted_by.map_or(String::new(), |id| id.to_string());
                t.add_row(vec![
                    Cell::new(r.position),
                    Cell::new(render::readable_instant(&r.recorded_at)),
                    Cell::new(r.data.type_name()),
                    Cell::new(&r.actor),
                    Cell::new(r.effective),
                    Cell::new(what),
                    if e.retracted_by.is_some() {
                        Cell::new(retracted).fg(comfy_table::Color::Red)
                    } else {
                        Cell::new(retracted)
                    },
                ]);
            }
            println!("{t}");
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

pub(super) fn summary(path: &Path, basis_args: &BasisArgs, format: Format) -> Result<(), Failure> {
    let basis = basis(basis_args)?;
    let state = open_state(path)?;
    let summary = state.summary(&basis).map_err(state_failure)?;
    print_summary(&summary, format)
}

pub(super) fn print_summary(summary: &ikrar_state::Summary, format: Format) -> Result<(), Failure> {
    match format {
        Format::Table => {
            let (heading, by_status, by_party) = render::summary_tables(summary);
            println!("{heading}\n{by_status}\n{by_party}");
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

pub(super) fn diff(
    path: &Path,
    from: &str,
    to: &str,
    known_at: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let from = parse_moment("from", from)?;
    let to = parse_moment("to", to)?;
    let known_at = known_at.map(parse_known_at).transpose()?;
    let state = open_state(path)?;
    let diff = state.diff(known_at, from, to).map_err(state_failure)?;
    match format {
        Format::Table => {
            println!(
                "from {} to {}: {} added, {} removed, {} changed",
                render::readable_instant(&diff.from),
                render::readable_instant(&diff.to),
                diff.added.len(),
                diff.removed.len(),
                diff.changed.len()
            );
            if !(diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty()) {
                println!("{}", render::diff_table(&diff));
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

pub(super) fn actors(path: &Path, format: Format) -> Result<(), Failure> {
    let ledger = ikrar_core::Ledger::open(path)?;
    let actors = ikrar_audit::actors(&ledger).map_err(|e| match e {
        ikrar_audit::Error::Core(core) => Failure::from(core),
        other => Failure::new("error", exit::OPERATIONAL, other.to_string()),
    })?;
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
            println!("{t}");
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
    let ledger = ikrar_core::Ledger::open(path)?;
    let state = Projection::open(&ledger).map_err(state_failure)?;
    let bar = progress(ledger.head().tree_size, "rebuilding");
    state
        .rebuild(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(state_failure)?;
    state.flush().map_err(state_failure)?;
    bar.finish_and_clear();
    match format {
        Format::Table => println!(
            "rebuilt the state projection from {} events",
            state.reached()
        ),
        _ => print_json(&serde_json::json!({"rebuilt": ["state"], "tree_size": state.reached()})),
    }
    Ok(())
}
