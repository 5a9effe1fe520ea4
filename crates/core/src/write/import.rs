//! The rules of an import: recorded records (an export) checked against the ledger plus the
//! staged ones, and staged byte for byte. An export is not re-validated as new events would be
//! (its `recorded_at` and rules were the exporting ledger's); it is checked to be a ledger this
//! one can continue.

use crate::error::Error;
use crate::model::event::EventData;
use crate::model::record::{Record, RECORD_BYTES_MAX};
use crate::storage::Store;
use crate::tree::merkle::Hash;
use crate::write::layer::{Layer, Staged, View};
use crate::write::stage::{made_of, note_staged, push_staged, AppendOutcome};

/// Checks recorded records (an export being imported) against the ledger plus the staged ones,
/// and stages them byte for byte. Every failure is an integrity failure at the record's position:
/// the export is not a ledger this one can continue.
pub(crate) fn stage_records(
    store: &Store,
    group: &Layer,
    records: &[Vec<u8>],
) -> Result<(Layer, AppendOutcome), Error> {
    let mut layer = Layer::new(group.next_position(), group.last_recorded_at);
    let mut outcome = AppendOutcome::with_capacity(records.len());
    for bytes in records {
        let position = layer.next_position();
        let bad = |what: String| Error::Integrity { position, what };
        let record = Record::decode(bytes).map_err(|e| bad(format!("the record's form: {e}")))?;
        if record.encode() != *bytes {
            return Err(bad(
                "the record is not in the canonical recorded form".into()
            ));
        }
        if bytes.len() > RECORD_BYTES_MAX {
            return Err(bad(format!("the record is over {RECORD_BYTES_MAX} bytes")));
        }
        if record.position != position {
            return Err(bad(format!(
                "the record says position {} where {position} comes next",
                record.position
            )));
        }
        let (last_recorded_at, retracted_target) = {
            let view = View::new(store, [group, &layer]);
            let expected_version = view.stream_head(&record.stream)?.map_or(0, |(v, _)| v + 1);
            if record.version != expected_version {
                return Err(bad(format!(
                    "stream {} version {} where {expected_version} comes next",
                    record.stream, record.version
                )));
            }
            if view.id_position(record.event_id)?.is_some() {
                return Err(bad(format!("event id {} appears twice", record.event_id)));
            }
            let target = match &record.data {
                EventData::EventRetracted(d) => {
                    let target_position = view.id_position(d.event_id)?.ok_or_else(|| {
                        bad(format!(
                            "retracts {} which comes nowhere before",
                            d.event_id
                        ))
                    })?;
                    let target = view.record(target_position)?;
                    if matches!(target.data, EventData::EventRetracted(_))
                        || view.retraction_of(d.event_id)?.is_some()
                        || target.stream != record.stream
                    {
                        return Err(bad(format!("an invalid retraction of {}", d.event_id)));
                    }
                    Some(d.event_id)
                }
                _ => None,
            };
            (layer.last_recorded_at.max(group.last_recorded_at), target)
        };
        if record.recorded_at < last_recorded_at {
            return Err(bad("recorded_at goes backwards".into()));
        }
        outcome.positions.push(position);
        outcome.event_ids.push(record.event_id);
        let staged = Staged {
            position,
            event_id: record.event_id,
            version: record.version,
            recorded_at: record.recorded_at,
            retracts: retracted_target,
            made: made_of(&record.data),
            stream: record.stream,
            bytes: bytes.clone(),
        };
        note_staged(&mut layer, &staged.header(), &staged.stream);
        let leaf = Hash::leaf(&staged.bytes);
        push_staged(store, group, &mut layer, staged, leaf)?;
    }
    outcome.new_events = layer.records.len();
    Ok((layer, outcome))
}
