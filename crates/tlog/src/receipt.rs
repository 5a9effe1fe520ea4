//! Receipts in C2SP tlog-proof v1: an event's index, its inclusion proof, the cosigned
//! checkpoint, and — in `extra` — the record's bytes, so that a receipt stands alone. A receipt
//! is good only with a good log signature, a quorum of good cosignatures, no bad signature by a
//! known key, a record whose leaf hash the proof leads to the root, and a record that names the
//! same position.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ikrar_core::proof::verify_inclusion;
use ikrar_core::{Hash, Ledger};

use crate::cosignature::Vkey;
use crate::error::{Error, Result};
use crate::note::{parse_decimal, Checkpoint, SignedNote};
use crate::policy::Policy;

/// The first line of every tlog-proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The largest receipt accepted: a 64 KiB record in base64, 64 hashes and a checkpoint.
pub const RECEIPT_BYTES_MAX: usize = 256 * 1024;

/// A parsed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The `extra` data (here, the record's bytes), if present.
    pub extra: Option<Vec<u8>>,
    /// The entry's index (the record's position).
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: String,
}

impl Receipt {
    /// The receipt of the record at `position` against the stored checkpoint of `tree_size`
    /// (with every cosignature stored with it).
    pub fn build(ledger: &Ledger, position: u64, tree_size: u64) -> Result<Receipt> {
        let checkpoint = ledger.checkpoint_at(tree_size)?.ok_or_else(|| {
            Error::Core(ikrar_core::Error::NotFound {
                what: format!("a checkpoint of size {tree_size}"),
            })
        })?;
        Ok(Receipt {
            extra: Some(ledger.read(position)?.bytes),
            index: position,
            proof: ledger.inclusion_proof(position, tree_size)?,
            checkpoint: checkpoint.note,
        })
    }

    /// The receipt as text.
    ///
    /// ```
    /// use ikrar_tlog::receipt::Receipt;
    /// let r = Receipt { extra: Some(b"{}".to_vec()), index: 0, proof: vec![],
    ///     checkpoint: "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— o AAAAAAA=\n".into() };
    /// assert_eq!(Receipt::parse(&r.to_text()).unwrap(), r);
    /// ```
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", BASE64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a receipt; refuses anything out of the format.
    pub fn parse(text: &str) -> Result<Receipt> {
        let bad = |why: &str| Error::malformed("tlog-proof", why.to_string());
        if text.len() > RECEIPT_BYTES_MAX {
            return Err(bad("over 256 KiB"));
        }
        let mut rest = text
            .strip_prefix(HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or_else(|| bad("the first line is not c2sp.org/tlog-proof@v1"))?;
        let next_line = |rest: &mut &str| -> Result<String> {
            let (line, tail) = rest
                .split_once('\n')
                .ok_or_else(|| bad("a line does not end"))?;
            *rest = tail;
            Ok(line.to_string())
        };
        let mut line = next_line(&mut rest)?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let bytes = BASE64.decode(b64).map_err(|_| bad("extra is not base64"))?;
                line = next_line(&mut rest)?;
                Some(bytes)
            }
            None => None,
        };
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("no `index <N>` line"))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == 64 {
                return Err(bad("more than 64 proof hashes"));
            }
            proof.push(
                Hash::from_base64(&line).ok_or_else(|| bad("a proof line is not a base64 hash"))?,
            );
        }
        SignedNote::parse(rest.as_bytes())?;
        Ok(Receipt {
            extra,
            index,
            proof,
            checkpoint: rest.to_string(),
        })
    }

    /// Checks the receipt against `policy` (its logs, or `log_key` if the policy lists none).
    /// Answers what it proves.
    pub fn verify(&self, policy: &Policy, log_key: Option<&Vkey>) -> Result<Checked> {
        let note = SignedNote::parse(self.checkpoint.as_bytes())?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        let mut logs = policy.logs.clone();
        if let Some(k) = log_key {
            if !logs.contains(k) {
                logs.push(k.clone());
            }
        }
        if logs.is_empty() {
            return Err(Error::Verification(
                "no log key to check the checkpoint with".into(),
            ));
        }
        // Every known key's signature must verify: a forged cosignature by a policy witness
        // refuses the receipt, it is not merely left out.
        let mut known = logs.clone();
        known.extend(policy.witness_keys());
        let good = note.verify(&known)?;
        let log_ok = good.iter().any(|(k, _)| logs.contains(k));
        if !log_ok {
            return Err(Error::Verification(
                "the checkpoint is not signed by a trusted log".into(),
            ));
        }
        if !logs.iter().any(|k| k.name == checkpoint.origin) {
            return Err(Error::Verification(format!(
                "the origin `{}` is not a trusted log's name",
                checkpoint.origin
            )));
        }
        let cosigners: Vec<Vkey> = good
            .iter()
            .filter(|(k, _)| !logs.contains(k))
            .map(|(k, _)| (*k).clone())
            .collect();
        if !policy.satisfied_by(&cosigners) {
            return Err(Error::Verification(format!(
                "the quorum is not met: {} good cosignature(s) from the policy's witnesses",
                cosigners.len()
            )));
        }
        let record = self
            .extra
            .as_deref()
            .ok_or_else(|| Error::Verification("the receipt carries no record (extra)".into()))?;
        verify_inclusion(
            Hash::leaf(record),
            self.index,
            checkpoint.size,
            &self.proof,
            checkpoint.root,
        )
        .map_err(|e| Error::Verification(format!("inclusion: {e}")))?;
        let position = serde_json::from_slice::<serde_json::Value>(record)
            .ok()
            .and_then(|v| v.get("position").and_then(serde_json::Value::as_u64));
        if position != Some(self.index) {
            return Err(Error::Verification(format!(
                "the record's position {position:?} is not the index {}",
                self.index
            )));
        }
        Ok(Checked {
            index: self.index,
            tree_size: checkpoint.size,
            root: checkpoint.root,
            cosigners: cosigners.into_iter().map(|k| k.name).collect(),
        })
    }
}

/// What a good receipt shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The record's position.
    pub index: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Its root.
    pub root: Hash,
    /// The witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
}

/// The receipt of event `event_id` against the stored checkpoint of `size` (default: the
/// latest), refused if the event was recorded after that checkpoint.
pub fn for_event(ledger: &Ledger, event_id: uuid::Uuid, size: Option<u64>) -> Result<Receipt> {
    let not_found = |what: String| Error::Core(ikrar_core::Error::NotFound { what });
    let checkpoint = match size {
        Some(n) => ledger.checkpoint_at(n)?,
        None => ledger.latest_checkpoint()?,
    }
    .ok_or_else(|| not_found("a checkpoint (sign one: ikrar checkpoint --key FILE)".into()))?;
    let stored = ledger
        .find_event(event_id)?
        .ok_or_else(|| not_found(format!("event {event_id}")))?;
    let position = stored.record.position;
    if position >= checkpoint.tree_size {
        return Err(not_found(format!(
            "a checkpoint that includes event {event_id} (position {position}); the latest is of size {}",
            checkpoint.tree_size
        )));
    }
    Receipt::build(ledger, position, checkpoint.tree_size)
}
