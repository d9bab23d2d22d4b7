//! The `adbrag` binary: parse the command line, start logging, run one command, report its error.

use std::process::ExitCode;

use adbrag::{
    cli,
    config::{Cli, Command},
    telemetry,
};
use clap::Parser;

fn main() -> ExitCode {
    let args = Cli::parse();
    telemetry::init(&args.log);
    // A panic inside a task (a parser on a hostile file, say) is contained and reported as that
    // task's error; log it once as an event rather than printing a backtrace at the user.
    std::panic::set_hook(Box::new(
        |info| tracing::error!(panic = %info, "a task panicked"),
    ));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(&anyhow::Error::new(err).context("cannot start the async runtime"));
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Command::Serve(args) => cli::serve::run(*args).await,
            Command::Migrate(args) => cli::migrate::run(args).await,
            Command::Ingest(args) => cli::ingest::run(*args).await,
            Command::Search(args) => cli::search::run(*args).await,
            Command::Eval(args) => cli::eval::run(*args).await,
            Command::Ask(args) => cli::ask::run(*args).await,
            Command::Keys(args) => cli::keys::run(args).await,
            Command::Fc(args) => cli::fc::run(*args).await,
            Command::Worker(args) => cli::worker::run(*args).await,
            Command::Jobs(args) => cli::jobs::run(args).await,
            Command::Purge(args) => cli::purge::run(*args).await,
            Command::Tombstones(args) => cli::purge::tombstones(args).await,
            Command::Audit(args) => cli::purge::audit(args).await,
            Command::Stats(args) => cli::stats::run(args).await,
            Command::Reindex(args) => cli::reindex::run(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// One line, the whole cause chain, no backtrace: operator mistakes are not crashes.
fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}
