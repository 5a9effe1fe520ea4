//! Verifiability: keys, checkpoints, proofs, offline checks and verified import (SPEC §5).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use ikrar_core::{Error, ExportCheck, Ledger, SignerKey, VerifierKey, EVENTS_PER_APPEND_MAX};
use serde_json::json;

use super::{audit_failure, print_json, usage};
use crate::access::{Access, Kind};
use crate::failure::{exit, Failure};
use crate::output::{progress, Format};

/// A verifier key given as text, or as a file holding it.
fn verifier_key(text_or_file: &str) -> Result<VerifierKey, Failure> {
    let path = Path::new(text_or_file);
    let text = if path.is_file() {
        std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot read {}: {e}", path.display()),
            )
        })?
    } else {
        text_or_file.to_string()
    };
    VerifierKey::parse(&text).map_err(|e| {
        // A verifier key always holds `+`; text without one that names a path (a `/` or a
        // `.pub`) was meant as a file.
        let names_a_file = text_or_file.contains('/') || text_or_file.ends_with(".pub");
        if !path.exists() && !text_or_file.contains('+') && names_a_file {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!(
                    "--public-key: there is no file {text_or_file} (and it is not a verifier key)"
                ),
            )
        } else {
            usage(format!("--public-key: {e}"))
        }
    })
}

fn read_file(file: &Path) -> Result<String, Failure> {
    if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(file).map_err(|e| {
        // Bytes that are not UTF-8 are bad input (a bundle or key is text), not an I/O error.
        let code = if e.kind() == std::io::ErrorKind::InvalidData {
            exit::BAD_INPUT
        } else {
            exit::OPERATIONAL
        };
        Failure::new("io", code, format!("cannot read {}: {e}", file.display()))
    })
}

pub(super) fn keygen(file: &Path, name: &str, format: Format) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = SignerKey::generate(name).map_err(|e| usage(e.to_string()))?;
    let pub_path = {
        let mut p = file.as_os_str().to_owned();
        p.push(".pub");
        std::path::PathBuf::from(p)
    };
    let mut secret = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot create {}: {e}", file.display()),
            )
            .with_context("keygen never overwrites a key")
        })?;
    writeln!(secret, "{}", key.text())?;
    secret.sync_all()?;
    let verifier = key.verifier_key();
    std::fs::write(&pub_path, format!("{}\n", verifier.text()))?;
    match format {
        Format::Table => {
            outln!("{}", verifier.text());
            eprintln!(
                "signer key written to {} (keep it secret); verifier key to {}",
                file.display(),
                pub_path.display()
            );
        }
        _ => print_json(&json!({
            "name": key.name(), "verifier_key": verifier.text(),
            "signer_key_file": file.display().to_string(),
            "verifier_key_file": pub_path.display().to_string(),
        })),
    }
    Ok(())
}

pub(super) async fn checkpoint(
    path: &Path,
    key_file: &Path,
    format: Format,
) -> Result<(), Failure> {
    let text = read_file(key_file)?;
    let key =
        SignerKey::parse(&text).map_err(|e| usage(format!("--key {}: {e}", key_file.display())))?;
    let access = Access::open(path)?;
    let signed = access.checkpoint(&key).await?;
    match format {
        Format::Table => out!("{}", signed.note),
        _ => print_json(&json!({
            "origin": signed.origin, "tree_size": signed.tree_size, "root": signed.root,
            "checkpoint": signed.note,
        })),
    }
    Ok(())
}

pub(super) async fn prove(
    path: &Path,
    event_id: Option<&str>,
    consistency: Option<u64>,
    size: Option<u64>,
) -> Result<(), Failure> {
    let access = Access::open(path)?;
    // A bundle is a document for machines: always JSON.
    match (event_id, consistency) {
        (Some(id), None) => {
            let (id, _) = super::resolve_id(&access, id, &[Kind::Event]).await?;
            let bundle = access.inclusion(id, size).await?;
            print_json(&bundle);
        }
        (None, Some(m)) => {
            let bundle = access.consistency(m, size).await?;
            print_json(&bundle);
        }
        _ => return Err(usage("give either EVENT_ID or --consistency M")),
    }
    Ok(())
}

pub(super) fn check_proof(file: &Path, public_key: &str, format: Format) -> Result<(), Failure> {
    let key = verifier_key(public_key)?;
    let bundle = read_file(file)?;
    let check = ikrar_audit::check_bundle(&bundle, &key).map_err(audit_failure)?;
    match format {
        Format::Table => match (check.position, &check.from) {
            (Some(p), _) => outln!(
                "ok: the record at position {p} (event {}) is in the tree of size {} signed by {}, root {}",
                check.event_id.map(|e| e.to_string()).unwrap_or_default(),
                check.tree_size,
                check.origin,
                check.root
            ),
            (_, Some(from)) => outln!(
                "ok: the tree of size {} with root {} is a prefix of the tree of size {} signed by {}, root {}",
                from.tree_size, from.root, check.tree_size, check.origin, check.root
            ),
            _ => outln!("ok"),
        },
        _ => {
            let mut v = serde_json::to_value(&check).expect("serialisable");
            v["ok"] = json!(true);
            print_json(&v);
        }
    }
    Ok(())
}

/// Restores an export into an empty ledger. Pass 1 reads and hashes every line (and checks the
/// checkpoint's root, if given) before anything is written; pass 2 writes in atomic batches,
/// in which the writer checks every record's structure against the ledger.
pub(super) async fn import(
    path: &Path,
    file: &Path,
    checkpoint_file: Option<&Path>,
    public_key: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let open_lines = || -> Result<Box<dyn BufRead>, Failure> {
        Ok(Box::new(BufReader::new(
            std::fs::File::open(file).map_err(|e| {
                Failure::new(
                    "io",
                    exit::OPERATIONAL,
                    format!("cannot read {}: {e}", file.display()),
                )
            })?,
        )))
    };
    let integrity = |position: u64, what: String| {
        Failure::from(Error::Integrity { position, what }).with_context("nothing was imported")
    };

    let checkpoint = match (checkpoint_file, public_key) {
        (Some(cp), Some(key)) => {
            let key = verifier_key(key)?;
            let note = read_file(cp)?;
            Some((
                key.open(&note)
                    .map_err(|e| integrity(0, format!("the checkpoint: {e}")))?,
                key,
                note,
            ))
        }
        _ => None,
    };

    // Pass 1: every line is one record; the tree they make must have the checkpoint's root.
    let mut check = ExportCheck::new(checkpoint.as_ref().map(|(cp, _, _)| cp));
    for line in open_lines()?.lines() {
        check.push(line?.as_bytes());
    }
    let total = check
        .finish()
        .map_err(|e| Failure::from(e).with_context("nothing was imported"))?;

    // Pass 2: write into an empty ledger.
    let ledger = Ledger::open_or_create(path)?;
    if ledger.head().tree_size != 0 {
        return Err(Failure::new(
            "already_exists",
            exit::OPERATIONAL,
            format!(
                "{} already holds {} records; import restores into an empty ledger",
                ledger.location().display(),
                ledger.head().tree_size
            ),
        ));
    }
    let bar = progress(total, "importing");
    let mut written = 0u64;
    let mut lines = open_lines()?.lines();
    loop {
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(EVENTS_PER_APPEND_MAX);
        for line in lines.by_ref().take(EVENTS_PER_APPEND_MAX) {
            batch.push(line?.into_bytes());
        }
        if batch.is_empty() {
            break;
        }
        // Each batch is checked and written atomically; a bad one stops the import there.
        let outcome = ledger.import_records(batch).await.map_err(|e| {
            Failure::from(e).with_context(format!(
                "the first {written} records were imported; the ledger stops there"
            ))
        })?;
        written += outcome.new_events as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    if let Some((_, key, note)) = &checkpoint {
        ledger.add_checkpoint(note, key)?;
    }
    let head = ledger.head();
    match format {
        Format::Table => outln!(
            "imported {written} records; tree size {}, root {}{}",
            head.tree_size,
            head.root,
            if checkpoint.is_some() {
                " (matches the checkpoint)"
            } else {
                ""
            }
        ),
        _ => print_json(&json!({"tree_size": head.tree_size, "root": head.root,
                                "checkpoint_matched": checkpoint.is_some()})),
    }
    Ok(())
}
