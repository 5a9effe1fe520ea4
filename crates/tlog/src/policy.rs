//! C2SP tlog-policy: which logs are trusted, which witnesses, and the quorum of cosignatures a
//! checkpoint needs. Parsed strictly (names defined before use, each member once per group,
//! `1 <= k <= n`, one quorum line, no duplicate keys) and within limits.

use crate::cosignature::{Vkey, COSIGNATURE_V1, ED25519};
use crate::error::{Error, Result};

/// The most logs, witnesses and groups a policy may define (the spec recommends supporting at
/// least 32 of each).
pub const ENTRIES_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
struct Group {
    threshold: usize,
    members: Vec<Member>,
}

/// A parsed policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Trusted log keys (type 0x01); a checkpoint must be signed by one of them.
    pub logs: Vec<Vkey>,
    /// Witnesses by policy name, with their cosignature keys (type 0x04).
    pub witnesses: Vec<(String, Vkey)>,
    groups: Vec<(String, Group)>,
    /// `None` for `quorum none`.
    quorum: Option<Member>,
}

impl Policy {
    /// Parses a policy file.
    ///
    /// ```
    /// let w = ikrar_tlog::cosignature::CosignerKey::generate("w.example/1").unwrap();
    /// let text = format!("witness W1 {}\nquorum W1\n", w.vkey().text());
    /// let policy = ikrar_tlog::policy::Policy::parse(&text).unwrap();
    /// assert!(policy.satisfied_by(&[w.vkey()]));
    /// assert!(!policy.satisfied_by(&[]));
    /// assert!(ikrar_tlog::policy::Policy::parse("quorum W1\n").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Policy> {
        let mut p = Policy {
            logs: Vec::new(),
            witnesses: Vec::new(),
            groups: Vec::new(),
            quorum: None,
        };
        let mut quorum_seen = false;
        for (i, raw) in text.split('\n').enumerate() {
            let bad = |why: String| Error::malformed("policy", format!("line {}: {why}", i + 1));
            if raw.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                return Err(bad("a control character".into()));
            }
            let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let Some(first) = words.first() else { continue };
            if first.starts_with('#') {
                continue;
            }
            if p.logs.len() + p.witnesses.len() + p.groups.len() >= ENTRIES_MAX {
                return Err(bad("too many entries".into()));
            }
            match (*first, words.len()) {
                ("log", 2 | 3) => {
                    let key = Vkey::parse(words[1]).map_err(|e| bad(e.to_string()))?;
                    if key.kind != ED25519 {
                        return Err(bad("a log key is an Ed25519 (0x01) key".into()));
                    }
                    if p.logs.iter().any(|k| k.public == key.public) {
                        return Err(bad("a duplicate log".into()));
                    }
                    p.logs.push(key);
                }
                ("witness", 3 | 4) => {
                    let name = words[1];
                    p.check_new_name(name).map_err(bad)?;
                    let key = Vkey::parse(words[2]).map_err(|e| bad(e.to_string()))?;
                    if key.kind != COSIGNATURE_V1 {
                        return Err(bad("a witness key is a cosignature v1 (0x04) key".into()));
                    }
                    if p.witnesses.iter().any(|(_, k)| k.public == key.public) {
                        return Err(bad("a duplicate witness".into()));
                    }
                    p.witnesses.push((name.to_string(), key));
                }
                ("group", n) if n >= 4 => {
                    let name = words[1];
                    p.check_new_name(name).map_err(bad)?;
                    let mut members = Vec::new();
                    for m in &words[3..] {
                        let member = p
                            .lookup(m)
                            .ok_or_else(|| bad(format!("`{m}` is not defined above")))?;
                        if members.contains(&member) {
                            return Err(bad(format!("`{m}` is listed twice")));
                        }
                        members.push(member);
                    }
                    let n = members.len();
                    let threshold = match words[2] {
                        "all" => n,
                        "any" => 1,
                        k => crate::note::parse_decimal(k)
                            .filter(|k| (1..=n as u64).contains(k))
                            .ok_or_else(|| {
                                bad(format!("the threshold `{k}` is not all, any or 1..={n}"))
                            })? as usize,
                    };
                    p.groups
                        .push((name.to_string(), Group { threshold, members }));
                }
                ("quorum", 2) => {
                    if quorum_seen {
                        return Err(bad("a second quorum line".into()));
                    }
                    quorum_seen = true;
                    p.quorum = match words[1] {
                        "none" => None,
                        name => Some(
                            p.lookup(name)
                                .ok_or_else(|| bad(format!("`{name}` is not defined above")))?,
                        ),
                    };
                }
                _ => {
                    return Err(bad(format!(
                        "not a policy line: `{}`",
                        raw.chars().take(80).collect::<String>()
                    )))
                }
            }
        }
        if !quorum_seen {
            return Err(Error::malformed("policy", "no quorum line"));
        }
        Ok(p)
    }

    /// A policy of one log and `k` of the given witnesses (`--witness-key … --quorum K`).
    pub fn k_of(log: Option<Vkey>, witnesses: Vec<Vkey>, k: usize) -> Result<Policy> {
        let n = witnesses.len();
        if k > n {
            return Err(Error::malformed(
                "policy",
                format!("a quorum of {k} of {n} witnesses"),
            ));
        }
        let mut text = String::new();
        if let Some(log) = log {
            text.push_str(&format!("log {}\n", log.text()));
        }
        for (i, w) in witnesses.iter().enumerate() {
            text.push_str(&format!("witness w{i} {}\n", w.text()));
        }
        if k == 0 {
            text.push_str("quorum none\n");
        } else {
            let names: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
            text.push_str(&format!("group q {k} {}\nquorum q\n", names.join(" ")));
        }
        Policy::parse(&text)
    }

    fn check_new_name(&self, name: &str) -> std::result::Result<(), String> {
        if name == "none" {
            return Err("`none` is reserved".into());
        }
        if self.lookup(name).is_some() {
            return Err(format!("`{name}` is defined twice"));
        }
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<Member> {
        if let Some(i) = self.witnesses.iter().position(|(n, _)| n == name) {
            return Some(Member::Witness(i));
        }
        self.groups
            .iter()
            .position(|(n, _)| n == name)
            .map(Member::Group)
    }

    /// Whether witnesses whose cosignatures verified (by key) meet the quorum.
    pub fn satisfied_by(&self, cosigned: &[Vkey]) -> bool {
        let witnessed: Vec<bool> = self
            .witnesses
            .iter()
            .map(|(_, k)| cosigned.iter().any(|c| c == k))
            .collect();
        // Groups refer only to earlier names, so one pass in order evaluates them all.
        let mut groups: Vec<bool> = Vec::with_capacity(self.groups.len());
        for (_, g) in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| match m {
                    Member::Witness(i) => witnessed[*i],
                    Member::Group(i) => groups[*i],
                })
                .count();
            groups.push(count >= g.threshold);
        }
        match self.quorum {
            None => true,
            Some(Member::Witness(i)) => witnessed[i],
            Some(Member::Group(i)) => groups[i],
        }
    }

    /// The witness keys of the policy.
    pub fn witness_keys(&self) -> Vec<Vkey> {
        self.witnesses.iter().map(|(_, k)| k.clone()).collect()
    }
}
