//! `lakezip extract ARCHIVE [TABLE]... -C DIR`.
//!
//! With TABLE arguments on a lakezip archive, only the index and those tables' slices of
//! the central directory are read, then their data; otherwise the whole directory.

use std::process::ExitCode;

use anyhow::{Result, bail};
use archive_format::read::{Entry, is_lakezip_member};
use range_reader::RangeSource;
use range_reader::archive::{TableView, open_directory, open_tables, table_entries};
use range_reader::extract::{ExtractOptions, extract};

use crate::cli::ExtractArgs;
use crate::cmd::{selects, table_holds};
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::{self, Context};

pub fn run(args: ExtractArgs, context: &Context) -> Result<ExitCode> {
    let relocation = args
        .relocate
        .as_deref()
        .map(table_state::relocate::Relocation::parse)
        .transpose()?;
    let source = source::open(&args.archive, context)?;
    let mut out = Output::new(args.json);
    let entries: Vec<Entry> = if args.tables.is_empty() {
        open_directory(&source)?
            .into_entries()
            .into_iter()
            .filter(|e| !is_lakezip_member(&e.name))
            .collect()
    } else {
        match open_tables(&source)? {
            TableView::Indexed(end, index) => {
                let mut entries = Vec::new();
                for wanted in &args.tables {
                    if !index.tables.iter().any(|t| selects(wanted, &t.path)) {
                        let known: Vec<&str> =
                            index.tables.iter().map(|t| t.path.as_str()).collect();
                        bail!(
                            "{}: no table {wanted:?} in the archive (tables: {})",
                            source.name(),
                            known.join(", ")
                        );
                    }
                }
                for table in index
                    .tables
                    .iter()
                    .filter(|t| args.tables.iter().any(|w| selects(w, &t.path)))
                {
                    entries.extend(table_entries(&source, &end, table)?);
                }
                entries
            }
            TableView::Directory(directory) => {
                let entries: Vec<Entry> = directory
                    .into_entries()
                    .into_iter()
                    .filter(|e| {
                        args.tables
                            .iter()
                            .any(|w| table_holds(w.trim_end_matches('/'), &e.name))
                    })
                    .collect();
                if entries.is_empty() {
                    bail!(
                        "{}: no table {:?} in the archive",
                        source.name(),
                        args.tables.join(", ")
                    );
                }
                entries
            }
        }
    };
    // Declared sizes, for the progress bar only: a hostile archive can make them add up
    // past u64 (each one is checked against the data as it is written).
    let total = entries
        .iter()
        .fold(0u64, |sum, e| sum.saturating_add(e.uncompressed_size));
    let bar = bytes_bar(total, context.quiet, args.json, "extracting");
    let selected: Vec<&Entry> = entries.iter().collect();
    let summary = extract(
        &source,
        &selected,
        &args.directory,
        ExtractOptions {
            force: args.force,
            fetch: context.fetch_options(),
        },
        &|n| bar.inc(n),
    )?;
    bar.finish_and_clear();
    let relocated = match &relocation {
        Some(relocation) => crate::relocate::relocate_extracted(
            &args.directory,
            entries.iter().map(|e| e.name.as_str()),
            relocation,
        )?,
        None => Vec::new(),
    };
    for r in &relocated {
        out.emit(
            serde_json::json!({"type": "relocated", "table": r.table, "files": r.files}),
            || format!("relocated {}: {} files rewritten", r.table, r.files),
        )?;
    }
    let stats = source.stats();
    out.emit(
        serde_json::json!({
            "type": "summary",
            "files": summary.files,
            "directories": summary.directories,
            "bytes": summary.bytes,
            "directory": args.directory.display().to_string(),
            "stats": {"source": source.name(), "requests": stats.requests, "bytes_read": stats.bytes},
        }),
        || {
            format!(
                "extracted {} files, {} into {}",
                summary.files,
                human_bytes(summary.bytes),
                args.directory.display()
            )
        },
    )?;
    source::report(&source, context, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
