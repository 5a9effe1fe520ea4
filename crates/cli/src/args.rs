//! The command line's grammar (SPEC §6).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::args_sub::{TokenCommand, WitnessCommand};

const AFTER_HELP: &str = "\
Dates are YYYY-MM-DD or RFC 3339 instants. A date used as --as-of or --known-at means the end of
that day (UTC); a date used as --effective means its start.

Exit codes: 0 success, 1 operational error (I/O, ledger locked, not found), 2 bad input or usage
(nothing written), 3 integrity failure, 4 conflict (expected version or event id).

Getting started:
  ikrar demo                         record the 2025 master plan of Korea's foreign ministry
  ikrar list                         commitments as of now
  ikrar show <ID>                    one commitment or meeting
  ikrar history <ID>                 every event recorded about it, with retractions
  ikrar summary --as-of 2025-06-30   counts as of a past date, as known now
  ikrar verify                       re-read and re-hash the whole ledger";

/// ikrar — an append-only, verifiable ledger of public commitments.
///
/// Every commitment, meeting and status change is recorded as an immutable event; nothing is
/// ever edited or deleted, and mistakes are corrected by new events that stay visible.
#[derive(Debug, Parser)]
#[command(name = "ikrar", version, propagate_version = true, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The ledger: a directory (sled, the embedded default), or a PostgreSQL URL
    /// (`postgres://user@host/database`) for a ledger several processes share.
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
    /// JSON Lines: one object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
    /// A C2SP tlog-proof receipt (`ikrar prove` only).
    TlogProof,
}

/// The basis of a query (SPEC §4.1).
#[derive(Debug, Clone, Args)]
pub struct BasisArgs {
    /// Valid time: what was true at this date or instant (default: now, or --known-at's instant).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Transaction time: what the ledger knew — a tree size N, or a date or instant.
    #[arg(long, value_name = "N|DATE")]
    pub known_at: Option<String>,
}

/// The filters of `ikrar list` (SPEC §6).
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only this status.
    #[arg(long)]
    pub status: Option<String>,
    /// Only this counterparty.
    #[arg(long)]
    pub party: Option<String>,
    /// Only this theme.
    #[arg(long)]
    pub theme: Option<String>,
    /// Only this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Words of the title or summary (each matches the start of a word; case- and
    /// accent-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only commitments due before this day.
    #[arg(long, value_name = "DATE")]
    pub due_before: Option<String>,
    /// Only overdue commitments: due before --as-of and not fulfilled, partially fulfilled,
    /// withdrawn or superseded.
    #[arg(long)]
    pub overdue: bool,
    /// The order: recorded (default), made, due, status_since (most recent first) or title.
    #[arg(long, value_name = "ORDER")]
    pub sort: Option<String>,
    /// Print at most this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Skip this many first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: usize,
}

/// Where a fact comes from, for recording commands.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The source's URL.
    #[arg(long)]
    pub source_url: Option<String>,
    /// The source's title.
    #[arg(long)]
    pub source_title: Option<String>,
    /// Who published the source.
    #[arg(long)]
    pub source_publisher: Option<String>,
    /// When the source was published (date or instant).
    #[arg(long)]
    pub source_published: Option<String>,
    /// Who wrote the source.
    #[arg(long)]
    pub source_author: Option<String>,
    /// The source's language (e.g. `id`, `en`).
    #[arg(long)]
    pub source_lang: Option<String>,
    /// The words of the source the event rests on.
    #[arg(long)]
    pub source_quote: Option<String>,
}

/// Options every recording command shares.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Validate against the ledger and print what would be recorded, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why this is recorded.
    #[arg(long)]
    pub reason: Option<String>,
    /// A fixed event id, so that running the command again changes nothing.
    #[arg(long)]
    pub event_id: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty ledger (refuses to overwrite anything).
    Init,
    /// Record a demo dataset and print the summary; running it twice changes nothing.
    ///
    /// Without an argument, the seed article: the 2025 master plan of Korea's foreign ministry
    /// (korea.kr). `canada`: the Government of Canada's Mandate Letter Tracker of November 2017,
    /// 364 commitments with the government's own statuses (MIT, Treasury Board Secretariat).
    Demo {
        /// Which dataset.
        #[arg(value_enum, default_value_t = DemoSet::Korea)]
        dataset: DemoSet,
    },
    /// Record a new commitment (`commitment_made`); prints its id.
    Commit {
        /// What was committed to (1–500 characters).
        #[arg(long)]
        title: String,
        /// The day it was made.
        #[arg(long, value_name = "DATE")]
        made_on: String,
        /// A counterparty (repeatable).
        #[arg(long = "party", value_name = "PARTY")]
        parties: Vec<String>,
        /// A theme (repeatable).
        #[arg(long = "theme", value_name = "THEME")]
        themes: Vec<String>,
        /// When it is due.
        #[arg(long, value_name = "DATE")]
        due: Option<String>,
        /// The body that made it.
        #[arg(long)]
        owner: Option<String>,
        /// A longer description.
        #[arg(long)]
        summary: Option<String>,
        /// A fixed commitment id (default: a new UUIDv7).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// Record a status change of a commitment.
    Status {
        /// The commitment.
        id: String,
        /// announced, in_progress, at_risk, fulfilled, partially_fulfilled, broken, withdrawn or
        /// superseded.
        status: String,
        /// The source's own word for it (e.g. "Achieved").
        #[arg(long)]
        label: Option<String>,
        /// When the change took effect (default: now).
        #[arg(long, value_name = "DATE")]
        effective: Option<String>,
        /// Refuse unless the commitment's stream is at this version.
        #[arg(long, value_name = "VERSION")]
        expected_version: Option<String>,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// Record an amendment of a commitment: the given fields replace the old ones.
    Amend {
        /// The commitment.
        id: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New due date.
        #[arg(long, value_name = "DATE")]
        due: Option<String>,
        /// New counterparties (repeatable; replaces the whole list).
        #[arg(long = "party", value_name = "PARTY")]
        parties: Vec<String>,
        /// New themes (repeatable; replaces the whole list).
        #[arg(long = "theme", value_name = "THEME")]
        themes: Vec<String>,
        /// New owner.
        #[arg(long)]
        owner: Option<String>,
        /// New summary.
        #[arg(long)]
        summary: Option<String>,
        /// When the amendment took effect (default: now).
        #[arg(long, value_name = "DATE")]
        effective: Option<String>,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// Record a meeting (`meeting_held`); prints its id.
    Meeting {
        /// What the meeting was.
        #[arg(long)]
        title: String,
        /// When it was held (date or instant).
        #[arg(long, value_name = "DATE")]
        held_on: String,
        /// Where.
        #[arg(long)]
        location: Option<String>,
        /// "Name; Role; Organisation" (repeatable; role and organisation optional).
        #[arg(long = "participant", value_name = "NAME; ROLE; ORGANISATION")]
        participants: Vec<String>,
        /// A commitment made or advanced there (repeatable).
        #[arg(long = "commitment", value_name = "ID")]
        commitments: Vec<String>,
        /// An outcome (repeatable).
        #[arg(long = "outcome", value_name = "TEXT")]
        outcomes: Vec<String>,
        /// A fixed meeting id (default: a new UUIDv7).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// Link a commitment to a meeting after the fact (`meeting_linked`).
    Link {
        /// The meeting.
        meeting_id: String,
        /// The commitment.
        commitment_id: String,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// Withdraw an event recorded in error (`event_retracted`); the event stays in the log.
    Retract {
        /// The event to withdraw.
        event_id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// Validate against the ledger and print what would be recorded, but write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        source: SourceArgs,
    },
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
    /// List commitments in a basis, filtered, sorted and paged.
    List {
        #[command(flatten)]
        filter: ListArgs,
        #[command(flatten)]
        basis: BasisArgs,
    },
    /// List meetings in a basis, by the time they were held.
    Meetings {
        /// Only meetings that name this commitment (a unique prefix will do).
        #[arg(long, value_name = "ID")]
        commitment: Option<String>,
        /// Only meetings held on or after this date or instant.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Only meetings held on or before this date (its whole day) or instant.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Words of the title, location or outcomes (each matches the start of a word; case-
        /// and accent-insensitive).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Print at most this many.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Skip this many first.
        #[arg(long, value_name = "N", default_value_t = 0)]
        offset: usize,
        #[command(flatten)]
        basis: BasisArgs,
    },
    /// Show one commitment or meeting in a basis.
    Show {
        /// A commitment or meeting id (a unique prefix will do).
        id: String,
        #[command(flatten)]
        basis: BasisArgs,
    },
    /// The audit trail of a commitment or meeting: every recorded event, with retractions.
    History {
        /// A commitment or meeting id (a unique prefix will do).
        id: String,
    },
    /// Counts by status and counterparty in a basis.
    Summary {
        #[command(flatten)]
        basis: BasisArgs,
    },
    /// What changed between two valid times.
    Diff {
        /// The earlier date or instant.
        #[arg(long, value_name = "DATE")]
        from: String,
        /// The later date or instant.
        #[arg(long, value_name = "DATE")]
        to: String,
        /// Transaction time for both: a tree size N, or a date or instant.
        #[arg(long, value_name = "N|DATE")]
        known_at: Option<String>,
    },
    /// Who recorded what: events per actor.
    Actors,
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
    /// Restore an export into an empty ledger, checking every record; with --checkpoint, the
    /// rebuilt tree must have the checkpoint's root (exit 3 otherwise).
    Import {
        /// The export (recorded JSON Lines).
        file: PathBuf,
        /// A signed checkpoint the export must match.
        #[arg(long, requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key of the checkpoint, or a file holding it.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Turn successive snapshots of a tracker's table into the events between them (SPEC §12).
    #[command(after_help = crate::commands::import_snapshots::after_help())]
    ImportSnapshots(crate::commands::import_snapshots::ImportArgs),
    /// Write a new Ed25519 signer key to FILE (mode 0600) and its verifier key to FILE.pub and
    /// standard output.
    Keygen {
        /// Where to write the signer key; must not exist.
        file: PathBuf,
        /// The key name, also the origin of the checkpoints it signs (e.g. example.org/ikrar).
        #[arg(long, default_value = "ikrar")]
        name: String,
    },
    /// Sign a checkpoint of the current tree with a signer key, store it, and print it.
    Checkpoint {
        /// The signer key file written by `ikrar keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Print a proof bundle: an event's inclusion, or with --consistency, that the tree of size
    /// M is a prefix; against the stored checkpoint of size N (default: the latest).
    Prove {
        /// The event whose inclusion to prove.
        #[arg(
            required_unless_present = "consistency",
            conflicts_with = "consistency"
        )]
        event_id: Option<String>,
        /// Prove that the tree of this size is a prefix instead.
        #[arg(long, value_name = "M")]
        consistency: Option<u64>,
        /// The size of the checkpoint to prove against.
        #[arg(long, value_name = "N")]
        size: Option<u64>,
    },
    /// Check a proof bundle offline, with the verifier key alone.
    CheckProof {
        /// The bundle (`-` for standard input).
        file: PathBuf,
        /// The log's verifier key, or a file holding it (optional for a receipt checked
        /// with --policy, which names the log).
        #[arg(long)]
        public_key: Option<String>,
        /// A C2SP tlog-policy file: the log and witness keys and the quorum a receipt needs.
        #[arg(long, conflicts_with_all = ["witness_key", "quorum"])]
        policy: Option<PathBuf>,
        /// A witness's cosignature verifier key (or a file holding it); repeatable.
        #[arg(long = "witness-key", value_name = "VKEY")]
        witness_key: Vec<String>,
        /// How many of the --witness-key witnesses must have cosigned (default: all of them).
        #[arg(long, value_name = "K")]
        quorum: Option<usize>,
    },
    /// Rebuild the derived projections from the log (they are caches; answers do not change).
    Rebuild,
    /// Serve the HTTP API (SPEC §7) until SIGTERM or Ctrl-C; also on the Unix socket
    /// `ikrar.sock` in the ledger directory, through which every CLI command on that ledger
    /// works while the server holds it.
    Serve {
        /// The address to listen on. Without --tokens only loopback addresses are accepted.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// The tokens file (`ikrar token add`); without it, access is open and loopback only.
        /// Changes to it take effect without a restart.
        #[arg(long)]
        tokens: Option<PathBuf>,
        /// Connections served at once at most; more are refused with 503 at once. Lowered if
        /// need be to keep file descriptors for the storage.
        #[arg(long, value_name = "N", default_value_t = 512)]
        connections_max: usize,
        /// The longest a client may take to send a request's headers, or sit idle between
        /// requests (e.g. 10s, 500ms).
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
        header_timeout: std::time::Duration,
        /// Log lines as text for people or JSON for log collectors.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        #[command(flatten)]
        web: WebArgs,
        /// Sign and store checkpoints with this key (`ikrar keygen`) as the tree grows.
        #[arg(long, value_name = "FILE")]
        checkpoint_key: Option<PathBuf>,
        /// At most one checkpoint per interval (`10s`, `500ms`, `1m`).
        #[arg(long, default_value = "10s", value_name = "DURATION")]
        checkpoint_interval: String,
        /// A witness to submit each checkpoint to: its submission prefix and its verifier key;
        /// repeatable.
        #[arg(long = "witness", value_name = "URL=VKEY", requires = "checkpoint_key")]
        witnesses: Vec<String>,
        /// Do not keep full tiles as files in `LEDGER/log/` (they make `/log/` answer from one
        /// file read, and take as much disk as the records); serve them from the database
        /// alone.
        #[arg(long)]
        no_tile_files: bool,
        /// Hold the projection whole in memory once a list has read it, however large the
        /// ledger: lists and console pages answer from memory, at about 2.7 times the size of
        /// `LEDGER/projections/snapshot`. By default a snapshot over 64 MiB (about 1.5
        /// million events) is read one timeline at a time for each list, in bounded memory.
        #[arg(long)]
        projection_in_memory: bool,
    },
    /// Run a witness for other ledgers (C2SP tlog-witness v1.0.0).
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Manage API access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per event.
    Json,
}

/// `10s`, `500ms`, `2m`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "s" => Ok(std::time::Duration::from_secs(n)),
        "m" => Ok(std::time::Duration::from_secs(n.saturating_mul(60))),
        other => Err(format!("unknown unit `{other}` in `{text}` (ms, s or m)")),
    }
}

/// The datasets of `ikrar demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoSet {
    /// The seed article (the default).
    Korea,
    /// The Canada Mandate Letter Tracker, November 2017.
    Canada,
}

/// `ikrar serve`'s options for publishing the API and the web console (SPEC §10).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebArgs {
    /// Anyone may read (the API and the console) without a token; recording still needs a
    /// recorder's token. Allowed on any address.
    #[arg(long)]
    pub public_read: bool,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}
