//! Full tiles kept as files by `ikrar serve` (`LEDGER/log/tile/…`): written in the background
//! as bundles and hash tiles fill, answered byte for byte as the store gives them, a damaged
//! file never served and rewritten, none for a partial tile, and none at all with
//! `--no-tile-files`.

use std::path::Path;

use ikrar_testkit::free_port;

use crate::tiles_client::http;
use crate::witnessed::{wait_for, Running};
use crate::{made_line, stderr, Env};

fn serve(env: &Env, extra: &[&str]) -> (Running, u16) {
    let port = free_port();
    let child = env
        .process()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_for("the server to answer", || {
        http(port, "GET", "/healthz", b"").is_some_and(|(s, _, _)| s == 200)
    });
    (running, port)
}

fn append(env: &Env, from: u32, to: u32) {
    let lines: String = (from..to).map(|n| made_line(n) + "\n").collect();
    let file = env.file(&format!("events-{from}.jsonl"), &lines);
    let out = env.append_file(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Entries `from..to` of the exported log, framed as an entry bundle.
fn framed(env: &Env, from: usize, to: usize) -> Vec<u8> {
    let export = env.export();
    let mut out = Vec::new();
    for line in export.lines().skip(from).take(to - from) {
        out.extend_from_slice(&(line.len() as u16).to_be_bytes());
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn bundle(port: u16, path: &str) -> Vec<u8> {
    let (status, _, body) = http(port, "GET", &format!("/log/tile/entries/{path}"), b"").unwrap();
    assert_eq!(status, 200, "{path}");
    body
}

fn file_of(ledger: &Path, index: &str) -> std::path::PathBuf {
    ledger.join("log/tile/entries").join(index)
}

#[test]
fn serve_keeps_full_tiles_as_files_and_never_serves_a_damaged_one() {
    let env = Env::with_ledger();
    let ledger = env.ledger();
    append(&env, 0, 600);
    let (mut server, port) = serve(&env, &[]);
    for index in ["000", "001"] {
        wait_for("the bundle files", || file_of(&ledger, index).exists());
    }
    let first = framed(&env, 0, 256);
    assert_eq!(bundle(port, "000"), first);
    assert_eq!(std::fs::read(file_of(&ledger, "000")).unwrap(), first);
    assert_eq!(bundle(port, "002.p/88"), framed(&env, 512, 600));
    assert!(
        !file_of(&ledger, "002").exists(),
        "a partial bundle has no file"
    );
    // The hash tile of leaves 256..512, from its file, as the store has it; a damaged one is
    // not served.
    let hashes = ledger.join("log/tile/0/001");
    wait_for("the hash tile files", || hashes.exists());
    let (status, _, tile) = http(port, "GET", "/log/tile/0/001", b"").unwrap();
    assert_eq!((status, tile.len()), (200, 8192));
    assert_eq!(std::fs::read(&hashes).unwrap(), tile);
    std::fs::write(&hashes, [0u8; 100]).unwrap();
    assert_eq!(http(port, "GET", "/log/tile/0/001", b"").unwrap().2, tile);

    // A file cut short (a crash, a full disk, a hand): answered from the store, then rewritten.
    let second = framed(&env, 256, 512);
    std::fs::write(file_of(&ledger, "001"), &second[..second.len() / 2]).unwrap();
    assert_eq!(bundle(port, "001"), second);
    wait_for("the damaged file rewritten", || {
        std::fs::read(file_of(&ledger, "001")).is_ok_and(|b| b == second)
    });

    // The tree grows past another bundle: its file follows.
    append(&env, 600, 800);
    wait_for("the third bundle's file", || {
        file_of(&ledger, "002").exists()
    });
    let third = framed(&env, 512, 768);
    assert_eq!(bundle(port, "002"), third);
    assert!(server.signal("-TERM").success());

    // Files of another history (the database restored, `log/` kept): the last one differs
    // from the store, so the directory is dropped and written again — never served. A file
    // beyond the tree is never served either.
    std::fs::write(file_of(&ledger, "002"), &first).unwrap();
    std::fs::write(file_of(&ledger, "009"), &first).unwrap();
    let (mut server, port) = serve(&env, &[]);
    assert_eq!(bundle(port, "002"), third);
    let (status, _, _) = http(port, "GET", "/log/tile/entries/009", b"").unwrap();
    assert_eq!(status, 404);
    wait_for("the files written again", || {
        std::fs::read(file_of(&ledger, "002")).is_ok_and(|b| b == third)
    });
    assert!(
        !file_of(&ledger, "009").exists(),
        "the other history's files are gone"
    );
    assert!(server.signal("-TERM").success());

    // Without them: the same bytes, from the store alone, and no directory.
    std::fs::remove_dir_all(ledger.join("log")).unwrap();
    let (mut server, port) = serve(&env, &["--no-tile-files"]);
    assert_eq!(bundle(port, "000"), first);
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(!ledger.join("log").exists());
    assert!(server.signal("-TERM").success());
}
