//! Follows an ikrar server's live feed and prints one line per recorded event, resuming after a
//! disconnect from the last position seen (`Last-Event-ID`), so that no event is skipped or
//! printed twice.
//!
//! ```sh
//! ikrar serve &                       # in another terminal
//! cargo run -p ikrar-server --example follow -- http://127.0.0.1:7878 [TOKEN]
//! ```

use std::time::Duration;

use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:7878".to_string());
    let token = args.next();
    let http = reqwest::Client::new();
    let mut last_seen: Option<u64> = None;
    loop {
        let mut request = http.get(format!("{base}/v1/events/stream"));
        if let Some(p) = last_seen {
            request = request.header("Last-Event-ID", p.to_string());
        }
        if let Some(t) = &token {
            request = request.bearer_auth(t);
        }
        let response = match request.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return Err(format!("the server answered {}", r.status()).into()),
            Err(e) => {
                eprintln!("cannot connect ({e}); retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut body = response.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            buf.push_str(&String::from_utf8_lossy(&chunk));
            // An SSE event ends with a blank line; heartbeats are comments (": …").
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let id = block.lines().find_map(|l| l.strip_prefix("id: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(id), Some(data)) = (id, data) {
                    let record: serde_json::Value = serde_json::from_str(data)?;
                    println!(
                        "{id:>8} {} {} {}",
                        record["recorded_at"].as_str().unwrap_or(""),
                        record["type"].as_str().unwrap_or(""),
                        record["stream"].as_str().unwrap_or("")
                    );
                    last_seen = Some(id.parse()?);
                }
            }
        }
        eprintln!("disconnected; resuming after position {last_seen:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
