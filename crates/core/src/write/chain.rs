//! A chain of appends: several appends, each atomic on its own and at its own tree size, handed
//! to the writer one by one while their author is still working out the next, and committed
//! together or not at all.
//!
//! An import of a tracker's snapshots is one append per snapshot (SPEC §12), and must write
//! nothing if any snapshot is bad. Checking every append first and then appending them does
//! the ledger's work twice, one after the other. A chain does it once, and on the writer's
//! thread while the importer reads and compares the next snapshot on its own: the two overlap.
//! The writer takes a chain alone, as its own group, and holds its write lock until the chain
//! ends — so nothing else is appended between two links of it.

use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::error::Error;
use crate::model::input::InputEvent;
use crate::storage::{Head, Store};
use crate::write::clock::Clock;
use crate::write::layer::Layer;
use crate::write::stage::{stage, AppendOutcome, EVENTS_PER_APPEND_MAX};
use crate::write::writer::GROUP_EVENTS_MAX;

/// Events one chain holds at most, over all its appends: the writer keeps the whole chain
/// staged in memory until it ends, as it keeps a group.
pub const CHAIN_EVENTS_MAX: usize = GROUP_EVENTS_MAX;

/// What the writer reads from a chain's author.
pub(crate) enum Link {
    /// One more append.
    Append(Vec<InputEvent>),
    /// The chain is complete: commit it.
    End,
}

/// A chain of appends being handed to the writer ([`crate::Ledger::begin_chain`]). Dropped
/// without [`AppendChain::commit`], nothing of it is written.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ikrar_core::Error> {
/// use ikrar_core::{InputEvent, Ledger};
///
/// let dir = tempfile::tempdir().unwrap();
/// let ledger = Ledger::create(dir.path().join("ledger"))?;
/// let made = |n: u32, title: &str| {
///     InputEvent::from_json(&format!(
///         r#"{{"type":"commitment_made","actor":"kim","data":{{
///             "commitment_id":"0194a1c2-7f00-7000-8000-00000000000{n}",
///             "title":"{title}","made_on":"2025-01-16"}}}}"#
///     ))
///     .unwrap()
/// };
/// let mut chain = ledger.begin_chain().await?;
/// chain.push(vec![made(1, "Hold the summit")]);
/// chain.push(vec![made(2, "Open the office"), made(3, "Sign the accord")]);
/// let outcome = chain.commit().await?;
/// assert_eq!((outcome.positions, outcome.tree_size), (vec![0, 1, 2], 3));
/// # Ok(()) }
/// ```
pub struct AppendChain {
    // Dropped first (fields drop in order): the writer, reading the chain, then sees it end.
    pub(crate) links: mpsc::Sender<Link>,
    pub(crate) answer: oneshot::Receiver<Result<AppendOutcome, Error>>,
    pub(crate) events: usize,
    // The ledger kept open while the chain is: closing it waits for the writer, which waits
    // for the chain's next link.
    pub(crate) _ledger: crate::Ledger,
}

impl AppendChain {
    /// Hands the writer one more append, to stage on top of the ones before it. False once the
    /// writer has refused the chain and stopped reading it ([`AppendChain::commit`] says why);
    /// a refusal is learnt from a later push, as the writer stages in its own time. A chain of
    /// more than [`CHAIN_EVENTS_MAX`] events is refused ([`AppendChain::events`] tells how many
    /// were handed over).
    pub fn push(&mut self, events: Vec<InputEvent>) -> bool {
        self.events += events.len();
        self.links.send(Link::Append(events)).is_ok()
    }

    /// Events handed over so far.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Ends the chain: every append of it is written in one durable commit, or none is. The
    /// outcome covers the chain's events in order (an error's `index` too); `tree_size` is the
    /// size after the whole chain.
    ///
    /// The writer is told at once, when this is called, not when the answer is first awaited:
    /// its author can go on with other work while the commit is made (and the chain is
    /// committed even if the answer is never awaited).
    pub fn commit(self) -> impl std::future::Future<Output = Result<AppendOutcome, Error>> {
        // The writer may have refused the chain already and stopped reading it: the answer
        // says why.
        let _ = self.links.send(Link::End);
        let AppendChain {
            links,
            answer,
            _ledger,
            ..
        } = self;
        async move {
            let answer = answer.await;
            drop((links, _ledger));
            answer.map_err(|_| Error::Closed {
                reason: "the writer has stopped".into(),
            })?
        }
    }
}

/// `e` about an event at `offset + index` of the chain, where `index` is its place in its own
/// append.
fn in_chain(e: Error, offset: usize) -> Error {
    match e {
        Error::Validation { index, field, rule } => Error::Validation {
            index: offset + index,
            field,
            rule,
        },
        Error::Conflict {
            index,
            stream,
            expected,
            actual,
        } => Error::Conflict {
            index: offset + index,
            stream,
            expected,
            actual,
        },
        Error::EventIdConflict {
            index,
            event_id,
            position,
            differences,
        } => Error::EventIdConflict {
            index: offset + index,
            event_id,
            position,
            differences,
        },
        other => other,
    }
}

/// Stages the chain read from `links` on top of `head`, each append as the writer stages one
/// of a group, until the chain's end: the whole chain staged, or why it is refused (an append
/// that fails, a chain over [`CHAIN_EVENTS_MAX`], an author gone without ending it).
pub(crate) fn stage_chain(
    store: &Store,
    head: &Head,
    links: mpsc::Receiver<Link>,
    clock: &Clock,
) -> Result<(Layer, AppendOutcome), Error> {
    let mut group = Layer::new(head.tree_size, head.last_recorded_at);
    let mut all = AppendOutcome::with_capacity(0);
    loop {
        let events = match links.recv() {
            Ok(Link::Append(events)) => events,
            Ok(Link::End) => return Ok((group, all)),
            Err(_) => {
                return Err(Error::Closed {
                    reason: "the chain of appends was abandoned before its end; nothing of it \
                             was written"
                        .into(),
                })
            }
        };
        let offset = all.positions.len();
        if events.len() > EVENTS_PER_APPEND_MAX || offset + events.len() > CHAIN_EVENTS_MAX {
            return Err(Error::validation(
                offset,
                "-",
                format!(
                    "a chain holds appends of at most {EVENTS_PER_APPEND_MAX} events and at \
                     most {CHAIN_EVENTS_MAX} in all; this one reached {}",
                    offset + events.len()
                ),
            ));
        }
        let (layer, outcome) =
            stage(store, &group, &(), &events, clock.now()).map_err(|e| in_chain(e, offset))?;
        group.merge(layer);
        all.positions.extend(outcome.positions);
        all.event_ids.extend(outcome.event_ids);
        all.new_events += outcome.new_events;
    }
}
