//! The log itself: init, append, log, export, verify.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use futures::StreamExt;
use ikrar_core::{Error, InputEvent, Ledger, EVENTS_PER_APPEND_MAX};
use serde_json::json;

use crate::failure::{exit, Failure};
use crate::output::{progress, Format};

use super::print_json;

pub(super) fn init(path: &Path, format: Format) -> Result<(), Failure> {
    let ledger = Ledger::create(path)?;
    let head = ledger.head();
    match format {
        Format::Table => println!("created an empty ledger at {}", ledger.location().display()),
        _ => {
            print_json(&json!({"ledger": ledger.location().display(), "tree_size": head.tree_size}))
        }
    }
    Ok(())
}

/// One event of an input file, with the line it came from.
pub(super) struct Line {
    pub(super) number: usize,
    pub(super) event: InputEvent,
}

fn read_input(file: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::InvalidData {
                exit::BAD_INPUT
            } else {
                exit::OPERATIONAL
            };
            Failure::new("io", code, format!("cannot read {}: {e}", file.display()))
        })?;
    }
    Ok(text)
}

/// Parses every line; reports every bad line (up to a limit), naming line, field and rule.
pub(super) fn parse_lines(text: &str, actor: &str) -> Result<Vec<Line>, Failure> {
    const ERRORS_SHOWN_MAX: usize = 20;
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match InputEvent::from_json(raw) {
            Ok(mut event) => {
                if event.actor.is_none() {
                    event.actor = Some(actor.to_string());
                }
                lines.push(Line {
                    number: i + 1,
                    event,
                });
            }
            Err(e) => errors.push(format!("line {}: {e}", i + 1)),
        }
    }
    if let Some(first) = errors.first() {
        let mut failure = Failure::bad_input(first.clone());
        for more in errors.iter().skip(1).take(ERRORS_SHOWN_MAX) {
            failure = failure.with_context(more.clone());
        }
        if errors.len() > ERRORS_SHOWN_MAX + 1 {
            failure = failure.with_context(format!(
                "… and {} more bad lines",
                errors.len() - ERRORS_SHOWN_MAX - 1
            ));
        }
        return Err(failure.with_context("nothing was written"));
    }
    Ok(lines)
}

/// Rewrites an error about event `index` of a batch to name the file's line.
pub(super) fn at_line(e: Error, lines: &[Line]) -> Failure {
    append_failure(e, &|index| {
        format!(
            "line {}: ",
            lines.get(index).map_or(index + 1, |l| l.number)
        )
    })
}

/// An append error as the command line says it, with `locate` naming where the event came from
/// (a file's line, or nothing for a single recording command).
pub(super) fn append_failure(e: Error, locate: &dyn Fn(usize) -> String) -> Failure {
    let message = match &e {
        Error::Validation { index, field, rule } => {
            format!("{}field `{field}`: {rule}", locate(*index))
        }
        Error::Conflict {
            index,
            stream,
            expected,
            actual,
        } => format!(
            "{}conflict on {stream}: expected version {expected}, actual {}",
            locate(*index),
            actual.map_or("no stream".to_string(), |v| v.to_string())
        ),
        Error::EventIdConflict {
            index,
            event_id,
            position,
        } => format!(
            "{}conflict: event_id {event_id} is already recorded at position {position} with other content",
            locate(*index)
        ),
        _ => return Failure::from(e),
    };
    let mut f = Failure::from(e);
    f.message = message;
    f
}

pub(super) async fn append(
    ledger_path: &Path,
    file: &Path,
    dry_run: bool,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let text = read_input(file)?;
    let lines = parse_lines(&text, actor)?;
    let ledger = Ledger::open(ledger_path)?;
    let events: Vec<InputEvent> = lines.iter().map(|l| l.event.clone()).collect();

    // Validate the whole file first, so that a bad line anywhere writes nothing.
    let checked = ledger
        .check(events.clone())
        .await
        .map_err(|e| at_line(e, &lines))?;
    if dry_run {
        match format {
            Format::Table => println!(
                "dry run: {} events are valid ({} new); nothing was written",
                lines.len(),
                checked.new_events
            ),
            _ => print_json(&json!({
                "dry_run": true, "valid": true, "events": lines.len(),
                "new_events": checked.new_events, "positions": checked.positions,
            })),
        }
        return Ok(());
    }

    let bar = progress(lines.len() as u64, "appending");
    let mut positions = Vec::with_capacity(lines.len());
    let mut new_events = 0;
    let mut tree_size = ledger.head().tree_size;
    for (chunk_index, chunk) in events.chunks(EVENTS_PER_APPEND_MAX).enumerate() {
        let offset = chunk_index * EVENTS_PER_APPEND_MAX;
        let outcome = ledger
            .append(chunk.to_vec())
            .await
            .map_err(|e| at_line(e, &lines[offset..]))?;
        positions.extend(outcome.positions);
        new_events += outcome.new_events;
        tree_size = outcome.tree_size;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    match format {
        Format::Table => {
            let range = match (positions.iter().min(), positions.iter().max()) {
                (Some(a), Some(b)) if a == b => format!("position {a}"),
                (Some(a), Some(b)) => format!("positions {a}–{b}"),
                _ => "no positions".to_string(),
            };
            println!(
                "recorded {new_events} new of {} events ({range}); tree size {tree_size}",
                positions.len()
            );
        }
        _ => print_json(&json!({"positions": positions, "tree_size": tree_size})),
    }
    Ok(())
}

pub(super) async fn log(
    path: &Path,
    from: u64,
    limit: Option<u64>,
    follow: bool,
) -> Result<(), Failure> {
    let ledger = Ledger::open(path)?;
    let limit = limit.unwrap_or(u64::MAX);
    if follow {
        // One line per event, flushed at once: a follower reads them as they come.
        let mut feed = Box::pin(ledger.subscribe(from).take(limit as usize));
        while let Some(item) = feed.next().await {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", item?.as_json())?;
            out.flush()?;
        }
        return Ok(());
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for item in ledger.iter_from(from).take(limit as usize) {
        if let Err(e) = writeln!(out, "{}", item?.as_json()) {
            // A closed pipe (`ikrar log | head`) is not an error.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

pub(super) fn export(path: &Path, file: Option<&Path>) -> Result<(), Failure> {
    let ledger = Ledger::open(path)?;
    let total = ledger.head().tree_size;
    let bar = progress(total, "exporting");
    let sink: Box<dyn Write> = match file {
        Some(f) => Box::new(std::fs::File::create(f).map_err(|e| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot create {}: {e}", f.display()),
            )
        })?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    for (i, item) in ledger.iter_from(0).enumerate() {
        let record = item?;
        out.write_all(&record.bytes)?;
        out.write_all(b"\n")?;
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(())
}

pub(super) fn verify(path: &Path, format: Format) -> Result<(), Failure> {
    let failed = |tree_size: u64, e: Error| -> Failure {
        let Error::Integrity { position, what } = &e else {
            return Failure::from(e);
        };
        let mut f = Failure::from(Error::Integrity {
            position: *position,
            what: what.clone(),
        });
        if format == Format::Json {
            print_json(&json!({
                "ok": false, "tree_size": tree_size, "first_bad_position": position, "what": what,
            }));
            eprintln!("error: {}", f.message);
            f.reported = true;
        }
        f
    };
    // Verify without opening for use, so that the first bad position is named even when the
    // checks at open would stop at a later one.
    let tree_size = Ledger::acknowledged_tree_size(path).unwrap_or(0);
    let bar = progress(tree_size, "verifying");
    let result = Ledger::verify_at(path, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            match format {
                Format::Table => println!(
                    "ok: {} records verified; root {}",
                    report.tree_size, report.root
                ),
                _ => print_json(
                    &json!({"ok": true, "tree_size": report.tree_size, "root": report.root}),
                ),
            }
            Ok(())
        }
        Err(e) => Err(failed(tree_size, e)),
    }
}
