//! Recording commands (commit, status, amend, meeting, link, retract) and the demo.

use std::path::Path;

use ikrar_core::{
    CommitmentAmended, CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted,
    ExpectedVersion, InputEvent, MeetingHeld, MeetingLinked, Moment, Participant, Source, Status,
};
use serde_json::json;
use uuid::Uuid;

use super::{print_json, resolve_id, usage};
use crate::access::{Access, Kind};
use crate::args::{Command, RecordArgs, SourceArgs};
use crate::failure::Failure;
use crate::output::Format;

fn moment(flag: &str, text: &str) -> Result<Moment, Failure> {
    text.parse().map_err(|e| usage(format!("--{flag}: {e}")))
}

fn date(flag: &str, text: &str) -> Result<chrono::NaiveDate, Failure> {
    ikrar_core::moment::parse_date(text).map_err(|e| usage(format!("--{flag}: {e}")))
}

fn uuid(flag: &str, text: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(text).map_err(|e| usage(format!("{flag}: `{text}` is not a UUID ({e})")))
}

fn source(args: &SourceArgs) -> Result<Option<Source>, Failure> {
    let s = Source {
        title: args.source_title.clone(),
        url: args.source_url.clone(),
        publisher: args.source_publisher.clone(),
        published: args
            .source_published
            .as_deref()
            .map(|t| moment("source-published", t))
            .transpose()?,
        author: args.source_author.clone(),
        lang: args.source_lang.clone(),
        quote: args.source_quote.clone(),
    };
    Ok((s != Source::default()).then_some(s))
}

fn expected_version(text: &str) -> Result<ExpectedVersion, Failure> {
    match text {
        "any" => Ok(ExpectedVersion::Any),
        "no_stream" => Ok(ExpectedVersion::NoStream),
        "exists" => Ok(ExpectedVersion::Exists),
        n => n.parse().map(ExpectedVersion::Exact).map_err(|_| {
            usage(format!(
                "--expected-version: `{n}` must be a non-negative integer, no_stream, exists or any"
            ))
        }),
    }
}

fn participant(text: &str) -> Result<Participant, Failure> {
    let mut parts = text.split(';').map(str::trim);
    let name = parts.next().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(usage(format!(
            "--participant: `{text}` has no name (expected \"Name; Role; Organisation\")"
        )));
    }
    let non_empty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Participant {
        name,
        role: non_empty(parts.next()),
        organisation: non_empty(parts.next()),
    })
}

/// The id a recording command made, with its JSON key (`commitment_id` or `meeting_id`).
type MadeId = (&'static str, Uuid);

/// Builds the event a recording command describes, and the id it makes (if any).
async fn event(
    command: Command,
    actor: &str,
    access: &Access,
) -> Result<(InputEvent, Option<MadeId>, bool), Failure> {
    let commitment = |text: String| async move {
        resolve_id(access, &text, &[Kind::Commitment])
            .await
            .map(|(id, _)| id)
    };
    let meeting = |text: String| async move {
        resolve_id(access, &text, &[Kind::Meeting])
            .await
            .map(|(id, _)| id)
    };
    let common = |record: &RecordArgs, data: EventData| -> Result<InputEvent, Failure> {
        let mut e = InputEvent::new(data);
        e.actor = Some(actor.to_string());
        e.reason = record.reason.clone();
        e.source = source(&record.source)?;
        e.event_id = record
            .event_id
            .as_deref()
            .map(|t| uuid("--event-id", t))
            .transpose()?;
        Ok(e)
    };
    Ok(match command {
        Command::Commit {
            title,
            made_on,
            parties,
            themes,
            due,
            owner,
            summary,
            id,
            record,
        } => {
            let commitment_id = match id {
                Some(t) => uuid("--id", &t)?,
                None => Uuid::now_v7(),
            };
            let data = EventData::CommitmentMade(CommitmentMade {
                commitment_id,
                title,
                summary,
                owner,
                parties,
                themes,
                made_on: date("made-on", &made_on)?,
                due: due.as_deref().map(|d| date("due", d)).transpose()?,
            });
            (
                common(&record, data)?,
                Some(("commitment_id", commitment_id)),
                record.dry_run,
            )
        }
        Command::Status {
            id,
            status,
            label,
            effective,
            expected_version: expected,
            record,
        } => {
            let status: Status = super::suggest::parse_status("STATUS", &status)?;
            let data = EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                commitment_id: commitment(id).await?,
                status,
                label,
            });
            let mut e = common(&record, data)?;
            e.effective = effective
                .as_deref()
                .map(|t| moment("effective", t))
                .transpose()?;
            e.expected_version = expected.as_deref().map(expected_version).transpose()?;
            (e, None, record.dry_run)
        }
        Command::Amend {
            id,
            title,
            due,
            parties,
            themes,
            owner,
            summary,
            effective,
            record,
        } => {
            let data = EventData::CommitmentAmended(CommitmentAmended {
                commitment_id: commitment(id).await?,
                title,
                summary,
                owner,
                parties: (!parties.is_empty()).then_some(parties),
                themes: (!themes.is_empty()).then_some(themes),
                due: due.as_deref().map(|d| date("due", d)).transpose()?,
            });
            let mut e = common(&record, data)?;
            e.effective = effective
                .as_deref()
                .map(|t| moment("effective", t))
                .transpose()?;
            (e, None, record.dry_run)
        }
        Command::Meeting {
            title,
            held_on,
            location,
            participants,
            commitments,
            outcomes,
            id,
            record,
        } => {
            let meeting_id = match id {
                Some(t) => uuid("--id", &t)?,
                None => Uuid::now_v7(),
            };
            let data = EventData::MeetingHeld(MeetingHeld {
                meeting_id,
                title,
                held_on: moment("held-on", &held_on)?,
                location,
                participants: participants
                    .iter()
                    .map(|p| participant(p))
                    .collect::<Result<_, _>>()?,
                commitment_ids: {
                    let mut ids = Vec::with_capacity(commitments.len());
                    for c in commitments {
                        ids.push(commitment(c).await?);
                    }
                    ids
                },
                outcomes,
            });
            (
                common(&record, data)?,
                Some(("meeting_id", meeting_id)),
                record.dry_run,
            )
        }
        Command::Link {
            meeting_id,
            commitment_id,
            record,
        } => {
            let data = EventData::MeetingLinked(MeetingLinked {
                meeting_id: meeting(meeting_id).await?,
                commitment_id: commitment(commitment_id).await?,
            });
            (common(&record, data)?, None, record.dry_run)
        }
        Command::Retract {
            event_id,
            reason,
            dry_run,
            source: src,
        } => {
            let record = RecordArgs {
                dry_run,
                reason: Some(reason),
                event_id: None,
                source: src,
            };
            let (event_id, _) = resolve_id(access, &event_id, &[Kind::Event]).await?;
            let data = EventData::EventRetracted(EventRetracted { event_id });
            (common(&record, data)?, None, dry_run)
        }
        other => unreachable!("not a recording command: {other:?}"),
    })
}

/// Records one event described by a recording command (or with `--dry-run` only checks it)
/// and prints what it made.
pub(super) async fn run(
    path: &Path,
    command: Command,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let access = Access::open(path)?;
    let (event, made, dry_run) = event(command, actor, &access).await?;
    let type_name = event.data.type_name();
    let shown = event.clone();
    let outcome = access
        .append(vec![event], dry_run)
        .await
        .map_err(|e| super::ledger::append_failure(e, &|_| String::new()))?;
    let position = outcome.positions[0];
    if dry_run {
        match format {
            Format::Table => {
                let what = if outcome.new_events == 0 {
                    "is already recorded".to_string()
                } else {
                    format!("would be recorded at position {position}")
                };
                outln!("dry run: {type_name} {what}; nothing was written");
                outln!("{}", shown.to_json());
            }
            _ => print_json(&json!({"dry_run": true, "valid": true,
                "positions": outcome.positions, "new_events": outcome.new_events,
                "event": serde_json::from_str::<serde_json::Value>(&shown.to_json())
                    .expect("input events are JSON")})),
        }
        return Ok(());
    }
    match format {
        Format::Table => {
            let repeat = if outcome.new_events == 0 {
                " (already recorded)"
            } else {
                ""
            };
            outln!(
                "recorded {type_name} at position {position}{repeat}; tree size {}",
                outcome.tree_size
            );
            outln!("event id: {}", outcome.event_ids[0]);
            if let Some((key, id)) = made {
                outln!("{}: {id}", key.replace('_', " "));
            }
        }
        _ => {
            let mut body = json!({"positions": outcome.positions, "tree_size": outcome.tree_size,
                                  "event_ids": outcome.event_ids});
            if let Some((key, id)) = made {
                body[key] = json!(id);
            }
            print_json(&body);
        }
    }
    Ok(())
}
