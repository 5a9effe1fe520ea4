//! Where a ledger lives, as a `--ledger` value names it: a directory (sled) or a PostgreSQL URL.
//!
//! Its own module, below both storage and the public API, so that the backends can name a
//! location (and redact its password) without importing the [`crate::Ledger`] above them.

use std::path::{Path, PathBuf};

/// Where a ledger lives: a directory on this machine (sled), or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A ledger directory holding a sled database.
    Directory(PathBuf),
    /// A PostgreSQL connection string, `postgres://user@host:port/database` (libpq's URL form;
    /// `?options=-csearch_path%3Dname` puts the ledger in its own schema).
    Postgres(String),
}

impl Location {
    /// The location a `--ledger` value names: a `postgres://` or `postgresql://` URL is a
    /// PostgreSQL ledger, anything else a directory.
    ///
    /// ```
    /// use ikrar_core::Location;
    /// assert!(matches!(Location::of("postgres://ikrar@db/ledger"), Location::Postgres(_)));
    /// assert!(matches!(Location::of("ikrar-ledger"), Location::Directory(_)));
    /// ```
    pub fn of(value: impl AsRef<Path>) -> Location {
        let path = value.as_ref();
        match path.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Location::Postgres(s.to_string())
            }
            _ => Location::Directory(path.to_path_buf()),
        }
    }

    /// How to name the location to a person: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Directory(p) => p.display().to_string(),
            Location::Postgres(url) => redact_password(url),
        }
    }
}

/// `postgres://user:secret@host/db?password=secret` → `postgres://user:***@host/db?password=***`:
/// the password of the authority and of the query string (libpq takes it from either).
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:***{}", &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn a_password_is_never_shown_wherever_the_url_holds_it() {
        let cases = [
            (
                "postgres://kim:s3cret@db.example/ikrar",
                "postgres://kim:***@db.example/ikrar",
            ),
            (
                "postgres://kim@db.example/ikrar?sslmode=require&password=s3cret",
                "postgres://kim@db.example/ikrar?sslmode=require&password=***",
            ),
            (
                "postgresql://kim:a@b@db.example:5433/ikrar?PASSWORD=x&application_name=ikrar",
                "postgresql://kim:***@db.example:5433/ikrar?PASSWORD=***&application_name=ikrar",
            ),
            ("postgres://db.example/ikrar", "postgres://db.example/ikrar"),
            (
                "postgres://kim:s3cret@db.example",
                "postgres://kim:***@db.example",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_password(url), shown, "{url}");
            assert!(!redact_password(url).contains("s3cret"));
        }
    }
}
