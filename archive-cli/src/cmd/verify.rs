//! `lakezip verify ARCHIVE`: every member's local header, size and CRC-32; the manifest
//! and table index against the central directory.

use std::process::ExitCode;

use anyhow::Result;
use archive_format::read::Entry;
use range_reader::RangeSource;
use range_reader::archive::{check_lakezip_metadata, open_directory, stream_entry};
use range_reader::fetch::{Destination, fetch};

use crate::cli::VerifyArgs;
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::{self, Context};

pub fn run(args: VerifyArgs, context: &Context) -> Result<ExitCode> {
    let source = source::open(&args.archive, context)?;
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
    let total: u64 = directory
        .entries()
        .iter()
        .map(|e| e.uncompressed_size)
        .sum();
    let bar = bytes_bar(total, context.quiet, args.json, "verifying");
    let mut files = 0u64;
    let mut bytes = 0u64;
    let members: Vec<&Entry> = directory.entries().iter().filter(|e| e.is_file()).collect();
    // Fast path: every member through the coalesced, parallel data phase. If it fails,
    // go member by member so that every problem is reported, not only the first.
    match fetch(
        &source,
        &members,
        &Discard,
        &context.fetch_options(),
        &|n| bar.inc(n),
    ) {
        Ok(()) => {
            files = members.len() as u64;
            bytes = members.iter().map(|e| e.uncompressed_size).sum();
        }
        Err(_) => {
            for entry in &members {
                match stream_entry(&source, entry, &mut |_| Ok(())) {
                    Ok(()) => {
                        files += 1;
                        bytes += entry.uncompressed_size;
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
    }
    bar.finish_and_clear();
    for problem in &problems {
        out.emit(
            serde_json::json!({"type": "error", "message": problem}),
            || format!("error: {problem}"),
        )?;
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
            let kind = if manifest.is_some() {
                "lakezip archive"
            } else {
                "zip archive (no lakezip manifest)"
            };
            if ok {
                format!("ok: {kind}, {files} files, {} verified", human_bytes(bytes))
            } else {
                format!("FAILED: {} problems in {}", problems.len(), source.name())
            }
        },
    )?;
    source::report(&source, context, &mut out)?;
    out.flush()?;
    if let Some(first) = problems.first() {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more, listed on stdout)", n - 1),
        };
        eprintln!("lakezip: error: verify failed: {first}{more}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Checks sizes and CRC-32s without keeping the bytes.
struct Discard;

impl Destination for Discard {
    type Output = ();

    fn create(&self, _position: usize, _entry: &Entry) -> range_reader::Result<()> {
        Ok(())
    }

    fn write_at(
        &self,
        _entry: &Entry,
        _output: &(),
        _offset: u64,
        _bytes: &[u8],
    ) -> range_reader::Result<()> {
        Ok(())
    }

    fn complete(&self, _position: usize, _entry: &Entry, _output: ()) -> range_reader::Result<()> {
        Ok(())
    }
}
