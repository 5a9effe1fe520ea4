//! The mapping (SPEC §12): which fields of a tracker's rows give which fields of a commitment,
//! and which canonical status each of the tracker's labels means.

use std::collections::HashMap;

use ikrar_core::Status;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Error;

/// What to do with a key seen twice in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicateKey {
    /// The snapshot is refused (the default).
    #[default]
    Error,
    /// Repeats are keyed by their order of appearance: `key`, `key #2`, `key #3`, …
    Number,
}

/// What to record when a key disappears from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// Retract its `commitment_made`: the tracker took it back (the default).
    #[default]
    Retract,
    /// Change its status to `withdrawn`.
    Withdraw,
    /// Record nothing: it keeps its last state.
    Keep,
}

/// What to do with a title longer than the ledger takes (500 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongTitles {
    /// The row is an error (the default).
    #[default]
    Error,
    /// Cut at 500 characters, on a word boundary.
    Truncate,
}

/// The key: one field, or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Key {
    One(String),
    Several(Vec<String>),
}

/// The mapping file as written; `deny_unknown_fields` makes a misspelt key an error instead of
/// a field silently not imported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    namespace: String,
    #[serde(default)]
    rows: String,
    key: Key,
    #[serde(default)]
    on_duplicate_key: OnDuplicateKey,
    #[serde(default)]
    on_missing: OnMissing,
    #[serde(default)]
    long_titles: LongTitles,
    default_label: Option<String>,
    title: String,
    summary: Option<String>,
    owner: Option<String>,
    parties: Option<String>,
    themes: Option<String>,
    due: Option<String>,
    label: Option<String>,
    reason: Option<String>,
    url: Option<String>,
    #[serde(default)]
    labels: toml::Table,
}

/// A parsed, checked mapping.
///
/// ```
/// let mapping = ikrar_import::Mapping::from_toml(ikrar_import::EXAMPLE_MAPPING, "example.toml").unwrap();
/// assert_eq!(mapping.key_fields(), ["Commitment"]);
///
/// let err = ikrar_import::Mapping::from_toml("namespace = \"x\"\ntitel = \"T\"", "m.toml").unwrap_err();
/// assert!(err.to_string().contains("titel"), "{err}");
/// ```
#[derive(Debug, Clone)]
pub struct Mapping {
    pub(crate) namespace: Uuid,
    pub(crate) rows: String,
    pub(crate) key: Vec<String>,
    pub(crate) on_duplicate_key: OnDuplicateKey,
    pub(crate) on_missing: OnMissing,
    pub(crate) long_titles: LongTitles,
    pub(crate) default_label: Option<String>,
    pub(crate) title: String,
    pub(crate) summary: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) parties: Option<String>,
    pub(crate) themes: Option<String>,
    pub(crate) due: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) url: Option<String>,
    /// Normalised label (see [`normalise_label`]) → status.
    pub(crate) labels: HashMap<String, Status>,
    /// The labels exactly as the mapping spells them → status: most rows use one of these,
    /// and finding them needs no normalising (which allocates, once per row).
    pub(crate) exact: HashMap<String, Status>,
    /// SHA-256 of the mapping's text: a snapshot read under another mapping is not one to
    /// compare rows with (`crate::saved`).
    pub(crate) fingerprint: String,
}

/// Labels are looked up ignoring case, runs of white space and the kind of dash, so that
/// "Underway – on track" and "underway - on  track" are one label; the recorded label is always
/// the tracker's own text.
pub(crate) fn normalise_label(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

impl Mapping {
    /// Parses and checks a mapping; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Mapping, Error> {
        let bad = |message: String| Error::Mapping {
            file: file.to_string(),
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| bad(one_line(&e.to_string())))?;
        let namespace = Uuid::parse_str(raw.namespace.trim()).map_err(|e| {
            bad(format!(
                "key `namespace`: `{}` is not a UUID ({e})",
                raw.namespace
            ))
        })?;
        let key = match raw.key {
            Key::One(k) => vec![k],
            Key::Several(ks) => ks,
        };
        if key.is_empty() || key.iter().any(|k| k.trim().is_empty()) {
            return Err(bad("key `key`: names no field (give one or several)".into()));
        }
        if raw.title.trim().is_empty() {
            return Err(bad("key `title`: names no field".into()));
        }
        let mut labels = HashMap::new();
        let mut exact = HashMap::new();
        let mut spelt: HashMap<String, String> = HashMap::new();
        for (label, status) in &raw.labels {
            let status = status
                .as_str()
                .ok_or_else(|| {
                    bad(format!(
                        "[labels] `{label}`: must be a status name in quotes"
                    ))
                })?
                .parse::<Status>()
                .map_err(|e| bad(format!("[labels] `{label}`: {e}")))?;
            let norm = normalise_label(label);
            if let Some(&before) = labels.get(&norm) {
                if before != status {
                    return Err(bad(format!(
                        "[labels] `{label}` and `{}` are the same label (case, spaces and dashes aside) but map to {before} and {status}",
                        spelt[&norm]
                    )));
                }
            }
            labels.insert(norm.clone(), status);
            exact.insert(label.trim().to_string(), status);
            spelt.insert(norm, label.clone());
        }
        if let Some(default) = &raw.default_label {
            if !labels.contains_key(&normalise_label(default)) {
                return Err(bad(format!(
                    "key `default_label`: `{default}` is not in [labels]"
                )));
            }
        }
        let opt = |f: Option<String>| f.filter(|s| !s.trim().is_empty());
        Ok(Mapping {
            namespace,
            rows: raw.rows.trim().to_string(),
            key,
            on_duplicate_key: raw.on_duplicate_key,
            on_missing: raw.on_missing,
            long_titles: raw.long_titles,
            default_label: opt(raw.default_label),
            title: raw.title,
            summary: opt(raw.summary),
            owner: opt(raw.owner),
            parties: opt(raw.parties),
            themes: opt(raw.themes),
            due: opt(raw.due),
            label: opt(raw.label),
            reason: opt(raw.reason),
            url: opt(raw.url),
            labels,
            exact,
            fingerprint: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(text.as_bytes()))
            },
        })
    }

    /// The namespace every id of this import derives from.
    pub fn namespace(&self) -> Uuid {
        self.namespace
    }

    /// The fields that make a row's key.
    pub fn key_fields(&self) -> &[String] {
        &self.key
    }

    /// The status a label means, if the mapping names it.
    ///
    /// ```
    /// let m = ikrar_import::Mapping::from_toml(ikrar_import::EXAMPLE_MAPPING, "m.toml").unwrap();
    /// assert_eq!(m.status_of("underway – ON track"), Some(ikrar_core::Status::InProgress));
    /// assert_eq!(m.status_of("Done-ish"), None);
    /// ```
    pub fn status_of(&self, label: &str) -> Option<Status> {
        match self.exact.get(label) {
            Some(status) => Some(*status),
            None => self.labels.get(&normalise_label(label)).copied(),
        }
    }
}

/// toml's errors span several lines (a snippet of the file); the first line names the place
/// and the rest is kept, joined, for the one `error:` line of the command line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        // The quoted lines of the file (`2 | titel = "y"`): the message names line and key.
        .filter(|l| {
            let (number, rest) = l.split_once(' ').unwrap_or((l, ""));
            !(number.chars().all(|c| c.is_ascii_digit()) && rest.starts_with('|'))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Mapping::from_toml(text, "m.toml").unwrap_err().to_string()
    }

    const BASE: &str =
        "namespace = \"5b0c6f7e-3d2a-4e1b-9c8d-7a6f5e4d3c2b\"\nkey = \"id\"\ntitle = \"t\"\n";

    #[test]
    fn the_example_parses() {
        let m = Mapping::from_toml(crate::EXAMPLE_MAPPING, "x").unwrap();
        assert_eq!(m.on_duplicate_key, OnDuplicateKey::Number);
        assert_eq!(m.long_titles, LongTitles::Truncate);
        assert_eq!(m.rows, "data");
        assert_eq!(m.status_of("Not yet rated"), Some(Status::Announced));
    }

    #[test]
    fn bad_mappings_name_the_key() {
        assert!(err(&format!("{BASE}colour = \"red\"")).contains("colour"));
        assert!(err("key = \"id\"\ntitle = \"t\"").contains("namespace"));
        assert!(err(&BASE.replace("5b0c", "zz")).contains("namespace"));
        assert!(err(&format!("{BASE}[labels]\nDone = \"finished\"")).contains("Done"));
        assert!(err(&format!("{BASE}on_missing = \"forget\"")).contains("forget"));
        assert!(err(&format!("{BASE}default_label = \"X\"")).contains("default_label"));
        let twice =
            format!("{BASE}[labels]\n\"On track\" = \"in_progress\"\n\"on  TRACK\" = \"at_risk\"");
        assert!(err(&twice).contains("same label"));
        assert!(err("this is = not toml").contains("m.toml"));
    }

    #[test]
    fn labels_are_found_whatever_their_spelling() {
        let m = Mapping::from_toml(
            &format!("{BASE}[labels]\n\"Underway – on track\" = \"in_progress\""),
            "m",
        )
        .unwrap();
        for spelling in [
            "Underway - on track",
            " underway  –  ON TRACK ",
            "Underway — on track",
        ] {
            assert_eq!(
                m.status_of(spelling),
                Some(Status::InProgress),
                "{spelling}"
            );
        }
    }
}
