//! The state an import keeps for the next one (`LEDGER/import-state/NAMESPACE.json`): a
//! continued import that uses it records exactly what one reading the whole log records, and a
//! kept state that does not match the ledger (damaged, from another ledger, behind the log, or
//! older snapshots to import) is not used.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use common::{history, import_quietly, log};
use ikrar_core::{AppendChain, AppendOutcome, Error, Hash, InputEvent, Ledger, Record};
use ikrar_import::{plan, record, Format, Mapping, Options, Snapshot, Target};

const NAMESPACE: &str = "0f8e2d4c-6b1a-4e3f-9d7c-5a4b3c2d1e0f";

fn snapshots(seed: u64) -> Vec<Snapshot> {
    history::history(seed, 8, 30)
        .iter()
        .enumerate()
        .map(|(k, s)| Snapshot {
            name: format!("s{k}"),
            date: s.date.parse().unwrap(),
            url: None,
            format: Format::Json,
            bytes: s.render("json").into_bytes(),
        })
        .collect()
}

fn mapping() -> Mapping {
    Mapping::from_toml(&history::mapping("retract"), "m.toml").unwrap()
}

fn kept(dir: &Path) -> PathBuf {
    dir.join("import-state").join(format!("{NAMESPACE}.json"))
}

/// A ledger that counts the records an import reads from it.
struct Counting<'a> {
    ledger: &'a Ledger,
    read: AtomicU64,
}

impl Target for Counting<'_> {
    fn for_each_record(&self, each: &mut dyn FnMut(Record)) -> Result<(), Error> {
        self.for_each_record_from(0, each)
    }

    fn for_each_record_from(&self, from: u64, each: &mut dyn FnMut(Record)) -> Result<(), Error> {
        self.ledger.for_each_record_from(from, &mut |r| {
            self.read.fetch_add(1, Ordering::Relaxed);
            each(r)
        })
    }

    fn cache_dir(&self) -> Option<PathBuf> {
        self.ledger.cache_dir()
    }

    fn root_at(&self, tree_size: u64) -> Result<Option<Hash>, Error> {
        Target::root_at(self.ledger, tree_size)
    }

    async fn check(&self, events: Vec<InputEvent>) -> Result<(), Error> {
        Target::check(self.ledger, events).await
    }

    async fn append(&self, events: Vec<InputEvent>) -> Result<AppendOutcome, Error> {
        Target::append(self.ledger, events).await
    }

    async fn tree_size(&self) -> Result<u64, Error> {
        Target::tree_size(self.ledger).await
    }

    async fn begin_chain(&self) -> Result<Option<AppendChain>, Error> {
        Target::begin_chain(self.ledger).await
    }
}

/// Imports `snapshots`; the new events, and how many records of the log were read.
async fn counted(ledger: &Ledger, snapshots: &[Snapshot]) -> (usize, u64) {
    let target = Counting {
        ledger,
        read: AtomicU64::new(0),
    };
    let plan = import_quietly(&target, &mapping(), snapshots).await;
    (plan.new_events(), target.read.load(Ordering::Relaxed))
}

async fn import_all(ledger: &Ledger, snapshots: &[Snapshot]) -> usize {
    import_quietly(ledger, &mapping(), snapshots)
        .await
        .new_events()
}

/// The ledger the snapshots give read against the whole log, planned and recorded apart.
async fn reference(snapshots: &[Snapshot]) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let p = plan(&ledger, &mapping(), snapshots.to_vec(), &Options::new("t"))
        .await
        .unwrap();
    record(&ledger, &p, &mut |_| {}).await.unwrap();
    (dir, ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continued_import_from_the_kept_state_records_what_the_whole_log_gives() {
    let all = snapshots(7);
    let (_r, want) = reference(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let ledger = Ledger::create(&path).unwrap();
    import_all(&ledger, &all[..3]).await;
    assert!(kept(&path).exists(), "an import keeps its state");
    for k in 3..all.len() {
        // Nothing of the log is read: the kept state is at the head.
        let (_, read) = counted(&ledger, &all[k..k + 1]).await;
        assert_eq!(read, 0, "snapshot {k}");
    }
    assert_eq!(log(&ledger), log(&want));
    // Older snapshots again: the kept state is not what came before them, the whole log is
    // read, and nothing new is recorded.
    let (new, read) = counted(&ledger, &all).await;
    assert_eq!((new, read), (0, ledger.head().tree_size));
    assert_eq!(log(&ledger), log(&want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_state_that_does_not_match_the_ledger_is_not_used() {
    let all = snapshots(11);
    let (_r, want) = reference(&all).await;
    let (first, rest) = all.split_at(4);

    // From another ledger, where another history was imported: its root is not this one's.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Ledger::create(other_dir.path().join("l")).unwrap();
    import_all(&other, &snapshots(12)[..5]).await;
    let foreign = std::fs::read(kept(&other_dir.path().join("l"))).unwrap();

    for damage in ["foreign", "garbage", "altered", "behind"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let ledger = Ledger::create(&path).unwrap();
        import_all(&ledger, &first[..2]).await;
        let behind = std::fs::read(kept(&path)).unwrap();
        import_all(&ledger, &first[2..]).await;
        match damage {
            "foreign" => std::fs::write(kept(&path), &foreign).unwrap(),
            "garbage" => std::fs::write(kept(&path), b"{\"format\": 1, \"tre").unwrap(),
            // Still parses, the root still matches: a key's status changed. Its digest does
            // not match.
            "altered" => {
                let text = std::fs::read_to_string(kept(&path)).unwrap();
                let (head, rest) = text.split_once('\n').unwrap();
                let changed = ["announced", "in_progress", "at_risk"]
                    .iter()
                    .find_map(|status| {
                        let from = format!("\"s\":\"{status}\"");
                        rest.contains(&from)
                            .then(|| rest.replacen(&from, "\"s\":\"fulfilled\"", 1))
                    })
                    .expect("a status to change");
                std::fs::write(kept(&path), format!("{head}\n{changed}")).unwrap();
            }
            // A state kept two snapshots ago, still matching the ledger at its size: caught
            // up from the log after it.
            _ => std::fs::write(kept(&path), &behind).unwrap(),
        }
        let size = ledger.head().tree_size;
        let (_, read) = counted(&ledger, rest).await;
        assert_eq!(log(&ledger), log(&want), "{damage}");
        if damage == "behind" {
            assert!(read > 0 && read < size, "{damage}: read {read} of {size}");
        } else {
            assert_eq!(read, size, "{damage}: the whole log is read");
        }
    }
}
