//! The basis bar (SPEC §10): every page takes `as_of` and `known_at`, shows them, and puts them
//! in its links, so that a link reproduces exactly what its sender saw.

use ikrar_core::moment::format_instant;
use ikrar_core::Moment;
use ikrar_state::{Basis, KnownAt, ResolvedBasis};
use serde::Deserialize;

use crate::text::query;
use crate::{Console, Error};

/// `?as_of=&known_at=&known_at_date=` (the date field of the bar wins over its slider).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct BasisQuery {
    pub(crate) as_of: Option<String>,
    pub(crate) known_at: Option<String>,
    pub(crate) known_at_date: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A basis as the page was asked for it, and as resolved against the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub(crate) basis: Basis,
    pub(crate) resolved: ResolvedBasis,
    /// `as_of` as given (empty: now).
    pub(crate) as_of: String,
    /// `known_at` as given (empty: the whole ledger).
    pub(crate) known_at: String,
}

impl Chosen {
    /// `as_of=…&known_at=…` pairs of what was given.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("as_of", self.as_of.clone()),
            ("known_at", self.known_at.clone()),
        ]
    }

    /// `path` with this basis in its query string.
    pub(crate) fn link(&self, path: &str) -> String {
        format!("{path}{}", query(&self.pairs()))
    }
}

impl BasisQuery {
    /// Parses and resolves the basis; a bad value is a 400 that names it.
    pub(crate) fn choose(&self, console: &Console) -> Result<Chosen, Error> {
        let known_at = given(&self.known_at_date).or_else(|| given(&self.known_at));
        let as_of = given(&self.as_of);
        let basis = Basis::new(
            known_at
                .as_deref()
                .map(|k| {
                    k.parse::<KnownAt>()
                        .map_err(|e| Error::BadRequest(format!("known_at: {e}")))
                })
                .transpose()?,
            as_of
                .as_deref()
                .map(|a| {
                    a.parse::<Moment>()
                        .map_err(|e| Error::BadRequest(format!("as_of: {e}")))
                })
                .transpose()?,
        );
        // The projection first takes in what the log has gained, so that a page read in the
        // resolved basis (`commitment_in`) sees every event that basis covers.
        console.projection().catch_up()?;
        let resolved = basis.resolve(console.ledger())?;
        Ok(Chosen {
            basis,
            resolved,
            as_of: as_of.unwrap_or_default(),
            known_at: known_at.unwrap_or_default(),
        })
    }
}

/// What the basis bar shows.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    /// The page the bar's form submits to.
    pub(crate) action: String,
    /// The page's other parameters, kept when the basis changes.
    pub(crate) keep: Vec<(String, String)>,
    /// The resolved valid time, RFC 3339 (`data-basis-as-of`).
    pub(crate) as_of_resolved: String,
    /// The date input's value.
    pub(crate) as_of_date: String,
    /// The resolved tree size (`data-basis-known-at`).
    pub(crate) tree_size: u64,
    /// The ledger's tree size now: the slider's end.
    pub(crate) head: u64,
    /// The `known_at` date input's value, when `known_at` was given as a moment.
    pub(crate) known_at_date: String,
    /// This page, with the basis fixed to what is shown (tree size and instant).
    pub(crate) permalink: String,
    /// This page, with the basis reset.
    pub(crate) now_link: String,
    /// Whether the basis is the default one.
    pub(crate) is_now: bool,
}

impl Bar {
    pub(crate) fn new(
        console: &Console,
        chosen: &Chosen,
        action: &str,
        keep: Vec<(&'static str, String)>,
    ) -> Bar {
        let resolved_as_of = format_instant(&chosen.resolved.as_of);
        let keep: Vec<(&str, String)> = keep.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let mut fixed = keep.clone();
        fixed.push(("as_of", resolved_as_of.clone()));
        fixed.push(("known_at", chosen.resolved.tree_size.to_string()));
        let as_of_date = if chosen.as_of.is_empty() {
            String::new()
        } else {
            chosen.resolved.as_of.format("%Y-%m-%d").to_string()
        };
        let known_at_date = match chosen.basis.known_at {
            Some(KnownAt::Moment(m)) => m.end().format("%Y-%m-%d").to_string(),
            _ => String::new(),
        };
        Bar {
            action: action.to_string(),
            keep: keep
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            as_of_resolved: resolved_as_of,
            as_of_date,
            tree_size: chosen.resolved.tree_size,
            head: console.ledger().head().tree_size,
            known_at_date,
            permalink: format!("{action}{}", query(&fixed)),
            now_link: format!("{action}{}", query(&keep)),
            is_now: chosen.as_of.is_empty() && chosen.known_at.is_empty(),
        }
    }
}
