//! `lakezip info ARCHIVE`: the embedded manifest (archive id, kind, created, source,
//! tables).

use std::process::ExitCode;

use anyhow::Result;
use range_reader::RangeSource;
use range_reader::archive::{TableView, open_tables, read_manifest};

use crate::cli::InfoArgs;
use crate::cmd::{table_line, table_record};
use crate::output::{Output, human_bytes};
use crate::source::{self, Context};

pub fn run(args: InfoArgs, context: &Context) -> Result<ExitCode> {
    let source = source::open(&args.archive, context)?;
    let mut out = Output::new(args.json);
    match open_tables(&source)? {
        TableView::Indexed(end, index) => {
            let manifest = read_manifest(&source, &index)?;
            let files: u64 = manifest.tables.iter().map(|t| t.summary.files).sum();
            let bytes: u64 = manifest.tables.iter().map(|t| t.summary.bytes).sum();
            out.emit(
                serde_json::json!({
                    "type": "archive",
                    "lakezip": true,
                    "format_version": manifest.lakezip_manifest,
                    "archive_id": manifest.archive_id,
                    "kind": manifest.kind,
                    "base_archive_id": manifest.base_archive_id,
                    "created": manifest.created,
                    "source": manifest.source,
                    "tool": manifest.tool,
                    "tables": manifest.tables.len(),
                    "files": files,
                    "bytes": bytes,
                    "archive_bytes": end.file_len,
                    "entries": end.entries,
                    "zip64": end.zip64,
                }),
                || {
                    format!(
                        "archive id  {}\nkind        {}\ncreated     {}\nsource      {}\ntool        {}\nformat      lakezip/{}{}\nsize        {} ({} entries)\ntables      {} ({files} files, {})",
                        manifest.archive_id,
                        serde_json::to_value(manifest.kind).unwrap_or_default().as_str().unwrap_or("?"),
                        manifest.created,
                        manifest.source,
                        manifest.tool,
                        manifest.lakezip_manifest,
                        if end.zip64 { ", zip64" } else { "" },
                        human_bytes(end.file_len),
                        end.entries,
                        manifest.tables.len(),
                        human_bytes(bytes)
                    )
                },
            )?;
            for table in &manifest.tables {
                out.emit(table_record(&table.summary), || {
                    format!("  {}", table_line(&table.summary))
                })?;
            }
        }
        TableView::Directory(directory) => {
            let end = directory.end();
            out.emit(
                serde_json::json!({
                    "type": "archive",
                    "lakezip": false,
                    "archive_bytes": end.file_len,
                    "entries": end.entries,
                    "zip64": end.zip64,
                    "comment": String::from_utf8_lossy(&end.comment),
                }),
                || {
                    format!(
                        "{} is a zip archive without a lakezip manifest: {} entries, {}",
                        source.name(),
                        end.entries,
                        human_bytes(end.file_len)
                    )
                },
            )?;
        }
    }
    source::report(&source, context, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
