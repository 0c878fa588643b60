//! `lakezip ls ARCHIVE [--tables]`: tables from the index (a foreign archive's tables are
//! detected from its names), or every entry from the central directory.

use std::process::ExitCode;

use anyhow::Result;
use archive_format::manifest::TableSummary;
use archive_format::read::{Entry, EntryKind};
use archive_format::spec::time::rfc3339;
use archive_format::table::{self, SourceFile};
use range_reader::archive::{TableView, open_directory, open_tables};

use crate::chain::{LoadedChain, is_chain};
use crate::cli::LsArgs;
use crate::cmd::{table_line, table_record};
use crate::output::Output;
use crate::source::{self, Context};

pub fn run(args: LsArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    if is_chain(&args.archive) {
        let loaded = LoadedChain::load(&args.archive, context)?;
        for entry in &loaded.chain.archives {
            let files: u64 = entry.tables.iter().map(|t| t.files).sum();
            let bytes: u64 = entry.tables.iter().map(|t| t.bytes).sum();
            out.emit(
                serde_json::json!({
                    "type": "point",
                    "id": entry.id,
                    "kind": entry.kind,
                    "base": entry.base,
                    "created": entry.created,
                    "location": entry.location,
                    "size": entry.size,
                    "sha256": entry.sha256,
                    "tables": entry.tables.len(),
                    "files": files,
                    "bytes": bytes,
                }),
                || {
                    let kind = serde_json::to_value(entry.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    format!(
                        "{}  {}  {:<11} {:>10}  {:>4} tables {:>7} files {:>10}  {}",
                        entry.id,
                        entry.created,
                        kind,
                        crate::output::human_bytes(entry.size),
                        entry.tables.len(),
                        files,
                        crate::output::human_bytes(bytes),
                        entry.location
                    )
                },
            )?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let source = source::open(&args.archive, context)?;
    if args.tables {
        let tables = match open_tables(&source)? {
            TableView::Indexed(_, index) => index.tables,
            TableView::Directory(directory) => detected_tables(directory.entries()),
        };
        for table in &tables {
            out.emit(table_record(table), || table_line(table))?;
        }
    } else {
        let directory = open_directory(&source)?;
        for entry in directory.entries() {
            out.emit(entry_record(entry), || entry_line(entry))?;
        }
    }
    source::report(&source, context, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Tables of an archive without a lakezip index, detected from member names. Byte
/// ranges are not known, so they are left at zero.
fn detected_tables(entries: &[Entry]) -> Vec<TableSummary> {
    let files = entries
        .iter()
        .filter(|e| e.is_file() && !archive_format::read::is_lakezip_member(&e.name))
        .map(|e| SourceFile {
            path: e.name.clone(),
            size: e.uncompressed_size,
            mtime: e.mtime,
            mode: e.mode.unwrap_or(0o644),
            held: None,
        })
        .collect();
    table::plan(files)
        .into_iter()
        .map(|t| TableSummary {
            path: t.path,
            format: t.format,
            snapshot: None,
            files: t.files.len() as u64,
            // Sizes come from the archive: a hostile one can make them add up past u64.
            bytes: t.files.iter().fold(0, |sum, f| sum.saturating_add(f.size)),
            orphans: 0,
            orphan_bytes: 0,
            data_range: [0, 0],
            central_directory_range: [0, 0],
        })
        .collect()
}

fn kind(entry: &Entry) -> &'static str {
    match entry.kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
        EntryKind::Symlink => "symlink",
    }
}

fn method(entry: &Entry) -> String {
    match entry.method {
        0 => "stored".into(),
        8 => "deflate".into(),
        m => format!("method-{m}"),
    }
}

fn entry_record(entry: &Entry) -> serde_json::Value {
    serde_json::json!({
        "type": "entry",
        "path": entry.name,
        "kind": kind(entry),
        "size": entry.uncompressed_size,
        "compressed_size": entry.compressed_size,
        "method": method(entry),
        "crc32": format!("{:08x}", entry.crc32),
        "mtime": rfc3339(entry.mtime),
        "mode": entry.mode.map(|m| format!("{m:04o}")),
        "offset": entry.local_header_offset,
    })
}

fn entry_line(entry: &Entry) -> String {
    format!(
        "{:>12}  {}  {:08x}  {}",
        entry.uncompressed_size,
        rfc3339(entry.mtime),
        entry.crc32,
        entry.name
    )
}
