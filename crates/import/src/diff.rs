//! The events that lead from what the ledger holds for a mapping to what one snapshot says.

use ikrar_core::{
    CommitmentAmended, CommitmentMade, CommitmentStatusChanged, EventData, EventRetracted,
    InputEvent, Moment, Status,
};
use uuid::Uuid;

use crate::mapping::{Mapping, OnMissing};
use crate::rows::Entry;
use crate::state::{self, Current, Kind, State};

/// The snapshot being compared.
pub(crate) struct Step<'a> {
    pub(crate) date: Moment,
    pub(crate) sha256: &'a str,
    pub(crate) url: Option<&'a str>,
    pub(crate) actor: &'a str,
}

/// One event to record, with the key and row it comes from.
pub(crate) struct Planned {
    pub(crate) key: String,
    pub(crate) row: Option<usize>,
    pub(crate) kind: Kind,
    /// A status change to `withdrawn` for a key that disappeared (counted apart).
    pub(crate) withdrawn: bool,
    pub(crate) event: InputEvent,
}

impl Step<'_> {
    fn id(&self, namespace: &Uuid, key: &str, kind: Kind) -> Uuid {
        state::id(namespace, key, self.sha256, &self.date, kind)
    }

    /// How reasons name the snapshot (the full SHA-256 is in the source).
    fn named(&self) -> String {
        format!(
            "the snapshot of {} (sha256:{})",
            self.date,
            &self.sha256[..self.sha256.len().min(12)]
        )
    }

    fn event(
        &self,
        namespace: &Uuid,
        key: &str,
        kind: Kind,
        url: Option<&str>,
        data: EventData,
    ) -> InputEvent {
        let mut e = InputEvent::new(data);
        e.event_id = Some(self.id(namespace, key, kind));
        e.effective = Some(self.date);
        e.actor = Some(self.actor.to_string());
        e.source = Some(state::source(
            &self.date,
            self.sha256,
            url.or(self.url).map(str::to_string),
            key,
        ));
        e
    }
}

/// Whether a row's label is another step in the commitment's status. A commitment made
/// without a status change (its first label meant `announced`) holds no label, and a row still
/// saying `announced` under any label is no change to it.
fn status_changes(cur: &Current, entry: &Entry) -> bool {
    if entry.status != cur.status {
        return true;
    }
    let made_only = cur.label.is_none() && cur.status == Status::Announced;
    entry.label != cur.label && !made_only
}

/// The amendment a row makes to a commitment, if any: the fields that differ. A field the row
/// leaves empty says nothing (an amendment can replace a value, not remove it), except lists,
/// which can be emptied.
fn amendment(cur: &Current, entry: &Entry) -> Option<(CommitmentAmended, Vec<&'static str>)> {
    let (old, new) = (&cur.fields, &entry.fields);
    let mut a = CommitmentAmended {
        commitment_id: cur.commitment_id,
        ..CommitmentAmended::default()
    };
    let mut names = Vec::new();
    if new.title != old.title {
        a.title = Some(new.title.clone());
        names.push("title");
    }
    if new.summary.is_some() && new.summary != old.summary {
        a.summary = new.summary.clone();
        names.push("summary");
    }
    if new.owner.is_some() && new.owner != old.owner {
        a.owner = new.owner.clone();
        names.push("owner");
    }
    if new.parties != old.parties {
        a.parties = Some(new.parties.clone());
        names.push("parties");
    }
    if new.themes != old.themes {
        a.themes = Some(new.themes.clone());
        names.push("themes");
    }
    if new.due.is_some() && new.due != old.due {
        a.due = new.due;
        names.push("due");
    }
    (!names.is_empty()).then_some((a, names))
}

/// The events from `state` to the snapshot's `entries`: rows in their order (made, status
/// changed, amended), then keys gone from the snapshot in key order — a fixed order, so that
/// every run records the same events at the same positions.
///
/// `entries` are the rows to compare (a row unchanged since the snapshot before leads to no
/// event and need not be among them); `keys` is how many keys the snapshot has, and `present`
/// tells whether a key is in it at all.
pub(crate) fn diff(
    mapping: &Mapping,
    state: &State,
    entries: &[Entry],
    keys: usize,
    present: &dyn Fn(&str) -> bool,
    step: &Step<'_>,
) -> Vec<Planned> {
    let ns = &mapping.namespace;
    let mut out = Vec::new();
    let mut push = |entry: &Entry, kind: Kind, withdrawn: bool, event: InputEvent| {
        out.push(Planned {
            key: entry.key.clone(),
            row: (entry.row > 0).then_some(entry.row),
            kind,
            withdrawn,
            event,
        })
    };
    for entry in entries {
        let key = entry.key.as_str();
        let url = entry.url.as_deref();
        match state.keys.get(key).filter(|c| !c.retracted) {
            None => {
                // New, or back after its retraction: a new commitment, since a retracted
                // stream is never reused; its id derives from this snapshot.
                let commitment_id = step.id(ns, key, Kind::Commitment);
                let f = &entry.fields;
                let made = EventData::CommitmentMade(CommitmentMade {
                    commitment_id,
                    title: f.title.clone(),
                    summary: f.summary.clone(),
                    owner: f.owner.clone(),
                    parties: f.parties.clone(),
                    themes: f.themes.clone(),
                    made_on: step.date.start().date_naive(),
                    due: f.due,
                });
                push(
                    entry,
                    Kind::Made,
                    false,
                    step.event(ns, key, Kind::Made, url, made),
                );
                if entry.status != Status::Announced {
                    let mut e = step.event(
                        ns,
                        key,
                        Kind::Status,
                        url,
                        EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                            commitment_id,
                            status: entry.status,
                            label: entry.label.clone(),
                        }),
                    );
                    e.reason = entry.reason.clone();
                    push(entry, Kind::Status, false, e);
                }
            }
            Some(cur) => {
                if let Some((amended, names)) = amendment(cur, entry) {
                    let mut e = step.event(
                        ns,
                        key,
                        Kind::Amended,
                        url,
                        EventData::CommitmentAmended(amended),
                    );
                    e.reason = Some(format!("{} changes the {}", step.named(), names.join(", ")));
                    push(entry, Kind::Amended, false, e);
                }
                if status_changes(cur, entry) {
                    let mut e = step.event(
                        ns,
                        key,
                        Kind::Status,
                        url,
                        EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                            commitment_id: cur.commitment_id,
                            status: entry.status,
                            label: entry.label.clone(),
                        }),
                    );
                    e.reason = entry.reason.clone();
                    push(entry, Kind::Status, false, e);
                }
            }
        }
    }
    if mapping.on_missing == OnMissing::Keep {
        return out;
    }
    // Every key not retracted among the snapshot's: none is gone, and the keys need not be
    // searched. A key present but not compared (its row unchanged since the snapshot before)
    // is not retracted: that snapshot's step brought it in line with the row.
    let compared_live = entries
        .iter()
        .filter(|e| state.keys.get(&e.key).is_some_and(|c| !c.retracted))
        .count();
    if keys.saturating_sub(entries.len()) + compared_live >= state.live() {
        return out;
    }
    let mut gone: Vec<(&String, &Current)> = state
        .keys
        .iter()
        .filter(|(key, cur)| !cur.retracted && !present(key))
        .collect();
    gone.sort_unstable_by_key(|(key, _)| *key);
    for (key, cur) in gone {
        let gone = Entry {
            key: key.clone(),
            row: 0,
            fields: cur.fields.clone(),
            status: cur.status,
            label: None,
            reason: None,
            url: None,
        };
        let reason = Some(format!("not in {}", step.named()));
        match mapping.on_missing {
            OnMissing::Retract => {
                let mut e = step.event(
                    ns,
                    key,
                    Kind::Retracted,
                    None,
                    EventData::EventRetracted(EventRetracted {
                        event_id: cur.made_event,
                    }),
                );
                e.reason = reason;
                push(&gone, Kind::Retracted, false, e);
            }
            OnMissing::Withdraw if cur.status != Status::Withdrawn => {
                let mut e = step.event(
                    ns,
                    key,
                    Kind::Status,
                    None,
                    EventData::CommitmentStatusChanged(CommitmentStatusChanged {
                        commitment_id: cur.commitment_id,
                        status: Status::Withdrawn,
                        label: None,
                    }),
                );
                e.reason = reason;
                push(&gone, Kind::Status, true, e);
            }
            _ => {}
        }
    }
    out
}
