//! `ikrar demo [korea|canada]`: a ledger with something in it, recorded with fixed event ids so
//! that running it twice changes nothing.

use std::path::Path;

use ikrar_core::{
    CommitmentMade, CommitmentStatusChanged, EventData, InputEvent, Moment, Source, Status,
};
use serde::Deserialize;
use uuid::Uuid;

use super::ledger::{at_line, parse_lines, Line};
use crate::access::{Access, TypedBasis};
use crate::args::DemoSet;
use crate::failure::Failure;
use crate::output::Format;

/// The seed article (korea.kr, 2025-01-17, in Indonesian) in the input form.
const KOREA_JSONL: &str = include_str!("../../data/demo.jsonl");

/// The Canada Mandate Letter Tracker of November 2017, as the tracker published it (MIT;
/// `data/canada/README.md` says where it comes from).
const CANADA_JSON: &str = include_str!("../../data/canada/mlt_clean_2017-11.json");

/// When the mandate letters were published: the day the commitments were made.
const CANADA_MADE_ON: &str = "2015-11-13";
/// The month of the tracker's snapshot: the statuses are as of then.
const CANADA_STATUS_ON: &str = "2017-11-01";

pub(super) async fn demo(path: &Path, dataset: DemoSet, format: Format) -> Result<(), Failure> {
    let access = Access::open_or_create(path)?;
    let lines = match dataset {
        DemoSet::Korea => parse_lines(KOREA_JSONL, "ikrar.demo")?,
        DemoSet::Canada => canada()?,
    };
    let events: Vec<InputEvent> = lines.iter().map(|l| l.event.clone()).collect();
    let mut new_events = 0;
    let mut tree_size = 0;
    let per_append = access.append_events_max();
    for (i, chunk) in events.chunks(per_append).enumerate() {
        let outcome = access
            .append(chunk.to_vec(), false)
            .await
            .map_err(|e| at_line(e, &lines[i * per_append..]))?;
        new_events += outcome.new_events;
        tree_size = outcome.tree_size;
    }
    let summary = access.summary(&TypedBasis::default()).await?;
    if format == Format::Table {
        outln!(
            "{new_events} of {} demo events recorded in {} (tree size {tree_size})\n",
            events.len(),
            ikrar_core::Location::of(path).display(),
        );
    }
    super::query::print_summary(&summary, format)
}

/// One commitment of the tracker's clean export.
#[derive(Deserialize)]
struct TrackerItem {
    ministers: Vec<String>,
    commitment: String,
    priority: String,
    comment: String,
    status_key: String,
}

/// The tracker's statuses on SPEC §2.1's, with the tracker's own words kept as labels.
fn canada_status(key: &str) -> Option<(Status, &'static str)> {
    Some(match key {
        "ontrack" => (Status::InProgress, "Underway – on track"),
        "met_full" => (Status::Fulfilled, "Completed – fully met"),
        "additional_commitment" => (Status::Announced, "Additional commitment"),
        "ongoing" => (Status::InProgress, "On-going commitment"),
        "challenging" => (Status::AtRisk, "Underway – with challenges"),
        "give_up" => (Status::Withdrawn, "Not being pursued"),
        "met_changed" => (Status::PartiallyFulfilled, "Completed – modified"),
        _ => return None,
    })
}

/// Fixed ids: the tracker has none, so its order gives them.
fn canada_id(kind: u16, n: usize) -> Uuid {
    Uuid::parse_str(&format!("0159c0a0-2017-7000-{kind:04x}-{n:012x}")).expect("a valid UUID")
}

/// Per commitment: `commitment_made` on the day the letters were published, then its status
/// as the tracker gave it in November 2017, with the tracker's comment as the reason.
fn canada() -> Result<Vec<Line>, Failure> {
    let items: Vec<TrackerItem> = serde_json::from_str(CANADA_JSON)
        .map_err(|e| Failure::bad_input(format!("the Canada dataset does not parse: {e}")))?;
    let source = Source {
        title: Some("Mandate Letter Tracker".into()),
        publisher: Some("Government of Canada".into()),
        published: Some(CANADA_STATUS_ON.parse().expect("a date")),
        lang: Some("en".into()),
        ..Source::default()
    };
    let mut lines = Vec::with_capacity(items.len() * 2);
    for (n, item) in items.iter().enumerate() {
        let (status, label) = canada_status(&item.status_key).ok_or_else(|| {
            Failure::bad_input(format!(
                "the Canada dataset's item {n} has an unknown status `{}`",
                item.status_key
            ))
        })?;
        let commitment_id = canada_id(0x8000, n);
        let mut made = InputEvent::new(EventData::CommitmentMade(CommitmentMade {
            commitment_id,
            title: item.commitment.clone(),
            summary: None,
            owner: Some(item.ministers.join("; ")),
            parties: Vec::new(),
            themes: vec![item.priority.clone()],
            made_on: ikrar_core::moment::parse_date(CANADA_MADE_ON).expect("a date"),
            due: None,
        }));
        made.event_id = Some(canada_id(0x9000, 2 * n));
        made.actor = Some("ikrar.demo".into());
        made.reason = Some("A commitment of the ministers' mandate letters".into());
        made.source = Some(source.clone());
        let mut changed = InputEvent::new(EventData::CommitmentStatusChanged(
            CommitmentStatusChanged {
                commitment_id,
                status,
                label: Some(label.into()),
            },
        ));
        changed.event_id = Some(canada_id(0x9000, 2 * n + 1));
        changed.actor = Some("ikrar.demo".into());
        changed.effective = Some(CANADA_STATUS_ON.parse::<Moment>().expect("a date"));
        changed.reason = Some(item.comment.trim().to_string()).filter(|c| !c.is_empty());
        changed.source = Some(source.clone());
        lines.push(Line {
            number: 2 * n + 1,
            event: made,
        });
        lines.push(Line {
            number: 2 * n + 2,
            event: changed,
        });
    }
    Ok(lines)
}
