//! Recording commands (commit, status, amend, meeting, link, retract) and the demo.

use std::path::Path;

use ikrar_core::{
    CommitmentAmended, CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted,
    ExpectedVersion, InputEvent, Ledger, MeetingHeld, MeetingLinked, Moment, Participant, Source,
    Status,
};
use ikrar_state::{Basis, Projection};
use serde_json::json;
use uuid::Uuid;

use super::{print_json, resolve_id, state_failure, usage};
use crate::args::{Command, RecordArgs, SourceArgs};
use crate::failure::Failure;
use crate::output::Format;

/// The demo dataset: the seed article (korea.kr, 2025-01-17, in Indonesian) in the input form,
/// with fixed event ids so that recording it twice changes nothing.
const DEMO_JSONL: &str = include_str!("../../data/demo.jsonl");

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

/// Resolves ids given on the command line: full UUIDs directly, prefixes through the projection.
struct Ids<'a> {
    ledger: &'a Ledger,
    projection: Option<Projection>,
}

impl Ids<'_> {
    fn resolve(&mut self, text: &str) -> Result<Uuid, Failure> {
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(id);
        }
        if self.projection.is_none() {
            self.projection = Some(Projection::open(self.ledger).map_err(state_failure)?);
        }
        resolve_id(self.projection.as_ref().expect("just opened"), text)
    }
}

/// The id a recording command made, with its JSON key (`commitment_id` or `meeting_id`).
type MadeId = (&'static str, Uuid);

/// Builds the event a recording command describes, and the id it makes (if any).
fn event(
    command: Command,
    actor: &str,
    ids: &mut Ids<'_>,
) -> Result<(InputEvent, Option<MadeId>), Failure> {
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
            let status: Status = status
                .parse()
                .map_err(|e: String| usage(format!("STATUS: {e}")))?;
            let data = EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                commitment_id: ids.resolve(&id)?,
                status,
                label,
            });
            let mut e = common(&record, data)?;
            e.effective = effective
                .as_deref()
                .map(|t| moment("effective", t))
                .transpose()?;
            e.expected_version = expected.as_deref().map(expected_version).transpose()?;
            (e, None)
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
                commitment_id: ids.resolve(&id)?,
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
            (e, None)
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
                commitment_ids: commitments
                    .iter()
                    .map(|c| ids.resolve(c))
                    .collect::<Result<_, _>>()?,
                outcomes,
            });
            (common(&record, data)?, Some(("meeting_id", meeting_id)))
        }
        Command::Link {
            meeting_id,
            commitment_id,
            record,
        } => {
            let data = EventData::MeetingLinked(MeetingLinked {
                meeting_id: ids.resolve(&meeting_id)?,
                commitment_id: ids.resolve(&commitment_id)?,
            });
            (common(&record, data)?, None)
        }
        Command::Retract {
            event_id,
            reason,
            source: src,
        } => {
            let record = RecordArgs {
                reason: Some(reason),
                event_id: None,
                source: src,
            };
            let data = EventData::EventRetracted(EventRetracted {
                event_id: uuid("EVENT_ID", &event_id)?,
            });
            (common(&record, data)?, None)
        }
        other => unreachable!("not a recording command: {other:?}"),
    })
}

/// Records one event described by a recording command and prints what it made.
pub(super) async fn run(
    path: &Path,
    command: Command,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let ledger = Ledger::open(path)?;
    let mut ids = Ids {
        ledger: &ledger,
        projection: None,
    };
    let (event, made) = event(command, actor, &mut ids)?;
    let type_name = event.data.type_name();
    drop(ids);
    let outcome = ledger
        .append(vec![event])
        .await
        .map_err(|e| super::ledger::append_failure(e, &|_| String::new()))?;
    let position = outcome.positions[0];
    match format {
        Format::Table => {
            let repeat = if outcome.new_events == 0 {
                " (already recorded)"
            } else {
                ""
            };
            println!(
                "recorded {type_name} at position {position}{repeat}; tree size {}",
                outcome.tree_size
            );
            println!("event id: {}", outcome.event_ids[0]);
            if let Some((key, id)) = made {
                println!("{}: {id}", key.replace('_', " "));
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

/// Records the seed article's commitments and meetings (creating the ledger if needed) and
/// prints the summary.
pub(super) async fn demo(path: &Path, format: Format) -> Result<(), Failure> {
    let ledger = Ledger::open_or_create(path)?;
    let lines = super::ledger::parse_lines(DEMO_JSONL, "ikrar.demo")?;
    let events: Vec<InputEvent> = lines.iter().map(|l| l.event.clone()).collect();
    let outcome = ledger
        .append(events)
        .await
        .map_err(|e| super::ledger::at_line(e, &lines))?;
    let projection = Projection::open(&ledger).map_err(state_failure)?;
    let summary = projection.summary(&Basis::now()).map_err(state_failure)?;
    if format == Format::Table {
        println!(
            "{} of {} demo events recorded in {} (tree size {})\n",
            outcome.new_events,
            outcome.positions.len(),
            ledger.location().display(),
            outcome.tree_size
        );
    }
    super::query::print_summary(&summary, format)
}
