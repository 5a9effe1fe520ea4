//! A reader that begins where an earlier import's ended: its last CSV snapshot, kept with the
//! state ([`crate::saved`]), as the snapshot before the first one read now — so that a
//! continued import compares only the rows that changed since, as it would had it read that
//! snapshot itself.

use serde::{Deserialize, Serialize};

use super::keys::Marks;
use super::lines::Lines;
use super::{Previous, Reader};

/// The last CSV snapshot a reader read: its header, its body, and the one-line rows whose key
/// it alone had, with those keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LastCsv {
    pub(crate) headers: Vec<String>,
    #[serde(skip)]
    pub(crate) body: Vec<u8>,
    /// Each key, with where its row starts and ends in the body.
    pub(crate) rows: Vec<(String, usize, usize)>,
}

impl Reader {
    /// The last snapshot read, if it was CSV.
    pub(crate) fn last_csv(&self) -> Option<LastCsv> {
        let Some((
            seq,
            Previous::Csv {
                headers,
                body,
                lines,
            },
        )) = &self.previous
        else {
            return None;
        };
        let names = self.keys.names();
        let rows = lines
            .rows()
            .filter(|(range, slot)| {
                self.keys
                    .marks(*slot)
                    .row
                    .as_ref()
                    .is_some_and(|(s, r)| s == seq && r == range)
            })
            .map(|(range, slot)| (names[slot as usize].to_string(), range.start, range.end))
            .collect();
        Some(LastCsv {
            headers: headers.clone(),
            body: body.clone(),
            rows,
        })
    }

    /// A reader whose snapshot before the first read is `last`: each of its rows the row of its
    /// key, as the read that read it left them.
    pub(crate) fn resuming(last: LastCsv) -> Reader {
        let mut reader = Reader {
            seq: 1,
            ..Reader::default()
        };
        let mut lines = Lines::default();
        for (key, start, end) in last.rows {
            let range = start..end;
            if last.body.get(range.clone()).is_none() {
                continue;
            }
            let slot = reader.keys.slot(&key);
            *reader.keys.at(slot) = Marks {
                seen: 1,
                first_row: 0,
                count: 1,
                present: 1,
                row: Some((1, range.clone())),
            };
            lines.insert(&last.body, range, slot, None);
        }
        reader.previous = Some((
            1,
            Previous::Csv {
                headers: last.headers,
                body: last.body,
                lines,
            },
        ));
        reader
    }
}
