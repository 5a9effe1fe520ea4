//! One function per command, each a thin layer over the library.

pub(crate) mod import_snapshots;
mod integrity;
mod ledger;
mod query;
mod record;
mod serve;

use std::path::Path;

use ikrar_core::Ledger;
use ikrar_state::Projection;
use uuid::Uuid;

use crate::args::{Cli, Command};
use crate::failure::{exit, Failure};
use crate::output::{progress, Format};

pub async fn run(cli: Cli, format: Format) -> Result<(), Failure> {
    let path = cli.global.ledger.clone();
    let actor = default_actor(cli.global.actor.clone());
    match cli.command {
        Command::Init => ledger::init(&path, format),
        Command::Demo => record::demo(&path, format).await,
        Command::Append { file, dry_run } => {
            ledger::append(&path, &file, dry_run, &actor, format).await
        }
        Command::ImportSnapshots(args) => import_snapshots::run(&path, args, &actor, format).await,
        Command::Log {
            from,
            limit,
            follow,
        } => ledger::log(&path, from, limit, follow).await,
        Command::Export { file } => ledger::export(&path, file.as_deref()),
        Command::Verify => ledger::verify(&path, format),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ikrar", &mut std::io::stdout());
            Ok(())
        }
        Command::List {
            status,
            party,
            basis,
        } => query::list(&path, status, party, &basis, format),
        Command::Show { id, basis } => query::show(&path, &id, &basis, format),
        Command::History { id } => query::history(&path, &id, format),
        Command::Summary { basis } => query::summary(&path, &basis, format),
        Command::Diff { from, to, known_at } => {
            query::diff(&path, &from, &to, known_at.as_deref(), format)
        }
        Command::Actors => query::actors(&path, format),
        Command::Rebuild => query::rebuild(&path, format),
        Command::Import {
            file,
            checkpoint,
            public_key,
        } => {
            integrity::import(
                &path,
                &file,
                checkpoint.as_deref(),
                public_key.as_deref(),
                format,
            )
            .await
        }
        Command::Keygen { file, name } => integrity::keygen(&file, &name, format),
        Command::Checkpoint { key } => integrity::checkpoint(&path, &key, format),
        Command::Prove {
            event_id,
            consistency,
            size,
        } => integrity::prove(&path, event_id.as_deref(), consistency, size),
        Command::CheckProof { file, public_key } => {
            integrity::check_proof(&file, &public_key, format)
        }
        Command::Serve { listen, tokens } => serve::serve(&path, listen, tokens.as_deref()).await,
        Command::Token {
            command: crate::args::TokenCommand::Add { name, role, tokens },
        } => serve::token_add(&name, &role, &tokens, format),
        recording => record::run(&path, recording, &actor, format).await,
    }
}

/// `--actor`, else `$IKRAR_ACTOR` (handled by clap), else the OS user.
fn default_actor(actor: Option<String>) -> String {
    actor
        .filter(|a| !a.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string(value).expect("views always serialise")
    );
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::new("usage", exit::BAD_INPUT, message)
}

/// Opens the ledger and its state projection, catching the projection up (with a progress bar
/// on a terminal when there is much to apply).
fn open_state(path: &Path) -> Result<Projection, Failure> {
    let ledger = Ledger::open(path)?;
    let bar = progress(0, "projecting");
    let projection = Projection::open_with_progress(&ledger, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .map_err(state_failure)?;
    bar.finish_and_clear();
    Ok(projection)
}

fn state_failure(e: ikrar_state::Error) -> Failure {
    match e {
        ikrar_state::Error::Core(core) => Failure::from(core),
        ikrar_state::Error::InvalidBasis { .. } => usage(e.to_string()),
        ikrar_state::Error::NotFound { .. } => {
            Failure::new("not_found", exit::OPERATIONAL, e.to_string())
        }
        ikrar_state::Error::Projection(_) => {
            Failure::new("projection", exit::OPERATIONAL, e.to_string()).with_context(
                "projections are caches: `ikrar rebuild` makes them again from the log",
            )
        }
        #[allow(unreachable_patterns)]
        other => Failure::new("error", exit::OPERATIONAL, other.to_string()),
    }
}

/// Parses a full id, or finds the one commitment or meeting whose id starts with `text`.
fn resolve_id(projection: &Projection, text: &str) -> Result<Uuid, Failure> {
    if let Ok(id) = Uuid::parse_str(text) {
        return Ok(id);
    }
    let prefix = text.to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(usage(format!(
            "`{text}` is not an id (a UUID, or a unique prefix of at least 4 hex digits)"
        )));
    }
    let matches = projection.ids_with_prefix(&prefix);
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Failure::new(
            "not_found",
            exit::OPERATIONAL,
            format!("no commitment or meeting id starts with `{text}`"),
        )),
        many => Err(usage(format!(
            "`{text}` is ambiguous: {} ids start with it",
            many.len()
        ))),
    }
}
