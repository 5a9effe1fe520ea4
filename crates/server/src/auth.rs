//! Bearer tokens with roles (SPEC §7). The tokens file holds SHA-256 hashes, never tokens.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May read (GET).
    Reader,
    /// May read and append.
    Recorder,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "recorder" => Ok(Role::Recorder),
            other => Err(format!(
                "unknown role `{other}` (expected reader or recorder)"
            )),
        }
    }
}

/// One entry of the tokens file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who the token is for.
    pub name: String,
    /// What it allows.
    pub role: Role,
    /// SHA-256 of the token, lowercase hex.
    pub token_sha256: String,
}

/// The tokens file: `{"tokens":[{"name","role","token_sha256"}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    /// The entries.
    pub tokens: Vec<TokenEntry>,
}

/// The SHA-256 of a token, lowercase hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Tokens {
    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<Tokens, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Tokens {
            path: path.to_path_buf(),
            what: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| Error::Tokens {
            path: path.to_path_buf(),
            what: e.to_string(),
        })
    }

    /// The role of a presented token, if it is known.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let hash = token_hash(token);
        // Compare every entry, so that timing says nothing about which one matched.
        let mut found = None;
        for entry in &self.tokens {
            let same = entry.token_sha256.len() == hash.len()
                && entry
                    .token_sha256
                    .bytes()
                    .zip(hash.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if same {
                found = Some(entry.role);
            }
        }
        found
    }

    /// Makes a new random token for `name`, adds its hash to the file at `path` (created if
    /// missing, written atomically), and returns the token — the only time it is ever shown.
    pub fn add(path: &Path, name: &str, role: Role) -> Result<String, Error> {
        let mut tokens = if path.exists() {
            Tokens::load(path)?
        } else {
            Tokens::default()
        };
        if name.trim().is_empty() {
            return Err(Error::Tokens {
                path: path.to_path_buf(),
                what: "a token needs a non-empty name".into(),
            });
        }
        let mut bytes = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut bytes);
        let token = format!("ikrar_{}", URL_SAFE_NO_PAD.encode(bytes));
        tokens.tokens.push(TokenEntry {
            name: name.to_string(),
            role,
            token_sha256: token_hash(&token),
        });
        let tmp: PathBuf = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(&tokens).expect("serialisable");
        let io = |e: std::io::Error| Error::Tokens {
            path: path.to_path_buf(),
            what: e.to_string(),
        };
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(token)
    }
}
