//! Views for people (tables that fit the terminal, colour only on a terminal) and for programs
//! (CSV with a header row).

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};
use ikrar_core::{Moment, Status};
use ikrar_state::{view_instant, CommitmentView, Diff, MeetingView, Summary};

/// A table that wraps to the terminal's width; plain text when not on a terminal or when
/// `NO_COLOR` is set.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    if std::env::var_os("NO_COLOR").is_some() {
        t.force_no_tty();
    }
    t
}

/// The status, coloured by what it means.
pub fn status_cell(status: Status) -> Cell {
    let color = match status {
        Status::Fulfilled => Color::Green,
        Status::PartiallyFulfilled => Color::DarkGreen,
        Status::InProgress => Color::Cyan,
        Status::AtRisk => Color::Yellow,
        Status::Broken => Color::Red,
        Status::Withdrawn | Status::Superseded => Color::Grey,
        Status::Announced => Color::Reset,
    };
    Cell::new(status.as_str()).fg(color)
}

fn or_dash(s: Option<&str>) -> String {
    s.unwrap_or("—").to_string()
}

/// Keeps a column of ids (or dates) on one line; the text columns wrap instead.
pub fn keep_whole(t: &mut Table, columns: &[usize]) {
    for &i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
    }
}

/// `1 event`, `2 events`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Ids as a table shows them: each id's shortest prefix (at least its first 13 characters,
/// the millisecond of a UUIDv7) that no other id given shares — the table's own and the
/// ledger's that start like them ([`crate::commands::look_alikes`]) — which every command takes
/// in place of the whole id. Ids that differ only at their end (made in one millisecond,
/// or numbered by hand) are shown whole.
pub struct ShortIds(std::collections::HashMap<uuid::Uuid, String>);

impl ShortIds {
    pub fn of(ids: impl IntoIterator<Item = uuid::Uuid>) -> ShortIds {
        let mut texts: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
        texts.sort_unstable();
        texts.dedup();
        let common =
            |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let mut out = std::collections::HashMap::new();
        for (i, t) in texts.iter().enumerate() {
            let before = i.checked_sub(1).map_or(0, |j| common(&texts[j], t));
            let after = texts.get(i + 1).map_or(0, |n| common(n, t));
            let len = (before.max(after) + 1)
                .max(crate::commands::SHORT_ID_CHARS)
                .min(t.len());
            if let Ok(id) = t.parse() {
                out.insert(id, t[..len].to_string());
            }
        }
        ShortIds(out)
    }

    pub fn get(&self, id: uuid::Uuid) -> String {
        self.0.get(&id).cloned().unwrap_or_else(|| id.to_string())
    }
}

/// Commitments, one per row.
pub fn commitments_table(list: &[CommitmentView], others: &[uuid::Uuid]) -> Table {
    let mut t = table(&[
        "id", "title", "status", "label", "parties", "made on", "due",
    ]);
    let short = ShortIds::of(
        list.iter()
            .map(|c| c.commitment_id)
            .chain(others.iter().copied()),
    );
    for c in list {
        t.add_row(vec![
            Cell::new(short.get(c.commitment_id)),
            Cell::new(&c.title),
            status_cell(c.status),
            Cell::new(or_dash(c.label.as_deref())),
            Cell::new(c.parties.join(", ")),
            Cell::new(c.made_on),
            Cell::new(c.due.map_or("—".to_string(), |d| d.to_string())),
        ]);
    }
    keep_whole(&mut t, &[0, 2, 5, 6]);
    t
}

/// Meetings, one per row.
pub fn meetings_table(list: &[MeetingView], others: &[uuid::Uuid]) -> Table {
    let mut t = table(&["id", "title", "held on", "location", "commitments"]);
    let short = ShortIds::of(
        list.iter()
            .flat_map(|m| std::iter::once(m.meeting_id).chain(m.commitment_ids.iter().copied()))
            .chain(others.iter().copied()),
    );
    for m in list {
        t.add_row(vec![
            Cell::new(short.get(m.meeting_id)),
            Cell::new(&m.title),
            Cell::new(readable_moment(&m.held_on)),
            Cell::new(or_dash(m.location.as_deref())),
            Cell::new(
                m.commitment_ids
                    .iter()
                    .map(|c| short.get(*c))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ]);
    }
    keep_whole(&mut t, &[0, 2, 4]);
    t
}

/// The CSV header of meetings.
pub const MEETING_CSV_HEADER: [&str; 8] = [
    "meeting_id",
    "title",
    "held_on",
    "location",
    "commitment_ids",
    "outcomes",
    "version",
    "stream_version",
];

/// One meeting as a CSV row (lists joined with `;`).
pub fn meeting_csv_row(m: &MeetingView) -> Vec<String> {
    vec![
        m.meeting_id.to_string(),
        m.title.clone(),
        m.held_on.to_string(),
        m.location.clone().unwrap_or_default(),
        m.commitment_ids
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(";"),
        m.outcomes.join(";"),
        m.version.to_string(),
        m.stream_version.to_string(),
    ]
}

/// The CSV header of commitments.
pub const COMMITMENT_CSV_HEADER: [&str; 14] = [
    "commitment_id",
    "title",
    "summary",
    "owner",
    "parties",
    "themes",
    "made_on",
    "due",
    "status",
    "label",
    "status_since",
    "meetings",
    "version",
    "stream_version",
];

/// One commitment as a CSV row (lists joined with `;`).
pub fn commitment_csv_row(c: &CommitmentView) -> Vec<String> {
    vec![
        c.commitment_id.to_string(),
        c.title.clone(),
        c.summary.clone().unwrap_or_default(),
        c.owner.clone().unwrap_or_default(),
        c.parties.join(";"),
        c.themes.join(";"),
        c.made_on.to_string(),
        c.due.map(|d| d.to_string()).unwrap_or_default(),
        c.status.to_string(),
        c.label.clone().unwrap_or_default(),
        view_instant(&c.status_since),
        c.meetings
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(";"),
        c.version.to_string(),
        c.stream_version.to_string(),
    ]
}

/// Writes rows as CSV to standard output.
pub fn print_csv(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    let written = (|| {
        w.write_record(header)?;
        for row in rows {
            w.write_record(&row)?;
        }
        w.flush()?;
        Ok::<(), csv::Error>(())
    })();
    written.map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    })
}

/// One commitment, field by field.
pub fn commitment_detail(c: &CommitmentView, meeting_titles: &[(String, String)]) -> Table {
    let mut t = table(&["field", "value"]);
    let rows: Vec<(&str, Cell)> = vec![
        ("commitment", Cell::new(c.commitment_id)),
        ("title", Cell::new(&c.title)),
        ("summary", Cell::new(or_dash(c.summary.as_deref()))),
        ("owner", Cell::new(or_dash(c.owner.as_deref()))),
        ("parties", Cell::new(c.parties.join(", "))),
        ("themes", Cell::new(c.themes.join(", "))),
        ("made on", Cell::new(c.made_on)),
        (
            "due",
            Cell::new(c.due.map_or("—".into(), |d| d.to_string())),
        ),
        ("status", status_cell(c.status)),
        ("label", Cell::new(or_dash(c.label.as_deref()))),
        ("status since", Cell::new(readable_instant(&c.status_since))),
        (
            "meetings",
            Cell::new(
                meeting_titles
                    .iter()
                    .map(|(id, title)| format!("{title} ({id})"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ),
        ("version", Cell::new(c.version)),
        ("stream version", Cell::new(c.stream_version)),
    ];
    for (k, v) in rows {
        t.add_row(vec![Cell::new(k), v]);
    }
    t
}

/// One meeting, field by field.
pub fn meeting_detail(m: &MeetingView) -> Table {
    let mut t = table(&["field", "value"]);
    let participants = m
        .participants
        .iter()
        .map(|p| {
            let extra: Vec<&str> = [p.role.as_deref(), p.organisation.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if extra.is_empty() {
                p.name.clone()
            } else {
                format!("{} ({})", p.name, extra.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let rows = vec![
        ("meeting", m.meeting_id.to_string()),
        ("title", m.title.clone()),
        ("held on", readable_moment(&m.held_on)),
        ("location", or_dash(m.location.as_deref())),
        ("participants", participants),
        (
            "commitments",
            m.commitment_ids
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("outcomes", m.outcomes.join("\n")),
        ("version", m.version.to_string()),
        ("stream version", m.stream_version.to_string()),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    t
}

/// Counts by status, then by party.
pub fn summary_tables(s: &Summary) -> (String, Table, Table) {
    let heading = format!(
        "{} commitments as of {}, as known at tree size {}",
        s.total,
        readable_instant(&s.as_of),
        s.known_at.tree_size
    );
    let mut by_status = table(&["status", "commitments"]);
    for (status, n) in &s.by_status {
        by_status.add_row(vec![status_cell(status.0), Cell::new(n)]);
    }
    let mut by_party = table(&["party", "commitments"]);
    for (party, n) in &s.by_party {
        by_party.add_row(vec![Cell::new(party), Cell::new(n)]);
    }
    (heading, by_status, by_party)
}

/// A diff as a table of changes.
pub fn diff_table(d: &Diff) -> Table {
    let mut t = table(&["change", "commitment", "title", "what"]);
    for c in &d.added {
        t.add_row(vec![
            Cell::new("added").fg(Color::Green),
            Cell::new(c.commitment_id),
            Cell::new(&c.title),
            status_cell(c.status),
        ]);
    }
    for c in &d.removed {
        t.add_row(vec![
            Cell::new("removed").fg(Color::Red),
            Cell::new(c.commitment_id),
            Cell::new(&c.title),
            Cell::new(""),
        ]);
    }
    for c in &d.changed {
        let mut what = Vec::new();
        if let Some(s) = &c.status {
            what.push(format!("status: {} → {}", s.from, s.to));
        }
        if let Some(l) = &c.label {
            what.push(format!(
                "label: {} → {}",
                or_dash(l.from.as_deref()),
                or_dash(l.to.as_deref())
            ));
        }
        for (name, change) in &c.fields {
            what.push(format!("{name}: {} → {}", change.from, change.to));
        }
        t.add_row(vec![
            Cell::new("changed").fg(Color::Yellow),
            Cell::new(c.commitment_id),
            Cell::new(&c.title),
            Cell::new(what.join("\n")),
        ]);
    }
    t
}

/// `2025-01-16 00:00 UTC`, or with seconds when they matter.
pub fn readable_instant(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if (t.hour(), t.minute(), t.second(), t.nanosecond()) == (23, 59, 59, 999_999_000) {
        t.format("%Y-%m-%d (end of day, UTC)").to_string()
    } else if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

pub fn readable_moment(m: &Moment) -> String {
    match m {
        Moment::Date(d) => d.to_string(),
        Moment::Instant(t) => readable_instant(t),
    }
}
