//! Snapshots: one file of a tracker's table as it stood on a date, in CSV, JSON or YAML, and
//! the ways of naming them (`DATE=FILE` arguments, a manifest).

use std::path::{Path, PathBuf};

use ikrar_core::Moment;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Place};

/// A row of a snapshot: its fields by name.
pub type Row = Map<String, Value>;

/// The format of a snapshot's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// An array of objects, or an object holding one.
    Json,
    /// The same as JSON, in YAML.
    Yaml,
}

impl Format {
    /// The format a file name's extension says, if it says one.
    ///
    /// ```
    /// use ikrar_import::Format;
    /// assert_eq!(Format::of_path("tracker/promises.YML".as_ref()), Some(Format::Yaml));
    /// assert_eq!(Format::of_path("notes.txt".as_ref()), None);
    /// ```
    pub fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// One snapshot of a tracker: its bytes, its date, and where it was published.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// How errors and warnings name it (`2017-11-01=tracker.json`, `repo:path@abc1234`).
    pub name: String,
    /// The date the tracker said this (valid time of everything recorded from it).
    pub date: Moment,
    /// Where it was published, if known.
    pub url: Option<String>,
    /// Its format.
    pub format: Format,
    /// Its bytes exactly as read.
    pub bytes: Vec<u8>,
}

impl Snapshot {
    /// A snapshot read from a file; the format comes from the file's extension.
    pub fn from_file(date: Moment, path: &Path, url: Option<String>) -> Result<Snapshot, Error> {
        let name = format!("{date}={}", path.display());
        let format = Format::of_path(path).ok_or_else(|| {
            Error::at(
                Place::snapshot(&name),
                "cannot tell the format from the file name (expected .csv, .json, .yaml or .yml)",
            )
        })?;
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: format!("snapshot {name}"),
            source,
        })?;
        Ok(Snapshot {
            name,
            date,
            url,
            format,
            bytes,
        })
    }

    /// The SHA-256 of the bytes, in lowercase hex: names the snapshot in every event's source.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    /// The rows the mapping's `rows` path (dotted; empty for the top level) points at.
    ///
    /// ```
    /// use ikrar_import::{Format, Snapshot};
    /// let s = Snapshot { name: "s".into(), date: "2024-01-01".parse().unwrap(), url: None,
    ///     format: Format::Yaml, bytes: b"promises:\n  - id: 1\n    title: A\n".to_vec() };
    /// let rows = s.rows("promises").unwrap();
    /// assert_eq!(rows[0]["title"], "A");
    /// ```
    pub fn rows(&self, path: &str) -> Result<Vec<Row>, Error> {
        Ok(match self.table(path)? {
            Table::Objects(rows) => rows,
            Table::Csv { headers, body } => {
                let mut out = Vec::new();
                let mut records = CsvRecords::new(body, headers.len());
                let mut record = csv::StringRecord::new();
                while records
                    .next(&mut record, &Place::snapshot(&self.name))?
                    .is_some()
                {
                    out.push(
                        headers
                            .iter()
                            .zip(record.iter())
                            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
                            .collect(),
                    );
                }
                out
            }
        })
    }

    /// The rows, parsed but not copied into maps: a CSV file's header is read and its records
    /// are left to be read one at a time (each compared as bytes with the snapshot before, most
    /// of them unchanged), so that the importer touches only the rows that changed and only the
    /// columns the mapping names.
    pub(crate) fn table(&self, path: &str) -> Result<Table<'_>, Error> {
        let place = || Place::snapshot(&self.name);
        let bytes = self
            .bytes
            .strip_prefix("\u{feff}".as_bytes())
            .unwrap_or(&self.bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::at(place(), "the file is empty"));
        }
        let document = match self.format {
            Format::Csv => return csv_table(bytes, &place()),
            Format::Json => serde_json::from_slice::<Value>(bytes)
                .map_err(|e| Error::at(place(), format!("not valid JSON: {e}")))?,
            Format::Yaml => serde_yaml_ng::from_slice::<Value>(bytes)
                .map_err(|e| Error::at(place(), format!("not valid YAML: {e}")))?,
        };
        let list = take_rows(document, path).ok_or_else(|| {
            let at = if path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("at `{path}`")
            };
            Error::at(place(), format!("holds no list of rows {at}"))
        })?;
        if list.is_empty() {
            return Err(Error::at(place(), "holds no rows"));
        }
        list.into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(row) => Ok(row),
                _ => Err(Error::at(place().row(i + 1), "is not an object of fields")),
            })
            .collect::<Result<_, _>>()
            .map(Table::Objects)
    }
}

/// A snapshot's rows as parsed.
pub(crate) enum Table<'a> {
    /// A CSV file: its header, and the bytes of its records (read by [`CsvRecords`]).
    Csv {
        headers: Vec<String>,
        body: &'a [u8],
    },
    /// JSON or YAML objects.
    Objects(Vec<Row>),
}

/// A CSV file's records, one at a time, each with the bytes it was read from.
pub(crate) struct CsvRecords<'a> {
    body: &'a [u8],
    reader: csv::Reader<std::io::Cursor<&'a [u8]>>,
    /// The header's number of fields, which every record must have.
    fields: usize,
    read: usize,
}

impl<'a> CsvRecords<'a> {
    /// The records of `body` (the bytes after a header line of `fields` fields).
    pub(crate) fn new(body: &'a [u8], fields: usize) -> CsvRecords<'a> {
        CsvRecords {
            body,
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(std::io::Cursor::new(body)),
            fields,
            read: 0,
        }
    }

    /// Goes on from the record boundary at byte `at`, `rows` rows having been read before it
    /// (some of them found without this reader).
    pub(crate) fn resume_at(&mut self, at: usize, rows: usize, place: &Place) -> Result<(), Error> {
        self.read = rows;
        if self.reader.position().byte() as usize == at {
            return Ok(());
        }
        let mut position = csv::Position::new();
        position.set_byte(at as u64);
        self.reader
            .seek(position)
            .map_err(|e| Error::at(place.clone().row(rows + 1), format!("not valid CSV: {e}")))
    }

    /// Reads the next record into `record`; its bytes' range in the body, or `None` at the end.
    /// A record that is not valid CSV (or has another number of fields than the ones before) is
    /// the snapshot's error, naming the row.
    pub(crate) fn next(
        &mut self,
        record: &mut csv::StringRecord,
        place: &Place,
    ) -> Result<Option<std::ops::Range<usize>>, Error> {
        let start = self.reader.position().byte() as usize;
        match self.reader.read_record(record) {
            Ok(true) if record.len() != self.fields => Err(Error::at(
                place.clone().row(self.read + 1),
                format!(
                    "not valid CSV: the row has {} fields, the header {}",
                    record.len(),
                    self.fields
                ),
            )),
            Ok(true) => {
                self.read += 1;
                let end = (self.reader.position().byte() as usize).min(self.body.len());
                Ok(Some(start..end))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(Error::at(
                place.clone().row(self.read + 1),
                format!("not valid CSV: {e}"),
            )),
        }
    }
}

/// One row of a table.
#[derive(Clone, Copy)]
pub(crate) enum RowRef<'a> {
    Csv(&'a csv::StringRecord),
    Object(&'a Row),
}

impl<'a> RowRef<'a> {
    /// The field a column names, if the row has it.
    pub(crate) fn get(self, column: &Column<'_>) -> Option<Cell<'a>> {
        match self {
            RowRef::Csv(record) => record.get(column.index?).map(Cell::Text),
            RowRef::Object(row) => row.get(column.name).map(Cell::Json),
        }
    }
}

/// One field of one row.
pub(crate) enum Cell<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A field the mapping names, found once per snapshot (a CSV column's index).
pub(crate) struct Column<'a> {
    pub(crate) name: &'a str,
    index: Option<usize>,
}

impl Column<'_> {
    /// The CSV column's index in the header, if the header has it.
    pub(crate) fn index(&self) -> Option<usize> {
        self.index
    }
}

impl Table<'_> {
    pub(crate) fn column<'a>(&self, name: &'a str) -> Column<'a> {
        let index = match self {
            Table::Csv { headers, .. } => headers.iter().position(|h| h == name),
            Table::Objects(_) => None,
        };
        Column { name, index }
    }
}

/// Follows a dotted path and takes the list there; at the top level, an object holding exactly
/// one list stands for it.
fn take_rows(mut document: Value, path: &str) -> Option<Vec<Value>> {
    let mut at = &mut document;
    if !path.is_empty() {
        for step in path.split('.') {
            at = match at {
                Value::Object(fields) => fields.get_mut(step)?,
                Value::Array(items) => items.get_mut(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
    }
    match at {
        Value::Array(items) => Some(std::mem::take(items)),
        Value::Object(fields) if path.is_empty() => {
            let mut lists = fields.values_mut().filter_map(Value::as_array_mut);
            match (lists.next(), lists.next()) {
                (Some(only), None) => Some(std::mem::take(only)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn csv_table<'a>(bytes: &'a [u8], place: &Place) -> Result<Table<'a>, Error> {
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::at(place.clone(), format!("not valid CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect::<Vec<_>>();
    let body = &bytes[(reader.position().byte() as usize).min(bytes.len())..];
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::at(place.clone(), "holds no rows"));
    }
    Ok(Table::Csv { headers, body })
}

/// Snapshots named by `DATE=FILE` arguments, in the order given.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("t.csv");
/// std::fs::write(&file, "id,title\n1,A\n").unwrap();
/// let arg = format!("2024-03-01={}", file.display());
/// let snapshots = ikrar_import::snapshots_from_args(&[arg]).unwrap();
/// assert_eq!(snapshots[0].date.to_string(), "2024-03-01");
/// assert!(ikrar_import::snapshots_from_args(&["t.csv".to_string()]).is_err());
/// ```
pub fn snapshots_from_args(args: &[String]) -> Result<Vec<Snapshot>, Error> {
    args.iter()
        .map(|arg| {
            let (date, file) = arg.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "`{arg}` is not DATE=FILE (e.g. 2017-11-01=tracker.json)"
                ))
            })?;
            let date = parse_date(date, arg)?;
            Snapshot::from_file(date, Path::new(file), None)
        })
        .collect()
}

fn parse_date(text: &str, what: &str) -> Result<Moment, Error> {
    text.trim()
        .parse::<Moment>()
        .map_err(|e| Error::Usage(format!("`{what}`: the date {e}")))
}

/// Snapshots named by a manifest: CSV lines `date,file[,url]` (a header line `date,file,url` is
/// allowed), files relative to the manifest's folder.
pub fn snapshots_from_manifest(manifest: &Path) -> Result<Vec<Snapshot>, Error> {
    let text = std::fs::read(manifest).map_err(|source| Error::Read {
        path: format!("manifest {}", manifest.display()),
        source,
    })?;
    let base = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    let mut snapshots = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let bad =
            |m: String| Error::Usage(format!("manifest {}, line {line}: {m}", manifest.display()));
        let record = record.map_err(|e| bad(format!("not valid CSV: {e}")))?;
        let cells: Vec<&str> = record.iter().map(str::trim).collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        if line == 1 && cells[0].eq_ignore_ascii_case("date") {
            continue;
        }
        if !(2..=3).contains(&cells.len()) {
            return Err(bad(format!(
                "has {} fields; expected date,file[,url]",
                cells.len()
            )));
        }
        let date = cells[0]
            .parse::<Moment>()
            .map_err(|e| bad(format!("the date {e}")))?;
        let file = PathBuf::from(cells[1]);
        let file = if file.is_absolute() {
            file
        } else {
            base.join(file)
        };
        let url = cells
            .get(2)
            .filter(|u| !u.is_empty())
            .map(|u| u.to_string());
        snapshots.push(Snapshot::from_file(date, &file, url)?);
    }
    if snapshots.is_empty() {
        return Err(Error::Usage(format!(
            "manifest {} names no snapshot",
            manifest.display()
        )));
    }
    Ok(snapshots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(format: Format, text: &str) -> Snapshot {
        Snapshot {
            name: "s".into(),
            date: "2024-01-01".parse().unwrap(),
            url: None,
            format,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rows_are_found_in_every_format() {
        let csv = snap(Format::Csv, "\u{feff}id,title\n1,A\n2,\"B, b\"\n");
        assert_eq!(csv.rows("").unwrap()[1]["title"], "B, b");
        let json = snap(Format::Json, r#"{"meta":{},"data":{"items":[{"id":1}]}}"#);
        assert_eq!(json.rows("data.items").unwrap()[0]["id"], 1);
        let holding_one = snap(Format::Json, r#"{"version":2,"promises":[{"id":1}]}"#);
        assert_eq!(holding_one.rows("").unwrap().len(), 1);
        let yaml = snap(Format::Yaml, "- id: 1\n  parties: [Japan, China]\n");
        assert_eq!(yaml.rows("").unwrap()[0]["parties"][1], "China");
    }

    #[test]
    fn unreadable_snapshots_say_why() {
        let cases = [
            (snap(Format::Json, "{\"data\": ["), "not valid JSON"),
            (snap(Format::Json, "{\"data\": []}"), "holds no rows"),
            (
                snap(Format::Json, "{\"other\": [1]}"),
                "holds no list of rows at `data`",
            ),
            (snap(Format::Yaml, "data: [1]"), "row 1"),
            (snap(Format::Csv, "id,title\n"), "holds no rows"),
            (snap(Format::Csv, "id,title\n1,A,extra\n"), "row 1"),
            (snap(Format::Yaml, "  "), "empty"),
        ];
        for (s, want) in cases {
            let e = s.rows("data").unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("snapshot s"), "{e}");
        }
    }
}
