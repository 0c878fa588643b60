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
    handle_interruptions();
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

/// On SIGINT, SIGTERM or SIGHUP: removes the partial files (members not yet renamed into
/// place, a half-written archive), then exits with 128 + the signal number, as a shell
/// reports a process killed by it. An S3 upload is left as it is, for a rerun to resume.
/// A signal this process started with ignored stays ignored (`nohup` ignores SIGHUP, a
/// shell script's background job SIGINT).
fn handle_interruptions() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let ignored = ignored_at_start();
    let wanted: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|signal| ignored & (1 << (signal - 1)) == 0)
        .collect();
    let mut signals = match signal_hook::iterator::Signals::new(&wanted) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!(
                "lakezip: warning: cannot handle interruptions ({error}); an interrupted run may leave .lakezip-partial-* files"
            );
            return;
        }
    };
    // The handler runs on this thread, not in signal context: it may take locks.
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            range_reader::partial::remove_all();
            eprintln!("lakezip: interrupted");
            std::process::exit(128 + signal);
        }
    });
}

/// The signals ignored when the process started, as a mask (bit n-1 for signal n), from
/// `SigIgn` in /proc/self/status; none where that is not available.
fn ignored_at_start() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("SigIgn:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        })
        .unwrap_or(0)
}
