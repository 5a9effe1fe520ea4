//! Faults of a real deployment, through the binary (SPEC §9): a data file cut anywhere is
//! exit 3 or an intact ledger — never a panic, never a shorter ledger — and errors carry the
//! exit code of what happened.

use crate::{json, stderr, Env};

/// A ledger of large records (60 KB summaries, stored as sled blobs) and small ones.
pub(crate) fn large_records_ledger() -> Env {
    let env = Env::with_ledger();
    let mut lines = String::new();
    for n in 0..48u32 {
        lines.push_str(&format!(
            r#"{{"type":"commitment_made","data":{{"commitment_id":"{}","title":"Commitment {n}","summary":"{}","made_on":"2025-01-16"}}}}"#,
            crate::cid(n),
            "s".repeat(60_000)
        ));
        lines.push('\n');
    }
    for n in 0..48u32 {
        lines.push_str(&format!(
            r#"{{"type":"commitment_status_changed","data":{{"commitment_id":"{}","status":"in_progress"}}}}"#,
            crate::cid(n)
        ));
        lines.push('\n');
    }
    let file = env.file("large.jsonl", &lines);
    let out = env.append_file(&file);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env
}

pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_data_file_cut_anywhere_is_exit_3_or_intact_never_a_panic_or_shorter() {
    let env = large_records_ledger();
    let acknowledged = 96;
    let data = env.ledger().join("db").join("db");
    let size = std::fs::metadata(&data).unwrap().len();
    let mut outcomes = Vec::new();
    for percent in (0..100).step_by(5) {
        let copy = env.dir.path().join(format!("cut-{percent}"));
        copy_dir(&env.ledger(), &copy);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.join("db").join("db"))
            .unwrap();
        file.set_len(size * percent / 100).unwrap();
        drop(file);
        // Every cut is verified and queried; an export (slower) at every fourth.
        let commands: &[&[&str]] = if percent % 20 == 0 {
            &[&["verify"], &["summary"], &["export"]]
        } else {
            &[&["verify"], &["summary"]]
        };
        for command in commands.iter().copied() {
            let out = env
                .cmd_for(&copy)
                .args(["--format", "json"])
                .args(command)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(
                !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
                "cut at {percent}%, {command:?}: {err}"
            );
            match out.status.code() {
                Some(3) => {
                    assert!(err.contains("integrity"), "cut at {percent}%: {err}");
                    outcomes.push((percent, 3));
                }
                Some(0) if command == ["verify"] => {
                    assert_eq!(json(&out)["tree_size"], acknowledged, "cut at {percent}%");
                    outcomes.push((percent, 0));
                }
                Some(0) if command == ["summary"] => {
                    assert_eq!(json(&out)["known_at"]["tree_size"], acknowledged);
                }
                Some(0) => {
                    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
                    assert_eq!(lines, acknowledged as usize, "cut at {percent}%: export");
                }
                other => panic!("cut at {percent}%, {command:?}: exit {other:?}: {err}"),
            }
        }
    }
    // The sweep saw damage: a cut near the start loses what sled kept in that file.
    assert!(outcomes.iter().any(|(_, code)| *code == 3), "{outcomes:?}");
}

#[test]
fn bad_files_given_to_the_cli_are_exit_2_and_missing_ones_exit_1() {
    let env = Env::with_ledger();
    let tokens = env.file("tokens.json", "this is not JSON");
    let out = env.run(&["serve", "--tokens", tokens.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a tokens file"),
        "{}",
        stderr(&out)
    );

    // A tokens file anyone may write is refused: anyone could give themselves a token.
    let tokens = env.dir.path().join("open-tokens.json");
    let out = env.run(&[
        "token",
        "add",
        "kim",
        "--role",
        "reader",
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = env.run(&["serve", "--tokens", tokens.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writable by every user"),
        "{}",
        stderr(&out)
    );

    // A bundle that is not UTF-8, with a good key: bad input.
    let key = env.dir.path().join("key");
    env.run(&["keygen", key.to_str().unwrap()]);
    let bundle = env.dir.path().join("bundle.json");
    std::fs::write(&bundle, [0xff, 0xfe, b'{']).unwrap();
    let pub_key = format!("{}.pub", key.display());
    let out = env.run(&[
        "check-proof",
        bundle.to_str().unwrap(),
        "--public-key",
        &pub_key,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A verifier key file that does not exist is named as a missing file.
    let out = env.run(&[
        "check-proof",
        bundle.to_str().unwrap(),
        "--public-key",
        "/nonexistent/key.pub",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("there is no file"),
        "{}",
        stderr(&out)
    );
}

mod connections {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::{stderr, Env};

    /// `ikrar serve` under a lowered limit of open files, started through the shell's ulimit.
    fn serve_with_fd_limit(env: &Env, port: u16, fds: u32, extra: &str) -> Child {
        let child = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -n {fds} && exec {} --ledger {} serve --listen 127.0.0.1:{port} {extra}",
                env!("CARGO_BIN_EXE_ikrar"),
                env.ledger().display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while request(port, "GET /healthz").is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "no server");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// One HTTP/1.1 request with `Connection: close`; the status code, or `None` if the
    /// connection failed or no answer came within 5 s.
    fn request(port: u16, line: &str) -> Option<u16> {
        request_with_body(port, line, "")
    }

    fn request_with_body(port: u16, line: &str, body: &str) -> Option<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "{line} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split(' ').nth(1)?.parse().ok()
    }

    fn made(n: u32) -> String {
        format!(
            r#"{{"type":"commitment_made","data":{{"commitment_id":"{}","title":"C {n}","made_on":"2025-01-16"}}}}"#,
            crate::cid(n)
        )
    }

    fn stop(mut server: Child) {
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap();
        let status = server.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the stop took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn idle_connections_past_the_descriptor_limit_neither_starve_clients_nor_stop_the_writer() {
        let env = Env::with_ledger();
        let port = ikrar_testkit::free_port();
        let server = serve_with_fd_limit(&env, port, 256, "--header-timeout 3s");
        // More idle connections than the process may hold descriptors.
        let idle: Vec<TcpStream> = (0..300)
            .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
            .collect();
        assert!(idle.len() >= 250, "{} connections", idle.len());
        // New clients get an answer at once: served, or refused with 503 — never a time-out.
        let started = Instant::now();
        let code = request(port, "GET /healthz");
        assert!(matches!(code, Some(200 | 503)), "{code:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Once the idle ones are cut off (the header timeout), appends work: the writer kept
        // its descriptors.
        std::thread::sleep(Duration::from_secs(4));
        for n in 0..5 {
            assert_eq!(
                request_with_body(port, "POST /v1/events", &made(n)),
                Some(200),
                "append {n}"
            );
        }
        drop(idle);
        assert_eq!(request(port, "GET /healthz"), Some(200));
        stop(server);
        let out = env.run(&["--format", "json", "verify"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(crate::json(&out)["tree_size"], 5);
    }

    #[test]
    fn a_slow_header_client_is_cut_off_and_cannot_hold_up_a_shutdown() {
        let env = Env::with_ledger();
        let port = ikrar_testkit::free_port();
        let server =
            serve_with_fd_limit(&env, port, 1024, "--header-timeout 2s --connections-max 8");
        // One header byte a second, as a slowloris client sends.
        let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let cut_off = std::thread::spawn(move || {
            for b in b"GET /healthz HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain(b"aaaaaaaaaaaaaaaaaaaa")
            {
                if slow.write_all(&[*b]).is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(250));
                let mut probe = [0u8; 1];
                slow.set_nonblocking(true).unwrap();
                let closed = matches!(slow.read(&mut probe), Ok(0));
                slow.set_nonblocking(false).unwrap();
                if closed {
                    return true;
                }
            }
            false
        });
        assert!(cut_off.join().unwrap(), "the slow client was never cut off");
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        // Connections over the limit are refused at once, in the API's error form.
        let held: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        // Each held connection is served (its permit taken) before the next is accepted: a
        // request on each shows it.
        let mut held = held;
        for s in &mut held {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let mut answer = [0u8; 12];
            s.read_exact(&mut answer).unwrap();
            assert_eq!(&answer[9..12], b"200");
        }
        let refused = request(port, "GET /healthz");
        assert_eq!(refused, Some(503));
        // A partial header does not hold up the stop.
        let mut partial = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = partial.write_all(b"GET /healthz HTTP/1.1\r\nHost:");
        drop(held);
        stop(server);
    }
}
