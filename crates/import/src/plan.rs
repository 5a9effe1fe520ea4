//! An import from start to end: read every snapshot, compare each with what the ledger holds,
//! and record each snapshot's events — handed to a chain of appends as each is known, or checked
//! all first and then appended snapshot by snapshot.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use ikrar_core::{AppendOutcome, InputEvent, Moment, CHAIN_EVENTS_MAX, EVENTS_PER_APPEND_MAX};
use serde::Serialize;

use crate::diff::{self, Planned};
use crate::error::{Error, Place};
use crate::mapping::Mapping;
use crate::reader::Reader;
use crate::saved::{self, Ending, Known};
use crate::snapshot::Snapshot;
use crate::state::Kind;
use crate::target::Target;

/// How to run an import.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who records the events.
    pub actor: String,
    /// Skip, with a warning, snapshots that do not parse or hold no rows, instead of refusing
    /// the whole import.
    pub skip_unreadable: bool,
    /// The moment snapshots may not be dated after (default: now).
    pub now: Option<DateTime<Utc>>,
}

impl Options {
    /// Options for `actor`, refusing unreadable snapshots.
    pub fn new(actor: impl Into<String>) -> Options {
        Options {
            actor: actor.into(),
            skip_unreadable: false,
            now: None,
        }
    }
}

/// What one snapshot leads to, by kind of event (new events only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// `commitment_made`: keys new, or back after their retraction.
    pub made: usize,
    /// `commitment_status_changed` to the row's label.
    pub status_changed: usize,
    /// `commitment_amended`.
    pub amended: usize,
    /// `event_retracted` of a key gone (`on_missing = "retract"`).
    pub retracted: usize,
    /// Status changes to `withdrawn` of a key gone (`on_missing = "withdraw"`).
    pub withdrawn: usize,
}

/// One snapshot of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The snapshot's name.
    pub name: String,
    /// Its date as recorded (moved after the previous snapshot's where it was not).
    pub date: Moment,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// How many rows it has.
    pub rows: usize,
    /// The new events, by kind.
    pub counts: Counts,
    /// Events this snapshot leads to that the ledger holds already (a rerun, or an interrupted
    /// import being completed).
    pub already_recorded: usize,
    /// The new events, in the order they are recorded.
    pub events: Vec<InputEvent>,
    rows_of_events: Vec<Option<usize>>,
}

/// Everything an import will record (checked against the ledger by [`plan`]); nothing written
/// yet.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The snapshots read, in order (skipped ones left out).
    pub steps: Vec<Step>,
    /// What the import noticed but took as it is: snapshots skipped, dates moved.
    pub warnings: Vec<String>,
    /// The state of every key once the plan is recorded, if the plan folded every event of
    /// the mapping: kept for the next import ([`saved`]).
    ending: Option<Arc<Ending>>,
}

impl Plan {
    /// Rows read over all snapshots.
    pub fn rows(&self) -> usize {
        self.steps.iter().map(|s| s.rows).sum()
    }

    /// New events over all snapshots.
    pub fn new_events(&self) -> usize {
        self.steps.iter().map(|s| s.events.len()).sum()
    }
}

/// What recording one snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// Events written.
    pub new_events: usize,
    /// The tree size once the snapshot's events are durable: the `known_at` at which the ledger
    /// answers what the snapshot said.
    pub tree_size: u64,
}

/// Reads the snapshots through the mapping, compares each with what the ledger holds for this
/// mapping (and with the snapshots before it), and checks every new event against the ledger.
/// Writes nothing: any bad snapshot, row or event is an error before anything is recorded.
pub async fn plan(
    ledger: &impl Target,
    mapping: &Mapping,
    snapshots: Vec<Snapshot>,
    options: &Options,
) -> Result<Plan, Error> {
    plan_with_progress(ledger, mapping, snapshots, options, &mut |_, _| {}).await
}

/// [`plan`], telling `progress` how many snapshots of how many have been read.
pub async fn plan_with_progress(
    ledger: &impl Target,
    mapping: &Mapping,
    snapshots: Vec<Snapshot>,
    options: &Options,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Plan, Error> {
    let prior = prior(ledger, mapping, &snapshots)?;
    let plan = plan_steps(mapping, snapshots, prior, options, progress, &mut |_| {})?;
    check(ledger, &plan).await?;
    Ok(plan)
}

/// What [`import`] reports as it goes.
pub struct Progress<'a> {
    /// Snapshots read so far, of how many.
    pub reading: &'a mut (dyn FnMut(usize, usize) + Send),
    /// Events recorded so far, of how many.
    pub recording: &'a mut (dyn FnMut(usize, usize) + Send),
}

/// Plans and records an import ([`plan`] then [`record`]), all or nothing: nothing is written
/// unless every snapshot is read and every event passes.
///
/// On a ledger that offers a chain of appends ([`Target::begin_chain`]), each snapshot's
/// events are handed to the ledger's writer as soon as the snapshot is compared, and the
/// writer checks and stages them while the next snapshot is read; the chain is committed at
/// the end, one append per snapshot, each at its own tree size. An import larger than a chain
/// ([`CHAIN_EVENTS_MAX`] events), or through a server, is checked whole and then recorded
/// snapshot by snapshot instead.
pub async fn import(
    ledger: &impl Target,
    mapping: &Mapping,
    snapshots: Vec<Snapshot>,
    options: &Options,
    progress: Progress<'_>,
) -> Result<(Plan, Vec<Recorded>), Error> {
    // What the ledger holds is read before the chain begins: the writer is held only while
    // the snapshots are compared.
    let prior = prior(ledger, mapping, &snapshots)?;
    let mut chain = ledger.begin_chain().await?;
    let per_append = ledger.append_events_max().clamp(1, EVENTS_PER_APPEND_MAX);
    let plan = plan_steps(
        mapping,
        snapshots,
        prior,
        options,
        progress.reading,
        &mut |step| {
            let fits = chain
                .as_ref()
                .is_some_and(|c| c.events() + step.events.len() <= CHAIN_EVENTS_MAX);
            match chain.as_mut() {
                // A refused link is what the commit reports. A snapshot of more events than
                // one append holds is several, as [`record`] makes it.
                Some(c) if fits => {
                    for part in step.events.chunks(per_append) {
                        c.push(part.to_vec());
                    }
                }
                // Dropped: the writer lets the chain go, having written nothing of it.
                _ => chain = None,
            }
        },
    )?;
    let (recorded, keys) = match chain {
        Some(chain) => {
            let committing = chain.commit();
            // Made ready while the writer commits.
            let keys = plan.ending.as_ref().and_then(|e| saved::prepare(e));
            let outcome = committing.await.map_err(|e| locate(&plan, e, 0))?;
            (progress.recording)(plan.new_events(), plan.new_events());
            (recorded_by_steps(&plan, &outcome), keys)
        }
        None => {
            check(ledger, &plan).await?;
            let total = plan.new_events();
            let recorded =
                record(ledger, &plan, &mut |done| (progress.recording)(done, total)).await?;
            let keys = plan.ending.as_ref().and_then(|e| saved::prepare(e));
            (recorded, keys)
        }
    };
    if let (Some(ending), Some(keys), Some(last)) = (&plan.ending, keys, recorded.last()) {
        let new_events = plan.new_events();
        saved::keep(
            ledger,
            &mapping.namespace,
            ending,
            &keys,
            new_events,
            last.tree_size,
        );
    }
    Ok((plan, recorded))
}

/// What each step of a plan recorded as one link of a chain: the events at or after the
/// chain's first position are new (a repeat answers its original one).
fn recorded_by_steps(plan: &Plan, outcome: &AppendOutcome) -> Vec<Recorded> {
    let first = outcome.tree_size - outcome.new_events as u64;
    let mut tree_size = first;
    let mut at = 0;
    plan.steps
        .iter()
        .map(|step| {
            let positions = &outcome.positions[at..at + step.events.len()];
            at += step.events.len();
            let new_events = positions.iter().filter(|p| **p >= first).count();
            tree_size += new_events as u64;
            Recorded {
                new_events,
                tree_size,
            }
        })
        .collect()
}

/// What the ledger holds for the mapping before an import, and the snapshots' SHA-256.
struct Prior {
    known: Known,
    hashes: Vec<String>,
}

/// [`Prior`] of an import of `snapshots`: the snapshots hashed on a second thread (their
/// SHA-256 names them in every event) while this one reads what the ledger holds.
fn prior(ledger: &impl Target, mapping: &Mapping, snapshots: &[Snapshot]) -> Result<Prior, Error> {
    // The earliest snapshot (not the first given: one may be skipped, or dated before).
    let first = snapshots.iter().map(|s| s.date.start()).min();
    let (known, hashes) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| snapshots.iter().map(Snapshot::sha256).collect::<Vec<_>>());
        let known = saved::known(ledger, mapping, first);
        (known, hashing.join())
    });
    let hashes = hashes.unwrap_or_else(|_| snapshots.iter().map(Snapshot::sha256).collect());
    Ok(Prior {
        known: known?,
        hashes,
    })
}

/// Reads and compares every snapshot against what the ledger holds (`prior`), handing `each`
/// every step as it is planned; checks nothing against the ledger.
fn plan_steps(
    mapping: &Mapping,
    snapshots: Vec<Snapshot>,
    prior: Prior,
    options: &Options,
    progress: &mut (dyn FnMut(usize, usize) + Send),
    each: &mut (dyn FnMut(&Step) + Send),
) -> Result<Plan, Error> {
    let Prior { known, hashes } = prior;
    let mut hashes = hashes.into_iter();
    let Known {
        mut state,
        found,
        latest,
        read_to,
        last,
    } = known;
    let recorded: HashSet<uuid::Uuid> = found.iter().map(|f| f.record.event_id).collect();
    let mut folded: HashSet<uuid::Uuid> = HashSet::new();
    let mut pending = found.into_iter();
    let mut latest_after = latest;
    // Resumed at the last snapshot an earlier import read, where the state it kept is used.
    let mut reader = last.map(Reader::resuming).unwrap_or_default();
    let mut warnings = Vec::new();
    let now = options.now.unwrap_or_else(Utc::now);
    let mut previous: Option<DateTime<Utc>> = None;
    let total = snapshots.len();
    let mut steps = Vec::with_capacity(total);
    for (done, mut snapshot) in snapshots.into_iter().enumerate() {
        progress(done, total);
        let sha256 = hashes.next().unwrap_or_else(|| snapshot.sha256());
        // Valid time never runs backwards: a snapshot not after the one before it moves to one
        // second after it (strictly after, so that each snapshot has its own moment to be asked
        // at).
        let mut moved = None;
        if let Some(p) = previous.filter(|p| snapshot.date.start() <= *p) {
            let to = Moment::Instant(p + TimeDelta::seconds(1));
            moved = Some(format!(
                "snapshot {} is dated {}, not after the snapshot before it; it is taken as {to}",
                snapshot.name, snapshot.date
            ));
            snapshot.date = to;
        }
        let t = snapshot.date.start();
        // The events found in the log up to this snapshot change their keys' state other than
        // by a comparison with their rows: those rows are read whole.
        for f in pending
            .as_slice()
            .iter()
            .take_while(|f| f.record.effective.start() < t)
        {
            reader.forget(&f.key);
        }
        // Only what does not parse, or is not the table the mapping describes, may be skipped:
        // a row that breaks the mapping is the mapping's or the tracker's error, never passed
        // over.
        let read = match reader.read(mapping, &snapshot) {
            Ok(read) => read,
            Err((e, true)) if options.skip_unreadable => {
                warnings.push(format!("skipped {e}"));
                continue;
            }
            Err((e, _)) => return Err(e),
        };
        warnings.extend(moved);
        if t > now {
            return Err(Error::at(
                Place::snapshot(&snapshot.name),
                format!("is dated {}, in the future", snapshot.date),
            ));
        }
        previous = Some(t);

        // The ledger's state just before this snapshot: what a continued import compares with.
        while pending
            .as_slice()
            .first()
            .is_some_and(|f| f.record.effective.start() < t)
        {
            let Some(f) = pending.next() else { break };
            if !folded.contains(&f.record.event_id) {
                state.apply(f.key, f.record.event_id, f.record.data);
            }
        }
        let step = diff::Step {
            date: snapshot.date,
            sha256: &sha256,
            url: snapshot.url.as_deref(),
            actor: &options.actor,
        };
        let planned = diff::diff(
            mapping,
            &state,
            &read.entries,
            read.keys,
            &|k| reader.present(k),
            &step,
        );
        let mut out = Step {
            name: snapshot.name.clone(),
            date: snapshot.date,
            sha256: sha256.clone(),
            rows: read.rows,
            counts: Counts::default(),
            already_recorded: 0,
            events: Vec::new(),
            rows_of_events: Vec::new(),
        };
        for Planned {
            key,
            row,
            kind,
            withdrawn,
            event,
        } in planned
        {
            let event_id = event.event_id.expect("import events carry their id");
            state.apply(key, event_id, event.data.clone());
            folded.insert(event_id);
            if recorded.contains(&event_id) {
                out.already_recorded += 1;
                continue;
            }
            let c = &mut out.counts;
            match (kind, withdrawn) {
                (Kind::Made, _) => c.made += 1,
                (Kind::Status, true) => c.withdrawn += 1,
                (Kind::Status, false) => c.status_changed += 1,
                (Kind::Amended, _) => c.amended += 1,
                (Kind::Retracted, _) => c.retracted += 1,
                (Kind::Commitment, _) => {}
            }
            out.events.push(event);
            out.rows_of_events.push(row);
        }
        // A snapshot older than what the mapping already recorded would change the past under
        // later snapshots (a second commitment for a key made later, say): an import goes
        // forward. Rerunning old snapshots is fine — they add nothing — and so is completing the
        // latest one, which an interrupted import may have left part-recorded.
        if let Some(latest) = latest.filter(|l| t < *l && !out.events.is_empty()) {
            return Err(Error::at(
                Place::snapshot(&out.name),
                format!(
                    "is dated {}, before the latest snapshot this mapping has recorded ({}), and would add {} events to the past; import snapshots oldest first",
                    out.date,
                    ikrar_core::moment::format_instant(&latest),
                    out.events.len()
                ),
            ));
        }
        if !out.events.is_empty() {
            latest_after = latest_after.max(Some(t));
        }
        each(&out);
        steps.push(out);
    }
    progress(total, total);
    // Every event of the mapping folded (the events still pending are ones the plan made
    // again): the state once the plan is recorded, to keep, with the last snapshot read.
    let ending = pending
        .all(|f| folded.contains(&f.record.event_id))
        .then(|| {
            Arc::new(Ending {
                state,
                read_to,
                latest: latest_after,
                last: reader.last_csv(),
                mapping: mapping.fingerprint.clone(),
            })
        });
    Ok(Plan {
        steps,
        warnings,
        ending,
    })
}

/// Validates every new event of every snapshot as one append would, so that a bad event in the
/// last snapshot writes nothing of the first; an error names the snapshot and the row.
async fn check(ledger: &impl Target, plan: &Plan) -> Result<(), Error> {
    let all: Vec<InputEvent> = plan
        .steps
        .iter()
        .flat_map(|s| s.events.iter().cloned())
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    let Err(e) = ledger.check(all).await else {
        return Ok(());
    };
    Err(locate(plan, e, 0))
}

/// Names the snapshot and row of the event an error of the ledger is about; `offset` is the
/// index of the first event of the batch that failed, over the whole plan.
fn locate(plan: &Plan, e: ikrar_core::Error, offset: usize) -> Error {
    use ikrar_core::Error as Core;
    let index = match &e {
        Core::Validation { index, .. }
        | Core::Conflict { index, .. }
        | Core::EventIdConflict { index, .. } => offset + *index,
        _ => return Error::from(e),
    };
    let mut first = 0;
    for step in &plan.steps {
        if index < first + step.events.len() {
            let within = index - first;
            let mut place = Place::snapshot(&step.name);
            if let Some(row) = step.rows_of_events[within] {
                place = place.row(row);
            }
            let source = match e {
                Core::Validation { field, rule, .. } => Core::Validation {
                    index: within,
                    field,
                    rule,
                },
                other => other,
            };
            return Error::Ledger {
                place,
                source: Box::new(source),
            };
        }
        first += step.events.len();
    }
    Error::from(e)
}

/// Records a plan: each snapshot's events as one append (in batches of at most
/// [`EVENTS_PER_APPEND_MAX`] when a snapshot leads to more). `progress` is told the number of
/// events recorded so far. An import stopped part way is completed by running it again.
pub async fn record(
    ledger: &impl Target,
    plan: &Plan,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Recorded>, Error> {
    let mut out = Vec::with_capacity(plan.steps.len());
    let mut done = 0;
    for step in &plan.steps {
        let mut new_events = 0;
        let mut tree_size = ledger
            .tree_size()
            .await
            .map_err(|e| locate(plan, e, done))?;
        for chunk in step
            .events
            .chunks(ledger.append_events_max().clamp(1, EVENTS_PER_APPEND_MAX))
        {
            let outcome = ledger
                .append(chunk.to_vec())
                .await
                .map_err(|e| locate(plan, e, done))?;
            new_events += outcome.new_events;
            tree_size = outcome.tree_size;
            done += chunk.len();
            progress(done);
        }
        out.push(Recorded {
            new_events,
            tree_size,
        });
    }
    Ok(out)
}
