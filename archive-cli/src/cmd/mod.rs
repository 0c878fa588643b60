//! One module per subcommand.

mod cat;
mod cleanup;
mod consolidate;
mod extract;
mod info;
mod ls;
pub mod pack;
mod prune;
mod restore;
mod verify;

use std::process::ExitCode;

use anyhow::Result;
use archive_format::manifest::TableSummary;

use crate::cli::{Cli, Command};
use crate::source::Context;

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let context = Context::from_cli(&cli);
    match cli.command {
        Command::Pack(args) => pack::run(args, &context),
        Command::Ls(args) => ls::run(args, &context),
        Command::Extract(args) => extract::run(args, &context),
        Command::Cat(args) => cat::run(args, &context),
        Command::Verify(args) => verify::run(args, &context),
        Command::Info(args) => info::run(args, &context),
        Command::Restore(args) => restore::run(args, &context),
        Command::Consolidate(args) => consolidate::run(args, &context),
        Command::Prune(args) => prune::run(args, &context),
        Command::Cleanup(args) => cleanup::run(args, &context),
    }
}

pub use archive_format::table::table_holds;

pub use archive_format::table::selects;

/// The `table` JSON record for a table summary.
pub fn table_record(table: &TableSummary) -> serde_json::Value {
    serde_json::json!({
        "type": "table",
        "path": table.path,
        "format": table.format,
        "snapshot": table.snapshot,
        "files": table.files,
        "bytes": table.bytes,
        "orphans": table.orphans,
        "orphan_bytes": table.orphan_bytes,
        "data_range": table.data_range,
        "central_directory_range": table.central_directory_range,
    })
}

/// The text line for a table summary.
pub fn table_line(table: &TableSummary) -> String {
    let snapshot = table
        .snapshot
        .as_deref()
        .map(|s| format!("  snapshot {s}"))
        .unwrap_or_default();
    let orphans = if table.orphans > 0 {
        format!(
            "  ({} orphan{} left out, {})",
            table.orphans,
            if table.orphans == 1 { "" } else { "s" },
            crate::output::human_bytes(table.orphan_bytes)
        )
    } else {
        String::new()
    };
    format!(
        "{:<40} {:<8} {:>6} files {:>12}{snapshot}{orphans}",
        table.path,
        table.format.to_string(),
        table.files,
        crate::output::human_bytes(table.bytes)
    )
}
