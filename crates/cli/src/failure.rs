//! Errors as the command line reports them: one `error:` line, context lines, an exit code
//! (SPEC §6), and with `--format json` a JSON error object on standard output.

use std::process::ExitCode;

use ikrar_core::Error;

use crate::output::Format;

/// Exit codes of SPEC §6.
pub mod exit {
    /// Operational error: I/O, ledger locked, not found.
    pub const OPERATIONAL: u8 = 1;
    /// Bad input or usage; nothing was written.
    pub const BAD_INPUT: u8 = 2;
    /// Integrity failure.
    pub const INTEGRITY: u8 = 3;
    /// `expected_version` or `event_id` conflict.
    pub const CONFLICT: u8 = 4;
}

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub context: Vec<String>,
    pub code: u8,
    /// Already printed in the command's own format (e.g. `verify --format json`).
    pub reported: bool,
}

impl Failure {
    pub fn new(kind: &'static str, code: u8, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            context: Vec::new(),
            code,
            reported: false,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new("validation", exit::BAD_INPUT, message)
    }

    pub fn with_context(mut self, line: impl Into<String>) -> Self {
        self.context.push(line.into());
        self
    }

    pub fn report(self, format: Format) -> ExitCode {
        if !self.reported {
            eprintln!("error: {}", self.message);
            for line in &self.context {
                eprintln!("  {line}");
            }
            if format == Format::Json {
                let body =
                    serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
                outln!("{body}");
            }
        }
        ExitCode::from(self.code)
    }
}

/// The exit code SPEC §6 gives an error of the core.
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Validation { .. } => exit::BAD_INPUT,
        Error::Conflict { .. } | Error::EventIdConflict { .. } => exit::CONFLICT,
        Error::Integrity { .. } | Error::Proof(_) => exit::INTEGRITY,
        Error::Checkpoint(_) | Error::Config(_) => exit::BAD_INPUT,
        Error::AlreadyExists { .. }
        | Error::Locked { .. }
        | Error::NoLedger { .. }
        | Error::NotFound { .. }
        | Error::Closed { .. }
        | Error::DiskFull { .. }
        | Error::Io(_)
        | Error::Storage { .. } => exit::OPERATIONAL,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = exit_code(&e);
        let mut f = Failure::new(e.kind(), code, e.to_string());
        match &e {
            Error::Validation { .. } | Error::Conflict { .. } | Error::EventIdConflict { .. } => {
                f = f.with_context("nothing was written");
            }
            Error::Integrity { .. } => {
                f = f.with_context(
                    "the ledger does not check out; stop writing to it and investigate",
                );
            }
            Error::NoLedger { .. } => {
                f = f.with_context("create one with `ikrar init`");
            }
            _ => {}
        }
        f
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        // The commands' only pipes are standard output: its reader going away ends the
        // command quietly (SPEC §6).
        crate::output::exit_if_closed(&e);
        Failure::new("io", exit::OPERATIONAL, format!("I/O error: {e}"))
    }
}
