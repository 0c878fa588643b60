//! `lakezip verify ARCHIVE`: every member's local header, size and CRC-32; the manifest
//! and table index against the central directory.

use std::process::ExitCode;

use anyhow::Result;
use range_reader::archive::{check_lakezip_metadata, open_directory, stream_entry};
use range_reader::RangeSource;

use crate::cli::VerifyArgs;
use crate::output::{bytes_bar, human_bytes, Output};
use crate::source;

pub fn run(args: VerifyArgs, quiet: bool) -> Result<ExitCode> {
    let source = source::open(&args.archive)?;
    let mut out = Output::new(args.json);
    let directory = open_directory(&source)?;
    let mut problems = Vec::new();
    let manifest = match check_lakezip_metadata(&source, &directory) {
        Ok(m) => m,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let total: u64 = directory.entries().iter().map(|e| e.uncompressed_size).sum();
    let bar = bytes_bar(total, quiet, args.json, "verifying");
    let mut files = 0u64;
    let mut bytes = 0u64;
    for entry in directory.entries().iter().filter(|e| e.is_file()) {
        match stream_entry(&source, entry, &mut |b| {
            bar.inc(b.len() as u64);
            Ok(())
        }) {
            Ok(()) => {
                files += 1;
                bytes += entry.uncompressed_size;
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    bar.finish_and_clear();
    for problem in &problems {
        out.emit(serde_json::json!({"type": "error", "message": problem}), || format!("error: {problem}"))?;
    }
    let ok = problems.is_empty();
    out.emit(
        serde_json::json!({
            "type": "summary",
            "ok": ok,
            "archive": source.name(),
            "entries": directory.entries().len(),
            "files_verified": files,
            "bytes_verified": bytes,
            "lakezip_manifest": manifest.is_some(),
            "problems": problems.len(),
        }),
        || {
            let kind = if manifest.is_some() { "lakezip archive" } else { "zip archive (no lakezip manifest)" };
            if ok {
                format!("ok: {kind}, {files} files, {} verified", human_bytes(bytes))
            } else {
                format!("FAILED: {} problems in {}", problems.len(), source.name())
            }
        },
    )?;
    out.flush()?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
