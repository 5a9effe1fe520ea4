//! Snapshots from a git repository: every commit that changed a path, oldest first, dated by
//! its commit time. The history is read by the `git` program itself (see
//! docs/adr/0006-git-history-through-the-git-program.md for why).

use std::path::Path;
use std::process::Command;

use chrono::DateTime;
use ikrar_core::Moment;

use crate::error::Error;
use crate::snapshot::{Format, Snapshot};

/// Splits `REPO:PATH` at its last colon (a path inside a repository rarely holds one; the
/// repository's own path may).
fn split(spec: &str) -> Result<(&str, &str), Error> {
    match spec.rsplit_once(':') {
        Some((repo, path)) if !repo.is_empty() && !path.is_empty() => Ok((repo, path)),
        _ => Err(Error::Usage(format!(
            "--git `{spec}` is not REPO:PATH (e.g. ./tracker:data/promises.csv)"
        ))),
    }
}

fn git(repo: &str, args: &[&str]) -> Result<std::process::Output, Error> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| Error::Git(format!("cannot run the `git` program: {e}")))
}

/// Every version of `PATH` in `REPO`, oldest first. A commit that deleted the path gives a
/// snapshot with no bytes (unreadable: an error, or skipped with `--skip-unreadable`).
///
/// Commits are taken in history order (parents before children); a commit dated before its
/// predecessor keeps its own date here, and the import moves it after (SPEC §12).
pub fn snapshots_from_git(spec: &str) -> Result<Vec<Snapshot>, Error> {
    let (repo, path) = split(spec)?;
    if !Path::new(repo).exists() {
        return Err(Error::Read {
            path: format!("repository {repo}"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    let format = Format::of_path(Path::new(path)).ok_or_else(|| {
        Error::Usage(format!(
            "--git {spec}: cannot tell the format from the file name (expected .csv, .json, .yaml or .yml)"
        ))
    })?;
    // %ct is the committer time in Unix seconds: no time zone to get wrong.
    let log = git(
        repo,
        &[
            "log",
            "--topo-order",
            "--reverse",
            "--format=%H %ct",
            "--",
            path,
        ],
    )?;
    if !log.status.success() {
        return Err(Error::Git(format!(
            "`git log` in {repo} failed: {}",
            String::from_utf8_lossy(&log.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&log.stdout);
    let mut snapshots = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (commit, time) = line
            .split_once(' ')
            .ok_or_else(|| Error::Git(format!("unexpected `git log` line `{line}`")))?;
        let seconds: i64 = time
            .trim()
            .parse()
            .map_err(|_| Error::Git(format!("unexpected commit time in `{line}`")))?;
        let date = DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| Error::Git(format!("commit time out of range in `{line}`")))?;
        let show = git(repo, &["show", &format!("{commit}:{path}")])?;
        let short = &commit[..commit.len().min(12)];
        snapshots.push(Snapshot {
            name: format!("{spec}@{short}"),
            date: Moment::Instant(date),
            url: None,
            format,
            // The path was deleted by this commit: no bytes, so the snapshot is unreadable.
            bytes: if show.status.success() {
                show.stdout
            } else {
                Vec::new()
            },
        });
    }
    if snapshots.is_empty() {
        return Err(Error::Git(format!(
            "no commit in {repo} changed {path} (a path relative to the repository's top)"
        )));
    }
    Ok(snapshots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_at_the_last_colon() {
        assert_eq!(split("a:b/c.csv").unwrap(), ("a", "b/c.csv"));
        assert_eq!(split("/x:y/repo:t.json").unwrap(), ("/x:y/repo", "t.json"));
        assert!(split("repo").is_err());
        assert!(split("repo:").is_err());
    }
}
