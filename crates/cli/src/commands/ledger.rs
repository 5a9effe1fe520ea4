//! The log itself: init, append, log, export, verify.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use ikrar_core::{Error, InputEvent, Ledger};
use serde_json::json;

use crate::access::remote::RemoteError;
use crate::access::Access;
use crate::failure::{exit, Failure};
use crate::output::{progress, Format};
use crate::render;

use super::print_json;

pub(super) fn init(path: &Path, format: Format) -> Result<(), Failure> {
    let ledger = Ledger::create(path)?;
    let head = ledger.head();
    match format {
        Format::Table => outln!("created an empty ledger at {}", ledger.location().display()),
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
pub(super) fn at_line(e: RemoteError, lines: &[Line]) -> Failure {
    append_failure(e, &|index| {
        format!(
            "line {}: ",
            lines.get(index).map_or(index + 1, |l| l.number)
        )
    })
}

/// An append error as the command line says it, with `locate` naming where the event came from
/// (a file's line, or nothing for a single recording command).
pub(super) fn append_failure(e: RemoteError, locate: &dyn Fn(usize) -> String) -> Failure {
    let e = match e {
        RemoteError::Core(e) => e,
        RemoteError::Other(f) => return f,
    };
    let mut first_context = Vec::new();
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
            differences,
        } => {
            // The differences first, so that a retry can be fixed from the message alone.
            first_context = differences.clone();
            format!(
                "{}conflict: event_id {event_id} is already recorded at position {position} with other content",
                locate(*index)
            )
        }
        _ => return Failure::from(e),
    };
    let mut f = Failure::from(e);
    f.message = message;
    first_context.append(&mut f.context);
    f.context = first_context;
    f
}

pub(super) async fn append(
    ledger_path: &Path,
    file: &Path,
    dry_run: bool,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let input = super::append_file::Input::open(file)?;
    let access = Access::open(ledger_path)?;
    let access = match access {
        // Read twice, never whole: a file of any size in bounded memory.
        Access::Direct(direct) => {
            return super::append_file::append(direct.ledger(), &input, dry_run, actor, format)
                .await
        }
        remote => remote,
    };
    // Through a server: read whole, checked and sent in requests of at most a thousand.
    // (From the input as opened: standard input was spooled by then.)
    let text = read_input(input.path())?;
    let lines = parse_lines(&text, actor)?;
    let events: Vec<InputEvent> = lines.iter().map(|l| l.event.clone()).collect();

    // Validate the whole file first, so that a bad line anywhere writes nothing. Through a
    // server the check is per request of at most a thousand events, each all or nothing.
    let checked = if access.is_remote() && events.len() > access.append_events_max() {
        None
    } else {
        Some(
            access
                .append(events.clone(), true)
                .await
                .map_err(|e| at_line(e, &lines))?,
        )
    };
    if dry_run {
        let new_events = match &checked {
            Some(c) => c.new_events,
            None => {
                let mut n = 0;
                for (i, chunk) in events.chunks(access.append_events_max()).enumerate() {
                    let offset = i * access.append_events_max();
                    n += access
                        .append(chunk.to_vec(), true)
                        .await
                        .map_err(|e| at_line(e, &lines[offset..]))?
                        .new_events;
                }
                n
            }
        };
        match format {
            Format::Table => outln!(
                "dry run: {} valid ({} new); nothing was written",
                render::count(lines.len(), "event"),
                new_events
            ),
            _ => print_json(&json!({
                "dry_run": true, "valid": true, "events": lines.len(),
                "new_events": new_events,
                "positions": checked.map(|c| c.positions).unwrap_or_default(),
            })),
        }
        return Ok(());
    }

    let bar = progress(lines.len() as u64, "appending");
    let mut positions = Vec::with_capacity(lines.len());
    let mut new_events = 0;
    let mut tree_size = access.tree_size().await?;
    let per_append = access.append_events_max();
    for (chunk_index, chunk) in events.chunks(per_append).enumerate() {
        let offset = chunk_index * per_append;
        let outcome = access
            .append(chunk.to_vec(), false)
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
            outln!(
                "recorded {new_events} new of {} ({range}); tree size {tree_size}",
                render::count(positions.len(), "event")
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
    let access = Access::open(path)?;
    let limit = limit.unwrap_or(u64::MAX);
    if follow {
        // One line per event, flushed at once: a follower reads them as they come.
        return access
            .records(from, limit, true, &mut |json, _| {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{json}")?;
                out.flush()
            })
            .await;
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    access
        .records(from, limit, false, &mut |json, _| writeln!(out, "{json}"))
        .await?;
    out.flush()?;
    Ok(())
}

pub(super) async fn export(path: &Path, file: Option<&Path>) -> Result<(), Failure> {
    let access = Access::open(path)?;
    let total = access.tree_size().await?;
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
    access
        .records(0, total, false, &mut |json, position| {
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")?;
            if position % 4096 == 0 {
                bar.set_position(position);
            }
            Ok(())
        })
        .await?;
    out.flush()?;
    bar.finish_and_clear();
    Ok(())
}

pub(super) async fn verify(path: &Path, format: Format) -> Result<(), Failure> {
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
    let (tree_size, result) = match crate::access::remote::Remote::connect(path) {
        Some(remote) => {
            let head: ikrar_server::HeadAnswer = remote.get("/v1/head").await?;
            (head.tree_size, crate::access::verify_remote(&remote).await?)
        }
        None => {
            // Verify without opening for use, so that the first bad position is named even
            // when the checks at open would stop at a later one.
            let tree_size = Ledger::acknowledged_tree_size(path).unwrap_or(0);
            let bar = progress(tree_size, "verifying");
            let result = Ledger::verify_at(path, &mut |n| bar.set_position(n));
            bar.finish_and_clear();
            (tree_size, result)
        }
    };
    // Refusals by witnesses (SPEC §11) are shown beside the result: the ledger may be whole
    // and still be one of two histories its operator showed.
    let alarms = super::witness::alarms(path);
    for a in &alarms {
        eprintln!(
            "witness alarm: {}, checkpoint of size {} (status {}) at {}: {}",
            a.witness, a.tree_size, a.status, a.at, a.what
        );
    }
    match result {
        Ok(report) => {
            match format {
                Format::Table => outln!(
                    "ok: {} records verified; root {}",
                    report.tree_size,
                    report.root
                ),
                _ if alarms.is_empty() => print_json(
                    &json!({"ok": true, "tree_size": report.tree_size, "root": report.root}),
                ),
                _ => print_json(&json!({"ok": true, "tree_size": report.tree_size,
                    "root": report.root, "witness_alarms": alarms})),
            }
            Ok(())
        }
        Err(e) => Err(failed(tree_size, e)),
    }
}
