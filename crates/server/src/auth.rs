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
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            if mode & 0o002 != 0 {
                return Err(Error::TokensInvalid {
                    path: path.to_path_buf(),
                    what: format!(
                        "is writable by every user (mode {:o}), who could add a token of their own; `chmod o-w {}`",
                        mode & 0o777,
                        path.display()
                    ),
                });
            }
        }
        serde_json::from_str(&text).map_err(|e| Error::TokensInvalid {
            path: path.to_path_buf(),
            what: format!("not a tokens file ({e})"),
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
        tokens.save(path)?;
        Ok(token)
    }

    /// Removes every token named `name` from the file at `path`; answers how many went.
    pub fn revoke(path: &Path, name: &str) -> Result<usize, Error> {
        let mut tokens = Tokens::load(path)?;
        let before = tokens.tokens.len();
        tokens.tokens.retain(|t| t.name != name);
        let removed = before - tokens.tokens.len();
        if removed == 0 {
            return Err(Error::Tokens {
                path: path.to_path_buf(),
                what: format!("no token is named `{name}`"),
            });
        }
        tokens.save(path)?;
        Ok(removed)
    }

    /// Writes the file whole under a temporary name, then renames it over the old one: a
    /// server reading it sees the old file or the new, never half of one.
    fn save(&self, path: &Path) -> Result<(), Error> {
        let tmp: PathBuf = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        let io = |e: std::io::Error| Error::Tokens {
            path: path.to_path_buf(),
            what: e.to_string(),
        };
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }
}

/// The tokens a running server accepts, read again from their file whenever it changes, so
/// that `ikrar token add|revoke` takes effect without a restart.
#[derive(Debug)]
pub(crate) struct LiveTokens {
    file: Option<PathBuf>,
    current: std::sync::RwLock<(Option<std::time::SystemTime>, std::sync::Arc<Tokens>)>,
}

impl LiveTokens {
    pub(crate) fn new(tokens: Tokens, file: Option<PathBuf>) -> LiveTokens {
        let modified = file.as_deref().and_then(modified);
        LiveTokens {
            file,
            current: std::sync::RwLock::new((modified, std::sync::Arc::new(tokens))),
        }
    }

    /// The tokens in force: the file's, re-read if it changed since (one `stat` a request).
    /// A file that no longer parses keeps the tokens last read, and says so in the log.
    pub(crate) fn get(&self) -> std::sync::Arc<Tokens> {
        let read = |l: &Self| l.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (seen, tokens) = read(self);
        let Some(file) = &self.file else {
            return tokens;
        };
        let now = modified(file);
        if now == seen {
            return tokens;
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        match Tokens::load(file) {
            Ok(fresh) => {
                tracing::info!(file = %file.display(), tokens = fresh.tokens.len(), "tokens file reloaded");
                *current = (now, std::sync::Arc::new(fresh));
            }
            Err(e) => {
                tracing::warn!(error = %e, "tokens file changed but cannot be read; keeping the tokens last read");
                current.0 = now;
            }
        }
        current.1.clone()
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
