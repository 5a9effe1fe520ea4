//! Signed checkpoints (SPEC §5): a C2SP `tlog-checkpoint` in a C2SP `signed-note`, Ed25519.
//!
//! The note formats and key text forms come from `signed_note` and `tlog_tiles`; this module
//! adds the ledger's rules: the origin is the key name, and a checkpoint is only signed if it is
//! consistent with the last one signed.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use signed_note::{
    Note, Signer as _, StandardSigner, StandardVerifier, Verifier as _, VerifierList,
};

use crate::tree::merkle::Hash;

/// Why a key, note or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// A key in neither of the signed-note text forms, or with a wrong key id.
    #[error("malformed key: {0}")]
    Key(String),
    /// A key name that signed notes do not allow (empty, with spaces or `+`).
    #[error("invalid key name `{0}`: it must be non-empty, without spaces or '+'")]
    KeyName(String),
    /// Not a signed note, or not a checkpoint inside it.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The note is not signed by the given key, or the signature is wrong.
    #[error("the checkpoint's signature does not verify with key {0}")]
    Signature(String),
}

/// A signer key (kept secret), able to sign checkpoints.
pub struct SignerKey {
    text: String,
    signer: StandardSigner,
    verifier_text: String,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("SignerKey")
            .field("name", &self.signer.name())
            .field("verifier", &self.verifier_text)
            .finish()
    }
}

impl SignerKey {
    /// Makes a new Ed25519 key pair for `name` from the operating system's randomness.
    ///
    /// ```
    /// let key = ikrar_core::SignerKey::generate("example.org/ikrar").unwrap();
    /// assert!(key.text().starts_with("PRIVATE+KEY+example.org/ikrar+"));
    /// assert!(key.verifier_key().text().starts_with("example.org/ikrar+"));
    /// ```
    pub fn generate(name: &str) -> Result<SignerKey, CheckpointError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CheckpointError::KeyName(name.to_string()));
        }
        let (skey, _) = signed_note::generate_key(&mut rand_core::OsRng, name);
        SignerKey::parse(&skey)
    }

    /// Parses `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<SignerKey, CheckpointError> {
        let text = text.trim();
        let signer = StandardSigner::new(text).map_err(|e| CheckpointError::Key(e.to_string()))?;
        // The verifier key is derived from the seed: 0x01 ‖ seed, the fifth '+'-separated field
        // (base64 may itself contain '+', names may not).
        let seed64 = text.splitn(5, '+').nth(4).unwrap_or_default();
        let seed = BASE64
            .decode(seed64)
            .map_err(|e| CheckpointError::Key(e.to_string()))?;
        let seed: [u8; 32] = seed
            .get(1..)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| CheckpointError::Key("an Ed25519 seed is 32 bytes".into()))?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let verifier_text = signed_note::new_ed25519_verifier_key(signer.name(), &public);
        Ok(SignerKey {
            text: text.to_string(),
            signer,
            verifier_text,
        })
    }

    /// The key's name (also the checkpoints' origin).
    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// The secret text form.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::parse(&self.verifier_text).expect("derived from a valid signer")
    }

    /// Signs a checkpoint of the tree of `tree_size` leaves with `root`.
    pub fn sign(&self, tree_size: u64, root: Hash) -> Result<SignedCheckpoint, CheckpointError> {
        let body = tlog_tiles::Checkpoint::new(self.name(), tree_size, root.into(), "")
            .map_err(|_| CheckpointError::Malformed("cannot build the checkpoint".into()))?;
        let mut note = Note::new(&body.to_bytes(), &[])
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let text = String::from_utf8(note.to_bytes()).expect("notes are UTF-8");
        Ok(SignedCheckpoint {
            origin: self.name().to_string(),
            tree_size,
            root,
            note: text,
        })
    }
}

/// A verifier key: `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.
#[derive(Clone)]
pub struct VerifierKey {
    text: String,
    verifier: StandardVerifier,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl VerifierKey {
    /// Parses the verifier key text form.
    pub fn parse(text: &str) -> Result<VerifierKey, CheckpointError> {
        let text = text.trim();
        let verifier =
            StandardVerifier::new(text).map_err(|e| CheckpointError::Key(e.to_string()))?;
        Ok(VerifierKey {
            text: text.to_string(),
            verifier,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// The text form.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks a signed checkpoint note: signed by this key, origin equal to the key name, and a
    /// well-formed checkpoint body.
    pub fn open(&self, note: &str) -> Result<SignedCheckpoint, CheckpointError> {
        let parsed = Note::from_bytes(note.as_bytes())
            .map_err(|e| CheckpointError::Malformed(format!("not a signed note ({e})")))?;
        let list = VerifierList::new(vec![Box::new(self.verifier.clone())]);
        parsed
            .verify(&list)
            .map_err(|_| CheckpointError::Signature(self.text.clone()))?;
        let body = tlog_tiles::Checkpoint::from_bytes(parsed.text())
            .map_err(|_| CheckpointError::Malformed("the note is not a tlog checkpoint".into()))?;
        if body.origin() != self.name() {
            return Err(CheckpointError::Malformed(format!(
                "origin `{}` is not the key name `{}`",
                body.origin(),
                self.name()
            )));
        }
        Ok(SignedCheckpoint {
            origin: body.origin().to_string(),
            tree_size: body.size(),
            root: Hash(body.hash().0),
            note: note.to_string(),
        })
    }
}

/// A checkpoint and the signed note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The log's origin line (the key name).
    pub origin: String,
    /// The tree size.
    pub tree_size: u64,
    /// The root of the tree of that size.
    pub root: Hash,
    /// The whole signed note, as text.
    pub note: String,
}

/// Reads the tree size and root of a checkpoint note without checking its signature (for a
/// ledger's own stored checkpoints, whose signatures `verify` checks separately).
pub fn parse_unverified(note: &str) -> Result<SignedCheckpoint, CheckpointError> {
    let parsed = Note::from_bytes(note.as_bytes())
        .map_err(|e| CheckpointError::Malformed(format!("not a signed note ({e})")))?;
    let body = tlog_tiles::Checkpoint::from_bytes(parsed.text())
        .map_err(|_| CheckpointError::Malformed("the note is not a tlog checkpoint".into()))?;
    Ok(SignedCheckpoint {
        origin: body.origin().to_string(),
        tree_size: body.size(),
        root: Hash(body.hash().0),
        note: note.to_string(),
    })
}
