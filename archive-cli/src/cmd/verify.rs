//! `lakezip verify ARCHIVE|CHAIN`.
//!
//! An archive: every member's local header, size and CRC-32; the manifest and table index
//! against the central directory. A chain (`….json`): every archive present with the
//! recorded size and SHA-256 and intact as above, its manifest agreeing with the chain
//! (id, kind, base), every base link pointing at an earlier archive, and every file of
//! every state held — same size and CRC-32 — by the archive the state names.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Result;
use archive_format::manifest::{FileRecord, Manifest};
use archive_format::read::Entry;
use indicatif::ProgressBar;
use range_reader::RangeSource;
use range_reader::archive::{check_lakezip_metadata, open_directory, stream_entry};
use range_reader::fetch::{Destination, fetch};
use sha2::{Digest, Sha256};

use crate::chain::{LoadedChain, hex, is_chain};
use crate::cli::VerifyArgs;
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::{self, Context};

/// What verifying one archive found.
struct ArchiveReport {
    manifest: Option<Manifest>,
    entries: usize,
    files: u64,
    bytes: u64,
    problems: Vec<String>,
}

fn verify_archive(
    source: &dyn RangeSource,
    context: &Context,
    bar: &ProgressBar,
) -> Result<ArchiveReport> {
    let directory = open_directory(source)?;
    let mut problems = Vec::new();
    let manifest = match check_lakezip_metadata(source, &directory) {
        Ok(m) => m,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let members: Vec<&Entry> = directory.entries().iter().filter(|e| e.is_file()).collect();
    let (mut files, mut bytes) = (0u64, 0u64);
    // Fast path: every member through the coalesced, parallel data phase. If it fails,
    // go member by member so that every problem is reported, not only the first.
    match fetch(source, &members, &Discard, &context.fetch_options(), &|n| {
        bar.inc(n)
    }) {
        Ok(()) => {
            files = members.len() as u64;
            bytes = members.iter().map(|e| e.uncompressed_size).sum();
        }
        Err(_) => {
            for entry in &members {
                match stream_entry(source, entry, &mut |_| Ok(())) {
                    Ok(()) => {
                        files += 1;
                        bytes += entry.uncompressed_size;
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
    }
    Ok(ArchiveReport {
        manifest,
        entries: directory.entries().len(),
        files,
        bytes,
        problems,
    })
}

pub fn run(args: VerifyArgs, context: &Context) -> Result<ExitCode> {
    if is_chain(&args.archive) {
        return run_chain(args, context);
    }
    let source = source::open(&args.archive, context)?;
    let mut out = Output::new(args.json);
    let bar = bytes_bar(source.len()?, context.quiet, args.json, "verifying");
    let report = verify_archive(&source, context, &bar)?;
    bar.finish_and_clear();
    for problem in &report.problems {
        out.emit(
            serde_json::json!({"type": "error", "message": problem}),
            || format!("error: {problem}"),
        )?;
    }
    let ok = report.problems.is_empty();
    out.emit(
        serde_json::json!({
            "type": "summary",
            "ok": ok,
            "archive": source.name(),
            "entries": report.entries,
            "files_verified": report.files,
            "bytes_verified": report.bytes,
            "lakezip_manifest": report.manifest.is_some(),
            "problems": report.problems.len(),
        }),
        || {
            let kind = if report.manifest.is_some() {
                "lakezip archive"
            } else {
                "zip archive (no lakezip manifest)"
            };
            if ok {
                format!(
                    "ok: {kind}, {} files, {} verified",
                    report.files,
                    human_bytes(report.bytes)
                )
            } else {
                format!(
                    "FAILED: {} problems in {}",
                    report.problems.len(),
                    source.name()
                )
            }
        },
    )?;
    source::report(&source, context, &mut out)?;
    out.flush()?;
    finish(&report.problems)
}

fn run_chain(args: VerifyArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    let loaded = LoadedChain::load(&args.archive, context)?;
    let mut problems: Vec<String> = Vec::new();
    // Per archive: the files it holds itself.
    let mut held: HashMap<String, HashMap<String, FileRecord>> = HashMap::new();
    let mut states: Vec<(String, Manifest)> = Vec::new();
    let total: u64 = loaded.chain.archives.iter().map(|e| e.size).sum();
    let bar = bytes_bar(total * 2, context.quiet, args.json, "verifying chain");
    for (i, entry) in loaded.chain.archives.iter().enumerate() {
        let location = loaded.archive_location(&entry.location);
        let mut problem =
            |text: String| problems.push(format!("archive {} ({location}): {text}", entry.id));
        if let Some(base) = &entry.base
            && !loaded.chain.archives[..i].iter().any(|e| &e.id == base)
        {
            problem(format!(
                "its base {base} is not an earlier archive of the chain"
            ));
        }
        let source = match source::open(&location, context) {
            Ok(s) => s,
            Err(e) => {
                problem(format!("missing or unreadable: {e:#}"));
                continue;
            }
        };
        let len = match source.len() {
            Ok(len) => len,
            Err(e) => {
                problem(format!("missing or unreadable: {e}"));
                continue;
            }
        };
        if len != entry.size {
            problem(format!(
                "size is {len} bytes, the chain records {}",
                entry.size
            ));
            continue;
        }
        let mut hasher = Sha256::new();
        if let Err(e) = source.read_range_with(0..len, &mut |chunk| {
            hasher.update(chunk);
            bar.inc(chunk.len() as u64);
            Ok(())
        }) {
            problem(format!("cannot be read: {e}"));
            continue;
        }
        let sha256 = hex(&hasher.finalize());
        if sha256 != entry.sha256 {
            problem(format!(
                "SHA-256 is {sha256}, the chain records {}",
                entry.sha256
            ));
        }
        let report = match verify_archive(&source, context, &bar) {
            Ok(r) => r,
            Err(e) => {
                problem(format!("{e:#}"));
                continue;
            }
        };
        for p in report.problems {
            problem(p);
        }
        let Some(manifest) = report.manifest else {
            problem("no embedded manifest".into());
            continue;
        };
        if manifest.archive_id != entry.id
            || manifest.kind != entry.kind
            || manifest.base_archive_id != entry.base
        {
            problem(format!(
                "its manifest says id {}, kind {:?}, base {:?}; the chain disagrees",
                manifest.archive_id, manifest.kind, manifest.base_archive_id
            ));
        }
        held.insert(
            entry.id.clone(),
            manifest
                .tables
                .iter()
                .flat_map(|t| &t.entries)
                .filter(|f| f.archive.is_none())
                .map(|f| (f.path.clone(), f.clone()))
                .collect(),
        );
        states.push((entry.id.clone(), manifest));
    }
    bar.finish_and_clear();
    // Every file of every state must be resolvable.
    for (id, state) in &states {
        for file in state.tables.iter().flat_map(|t| &t.entries) {
            let holder = file.archive.as_deref().unwrap_or(id);
            match held.get(holder).and_then(|files| files.get(&file.path)) {
                Some(h) if h.size == file.size && h.crc32 == file.crc32 => {}
                Some(_) => problems.push(format!(
                    "point {id}: {} differs in archive {holder} (size or CRC-32)",
                    file.path
                )),
                None => problems.push(format!(
                    "point {id}: {} is not held by archive {holder}",
                    file.path
                )),
            }
        }
    }
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
            "chain": args.archive,
            "archives": loaded.chain.archives.len(),
            "problems": problems.len(),
        }),
        || {
            if ok {
                format!(
                    "ok: chain of {} archives, every archive intact and every point resolvable",
                    loaded.chain.archives.len()
                )
            } else {
                format!(
                    "FAILED: {} problems in the chain {}",
                    problems.len(),
                    args.archive
                )
            }
        },
    )?;
    out.flush()?;
    finish(&problems)
}

fn finish(problems: &[String]) -> Result<ExitCode> {
    if let Some(first) = problems.first() {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more, listed on stdout)", n - 1),
        };
        eprintln!("lakezip: error: verify failed: {first}{more}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
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
