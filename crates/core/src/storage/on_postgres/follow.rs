//! Following other processes' commits: `LISTEN ikrar_head` wakes a follower thread, which reads
//! the head, extends the index and publishes the head. It also polls (every [`FOLLOW_POLL`]), so
//! a lost notification or a dropped listening connection delays a subscriber, never loses a
//! record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::Error;
use crate::storage::on_postgres::PostgresBackend;
use crate::storage::{Head, Store};

/// How often the follower looks at the head even without a notification.
const FOLLOW_POLL: Duration = Duration::from_secs(1);

impl PostgresBackend {
    /// Starts following commits other processes make: on each (and once a second), reads the
    /// head, extends `store`'s index to it, and calls `on_head`. Returns the function that stops
    /// following.
    pub(crate) fn follow(
        &self,
        store: Store,
        on_head: impl Fn(Head) + Send + 'static,
    ) -> Result<Box<dyn FnOnce() + Send + Sync>, Error> {
        let stopped = Arc::new(AtomicBool::new(false));
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let config = self.config.clone();
        let listener = self.handle.spawn(listen(config, self.tls.clone(), wake_tx));
        let thread_stopped = stopped.clone();
        std::thread::Builder::new()
            .name("ikrar-follower".into())
            .spawn(move || {
                while !thread_stopped.load(Ordering::Relaxed) {
                    match wake_rx.recv_timeout(FOLLOW_POLL) {
                        Ok(()) => while wake_rx.try_recv().is_ok() {},
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        // The listening connection ended: keep polling.
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            std::thread::sleep(FOLLOW_POLL)
                        }
                    }
                    if thread_stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    // A failed read is retried at the next wake-up; the writer's own lock
                    // catches the index up before any append regardless.
                    if let Ok(head) = store.head() {
                        if store.catch_up_index(head.tree_size).is_ok() {
                            on_head(head);
                        }
                    }
                }
            })?;
        Ok(Box::new(move || {
            stopped.store(true, Ordering::Relaxed);
            listener.abort();
        }))
    }
}

/// Listens for `ikrar_head` notifications of this connection's schema and wakes the follower;
/// when the listening connection ends (a restarted server, a killed backend) it connects and
/// listens again, a poll interval later, for as long as the follower runs. The follower's own
/// poll covers the gap.
async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    wake: std::sync::mpsc::Sender<()>,
) {
    while listen_once(&config, tls.clone(), &wake).await {
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// One listening connection, until it ends: answers whether to listen again (`false` once the
/// follower is gone).
async fn listen_once(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    wake: &std::sync::mpsc::Sender<()>,
) -> bool {
    use futures::StreamExt;
    let Ok((client, mut connection)) = config.connect(tls).await else {
        return true;
    };
    let (messages_tx, mut messages_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if messages_tx.send(message).is_err() {
                break;
            }
        }
    });
    let Ok(row) = client.query_one("SELECT current_schema()", &[]).await else {
        return true;
    };
    let schema: String = row.get(0);
    if client.batch_execute("LISTEN ikrar_head").await.is_err() {
        return true;
    }
    // Listening again: whatever was committed while no one listened is read now.
    if wake.send(()).is_err() {
        return false;
    }
    while let Some(message) = messages_rx.recv().await {
        if let tokio_postgres::AsyncMessage::Notification(n) = message {
            if n.payload() == schema && wake.send(()).is_err() {
                return false;
            }
        }
    }
    true
}
