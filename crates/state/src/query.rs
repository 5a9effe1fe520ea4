//! Finding things: the filters, orders and pages of the commitment and meeting lists, and the
//! word search. Written once here and used by the CLI, the HTTP API and the console alike, so
//! that a filter means the same wherever it is typed.

use std::str::FromStr;

use chrono::NaiveDate;
use ikrar_core::{Moment, Status};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::basis::ResolvedBasis;
use crate::view::{CommitmentView, MeetingView};

/// The order of a commitment list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// The order their `commitment_made` was recorded (the default).
    #[default]
    Recorded,
    /// By `made_on`, earliest first.
    Made,
    /// By `due`, earliest first; commitments without a due date last.
    Due,
    /// By `status_since`, most recent first: what moved lately.
    StatusSince,
    /// By title, case- and accent-insensitive.
    Title,
}

impl Sort {
    /// The names [`Sort::from_str`] takes.
    pub const NAMES: [&'static str; 5] = ["recorded", "made", "due", "status_since", "title"];

    /// Its name, as [`Sort::from_str`] takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Recorded => "recorded",
            Sort::Made => "made",
            Sort::Due => "due",
            Sort::StatusSince => "status_since",
            Sort::Title => "title",
        }
    }
}

impl FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Sort, String> {
        match s {
            "recorded" => Ok(Sort::Recorded),
            "made" => Ok(Sort::Made),
            "due" => Ok(Sort::Due),
            "status_since" => Ok(Sort::StatusSince),
            "title" => Ok(Sort::Title),
            other => Err(format!(
                "unknown sort `{other}` (one of {})",
                Sort::NAMES.join(", ")
            )),
        }
    }
}

/// Filters and order of [`crate::Projection::list`]. Every filter given must hold.
///
/// ```
/// use ikrar_state::{ListFilter, Sort};
/// let filter = ListFilter {
///     search: Some("Korea summit".into()),
///     overdue: true,
///     sort: Sort::Due,
///     ..ListFilter::default()
/// };
/// assert!(filter.search.is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only commitments with this status.
    pub status: Option<Status>,
    /// Only commitments with this counterparty (case- and accent-insensitive).
    pub party: Option<String>,
    /// Only commitments with this theme (case- and accent-insensitive).
    pub theme: Option<String>,
    /// Only commitments of this owner (case- and accent-insensitive).
    pub owner: Option<String>,
    /// Only commitments whose title or summary has every word of this text (a word matches
    /// the start of a word: `summ` finds "summit"), case- and accent-insensitive.
    pub search: Option<String>,
    /// Only commitments due before this day.
    pub due_before: Option<NaiveDate>,
    /// Only overdue commitments: due before `as_of`'s day and not `fulfilled`,
    /// `partially_fulfilled`, `withdrawn` or `superseded`.
    pub overdue: bool,
    /// The order.
    pub sort: Sort,
}

/// Filters of [`crate::Projection::meetings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingFilter {
    /// Only meetings that name this commitment (recorded with it or linked to it).
    pub commitment: Option<Uuid>,
    /// Only meetings held at or after the start of this moment.
    pub from: Option<Moment>,
    /// Only meetings held at or before the end of this moment (a date: its whole day).
    pub to: Option<Moment>,
    /// Only meetings whose title, location or outcomes have every word of this text.
    pub search: Option<String>,
}

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    /// How many items to skip.
    pub offset: usize,
    /// At most this many items (`None`: all).
    pub limit: Option<usize>,
}

/// One page of a list, and how many items the whole list has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// Items matching the filter, in all.
    pub total: usize,
    /// The page asked for.
    pub items: Vec<T>,
}

impl<T> Listed<T> {
    /// Takes `page` of `all`.
    pub(crate) fn of(all: Vec<T>, page: Page) -> Listed<T> {
        let total = all.len();
        let items = all
            .into_iter()
            .skip(page.offset)
            .take(page.limit.unwrap_or(usize::MAX))
            .collect();
        Listed { total, items }
    }
}

/// Lowercase, without accents (canonical decomposition, combining marks dropped), words
/// separated by one space and the whole starting with one: `" korea central asia"`. A query
/// word then matches the start of a word wherever `" " + word` occurs.
pub fn normalize_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let mut in_word = false;
    for c in text.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if !in_word {
                out.push(' ');
                in_word = true;
            }
            out.extend(c.to_lowercase());
        } else {
            in_word = false;
        }
    }
    out
}

/// A search text, normalised once per query.
#[derive(Debug, Clone)]
pub(crate) struct Words {
    /// Each query word with its leading space (see [`normalize_words`]).
    needles: Vec<String>,
}

impl Words {
    pub(crate) fn new(query: &str) -> Words {
        let normalized = normalize_words(query);
        Words {
            needles: normalized
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(|w| format!(" {w}"))
                .collect(),
        }
    }

    /// Whether every query word starts a word of `normalized` (a [`normalize_words`] text).
    pub(crate) fn all_in(&self, normalized: &str) -> bool {
        self.needles.iter().all(|n| normalized.contains(n.as_str()))
    }

    /// Whether every query word starts a word of one of `texts` (raw text).
    pub(crate) fn all_in_texts<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> bool {
        let mut joined = String::new();
        for t in texts {
            joined.push_str(&normalize_words(t));
        }
        self.all_in(&joined)
    }
}

fn same_words(a: &str, b: &str) -> bool {
    a == b || normalize_words(a) == normalize_words(b)
}

/// The filter with its search normalised, ready to test many commitments.
pub(crate) struct Prepared<'a> {
    pub(crate) filter: &'a ListFilter,
    pub(crate) words: Option<Words>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(filter: &'a ListFilter) -> Prepared<'a> {
        Prepared {
            filter,
            words: filter.search.as_deref().map(Words::new),
        }
    }

    /// Whether a commitment of this `status` and these `parties` passes, when the filter asks
    /// nothing else; `None` when it needs the whole view.
    pub(crate) fn passes_light(&self, status: Status, parties: &[String]) -> Option<bool> {
        let f = self.filter;
        let light = f.theme.is_none()
            && f.owner.is_none()
            && f.search.is_none()
            && f.due_before.is_none()
            && !f.overdue;
        light.then(|| {
            f.status.is_none_or(|s| status == s)
                && f.party
                    .as_deref()
                    .is_none_or(|p| parties.iter().any(|x| same_words(x, p)))
        })
    }

    /// Whether a commitment in `basis` passes every filter.
    pub(crate) fn passes(&self, c: &CommitmentView, basis: &ResolvedBasis) -> bool {
        let f = self.filter;
        f.status.is_none_or(|s| c.status == s)
            && f.party
                .as_deref()
                .is_none_or(|p| c.parties.iter().any(|x| same_words(x, p)))
            && f.theme
                .as_deref()
                .is_none_or(|t| c.themes.iter().any(|x| same_words(x, t)))
            && f.owner
                .as_deref()
                .is_none_or(|o| c.owner.as_deref().is_some_and(|x| same_words(x, o)))
            && f.due_before
                .is_none_or(|d| c.due.is_some_and(|due| due < d))
            && (!f.overdue || is_overdue(c, basis))
            && self.words.as_ref().is_none_or(|w| {
                w.all_in_texts(std::iter::once(c.title.as_str()).chain(c.summary.as_deref()))
            })
    }
}

/// Due before `as_of`'s day and not done, given up or replaced.
fn is_overdue(c: &CommitmentView, basis: &ResolvedBasis) -> bool {
    let open = !matches!(
        c.status,
        Status::Fulfilled | Status::PartiallyFulfilled | Status::Withdrawn | Status::Superseded
    );
    open && c.due.is_some_and(|due| due < basis.as_of.date_naive())
}

/// Orders a list (stable: ties keep the recorded order).
pub(crate) fn sort(list: &mut [CommitmentView], sort: Sort) {
    match sort {
        Sort::Recorded => {}
        Sort::Made => list.sort_by_key(|c| c.made_on),
        Sort::Due => list.sort_by_key(|c| (c.due.is_none(), c.due)),
        Sort::StatusSince => list.sort_by_key(|c| std::cmp::Reverse(c.status_since)),
        Sort::Title => list.sort_by_cached_key(|c| normalize_words(&c.title)),
    }
}

/// Whether a meeting passes every filter.
pub(crate) fn meeting_passes(
    m: &MeetingView,
    filter: &MeetingFilter,
    words: Option<&Words>,
) -> bool {
    filter
        .commitment
        .is_none_or(|c| m.commitment_ids.contains(&c))
        && filter.from.is_none_or(|f| m.held_on.start() >= f.start())
        && filter.to.is_none_or(|t| m.held_on.start() <= t.end())
        && words.is_none_or(|w| {
            w.all_in_texts(
                std::iter::once(m.title.as_str())
                    .chain(m.location.as_deref())
                    .chain(m.outcomes.iter().map(String::as_str)),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercase_and_without_accents() {
        assert_eq!(
            normalize_words("Korea–Central Asia SUMMIT, Gyeongju"),
            " korea central asia summit gyeongju"
        );
        assert_eq!(normalize_words("Café Ōsaka über"), " cafe osaka uber");
        assert_eq!(normalize_words("  "), "");
    }

    #[test]
    fn a_query_word_matches_the_start_of_a_word() {
        let w = Words::new("SUMM asia");
        assert!(w.all_in(&normalize_words("Korea–Central Asia summit")));
        assert!(!w.all_in(&normalize_words("Korea–Central Asia")));
        // Inside a word is no match: "mit" is not the start of "summit".
        assert!(!Words::new("mit").all_in(&normalize_words("summit")));
        assert!(Words::new("cafe").all_in(&normalize_words("Café")));
        assert!(Words::new("CAFÉ").all_in(&normalize_words("cafe")));
    }

    #[test]
    fn an_empty_query_matches_everything() {
        assert!(Words::new("").all_in(""));
        assert!(Words::new(" - ").all_in(" anything"));
    }

    #[test]
    fn sorts_parse_by_name() {
        for name in Sort::NAMES {
            assert!(name.parse::<Sort>().is_ok());
        }
        assert!("newest"
            .parse::<Sort>()
            .unwrap_err()
            .contains("status_since"));
    }
}
