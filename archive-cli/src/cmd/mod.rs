//! One module per subcommand.

mod cat;
mod extract;
mod info;
mod ls;
mod pack;
mod verify;

use std::process::ExitCode;

use anyhow::Result;
use archive_format::manifest::TableSummary;
use archive_format::table::{ROOT_GROUP, is_under};

use crate::cli::{Cli, Command};
use crate::source::Context;

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let context = Context::from_cli(&cli);
    match cli.command {
        Command::Pack(args) => pack::run(args, context.quiet),
        Command::Ls(args) => ls::run(args, &context),
        Command::Extract(args) => extract::run(args, &context),
        Command::Cat(args) => cat::run(args, &context),
        Command::Verify(args) => verify::run(args, &context),
        Command::Info(args) => info::run(args, &context),
    }
}

/// True if member `name` belongs to the table at `table_path`.
pub fn table_holds(table_path: &str, name: &str) -> bool {
    if table_path == ROOT_GROUP {
        !name.contains('/')
    } else {
        is_under(name, table_path)
    }
}

/// True if the user's TABLE argument selects the table at `table_path`: the same path, or
/// a folder above it (`default.db` selects every table in it). `.` selects the root group.
pub fn selects(argument: &str, table_path: &str) -> bool {
    let argument = argument.trim_end_matches('/');
    if argument == ROOT_GROUP || table_path == ROOT_GROUP {
        return argument == table_path;
    }
    is_under(table_path, argument)
}

/// The `table` JSON record for a table summary.
pub fn table_record(table: &TableSummary) -> serde_json::Value {
    serde_json::json!({
        "type": "table",
        "path": table.path,
        "format": table.format,
        "snapshot": table.snapshot,
        "files": table.files,
        "bytes": table.bytes,
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
    format!(
        "{:<40} {:<8} {:>6} files {:>12}{snapshot}",
        table.path,
        table.format.to_string(),
        table.files,
        crate::output::human_bytes(table.bytes)
    )
}
