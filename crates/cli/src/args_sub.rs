//! The grammar of the commands that have commands of their own: `ikrar witness …` and
//! `ikrar token …`.

use std::path::PathBuf;

use clap::Subcommand;

/// `ikrar witness …`.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Make a witness directory with a new cosigning key; prints its verifier key.
    Init {
        /// The directory (created; refused if it holds a witness).
        dir: PathBuf,
        /// The witness's name (e.g. witness.example.org/w1).
        #[arg(long)]
        name: String,
    },
    /// Trust a log: cosign checkpoints of ORIGIN signed by VKEY.
    AddLog {
        /// The witness directory.
        dir: PathBuf,
        /// The log's origin line.
        #[arg(long)]
        origin: String,
        /// The log's verifier key, or a file holding it.
        #[arg(long)]
        public_key: String,
    },
    /// Answer `POST /add-checkpoint` until SIGTERM or Ctrl-C.
    Serve {
        /// The witness directory.
        dir: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: std::net::SocketAddr,
    },
}

/// `ikrar token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a random token, print it once, and store its SHA-256 in the tokens file.
    Add {
        /// Who the token is for (also the default actor of what it records).
        name: String,
        /// reader (may read) or recorder (may read and append).
        #[arg(long)]
        role: String,
        /// The tokens file (created if missing).
        #[arg(long)]
        tokens: PathBuf,
    },
    /// Print the names, roles and hash prefixes of the tokens (never the tokens).
    List {
        /// The tokens file.
        #[arg(long)]
        tokens: PathBuf,
    },
    /// Remove a token by name; a running server refuses it from its next request on.
    Revoke {
        /// The token's name.
        name: String,
        /// The tokens file.
        #[arg(long)]
        tokens: PathBuf,
    },
}
