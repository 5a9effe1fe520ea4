//! Tile paths of C2SP tlog-tiles: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, where
//! `<N>` is written in zero-padded 3-digit groups, all but the last prefixed with `x`.
//!
//! Written here rather than taken from `tlog_tiles` 0.2: that crate's `Tile::path` is Go
//! sumdb's layout, with a tile height element (`tile/8/0/…`) and `data` for entries, which is
//! not the C2SP path, and its `from_path` panics on a `.p/0` suffix.

use crate::error::{Error, Result};

/// Which resource a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// A hash tile at tlog-tiles level `L` (tree height `8·L`).
    Hashes(u8),
    /// An entry bundle.
    Entries,
}

/// A parsed tile path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// Hashes (with the level) or entries.
    pub kind: TileKind,
    /// The tile's index within its level.
    pub index: u64,
    /// 1..=255 for a partial tile, 256 for a full one.
    pub width: u16,
}

/// Hashes or entries in a full tile.
pub const FULL_WIDTH: u16 = 256;

impl TilePath {
    /// The path after the prefix, e.g. `tile/0/x001/x234/067.p/8`.
    ///
    /// ```
    /// use ikrar_tlog::path::{TileKind, TilePath};
    /// let t = TilePath { kind: TileKind::Hashes(0), index: 1_234_067, width: 256 };
    /// assert_eq!(t.to_path(), "tile/0/x001/x234/067");
    /// let e = TilePath { kind: TileKind::Entries, index: 5, width: 8 };
    /// assert_eq!(e.to_path(), "tile/entries/005.p/8");
    /// assert_eq!(TilePath::parse("tile/entries/005.p/8").unwrap(), e);
    /// ```
    pub fn to_path(&self) -> String {
        let kind = match self.kind {
            TileKind::Hashes(level) => level.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let mut out = format!("tile/{kind}/{}", encode_index(self.index));
        if self.width < FULL_WIDTH {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses a path of either form; anything else (leading zeros in `L` or `W`, a width of 0
    /// or above 255, a group without its `x`, an index beyond u64) is refused.
    pub fn parse(path: &str) -> Result<TilePath> {
        let bad = || Error::malformed("tile path", format!("`{}`", truncate(path)));
        // u64::MAX has 7 groups: "tile/entries/" + 7·5 + ".p/255" is well below this.
        if path.len() > 80 {
            return Err(bad());
        }
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = if kind == "entries" {
            TileKind::Entries
        } else {
            let level = canonical_decimal(kind).ok_or_else(bad)?;
            if level > 63 {
                return Err(bad());
            }
            TileKind::Hashes(level as u8)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            None => (rest, FULL_WIDTH),
            Some((index_part, w)) => {
                let w = canonical_decimal(w).ok_or_else(bad)?;
                if !(1..=255).contains(&w) {
                    return Err(bad());
                }
                (index_part, w as u16)
            }
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, group) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *group
            } else {
                group.strip_prefix('x').ok_or_else(bad)?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let value: u64 = digits.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(value))
                .ok_or_else(bad)?;
        }
        let parsed = TilePath { kind, index, width };
        // One encoding per tile: `x000/001` is not 1.
        if parsed.to_path() != path {
            return Err(bad());
        }
        Ok(parsed)
    }
}

/// `<N>` in 3-digit groups: 1234067 → `x001/x234/067`.
pub fn encode_index(index: u64) -> String {
    let mut groups = vec![format!("{:03}", index % 1000)];
    let mut n = index / 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// A decimal with no leading zeros (but `0` itself), small enough for the fields it is used in.
fn canonical_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_example_and_its_neighbours() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        let t = TilePath::parse("tile/0/x001/x234/067").unwrap();
        assert_eq!(
            (t.kind, t.index, t.width),
            (TileKind::Hashes(0), 1_234_067, 256)
        );
        let t = TilePath::parse("tile/2/000.p/1").unwrap();
        assert_eq!((t.kind, t.index, t.width), (TileKind::Hashes(2), 0, 1));
        let max = TilePath::parse("tile/63/x018/x446/x744/x073/x709/x551/615.p/255").unwrap();
        assert_eq!(max.index, u64::MAX);
    }

    #[test]
    fn non_canonical_and_hostile_paths_are_refused() {
        for bad in [
            "tile/0/1",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/08",
            "tile/00/001",
            "tile/64/001",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/entries/x018/x446/x744/x073/x709/x551/616",
            "tile/entries/",
            "tile/data/000",
            "tile/0/00a",
            "tile/0/-01",
            "tile//000",
            "",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }
}
