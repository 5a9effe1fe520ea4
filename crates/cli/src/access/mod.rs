//! How a command reaches its ledger: directly through the library, or — while `ikrar serve`
//! holds a sled ledger — through the server's Unix socket (SPEC §7.1). Commands are written
//! once against [`Access`]; both ways answer the library's own types, so tables, JSON and exit
//! codes are the same.

pub mod remote;
mod through_server;

pub use through_server::verify_remote;
use through_server::{history_entry, optional, remote_pages};

use std::path::Path;
use std::sync::OnceLock;

use futures::StreamExt;
use ikrar_audit::{ActorActivity, ConsistencyBundle, History, InclusionBundle};
use ikrar_core::{AppendOutcome, Error, InputEvent, Ledger, SignedCheckpoint, SignerKey, StreamId};
use ikrar_server::{HeadAnswer, IdMatch};
use ikrar_state::{
    Basis, CommitmentView, Diff, KnownAt, ListFilter, Listed, MeetingFilter, MeetingView, Page,
    Projection, Summary,
};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use self::remote::{query, Remote, RemoteError};
use crate::failure::{exit, Failure};
use crate::output::progress;

/// A basis as the user typed it: parsed once (so that a bad one is the same error either way),
/// and passed on as typed to a server.
#[derive(Debug, Clone, Default)]
pub struct TypedBasis {
    pub basis: Basis,
    pub as_of: Option<String>,
    pub known_at: Option<String>,
}

impl TypedBasis {
    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("as_of", self.as_of.clone()),
            ("known_at", self.known_at.clone()),
        ]
    }
}

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Commitment,
    Meeting,
    Event,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Commitment => "commitment",
            Kind::Meeting => "meeting",
            Kind::Event => "event",
        }
    }
}

/// The ledger opened directly, with its state projection opened when first needed.
pub struct Direct {
    ledger: Ledger,
    state: OnceLock<Projection>,
}

impl Direct {
    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// A command's way to its ledger.
pub enum Access {
    // Boxed: a projection beside the ledger is large, and an `Access` lives on the stack of
    // every command.
    Direct(Box<Direct>),
    Remote(Remote),
}

/// Events per request when a file is appended through a server.
pub(crate) const REMOTE_APPEND_EVENTS_MAX: usize = 1_000;

impl Access {
    /// The running server's socket if one answers in the ledger directory, else the ledger
    /// itself.
    pub fn open(path: &Path) -> Result<Access, Failure> {
        if let Some(remote) = Remote::connect(path) {
            return Ok(Access::Remote(remote));
        }
        Ok(Access::direct(Ledger::open(path)?))
    }

    /// [`Access::open`], creating the ledger if there is none.
    pub fn open_or_create(path: &Path) -> Result<Access, Failure> {
        if let Some(remote) = Remote::connect(path) {
            return Ok(Access::Remote(remote));
        }
        Ok(Access::direct(Ledger::open_or_create(path)?))
    }

    fn direct(ledger: Ledger) -> Access {
        let discarded = ledger.discarded_at_open();
        if discarded > 0 {
            eprintln!(
                "note: {} of a commit that was never acknowledged (it failed part way, on a full disk say) lay beyond the head and were removed; every acknowledged event is there",
                crate::render::count(discarded as usize, "record")
            );
        }
        Access::Direct(Box::new(Direct {
            ledger,
            state: OnceLock::new(),
        }))
    }

    /// Whether a running server answers for this ledger.
    pub fn is_remote(&self) -> bool {
        matches!(self, Access::Remote(_))
    }

    fn state(direct: &Direct) -> Result<&Projection, Failure> {
        if let Some(state) = direct.state.get() {
            return Ok(state);
        }
        let bar = progress(0, "projecting");
        let projection = Projection::open_with_progress(&direct.ledger, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(crate::commands::state_failure)?;
        bar.finish_and_clear();
        // A projection that had to catch up is saved now, not only once it falls an eighth
        // behind: read whole, at the head; read lazily, once its tail is long enough that the
        // next process would pay more reading it again (`Projection::flush`). A cache: a
        // failure to save costs the next process the catch-up again, nothing else.
        if let Err(e) = projection.flush() {
            tracing::warn!(error = %e, "the state projection's snapshot was not saved");
        }
        Ok(direct.state.get_or_init(|| projection))
    }

    /// Appends (or with `dry_run` only checks) events, all or nothing per call.
    pub async fn append(
        &self,
        events: Vec<InputEvent>,
        dry_run: bool,
    ) -> Result<AppendOutcome, RemoteError> {
        match self {
            Access::Direct(d) => {
                let result = if dry_run {
                    d.ledger.check(events).await
                } else {
                    d.ledger.append(events).await
                };
                result.map_err(RemoteError::Core)
            }
            Access::Remote(r) => {
                let body = format!(
                    "[{}]",
                    events
                        .iter()
                        .map(InputEvent::to_json)
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let path = if dry_run {
                    "/v1/events?dry_run=true"
                } else {
                    "/v1/events"
                };
                let response = r
                    .send(
                        r.request(Method::POST, path)
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(body),
                    )
                    .await?;
                let answer: Value = remote::decode(response).await?;
                let positions: Vec<u64> =
                    serde_json::from_value(answer["positions"].clone()).unwrap_or_default();
                let event_ids: Vec<Uuid> =
                    serde_json::from_value(answer["event_ids"].clone()).unwrap_or_default();
                let tree_size = answer["tree_size"].as_u64().unwrap_or(0);
                // New events are those at or past the tree size before them: an idempotent
                // repeat answers its original, earlier position.
                let new_events = match answer["new_events"].as_u64() {
                    Some(n) => n as usize,
                    None => {
                        let before = tree_size.saturating_sub(
                            positions
                                .iter()
                                .collect::<std::collections::HashSet<_>>()
                                .len() as u64,
                        );
                        positions.iter().filter(|p| **p >= before).count()
                    }
                };
                Ok(AppendOutcome {
                    positions,
                    event_ids,
                    new_events,
                    tree_size,
                })
            }
        }
    }

    /// The most events one [`Access::append`] takes.
    pub fn append_events_max(&self) -> usize {
        match self {
            Access::Direct(_) => ikrar_core::EVENTS_PER_APPEND_MAX,
            Access::Remote(_) => REMOTE_APPEND_EVENTS_MAX,
        }
    }

    /// The tree size now.
    pub async fn tree_size(&self) -> Result<u64, Failure> {
        match self {
            Access::Direct(d) => Ok(d.ledger.head().tree_size),
            Access::Remote(r) => Ok(r.get::<HeadAnswer>("/v1/head").await?.tree_size),
        }
    }

    /// Commitments that pass `filter`, one page of them.
    pub async fn list(
        &self,
        filter: &ListFilter,
        page: Page,
        basis: &TypedBasis,
    ) -> Result<Listed<CommitmentView>, Failure> {
        match self {
            Access::Direct(d) => Self::state(d)?
                .list_page(filter, page, &basis.basis)
                .map_err(crate::commands::state_failure),
            Access::Remote(r) => {
                let mut pairs = basis.pairs();
                pairs.extend([
                    ("status", filter.status.map(|s| s.as_str().to_string())),
                    ("party", filter.party.clone()),
                    ("theme", filter.theme.clone()),
                    ("owner", filter.owner.clone()),
                    ("search", filter.search.clone()),
                    ("due_before", filter.due_before.map(|d| d.to_string())),
                    ("overdue", filter.overdue.then(|| "true".to_string())),
                    ("sort", Some(filter.sort.as_str().to_string())),
                ]);
                remote_pages(r, "/v1/commitments", pairs, page).await
            }
        }
    }

    /// Meetings that pass `filter`, one page of them.
    pub async fn meetings(
        &self,
        filter: &MeetingFilter,
        page: Page,
        basis: &TypedBasis,
    ) -> Result<Listed<MeetingView>, Failure> {
        match self {
            Access::Direct(d) => Self::state(d)?
                .meetings(filter, page, &basis.basis)
                .map_err(crate::commands::state_failure),
            Access::Remote(r) => {
                let mut pairs = basis.pairs();
                pairs.extend([
                    ("commitment", filter.commitment.map(|c| c.to_string())),
                    ("from", filter.from.map(|m| m.to_string())),
                    ("to", filter.to.map(|m| m.to_string())),
                    ("search", filter.search.clone()),
                ]);
                remote_pages(r, "/v1/meetings", pairs, page).await
            }
        }
    }

    /// One commitment in a basis (`None`: not in it).
    pub async fn commitment(
        &self,
        id: Uuid,
        basis: &TypedBasis,
    ) -> Result<Option<CommitmentView>, Failure> {
        match self {
            Access::Direct(d) => Self::state(d)?
                .commitment(id, &basis.basis)
                .map_err(crate::commands::state_failure),
            Access::Remote(r) => optional(
                r.get(&format!("/v1/commitments/{id}{}", query(&basis.pairs())))
                    .await,
            ),
        }
    }

    /// One meeting in a basis (`None`: not in it).
    pub async fn meeting(
        &self,
        id: Uuid,
        basis: &TypedBasis,
    ) -> Result<Option<MeetingView>, Failure> {
        match self {
            Access::Direct(d) => Self::state(d)?
                .meeting(id, &basis.basis)
                .map_err(crate::commands::state_failure),
            Access::Remote(r) => optional(
                r.get(&format!("/v1/meetings/{id}{}", query(&basis.pairs())))
                    .await,
            ),
        }
    }

    /// Counts in a basis.
    pub async fn summary(&self, basis: &TypedBasis) -> Result<Summary, Failure> {
        match self {
            Access::Direct(d) => Self::state(d)?
                .summary(&basis.basis)
                .map_err(crate::commands::state_failure),
            Access::Remote(r) => Ok(r
                .get(&format!("/v1/summary{}", query(&basis.pairs())))
                .await?),
        }
    }

    /// What changed between two valid times (already parsed by the caller; `text` as typed).
    pub async fn diff(
        &self,
        known_at: Option<(KnownAt, String)>,
        from: (ikrar_core::Moment, String),
        to: (ikrar_core::Moment, String),
    ) -> Result<Diff, Failure> {
        match self {
            Access::Direct(d) => Self::state(d)?
                .diff(known_at.map(|k| k.0), from.0, to.0)
                .map_err(crate::commands::state_failure),
            Access::Remote(r) => Ok(r
                .get(&format!(
                    "/v1/diff{}",
                    query(&[
                        ("from", Some(from.1)),
                        ("to", Some(to.1)),
                        ("known_at", known_at.map(|k| k.1)),
                    ])
                ))
                .await?),
        }
    }

    /// The audit trail of a commitment or meeting.
    pub async fn history(&self, id: Uuid, kind: Kind) -> Result<History, Failure> {
        match self {
            Access::Direct(d) => {
                ikrar_audit::history(&d.ledger, id).map_err(crate::commands::audit_failure)
            }
            Access::Remote(r) => {
                let (route, stream) = match kind {
                    Kind::Meeting => ("meetings", StreamId::meeting(id)),
                    _ => ("commitments", StreamId::commitment(id)),
                };
                let entries: Vec<serde_json::Map<String, Value>> =
                    r.get(&format!("/v1/{route}/{id}/history")).await?;
                let entries = entries
                    .into_iter()
                    .map(history_entry)
                    .collect::<Result<Vec<_>, Failure>>()?;
                Ok(History { stream, entries })
            }
        }
    }

    /// Events per actor.
    pub async fn actors(&self) -> Result<Vec<ActorActivity>, Failure> {
        match self {
            Access::Direct(d) => {
                ikrar_audit::actors(&d.ledger).map_err(crate::commands::audit_failure)
            }
            Access::Remote(r) => Ok(r.get("/v1/actors").await?),
        }
    }

    /// The ids of the kinds wanted that start with `prefix` (lowercase), at most 20.
    pub async fn ids_with_prefix(
        &self,
        prefix: &str,
        wanted: &[Kind],
    ) -> Result<Vec<(Uuid, Kind)>, Failure> {
        let all: Vec<(Uuid, Kind)> = match self {
            Access::Direct(d) => {
                let mut out = Vec::new();
                if wanted.iter().any(|k| *k != Kind::Event) {
                    let state = Self::state(d)?;
                    for id in state.ids_with_prefix(prefix) {
                        let kind = if state.is_meeting(id) {
                            Kind::Meeting
                        } else {
                            Kind::Commitment
                        };
                        out.push((id, kind));
                    }
                }
                if wanted.contains(&Kind::Event) {
                    out.extend(
                        d.ledger
                            .event_ids_with_prefix(prefix, ikrar_server::IDS_PER_PREFIX_MAX)?
                            .into_iter()
                            .map(|id| (id, Kind::Event)),
                    );
                }
                out
            }
            Access::Remote(r) => {
                let matches: Vec<IdMatch> = r
                    .get(&format!(
                        "/v1/ids{}",
                        query(&[("prefix", Some(prefix.to_string()))])
                    ))
                    .await?;
                matches
                    .into_iter()
                    .map(|m| {
                        let kind = match m.kind.as_str() {
                            "meeting" => Kind::Meeting,
                            "event" => Kind::Event,
                            _ => Kind::Commitment,
                        };
                        (m.id, kind)
                    })
                    .collect()
            }
        };
        Ok(all
            .into_iter()
            .filter(|(_, k)| wanted.contains(k))
            .collect())
    }

    /// Hands `sink` each record from `from` on, at most `limit`, exactly as stored; with
    /// `follow`, waits for new ones after the last.
    pub async fn records(
        &self,
        from: u64,
        limit: u64,
        follow: bool,
        sink: &mut dyn FnMut(&str, u64) -> std::io::Result<()>,
    ) -> Result<(), Failure> {
        let mut sent = 0u64;
        match self {
            Access::Direct(d) if follow => {
                let mut feed = Box::pin(d.ledger.subscribe(from).take(limit as usize));
                while let Some(item) = feed.next().await {
                    let r = item?;
                    sink(r.as_json(), r.record.position)?;
                }
            }
            Access::Direct(d) => {
                for item in d.ledger.iter_from(from).take(limit as usize) {
                    let r = item?;
                    sink(r.as_json(), r.record.position)?;
                }
            }
            Access::Remote(r) if follow => {
                let response = r
                    .send(r.request(Method::GET, &format!("/v1/events/stream?from={from}")))
                    .await?;
                let mut bytes = response.bytes_stream();
                let mut pending: Vec<u8> = Vec::new();
                let mut position = from;
                while let Some(chunk) = bytes.next().await {
                    let chunk = chunk.map_err(|e| {
                        Failure::new("io", exit::OPERATIONAL, format!("the feed broke: {e}"))
                    })?;
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&line);
                        let line = line.trim_end_matches(['\r', '\n']);
                        if let Some(id) = line.strip_prefix("id: ") {
                            position = id.trim().parse().unwrap_or(position);
                        } else if let Some(data) = line.strip_prefix("data: ") {
                            sink(data, position)?;
                            sent += 1;
                            if sent >= limit {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            Access::Remote(r) => {
                let mut next = from;
                loop {
                    let want = (limit - sent).min(ikrar_server::PAGE_ITEMS_MAX as u64);
                    if want == 0 {
                        break;
                    }
                    let response = r
                        .send(
                            r.request(Method::GET, &format!("/v1/events?from={next}&limit={want}")),
                        )
                        .await?;
                    let text = response.text().await.map_err(|e| {
                        Failure::new(
                            "io",
                            exit::OPERATIONAL,
                            format!("the server broke off: {e}"),
                        )
                    })?;
                    let page: Vec<&serde_json::value::RawValue> = serde_json::from_str(&text)
                        .map_err(|e| {
                            Failure::new("io", exit::OPERATIONAL, format!("a bad page: {e}"))
                        })?;
                    if page.is_empty() {
                        break;
                    }
                    for raw in page {
                        sink(raw.get(), next)?;
                        next += 1;
                        sent += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Signs a checkpoint of the current tree with `key` (here, never on the server) and
    /// stores it.
    pub async fn checkpoint(&self, key: &SignerKey) -> Result<SignedCheckpoint, Failure> {
        match self {
            Access::Direct(d) => Ok(d.ledger.sign_checkpoint(key)?),
            Access::Remote(r) => {
                let head: HeadAnswer = r.get("/v1/head").await?;
                let root = ikrar_core::Hash::from_base64(&head.root).ok_or_else(|| {
                    Failure::new("io", exit::OPERATIONAL, "the server sent a bad root")
                })?;
                let signed = key
                    .sign(head.tree_size, root)
                    .map_err(|e| Failure::from(Error::Checkpoint(e)))?;
                let body = json!({"checkpoint": signed.note,
                                  "verifier_key": key.verifier_key().text()});
                r.send(r.request(Method::POST, "/v1/checkpoints").json(&body))
                    .await?;
                Ok(signed)
            }
        }
    }

    /// The inclusion proof bundle of an event.
    pub async fn inclusion(
        &self,
        event_id: Uuid,
        size: Option<u64>,
    ) -> Result<InclusionBundle, Failure> {
        match self {
            Access::Direct(d) => ikrar_audit::inclusion_bundle(&d.ledger, event_id, size)
                .map_err(crate::commands::audit_failure),
            Access::Remote(r) => Ok(r
                .get(&format!(
                    "/v1/proofs/inclusion/{event_id}{}",
                    query(&[("size", size.map(|s| s.to_string()))])
                ))
                .await?),
        }
    }

    /// The consistency proof bundle from size `m`.
    pub async fn consistency(
        &self,
        m: u64,
        size: Option<u64>,
    ) -> Result<ConsistencyBundle, Failure> {
        match self {
            Access::Direct(d) => ikrar_audit::consistency_bundle(&d.ledger, m, size)
                .map_err(crate::commands::audit_failure),
            Access::Remote(r) => Ok(r
                .get(&format!(
                    "/v1/proofs/consistency{}",
                    query(&[
                        ("from", Some(m.to_string())),
                        ("to", size.map(|s| s.to_string()))
                    ])
                ))
                .await?),
        }
    }

    /// The name of what an id names, for messages.
    pub fn kind_name(kind: Kind) -> &'static str {
        kind.name()
    }
}
