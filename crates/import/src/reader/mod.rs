//! Reading the snapshots of one import in order, each against the one before it.
//!
//! Most rows of most snapshots are what they were in the snapshot before (5 % changed is a
//! busy week for a tracker). A row whose key was in the previous snapshot, at bytes (CSV, under
//! the same header) or a value (JSON, YAML) equal to this row's, leads to no event: the previous
//! snapshot's step brought the key's state in line with exactly that row, and comparing the same
//! row with the same state again gives nothing. Such a row is counted and its key marked
//! present, and nothing else: its fields are not read, its label not looked up. Every other row
//! is read whole, through the mapping ([`rows::entry`]).
//!
//! The reasoning holds only while nothing else changed the key's state between the two steps:
//! an event of this mapping found in the log between the two snapshots' dates (an earlier
//! import's) makes the plan [`Reader::forget`] the key's row first, so the row is read whole.
//!
//! * [`keys`]: what the reader knows of each key, by slot.
//! * [`lines`]: a CSV snapshot's unchanged rows found by their bytes, without parsing them.
//! * [`resume`]: a reader beginning at the last CSV snapshot of an earlier import.

mod keys;
mod lines;
mod resume;

pub(crate) use resume::LastCsv;

use std::ops::Range;

use keys::Keys;
use lines::Lines;

use crate::error::{Error, Place};
use crate::mapping::{Mapping, OnDuplicateKey};
use crate::rows::{self, Columns, Entry};
use crate::snapshot::{CsvRecords, Row, RowRef, Snapshot, Table};

/// A snapshot read: the rows new or changed since the snapshot before, and how many it has.
pub(crate) struct Read {
    /// Rows to compare with the ledger's state (every row of a first snapshot).
    pub(crate) entries: Vec<Entry>,
    /// Rows in the snapshot.
    pub(crate) rows: usize,
    /// Keys in the snapshot (rows, less any whose key another row has).
    pub(crate) keys: usize,
}

/// An error reading a snapshot, and whether it is the whole snapshot's (the file does not
/// parse, or is not the table the mapping describes: `--skip-unreadable` may skip it) rather
/// than one row's.
pub(crate) type Failed = (Error, bool);

/// The rows of the snapshot read last, to compare the next one's with.
enum Previous {
    Csv {
        headers: Vec<String>,
        body: Vec<u8>,
        lines: Lines,
    },
    Objects(Vec<Row>),
}

/// Reads the snapshots of one import in order.
#[derive(Default)]
pub(crate) struct Reader {
    keys: Keys,
    /// The number of reads begun.
    seq: usize,
    /// The last snapshot read whole, and its read's number.
    previous: Option<(usize, Previous)>,
}

impl Reader {
    /// Whether `key` was present in the snapshot read last.
    pub(crate) fn present(&self, key: &str) -> bool {
        self.keys.get(key).is_some_and(|m| m.present == self.seq)
    }

    /// Forgets the row `key` had: its state is about to change by something other than a
    /// comparison with that row, so its next row is read whole.
    pub(crate) fn forget(&mut self, key: &str) {
        if let Some(m) = self.keys.get_mut(key) {
            m.row = None;
        }
    }

    /// Reads `snapshot` through the mapping. An error names the snapshot, and the row and
    /// field where it is one row's.
    pub(crate) fn read(&mut self, mapping: &Mapping, snapshot: &Snapshot) -> Result<Read, Failed> {
        self.seq += 1;
        let table = snapshot.table(&mapping.rows).map_err(|e| (e, true))?;
        let columns = Columns::of(mapping, &table);
        let place = Place::snapshot(&snapshot.name);
        let no_key = |name: &str| {
            (
                Error::at(
                    place.clone().field(name),
                    "no row has this field of the key: not the table the mapping describes",
                ),
                true,
            )
        };
        let mut out = Read {
            entries: Vec::new(),
            rows: 0,
            keys: 0,
        };
        match table {
            Table::Csv { headers, body } => {
                if let Some(c) = columns.key.iter().find(|c| c.index().is_none()) {
                    return Err(no_key(c.name));
                }
                // Taken while this read uses it; put back if the read fails, so that the next
                // snapshot is compared with the last one read.
                let taken = self.previous.take();
                let previous = match &taken {
                    Some((
                        seq,
                        Previous::Csv {
                            headers: h,
                            body,
                            lines,
                        },
                    )) if *h == headers => Some((*seq, body.as_slice(), lines)),
                    _ => None,
                };
                let read = self
                    .read_csv(
                        mapping,
                        &columns,
                        &snapshot.name,
                        body,
                        headers.len(),
                        previous,
                        &mut out,
                    )
                    .and_then(|lines| match out.rows {
                        0 => Err((Error::at(place, "holds no rows"), true)),
                        _ => Ok(lines),
                    });
                let lines = match read {
                    Ok(lines) => lines,
                    Err(e) => {
                        self.previous = taken;
                        return Err(e);
                    }
                };
                self.previous = Some((
                    self.seq,
                    Previous::Csv {
                        headers,
                        body: body.to_vec(),
                        lines,
                    },
                ));
            }
            Table::Objects(objects) => {
                for column in &columns.key {
                    if objects
                        .iter()
                        .all(|o| RowRef::Object(o).get(column).is_none())
                    {
                        return Err(no_key(column.name));
                    }
                }
                let previous = match &self.previous {
                    Some((seq, Previous::Objects(rows))) => Some((*seq, rows.as_slice())),
                    _ => None,
                };
                let mut buf = String::new();
                for (i, object) in objects.iter().enumerate() {
                    out.rows += 1;
                    let unchanged = |was: &Range<usize>, seq: usize| {
                        previous.is_some_and(|(p, rows)| {
                            p == seq && rows.get(was.start) == Some(object)
                        })
                    };
                    let step = Visit {
                        mapping,
                        columns: &columns,
                        snapshot: &snapshot.name,
                        n: out.rows,
                    };
                    let (entry, first, _) = visit(
                        &mut self.keys,
                        self.seq,
                        &step,
                        RowRef::Object(object),
                        &mut buf,
                        i..i + 1,
                        unchanged,
                    )
                    .map_err(|e| (e, false))?;
                    out.keys += usize::from(first);
                    out.entries.extend(entry);
                }
                self.previous = Some((self.seq, Previous::Objects(objects)));
            }
        }
        Ok(out)
    }

    /// The rows of a CSV body into `out`; the index of its one-line rows, for the next read.
    /// A line that is a one-line row of `previous` (its read, body and index) whose key still
    /// has it is that row again ([`lines`]): counted and marked present, not parsed. Any other
    /// row is parsed from where it starts.
    #[allow(clippy::too_many_arguments)]
    fn read_csv(
        &mut self,
        mapping: &Mapping,
        columns: &Columns<'_>,
        name: &str,
        body: &[u8],
        fields: usize,
        previous: Option<(usize, &[u8], &Lines)>,
        out: &mut Read,
    ) -> Result<Lines, Failed> {
        let seq = self.seq;
        let place = &Place::snapshot(name);
        let mut records = CsvRecords::new(body, fields);
        let mut record = csv::StringRecord::new();
        let mut buf = String::new();
        // Rows of keys not numbered (and the hash of each line found), to index once the
        // read knows which keys repeat; hashed as the index before, whose hashes it reuses.
        let mut single: Vec<(Range<usize>, u32, Option<u64>)> = Vec::new();
        let mut index = previous.map_or_else(Lines::default, |(_, _, l)| Lines::like(l));
        let mut at = 0;
        while at < body.len() {
            if let Some((p, was_body, was_lines)) = previous {
                let end = lines::line_end(body, at);
                let hash = was_lines.hash(&body[at..end]);
                let same = was_lines
                    .find(was_body, &body[at..end], hash)
                    .filter(|(was, slot)| {
                        let m = self.keys.at(*slot);
                        m.seen != seq && m.row.as_ref().is_some_and(|(s, r)| *s == p && r == was)
                    });
                if let Some((_, slot)) = same {
                    out.rows += 1;
                    let m = self.keys.at(slot);
                    *m = keys::Marks {
                        seen: seq,
                        first_row: out.rows,
                        count: 1,
                        present: seq,
                        row: Some((seq, at..end)),
                    };
                    out.keys += 1;
                    single.push((at..end, slot, Some(hash)));
                    at = end;
                    continue;
                }
                records
                    .resume_at(at, out.rows, place)
                    .map_err(|e| (e, true))?;
            }
            let Some(range) = records.next(&mut record, place).map_err(|e| (e, true))? else {
                break;
            };
            // A record ends after its terminator; csv ends one ended by CRLF after the CR and
            // takes the LF as the start of the next. Here the LF is the record's, as a line's
            // is, so that the same record is the same bytes however it was found.
            let end = match body.get(range.end.wrapping_sub(1)..=range.end) {
                Some(b"\r\n") => range.end + 1,
                _ => range.end,
            };
            let range = range.start.max(at)..end;
            out.rows += 1;
            let unchanged = |was: &Range<usize>, s: usize| {
                previous.is_some_and(|(p, bytes, _)| {
                    p == s && bytes[was.clone()] == body[range.clone()]
                })
            };
            let step = Visit {
                mapping,
                columns,
                snapshot: name,
                n: out.rows,
            };
            // A header with the key's field and a row without a value in it is the row's
            // error (the header lacking it is the snapshot's, in [`Reader::read`]).
            let (entry, first, slot) = visit(
                &mut self.keys,
                seq,
                &step,
                RowRef::Csv(&record),
                &mut buf,
                range.clone(),
                unchanged,
            )
            .map_err(|e| (e, false))?;
            out.keys += usize::from(first);
            out.entries.extend(entry);
            if let Some(slot) = slot {
                single.push((range.clone(), slot, None));
            }
            at = range.end;
        }
        for (range, slot, hash) in single {
            if self.keys.at(slot).count == 1 {
                index.insert(body, range, slot, hash);
            }
        }
        Ok(index)
    }
}

/// One row of read `seq`: its key (numbered where repeated, if the mapping says so), marked
/// present; the row read whole unless `unchanged` says it is the row the key had in the read
/// before; whether the key is the first of its kind in the read; and the key's slot if it is
/// not numbered.
fn visit(
    all: &mut Keys,
    seq: usize,
    step: &Visit<'_>,
    row: RowRef<'_>,
    buf: &mut String,
    at: Range<usize>,
    unchanged: impl Fn(&Range<usize>, usize) -> bool,
) -> Result<(Option<Entry>, bool, Option<u32>), Error> {
    let Visit {
        mapping,
        columns,
        snapshot,
        n,
    } = *step;
    let base = rows::key(
        columns,
        row,
        |f| Place::snapshot(snapshot).row(n).field(f),
        buf,
    )?;
    let base_slot = all.slot(base);
    let marks = all.at(base_slot);
    let numbered = if marks.seen == seq {
        match mapping.on_duplicate_key {
                OnDuplicateKey::Error => {
                    return Err(Error::at(
                        Place::snapshot(snapshot)
                            .row(n)
                            .field(mapping.key.join(", ")),
                        format!(
                            "key `{base}` is already the key of row {} (on_duplicate_key = \"error\"; \"number\" keys repeats by their order)",
                            marks.first_row
                        ),
                    ))
                }
                OnDuplicateKey::Number => {
                    marks.count += 1;
                    Some(format!("{base} #{}", marks.count))
                }
            }
    } else {
        marks.seen = seq;
        marks.first_row = n;
        marks.count = 1;
        None
    };
    let key = numbered.as_deref().unwrap_or(base);
    // A key not numbered is the one just looked up: not looked up again.
    let (marks, single) = match numbered.as_deref() {
        Some(numbered) => {
            let slot = all.slot(numbered);
            (all.at(slot), None)
        }
        None => (all.at(base_slot), Some(base_slot)),
    };
    let first = marks.present != seq;
    marks.present = seq;
    let was = marks.row.replace((seq, at));
    if was.is_some_and(|(s, range)| unchanged(&range, s)) {
        return Ok((None, first, single));
    }
    rows::entry(mapping, columns, row, snapshot, n, key.to_string())
        .map(|e| (Some(e), first, single))
}

/// What [`Reader::visit`] needs of the snapshot being read.
#[derive(Clone, Copy)]
struct Visit<'a> {
    mapping: &'a Mapping,
    columns: &'a Columns<'a>,
    snapshot: &'a str,
    /// The row, counted from 1.
    n: usize,
}
