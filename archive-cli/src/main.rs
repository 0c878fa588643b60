//! `lakezip`: pack Iceberg and Delta warehouses into store-mode ZIP64 archives and read
//! them back, whole or one table at a time.

mod chain;
mod cli;
mod cmd;
mod dest;
mod output;
mod relocate;
mod select;
mod source;
mod warehouse;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.json_requested();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            output::print_error(&error, json);
            ExitCode::from(1)
        }
    }
}

/// A closed stdout (`lakezip ls … | head`) is not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
