//! `ikrar append FILE` on a ledger opened directly: the file is read twice and never held
//! whole, so that a file of any size is appended in bounded memory (SPEC §3, §9).
//!
//! The first pass parses every line and checks the events part by part against the ledger plus
//! every event before them ([`ikrar_core::AppendCheck`], which keeps the earlier parts' maps, not
//! their events); a bad line anywhere writes nothing. The second pass reads the file again and
//! appends it in atomic batches of at most 10,000, each checked again as it is written. Standard
//! input is spooled to a temporary file first, since it cannot be read twice.

mod input;
mod report;

use std::fs::File;

use ikrar_core::{Error, Ledger};

pub(in crate::commands) use self::input::Input;
use self::input::{read_parts, reread, Part, Parts, ReadPart};
use self::report::{report, report_dry_run, Positions};
use super::ledger::append_failure;
use crate::access::remote::RemoteError;
use crate::failure::Failure;
use crate::output::{progress, Format};

/// Bad lines named in one report at most; the rest are counted.
const ERRORS_SHOWN_MAX: usize = 20;

/// The parse errors of a pass: the first few named, the rest counted.
#[derive(Default)]
struct BadLines {
    shown: Vec<String>,
    count: usize,
}

impl BadLines {
    fn add(&mut self, number: usize, what: &str) {
        if self.shown.len() <= ERRORS_SHOWN_MAX {
            self.shown.push(format!("line {number}: {what}"));
        }
        self.count += 1;
    }

    fn failure(self) -> Option<Failure> {
        let mut shown = self.shown.into_iter();
        let mut failure = Failure::bad_input(shown.next()?);
        for more in shown {
            failure = failure.with_context(more);
        }
        if self.count > ERRORS_SHOWN_MAX + 1 {
            failure = failure.with_context(format!(
                "… and {} more bad lines",
                self.count - ERRORS_SHOWN_MAX - 1
            ));
        }
        Some(failure.with_context("nothing was written"))
    }
}

/// An error about event `index` of a part, naming the file's line.
fn at_numbers(e: Error, numbers: &[usize]) -> Failure {
    append_failure(RemoteError::Core(e), &|index| {
        format!("line {}: ", numbers.get(index).map_or(index + 1, |n| *n))
    })
}

/// What the first pass found: how many events, and (for a dry run) each one's position.
struct Checked {
    events: u64,
    new_events: u64,
    positions: Positions,
}

/// The first pass: every line parsed, every event checked against the ledger plus the ones
/// before it. Parse errors are reported before any rule's, as for a file read whole.
async fn check(
    ledger: &Ledger,
    input: &Input,
    actor: &str,
    keep_positions: bool,
    (ahead, mut parts): (Vec<ReadPart>, Parts),
) -> Result<Checked, Failure> {
    let file = File::open(&input.path).map_err(|e| input.io(e))?;
    let reread = |offset: u64| reread(&file, offset, actor);
    let bar = progress(input.stamp.0, "checking");
    let mut ahead = ahead.into_iter();
    let mut check = ledger.check_in_parts();
    let mut bad = BadLines::default();
    let mut refused: Option<Failure> = None;
    let mut checked = Checked {
        events: 0,
        new_events: 0,
        positions: Positions::default(),
    };
    loop {
        let read = match ahead.next() {
            Some(read) => read,
            None => match parts.recv().await {
                Some(read) => read.map_err(|e| input.io(e))?,
                None => break,
            },
        };
        checked.events += read.lines;
        for (number, what) in &read.bad {
            bad.add(*number, what);
        }
        let part = &read.part;
        if bad.count == 0 && refused.is_none() && !part.events.is_empty() {
            match check.check_part(&part.events, &part.offsets, &reread) {
                Ok(outcome) => {
                    if keep_positions {
                        checked.positions.extend(outcome.positions);
                    }
                    checked.new_events = check.new_events();
                }
                Err(e) => refused = Some(at_numbers(e, &part.numbers)),
            }
        }
        bar.set_position(read.end_offset);
    }
    bar.finish_and_clear();
    if let Some(failure) = bad.failure() {
        return Err(failure);
    }
    if let Some(failure) = refused {
        return Err(failure);
    }
    Ok(checked)
}

/// `ikrar append FILE` on a ledger opened directly.
pub(super) async fn append(
    ledger: &Ledger,
    input: &Input,
    dry_run: bool,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let mut parts = read_parts(input, actor)?;
    let first = parts.recv().await.transpose().map_err(|e| input.io(e))?;
    let second = parts.recv().await.transpose().map_err(|e| input.io(e))?;
    let (first, second) = match (first, second) {
        // The input fits in one append, which is all or nothing by itself: no second pass.
        (Some(only), None) => return append_one(ledger, only, dry_run, format).await,
        (first, second) => (first, second),
    };
    let ahead = first.into_iter().chain(second).collect();
    let checked = check(ledger, input, actor, dry_run, (ahead, parts)).await?;
    if dry_run {
        report_dry_run(
            format,
            checked.events,
            checked.new_events,
            &checked.positions,
        );
        return Ok(());
    }
    input.unchanged()?;

    let bar = progress(checked.events, "appending");
    // Room for every new event in the ledger's index at once: grown by doubling, it would
    // hold the old table and the new one together (for ten million events, 600 MB).
    ledger.reserve(checked.new_events);
    let mut positions = Positions::default();
    let mut new_events = 0;
    let mut tree_size = ledger.head().tree_size;
    let mut parts = read_parts(input, actor)?;
    while let Some(read) = parts.recv().await {
        let read = read.map_err(|e| input.io(e))?;
        if let Some((number, what)) = read.bad.first() {
            return Err(
                Failure::bad_input(format!("line {number}: {what}")).with_context(format!(
                    "{} changed while it was being appended",
                    input.shown
                )),
            );
        }
        let Part {
            events, numbers, ..
        } = read.part;
        if events.is_empty() {
            continue;
        }
        let count = events.len() as u64;
        let outcome = ledger
            .append(events)
            .await
            .map_err(|e| at_numbers(e, &numbers))?;
        positions.extend(outcome.positions);
        new_events += outcome.new_events;
        tree_size = outcome.tree_size;
        bar.inc(count);
    }
    bar.finish_and_clear();
    report(format, &positions, new_events as u64, tree_size);
    keep_index(ledger);
    Ok(())
}

/// An input that fits in one append: appended (or checked) as it is, all or nothing.
async fn append_one(
    ledger: &Ledger,
    read: ReadPart,
    dry_run: bool,
    format: Format,
) -> Result<(), Failure> {
    let mut bad = BadLines::default();
    for (number, what) in &read.bad {
        bad.add(*number, what);
    }
    if let Some(failure) = bad.failure() {
        return Err(failure);
    }
    let Part {
        events, numbers, ..
    } = read.part;
    let outcome = match (events.is_empty(), dry_run) {
        (true, _) => None,
        (false, true) => Some(ledger.check(events).await),
        (false, false) => Some(ledger.append(events).await),
    };
    let outcome = outcome.transpose().map_err(|e| at_numbers(e, &numbers))?;
    let mut positions = Positions::default();
    let (new_events, tree_size) = match outcome {
        Some(outcome) => {
            positions.extend(outcome.positions);
            (outcome.new_events as u64, outcome.tree_size)
        }
        None => (0, ledger.head().tree_size),
    };
    if dry_run {
        report_dry_run(format, read.lines, new_events, &positions);
    } else {
        report(format, &positions, new_events, tree_size);
        keep_index(ledger);
    }
    Ok(())
}

/// After an append that grew the ledger by much, its index is saved for the next process
/// (`Ledger::save_index`): otherwise the next command that needs it, or `ikrar serve`, would
/// scan the whole log to build it. What was appended is durable either way.
pub(super) fn keep_index(ledger: &Ledger) {
    if let Err(e) = ledger.save_index() {
        eprintln!("warning: the ledger's index was not saved ({e}); the next command builds it");
    }
}
