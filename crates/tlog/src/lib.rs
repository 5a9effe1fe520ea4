//! # ikrar-tlog
//!
//! ikrar's ledger as a standard, witnessed transparency log (SPEC §11), by the C2SP
//! specifications: the tlog-tiles read API ([`http`], [`tiles`], [`path`], full tiles kept
//! as files by [`tile_files`]), v1 cosignatures
//! ([`cosignature`]), a tlog-witness witness ([`witness`]) and the log's client of witnesses
//! ([`client`]), tlog-proof receipts ([`receipt`]) and tlog-policy ([`policy`]).
//!
//! ```
//! use ikrar_tlog::cosignature::CosignerKey;
//! use ikrar_tlog::note::SignedNote;
//! let witness = CosignerKey::generate("witness.example/w1").unwrap();
//! let text = "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
//! let note = format!("{text}\n{}", witness.cosign(text.as_bytes(), 1_700_000_000));
//! let parsed = SignedNote::parse(note.as_bytes()).unwrap();
//! let keys = [witness.vkey()];
//! assert_eq!(parsed.verify(&keys).unwrap()[0].1, 1_700_000_000);
//! ```

pub mod client;
pub mod cosignature;
mod error;
pub mod http;
pub mod note;
pub mod path;
pub mod policy;
pub mod receipt;
pub mod tile_files;
pub mod tiles;
pub mod witness;

pub use client::{Publisher, WitnessEndpoint, WitnessStats};
pub use error::{Error, Result};
