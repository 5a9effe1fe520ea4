//! Throwaway PostgreSQL clusters of a test's own, for the faults the shared server of
//! `IKRAR_TEST_POSTGRES` must not suffer (a restart, a primary stopped with `-m immediate`, a
//! server with TLS switched on): each [`Cluster`] lives in a temporary directory, listens on
//! loopback on a port of its own, and is stopped and deleted when dropped, even when the test
//! fails.
//!
//! The server binaries are found as `scripts/with-postgres` finds them (`pg_config --bindir`,
//! else `/usr/lib/postgresql/*/bin`). Without them [`Cluster::new`] says so on stderr and answers
//! `None` — unless `IKRAR_REQUIRE_POSTGRES=1` (CI), when it panics: a missing server must fail
//! the suite, not let it pass without checking.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{free_port, REQUIRE_POSTGRES_ENV};

/// How `pg_ctl stop` or `restart` shuts the server down.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// Connections are cut, the server checkpoints and exits.
    Fast,
    /// The server exits at once, as in a crash; the next start recovers from the WAL.
    Immediate,
}

impl StopMode {
    fn arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// One PostgreSQL cluster in a temporary directory (see the module notes).
pub struct Cluster {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// initdb refuses to run as root: the cluster then belongs to the `postgres` user.
    as_postgres: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The directory holding `initdb`, `pg_ctl` and `pg_basebackup`, if any.
pub fn bindir() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_config.filter(|d| d.join("initdb").is_file()) {
        return Some(dir);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// A new, initialised (not started) cluster for `test`, or `None` with a note on stderr
    /// when PostgreSQL's binaries are missing (a panic where they are required).
    pub fn new(test: &str) -> Option<Cluster> {
        let Some(bindir) = bindir() else {
            if std::env::var(REQUIRE_POSTGRES_ENV).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_POSTGRES_ENV}=1 but no PostgreSQL server binaries (initdb) were found: {test} must run here");
            }
            eprintln!("{test}: not run (no PostgreSQL server binaries: initdb)");
            return None;
        };
        let cluster = Cluster::empty(bindir);
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        // Small and quick: a test's cluster holds a few thousand rows.
        cluster.append_conf(
            "listen_addresses = '127.0.0.1'\nmax_connections = 60\nshared_buffers = 16MB\n\
             fsync = on\nwal_level = replica\nmax_wal_senders = 4\n",
        );
        Some(cluster)
    }

    fn empty(bindir: PathBuf) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("ikrar-pg-")
            .tempdir()
            .expect("a temporary directory");
        let as_postgres = running_as_root();
        if as_postgres {
            chown_to_postgres(dir.path());
        }
        Cluster {
            bindir,
            dir,
            port: free_port(),
            as_postgres,
        }
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`), not started. The primary must
    /// be running.
    pub fn standby_of(primary: &Cluster) -> Cluster {
        let standby = Cluster::empty(primary.bindir.clone());
        standby.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby.data().display().to_string(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "-c",
                "fast",
            ],
        );
        // The name the primary's synchronous_standby_names waits for; in the auto file, after
        // the primary_conninfo pg_basebackup wrote there, so that this one wins.
        standby.append_to(
            "postgresql.auto.conf",
            &format!(
            "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=standby'\n",
            primary.port
        ),
        );
        standby
    }

    /// The temporary directory (the data directory is `data` in it), for files a test makes
    /// for the server, such as certificates.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Adds lines to `postgresql.conf` (later lines win).
    pub fn append_conf(&self, lines: &str) {
        self.append_to("postgresql.conf", lines);
    }

    fn append_to(&self, file: &str, lines: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        f.write_all(lines.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }

    /// Writes a file the server reads (a certificate, a key) into the cluster's directory,
    /// owned by the server's user, mode 0600, and answers its path.
    pub fn put_file(&self, name: &str, contents: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("a file for the server");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("permissions");
        if self.as_postgres {
            chown_to_postgres(&path);
        }
        path
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "60",
                "-o",
                &format!("-p {} -k {}", self.port, self.dir.path().display()),
                "start",
            ],
        );
    }

    /// Stops the server.
    pub fn stop(&self, mode: StopMode) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                mode.arg(),
                "-w",
                "stop",
            ],
        );
    }

    /// Freezes (`SIGSTOP`) every process of the running server, the postmaster and its
    /// backends: to its clients it is a server that stopped answering — a network partition,
    /// a frozen host — with its connections still open. [`Cluster::thaw`] resumes it.
    pub fn freeze(&self) {
        let postmaster = self.postmaster_pid();
        signal(postmaster, "-STOP");
        for child in children_of(postmaster) {
            signal(child, "-STOP");
        }
    }

    /// Resumes what [`Cluster::freeze`] froze.
    pub fn thaw(&self) {
        let postmaster = self.postmaster_pid();
        for child in children_of(postmaster) {
            signal(child, "-CONT");
        }
        signal(postmaster, "-CONT");
    }

    /// The postmaster's process id, from the first line of `postmaster.pid`.
    fn postmaster_pid(&self) -> u32 {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .expect("the server is running");
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("postmaster.pid starts with the process id")
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data().display().to_string(), "-w", "promote"],
        );
    }

    /// The first column of the first row `sql` answers on this cluster, as text; `None` if
    /// there is no row, or the server cannot be reached or refuses the query.
    pub fn query_text(&self, sql: &str) -> Option<String> {
        let (url, sql) = (self.url(), sql.to_string());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                let messages = client.simple_query(&sql).await.ok()?;
                messages.into_iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                    _ => None,
                })
            })
        })
        .join()
        .ok()
        .flatten()
    }

    /// The server's log so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bindir.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(binary);
            c
        } else {
            Command::new(binary)
        }
    }

    /// Runs a server program, panicking with its output (and the server's log) if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let started = Instant::now();
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed after {:?}: {}{}\nserver log:\n{}",
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// Waits until `check` holds, at most `limit`.
    pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let started = Instant::now();
        while !check() {
            assert!(started.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn chown_to_postgres(path: &Path) {
    let status = Command::new("chown")
        .arg("postgres")
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown postgres {}", path.display());
}

/// Sends `signal` (`-STOP`, `-CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// The processes whose parent is `pid`, from `/proc/*/stat` (its fourth field).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                // After the command's name, which is in parentheses and may hold spaces.
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}
