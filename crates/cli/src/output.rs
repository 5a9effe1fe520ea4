//! Output formats and progress bars: pretty on a terminal, machine-readable elsewhere.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::args::FormatArg;

/// The resolved `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

impl Format {
    /// `--format` if given, else table on a terminal and json otherwise (SPEC §6).
    pub fn resolve(arg: Option<FormatArg>) -> Format {
        match arg {
            Some(FormatArg::Table) => Format::Table,
            Some(FormatArg::Json | FormatArg::TlogProof) => Format::Json,
            Some(FormatArg::Jsonl) => Format::Jsonl,
            Some(FormatArg::Csv) => Format::Csv,
            None if std::io::stdout().is_terminal() => Format::Table,
            None => Format::Json,
        }
    }
}

/// A progress bar on standard error when it is a terminal; a hidden one otherwise.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Writes to standard output; a reader that went away (`ikrar list | head`) ends the command
/// quietly — no panic, no message, exit 0 — as `println!` would not (it panics on a closed
/// pipe, since Rust programs ignore SIGPIPE).
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        exit_if_closed(&e);
        // Any other failure to write the answer (a full disk behind a redirection) is worth
        // saying, once, where it can still be read.
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Ends the process quietly if `e` says standard output's reader went away. Everything a
/// command records is durable before it prints, so nothing is lost by not unwinding.
pub fn exit_if_closed(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// `println!` that ends quietly on a closed pipe ([`write_stdout`]).
macro_rules! outln {
    () => { $crate::output::write_stdout(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*), true) };
}

/// `print!` that ends quietly on a closed pipe ([`write_stdout`]).
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*), false) };
}
