//! `/ui/record` (recorder role): forms for a commitment, a status change, a meeting and a
//! retraction. A form becomes one event in the input form (SPEC §2.2) and goes through the same
//! parsing and the same append as every other writer, so the rules cannot differ; an error is
//! shown beside the field it names and nothing is written.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use ikrar_core::{InputEvent, Status};
use serde_json::{json, Map, Value};

use crate::pages::Frame;
use crate::session::Who;
use crate::{html, Console, Error};

/// The four forms.
const KINDS: [&str; 4] = ["commitment", "status", "meeting", "retraction"];

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    f: Frame,
    /// The form that was sent, when it failed.
    failed: String,
    values: HashMap<String, String>,
    /// Form field → what is wrong with it.
    errors: HashMap<String, String>,
    statuses: [Status; 8],
}

impl RecordPage {
    /// The value to show in `field` of the form `kind` (what was sent, if that form failed).
    fn val(&self, kind: &str, field: &str) -> String {
        if self.failed == kind {
            self.values.get(field).cloned().unwrap_or_default()
        } else if field == "actor" {
            self.f.who.name.clone()
        } else {
            String::new()
        }
    }

    /// The error of `field` of the form `kind`, if that form failed there.
    fn err(&self, kind: &str, field: &str) -> String {
        if self.failed == kind {
            self.errors.get(field).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    }
}

fn may_record(who: &Who) -> Result<(), Error> {
    if who.may_record {
        Ok(())
    } else {
        Err(Error::Forbidden(if who.tokens && !who.signed_in {
            "recording needs a recorder's token: sign in first".into()
        } else {
            "this token may only read".into()
        }))
    }
}

fn page(
    console: &Console,
    who: &Who,
    failed: &str,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
) -> Result<String, Error> {
    Ok(RecordPage {
        f: Frame::new(console, who, "Record", "record", None, None),
        failed: failed.to_string(),
        values,
        errors,
        statuses: Status::ALL,
    }
    .render()?)
}

pub(crate) async fn form(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
) -> Result<Response, Error> {
    may_record(&who)?;
    Ok(html(page(
        &console,
        &who,
        "",
        HashMap::new(),
        HashMap::new(),
    )?))
}

/// The form field an error's field path belongs to (`data.title` → `title`, `source.url` →
/// `source_url`, `data.participants[1].name` → `participants`).
fn form_field(path: &str) -> String {
    let path = path.strip_prefix("data.").unwrap_or(path);
    let path = path.replacen("source.", "source_", 1);
    path.split(['.', '['])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn text(v: &HashMap<String, String>, k: &str) -> Option<String> {
    v.get(k)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// One item a line (or comma-separated, for short lists).
fn items(v: &HashMap<String, String>, k: &str, commas: bool) -> Vec<Value> {
    let raw = v.get(k).cloned().unwrap_or_default();
    raw.split(|c| c == '\n' || (commas && c == ','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_string()))
        .collect()
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        map.insert(key.into(), Value::String(v));
    }
}

/// The event in the input form, as JSON text.
fn event_json(kind: &str, v: &HashMap<String, String>) -> Result<String, (String, String)> {
    let mut data = Map::new();
    let mut event = Map::new();
    let ty = match kind {
        "commitment" => {
            data.insert("commitment_id".into(), json!(uuid::Uuid::now_v7()));
            data.insert(
                "title".into(),
                json!(v.get("title").cloned().unwrap_or_default()),
            );
            put(&mut data, "summary", text(v, "summary"));
            put(&mut data, "owner", text(v, "owner"));
            data.insert("parties".into(), Value::Array(items(v, "parties", true)));
            data.insert("themes".into(), Value::Array(items(v, "themes", true)));
            data.insert(
                "made_on".into(),
                json!(v.get("made_on").cloned().unwrap_or_default()),
            );
            put(&mut data, "due", text(v, "due"));
            "commitment_made"
        }
        "status" => {
            data.insert(
                "commitment_id".into(),
                json!(v.get("commitment_id").cloned().unwrap_or_default().trim()),
            );
            data.insert(
                "status".into(),
                json!(v.get("status").cloned().unwrap_or_default()),
            );
            put(&mut data, "label", text(v, "label"));
            "commitment_status_changed"
        }
        "meeting" => {
            data.insert("meeting_id".into(), json!(uuid::Uuid::now_v7()));
            data.insert(
                "title".into(),
                json!(v.get("title").cloned().unwrap_or_default()),
            );
            data.insert(
                "held_on".into(),
                json!(v.get("held_on").cloned().unwrap_or_default()),
            );
            put(&mut data, "location", text(v, "location"));
            let participants: Vec<Value> = items(v, "participants", false)
                .iter()
                .filter_map(Value::as_str)
                .map(|line| {
                    let mut parts = line.split(';').map(str::trim);
                    let mut p = Map::new();
                    p.insert("name".into(), json!(parts.next().unwrap_or_default()));
                    put(
                        &mut p,
                        "role",
                        parts.next().filter(|s| !s.is_empty()).map(str::to_string),
                    );
                    put(
                        &mut p,
                        "organisation",
                        parts.next().filter(|s| !s.is_empty()).map(str::to_string),
                    );
                    Value::Object(p)
                })
                .collect();
            data.insert("participants".into(), Value::Array(participants));
            data.insert(
                "commitment_ids".into(),
                Value::Array(items(v, "commitment_ids", true)),
            );
            data.insert("outcomes".into(), Value::Array(items(v, "outcomes", false)));
            "meeting_held"
        }
        "retraction" => {
            data.insert(
                "event_id".into(),
                json!(v.get("event_id").cloned().unwrap_or_default().trim()),
            );
            "event_retracted"
        }
        _ => {
            return Err((
                "kind".into(),
                format!("unknown form `{kind}` (one of {})", KINDS.join(", ")),
            ))
        }
    };
    event.insert("type".into(), json!(ty));
    put(&mut event, "actor", text(v, "actor"));
    put(&mut event, "effective", text(v, "effective"));
    put(&mut event, "reason", text(v, "reason"));
    let mut source = Map::new();
    for f in ["title", "url", "publisher", "published", "lang", "quote"] {
        put(&mut source, f, text(v, &format!("source_{f}")));
    }
    if !source.is_empty() {
        event.insert("source".into(), Value::Object(source));
    }
    event.insert("data".into(), Value::Object(data));
    Ok(Value::Object(event).to_string())
}

/// Where to go after recording: the subject's page (for a retraction, that of the event it
/// withdraws).
fn subject_page(console: &Console, event: &InputEvent) -> String {
    let stream = match &event.data {
        ikrar_core::EventData::EventRetracted(r) => console
            .ledger()
            .find_event(r.event_id)
            .ok()
            .flatten()
            .map(|s| s.record.stream),
        data => data.own_stream(),
    };
    match stream
        .as_ref()
        .map(|s| s.as_str())
        .and_then(|s| s.split_once('/'))
    {
        Some(("meeting", id)) => format!("/ui/meetings/{id}"),
        Some((_, id)) => format!("/ui/commitments/{id}"),
        None => "/ui/log".into(),
    }
}

pub(crate) async fn submit(
    State(console): State<Console>,
    Extension(who): Extension<Who>,
    Form(mut values): Form<HashMap<String, String>>,
) -> Result<Response, Error> {
    console.check_csrf(&who, values.get("csrf").map(String::as_str))?;
    may_record(&who)?;
    values.remove("csrf");
    let kind = values.get("kind").cloned().unwrap_or_default();
    if text(&values, "actor").is_none() {
        values.insert("actor".into(), who.name.clone());
    }
    let failed =
        |field: String, rule: String, values: HashMap<String, String>| -> Result<Response, Error> {
            let mut errors = HashMap::new();
            errors.insert(field, rule);
            Ok((
                StatusCode::BAD_REQUEST,
                html(page(&console, &who, &kind, values, errors)?),
            )
                .into_response())
        };
    if kind == "retraction" && text(&values, "reason").is_none() {
        return failed(
            "reason".into(),
            "a retraction needs a reason".into(),
            values,
        );
    }
    let body = match event_json(&kind, &values) {
        Ok(b) => b,
        Err((field, rule)) => return failed(field, rule, values),
    };
    let event = match InputEvent::from_json(&body) {
        Ok(e) => e,
        Err(e) => return failed(form_field(&e.field), e.rule, values),
    };
    let next = subject_page(&console, &event);
    match console.ledger().append(vec![event]).await {
        Ok(_) => Ok(Redirect::to(&next).into_response()),
        Err(ikrar_core::Error::Validation { field, rule, .. }) => {
            failed(form_field(&field), rule, values)
        }
        Err(
            // Said on the form, which keeps what was typed: nothing was written, and sending
            // it again (once the stream is as expected, or space is freed) records it.
            e @ (ikrar_core::Error::Conflict { .. }
            | ikrar_core::Error::EventIdConflict { .. }
            | ikrar_core::Error::DiskFull { .. }),
        ) => failed("general".into(), e.to_string(), values),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_paths_name_form_fields() {
        assert_eq!(form_field("data.title"), "title");
        assert_eq!(form_field("source.url"), "source_url");
        assert_eq!(form_field("data.participants[1].name"), "participants");
        assert_eq!(form_field("effective"), "effective");
    }

    #[test]
    fn a_status_form_becomes_an_input_event() {
        let mut v = HashMap::new();
        v.insert(
            "commitment_id".to_string(),
            "0194a1c2-7f00-7000-8000-000000000001".to_string(),
        );
        v.insert("status".to_string(), "fulfilled".to_string());
        v.insert("effective".to_string(), "2025-13-40".to_string());
        let body = event_json("status", &v).unwrap();
        let err = InputEvent::from_json(&body).unwrap_err();
        assert_eq!(form_field(&err.field), "effective");
    }
}
