//! What `ikrar append FILE` prints: positions kept as runs, and JSON written as it serialises.

use crate::output::Format;
use crate::render;

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

/// What an append prints.
pub(super) fn report(format: Format, positions: &Positions, new_events: u64, tree_size: u64) {
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
            positions,
            tree_size,
        }),
    }
}

/// What a dry run prints.
pub(super) fn report_dry_run(format: Format, events: u64, new_events: u64, positions: &Positions) {
    match format {
        Format::Table => outln!(
            "dry run: {} valid ({new_events} new); nothing was written",
            render::count(events as usize, "event"),
        ),
        _ => print_json_streamed(&DryRun {
            dry_run: true,
            valid: true,
            events,
            new_events,
            positions,
        }),
    }
}

/// The positions of an append's events, in order, kept as runs of consecutive positions: the
/// new events of a file are one run, so ten million positions take a few bytes, not 80 MB.
#[derive(Default)]
pub(super) struct Positions {
    /// `(first, count)` of each run.
    pub(super) runs: Vec<(u64, u64)>,
    pub(super) count: u64,
    pub(super) min: Option<u64>,
    pub(super) max: Option<u64>,
}

impl Positions {
    pub(super) fn extend(&mut self, positions: impl IntoIterator<Item = u64>) {
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
