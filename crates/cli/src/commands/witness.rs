//! The transparency log's commands (SPEC §11): `ikrar witness init|add-log|serve`, receipts
//! (`ikrar prove --format tlog-proof`, `ikrar check-proof` of a tlog-proof), and what
//! `ikrar serve` needs to sign checkpoints and collect cosignatures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ikrar_core::{Ledger, SignerKey};
use ikrar_tlog::cosignature::Vkey;
use ikrar_tlog::policy::Policy;
use ikrar_tlog::receipt::Receipt;
use ikrar_tlog::witness::{Witness, WitnessDir};
use ikrar_tlog::{Publisher, WitnessEndpoint};
use serde_json::json;

use super::{print_json, usage};
use crate::args::WitnessCommand;
use crate::failure::{exit, Failure};
use crate::output::Format;

fn tlog_failure(e: ikrar_tlog::Error) -> Failure {
    match e {
        ikrar_tlog::Error::Core(core) => Failure::from(core),
        e @ (ikrar_tlog::Error::Verification(_) | ikrar_tlog::Error::Malformed { .. }) => {
            Failure::new("integrity", exit::INTEGRITY, e.to_string())
        }
        e @ ikrar_tlog::Error::Key(_) => usage(e.to_string()),
        e => Failure::new("io", exit::OPERATIONAL, e.to_string()),
    }
}

/// A key given inline or as a file holding it.
fn text_or_file(value: &str) -> Result<String, Failure> {
    let path = Path::new(value);
    if path.is_file() {
        return std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot read {}: {e}", path.display()),
            )
        });
    }
    Ok(value.to_string())
}

fn vkey(flag: &str, value: &str) -> Result<Vkey, Failure> {
    Vkey::parse(&text_or_file(value)?).map_err(|e| usage(format!("{flag}: {e}")))
}

pub(super) async fn run(command: WitnessCommand, format: Format) -> Result<(), Failure> {
    match command {
        WitnessCommand::Init { dir, name } => {
            let w = WitnessDir::init(&dir, &name).map_err(tlog_failure)?;
            let key = w.vkey().map_err(tlog_failure)?.text();
            match format {
                Format::Table => {
                    outln!("{key}");
                    eprintln!(
                        "witness {name} made in {}; give the key above to the logs it witnesses",
                        dir.display()
                    );
                }
                _ => print_json(&json!({"dir": dir, "name": name, "verifier_key": key})),
            }
            Ok(())
        }
        WitnessCommand::AddLog {
            dir,
            origin,
            public_key,
        } => {
            let w = WitnessDir::open(&dir).map_err(tlog_failure)?;
            let key = vkey("--public-key", &public_key)?;
            w.add_log(&origin, &key).map_err(tlog_failure)?;
            match format {
                Format::Table => outln!("trusting {origin} signed by {}", key.text()),
                _ => print_json(&json!({"origin": origin, "public_key": key.text()})),
            }
            Ok(())
        }
        WitnessCommand::Serve { dir, listen } => serve(&dir, listen).await,
    }
}

async fn serve(dir: &Path, listen: std::net::SocketAddr) -> Result<(), Failure> {
    let witness =
        Witness::open(WitnessDir::open(dir).map_err(tlog_failure)?).map_err(tlog_failure)?;
    let name = witness.vkey().name;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!(
        "witness {name} answering on http://{}/add-checkpoint",
        listener.local_addr()?
    );
    ikrar_tlog::witness::serve(listener, Arc::new(witness), shutdown_signal())
        .await
        .map_err(tlog_failure)?;
    eprintln!("witness stopped; every cosigned size is stored");
    Ok(())
}

/// Resolves when SIGTERM or Ctrl-C arrives.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

/// `--checkpoint-key`, `--checkpoint-interval` and `--witness`, checked before serving.
pub(super) struct Publishing {
    key: SignerKey,
    interval: Duration,
    witnesses: Vec<WitnessEndpoint>,
}

/// Parses `10s`, `500ms`, `2m`.
fn duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

pub(super) fn publishing(
    key: Option<&Path>,
    interval: &str,
    witnesses: &[String],
) -> Result<Option<Publishing>, Failure> {
    let Some(key) = key else { return Ok(None) };
    let text = std::fs::read_to_string(key).map_err(|e| {
        Failure::new(
            "io",
            exit::OPERATIONAL,
            format!("cannot read {}: {e}", key.display()),
        )
    })?;
    let key = SignerKey::parse(&text).map_err(|e| usage(format!("--checkpoint-key: {e}")))?;
    let interval = duration(interval).ok_or_else(|| {
        usage(format!(
            "--checkpoint-interval: `{interval}` is not a duration like 10s or 500ms"
        ))
    })?;
    let witnesses = witnesses
        .iter()
        .map(|w| WitnessEndpoint::parse(w).map_err(|e| usage(format!("--witness: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Publishing {
        key,
        interval,
        witnesses,
    }))
}

impl Publishing {
    /// Starts signing and witnessing in the background until `down` turns true; answers the
    /// task and what the server shows of the witnesses (counters for `/metrics`, keys for the
    /// console).
    pub(super) fn start(
        self,
        ledger: &Ledger,
        down: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(tokio::task::JoinHandle<()>, ikrar_server::Witnessing), Failure> {
        eprintln!(
            "signing checkpoints as {} at most every {:?}, witnessed by {}",
            self.key.name(),
            self.interval,
            self.witnesses.len()
        );
        let keys = self.witnesses.iter().map(|w| w.vkey.text()).collect();
        let publisher =
            Publisher::new(ledger.clone(), self.key, self.witnesses).map_err(tlog_failure)?;
        let stats = publisher.stats();
        let task = tokio::spawn(Arc::new(publisher).run(self.interval, down));
        Ok((task, ikrar_server::Witnessing { stats, keys }))
    }
}

/// `ikrar prove EVENT_ID --format tlog-proof`: the receipt against the checkpoint of `size`
/// (default: the latest), with every cosignature stored with it.
pub(super) async fn prove_receipt(path: &Path, id: &str, size: Option<u64>) -> Result<(), Failure> {
    if let Some(remote) = crate::access::remote::Remote::connect(path) {
        let access = crate::access::Access::open(path)?;
        let (id, _) = super::resolve_id(&access, id, &[crate::access::Kind::Event]).await?;
        let query = size.map(|s| format!("&size={s}")).unwrap_or_default();
        let response = remote
            .send(remote.request(
                reqwest::Method::GET,
                &format!("/v1/proofs/inclusion/{id}?format=tlog-proof{query}"),
            ))
            .await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Failure::new("not_found", exit::OPERATIONAL, text));
        }
        out!("{text}");
        return Ok(());
    }
    let access = crate::access::Access::open(path)?;
    let (id, _) = super::resolve_id(&access, id, &[crate::access::Kind::Event]).await?;
    let ledger = Ledger::open(path)?;
    let receipt = ikrar_tlog::receipt::for_event(&ledger, id, size).map_err(tlog_failure)?;
    out!("{}", receipt.to_text());
    Ok(())
}

/// What a receipt is checked against.
pub(super) struct Trust {
    pub(super) public_key: Option<String>,
    pub(super) policy: Option<PathBuf>,
    pub(super) witness_keys: Vec<String>,
    pub(super) quorum: Option<usize>,
}

/// Checks `file` if it is a tlog-proof; answers its text, unchecked, if it is not one (a JSON
/// bundle).
pub(super) fn check_receipt(
    file: &Path,
    trust: &Trust,
    format: Format,
) -> Result<Option<String>, Failure> {
    let bytes = if file == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
        b
    } else {
        std::fs::read(file).map_err(|e| {
            Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("cannot read {}: {e}", file.display()),
            )
        })?
    };
    // A receipt with bytes that are not UTF-8 is an altered receipt (exit 3), not unreadable:
    // the replacement characters make it fail its signatures.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !text.starts_with("c2sp.org/tlog-proof@") {
        // A JSON bundle: witnesses are checked only on receipts.
        if trust.policy.is_some() || !trust.witness_keys.is_empty() {
            return Err(usage(
                "--policy and --witness-key apply to tlog-proof receipts (ikrar prove --format tlog-proof)",
            ));
        }
        return Ok(Some(text));
    }
    let log_key = match &trust.public_key {
        Some(k) => Some(vkey("--public-key", k)?),
        None => None,
    };
    let policy = match &trust.policy {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::new(
                    "io",
                    exit::OPERATIONAL,
                    format!("cannot read {}: {e}", p.display()),
                )
            })?;
            Policy::parse(&text).map_err(|e| usage(format!("--policy: {e}")))?
        }
        None => {
            let keys = trust
                .witness_keys
                .iter()
                .map(|k| vkey("--witness-key", k))
                .collect::<Result<Vec<_>, _>>()?;
            let k = trust.quorum.unwrap_or(keys.len());
            Policy::k_of(None, keys, k).map_err(|e| usage(e.to_string()))?
        }
    };
    let receipt = Receipt::parse(&text).map_err(tlog_failure)?;
    let checked = receipt
        .verify(&policy, log_key.as_ref())
        .map_err(tlog_failure)?;
    match format {
        Format::Table => outln!(
            "ok: the record at position {} is in the tree of size {}, root {}, cosigned by {}",
            checked.index,
            checked.tree_size,
            checked.root,
            if checked.cosigners.is_empty() {
                "no witness".to_string()
            } else {
                checked.cosigners.join(", ")
            }
        ),
        _ => print_json(
            &json!({"ok": true, "position": checked.index, "tree_size": checked.tree_size,
            "root": checked.root, "cosigners": checked.cosigners}),
        ),
    }
    Ok(None)
}

/// The witness alarms kept in a ledger directory, for `ikrar verify`.
pub(crate) fn alarms(path: &Path) -> Vec<ikrar_tlog::client::Alarm> {
    ikrar_tlog::client::read_alarms(path)
}

#[cfg(test)]
mod tests {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "10", "s", "0s", "1h", "-1s", "99999999999999999999s"] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }
}
