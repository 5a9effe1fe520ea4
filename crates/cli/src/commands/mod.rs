//! One function per command, each a thin layer over the library.

mod append_file;
mod demo;
pub(crate) mod import_snapshots;
mod integrity;
mod ledger;
mod query;
mod record;
mod serve;
mod suggest;
mod witness;

use uuid::Uuid;

use crate::access::{Access, Kind};
use crate::args::{Cli, Command};
use crate::failure::{exit, Failure};
use crate::output::Format;

pub async fn run(cli: Cli, format: Format) -> Result<(), Failure> {
    let path = cli.global.ledger.clone();
    let actor = default_actor(cli.global.actor.clone());
    match cli.command {
        Command::Init => ledger::init(&path, format),
        Command::Demo { dataset } => demo::demo(&path, dataset, format).await,
        Command::Append { file, dry_run } => {
            ledger::append(&path, &file, dry_run, &actor, format).await
        }
        Command::ImportSnapshots(args) => import_snapshots::run(&path, args, &actor, format).await,
        Command::Log {
            from,
            limit,
            follow,
        } => ledger::log(&path, from, limit, follow).await,
        Command::Export { file } => ledger::export(&path, file.as_deref()).await,
        Command::Verify => ledger::verify(&path, format).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "ikrar", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(())
        }
        Command::List { filter, basis } => query::list(&path, &filter, &basis, format).await,
        Command::Meetings {
            commitment,
            from,
            to,
            search,
            limit,
            offset,
            basis,
        } => {
            let args = query::MeetingsArgs {
                commitment,
                from,
                to,
                search,
                limit,
                offset,
            };
            query::meetings(&path, args, &basis, format).await
        }
        Command::Show { id, basis } => query::show(&path, &id, &basis, format).await,
        Command::History { id } => query::history(&path, &id, format).await,
        Command::Summary { basis } => query::summary(&path, &basis, format).await,
        Command::Diff { from, to, known_at } => {
            query::diff(&path, &from, &to, known_at.as_deref(), format).await
        }
        Command::Actors => query::actors(&path, format).await,
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
        Command::Checkpoint { key } => integrity::checkpoint(&path, &key, format).await,
        Command::Prove {
            event_id: Some(id),
            consistency: None,
            size,
        } if cli.global.format == Some(crate::args::FormatArg::TlogProof) => {
            witness::prove_receipt(&path, &id, size).await
        }
        Command::Prove {
            event_id,
            consistency,
            size,
        } => integrity::prove(&path, event_id.as_deref(), consistency, size).await,
        Command::CheckProof {
            file,
            public_key,
            policy,
            witness_key,
            quorum,
        } => {
            let trust = witness::Trust {
                public_key,
                policy,
                witness_keys: witness_key,
                quorum,
            };
            match witness::check_receipt(&file, &trust, format)? {
                None => Ok(()),
                Some(bundle) => {
                    let key = trust.public_key.as_deref().ok_or_else(|| {
                        usage("--public-key is needed to check a JSON proof bundle")
                    })?;
                    integrity::check_proof_text(&bundle, key, format)
                }
            }
        }
        Command::Serve {
            listen,
            tokens,
            connections_max,
            header_timeout,
            log_format,
            checkpoint_key,
            checkpoint_interval,
            witnesses,
            web,
            no_tile_files,
            projection_in_memory,
        } => {
            let publishing =
                witness::publishing(checkpoint_key.as_deref(), &checkpoint_interval, &witnesses)?;
            let options = serve::ServeOptions {
                listen,
                tokens,
                connections_max,
                header_timeout,
                log_format,
                web,
                tile_files: !no_tile_files,
                projection_in_memory,
            };
            serve::serve(&path, options, publishing).await
        }
        Command::Witness { command } => witness::run(command, format).await,
        Command::Token { command } => serve::token(command, format),
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
    outln!(
        "{}",
        serde_json::to_string(value).expect("views always serialise")
    );
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::new("usage", exit::BAD_INPUT, message)
}

pub(crate) fn state_failure(e: ikrar_state::Error) -> Failure {
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
    }
}

pub(crate) fn audit_failure(e: ikrar_audit::Error) -> Failure {
    match e {
        ikrar_audit::Error::Core(core) => Failure::from(core),
        e @ ikrar_audit::Error::ProofFailed(_) => {
            Failure::new("integrity", exit::INTEGRITY, e.to_string())
        }
        e @ ikrar_audit::Error::MalformedBundle(_) => {
            Failure::new("validation", exit::BAD_INPUT, e.to_string())
        }
        e => Failure::new("not_found", exit::OPERATIONAL, e.to_string()),
    }
}

/// Ids shown in tables are at least this many characters of the id (`0194a1c2-7f00`: a
/// UUIDv7's millisecond), longer where another id shown shares them (see
/// [`crate::render::ShortIds`]); any unique prefix is accepted wherever an id is taken.
pub(crate) const SHORT_ID_CHARS: usize = 13;

/// Parses a full id, or finds the one id of the wanted kinds that starts with `text`. An
/// ambiguous prefix lists the candidates (exit 2).
pub(crate) async fn resolve_id(
    access: &Access,
    text: &str,
    wanted: &[Kind],
) -> Result<(Uuid, Kind), Failure> {
    let names: Vec<&str> = wanted.iter().map(|k| Access::kind_name(*k)).collect();
    let what = names.join(" or ");
    let prefix = text.trim().to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(usage(format!(
            "`{text}` is not a {what} id (a UUID, or a unique prefix of at least 4 hex digits)"
        )));
    }
    let matches = access.ids_with_prefix(&prefix, wanted).await?;
    if let Ok(id) = Uuid::parse_str(&prefix) {
        // A whole id: its kind if it is known, else taken as given (the library says whether
        // it exists, in its own words).
        let kind = matches
            .iter()
            .find(|(m, _)| *m == id)
            .map_or(wanted[0], |(_, k)| *k);
        return Ok((id, kind));
    }
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Failure::new(
            "not_found",
            exit::OPERATIONAL,
            format!("no {what} id starts with `{text}`"),
        )),
        many => {
            let mut f = usage(format!(
                "`{text}` is ambiguous: {} ids start with it; give more of it",
                many.len()
            ));
            for (id, kind) in many {
                f = f.with_context(format!("{id}  ({})", Access::kind_name(*kind)));
            }
            Err(f)
        }
    }
}

/// The ids of the ledger (commitments, meetings, events) that share the first
/// [`SHORT_ID_CHARS`] characters of one of `ids`, so that the short ids a table shows are unique
/// in the whole ledger, not just among its rows. Where more ids share a start than one lookup
/// answers, the id is shown whole.
pub(crate) async fn look_alikes(
    access: &Access,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<Uuid>, Failure> {
    let mut prefixes: Vec<String> = ids
        .into_iter()
        .map(|id| id.to_string()[..SHORT_ID_CHARS].to_string())
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    let mut out = Vec::new();
    for prefix in prefixes {
        let found = access
            .ids_with_prefix(&prefix, &[Kind::Commitment, Kind::Meeting, Kind::Event])
            .await?;
        let capped = found.len() >= ikrar_server::IDS_PER_PREFIX_MAX;
        out.extend(found.into_iter().map(|(id, _)| id));
        if capped {
            // Too many to tell apart here: a twin that differs only in its last digit makes
            // every id of this start show whole.
            if let Some(twin) = twin_of(&prefix) {
                out.push(twin);
            }
        }
    }
    Ok(out)
}

/// An id that shares all but the last digit with any id starting with `prefix`: with it among
/// the ids given, [`crate::render::ShortIds`] shows those ids whole.
fn twin_of(prefix: &str) -> Option<Uuid> {
    let filler = "0".repeat(36 - prefix.len());
    let mut text = format!("{prefix}{filler}");
    // Keep the dashes where a UUID has them.
    for at in [8, 13, 18, 23] {
        if at >= prefix.len() {
            text.replace_range(at..at + 1, "-");
        }
    }
    Uuid::parse_str(&text).ok()
}
