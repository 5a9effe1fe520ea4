//! Starting chromedriver, Chromium and `ikrar serve` for the console's tests, and the checks
//! every page gets.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use ikrar_testkit::free_port;
use serde_json::{json, Value};

use crate::{stderr, Env};

/// One browser at a time: the machines that run these tests have few cores, and several
/// Chromiums at once make every timing here unreliable.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether a missing browser or axe-core must fail the test rather than skip it.
pub(crate) fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("IKRAR_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Whether chromedriver answers `GET /status` with `"ready": true` within `timeout`: a port
/// that accepts connections may belong to another process.
fn driver_ready(port: u16, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            // Read until the answer says it is ready: chromedriver may keep the connection
            // open after it.
            let mut text = Vec::new();
            let mut chunk = [0u8; 4096];
            if s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .is_ok()
            {
                while let Ok(n @ 1..) = s.read(&mut chunk) {
                    text.extend_from_slice(&chunk[..n]);
                    if String::from_utf8_lossy(&text).contains("\"ready\":true") {
                        return true;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn wait_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A process killed when dropped; with `group`, its whole process group (chromedriver and the
/// Chromium it started, which would otherwise outlive it).
pub(crate) struct Proc(pub(crate) Child, pub(crate) bool);

impl Drop for Proc {
    fn drop(&mut self) {
        let target = if self.1 {
            format!("-{}", self.0.id())
        } else {
            self.0.id().to_string()
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg("--")
            .arg(&target)
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(&target)
            .status();
        let _ = self.0.wait();
    }
}

/// A WebDriver session in a fresh headless Chromium. Dropping it ends chromedriver's process
/// group, Chromium with it.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver_url: String,
    session: String,
    _driver: Proc,
    _profile: tempfile::TempDir,
    _one: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a session; `None` (after saying why) where no browser is
    /// installed and none is required.
    pub(crate) async fn start() -> Option<Browser> {
        let one = ONE_BROWSER.lock().await;
        let why = match Self::try_start(one).await {
            Ok(b) => return Some(b),
            Err(why) => why,
        };
        if required() {
            panic!("no headless browser could be started, and one is required here: {why}");
        }
        eprintln!("SKIPPED: the console's browser tests need chromium and chromedriver: {why}");
        None
    }

    async fn try_start(one: tokio::sync::MutexGuard<'static, ()>) -> Result<Browser, String> {
        let driver_bin = std::env::var("IKRAR_CHROMEDRIVER")
            .ok()
            .map(PathBuf::from)
            .or_else(|| find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]))
            .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
        let chromium = std::env::var("IKRAR_CHROMIUM")
            .ok()
            .map(PathBuf::from)
            .or_else(|| find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]))
            .ok_or("chromium is not installed (apt-get install chromium)")?;
        // A chromedriver can be lost between listening and the session (its port taken by
        // another test's client between choosing and binding it, or the process gone while
        // starting Chromium): then a fresh one is started on another port, and the last
        // one's log is in the error.
        let mut why = String::new();
        for _ in 0..3 {
            let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
            match Self::session(&driver_bin, &chromium, &profile).await {
                Ok((client, driver_url, session, driver)) => {
                    return Ok(Browser {
                        client,
                        driver_url,
                        session,
                        _driver: driver,
                        _profile: profile,
                        _one: one,
                    })
                }
                Err(e) => why = e,
            }
        }
        Err(why)
    }

    /// One chromedriver, ready, and a session in it.
    async fn session(
        driver_bin: &Path,
        chromium: &Path,
        profile: &tempfile::TempDir,
    ) -> Result<(Client, String, String, Proc), String> {
        let port = free_port();
        let log = profile.path().join("chromedriver.log");
        let mut driver = Proc(
            Command::new(driver_bin)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| format!("{}: {e}", driver_bin.display()))?,
            true,
        );
        let log_tail = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let start = text.len().saturating_sub(2000);
            let start = (start..text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            format!("\nchromedriver's log ends:\n{}", &text[start..])
        };
        if !driver_ready(port, Duration::from_secs(20)) {
            let exited = driver.0.try_wait().ok().flatten();
            return Err(format!(
                "chromedriver on port {port} did not become ready (exited: {exited:?}){}",
                log_tail()
            ));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(format!(
            "--user-data-dir={}",
            profile.path().join("chromium").display()
        ));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": all}),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let driver_url = format!("http://127.0.0.1:{port}");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .map_err(|e| format!("no WebDriver session: {e}{}", log_tail()))?;
        let session = client
            .session_id()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the session has no id")?;
        Ok((client, driver_url, session, driver))
    }

    /// Runs a script in the page and answers its value.
    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Opens `url` and waits until the document is loaded.
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.until(
            &format!("loading {url}"),
            "return document.readyState === 'complete'",
        )
        .await;
    }

    /// Waits (20 s at most) until `script` returns true.
    pub(crate) async fn until(&self, what: &str, script: &str) {
        let start = Instant::now();
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let body = self
                    .js("return document.body ? document.body.innerText.slice(0, 3000) : ''")
                    .await;
                panic!(
                    "timed out waiting for {what}; the page says:\n{}",
                    body.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// With `IKRAR_SCREENSHOTS=DIR` (scripts/console-screenshots), saves the page as
    /// `DIR/NAME.png` for docs/console.md.
    pub(crate) async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("IKRAR_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
    }

    /// The browser console's entries since the last call, as `LEVEL message`.
    pub(crate) async fn console_log(&self) -> Vec<String> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session);
        let answer: Value = reqwest::Client::new()
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// What every page must be: no JavaScript error, no serious or critical axe-core finding,
    /// and no horizontal scroll at 360 px.
    pub(crate) async fn check_page(&self, what: &str) {
        let errors: Vec<String> = self
            .console_log()
            .await
            .into_iter()
            .filter(|l| l.starts_with("SEVERE"))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: errors in the browser console: {errors:#?}"
        );
        match axe_source() {
            Some(axe) => {
                self.js(&format!("{axe}\n;return true;")).await;
                let found = self
                    .client
                    .execute_async(
                        "const done = arguments[arguments.length - 1];
                         axe.run(document, {resultTypes: ['violations']}).then(r => done(
                           r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                             .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', '))
                         )).catch(e => done(['axe failed: ' + e]));",
                        vec![],
                    )
                    .await
                    .unwrap();
                let found: Vec<String> = serde_json::from_value(found).unwrap();
                assert!(found.is_empty(), "{what}: axe-core findings: {found:#?}");
            }
            None if required() => panic!("axe-core is missing: run scripts/fetch-axe"),
            None => eprintln!("SKIPPED axe-core on {what}: run scripts/fetch-axe"),
        }
        self.client.set_window_size(360, 800).await.unwrap();
        self.until("a 360 px layout", "return window.innerWidth <= 400")
            .await;
        let widths = self
            .js("return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
            .await;
        let w: Vec<u64> = serde_json::from_value(widths).unwrap();
        assert!(
            w[0] <= w[2] && w[1] <= w[2],
            "{what}: the page scrolls sideways at {} px: scrollWidth {} / {}",
            w[2],
            w[0],
            w[1]
        );
        self.client.set_window_size(1280, 900).await.unwrap();
    }
}

fn axe_source() -> Option<String> {
    let path = std::env::var("IKRAR_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/axe-core/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}

/// `ikrar serve` on a free loopback port, stopped when dropped.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) port: u16,
    _proc: Proc,
}

impl Server {
    pub(crate) fn start(env: &Env, extra: &[&str]) -> Server {
        // A free port can be taken by another test between choosing and binding it: then
        // this server exits at once, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let listen = format!("127.0.0.1:{port}");
            let mut args = vec!["serve", "--listen", listen.as_str()];
            args.extend_from_slice(extra);
            let mut proc = Proc(env.process().args(&args).spawn().unwrap(), false);
            let up = wait_port(port, Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(100));
            if up && proc.0.try_wait().unwrap().is_none() {
                return Server {
                    base: format!("http://127.0.0.1:{port}"),
                    port,
                    _proc: proc,
                };
            }
        }
        panic!("ikrar serve did not start");
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The demo ledger, signed by a checkpoint key; answers the verifier key.
pub(crate) fn demo_with_checkpoint(env: &Env) -> String {
    let out = env.run(&["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sign(env)
}

/// Signs a checkpoint of the current tree (making the key on first use); answers the verifier key.
pub(crate) fn sign(env: &Env) -> String {
    let key = env.dir.path().join("log.key");
    if !key.exists() {
        let out = env.run(&[
            "keygen",
            key.to_str().unwrap(),
            "--name",
            "console.test/log",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = env.run(&["checkpoint", "--key", key.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?} {}",
        out.status,
        stderr(&out)
    );
    std::fs::read_to_string(key.with_extension("key.pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// A runtime for one test.
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
