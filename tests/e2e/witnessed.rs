//! SPEC §11 with real processes on loopback: `ikrar serve` signing checkpoints and collecting
//! cosignatures from three `ikrar witness serve` processes; a witness killed (two cosignatures
//! and an alarm) and restarted (it resumes from its stored state); every status code of
//! tlog-witness over HTTP; a split view refused; tlog-proof receipts with a quorum of 2 of 3.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ikrar_testkit::free_port;

use crate::tiles_client::{audit, http};
use crate::{stderr, Env};

pub(crate) const ORIGIN: &str = "example.org/ikrar";

/// A child process, killed if the test ends without stopping it.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    pub(crate) fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        self.0.wait().unwrap()
    }
}

fn ikrar(log: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ikrar"));
    c.env_remove("IKRAR_LEDGER")
        .env("IKRAR_ACTOR", "e2e.tester")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c
}

pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

pub(crate) struct Witness {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) vkey: String,
    pub(crate) process: Option<Running>,
}

impl Witness {
    fn new(env: &Env, i: usize, log_pub: &Path) -> Witness {
        let dir = env.dir.path().join(format!("witness{i}"));
        let out = env
            .cmd()
            .args(["--format", "table", "witness", "init"])
            .arg(&dir)
            .args(["--name", &format!("witness.example/w{i}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let vkey = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let out = env
            .cmd()
            .args(["witness", "add-log"])
            .arg(&dir)
            .args([
                "--origin",
                ORIGIN,
                "--public-key",
                log_pub.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut w = Witness {
            dir,
            port: free_port(),
            vkey,
            process: None,
        };
        w.start();
        w
    }

    fn start(&mut self) {
        let log = self.dir.with_extension("log");
        let child = ikrar(&log)
            .args(["witness", "serve"])
            .arg(&self.dir)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .spawn()
            .unwrap();
        self.process = Some(Running(child));
        let port = self.port;
        wait_for("the witness to listen", || listening(port));
    }

    fn arg(&self) -> String {
        format!("http://127.0.0.1:{}={}", self.port, self.vkey)
    }

    /// The size it stored for the log.
    pub(crate) fn stored_size(&self) -> u64 {
        let hex: String = ORIGIN.bytes().map(|b| format!("{b:02x}")).collect();
        let text = std::fs::read_to_string(self.dir.join("state").join(hex)).unwrap_or_default();
        text.lines()
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0)
    }

    fn evidence(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.dir.join("evidence"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        out.sort();
        out
    }
}

/// A ledger with a log key, three witnesses, and `ikrar serve` submitting to them.
pub(crate) struct Deployment {
    pub(crate) env: Env,
    pub(crate) key: PathBuf,
    pub(crate) log_pub: String,
    pub(crate) witnesses: Vec<Witness>,
}

impl Deployment {
    pub(crate) fn new() -> Deployment {
        let env = Env::with_ledger();
        let key = env.dir.path().join("log.key");
        let out = env
            .cmd()
            .arg("keygen")
            .arg(&key)
            .args(["--name", ORIGIN])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let log_pub = std::fs::read_to_string(key.with_extension("key.pub"))
            .unwrap()
            .trim()
            .to_string();
        let witnesses = (1..=3)
            .map(|i| Witness::new(&env, i, &key.with_extension("key.pub")))
            .collect();
        Deployment {
            env,
            key,
            log_pub,
            witnesses,
        }
    }

    pub(crate) fn serve(&self, ledger: &Path) -> (Running, u16) {
        let port = free_port();
        let mut c = ikrar(&ledger.with_extension("serve.log"));
        c.arg("--ledger").arg(ledger).args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--checkpoint-key",
            self.key.to_str().unwrap(),
            "--checkpoint-interval",
            "200ms",
        ]);
        for w in &self.witnesses {
            c.args(["--witness", &w.arg()]);
        }
        let child = Running(c.spawn().unwrap());
        wait_for("the server to answer", || {
            http(port, "GET", "/healthz", b"").is_some_and(|(s, _, _)| s == 200)
        });
        (child, port)
    }

    /// Appends `n` new commitments tagged `tag` (through the running server's socket).
    pub(crate) fn append(&self, ledger: &Path, tag: u16, n: u32) {
        let lines: String = (0..n)
            .map(|i| {
                format!(
                    "{{\"type\":\"commitment_made\",\"actor\":\"e2e\",\"data\":{{\"commitment_id\":\"0194a1c2-7f00-7000-8000-{tag:04x}{i:08x}\",\"title\":\"Commitment {tag}/{i}\",\"parties\":[\"P\"],\"made_on\":\"2025-01-16\"}}}}\n"
                )
            })
            .collect();
        let file = self.env.file(&format!("append-{tag}.jsonl"), &lines);
        let out = self
            .env
            .cmd_for(ledger)
            .arg("append")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }

    fn witness_keys(&self) -> Vec<String> {
        self.witnesses.iter().map(|w| w.vkey.clone()).collect()
    }
}

/// The latest checkpoint's size and number of cosignatures (signature lines but the log's).
pub(crate) fn checkpoint(port: u16) -> (u64, usize) {
    let Some((200, _, note)) = http(port, "GET", "/log/checkpoint", b"") else {
        return (0, 0);
    };
    let note = String::from_utf8(note).unwrap();
    let size = note
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let sigs = note.lines().filter(|l| l.starts_with('—')).count();
    (size, sigs.saturating_sub(1))
}

pub(crate) fn wait_cosigned(port: u16, size: u64, cosignatures: usize) {
    wait_for(
        &format!("size {size} with {cosignatures} cosignatures"),
        || checkpoint(port) == (size, cosignatures),
    );
}

pub(crate) fn alarms(ledger: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ledger.join("witness-alarms.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn three_witnesses_cosign_a_killed_one_is_an_alarm_and_a_restarted_one_resumes() {
    let mut d = Deployment::new();
    let ledger = d.env.ledger();
    let (mut server, port) = d.serve(&ledger);
    d.append(&ledger, 1, 300);
    wait_cosigned(port, 300, 3);
    d.append(&ledger, 2, 20);
    wait_cosigned(port, 320, 3);
    assert!(d.witnesses.iter().all(|w| w.stored_size() == 320));
    assert!(alarms(&ledger).is_empty());

    // A client from the spec alone: every leaf, the root, the signature and 3 cosignatures.
    let audited = audit(port, &d.log_pub, &d.witness_keys());
    assert_eq!(audited.size, 320);
    assert_eq!(audited.cosigned_by.len(), 3);
    let export = d.env.cmd().arg("export").output().unwrap();
    let exported: Vec<&[u8]> = export
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        exported,
        audited
            .records
            .iter()
            .map(Vec::as_slice)
            .collect::<Vec<_>>()
    );
    let _ = audited.root;

    // SIGKILL one witness: the next checkpoint has two cosignatures, and an alarm is raised.
    d.witnesses[2].process.take().unwrap().signal("-KILL");
    d.append(&ledger, 3, 10);
    wait_cosigned(port, 330, 2);
    wait_for("the alarm", || {
        alarms(&ledger)
            .iter()
            .any(|a| a["witness"] == "witness.example/w3" && a["tree_size"] == 330)
    });
    let verify = d.env.run(&["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    assert!(
        stderr(&verify).contains("witness alarm: witness.example/w3"),
        "{}",
        stderr(&verify)
    );

    // Receipts against the checkpoint of 330 (cosigned by two of three).
    receipts_check_with_a_quorum(&d, &ledger);

    // Restarted, the witness resumes from its stored size: cosigned again, with no refusal.
    assert_eq!(d.witnesses[2].stored_size(), 320);
    d.witnesses[2].start();
    d.append(&ledger, 4, 10);
    wait_cosigned(port, 340, 3);
    assert!(d.witnesses.iter().all(|w| w.stored_size() == 340));
    assert!(d.witnesses[2].evidence().is_empty());

    assert!(server.signal("-TERM").success());
    for w in &mut d.witnesses {
        assert!(
            w.process.take().unwrap().signal("-TERM").success(),
            "a witness stops cleanly"
        );
    }
}

fn receipts_check_with_a_quorum(d: &Deployment, ledger: &Path) {
    let log = d
        .env
        .cmd()
        .arg("log")
        .args(["--from", "5", "--limit", "1"])
        .output()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let event = record["event_id"].as_str().unwrap();
    let out = d
        .env
        .cmd_for(ledger)
        .args(["--format", "tlog-proof", "prove", event])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let receipt = String::from_utf8(out.stdout).unwrap();
    assert!(receipt.starts_with("c2sp.org/tlog-proof@v1\nextra "));
    assert!(receipt.contains("\nindex 5\n"));
    let file = d.env.file("receipt.tlog-proof", &receipt);
    let keys = d.witness_keys();
    let check = |file: &Path, extra: &[&str]| {
        let mut c = d.env.cmd();
        c.arg("check-proof")
            .arg(file)
            .args(["--public-key", &d.log_pub]);
        for k in &keys {
            c.args(["--witness-key", k]);
        }
        c.args(extra).output().unwrap().status.code()
    };
    assert_eq!(check(&file, &["--quorum", "2"]), Some(0));
    assert_eq!(
        check(&file, &["--quorum", "3"]),
        Some(3),
        "too few cosignatures"
    );
    // The same with a tlog-policy file.
    let policy = d.env.file(
        "policy",
        &format!(
            "log {}\nwitness a {}\nwitness b {}\nwitness c {}\ngroup two 2 a b c\nquorum two\n",
            d.log_pub, keys[0], keys[1], keys[2]
        ),
    );
    let out = d
        .env
        .cmd()
        .arg("check-proof")
        .arg(&file)
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // An unknown witness key.
    let stranger = Witness::new(&d.env, 9, &d.key.with_extension("key.pub"));
    let out = d
        .env
        .cmd()
        .arg("check-proof")
        .arg(&file)
        .args([
            "--public-key",
            &d.log_pub,
            "--witness-key",
            &stranger.vkey,
            "--quorum",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // Any altered line: the index, a proof hash, the record, the root, a cosignature.
    let lines: Vec<&str> = receipt.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() || *line == "c2sp.org/tlog-proof@v1" {
            continue;
        }
        let mut changed = lines.clone();
        let altered = alter(line);
        changed[i] = &altered;
        let file = d
            .env
            .file("altered.tlog-proof", &format!("{}\n", changed.join("\n")));
        assert_eq!(
            check(&file, &["--quorum", "2"]),
            Some(3),
            "line {i} altered: {altered}"
        );
    }
}

/// The line with one character in its middle changed (still printable, still base64).
fn alter(line: &str) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    let i = chars.len() / 2 + 1;
    let i = i.min(chars.len() - 1);
    chars[i] = match chars[i] {
        'A' => 'B',
        '0' => '1',
        _ => 'A',
    };
    chars.into_iter().collect()
}

#[test]
fn a_split_view_is_refused_by_every_witness_and_the_alarm_says_so() {
    let mut d = Deployment::new();
    let ledger = d.env.ledger();
    let (mut server, port) = d.serve(&ledger);
    d.append(&ledger, 1, 5);
    wait_cosigned(port, 5, 3);
    assert!(server.signal("-TERM").success());
    // A backup taken now.
    let fork = d.env.dir.path().join("restored-backup");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&ledger)
        .arg(&fork)
        .status()
        .unwrap()
        .success());

    // The real history goes on and is witnessed.
    let (mut server, port) = d.serve(&ledger);
    d.append(&ledger, 2, 3);
    wait_cosigned(port, 8, 3);
    assert!(server.signal("-TERM").success());

    // The operator restores the backup, appends differently and serves it with the same key.
    let (mut forked, fork_port) = d.serve(&fork);
    d.append(&fork, 3, 5);
    wait_for("three split-view alarms", || {
        alarms(&fork)
            .iter()
            .filter(|a| a["status"] == 422 && a["tree_size"] == 10)
            .count()
            == 3
    });
    // Five more rounds: a refused checkpoint is not submitted again (no flood of alarms or
    // of evidence).
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(alarms(&fork).len(), 3, "{:?}", alarms(&fork));
    assert_eq!(
        checkpoint(fork_port),
        (10, 0),
        "no witness cosigned the other history"
    );
    for a in alarms(&fork) {
        assert!(a["what"].as_str().unwrap().contains("split view"), "{a}");
    }
    for w in &d.witnesses {
        assert_eq!(w.stored_size(), 8, "the witness keeps the history it saw");
        let evidence = w.evidence();
        assert_eq!(evidence.len(), 1, "{evidence:?}");
        assert!(evidence[0].starts_with("refused 422"), "{}", evidence[0]);
        assert!(
            evidence[0].contains("\n10\n"),
            "the refused checkpoint is kept"
        );
    }
    let verify = d
        .env
        .cmd_for(&fork)
        .args(["--format", "json", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "the copy is whole; it is the other history"
    );
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(
        report["witness_alarms"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert!(forked.signal("-TERM").success());
    for w in &mut d.witnesses {
        w.process.take().unwrap().signal("-TERM");
    }
}
