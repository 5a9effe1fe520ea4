//! A witness's directory: its key, the logs it trusts, its latest cosigned checkpoint per
//! origin, and the evidence of refused checkpoints.
//!
//! ```text
//! DIR/witness.key        PRIVATE+KEY+<name>+… (mode 0600)
//! DIR/witness.pub        <name>+<id>+… (the verifier key to give to logs and relying parties)
//! DIR/logs               one trusted log per line: <origin> <verifier key>
//! DIR/state/<hex origin> the latest cosigned checkpoint: "<size>\n<root base64>\n"
//! DIR/evidence/…         one file per refused checkpoint whose log signature verified
//! ```
//!
//! Every file is written to a temporary name, fsynced, renamed into place and the directory
//! fsynced: a crash leaves the old file or the new one, never a torn one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ikrar_core::Hash;

use crate::cosignature::{CosignerKey, Vkey};
use crate::error::{Error, Result};
use crate::note::parse_decimal;

/// Writes `bytes` to `path` atomically and durably (temporary file, fsync, rename, fsync dir).
pub fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| Error::State(format!("{} has no directory", path.display())))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A witness directory.
#[derive(Debug, Clone)]
pub struct WitnessDir {
    root: PathBuf,
}

/// What the witness holds for one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    /// The size of the latest checkpoint cosigned.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

impl WitnessDir {
    /// Makes a witness directory with a new key named `name`; refuses an existing witness.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let w = ikrar_tlog::witness::WitnessDir::init(&dir.path().join("w"), "witness.example/w1").unwrap();
    /// assert!(w.vkey().unwrap().text().starts_with("witness.example/w1+"));
    /// assert!(ikrar_tlog::witness::WitnessDir::init(&dir.path().join("w"), "x").is_err());
    /// ```
    pub fn init(root: &Path, name: &str) -> Result<WitnessDir> {
        if root.join("witness.key").exists() {
            return Err(Error::State(format!(
                "{} already holds a witness; it is never overwritten",
                root.display()
            )));
        }
        let key = CosignerKey::generate(name)?;
        fs::create_dir_all(root.join("state"))?;
        fs::create_dir_all(root.join("evidence"))?;
        write_durably(&root.join("logs"), b"", 0o644)?;
        write_durably(
            &root.join("witness.pub"),
            format!("{}\n", key.vkey().text()).as_bytes(),
            0o644,
        )?;
        // The key last: a directory with a key is a whole witness.
        write_durably(
            &root.join("witness.key"),
            format!("{}\n", key.text()).as_bytes(),
            0o600,
        )?;
        Ok(WitnessDir {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing witness directory.
    pub fn open(root: &Path) -> Result<WitnessDir> {
        if !root.join("witness.key").is_file() {
            return Err(Error::State(format!(
                "{} is not a witness directory (no witness.key; make one with `ikrar witness init`)",
                root.display()
            )));
        }
        Ok(WitnessDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The witness's secret key.
    pub fn key(&self) -> Result<CosignerKey> {
        CosignerKey::parse(&fs::read_to_string(self.root.join("witness.key"))?)
    }

    /// The witness's verifier key.
    pub fn vkey(&self) -> Result<Vkey> {
        Ok(self.key()?.vkey())
    }

    /// The trusted logs: `(origin, verifier key)`, in the order added.
    pub fn logs(&self) -> Result<Vec<(String, Vkey)>> {
        let text = fs::read_to_string(self.root.join("logs"))?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (origin, key) = line
                .split_once(' ')
                .ok_or_else(|| Error::State(format!("logs line {}: <origin> <key>", i + 1)))?;
            let key = Vkey::parse(key.trim())
                .map_err(|e| Error::State(format!("logs line {}: {e}", i + 1)))?;
            out.push((origin.to_string(), key));
        }
        Ok(out)
    }

    /// Trusts `key` to sign checkpoints of `origin` (a log key, type 0x01).
    pub fn add_log(&self, origin: &str, key: &Vkey) -> Result<()> {
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c < ' ') {
            return Err(Error::State(format!("`{origin}` is not an origin line")));
        }
        if key.kind != crate::cosignature::ED25519 {
            return Err(Error::Key(
                "a log's key is an Ed25519 (0x01) verifier key".into(),
            ));
        }
        let logs = self.logs()?;
        if logs.iter().any(|(o, k)| o == origin && k == key) {
            return Ok(());
        }
        let mut text = fs::read_to_string(self.root.join("logs"))?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{origin} {}\n", key.text()));
        write_durably(&self.root.join("logs"), text.as_bytes(), 0o644)
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        self.root.join("state").join(hex::encode(origin.as_bytes()))
    }

    /// The latest checkpoint cosigned for `origin`, if any.
    pub fn state(&self, origin: &str) -> Result<Option<LogState>> {
        let text = match fs::read_to_string(self.state_path(origin)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut lines = text.lines();
        let size = lines.next().and_then(parse_decimal);
        let root = lines.next().and_then(Hash::from_base64);
        match (size, root) {
            (Some(size), Some(root)) => Ok(Some(LogState { size, root })),
            _ => Err(Error::State(format!(
                "the stored state of {origin} is malformed; refusing to guess"
            ))),
        }
    }

    /// Stores the latest cosigned checkpoint of `origin`, durably.
    pub fn set_state(&self, origin: &str, state: LogState) -> Result<()> {
        let text = format!("{}\n{}\n", state.size, state.root.to_base64());
        write_durably(&self.state_path(origin), text.as_bytes(), 0o644)
    }

    /// Keeps a refused request as evidence, with why it was refused; answers the file.
    pub fn keep_evidence(
        &self,
        origin: &str,
        status: u16,
        why: &str,
        request: &[u8],
    ) -> Result<PathBuf> {
        let now = chrono::Utc::now();
        let dir = self.root.join("evidence");
        fs::create_dir_all(&dir)?;
        let mut n = 0u32;
        let path = loop {
            let p = dir.join(format!(
                "{}-{status}-{}-{n}.txt",
                now.format("%Y%m%dT%H%M%S%.6fZ"),
                hex::encode(&origin.as_bytes()[..origin.len().min(32)])
            ));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let mut bytes = format!(
            "refused {status} at {}\norigin {origin}\nwhy {why}\n\n",
            now.to_rfc3339()
        )
        .into_bytes();
        bytes.extend_from_slice(request);
        write_durably(&path, &bytes, 0o644)?;
        Ok(path)
    }

    /// The evidence files kept, oldest first.
    pub fn evidence(&self) -> Result<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.root.join("evidence"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        out.sort();
        Ok(out)
    }
}
