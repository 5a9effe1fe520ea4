//! Points in time as ikrar writes them: a calendar date or an RFC 3339 instant.
//!
//! SPEC §1: a date used as `effective` means the start of that day (UTC); a date used as a
//! query's `as_of` means the end of that day. Instants are normalised to UTC with microsecond
//! precision, because that is what the recorded form stores.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A date (`YYYY-MM-DD`) or an instant (RFC 3339, normalised to UTC, microseconds).
///
/// ```
/// use ikrar_core::Moment;
/// let d: Moment = "2025-01-16".parse().unwrap();
/// assert_eq!(d.start().to_rfc3339(), "2025-01-16T00:00:00+00:00");
/// assert_eq!(d.to_string(), "2025-01-16");
/// let i: Moment = "2025-01-16T09:30:00+09:00".parse().unwrap();
/// assert_eq!(i.to_string(), "2025-01-16T00:30:00.000000Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Moment {
    /// A whole calendar day, UTC.
    Date(NaiveDate),
    /// One instant, UTC, truncated to microseconds.
    Instant(DateTime<Utc>),
}

impl Moment {
    /// The first instant the moment covers: midnight UTC for a date.
    pub fn start(&self) -> DateTime<Utc> {
        match self {
            Moment::Date(d) => start_of_day(*d),
            Moment::Instant(t) => *t,
        }
    }

    /// The last instant the moment covers: 23:59:59.999999 UTC for a date (SPEC §1, `as_of`).
    pub fn end(&self) -> DateTime<Utc> {
        match self {
            Moment::Date(d) => end_of_day(*d),
            Moment::Instant(t) => *t,
        }
    }
}

/// Midnight UTC at the start of `date`.
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The last microsecond of `date`, UTC.
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &date
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .expect("end of day exists"),
    )
}

/// Truncates an instant to whole microseconds, the precision of the recorded form.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::from_timestamp_micros(micros).expect("in range")
}

/// Formats an instant the way records store it: `2025-01-16T00:30:00.000000Z`.
pub fn format_instant(t: &DateTime<Utc>) -> String {
    let mut text = [0u8; INSTANT_TEXT_BYTES];
    match instant_text(t, &mut text) {
        Some(s) => s.to_owned(),
        None => t.to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

/// Bytes of an instant's recorded form in years 0–9999.
const INSTANT_TEXT_BYTES: usize = 27;

/// Writes `value` as `width` decimal digits (zero-padded) at `buf[at..]`.
fn put_digits(buf: &mut [u8], at: usize, mut value: u32, width: usize) {
    for i in (at..at + width).rev() {
        buf[i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The recorded form of `t` written into `buf`, the same text chrono's RFC 3339 writer gives
/// (checked by a test) without its per-call formatting machinery: every record holds one or
/// two instants, and formatting them showed in the append profile. `None` for a year outside
/// 0–9999 or a leap second, which chrono formats instead.
fn instant_text<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; INSTANT_TEXT_BYTES]) -> Option<&'b str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    *buf = *b"0000-00-00T00:00:00.000000Z";
    put_digits(buf, 0, year, 4);
    put_digits(buf, 5, t.month(), 2);
    put_digits(buf, 8, t.day(), 2);
    put_digits(buf, 11, t.hour(), 2);
    put_digits(buf, 14, t.minute(), 2);
    put_digits(buf, 17, t.second(), 2);
    put_digits(buf, 20, nanos / 1_000, 6);
    std::str::from_utf8(buf).ok()
}

/// `YYYY-MM-DD` written into `buf`; `None` for a year outside 0–9999.
fn date_text(d: NaiveDate, buf: &mut [u8; 10]) -> Option<&str> {
    use chrono::Datelike;
    let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    *buf = *b"0000-00-00";
    put_digits(buf, 0, year, 4);
    put_digits(buf, 5, d.month(), 2);
    put_digits(buf, 8, d.day(), 2);
    std::str::from_utf8(buf).ok()
}

/// Parses an RFC 3339 instant (any offset) into UTC, truncated to microseconds.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| truncate_to_micros(t.with_timezone(&Utc)))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant ({e})"))
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    if s.len() != 10 {
        return Err(format!("`{s}` is not a date of the form YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("`{s}` is not a date of the form YYYY-MM-DD ({e})"))
}

impl FromStr for Moment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 10 {
            parse_date(s).map(Moment::Date)
        } else {
            parse_instant(s).map(Moment::Instant).map_err(|_| {
                format!("`{s}` is neither a date (YYYY-MM-DD) nor an RFC 3339 instant")
            })
        }
    }
}

/// Writes `YYYY-MM-DD` directly (chrono's `format` parses its pattern on every call, which
/// shows in the append profile).
fn write_date(f: &mut impl fmt::Write, d: NaiveDate) -> fmt::Result {
    use chrono::Datelike;
    write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Moment::Date(d) => write_date(f, *d),
            Moment::Instant(t) => f.write_str(&format_instant(t)),
        }
    }
}

impl Serialize for Moment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // From a stack buffer: `collect_str` would go through the formatting machinery.
        let (mut date, mut instant) = ([0u8; 10], [0u8; INSTANT_TEXT_BYTES]);
        match self {
            Moment::Date(d) => match date_text(*d, &mut date) {
                Some(text) => s.serialize_str(text),
                None => s.collect_str(self),
            },
            Moment::Instant(t) => match instant_text(t, &mut instant) {
                Some(text) => s.serialize_str(text),
                None => s.collect_str(self),
            },
        }
    }
}

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for `YYYY-MM-DD` dates that reject anything else.
pub mod date_format {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serialises a date as `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        super::Moment::Date(*d).serialize(s)
    }

    /// Parses a strict `YYYY-MM-DD` date.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_date(&s).map_err(serde::de::Error::custom)
    }

    /// The same for optional dates.
    pub mod option {
        use chrono::NaiveDate;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serialises `None` as null.
        pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        /// Parses null or a strict date.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| super::super::parse_date(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// Serde helpers for instants in the recorded form (UTC, microseconds, `Z`).
pub mod instant_format {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serialises as `2025-01-16T00:30:00.000000Z`.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        super::Moment::Instant(*t).serialize(s)
    }

    /// Parses any RFC 3339 instant.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_instant(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_forms_are_chronos() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 11
        };
        // Years 0000-9999 and beyond, at microsecond precision and below it.
        let earliest = DateTime::<Utc>::MIN_UTC.timestamp_micros() / 2;
        let latest = DateTime::<Utc>::MAX_UTC.timestamp_micros() / 2;
        let mut samples: Vec<DateTime<Utc>> = vec![
            DateTime::UNIX_EPOCH,
            "0000-01-01T00:00:00Z".parse().unwrap(),
            "9999-12-31T23:59:59.999999Z".parse().unwrap(),
            start_of_day(NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap()),
            end_of_day(NaiveDate::from_ymd_opt(-1, 12, 31).unwrap()),
        ];
        for i in 0..20_000u64 {
            let micros = if i % 2 == 0 {
                // Mostly the years records are in.
                (next() % 4_102_444_800_000_000) as i64
            } else {
                earliest + (next() % (latest - earliest) as u64) as i64
            };
            let t = DateTime::from_timestamp_micros(micros).unwrap();
            samples.push(t + chrono::Duration::nanoseconds((next() % 1000) as i64));
        }
        for t in samples {
            let chrono_form = t.to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(format_instant(&t), chrono_form);
            let json = serde_json::to_string(&Moment::Instant(t)).unwrap();
            assert_eq!(json, format!("\"{chrono_form}\""));
            let d = t.date_naive();
            let json = serde_json::to_string(&Moment::Date(d)).unwrap();
            assert_eq!(json, format!("\"{}\"", Moment::Date(d)));
            if (0..=9999).contains(&chrono::Datelike::year(&d)) {
                assert_eq!(json, format!("\"{}\"", d.format("%Y-%m-%d")));
            }
        }
    }
}
