//! The log's side of witnessing (SPEC §11): a [`Publisher`] signs a checkpoint as the tree
//! grows (at most once per interval), submits it to every configured witness with
//! `add-checkpoint`, follows a 409 to the size the witness holds, checks each returned
//! cosignature against that witness's key and stores the good ones with the checkpoint.
//!
//! A refusal (403, 422, a 409 that shows another history, a cosignature that does not verify)
//! is an alarm: logged at error level, counted in [`WitnessStats`], and appended to the
//! ledger's alarm file, which `ikrar verify` shows.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ikrar_core::{Ledger, SignedCheckpoint, SignerKey};
use serde::{Deserialize, Serialize};

use crate::cosignature::{SignatureLine, Vkey};
use crate::error::{Error, Result};
use crate::note::{parse_decimal, SignedNote};

/// The file, in a ledger directory, where witness alarms are appended (JSON Lines).
pub const ALARMS_FILE: &str = "witness-alarms.jsonl";

/// How many times one submission follows a 409 before giving up until the next round.
const RESYNCS_MAX: usize = 3;

/// A witness the log submits to: its submission prefix and its cosignature key.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// The submission prefix (`http://host:port`, no trailing slash).
    pub url: String,
    /// The witness's verifier key (type 0x04).
    pub vkey: Vkey,
}

impl WitnessEndpoint {
    /// Parses `URL=VKEY`, the form of `ikrar serve --witness`.
    ///
    /// ```
    /// let w = ikrar_tlog::cosignature::CosignerKey::generate("w.example/1").unwrap();
    /// let arg = format!("http://127.0.0.1:7380/={}", w.vkey().text());
    /// let e = ikrar_tlog::WitnessEndpoint::parse(&arg).unwrap();
    /// assert_eq!(e.url, "http://127.0.0.1:7380");
    /// ```
    pub fn parse(arg: &str) -> Result<WitnessEndpoint> {
        let (url, key) = arg
            .split_once('=')
            .ok_or_else(|| Error::malformed("--witness", "expected URL=VKEY"))?;
        let vkey = Vkey::parse(key)?;
        if vkey.kind != crate::cosignature::COSIGNATURE_V1 {
            return Err(Error::Key(
                "a witness key has type 0x04 (cosignature v1)".into(),
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::malformed(
                "--witness",
                "the URL is http:// or https://",
            ));
        }
        Ok(WitnessEndpoint {
            url: url.trim_end_matches('/').to_string(),
            vkey,
        })
    }
}

/// One witness's counters.
#[derive(Debug, Default)]
pub struct WitnessCounters {
    /// Cosignatures received, verified and stored.
    pub cosigned: AtomicU64,
    /// Alarms: refusals, bad cosignatures, and a checkpoint left without this witness's
    /// cosignature because it did not answer.
    pub alarms: AtomicU64,
    /// Submissions that got no answer (connection refused, timeout, 5xx).
    pub unreachable: AtomicU64,
    /// 409s followed.
    pub resyncs: AtomicU64,
}

/// Counters per witness, for `/metrics`.
#[derive(Debug, Default)]
pub struct WitnessStats {
    by_witness: Mutex<Vec<(String, Arc<WitnessCounters>)>>,
    /// Milliseconds from signing the latest checkpoint to its last cosignature.
    pub last_cosigning_ms: AtomicU64,
}

impl WitnessStats {
    /// The counters of witness `name` (made on first use).
    pub fn of(&self, name: &str) -> Arc<WitnessCounters> {
        let mut all = self.by_witness.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = all.iter().find(|(n, _)| n == name) {
            return c.clone();
        }
        let c = Arc::new(WitnessCounters::default());
        all.push((name.to_string(), c.clone()));
        c
    }

    /// Total alarms over every witness.
    pub fn alarms(&self) -> u64 {
        let all = self.by_witness.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|(_, c)| c.alarms.load(Ordering::Relaxed))
            .sum()
    }

    /// The counters in Prometheus text exposition.
    ///
    /// ```
    /// let stats = ikrar_tlog::WitnessStats::default();
    /// stats.of("w.example/1").alarms.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    /// assert!(stats.prometheus_text().contains("ikrar_witness_alarms_total{witness=\"w.example/1\"} 1"));
    /// ```
    pub fn prometheus_text(&self) -> String {
        let all = self.by_witness.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (metric, help, get) in [
            (
                "ikrar_witness_cosignatures_total",
                "Cosignatures verified and stored.",
                0,
            ),
            (
                "ikrar_witness_alarms_total",
                "Alarms: refusals (403, 409 not resolved, 422: another history), bad cosignatures, and checkpoints left without the witness's cosignature because it did not answer.",
                1,
            ),
            (
                "ikrar_witness_unreachable_total",
                "Submissions that got no answer.",
                2,
            ),
            (
                "ikrar_witness_resyncs_total",
                "409 answers followed to the witness's size.",
                3,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {metric} {help}\n# TYPE {metric} counter\n"
            ));
            for (name, c) in all.iter() {
                let v = [&c.cosigned, &c.alarms, &c.unreachable, &c.resyncs][get]
                    .load(Ordering::Relaxed);
                // Label values escape `\`, `"` and line feeds (Prometheus text format).
                let label = name
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                out.push_str(&format!("{metric}{{witness=\"{label}\"}} {v}\n"));
            }
        }
        out.push_str(&format!(
            "# HELP ikrar_witness_last_cosigning_ms Milliseconds from signing the latest checkpoint to its last cosignature.\n# TYPE ikrar_witness_last_cosigning_ms gauge\nikrar_witness_last_cosigning_ms {}\n",
            self.last_cosigning_ms.load(Ordering::Relaxed)
        ));
        out
    }
}

/// An alarm, as written to the alarm file and the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Alarm {
    /// When (RFC 3339).
    pub at: String,
    /// The witness's key name.
    pub witness: String,
    /// The HTTP status, or 0 for no answer or a bad cosignature.
    pub status: u16,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// What happened, in words.
    pub what: String,
}

/// Reads the alarms kept in a ledger directory (none if the file does not exist).
pub fn read_alarms(ledger_dir: &std::path::Path) -> Vec<Alarm> {
    std::fs::read_to_string(ledger_dir.join(ALARMS_FILE))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Signs checkpoints as the tree grows and collects cosignatures for them.
pub struct Publisher {
    ledger: Ledger,
    key: Arc<SignerKey>,
    witnesses: Vec<WitnessEndpoint>,
    http: reqwest::Client,
    stats: Arc<WitnessStats>,
    /// The size each witness is believed to hold (its last cosigned size).
    known: Mutex<HashMap<String, u64>>,
    /// `(witness, tree size)` already reported unreachable.
    unreachable_at: Mutex<std::collections::HashSet<(String, u64)>>,
    /// `(witness, tree size)` refused: not submitted again.
    refused: Mutex<std::collections::HashSet<(String, u64)>>,
    alarms_file: Option<PathBuf>,
}

/// What one submission came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Cosigned: the lines stored.
    Cosigned(Vec<String>),
    /// Refused or bad: an alarm was raised.
    Alarm(Alarm),
    /// No answer.
    Unreachable(String),
}

impl Publisher {
    /// A publisher signing with `key` and submitting to `witnesses`.
    pub fn new(
        ledger: Ledger,
        key: SignerKey,
        witnesses: Vec<WitnessEndpoint>,
    ) -> Result<Publisher> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(4)
            .build()?;
        let alarms_file = ledger.path().map(|p| p.join(ALARMS_FILE));
        Ok(Publisher {
            ledger,
            key: Arc::new(key),
            witnesses,
            http,
            stats: Arc::new(WitnessStats::default()),
            known: Mutex::new(HashMap::new()),
            unreachable_at: Mutex::new(std::collections::HashSet::new()),
            refused: Mutex::new(std::collections::HashSet::new()),
            alarms_file,
        })
    }

    /// The counters (share them with `/metrics`).
    pub fn stats(&self) -> Arc<WitnessStats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` turns true: every `interval`, signs a checkpoint if the tree grew
    /// and submits the latest checkpoint to each witness that has not cosigned it yet.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
            if let Err(e) = self.round().await {
                tracing::error!(error = %e, "checkpoint round");
            }
        }
    }

    /// One round: sign if the tree grew, then collect the cosignatures still missing.
    pub async fn round(&self) -> Result<Option<SignedCheckpoint>> {
        let ledger = self.ledger.clone();
        let latest = ledger.latest_checkpoint()?;
        let grown = latest
            .as_ref()
            .is_none_or(|c| c.tree_size < ledger.head().tree_size);
        let signed_at = std::time::Instant::now();
        let checkpoint = if grown && ledger.head().tree_size > 0 {
            let key = self.key.clone();
            // sign_checkpoint refuses a tree that does not extend the last checkpoint.
            tokio::task::spawn_blocking(move || ledger.sign_checkpoint(&key))
                .await
                .map_err(|e| Error::State(e.to_string()))??
        } else {
            match latest {
                Some(c) => c,
                None => return Ok(None),
            }
        };
        self.collect(&checkpoint).await?;
        if grown {
            self.stats
                .last_cosigning_ms
                .store(signed_at.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        Ok(self.ledger.checkpoint_at(checkpoint.tree_size)?)
    }

    /// Submits `checkpoint` to every witness whose cosignature it lacks, concurrently, and
    /// stores the cosignatures that verify.
    pub async fn collect(&self, checkpoint: &SignedCheckpoint) -> Result<Vec<Outcome>> {
        let note = SignedNote::parse(checkpoint.note.as_bytes())?;
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let missing: Vec<&WitnessEndpoint> = self
            .witnesses
            .iter()
            .filter(|w| !note.signatures.iter().any(|s| s.is_by(&w.vkey)))
            // A witness that refused this checkpoint would refuse it again (and keep another
            // copy as evidence): it is asked again only about the next one.
            .filter(|w| !refused.contains(&(w.vkey.name.clone(), checkpoint.tree_size)))
            .collect();
        let mut tasks = Vec::new();
        for w in missing {
            tasks.push(self.submit(w, checkpoint));
        }
        let outcomes = futures::future::join_all(tasks).await;
        let lines: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Cosigned(l) => Some(l.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        if !lines.is_empty() {
            let ledger = self.ledger.clone();
            let (size, origin) = (checkpoint.tree_size, checkpoint.origin.clone());
            tokio::task::spawn_blocking(move || ledger.add_cosignatures(size, &origin, &lines))
                .await
                .map_err(|e| Error::State(e.to_string()))??;
        }
        Ok(outcomes)
    }

    /// The request body of add-checkpoint from `old` to `checkpoint`.
    fn body(&self, old: u64, checkpoint: &SignedCheckpoint) -> Result<String> {
        let mut body = format!("old {old}\n");
        if old > 0 && old < checkpoint.tree_size {
            for h in self.ledger.consistency_proof(old, checkpoint.tree_size)? {
                body.push_str(&h.to_base64());
                body.push('\n');
            }
        }
        body.push('\n');
        body.push_str(&checkpoint.note);
        Ok(body)
    }

    async fn submit(&self, w: &WitnessEndpoint, checkpoint: &SignedCheckpoint) -> Outcome {
        let counters = self.stats.of(&w.vkey.name);
        let mut old = self.known_size(&w.vkey.name).min(checkpoint.tree_size);
        for _ in 0..=RESYNCS_MAX {
            let body = match self.body(old, checkpoint) {
                Ok(b) => b,
                Err(e) => {
                    return self.alarm(w, 0, checkpoint, format!("cannot build the request: {e}"))
                }
            };
            let response = self
                .http
                .post(format!("{}/add-checkpoint", w.url))
                .body(body)
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => return self.unreachable(w, checkpoint, e.to_string()),
            };
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            match status {
                200 => return self.accept(w, checkpoint, &text),
                409 => {
                    let Some(theirs) = text.strip_suffix('\n').and_then(parse_decimal) else {
                        return self.alarm(
                            w,
                            409,
                            checkpoint,
                            format!("a 409 without a size: {text:?}"),
                        );
                    };
                    if theirs > checkpoint.tree_size {
                        return self.alarm(w, 409, checkpoint, format!(
                            "the witness has cosigned size {theirs}, beyond this log's {}: this log was rolled back or forked",
                            checkpoint.tree_size
                        ));
                    }
                    if theirs == old {
                        // We sent the size it holds and it still refused: same size, another
                        // root. The witness saw another history.
                        return self.alarm(
                            w,
                            409,
                            checkpoint,
                            format!("split view: the witness holds another tree of size {theirs}"),
                        );
                    }
                    counters.resyncs.fetch_add(1, Ordering::Relaxed);
                    self.set_known(&w.vkey.name, theirs);
                    old = theirs;
                }
                403 | 404 | 400 | 422 => {
                    let what = match status {
                        422 => format!("split view or bad proof: the witness refuses the consistency of size {old} to {}: {}", checkpoint.tree_size, text.trim()),
                        _ => format!("refused: {}", text.trim()),
                    };
                    return self.alarm(w, status, checkpoint, what);
                }
                _ => {
                    return self.unreachable(
                        w,
                        checkpoint,
                        format!("HTTP {status}: {}", text.trim()),
                    )
                }
            }
        }
        Outcome::Unreachable(format!("still out of step after {RESYNCS_MAX} resyncs"))
    }

    fn accept(&self, w: &WitnessEndpoint, checkpoint: &SignedCheckpoint, text: &str) -> Outcome {
        let Ok(note) = SignedNote::parse(checkpoint.note.as_bytes()) else {
            return self.alarm(
                w,
                0,
                checkpoint,
                "the stored checkpoint does not parse".into(),
            );
        };
        let mut good = Vec::new();
        for line in text.lines() {
            // Lines by other keys are ignored, as the spec says.
            let Ok(sig) = SignatureLine::parse(line) else {
                continue;
            };
            if !sig.is_by(&w.vkey) {
                continue;
            }
            if w.vkey.check(note.text.as_bytes(), &sig.sig).is_none() {
                return self.alarm(
                    w,
                    0,
                    checkpoint,
                    "a cosignature that does not verify".into(),
                );
            }
            good.push(format!("{line}\n"));
        }
        if good.is_empty() {
            return self.alarm(
                w,
                0,
                checkpoint,
                "no cosignature by the witness's key in its answer".into(),
            );
        }
        self.stats
            .of(&w.vkey.name)
            .cosigned
            .fetch_add(1, Ordering::Relaxed);
        self.set_known(&w.vkey.name, checkpoint.tree_size);
        good.truncate(1);
        Outcome::Cosigned(good)
    }

    /// A witness that does not answer: counted each time, an alarm once per checkpoint (a
    /// checkpoint short of a witness's cosignature is what relying parties will notice).
    fn unreachable(
        &self,
        w: &WitnessEndpoint,
        checkpoint: &SignedCheckpoint,
        why: String,
    ) -> Outcome {
        self.stats
            .of(&w.vkey.name)
            .unreachable
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(witness = %w.vkey.name, error = %why, "witness unreachable");
        let first = {
            let mut seen = self
                .unreachable_at
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            seen.insert((w.vkey.name.clone(), checkpoint.tree_size))
        };
        if first {
            self.alarm(
                w,
                0,
                checkpoint,
                format!("unreachable, no cosignature: {why}"),
            );
        }
        Outcome::Unreachable(why)
    }

    fn alarm(
        &self,
        w: &WitnessEndpoint,
        status: u16,
        checkpoint: &SignedCheckpoint,
        what: String,
    ) -> Outcome {
        if status != 0 || !what.starts_with("unreachable") {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            refused.insert((w.vkey.name.clone(), checkpoint.tree_size));
        }
        self.stats
            .of(&w.vkey.name)
            .alarms
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(witness = %w.vkey.name, status, tree_size = checkpoint.tree_size, what = %what, "WITNESS ALARM");
        let alarm = Alarm {
            at: chrono::Utc::now().to_rfc3339(),
            witness: w.vkey.name.clone(),
            status,
            tree_size: checkpoint.tree_size,
            what,
        };
        if let Some(path) = &self.alarms_file {
            use std::io::Write;
            let line = serde_json::to_string(&alarm).unwrap_or_default();
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}").and_then(|()| f.sync_data()));
            if let Err(e) = written {
                tracing::error!(error = %e, "cannot write the alarm file");
            }
        }
        Outcome::Alarm(alarm)
    }

    fn known_size(&self, name: &str) -> u64 {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(name)
            .copied()
            .unwrap_or_else(|| self.stored_size_cosigned_by(name))
    }

    /// The largest stored checkpoint this witness cosigned (after a restart of the log).
    fn stored_size_cosigned_by(&self, name: &str) -> u64 {
        let Some(w) = self.witnesses.iter().find(|w| w.vkey.name == name) else {
            return 0;
        };
        self.ledger
            .checkpoints()
            .unwrap_or_default()
            .iter()
            .filter(|c| {
                SignedNote::parse(c.note.as_bytes())
                    .is_ok_and(|n| n.signatures.iter().any(|s| s.is_by(&w.vkey)))
            })
            .map(|c| c.tree_size)
            .max()
            .unwrap_or(0)
    }

    fn set_known(&self, name: &str, size: u64) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(name.to_string(), size);
    }
}
