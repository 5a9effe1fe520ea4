//! A snapshot's rows read through the mapping: one entry per key, with the commitment's fields,
//! its status and the tracker's own label.

use std::borrow::Cow;

use chrono::NaiveDate;
use ikrar_core::event::TITLE_CHARS_MAX;
use ikrar_core::Status;
use serde_json::Value;

use crate::error::{Error, Place};
use crate::mapping::{LongTitles, Mapping};
use crate::snapshot::{Cell, Column, RowRef, Table};

/// The fields of a commitment a tracker gives (those the mapping names). Kept by an import
/// in short names, without what is empty (see [`crate::state::Current`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Fields {
    #[serde(rename = "t")]
    pub(crate) title: String,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub(crate) summary: Option<String>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) parties: Vec<String>,
    #[serde(rename = "h", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) themes: Vec<String>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub(crate) due: Option<NaiveDate>,
}

/// One row, read.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The key as text: the key fields' values joined by ` | `, numbered `#2`, `#3`, … when
    /// repeated and the mapping says so.
    pub(crate) key: String,
    /// The row, counted from 1.
    pub(crate) row: usize,
    pub(crate) fields: Fields,
    pub(crate) status: Status,
    pub(crate) label: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) url: Option<String>,
}

/// A field's value as text: strings trimmed, numbers and booleans written out, lists joined;
/// empty means absent. Borrowed from the snapshot where it can be (most fields of most rows).
fn text<'a>(cell: Option<Cell<'a>>) -> Option<Cow<'a, str>> {
    let s: Cow<'a, str> = match cell? {
        Cell::Text(s) => Cow::Borrowed(s.trim()),
        Cell::Json(Value::String(s)) => Cow::Borrowed(s.trim()),
        Cell::Json(Value::Null) => return None,
        Cell::Json(Value::Array(items)) => Cow::Owned(
            items
                .iter()
                .filter_map(|v| text(Some(Cell::Json(v))))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Cell::Json(other) => Cow::Owned(other.to_string()),
    };
    (!s.is_empty()).then_some(s)
}

fn owned(cell: Option<Cell<'_>>) -> Option<String> {
    text(cell).map(Cow::into_owned)
}

/// A field's value as a list: a list gives its items, anything else one item.
fn list(cell: Option<Cell<'_>>) -> Vec<String> {
    match cell {
        Some(Cell::Json(Value::Array(items))) => items
            .iter()
            .filter_map(|v| owned(Some(Cell::Json(v))))
            .collect(),
        other => owned(other).into_iter().collect(),
    }
}

/// Cuts a title to at most 500 characters at the last word boundary before the limit, and
/// marks the cut with an ellipsis (so that a reader knows the tracker said more).
pub(crate) fn truncate_title(title: &str) -> String {
    if title.chars().count() <= TITLE_CHARS_MAX {
        return title.to_string();
    }
    let room = TITLE_CHARS_MAX - 1;
    let head: String = title.chars().take(room + 1).collect();
    let cut = head
        .char_indices()
        .filter(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .next_back()
        .filter(|&i| i > 0)
        .unwrap_or_else(|| head.char_indices().nth(room).map_or(head.len(), |(i, _)| i));
    let mut out = head[..cut].trim_end().to_string();
    if out.chars().count() > room {
        out = out.chars().take(room).collect();
    }
    out.push('…');
    out
}

fn parse_due(text: &str) -> Result<NaiveDate, String> {
    let head = text.get(..10).unwrap_or(text);
    ikrar_core::moment::parse_date(head).map_err(|_| {
        format!("`{text}` is not a date (YYYY-MM-DD, or an instant starting with one)")
    })
}

/// The columns the mapping names, found once per snapshot.
pub(crate) struct Columns<'m> {
    pub(crate) key: Vec<Column<'m>>,
    title: Column<'m>,
    summary: Option<Column<'m>>,
    owner: Option<Column<'m>>,
    parties: Option<Column<'m>>,
    themes: Option<Column<'m>>,
    due: Option<Column<'m>>,
    label: Option<Column<'m>>,
    reason: Option<Column<'m>>,
    url: Option<Column<'m>>,
}

impl<'m> Columns<'m> {
    pub(crate) fn of(mapping: &'m Mapping, table: &Table<'_>) -> Columns<'m> {
        let col = |f: &'m Option<String>| f.as_deref().map(|f| table.column(f));
        Columns {
            key: mapping.key.iter().map(|k| table.column(k)).collect(),
            title: table.column(&mapping.title),
            summary: col(&mapping.summary),
            owner: col(&mapping.owner),
            parties: col(&mapping.parties),
            themes: col(&mapping.themes),
            due: col(&mapping.due),
            label: col(&mapping.label),
            reason: col(&mapping.reason),
            url: col(&mapping.url),
        }
    }
}

/// The row's key as text (the key fields' values joined by ` | `), written into `buf` where
/// it is not one field's value as it stands. An error names the field the row lacks.
pub(crate) fn key<'r>(
    columns: &Columns<'_>,
    row: RowRef<'r>,
    place: impl Fn(&str) -> Place,
    buf: &'r mut String,
) -> Result<&'r str, Error> {
    let missing = |name: &str| {
        Error::at(
            place(name),
            "the row has no key (the field is missing or empty)",
        )
    };
    if let [only] = columns.key.as_slice() {
        return match text(row.get(only)).ok_or_else(|| missing(only.name))? {
            Cow::Borrowed(s) => Ok(s),
            Cow::Owned(s) => {
                *buf = s;
                Ok(buf.as_str())
            }
        };
    }
    buf.clear();
    for (j, column) in columns.key.iter().enumerate() {
        let v = text(row.get(column)).ok_or_else(|| missing(column.name))?;
        if j > 0 {
            buf.push_str(" | ");
        }
        buf.push_str(&v);
    }
    Ok(buf.as_str())
}

/// Reads one row (row `n`, counted from 1) through the mapping, its key already found.
/// Errors name the snapshot, the row and the field.
pub(crate) fn entry(
    mapping: &Mapping,
    columns: &Columns<'_>,
    row: RowRef<'_>,
    snapshot: &str,
    n: usize,
    key: String,
) -> Result<Entry, Error> {
    let at = |field: &str| Place::snapshot(snapshot).row(n).field(field);
    let get = |c: &Option<Column<'_>>| c.as_ref().and_then(|c| row.get(c));
    let title = text(row.get(&columns.title)).ok_or_else(|| {
        Error::at(
            at(&mapping.title),
            "the row has no title (the field is missing or empty)",
        )
    })?;
    let title = if title.chars().count() > TITLE_CHARS_MAX {
        match mapping.long_titles {
            LongTitles::Truncate => truncate_title(&title),
            LongTitles::Error => {
                return Err(Error::at(
                    at(&mapping.title),
                    format!(
                        "the title has {} characters, more than {TITLE_CHARS_MAX} (long_titles = \"truncate\" cuts it)",
                        title.chars().count()
                    ),
                ))
            }
        }
    } else {
        title.into_owned()
    };
    let (status, label) = match &columns.label {
        None => match &mapping.default_label {
            Some(d) => (
                mapping.status_of(d).unwrap_or(Status::Announced),
                Some(d.clone()),
            ),
            None => (Status::Announced, None),
        },
        Some(column) => {
            let label = match (owned(row.get(column)), &mapping.default_label) {
                (Some(l), _) => l,
                (None, Some(d)) => d.clone(),
                (None, None) => {
                    return Err(Error::at(
                        at(column.name),
                        "the row has no label, and the mapping has no default_label",
                    ))
                }
            };
            let status = mapping.status_of(&label).ok_or_else(|| {
                Error::at(
                    at(column.name),
                    format!("label `{label}` is not in the mapping's [labels]"),
                )
            })?;
            (status, Some(label))
        }
    };
    let due = match text(get(&columns.due)) {
        None => None,
        Some(d) => Some(
            parse_due(&d).map_err(|m| Error::at(at(mapping.due.as_deref().unwrap_or("due")), m))?,
        ),
    };
    let list_of = |c: &Option<Column<'_>>| c.as_ref().map(|c| list(row.get(c))).unwrap_or_default();
    Ok(Entry {
        key,
        row: n,
        fields: Fields {
            title,
            summary: owned(get(&columns.summary)),
            owner: owned(get(&columns.owner)),
            parties: list_of(&columns.parties),
            themes: list_of(&columns.themes),
            due,
        },
        status,
        label,
        reason: owned(get(&columns.reason)),
        url: owned(get(&columns.url)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(extra: &str) -> Mapping {
        let text = format!(
            "namespace = \"5b0c6f7e-3d2a-4e1b-9c8d-7a6f5e4d3c2b\"\nkey = [\"dept\", \"id\"]\ntitle = \"title\"\nlabel = \"status\"\nparties = \"parties\"\ndue = \"due\"\n{extra}\n[labels]\n\"Done\" = \"fulfilled\"\n\"Not started\" = \"announced\"\n"
        );
        Mapping::from_toml(&text, "m").unwrap()
    }

    fn read(m: &Mapping, v: serde_json::Value) -> Result<Vec<Entry>, Error> {
        let s = crate::Snapshot {
            name: "s".into(),
            date: "2024-01-01".parse().unwrap(),
            url: None,
            format: crate::Format::Json,
            bytes: v.to_string().into_bytes(),
        };
        crate::reader::Reader::default()
            .read(m, &s)
            .map(|r| r.entries)
            .map_err(|(e, _)| e)
    }

    fn err(m: &Mapping, v: serde_json::Value) -> String {
        read(m, v).unwrap_err().to_string()
    }

    #[test]
    fn rows_become_entries() {
        let m = mapping("on_duplicate_key = \"number\"\ndefault_label = \"Not started\"");
        let e = read(
            &m,
            json!([
                {"dept": "A", "id": 1, "title": " One ", "status": "done", "parties": ["Japan", ""], "due": "2025-06-30"},
                {"dept": "A", "id": 1, "title": "One again", "status": ""},
                {"dept": "B", "id": 2, "title": "Two", "parties": "China", "due": "2025-06-30T12:00:00Z"},
            ]),
        )
        .unwrap();
        assert_eq!(e[0].key, "A | 1");
        assert_eq!(e[1].key, "A | 1 #2");
        assert_eq!(
            (e[0].status, e[0].label.as_deref()),
            (Status::Fulfilled, Some("done"))
        );
        assert_eq!(
            (e[1].status, e[1].label.as_deref()),
            (Status::Announced, Some("Not started"))
        );
        assert_eq!(e[0].fields.title, "One");
        assert_eq!(e[0].fields.parties, ["Japan"]);
        assert_eq!(e[2].fields.parties, ["China"]);
        assert_eq!(e[2].fields.due, NaiveDate::from_ymd_opt(2025, 6, 30));
    }

    #[test]
    fn bad_rows_name_the_row_and_the_field() {
        let m = mapping("");
        let e = err(
            &m,
            json!([{"dept": "A", "id": 1, "title": "x", "status": "Done"}, {"dept": "A", "title": "y", "status": "Done"}]),
        );
        assert!(
            e.contains("row 2") && e.contains("field `id`") && e.contains("no key"),
            "{e}"
        );
        let e = err(&m, json!([{"dept": "A", "id": 1, "status": "Done"}]));
        assert!(e.contains("row 1") && e.contains("field `title`"), "{e}");
        let e = err(
            &m,
            json!([{"dept": "A", "id": 1, "title": "x", "status": "Finito"}]),
        );
        assert!(e.contains("field `status`") && e.contains("Finito"), "{e}");
        let e = err(&m, json!([{"dept": "A", "id": 1, "title": "x"}]));
        assert!(e.contains("no label"), "{e}");
        let e = err(
            &m,
            json!([{"dept": "A", "id": 1, "title": "x", "status": "Done"}, {"dept": "A", "id": 1, "title": "y", "status": "Done"}]),
        );
        assert!(
            e.contains("row 2") && e.contains("row 1") && e.contains("on_duplicate_key"),
            "{e}"
        );
        let e = err(
            &m,
            json!([{"dept": "A", "id": 1, "title": "x".repeat(501), "status": "Done"}]),
        );
        assert!(e.contains("501 characters"), "{e}");
        let e = err(
            &m,
            json!([{"dept": "A", "id": 1, "title": "x", "status": "Done", "due": "soon"}]),
        );
        assert!(e.contains("field `due`") && e.contains("soon"), "{e}");
    }

    #[test]
    fn long_titles_are_cut_on_a_word_boundary() {
        let long = "word ".repeat(150);
        let cut = truncate_title(&long);
        assert!(cut.chars().count() <= TITLE_CHARS_MAX);
        assert!(cut.ends_with("word…"), "{cut}");
        let unbroken = "é".repeat(700);
        assert_eq!(truncate_title(&unbroken).chars().count(), TITLE_CHARS_MAX);
        assert_eq!(truncate_title("short"), "short");
    }
}
