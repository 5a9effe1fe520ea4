//! C2SP tlog-cosignature v1 with Ed25519 (signature type `0x04`): a witness's timestamped
//! signature over `cosignature/v1\ntime <T>\n` followed by the checkpoint's note text.
//!
//! Keys use the signed-note text forms with the type byte `0x04`: signer
//! `PRIVATE+KEY+<name>+<key id hex>+<base64(0x04 ‖ seed)>`, verifier
//! `<name>+<key id hex>+<base64(0x04 ‖ public key)>`, key id
//! `SHA-256(<name> ‖ "\n" ‖ 0x04 ‖ public key)[:4]`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The signed-note signature type of v1 Ed25519 cosignatures.
pub const COSIGNATURE_V1: u8 = 0x04;
/// The signed-note signature type of plain Ed25519 (checkpoints signed by a log).
pub const ED25519: u8 = 0x01;

/// `SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4]`, big-endian.
pub fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message a v1 cosignature signs.
pub fn signed_message(timestamp: u64, note_text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(note_text);
    m
}

/// A verifier key in the signed-note text form: its name, type byte and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct Vkey {
    /// The key name.
    pub name: String,
    /// `0x01` (a log's Ed25519) or `0x04` (a witness's cosignature v1).
    pub kind: u8,
    /// The Ed25519 public key.
    pub public: [u8; 32],
    /// The key id the text named (checked against the key).
    pub id: u32,
}

impl fmt::Debug for Vkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Vkey {
    /// Parses `<name>+<key id hex>+<base64(type ‖ public key)>` of type `0x01` or `0x04`.
    ///
    /// ```
    /// use ikrar_tlog::cosignature::CosignerKey;
    /// let key = CosignerKey::generate("witness.example/w1").unwrap();
    /// let vkey = ikrar_tlog::cosignature::Vkey::parse(&key.vkey().text()).unwrap();
    /// assert_eq!(vkey.kind, 0x04);
    /// assert!(ikrar_tlog::cosignature::Vkey::parse("witness.example/w1+00000000+AQ==").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Vkey> {
        let text = text.trim();
        let bad = |why: &str| {
            Error::Key(format!(
                "{why}: `{}`",
                text.chars().take(120).collect::<String>()
            ))
        };
        // The name has no '+'; base64 may.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("a verifier key is <name>+<id>+<key>"));
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(bad("invalid key name"));
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("the key id is 8 hex digits"))?;
        let raw = BASE64
            .decode(key64)
            .map_err(|_| bad("the key is not base64"))?;
        let (kind, public) = match raw.as_slice() {
            [kind, rest @ ..] if rest.len() == 32 => (*kind, rest),
            _ => return Err(bad("the key is a type byte and 32 bytes")),
        };
        if kind != ED25519 && kind != COSIGNATURE_V1 {
            return Err(bad(
                "only Ed25519 (0x01) and cosignature v1 (0x04) keys are supported",
            ));
        }
        let public: [u8; 32] = public.try_into().map_err(|_| bad("32-byte key"))?;
        VerifyingKey::from_bytes(&public).map_err(|_| bad("not an Ed25519 point"))?;
        if key_id(name, kind, &public) != id {
            return Err(bad("the key id does not match the key"));
        }
        Ok(Vkey {
            name: name.to_string(),
            kind,
            public,
            id,
        })
    }

    /// The text form.
    pub fn text(&self) -> String {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(&self.public);
        format!("{}+{:08x}+{}", self.name, self.id, BASE64.encode(raw))
    }

    /// Whether `sig` (the bytes after the key id) is a good signature by this key of
    /// `note_text`: plain Ed25519 for type `0x01`, a timestamped v1 cosignature for `0x04`.
    /// Answers the cosignature's timestamp (0 for a plain signature).
    pub fn check(&self, note_text: &[u8], sig: &[u8]) -> Option<u64> {
        let key = VerifyingKey::from_bytes(&self.public).ok()?;
        match self.kind {
            ED25519 => {
                let sig = ed25519_dalek::Signature::from_slice(sig).ok()?;
                key.verify_strict(note_text, &sig).ok().map(|()| 0)
            }
            _ => {
                if sig.len() != 72 {
                    return None;
                }
                let timestamp = u64::from_be_bytes(sig[..8].try_into().ok()?);
                if timestamp > i64::MAX as u64 {
                    return None;
                }
                let sig = ed25519_dalek::Signature::from_slice(&sig[8..]).ok()?;
                key.verify_strict(&signed_message(timestamp, note_text), &sig)
                    .ok()
                    .map(|()| timestamp)
            }
        }
    }
}

/// A witness's secret key: it makes v1 cosignatures.
pub struct CosignerKey {
    name: String,
    signing: SigningKey,
}

impl fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "CosignerKey({})", self.vkey().text())
    }
}

impl CosignerKey {
    /// A new key named `name`, from the operating system's randomness.
    pub fn generate(name: &str) -> Result<CosignerKey> {
        if !signed_note::is_key_name_valid(name) {
            return Err(Error::Key(format!("invalid key name `{name}`")));
        }
        Ok(CosignerKey {
            name: name.to_string(),
            signing: SigningKey::generate(&mut rand_core::OsRng),
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<key id hex>+<base64(0x04 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<CosignerKey> {
        let text = text.trim();
        let bad = |why: &str| Error::Key(format!("a witness signer key: {why}"));
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("it starts with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(seed64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("PRIVATE+KEY+<name>+<id>+<seed>"));
        };
        let raw = BASE64
            .decode(seed64)
            .map_err(|_| bad("the seed is not base64"))?;
        let seed: [u8; 32] = match raw.as_slice() {
            [COSIGNATURE_V1, seed @ ..] => seed.try_into().map_err(|_| bad("a 32-byte seed"))?,
            _ => return Err(bad("the type byte is 0x04 and the seed 32 bytes")),
        };
        let key = CosignerKey {
            name: name.to_string(),
            signing: SigningKey::from_bytes(&seed),
        };
        if !signed_note::is_key_name_valid(name) || format!("{:08x}", key.vkey().id) != id_hex {
            return Err(bad("the name or key id does not match the key"));
        }
        Ok(key)
    }

    /// The secret text form.
    pub fn text(&self) -> String {
        let mut raw = vec![COSIGNATURE_V1];
        raw.extend_from_slice(self.signing.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.vkey().id,
            BASE64.encode(raw)
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key.
    pub fn vkey(&self) -> Vkey {
        let public = self.signing.verifying_key().to_bytes();
        Vkey {
            name: self.name.clone(),
            kind: COSIGNATURE_V1,
            id: key_id(&self.name, COSIGNATURE_V1, &public),
            public,
        }
    }

    /// The note signature line (`— <name> <base64(key id ‖ timestamp ‖ signature)>\n`)
    /// cosigning `note_text` at `timestamp` (seconds since the epoch).
    ///
    /// ```
    /// use ikrar_tlog::cosignature::{CosignerKey, SignatureLine};
    /// let key = CosignerKey::generate("witness.example/w1").unwrap();
    /// let text = b"example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    /// let line = key.cosign(text, 1_700_000_000);
    /// let parsed = SignatureLine::parse(line.trim_end()).unwrap();
    /// assert_eq!(key.vkey().check(text, &parsed.sig), Some(1_700_000_000));
    /// ```
    pub fn cosign(&self, note_text: &[u8], timestamp: u64) -> String {
        let sig = self.signing.sign(&signed_message(timestamp, note_text));
        let mut raw = self.vkey().id.to_be_bytes().to_vec();
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("— {} {}\n", self.name, BASE64.encode(raw))
    }
}

/// One signature line of a signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    /// The key name.
    pub name: String,
    /// The key id.
    pub id: u32,
    /// The signature bytes after the key id.
    pub sig: Vec<u8>,
}

impl SignatureLine {
    /// Parses `— <name> <base64(key id ‖ signature)>` (without the newline).
    pub fn parse(line: &str) -> Result<SignatureLine> {
        let bad = || Error::malformed("signature line", line.chars().take(120).collect::<String>());
        let rest = line.strip_prefix("— ").ok_or_else(bad)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
        if !signed_note::is_key_name_valid(name) {
            return Err(bad());
        }
        let raw = BASE64.decode(b64).map_err(|_| bad())?;
        if raw.len() < 5 {
            return Err(bad());
        }
        Ok(SignatureLine {
            name: name.to_string(),
            id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            sig: raw[4..].to_vec(),
        })
    }

    /// Whether this line claims to be by `key` (same name and key id).
    pub fn is_by(&self, key: &Vkey) -> bool {
        self.name == key.name && self.id == key.id
    }
}
