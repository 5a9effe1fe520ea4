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

use std::collections::HashMap;
use std::ops::Range;

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

/// What the reader knows of one key. Fields are numbered by the read that set them (`seq`),
/// so that a snapshot skipped part way leaves nothing that a later read would trust.
#[derive(Debug, Default)]
struct Marks {
    /// The read in which the key (as the row writes it, before numbering) was last seen, its
    /// first row there and how many rows had it: for duplicate keys.
    seen: usize,
    first_row: usize,
    count: usize,
    /// The read in which the key (numbered where repeated) was last present.
    present: usize,
    /// The read that last gave the key a row, and where that row is: a CSV record's bytes, or
    /// an object's index.
    row: Option<(usize, Range<usize>)>,
}

/// The rows of the snapshot read last, to compare the next one's with.
enum Previous {
    Csv { headers: Vec<String>, body: Vec<u8> },
    Objects(Vec<Row>),
}

/// Reads the snapshots of one import in order.
#[derive(Default)]
pub(crate) struct Reader {
    marks: HashMap<String, Marks>,
    /// The number of reads begun.
    seq: usize,
    /// The last snapshot read whole, and its read's number.
    previous: Option<(usize, Previous)>,
}

impl Reader {
    /// Whether `key` was present in the snapshot read last.
    pub(crate) fn present(&self, key: &str) -> bool {
        self.marks.get(key).is_some_and(|m| m.present == self.seq)
    }

    /// Forgets the row `key` had: its state is about to change by something other than a
    /// comparison with that row, so its next row is read whole.
    pub(crate) fn forget(&mut self, key: &str) {
        if let Some(m) = self.marks.get_mut(key) {
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
                let previous = match &self.previous {
                    Some((seq, Previous::Csv { headers: h, body })) if *h == headers => {
                        Some((*seq, body.as_slice()))
                    }
                    _ => None,
                };
                let mut records = CsvRecords::new(body, headers.len());
                let mut record = csv::StringRecord::new();
                let mut buf = String::new();
                while let Some(at) = records.next(&mut record, &place).map_err(|e| (e, true))? {
                    out.rows += 1;
                    let row = RowRef::Csv(&record);
                    let unchanged = |was: &Range<usize>, seq: usize| {
                        previous.is_some_and(|(p, bytes)| {
                            p == seq && bytes[was.clone()] == body[at.clone()]
                        })
                    };
                    let step = Visit {
                        mapping,
                        columns: &columns,
                        snapshot: &snapshot.name,
                        n: out.rows,
                    };
                    // A header with the key's field and a row without a value in it is the
                    // row's error (the header lacking it is the snapshot's, above).
                    let (entry, first) = visit(
                        &mut self.marks,
                        self.seq,
                        &step,
                        row,
                        &mut buf,
                        at.clone(),
                        unchanged,
                    )
                    .map_err(|e| (e, false))?;
                    out.keys += usize::from(first);
                    out.entries.extend(entry);
                }
                if out.rows == 0 {
                    return Err((Error::at(place, "holds no rows"), true));
                }
                self.previous = Some((
                    self.seq,
                    Previous::Csv {
                        headers,
                        body: body.to_vec(),
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
                    let (entry, first) = visit(
                        &mut self.marks,
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
}

/// One row of read `seq`: its key (numbered where repeated, if the mapping says so), marked
/// present; the row read whole unless `unchanged` says it is the row the key had in the read
/// before; and whether the key is the first of its kind in the read.
fn visit(
    all: &mut HashMap<String, Marks>,
    seq: usize,
    step: &Visit<'_>,
    row: RowRef<'_>,
    buf: &mut String,
    at: Range<usize>,
    unchanged: impl Fn(&Range<usize>, usize) -> bool,
) -> Result<(Option<Entry>, bool), Error> {
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
    let marks = marks_of(all, base);
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
    let marks = match numbered.as_deref() {
        Some(numbered) => marks_of(all, numbered),
        None => marks,
    };
    let first = marks.present != seq;
    marks.present = seq;
    let was = marks.row.replace((seq, at));
    if was.is_some_and(|(s, range)| unchanged(&range, s)) {
        return Ok((None, first));
    }
    rows::entry(mapping, columns, row, snapshot, n, key.to_string()).map(|e| (Some(e), first))
}

/// The marks of `key`, new ones made for a key not seen before (the only rows that allocate).
fn marks_of<'m>(marks: &'m mut HashMap<String, Marks>, key: &str) -> &'m mut Marks {
    if !marks.contains_key(key) {
        return marks.entry(key.to_string()).or_default();
    }
    marks.get_mut(key).expect("the key was just found")
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
