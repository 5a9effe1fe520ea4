//! A witness implementing C2SP tlog-witness v1.0.0 (`POST <prefix>/add-checkpoint`): it
//! cosigns a log's checkpoint only if it is consistent with the latest one it cosigned for that
//! origin, and records the new one durably before it answers.
//!
//! The check and the update run under one lock per origin, so two racing submissions are
//! serialised: the second sees the first's stored size and gets a 409, and the stored size can
//! never roll back (the race the spec describes).

mod serve;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ikrar_core::proof::verify_consistency;
use ikrar_core::Hash;

pub use serve::{router, serve};
pub use store::{write_durably, LogState, WitnessDir};

use crate::cosignature::{CosignerKey, Vkey};
use crate::error::{Error, Result};
use crate::note::{parse_decimal, Checkpoint, SignedNote};

/// The largest request body: an old size line, at most 63 proof lines and a checkpoint.
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;
/// "The client MUST NOT send more than 63 consistency proof lines."
pub const PROOF_LINES_MAX: usize = 63;
/// The content type of a 409's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// A witness's answer: an HTTP status, a content type and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 200, 400, 403, 404, 409 or 422 (500 if the state cannot be read or written).
    pub status: u16,
    /// The body's content type.
    pub content_type: &'static str,
    /// The body: cosignature lines on 200, the stored size on 409, else why.
    pub body: String,
}

impl Answer {
    fn text(status: u16, why: impl Into<String>) -> Answer {
        let mut body = why.into();
        body.push('\n');
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A parsed add-checkpoint request body.
#[derive(Debug, Clone)]
pub struct Request {
    /// The old size line's size.
    pub old: u64,
    /// The consistency proof.
    pub proof: Vec<Hash>,
    /// The submitted checkpoint note.
    pub note: SignedNote,
    /// Its body.
    pub checkpoint: Checkpoint,
}

impl Request {
    /// Parses `old <N>\n`, proof lines, a blank line and a signed checkpoint.
    ///
    /// ```
    /// let body = "old 0\n\nexample.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— example.com/log AAAAAAA=\n";
    /// let r = ikrar_tlog::witness::Request::parse(body.as_bytes()).unwrap();
    /// assert_eq!((r.old, r.proof.len(), r.checkpoint.size), (0, 0, 0));
    /// assert!(ikrar_tlog::witness::Request::parse(b"old 01\n\n").is_err());
    /// ```
    pub fn parse(body: &[u8]) -> Result<Request> {
        let bad = |why: &str| Error::malformed("add-checkpoint request", why.to_string());
        if body.len() > REQUEST_BYTES_MAX {
            return Err(bad("over 64 KiB"));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (old_line, rest) = text
            .split_once('\n')
            .ok_or_else(|| bad("no old size line"))?;
        let old = old_line
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        let mut proof = Vec::new();
        let mut rest = rest;
        loop {
            let (line, tail) = rest
                .split_once('\n')
                .ok_or_else(|| bad("no blank line before the checkpoint"))?;
            rest = tail;
            if line.is_empty() {
                break;
            }
            if proof.len() == PROOF_LINES_MAX {
                return Err(bad("more than 63 consistency proof lines"));
            }
            proof.push(
                Hash::from_base64(line).ok_or_else(|| bad("a proof line is not a base64 hash"))?,
            );
        }
        let note = SignedNote::parse(rest.as_bytes())?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok(Request {
            old,
            proof,
            note,
            checkpoint,
        })
    }
}

/// A running witness: its directory, its key, and one lock per origin.
pub struct Witness {
    dir: WitnessDir,
    key: CosignerKey,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Witness {
    /// The witness of `dir`.
    pub fn open(dir: WitnessDir) -> Result<Witness> {
        let key = dir.key()?;
        Ok(Witness {
            dir,
            key,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The witness's verifier key.
    pub fn vkey(&self) -> Vkey {
        self.key.vkey()
    }

    /// The directory.
    pub fn dir(&self) -> &WitnessDir {
        &self.dir
    }

    fn lock_of(&self, origin: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(origin.to_string()).or_default().clone()
    }

    /// Answers one add-checkpoint request body, exactly as tlog-witness v1.0.0 orders its
    /// checks. Blocking (it fsyncs): call it off the async runtime.
    pub fn add_checkpoint(&self, body: &[u8]) -> Answer {
        match self.try_add(body) {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(error = %e, "witness state");
                Answer::text(
                    500,
                    format!("the witness cannot read or write its state: {e}"),
                )
            }
        }
    }

    fn try_add(&self, body: &[u8]) -> Result<Answer> {
        let request = match Request::parse(body) {
            Ok(r) => r,
            Err(e) => return Ok(Answer::text(400, e.to_string())),
        };
        let origin = request.checkpoint.origin.clone();
        let keys: Vec<Vkey> = self
            .dir
            .logs()?
            .into_iter()
            .filter(|(o, _)| *o == origin)
            .map(|(_, k)| k)
            .collect();
        if keys.is_empty() {
            return Ok(Answer::text(404, format!("unknown origin `{origin}`")));
        }
        if let Err(e) = request.note.verify(&keys) {
            // Not evidence: anyone can send a badly signed note.
            return Ok(Answer::text(403, e.to_string()));
        }
        let new = &request.checkpoint;
        if request.old > new.size {
            let why = format!(
                "old size {} is above the checkpoint's size {}",
                request.old, new.size
            );
            self.dir.keep_evidence(&origin, 400, &why, body)?;
            return Ok(Answer::text(400, why));
        }
        // From here to the stored update, one submission per origin at a time.
        let lock = self.lock_of(&origin);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let stored = self.dir.state(&origin)?;
        let stored_size = stored.map_or(0, |s| s.size);
        if request.old != stored_size {
            return Ok(Answer {
                status: 409,
                content_type: SIZE_CONTENT_TYPE,
                body: format!("{stored_size}\n"),
            });
        }
        match inconsistency(&request, stored) {
            None => {}
            Some(Refusal::SameSizeOtherRoot(why)) => {
                // SPEC §11 answers this split view 422, as for a bad proof (tlog-witness's
                // text says 409, which a client cannot tell from a stale old size): it is
                // kept as evidence either way.
                self.dir.keep_evidence(&origin, 422, &why, body)?;
                return Ok(Answer::text(422, why));
            }
            Some(Refusal::BadProof(why)) => {
                self.dir.keep_evidence(&origin, 422, &why, body)?;
                return Ok(Answer::text(422, why));
            }
        }
        // Persist before answering (the spec's MUST): the cosignature below is then backed by
        // the state a restart will read.
        if stored
            != Some(LogState {
                size: new.size,
                root: new.root,
            })
        {
            self.dir.set_state(
                &origin,
                LogState {
                    size: new.size,
                    root: new.root,
                },
            )?;
        }
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        Ok(Answer {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: self.key.cosign(request.note.text.as_bytes(), now),
        })
    }
}

/// Why a well-signed request at the stored size is refused.
enum Refusal {
    /// The same size as stored with another root: two histories signed by the log. Answered
    /// 422 (SPEC §11) and kept as evidence.
    SameSizeOtherRoot(String),
    /// The consistency proof does not verify (or is given where none may be): 422, kept as
    /// evidence.
    BadProof(String),
}

fn inconsistency(request: &Request, stored: Option<LogState>) -> Option<Refusal> {
    let new = &request.checkpoint;
    match stored {
        None => {
            // Nothing stored: old is 0, and the proof "MUST be empty if the old size is zero".
            (!request.proof.is_empty())
                .then(|| Refusal::BadProof("a consistency proof from size 0 must be empty".into()))
        }
        Some(s) if s.size == new.size => {
            if s.root != new.root {
                Some(Refusal::SameSizeOtherRoot(format!(
                    "size {} was cosigned with root {}, not {}",
                    s.size, s.root, new.root
                )))
            } else if !request.proof.is_empty() {
                Some(Refusal::BadProof(
                    "a proof between equal sizes must be empty".into(),
                ))
            } else {
                None
            }
        }
        Some(s) if s.size == 0 => (!request.proof.is_empty())
            .then(|| Refusal::BadProof("a consistency proof from size 0 must be empty".into())),
        Some(s) => verify_consistency(s.size, new.size, s.root, new.root, &request.proof)
            .err()
            .map(|e| {
                Refusal::BadProof(format!(
                    "the consistency proof from size {} to {} does not verify: {e}",
                    s.size, new.size
                ))
            }),
    }
}
