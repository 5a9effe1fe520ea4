//! The command line's grammar (SPEC §6).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ikrar — an append-only, verifiable ledger of public commitments.
///
/// Every commitment, meeting and status change is recorded as an immutable event; nothing is
/// ever edited or deleted. Exit codes: 0 success, 1 operational error, 2 bad input or usage,
/// 3 integrity failure, 4 conflict.
#[derive(Debug, Parser)]
#[command(name = "ikrar", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The ledger directory.
    #[arg(
        long,
        global = true,
        env = "IKRAR_LEDGER",
        default_value = "./ikrar-ledger"
    )]
    pub ledger: PathBuf,
    /// Who records events (default: $IKRAR_ACTOR, else the OS user).
    #[arg(long, global = true, env = "IKRAR_ACTOR")]
    pub actor: Option<String>,
    /// Output format (default: table on a terminal, json otherwise).
    #[arg(long, global = true, value_enum)]
    pub format: Option<FormatArg>,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned text for people.
    Table,
    /// One JSON document.
    Json,
    /// JSON Lines.
    Jsonl,
    /// Comma-separated values.
    Csv,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty ledger (refuses to overwrite anything).
    Init,
    /// Append events in the input form, one JSON object per line, all or nothing.
    ///
    /// The whole file is validated first; nothing is written if any line is bad. Files of more
    /// than 10,000 events are written in atomic batches of 10,000; if interrupted, run the same
    /// file again: events with an `event_id` already recorded are skipped.
    Append {
        /// The JSON Lines file, or `-` for standard input.
        file: PathBuf,
        /// Validate against the ledger and report, but write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print recorded events as JSON Lines, exactly as stored.
    Log {
        /// The first position to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Print at most this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
    },
    /// Write the whole ledger as recorded JSON Lines (to FILE, or standard output).
    Export {
        /// Where to write; standard output if absent.
        file: Option<PathBuf>,
    },
    /// Re-read and re-hash every record and check the whole ledger; prints tree size and root.
    Verify,
}
