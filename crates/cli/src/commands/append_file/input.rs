//! The input of `ikrar append FILE`: the file (standard input spooled to a temporary file, so
//! that it can be read twice), its lines parsed by a reader thread in parts of up to 10,000 a
//! few ahead of their consumer, and a line read back by its byte offset.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ikrar_core::{Error, InputEvent, EVENTS_PER_APPEND_MAX};

use crate::failure::{exit, Failure};

/// The input file, as it was when the first pass began.
pub(in crate::commands) struct Input {
    pub(super) path: PathBuf,
    /// What the user named it (`-` for standard input).
    pub(super) shown: String,
    /// The spooled copy of standard input: a file already unlinked, so that nothing is left
    /// behind however the process ends; `path` names it through `/proc/self/fd`.
    pub(super) _spooled: Option<File>,
    /// Length and modification time, to see that the file did not change between the passes.
    pub(super) stamp: (u64, Option<std::time::SystemTime>),
}

impl Input {
    /// Opens `file` (or spools standard input for `-`), failing as reading it would: exit 1 if
    /// it is missing or unreadable.
    pub(in crate::commands) fn open(file: &Path) -> Result<Input, Failure> {
        let cannot = |e: std::io::Error| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot read {}: {e}", file.display()),
            )
        };
        let (path, spooled) = if file == Path::new("-") {
            use std::os::fd::AsRawFd;
            let mut spool = tempfile::tempfile().map_err(cannot)?;
            std::io::copy(&mut std::io::stdin().lock(), &mut spool).map_err(cannot)?;
            spool.flush().map_err(cannot)?;
            // Opened again by this name, the unlinked file reads from its start each time.
            let path = PathBuf::from(format!("/proc/self/fd/{}", spool.as_raw_fd()));
            (path, Some(spool))
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

    /// Where the input is read from (for standard input, its spooled copy).
    pub(in crate::commands) fn path(&self) -> &Path {
        &self.path
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

    pub(super) fn io(&self, e: std::io::Error) -> Failure {
        Failure::new(
            "io",
            exit::OPERATIONAL,
            format!("cannot read {}: {e}", self.shown),
        )
    }

    pub(super) fn unchanged(&self) -> Result<(), Failure> {
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

pub(super) fn stamp(path: &Path) -> std::io::Result<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.len(), meta.modified().ok()))
}

/// One line of the input: its number (from 1), byte offset and text.
struct Lines {
    pub(super) reader: BufReader<File>,
    pub(super) buf: Vec<u8>,
    pub(super) offset: u64,
    pub(super) number: usize,
}

/// A line that holds an event, parsed.
struct Parsed {
    pub(super) number: usize,
    pub(super) offset: u64,
    pub(super) event: Result<InputEvent, String>,
}

impl Lines {
    /// The next line that is not blank, parsed; `None` at the end.
    pub(super) fn next(&mut self, actor: &str) -> std::io::Result<Option<Parsed>> {
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
pub(super) fn reread(file: &File, offset: u64, actor: &str) -> Result<InputEvent, Error> {
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

/// Parts of the input as a reader thread parses them, a few ahead of their consumer: the
/// parsing of one part overlaps the check or the append of the one before (two cores).
pub(super) struct ReadPart {
    pub(super) part: Part,
    /// Lines that do not parse: number and why.
    pub(super) bad: Vec<(usize, String)>,
    /// Lines that are not blank.
    pub(super) lines: u64,
    /// Bytes read so far.
    pub(super) end_offset: u64,
}

/// Parts read ahead at most (each up to 10,000 events): bounds the memory of the pipeline.
const PARTS_AHEAD_MAX: usize = 2;

/// The parts of the input, as the reader thread sends them.
pub(super) type Parts = tokio::sync::mpsc::Receiver<std::io::Result<ReadPart>>;

pub(super) fn read_parts(input: &Input, actor: &str) -> Result<Parts, Failure> {
    let mut lines = input.lines()?;
    let actor = actor.to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(PARTS_AHEAD_MAX);
    std::thread::spawn(move || {
        let mut sent_any = false;
        loop {
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
            // Nothing after a full part: the input ended with it (one part alone is sent even
            // empty, so that a consumer sees one part exactly when the input fits in one append).
            if end && read.lines == 0 && sent_any {
                return;
            }
            // The consumer gone (it failed): stop reading.
            if tx.blocking_send(Ok(read)).is_err() || end {
                return;
            }
            sent_any = true;
        }
    });
    Ok(rx)
}

/// Events of one part with the line and offset each came from.
#[derive(Default)]
pub(super) struct Part {
    pub(super) events: Vec<InputEvent>,
    pub(super) numbers: Vec<usize>,
    pub(super) offsets: Vec<u64>,
}

impl Part {
    pub(super) fn push(&mut self, number: usize, offset: u64, event: InputEvent) {
        self.events.push(event);
        self.numbers.push(number);
        self.offsets.push(offset);
    }
}
