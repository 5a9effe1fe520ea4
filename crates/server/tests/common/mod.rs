//! An in-process server on a loopback port, for the HTTP tests.

#![allow(dead_code)] // each test file uses what it needs

use std::net::SocketAddr;
use std::path::Path;

use ikrar_core::Ledger;
use ikrar_server::{ServerConfig, Tokens};
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ikrar_server::Error>>,
}

impl Server {
    pub async fn start(
        ledger_path: &Path,
        tokens: Option<Tokens>,
        body_bytes_max: usize,
    ) -> Server {
        Self::start_with(ledger_path, |config| {
            config.tokens = tokens;
            config.body_bytes_max = body_bytes_max;
        })
        .await
    }

    /// A server whose configuration `configure` sets.
    pub async fn start_with(
        ledger_path: &Path,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Server {
        let ledger = Ledger::open_or_create(ledger_path).unwrap();
        let mut config = ServerConfig::loopback("127.0.0.1:0".parse().unwrap());
        configure(&mut config);
        let listener = ikrar_server::bind(&config).await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ikrar_server::serve_on(
            listener,
            ledger,
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            base: format!("http://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

/// Opens a ledger a server just released. The server's last handle can outlive its shutdown by
/// a moment (a worker thread finishing its task), so a `Locked` answer is retried briefly.
pub async fn open_when_released(path: &Path) -> Ledger {
    let started = std::time::Instant::now();
    loop {
        match Ledger::open(path) {
            Ok(ledger) => return ledger,
            Err(ikrar_core::Error::Locked { .. })
                if started.elapsed() < std::time::Duration::from_secs(5) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
}
