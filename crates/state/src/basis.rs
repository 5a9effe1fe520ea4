//! The basis of a query (SPEC §4.1): what the ledger knew (`known_at`, transaction time) and the
//! moment in the world asked about (`as_of`, valid time).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ikrar_core::moment::format_instant;
use ikrar_core::{Ledger, Moment};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Transaction time: a tree size, or an instant of `recorded_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownAt {
    /// The events at positions `< N`.
    TreeSize(u64),
    /// The events recorded at or before this moment. A date means the end of that day.
    Moment(Moment),
}

impl FromStr for KnownAt {
    type Err = String;

    /// A decimal tree size, or a date / RFC 3339 instant.
    ///
    /// ```
    /// use ikrar_state::KnownAt;
    /// assert_eq!("42".parse::<KnownAt>().unwrap(), KnownAt::TreeSize(42));
    /// assert!(matches!("2025-07-01".parse::<KnownAt>().unwrap(), KnownAt::Moment(_)));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(KnownAt::TreeSize)
                .map_err(|e| format!("`{s}` is not a tree size ({e})"));
        }
        s.parse::<Moment>()
            .map(KnownAt::Moment)
            .map_err(|_| format!("`{s}` is neither a tree size nor a date or RFC 3339 instant"))
    }
}

impl fmt::Display for KnownAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnownAt::TreeSize(n) => write!(f, "{n}"),
            KnownAt::Moment(m) => write!(f, "{m}"),
        }
    }
}

/// A basis as asked: either part may be left to its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Basis {
    /// Default: the whole ledger.
    pub known_at: Option<KnownAt>,
    /// Default: the instant of `known_at` if given as a moment, else now. A date means the end
    /// of that day.
    pub as_of: Option<Moment>,
}

impl Basis {
    /// The whole ledger, as of now.
    pub fn now() -> Basis {
        Basis::default()
    }

    /// A basis from its two parts.
    pub fn new(known_at: Option<KnownAt>, as_of: Option<Moment>) -> Basis {
        Basis { known_at, as_of }
    }

    /// Resolves the basis against a ledger: `known_at` becomes a tree size (for an instant, by
    /// binary search over `recorded_at`, which never decreases), `as_of` an instant.
    pub fn resolve(&self, ledger: &Ledger) -> Result<ResolvedBasis, Error> {
        let head = ledger.head();
        let (tree_size, known_at_instant) = match self.known_at {
            None => (head.tree_size, None),
            Some(KnownAt::TreeSize(n)) => {
                if n > head.tree_size {
                    return Err(Error::InvalidBasis {
                        field: "known_at".into(),
                        rule: format!("tree size {n} is beyond the ledger's {}", head.tree_size),
                    });
                }
                (n, None)
            }
            Some(KnownAt::Moment(m)) => {
                let t = m.end();
                (tree_size_at(ledger, head.tree_size, t)?, Some(t))
            }
        };
        let as_of = match (self.as_of, known_at_instant) {
            (Some(m), _) => m.end(),
            (None, Some(t)) => t,
            (None, None) => ikrar_core::moment::truncate_to_micros(Utc::now()),
        };
        Ok(ResolvedBasis {
            tree_size,
            known_at_instant,
            as_of,
        })
    }
}

/// The number of events recorded at or before `t`.
fn tree_size_at(ledger: &Ledger, size: u64, t: DateTime<Utc>) -> Result<u64, Error> {
    // Invariant used: recorded_at never decreases with position (SPEC §1).
    let (mut lo, mut hi) = (0u64, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ledger.read(mid)?.record.recorded_at <= t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// A basis with both parts fixed: what every query folds over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedBasis {
    /// Events at positions `< tree_size` are known.
    pub tree_size: u64,
    /// The instant `known_at` was given as, if it was.
    pub known_at_instant: Option<DateTime<Utc>>,
    /// Events effective at or before this instant are folded.
    pub as_of: DateTime<Utc>,
}

impl ResolvedBasis {
    /// A basis over the first `tree_size` events, as of `as_of`.
    pub fn new(tree_size: u64, as_of: DateTime<Utc>) -> ResolvedBasis {
        ResolvedBasis {
            tree_size,
            known_at_instant: None,
            as_of,
        }
    }

    /// The JSON form of `known_at` in views: `{"tree_size":N}`, plus the instant if one was given.
    pub fn known_at_json(&self) -> KnownAtView {
        KnownAtView {
            tree_size: self.tree_size,
            recorded_at: self.known_at_instant.map(|t| format_instant(&t)),
        }
    }
}

/// `known_at` as views show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnownAtView {
    /// Events at positions below this were known.
    pub tree_size: u64,
    /// The instant asked for, when `known_at` was given as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
}
