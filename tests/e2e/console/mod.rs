//! The web console (SPEC §10) in a real headless Chromium, driven over WebDriver
//! (chromedriver), against a real `ikrar serve` on loopback.
//!
//! Without a browser these tests skip with a message; in CI (`CI=true`) or with
//! `IKRAR_REQUIRE_BROWSER=1` they fail instead. axe-core is looked for where
//! `scripts/fetch-axe` puts it (or at `IKRAR_AXE_JS`), with the same rule.
//!
//! - `pages`: every page with its hooks, the dashboard against `ikrar summary`, filters and
//!   paging, the basis bar, JavaScript errors, axe-core and 360 px on every page;
//! - `proofs`: badges `verified`, `failed` for an altered proof and for another pinned key,
//!   and the verifier module against a bundle the Rust code made;
//! - `recording`: the forms, roles, a bad date, CSRF, the live feed;
//! - `tls`: HTTPS with `--tls-cert` and `--tls-key`, and `Secure` cookies;
//! - `witnesses`: cosignatures checked in the browser against the witnesses' keys, a forged one
//!   refused, and a killed witness's alarm on the dashboard and in `/metrics`.

mod harness;
mod pages;
mod proofs;
mod recording;
mod tls;
mod witnesses;
