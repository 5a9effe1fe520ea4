//! Suggestions for a mistyped word: the canonical status nearest to what was typed.

use ikrar_core::Status;

use super::usage;
use crate::failure::Failure;

/// A status typed on the command line, with a suggestion for a near miss.
pub(super) fn parse_status(flag: &str, text: &str) -> Result<Status, Failure> {
    text.parse::<Status>().map_err(|e: String| {
        let f = usage(format!("{flag}: {e}"));
        match closest_status(text) {
            Some(s) => f.with_context(format!("did you mean `{s}`?")),
            None => f,
        }
    })
}

/// The canonical status nearest to `text` (at most a third of its letters off).
fn closest_status(text: &str) -> Option<&'static str> {
    let text = text.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    Status::ALL
        .iter()
        .map(|s| (edit_distance(&text, s.as_str()), s.as_str()))
        .filter(|(d, s)| *d <= s.len() / 3 + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, s)| s)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
