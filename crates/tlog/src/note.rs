//! Signed notes (C2SP signed-note) and the checkpoints inside them (C2SP tlog-checkpoint),
//! parsed strictly and with limits, so that hostile input is refused, never trusted or panicked
//! on. Signatures are checked against [`Vkey`]s: a checkpoint is good if at least one signature
//! by a trusted key verifies and none by a trusted key fails.

use ikrar_core::Hash;

use crate::cosignature::{SignatureLine, Vkey};
use crate::error::{Error, Result};

/// The largest note accepted, in bytes: a checkpoint with a few dozen signatures is ~5 KiB.
pub const NOTE_BYTES_MAX: usize = 64 * 1024;
/// The most signature lines accepted on a note (signed-note: "MUST accept at least up to 16").
pub const SIGNATURES_MAX: usize = 64;

/// A signed note split into its text and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The note text, including its final newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<SignatureLine>,
}

impl SignedNote {
    /// Parses a signed note: valid UTF-8, no control characters but newline, a text ending in a
    /// newline, a blank line, then one or more signature lines each ending in a newline.
    pub fn parse(note: &[u8]) -> Result<SignedNote> {
        let bad = |why: &str| Error::malformed("signed note", why.to_string());
        if note.len() > NOTE_BYTES_MAX {
            return Err(bad("over 64 KiB"));
        }
        let note = std::str::from_utf8(note).map_err(|_| bad("not UTF-8"))?;
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(bad("a control character"));
        }
        // The text ends at the last blank line.
        let at = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line before the signatures"))?;
        let text = &note[..at + 1];
        let sigs = &note[at + 2..];
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or_else(|| bad("the last signature line does not end in a newline"))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == SIGNATURES_MAX {
                return Err(bad("too many signatures"));
            }
            signatures.push(SignatureLine::parse(line)?);
        }
        Ok(SignedNote {
            text: text.to_string(),
            signatures,
        })
    }

    /// The note as text again.
    pub fn to_text(&self) -> String {
        use base64::Engine;
        let mut out = format!("{}\n", self.text);
        for s in &self.signatures {
            let mut raw = s.id.to_be_bytes().to_vec();
            raw.extend_from_slice(&s.sig);
            out.push_str(&format!(
                "— {} {}\n",
                s.name,
                base64::engine::general_purpose::STANDARD.encode(raw)
            ));
        }
        out
    }

    /// Checks the note against `keys`: signatures by unknown keys are ignored, one by a known
    /// key that fails refuses the note, and at least one must verify. Answers the keys that
    /// verified (once each) with each cosignature's timestamp.
    pub fn verify<'k>(&self, keys: &'k [Vkey]) -> Result<Vec<(&'k Vkey, u64)>> {
        let mut good: Vec<(&Vkey, u64)> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = keys.iter().find(|k| sig.is_by(k)) else {
                continue;
            };
            match key.check(self.text.as_bytes(), &sig.sig) {
                Some(t) => {
                    if !good.iter().any(|(k, _)| *k == key) {
                        good.push((key, t));
                    }
                }
                None => {
                    return Err(Error::Verification(format!(
                        "the signature of {} does not verify",
                        key.name
                    )))
                }
            }
        }
        if good.is_empty() {
            return Err(Error::Verification(
                "no signature by a trusted key".to_string(),
            ));
        }
        Ok(good)
    }
}

/// The body of a checkpoint: origin, tree size, root hash, and any extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
}

impl Checkpoint {
    /// Parses a checkpoint note text (three non-empty lines and optional extension lines).
    ///
    /// ```
    /// let text = "example.com/log\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    /// let c = ikrar_tlog::note::Checkpoint::parse(text).unwrap();
    /// assert_eq!((c.origin.as_str(), c.size), ("example.com/log", 7));
    /// assert!(ikrar_tlog::note::Checkpoint::parse("example.com/log\n07\nAA==\n").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Checkpoint> {
        let bad = |why: &str| Error::malformed("checkpoint", why.to_string());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size = lines.next().ok_or_else(|| bad("no tree size"))?;
        let size =
            parse_decimal(size).ok_or_else(|| bad("the tree size is not a canonical decimal"))?;
        let root = lines.next().ok_or_else(|| bad("no root hash"))?;
        let root =
            Hash::from_base64(root).ok_or_else(|| bad("the root is not a base64 SHA-256 hash"))?;
        if lines.any(str::is_empty) {
            return Err(bad("an empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// An ASCII decimal with no leading zeros (unless it is `0`), within u64.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// A signed checkpoint, parsed and checked against the keys that may sign for its origin.
pub fn open_checkpoint(note: &[u8], log_keys: &[Vkey]) -> Result<(SignedNote, Checkpoint)> {
    let signed = SignedNote::parse(note)?;
    let checkpoint = Checkpoint::parse(&signed.text)?;
    signed.verify(log_keys)?;
    Ok((signed, checkpoint))
}
