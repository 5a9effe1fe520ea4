//! Proof bundles (SPEC §5): everything an outsider needs to check, with the verifier key alone
//! and no ledger, that a record is in the log, or that one tree is a prefix of a later one.

use ikrar_core::proof::{verify_consistency, verify_inclusion};
use ikrar_core::{Hash, Ledger, Record, SignedCheckpoint, VerifierKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// A tree size with its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeHead {
    /// Number of records.
    pub tree_size: u64,
    /// Merkle root, standard base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub root: Hash,
}

/// Proof that one record is in the tree a signed checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionBundle {
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// Its tree size.
    pub tree_size: u64,
    /// The record's position.
    pub position: u64,
    /// The record exactly as stored.
    pub record: String,
    /// The audit path, leaf's sibling first (standard base64).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub inclusion: Vec<Hash>,
}

/// Proof that an earlier tree is a prefix of the tree a signed checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyBundle {
    /// The signed checkpoint note of the later tree.
    pub checkpoint: String,
    /// The earlier tree.
    pub from: TreeHead,
    /// The later tree (the checkpoint's).
    pub to: TreeHead,
    /// The consistency proof (standard base64).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub consistency: Vec<Hash>,
}

/// Either kind of bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProofBundle {
    /// An inclusion proof.
    Inclusion(InclusionBundle),
    /// A consistency proof.
    Consistency(ConsistencyBundle),
}

/// What a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleCheck {
    /// `inclusion` or `consistency`.
    pub kind: &'static str,
    /// The signed checkpoint's origin.
    pub origin: String,
    /// The signed tree size.
    pub tree_size: u64,
    /// The signed root.
    pub root: Hash,
    /// For inclusion: the record's position and event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// For inclusion: the record's event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// For consistency: the earlier tree shown to be a prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<TreeHead>,
}

fn checkpoint_for(ledger: &Ledger, size: Option<u64>) -> Result<SignedCheckpoint, Error> {
    let found = match size {
        Some(n) => ledger.checkpoint_at(n)?,
        None => ledger.latest_checkpoint()?,
    };
    found.ok_or_else(|| {
        Error::NoCheckpoint(match size {
            Some(n) => format!("no checkpoint of size {n} is stored; sign one with `ikrar checkpoint --key FILE` when the ledger has {n} records"),
            None => "no checkpoint is stored; sign one with `ikrar checkpoint --key FILE`".into(),
        })
    })
}

/// The inclusion bundle of an event against the checkpoint of `size` (default: the latest).
pub fn inclusion_bundle(
    ledger: &Ledger,
    event_id: Uuid,
    size: Option<u64>,
) -> Result<InclusionBundle, Error> {
    let checkpoint = checkpoint_for(ledger, size)?;
    let stored = ledger
        .find_event(event_id)?
        .ok_or_else(|| ikrar_core::Error::NotFound {
            what: format!("event {event_id}"),
        })?;
    let position = stored.record.position;
    if position >= checkpoint.tree_size {
        return Err(Error::NoCheckpoint(format!(
            "event {event_id} (position {position}) was recorded after the checkpoint of size {}; sign a newer checkpoint",
            checkpoint.tree_size
        )));
    }
    Ok(InclusionBundle {
        inclusion: ledger.inclusion_proof(position, checkpoint.tree_size)?,
        checkpoint: checkpoint.note,
        tree_size: checkpoint.tree_size,
        position,
        record: stored.as_json().to_string(),
    })
}

/// The consistency bundle from tree size `from` to the checkpoint of `size` (default: the latest).
pub fn consistency_bundle(
    ledger: &Ledger,
    from: u64,
    size: Option<u64>,
) -> Result<ConsistencyBundle, Error> {
    let checkpoint = checkpoint_for(ledger, size)?;
    Ok(ConsistencyBundle {
        consistency: ledger.consistency_proof(from, checkpoint.tree_size)?,
        from: TreeHead {
            tree_size: from,
            root: ledger.root_at(from)?,
        },
        to: TreeHead {
            tree_size: checkpoint.tree_size,
            root: checkpoint.root,
        },
        checkpoint: checkpoint.note,
    })
}

/// Checks a bundle offline with the verifier key alone.
///
/// Errors: [`Error::MalformedBundle`] when the bundle cannot be read, [`Error::ProofFailed`]
/// when it reads but does not prove what it claims.
pub fn check_bundle(bundle_json: &str, key: &VerifierKey) -> Result<BundleCheck, Error> {
    const BUNDLE_BYTES_MAX: usize = 1 << 20;
    if bundle_json.len() > BUNDLE_BYTES_MAX {
        return Err(Error::MalformedBundle(format!(
            "a bundle is at most {BUNDLE_BYTES_MAX} bytes"
        )));
    }
    let bundle: ProofBundle = serde_json::from_str(bundle_json)
        .map_err(|e| Error::MalformedBundle(format!("not a proof bundle: {e}")))?;
    let failed = |what: String| Error::ProofFailed(what);
    match bundle {
        ProofBundle::Inclusion(b) => {
            let cp = key
                .open(&b.checkpoint)
                .map_err(|e| failed(format!("checkpoint: {e}")))?;
            if cp.tree_size != b.tree_size {
                return Err(failed(format!(
                    "the bundle says tree size {} but its checkpoint signs {}",
                    b.tree_size, cp.tree_size
                )));
            }
            let record = Record::decode(b.record.as_bytes())
                .map_err(|e| failed(format!("the record does not decode: {e}")))?;
            if record.position != b.position {
                return Err(failed(format!(
                    "the record says position {} but the bundle {}",
                    record.position, b.position
                )));
            }
            verify_inclusion(
                Hash::leaf(b.record.as_bytes()),
                b.position,
                cp.tree_size,
                &b.inclusion,
                cp.root,
            )
            .map_err(|e| failed(format!("inclusion: {e}")))?;
            Ok(BundleCheck {
                kind: "inclusion",
                origin: cp.origin,
                tree_size: cp.tree_size,
                root: cp.root,
                position: Some(b.position),
                event_id: Some(record.event_id),
                from: None,
            })
        }
        ProofBundle::Consistency(b) => {
            let cp = key
                .open(&b.checkpoint)
                .map_err(|e| failed(format!("checkpoint: {e}")))?;
            if cp.tree_size != b.to.tree_size || cp.root != b.to.root {
                return Err(failed("the bundle's `to` is not the signed tree".into()));
            }
            verify_consistency(
                b.from.tree_size,
                b.to.tree_size,
                b.from.root,
                b.to.root,
                &b.consistency,
            )
            .map_err(|e| failed(format!("consistency: {e}")))?;
            Ok(BundleCheck {
                kind: "consistency",
                origin: cp.origin,
                tree_size: cp.tree_size,
                root: cp.root,
                position: None,
                event_id: None,
                from: Some(b.from),
            })
        }
    }
}
