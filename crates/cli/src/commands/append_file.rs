//! `ikrar append FILE` on a ledger opened directly: the file is read twice and never held
//! whole, so that a file of any size is appended in bounded memory (SPEC §3, §9).
//!
//! The first pass parses every line and checks the events part by part against the ledger plus
//! every event before them ([`ikrar_core::AppendCheck`], which keeps the earlier parts' maps, not
//! their events); a bad line anywhere writes nothing. The second pass reads the file again and
//! appends it in atomic batches of at most 10,000, each checked again as it is written. Standard
//! input is spooled to a temporary file first, since it cannot be read twice.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ikrar_core::{Error, InputEvent, Ledger, EVENTS_PER_APPEND_MAX};

use super::ledger::append_failure;
use crate::access::remote::RemoteError;
use crate::failure::{exit, Failure};
use crate::output::{progress, Format};
use crate::render;

/// Bad lines named in one report at most; the rest are counted.
const ERRORS_SHOWN_MAX: usize = 20;

/// The input file, as it was when the first pass began.
pub(super) struct Input {
    path: PathBuf,
    /// What the user named it (`-` for standard input).
    shown: String,
    /// The spooled copy of standard input, removed when the append ends.
    _spooled: Option<tempfile::NamedTempFile>,
    /// Length and modification time, to see that the file did not change between the passes.
    stamp: (u64, Option<std::time::SystemTime>),
}

impl Input {
    /// Opens `file` (or spools standard input for `-`), failing as reading it would: exit 1 if
    /// it is missing or unreadable.
    pub(super) fn open(file: &Path) -> Result<Input, Failure> {
        let cannot = |e: std::io::Error| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot read {}: {e}", file.display()),
            )
        };
        let (path, spooled) = if file == Path::new("-") {
            let mut spool = tempfile::NamedTempFile::new().map_err(cannot)?;
            std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut()).map_err(cannot)?;
            spool.as_file_mut().flush().map_err(cannot)?;
            (spool.path().to_path_buf(), Some(spool))
        } else {
            File::open(file).map_err(cannot)?;
            (file.to_path_buf(), None)
        };
        let stamp = stamp(&path).map_err(cannot)?;
        Ok(Input {
            path,
            shown: file.display().to_string(),
            _spooled: spooled,
            stamp,
        })
    }

    fn lines(&self) -> Result<Lines, Failure> {
        let file = File::open(&self.path).map_err(|e| self.io(e))?;
        Ok(Lines {
            reader: BufReader::with_capacity(1 << 20, file),
            buf: Vec::new(),
            offset: 0,
            number: 0,
        })
    }

    fn io(&self, e: std::io::Error) -> Failure {
        Failure::new(
            "io",
            exit::OPERATIONAL,
            format!("cannot read {}: {e}", self.shown),
        )
    }

    fn unchanged(&self) -> Result<(), Failure> {
        if stamp(&self.path).map_err(|e| self.io(e))? != self.stamp {
            return Err(Failure::new(
                "io",
                exit::OPERATIONAL,
                format!(
                    "{} changed while it was being checked; nothing was written",
                    self.shown
                ),
            ));
        }
        Ok(())
    }
}

fn stamp(path: &Path) -> std::io::Result<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.len(), meta.modified().ok()))
}

/// One line of the input: its number (from 1), byte offset and text.
struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    offset: u64,
    number: usize,
}

/// A line that holds an event, parsed.
struct Parsed {
    number: usize,
    offset: u64,
    event: Result<InputEvent, String>,
}

impl Lines {
    /// The next line that is not blank, parsed; `None` at the end.
    fn next(&mut self, actor: &str) -> std::io::Result<Option<Parsed>> {
        loop {
            self.buf.clear();
            let read = self.reader.read_until(b'\n', &mut self.buf)?;
            if read == 0 {
                return Ok(None);
            }
            let offset = self.offset;
            self.offset += read as u64;
            self.number += 1;
            let event = match std::str::from_utf8(&self.buf) {
                Err(_) => Err("not valid UTF-8".to_string()),
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => parse(text, actor),
            };
            return Ok(Some(Parsed {
                number: self.number,
                offset,
                event,
            }));
        }
    }
}

fn parse(text: &str, actor: &str) -> Result<InputEvent, String> {
    let mut event =
        InputEvent::from_json(text.trim_end_matches(['\n', '\r'])).map_err(|e| e.to_string())?;
    if event.actor.is_none() {
        event.actor = Some(actor.to_string());
    }
    Ok(event)
}

/// Reads the event at byte `offset` of `file` again (an earlier part's, which a later event
/// repeats or retracts).
fn reread(file: &File, offset: u64, actor: &str) -> Result<InputEvent, Error> {
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = file.read_at(&mut chunk, offset + line.len() as u64)?;
        let end = chunk[..read].iter().position(|b| *b == b'\n');
        line.extend_from_slice(&chunk[..end.unwrap_or(read)]);
        if read == 0 || end.is_some() {
            break;
        }
    }
    let text = String::from_utf8(line)
        .map_err(|_| std::io::Error::other("a line checked before is no longer UTF-8"))?;
    parse(&text, actor).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "a line checked before no longer parses: {e}"
        )))
    })
}

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

/// Parts of the input as a reader thread parses them, a few ahead of their consumer: the
/// parsing of one part overlaps the check or the append of the one before (two cores).
struct ReadPart {
    part: Part,
    /// Lines that do not parse: number and why.
    bad: Vec<(usize, String)>,
    /// Lines that are not blank.
    lines: u64,
    /// Bytes read so far.
    end_offset: u64,
}

/// Parts read ahead at most (each up to 10,000 events): bounds the memory of the pipeline.
const PARTS_AHEAD_MAX: usize = 2;

fn read_parts(
    input: &Input,
    actor: &str,
) -> Result<tokio::sync::mpsc::Receiver<std::io::Result<ReadPart>>, Failure> {
    let mut lines = input.lines()?;
    let actor = actor.to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(PARTS_AHEAD_MAX);
    std::thread::spawn(move || loop {
        let mut read = ReadPart {
            part: Part::default(),
            bad: Vec::new(),
            lines: 0,
            end_offset: 0,
        };
        let mut end = false;
        while read.part.events.len() < EVENTS_PER_APPEND_MAX {
            match lines.next(&actor) {
                Ok(Some(line)) => {
                    read.lines += 1;
                    match line.event {
                        Ok(event) => read.part.push(line.number, line.offset, event),
                        Err(what) => read.bad.push((line.number, what)),
                    }
                }
                Ok(None) => {
                    end = true;
                    break;
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        read.end_offset = lines.offset;
        // The consumer gone (it failed): stop reading.
        if tx.blocking_send(Ok(read)).is_err() || end {
            return;
        }
    });
    Ok(rx)
}

/// The first pass: every line parsed, every event checked against the ledger plus the ones
/// before it. Parse errors are reported before any rule's, as for a file read whole.
async fn check(
    ledger: &Ledger,
    input: &Input,
    actor: &str,
    keep_positions: bool,
) -> Result<Checked, Failure> {
    let file = File::open(&input.path).map_err(|e| input.io(e))?;
    let reread = |offset: u64| reread(&file, offset, actor);
    let bar = progress(input.stamp.0, "checking");
    let mut parts = read_parts(input, actor)?;
    let mut check = ledger.check_in_parts();
    let mut bad = BadLines::default();
    let mut refused: Option<Failure> = None;
    let mut checked = Checked {
        events: 0,
        new_events: 0,
        positions: Positions::default(),
    };
    while let Some(read) = parts.recv().await {
        let read = read.map_err(|e| input.io(e))?;
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

/// Events of one part with the line and offset each came from.
#[derive(Default)]
struct Part {
    events: Vec<InputEvent>,
    numbers: Vec<usize>,
    offsets: Vec<u64>,
}

impl Part {
    fn push(&mut self, number: usize, offset: u64, event: InputEvent) {
        self.events.push(event);
        self.numbers.push(number);
        self.offsets.push(offset);
    }
}

/// What `--format json` prints of an append (as structs, not a `json!` value: for a file of
/// ten million events a value array alone would take 300 MB).
#[derive(serde::Serialize)]
struct Appended<'a> {
    positions: &'a Positions,
    tree_size: u64,
}

/// What `--format json` prints of a dry run.
#[derive(serde::Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    valid: bool,
    events: u64,
    new_events: u64,
    positions: &'a Positions,
}

/// `ikrar append FILE` on a ledger opened directly.
pub(super) async fn append(
    ledger: &Ledger,
    input: &Input,
    dry_run: bool,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let checked = check(ledger, input, actor, dry_run).await?;
    if dry_run {
        match format {
            Format::Table => outln!(
                "dry run: {} valid ({} new); nothing was written",
                render::count(checked.events as usize, "event"),
                checked.new_events
            ),
            _ => print_json_streamed(&DryRun {
                dry_run: true,
                valid: true,
                events: checked.events,
                new_events: checked.new_events,
                positions: &checked.positions,
            }),
        }
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
    match format {
        Format::Table => {
            let range = match (positions.min, positions.max) {
                (Some(a), Some(b)) if a == b => format!("position {a}"),
                (Some(a), Some(b)) => format!("positions {a}–{b}"),
                _ => "no positions".to_string(),
            };
            outln!(
                "recorded {new_events} new of {} ({range}); tree size {tree_size}",
                render::count(positions.count as usize, "event")
            );
        }
        _ => print_json_streamed(&Appended {
            positions: &positions,
            tree_size,
        }),
    }
    Ok(())
}

/// The positions of an append's events, in order, kept as runs of consecutive positions: the
/// new events of a file are one run, so ten million positions take a few bytes, not 80 MB.
#[derive(Default)]
struct Positions {
    /// `(first, count)` of each run.
    runs: Vec<(u64, u64)>,
    count: u64,
    min: Option<u64>,
    max: Option<u64>,
}

impl Positions {
    fn extend(&mut self, positions: impl IntoIterator<Item = u64>) {
        for p in positions {
            self.count += 1;
            self.min = Some(self.min.map_or(p, |m| m.min(p)));
            self.max = Some(self.max.map_or(p, |m| m.max(p)));
            match self.runs.last_mut() {
                Some((first, count)) if *first + *count == p => *count += 1,
                _ => self.runs.push((p, 1)),
            }
        }
    }
}

impl serde::Serialize for Positions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.count as usize))?;
        for (first, count) in &self.runs {
            for p in *first..first + count {
                seq.serialize_element(&p)?;
            }
        }
        seq.end()
    }
}

/// Prints `value` as one line of JSON, written out as it is serialised rather than built as a
/// string first (ten million positions are 80 MB of text).
fn print_json_streamed(value: &impl serde::Serialize) {
    struct Streamed<'a, T>(&'a T);
    impl<T: serde::Serialize> std::fmt::Display for Streamed<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            /// serde_json writes whole UTF-8 pieces (it splits text only at escapes).
            struct Text<'a, 'b>(&'a mut std::fmt::Formatter<'b>);
            impl std::io::Write for Text<'_, '_> {
                fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                    let text = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
                    self.0.write_str(text).map_err(std::io::Error::other)?;
                    Ok(buf.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            serde_json::to_writer(Text(f), self.0).map_err(|_| std::fmt::Error)
        }
    }
    outln!("{}", Streamed(value));
}
