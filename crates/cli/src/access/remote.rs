//! The HTTP API over the running server's Unix socket (SPEC §7.1): requests, and the API's
//! errors turned back into the library's, so that a command prints the same words and exits
//! with the same code whichever way it reached the ledger.

use std::path::Path;

use ikrar_core::{Error, ExpectedVersion, StreamId};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::failure::{exit, Failure};

/// The socket file a running `ikrar serve` listens on, in the ledger directory.
pub const SOCKET_FILE: &str = "ikrar.sock";

/// A client of the server holding a ledger.
pub struct Remote {
    client: reqwest::Client,
}

/// A failed request: the library's error where the API carried one, else the CLI's failure.
pub enum RemoteError {
    Core(Error),
    Other(Failure),
}

impl From<RemoteError> for Failure {
    fn from(e: RemoteError) -> Failure {
        match e {
            RemoteError::Core(core) => Failure::from(core),
            RemoteError::Other(f) => f,
        }
    }
}

impl Remote {
    /// Connects to the socket in `ledger_dir` if a server answers there (a socket file left by
    /// a killed server answers nothing and is ignored).
    pub fn connect(ledger_dir: &Path) -> Option<Remote> {
        let socket = ledger_dir.join(SOCKET_FILE);
        // A quick, synchronous probe: connect() on a stale socket fails at once.
        std::os::unix::net::UnixStream::connect(&socket).ok()?;
        let client = reqwest::Client::builder()
            .unix_socket(socket)
            .build()
            .ok()?;
        Some(Remote { client })
    }

    pub fn request(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        // The host is not used on a Unix socket; it only has to make a valid URL.
        self.client
            .request(method, format!("http://ikrar.local{path_and_query}"))
    }

    /// Sends a request and answers its response if it succeeded, else the error it carried.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, RemoteError> {
        let response = request.send().await.map_err(|e| {
            RemoteError::Other(Failure::new(
                "io",
                exit::OPERATIONAL,
                format!("the running server did not answer: {e}"),
            ))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Err(api_error(status.as_u16(), &body["error"]))
    }

    /// GET and decode a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, RemoteError> {
        let response = self.send(self.request(Method::GET, path_and_query)).await?;
        decode(response).await
    }
}

pub async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, RemoteError> {
    response.json::<T>().await.map_err(|e| {
        RemoteError::Other(Failure::new(
            "io",
            exit::OPERATIONAL,
            format!("the running server's answer is not what this version expects: {e}"),
        ))
    })
}

/// The library error an API error body describes, where it says enough to rebuild it.
fn api_error(status: u16, error: &Value) -> RemoteError {
    let message = error["message"].as_str().unwrap_or("").to_string();
    let kind = error["kind"].as_str().unwrap_or("");
    let detail = &error["detail"];
    let index = detail["index"].as_u64().map(|i| i as usize);
    let rebuilt = match (kind, index) {
        ("validation", Some(index)) => Some(Error::Validation {
            index,
            field: detail["field"].as_str().unwrap_or("").to_string(),
            rule: detail["rule"].as_str().unwrap_or("").to_string(),
        }),
        ("conflict", Some(index)) if detail.get("stream").is_some() => {
            let stream = detail["stream"].as_str().and_then(StreamId::parse);
            let expected: Option<ExpectedVersion> =
                serde_json::from_value(detail["expected"].clone()).ok();
            match (stream, expected) {
                (Some(stream), Some(expected)) => Some(Error::Conflict {
                    index,
                    stream,
                    expected,
                    actual: detail["actual"].as_u64(),
                }),
                _ => None,
            }
        }
        ("conflict", Some(index)) => {
            let event_id = detail["event_id"].as_str().and_then(|s| s.parse().ok());
            match (event_id, detail["position"].as_u64()) {
                (Some(event_id), Some(position)) => Some(Error::EventIdConflict {
                    index,
                    event_id,
                    position,
                    differences: serde_json::from_value(detail["differences"].clone())
                        .unwrap_or_default(),
                }),
                _ => None,
            }
        }
        ("integrity", _) => detail["position"]
            .as_u64()
            .map(|position| Error::Integrity {
                position,
                what: detail["what"].as_str().unwrap_or("").to_string(),
            }),
        _ => None,
    };
    if let Some(e) = rebuilt {
        return RemoteError::Core(e);
    }
    let (kind, code) = match (status, kind) {
        (_, "integrity" | "proof") => ("integrity", exit::INTEGRITY),
        (_, "conflict") => ("conflict", exit::CONFLICT),
        (400 | 413, _) => ("validation", exit::BAD_INPUT),
        (404, _) => ("not_found", exit::OPERATIONAL),
        _ => ("server", exit::OPERATIONAL),
    };
    RemoteError::Other(Failure::new(kind, code, message))
}

/// `?name=value&…` of the pairs given (values percent-encoded).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        let Some(value) = value else { continue };
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded_and_skip_absent_values() {
        assert_eq!(
            query(&[
                ("search", Some("Korea–Central Asia & co".into())),
                ("party", None),
                ("limit", Some("5".into()))
            ]),
            "?search=Korea%E2%80%93Central%20Asia%20%26%20co&limit=5"
        );
        assert_eq!(query(&[("a", None)]), "");
    }

    #[test]
    fn api_errors_become_the_librarys_again() {
        let body = serde_json::json!({"kind":"validation","message":"…",
            "detail":{"index":2,"field":"data.title","rule":"must not be empty"}});
        let RemoteError::Core(Error::Validation { index, field, .. }) = api_error(400, &body)
        else {
            panic!("not rebuilt")
        };
        assert_eq!((index, field.as_str()), (2, "data.title"));
        let body = serde_json::json!({"kind":"conflict","message":"…","detail":{"index":0,
            "stream":"commitment/0194a1c2-7f00-7000-8000-000000000001","expected":3,"actual":4}});
        assert!(matches!(
            api_error(409, &body),
            RemoteError::Core(Error::Conflict {
                actual: Some(4),
                ..
            })
        ));
        let RemoteError::Other(f) = api_error(404, &serde_json::json!({"kind":"not_found"})) else {
            panic!("rebuilt from nothing")
        };
        assert_eq!(f.code, exit::OPERATIONAL);
    }
}
