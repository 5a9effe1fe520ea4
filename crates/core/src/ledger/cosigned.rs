//! Cosignatures stored with their checkpoint (SPEC §11): a witness's signature lines are
//! appended to the stored note, so that the checkpoint served and the receipts written carry
//! them. The caller checks each cosignature against its witness's key; the ledger checks that
//! the note stays a well-formed checkpoint still signed by the log.

use crate::error::Error;
use crate::ledger::Ledger;
use crate::tree::checkpoint::{CheckpointError, SignedCheckpoint};

/// The most signature lines kept on one checkpoint: the log's and a witness network's worth;
/// signed-note verifiers must accept at least 16.
pub const NOTE_SIGNATURES_MAX: usize = 32;

impl Ledger {
    /// Adds signature lines (`— <name> <base64>\n`, as a witness answers them) to the stored
    /// checkpoint of `tree_size` signed by `origin`, skipping any already there or from a key
    /// (name and key id) that already signed it. Answers the checkpoint as now stored.
    pub fn add_cosignatures(
        &self,
        tree_size: u64,
        origin: &str,
        lines: &[String],
    ) -> Result<SignedCheckpoint, Error> {
        let _guard = self.inner.checkpoint_lock.lock();
        let Some(stored) = self
            .checkpoints()?
            .into_iter()
            .find(|c| c.tree_size == tree_size && c.origin == origin)
        else {
            return Err(Error::NotFound {
                what: format!("a checkpoint of size {tree_size} signed by {origin}"),
            });
        };
        let key = self.verifier_key(origin)?.ok_or_else(|| Error::NotFound {
            what: format!("the verifier key of {origin}"),
        })?;
        let mut note = stored.note.clone();
        let mut count = note.lines().filter(|l| l.starts_with('—')).count();
        for line in lines {
            let line = line.trim_end_matches('\n');
            let Some(signer) = signer_of(line) else {
                return Err(
                    CheckpointError::Malformed(format!("not a signature line: {line}")).into(),
                );
            };
            let already = note.lines().any(|l| signer_of(l) == Some(signer.clone()));
            if already || count >= NOTE_SIGNATURES_MAX {
                continue;
            }
            note.push_str(line);
            note.push('\n');
            count += 1;
        }
        // The log's own signature must still verify: nothing appended may break the note.
        let checked = key.open(&note)?;
        if checked.tree_size != stored.tree_size || checked.root != stored.root {
            return Err(
                CheckpointError::Malformed("the note changed its checkpoint".into()).into(),
            );
        }
        self.inner
            .store
            .put_checkpoint(tree_size, origin, &note, key.text())?;
        Ok(checked)
    }
}

/// The key name and key id (the first 4 bytes of the signature) of a signature line.
fn signer_of(line: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let rest = line.strip_prefix("— ")?;
    let (name, b64) = rest.split_once(' ')?;
    let sig = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (sig.len() > 4).then(|| (name.to_string(), sig[..4].to_vec()))
}
