//! The resources of C2SP tlog-tiles, from a ledger: hash tiles (the stored tiles of 256 hashes,
//! partial ones as prefixes) and entry bundles (the stored records, each framed with a
//! big-endian uint16 length). Both are bounded by the durable head.

use ikrar_core::Ledger;

use crate::error::{Error, Result};
use crate::path::{TileKind, TilePath, FULL_WIDTH};

/// The bytes of the resource at `path`, or `None` if the tree does not hold it (yet).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ikrar_tlog::Error> {
/// use ikrar_tlog::{path::TilePath, tiles};
/// let dir = tempfile::tempdir()?;
/// let ledger = ikrar_core::Ledger::create(dir.path().join("l"))?;
/// let path = TilePath::parse("tile/entries/000.p/1")?;
/// assert!(tiles::read(&ledger, &path)?.is_none()); // nothing recorded yet
/// # Ok(()) }
/// ```
pub fn read(ledger: &Ledger, path: &TilePath) -> Result<Option<Vec<u8>>> {
    match path.kind {
        TileKind::Hashes(level) => Ok(ledger.stored_tile(level * 8, path.index, path.width)?),
        TileKind::Entries => entry_bundle(ledger, path.index, path.width),
    }
}

/// Entry bundle `index` of `width` records, if the log holds them.
pub fn entry_bundle(ledger: &Ledger, index: u64, width: u16) -> Result<Option<Vec<u8>>> {
    let Some(first) = index.checked_mul(u64::from(FULL_WIDTH)) else {
        return Ok(None);
    };
    let count = u64::from(width);
    if first
        .checked_add(count)
        .is_none_or(|end| end > ledger.head().tree_size)
    {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(usize::from(width) * 512);
    let mut too_long = None;
    ledger.for_each_record_bytes(
        first,
        count,
        &mut |record| match u16::try_from(record.len()) {
            Ok(len) => {
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(record);
            }
            Err(_) => too_long = Some(record.len()),
        },
    )?;
    if let Some(len) = too_long {
        // The append refuses such records (SPEC §3); one here was written by something else.
        return Err(Error::Verification(format!(
            "a stored record of {len} bytes in bundle {index} cannot be framed in an entry bundle"
        )));
    }
    Ok(Some(out))
}

/// Splits an entry bundle into its entries; refuses a truncated one.
///
/// ```
/// let bundle = [0u8, 2, b'h', b'i', 0, 0];
/// let entries = ikrar_tlog::tiles::split_bundle(&bundle).unwrap();
/// assert_eq!(entries, vec![&b"hi"[..], &b""[..]]);
/// assert!(ikrar_tlog::tiles::split_bundle(&[0u8, 3, b'x']).is_err());
/// ```
pub fn split_bundle(bundle: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (len, tail) = match rest {
            [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
            _ => return Err(Error::malformed("entry bundle", "a length prefix is cut")),
        };
        let entry = tail
            .get(..len)
            .ok_or_else(|| Error::malformed("entry bundle", "an entry is cut"))?;
        out.push(entry);
        rest = &tail[len..];
    }
    Ok(out)
}
