//! Where an import reads what the ledger holds and records its events: the [`Ledger`] itself,
//! or anything standing in front of one (the CLI beside a running server sends them through
//! its socket, SPEC §7.1). One trait, so that planning and recording are written once.

use std::future::Future;
use std::path::{Path, PathBuf};

use ikrar_core::{AppendChain, AppendOutcome, Error, Hash, InputEvent, Ledger, Record};

/// A ledger as an import uses it.
pub trait Target: Sync {
    /// Hands `each` every record of the log, in log order.
    fn for_each_record(&self, each: &mut dyn FnMut(Record)) -> Result<(), Error>;

    /// [`Target::for_each_record`] from position `from` on.
    fn for_each_record_from(&self, from: u64, each: &mut dyn FnMut(Record)) -> Result<(), Error> {
        self.for_each_record(&mut |record| {
            if record.position >= from {
                each(record)
            }
        })
    }

    /// A directory where an import may keep what it learned of this ledger for the next one
    /// (`crate::saved`), if the ledger has one.
    fn cache_dir(&self) -> Option<PathBuf> {
        None
    }

    /// The root at `tree_size`, to check what was kept against (`None`: not known here).
    fn root_at(&self, _tree_size: u64) -> Result<Option<Hash>, Error> {
        Ok(None)
    }

    /// Validates `events` as one append of them would, writing nothing.
    fn check(&self, events: Vec<InputEvent>) -> impl Future<Output = Result<(), Error>> + Send;

    /// Appends `events` atomically, as [`Ledger::append`] does.
    fn append(
        &self,
        events: Vec<InputEvent>,
    ) -> impl Future<Output = Result<AppendOutcome, Error>> + Send;

    /// The tree size now.
    fn tree_size(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// A chain of appends, where the ledger offers one ([`Ledger::begin_chain`]; a sled ledger,
    /// whose writer is this process's alone): the import then hands over each snapshot's
    /// events as soon as they are known. `None` (the default, and on PostgreSQL): the import
    /// checks everything, then appends snapshot by snapshot.
    fn begin_chain(&self) -> impl Future<Output = Result<Option<AppendChain>, Error>> + Send {
        std::future::ready(Ok(None))
    }

    /// The most events one [`Target::append`] takes (a server's request limit may be lower
    /// than the library's).
    fn append_events_max(&self) -> usize {
        ikrar_core::EVENTS_PER_APPEND_MAX
    }
}

impl Target for Ledger {
    fn for_each_record(&self, each: &mut dyn FnMut(Record)) -> Result<(), Error> {
        self.for_each_record_from(0, each)
    }

    fn for_each_record_from(&self, from: u64, each: &mut dyn FnMut(Record)) -> Result<(), Error> {
        for stored in self.iter_from(from) {
            each(stored?.record);
        }
        Ok(())
    }

    fn cache_dir(&self) -> Option<PathBuf> {
        self.path().map(Path::to_path_buf)
    }

    fn root_at(&self, tree_size: u64) -> Result<Option<Hash>, Error> {
        Ledger::root_at(self, tree_size).map(Some)
    }

    async fn check(&self, events: Vec<InputEvent>) -> Result<(), Error> {
        Ledger::check(self, events).await.map(|_| ())
    }

    fn append(
        &self,
        events: Vec<InputEvent>,
    ) -> impl Future<Output = Result<AppendOutcome, Error>> + Send {
        Ledger::append(self, events)
    }

    fn tree_size(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        std::future::ready(Ok(self.head().tree_size))
    }

    async fn begin_chain(&self) -> Result<Option<AppendChain>, Error> {
        // On a shared backend (PostgreSQL) a chain holds the write lock of every process for
        // as long as the import reads: other processes' appends would time out meanwhile.
        if self.path().is_none() {
            return Ok(None);
        }
        Ledger::begin_chain(self).await.map(Some)
    }
}
