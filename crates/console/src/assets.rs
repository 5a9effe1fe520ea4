//! The console's CSS and JavaScript modules, compiled into the binary (it works offline, with no
//! build step) and served under names that carry their content hash, so that browsers may keep
//! them for a year and still never run a stale one.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// `(stem, extension, content type, bytes)` of every asset.
const FILES: [(&str, &str, &str, &str); 5] = [
    (
        "console",
        "css",
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
    ),
    (
        "verify",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/verify.js"),
    ),
    (
        "proof",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/proof.js"),
    ),
    (
        "feed",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/feed.js"),
    ),
    (
        "basis",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/basis.js"),
    ),
];

/// The URLs of the assets, for templates.
#[derive(Debug, Clone)]
pub(crate) struct Assets {
    pub(crate) css: String,
    pub(crate) proof_js: String,
    pub(crate) feed_js: String,
    pub(crate) basis_js: String,
}

struct Table {
    /// `(served name, content type, bytes)`.
    files: Vec<(String, &'static str, &'static str)>,
    urls: Assets,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let files: Vec<(String, &'static str, &'static str)> = FILES
            .iter()
            .map(|(stem, ext, ty, body)| {
                let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
                (format!("{stem}.{hash}.{ext}"), *ty, *body)
            })
            .collect();
        let url = |i: usize| format!("/ui/assets/{}", files[i].0);
        let urls = Assets {
            css: url(0),
            proof_js: url(2),
            feed_js: url(3),
            basis_js: url(4),
        };
        Table { files, urls }
    })
}

/// The assets' URLs.
pub(crate) fn names() -> Assets {
    table().urls.clone()
}

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    // The JavaScript modules import each other by their plain names (`./verify.js`), which
    // cannot carry a hash without a build step; those are served too, briefly cached.
    let plain = FILES
        .iter()
        .find(|(stem, ext, _, _)| format!("{stem}.{ext}") == name);
    if let Some((_, _, ty, body)) = plain {
        return (
            [
                (header::CONTENT_TYPE, *ty),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response();
    }
    match table().files.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => (
            [
                (header::CONTENT_TYPE, *ty),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
