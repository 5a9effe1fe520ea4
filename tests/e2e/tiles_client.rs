//! A tlog-tiles client written from the C2SP specifications alone (tlog-tiles, tlog-checkpoint,
//! signed-note, tlog-cosignature), with SHA-256 and Ed25519 and nothing of ikrar's: it fetches
//! the checkpoint, checks the log's signature and the witnesses' cosignatures, downloads every
//! entry bundle and level-0 tile, recomputes every leaf and the root.

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// An HTTP answer: status, headers (lowercased names) and body.
pub(crate) type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A raw HTTP/1.1 request.
pub(crate) fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Option<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    Some((status, headers, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `<N>` of a tile path: 3-digit groups, all but the last prefixed with `x`.
fn index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 6962 MTH, recursively.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            sha256(&[&[1], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

/// A verifier key `<name>+<hex id>+<base64(type ‖ key)>`: its name, id, type and key.
fn vkey(text: &str) -> (String, [u8; 4], u8, VerifyingKey) {
    let mut parts = text.trim().splitn(3, '+');
    let name = parts.next().unwrap().to_string();
    let id: [u8; 4] = hex_bytes(parts.next().unwrap()).try_into().unwrap();
    let raw = B64.decode(parts.next().unwrap()).unwrap();
    let key = VerifyingKey::from_bytes(raw[1..].try_into().unwrap()).unwrap();
    (name, id, raw[0], key)
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What the audit found.
pub(crate) struct Audited {
    pub(crate) size: u64,
    pub(crate) root: [u8; 32],
    /// Names of the witnesses whose cosignatures verified.
    pub(crate) cosigned_by: Vec<String>,
    /// Every record, as served.
    pub(crate) records: Vec<Vec<u8>>,
}

/// Downloads and checks the whole log served at `port` under `/log/`.
pub(crate) fn audit(port: u16, log_vkey: &str, witness_vkeys: &[String]) -> Audited {
    let (status, headers, note) = http(port, "GET", "/log/checkpoint", b"").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    let note = String::from_utf8(note).unwrap();
    let split = note.rfind("\n\n").unwrap();
    let text = &note[..split + 1];
    let sig_lines: Vec<&str> = note[split + 2..].lines().collect();
    let body: Vec<&str> = text.lines().collect();
    let (origin, size, root) = (
        body[0],
        body[1].parse::<u64>().unwrap(),
        B64.decode(body[2]).unwrap(),
    );

    // The log's signature: a line by its name and key id, Ed25519 over the note text.
    let (name, id, kind, key) = vkey(log_vkey);
    assert_eq!((kind, name.as_str()), (1, origin));
    let signed_by_log = sig_lines.iter().any(|l| {
        let Some(rest) = l.strip_prefix(&format!("— {name} ")) else {
            return false;
        };
        let raw = B64.decode(rest).unwrap();
        raw[..4] == id
            && key
                .verify(text.as_bytes(), &Signature::from_slice(&raw[4..]).unwrap())
                .is_ok()
    });
    assert!(signed_by_log, "{note}");

    // Cosignatures: key id ‖ u64 timestamp ‖ Ed25519 over "cosignature/v1\ntime T\n" ‖ text.
    let mut cosigned_by = Vec::new();
    for w in witness_vkeys {
        let (name, id, kind, key) = vkey(w);
        assert_eq!(kind, 4);
        for l in &sig_lines {
            let Some(rest) = l.strip_prefix(&format!("— {name} ")) else {
                continue;
            };
            let raw = B64.decode(rest).unwrap();
            if raw[..4] != id || raw.len() != 76 {
                continue;
            }
            let t = u64::from_be_bytes(raw[4..12].try_into().unwrap());
            let message = format!("cosignature/v1\ntime {t}\n{text}");
            let sig = Signature::from_slice(&raw[12..]).unwrap();
            assert!(
                key.verify(message.as_bytes(), &sig).is_ok(),
                "bad cosignature by {name}"
            );
            cosigned_by.push(name.clone());
        }
    }

    // Every entry bundle and level-0 tile the checkpoint's size requires.
    let mut records = Vec::new();
    let mut leaves = Vec::new();
    let mut n = 0u64;
    while n * 256 < size {
        let width = (size - n * 256).min(256);
        let suffix = if width == 256 {
            String::new()
        } else {
            format!(".p/{width}")
        };
        let (status, headers, bundle) = http(
            port,
            "GET",
            &format!("/log/tile/entries/{}{suffix}", index_path(n)),
            b"",
        )
        .unwrap();
        assert_eq!(status, 200, "bundle {n}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/octet-stream")
        );
        if width == 256 {
            assert!(header(&headers, "cache-control")
                .unwrap()
                .contains("immutable"));
        }
        let mut rest = &bundle[..];
        let mut tile_leaves = Vec::new();
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let entry = &rest[2..2 + len];
            tile_leaves.push(sha256(&[&[0], entry]));
            records.push(entry.to_vec());
            rest = &rest[2 + len..];
        }
        assert_eq!(tile_leaves.len() as u64, width);
        let (status, _, tile) = http(
            port,
            "GET",
            &format!("/log/tile/0/{}{suffix}", index_path(n)),
            b"",
        )
        .unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            tile,
            tile_leaves.concat(),
            "level-0 tile {n} is the bundle's leaf hashes"
        );
        leaves.extend(tile_leaves);
        n += 1;
    }
    let computed = mth(&leaves);
    assert_eq!(
        computed.to_vec(),
        root,
        "the root recomputed from every leaf"
    );
    Audited {
        size,
        root: computed,
        cosigned_by,
        records,
    }
}
