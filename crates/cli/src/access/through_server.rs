//! Reading through the server: lists page by page, verify's report, history entries rebuilt
//! from the API's JSON.

use ikrar_audit::HistoryEntry;
use ikrar_core::{Error, Record};
use ikrar_state::{Listed, Page};
use reqwest::Method;
use serde_json::Value;

use super::remote::{self, query, Remote, RemoteError};
use crate::failure::{exit, Failure};

/// Verifies the whole ledger the server holds (SPEC §5): the outcome, or an operational
/// failure to ask.
pub async fn verify_remote(r: &Remote) -> Result<Result<ikrar_core::VerifyReport, Error>, Failure> {
    let report: ikrar_audit::VerificationReport = r.get("/v1/verify").await?;
    Ok(match (report.ok, report.root) {
        (true, Some(root)) => Ok(ikrar_core::VerifyReport {
            tree_size: report.tree_size,
            root: ikrar_core::Hash::from_base64(&root).ok_or_else(|| {
                Failure::new("io", exit::OPERATIONAL, "the server sent a bad root")
            })?,
        }),
        _ => Err(Error::Integrity {
            position: report.first_bad_position.unwrap_or(0),
            what: report.what.unwrap_or_default(),
        }),
    })
}

/// Every page of a remote list from `page.offset`, until `page.limit` items or the end.
pub(super) async fn remote_pages<T: serde::de::DeserializeOwned>(
    r: &Remote,
    route: &str,
    pairs: Vec<(&'static str, Option<String>)>,
    page: Page,
) -> Result<Listed<T>, Failure> {
    let mut items = Vec::new();
    let mut offset = page.offset;
    let wanted = page.limit.unwrap_or(usize::MAX);
    loop {
        let take = (wanted - items.len()).min(ikrar_server::PAGE_ITEMS_MAX);
        let mut p = pairs.clone();
        p.push(("limit", Some(take.to_string())));
        p.push(("offset", Some(offset.to_string())));
        let response = r
            .send(r.request(Method::GET, &format!("{route}{}", query(&p))))
            .await?;
        let total: usize = response
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let batch: Vec<T> = remote::decode(response).await?;
        let got = batch.len();
        items.extend(batch);
        offset += got;
        if got == 0 || items.len() >= wanted || offset >= total {
            return Ok(Listed { total, items });
        }
    }
}

/// `None` for a 404, the value or the error otherwise.
pub(super) fn optional<T>(answer: Result<T, RemoteError>) -> Result<Option<T>, Failure> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(RemoteError::Other(f)) if f.kind == "not_found" => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A history entry as the API sends it: the record's fields, then `retracted_by`.
pub(super) fn history_entry(
    mut map: serde_json::Map<String, Value>,
) -> Result<HistoryEntry, Failure> {
    let retracted_by = map
        .remove("retracted_by")
        .and_then(|v| serde_json::from_value(v).ok());
    let bytes = serde_json::to_vec(&map).expect("a map serialises");
    let record = Record::decode(&bytes).map_err(|e| {
        Failure::new(
            "io",
            exit::OPERATIONAL,
            format!("the server sent a record this version cannot read: {e}"),
        )
    })?;
    Ok(HistoryEntry {
        record,
        record_json: map,
        retracted_by,
    })
}
