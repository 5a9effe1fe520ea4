//! `ikrar`, the command line for oversight staff: parse → run → exit code, nothing else.

#[macro_use]
mod output;
mod access;
mod args;
mod args_sub;
mod commands;
mod failure;
mod panics;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    let format = output::Format::resolve(args.global.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    panics::contain_storage_panics();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(commands::run(args, format))
    }));
    match ran {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(failure)) => failure.report(format),
        Err(panic) => match panics::storage_panic() {
            // sled panicked on damage it found while reading: an integrity failure (exit 3),
            // named, not a crash.
            Some(what) => failure::Failure::new(
                "integrity",
                failure::exit::INTEGRITY,
                format!("the ledger's database is damaged: sled failed reading it ({what})"),
            )
            .with_context("the ledger does not check out; stop writing to it and investigate")
            .report(format),
            None => std::panic::resume_unwind(panic),
        },
    }
}
