//! `ikrar import-snapshots`: a tracker's successive snapshots as events (SPEC §12), a thin layer
//! over `ikrar-import`.

use std::path::{Path, PathBuf};

use clap::Args;
use ikrar_core::{AppendOutcome, InputEvent, Record};
use ikrar_import::{Error, Mapping, Options, Plan, Recorded, Step, Target};
use serde_json::{json, Value};

use super::print_json;
use crate::access::remote::RemoteError;
use crate::access::Access;
use crate::failure::{exit, Failure};
use crate::output::{progress, Format};
use crate::render;

/// The help's example: a complete mapping, the one SPEC §12 gives for the Canada tracker.
pub fn after_help() -> String {
    format!(
        "Each snapshot is compared with what the ledger already holds for the mapping: new keys\n\
are made, changed labels change the status, changed fields amend, keys gone are retracted (or\n\
withdrawn, or kept). Event ids derive from the mapping's namespace, the key and the snapshot, so\n\
running an import again records nothing new, and a stopped import is completed by running it\n\
again. Bad input (mapping, snapshot, row) is exit 2, and nothing is written.\n\n\
Examples:\n  \
ikrar import-snapshots --mapping tracker.toml 2024-01-31=jan.csv 2024-02-29=feb.csv\n  \
ikrar import-snapshots --mapping tracker.toml --manifest snapshots.csv --dry-run\n  \
ikrar import-snapshots --mapping tracker.toml --git ./tracker:data/promises.json\n\n\
A complete mapping (TOML):\n\n{}",
        ikrar_import::EXAMPLE_MAPPING
    )
}

/// `ikrar import-snapshots`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The mapping (TOML): where the rows are, the key, the fields, the labels.
    #[arg(long, value_name = "FILE")]
    pub mapping: PathBuf,
    /// Snapshots as DATE=FILE, oldest first (CSV, JSON or YAML by extension).
    #[arg(value_name = "DATE=FILE")]
    pub snapshots: Vec<String>,
    /// A CSV file of `date,file[,url]` lines naming the snapshots (files relative to it).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Every commit of a git repository that changed PATH, oldest first, dated by commit time.
    #[arg(long, value_name = "REPO:PATH")]
    pub git: Option<String>,
    /// Skip, with a warning naming each, snapshots that do not parse or hold no rows.
    #[arg(long)]
    pub skip_unreadable: bool,
    /// Print what would be recorded per snapshot (with --format jsonl, the events); write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn failure(e: Error) -> Failure {
    match e {
        Error::Ledger { place, source }
            if !matches!(*source, ikrar_core::Error::Validation { .. }) =>
        {
            let mut f = Failure::from(*source);
            if place.snapshot.is_some() {
                f.message = format!("{place}: {}", f.message);
            }
            f
        }
        e if e.is_bad_input() => {
            let kind = match &e {
                Error::Usage(_) => "usage",
                _ => "validation",
            };
            Failure::new(kind, exit::BAD_INPUT, e.to_string()).with_context("nothing was written")
        }
        e => Failure::new("io", exit::OPERATIONAL, e.to_string()),
    }
}

fn snapshots(args: &ImportArgs) -> Result<Vec<ikrar_import::Snapshot>, Failure> {
    let given = [
        !args.snapshots.is_empty(),
        args.manifest.is_some(),
        args.git.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(super::usage(
            "name the snapshots one way: DATE=FILE arguments, --manifest FILE, or --git REPO:PATH",
        ));
    }
    let read = if let Some(manifest) = &args.manifest {
        ikrar_import::snapshots_from_manifest(manifest)
    } else if let Some(git) = &args.git {
        ikrar_import::snapshots_from_git(git)
    } else {
        ikrar_import::snapshots_from_args(&args.snapshots)
    };
    read.map_err(failure)
}

fn mapping(file: &Path) -> Result<Mapping, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::bad_input(format!("cannot read the mapping {}: {e}", file.display()))
            .with_context("nothing was written")
    })?;
    Mapping::from_toml(&text, &file.display().to_string()).map_err(failure)
}

fn step_json(step: &Step, recorded: Option<&Recorded>) -> Value {
    let mut v = json!({
        "snapshot": step.name, "date": step.date, "sha256": step.sha256, "rows": step.rows,
        "made": step.counts.made, "status_changed": step.counts.status_changed,
        "amended": step.counts.amended, "retracted": step.counts.retracted,
        "withdrawn": step.counts.withdrawn, "new_events": step.events.len(),
        "already_recorded": step.already_recorded,
    });
    if let Some(r) = recorded {
        v["tree_size"] = json!(r.tree_size);
    }
    v
}

/// `1 snapshot`, `2 snapshots`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn print_table(plan: &Plan, recorded: Option<&[Recorded]>) {
    let mut header = vec![
        "snapshot",
        "date",
        "rows",
        "made",
        "status",
        "amended",
        "retracted",
        "withdrawn",
        "already",
    ];
    if recorded.is_some() {
        header.push("tree size");
    }
    let mut t = render::table(&header);
    for (i, s) in plan.steps.iter().enumerate() {
        let c = &s.counts;
        let mut row = vec![
            s.name.clone(),
            s.date.to_string(),
            s.rows.to_string(),
            c.made.to_string(),
            c.status_changed.to_string(),
            c.amended.to_string(),
            c.retracted.to_string(),
            c.withdrawn.to_string(),
            s.already_recorded.to_string(),
        ];
        if let Some(r) = recorded {
            row.push(r[i].tree_size.to_string());
        }
        t.add_row(row);
    }
    outln!("{t}");
}

pub(super) async fn run(
    path: &Path,
    args: ImportArgs,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let mapping = mapping(&args.mapping)?;
    let snapshots = snapshots(&args)?;
    match Access::open(path)? {
        Access::Direct(direct) => {
            let dry_run = args.dry_run;
            import(direct.ledger(), &mapping, snapshots, args, actor, format).await?;
            // As after `ikrar append`: the next process loads the index instead of reading
            // the log to build it.
            if !dry_run {
                super::append_file::keep_index(direct.ledger());
            }
            Ok(())
        }
        // Beside a running server (SPEC §7.1): the log read once through its socket, the
        // events checked and appended through it.
        access => {
            let through = ThroughServer::read(&access).await?;
            import(&through, &mapping, snapshots, args, actor, format).await
        }
    }
}

/// The ledger behind a running server, as the importer uses it.
struct ThroughServer<'a> {
    access: &'a Access,
    /// The log, read once (the importer folds it once, on a thread of its own).
    records: std::sync::Mutex<Option<Vec<Record>>>,
}

impl<'a> ThroughServer<'a> {
    async fn read(access: &'a Access) -> Result<ThroughServer<'a>, Failure> {
        let mut records = Vec::new();
        access
            .records(0, u64::MAX, false, &mut |json, position| {
                let record = Record::decode(json.as_bytes()).map_err(|e| {
                    std::io::Error::other(format!(
                        "the server sent a record at position {position} that does not decode: {e}"
                    ))
                })?;
                records.push(record);
                Ok(())
            })
            .await?;
        Ok(ThroughServer {
            access,
            records: std::sync::Mutex::new(Some(records)),
        })
    }
}

/// A failure of the server's transport as the library's I/O error (exit 1); the library's own
/// errors, rebuilt from the API's answer, as they are.
fn core_error(e: RemoteError) -> ikrar_core::Error {
    match e {
        RemoteError::Core(e) => e,
        RemoteError::Other(f) => ikrar_core::Error::Io(std::io::Error::other(f.message)),
    }
}

impl Target for ThroughServer<'_> {
    fn for_each_record(&self, each: &mut dyn FnMut(Record)) -> Result<(), ikrar_core::Error> {
        // Handed over once (the importer folds the log once); a second call must not see an
        // empty log.
        let records = self
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                ikrar_core::Error::Io(std::io::Error::other(
                    "the log read through the server was already handed over",
                ))
            })?;
        records.into_iter().for_each(each);
        Ok(())
    }

    fn append_events_max(&self) -> usize {
        crate::access::REMOTE_APPEND_EVENTS_MAX
    }

    async fn check(&self, events: Vec<InputEvent>) -> Result<(), ikrar_core::Error> {
        self.access
            .append(events, true)
            .await
            .map(|_| ())
            .map_err(core_error)
    }

    async fn append(&self, events: Vec<InputEvent>) -> Result<AppendOutcome, ikrar_core::Error> {
        self.access.append(events, false).await.map_err(core_error)
    }

    async fn tree_size(&self) -> Result<u64, ikrar_core::Error> {
        self.access
            .tree_size()
            .await
            .map_err(|f| ikrar_core::Error::Io(std::io::Error::other(f.message)))
    }
}

async fn import(
    ledger: &impl Target,
    mapping: &Mapping,
    snapshots: Vec<ikrar_import::Snapshot>,
    args: ImportArgs,
    actor: &str,
    format: Format,
) -> Result<(), Failure> {
    let options = Options {
        skip_unreadable: args.skip_unreadable,
        ..Options::new(actor)
    };
    let started = std::time::Instant::now();
    let reading = progress(snapshots.len() as u64, "reading");
    if !args.dry_run {
        return record(
            ledger, mapping, snapshots, &options, format, reading, started,
        )
        .await;
    }
    let plan =
        ikrar_import::plan_with_progress(ledger, mapping, snapshots, &options, &mut |done, _| {
            reading.set_position(done as u64)
        })
        .await
        .map_err(failure)?;
    reading.finish_and_clear();
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    {
        match format {
            Format::Jsonl => {
                for step in &plan.steps {
                    for event in &step.events {
                        outln!("{}", event.to_json());
                    }
                }
            }
            Format::Table | Format::Csv => {
                print_table(&plan, None);
                outln!(
                    "dry run: {} from {} ({}); nothing was written",
                    count(plan.new_events(), "new event"),
                    count(plan.steps.len(), "snapshot"),
                    count(plan.rows(), "row")
                );
            }
            Format::Json => print_json(&json!({
                "dry_run": true,
                "snapshots": plan.steps.iter().map(|s| step_json(s, None)).collect::<Vec<_>>(),
                "rows": plan.rows(), "new_events": plan.new_events(),
                "warnings": plan.warnings,
            })),
        }
    }
    Ok(())
}

/// The import proper: planned and recorded ([`ikrar_import::import`]), then the summary.
async fn record(
    ledger: &impl Target,
    mapping: &Mapping,
    snapshots: Vec<ikrar_import::Snapshot>,
    options: &Options,
    format: Format,
    reading: indicatif::ProgressBar,
    started: std::time::Instant,
) -> Result<(), Failure> {
    let mut recording: Option<indicatif::ProgressBar> = None;
    let outcome = ikrar_import::import(
        ledger,
        mapping,
        snapshots,
        options,
        ikrar_import::Progress {
            reading: &mut |done, _| reading.set_position(done as u64),
            recording: &mut |done, total| {
                recording
                    .get_or_insert_with(|| progress(total as u64, "recording"))
                    .set_position(done as u64)
            },
        },
    )
    .await;
    reading.finish_and_clear();
    if let Some(bar) = recording {
        bar.finish_and_clear();
    }
    let (plan, recorded) = outcome.map_err(|e| {
        let ledger_failed = matches!(e, Error::Ledger { .. });
        let mut f = failure(e);
        if ledger_failed && f.code != exit::BAD_INPUT {
            // The ledger failing (I/O, a conflict with another writer): an import that was one
            // chain of appends wrote nothing, one recorded snapshot by snapshot keeps what it
            // recorded; either way a rerun completes it.
            f.context = vec![
                "nothing of a snapshot is written unless all of it is; run the same import again to complete it"
                    .to_string(),
            ];
        }
        f
    })?;
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    let tree_size = match recorded.last() {
        Some(r) => r.tree_size,
        None => ledger.tree_size().await?,
    };
    match format {
        Format::Table | Format::Csv => {
            print_table(&plan, Some(&recorded));
            outln!(
                "recorded {} from {} ({}, {:.1} s); tree size {tree_size}",
                count(recorded.iter().map(|r| r.new_events).sum(), "new event"),
                count(plan.steps.len(), "snapshot"),
                count(plan.rows(), "row"),
                started.elapsed().as_secs_f64()
            );
        }
        _ => print_json(&json!({
            "snapshots": plan.steps.iter().zip(&recorded).map(|(s, r)| step_json(s, Some(r))).collect::<Vec<_>>(),
            "rows": plan.rows(),
            "new_events": recorded.iter().map(|r| r.new_events).sum::<usize>(),
            "tree_size": tree_size,
            "warnings": plan.warnings,
        })),
    }
    Ok(())
}
