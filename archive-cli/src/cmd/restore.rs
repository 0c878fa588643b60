//! `lakezip restore CHAIN|ARCHIVE -C DIR [--at ID] [--table PATH]...`: reconstruct a
//! point exactly, each file from the archive that holds it.
//!
//! The target must be empty unless `--force` (files that already match are kept either
//! way). A marker file `.lakezip-restore` in DIR names the point being restored while
//! the restore runs, so rerunning an interrupted restore resumes without `--force`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail};
use range_reader::RangeSource;
use range_reader::restore::{restore, state_files};

use crate::chain::{LoadedChain, is_chain, manifest_of};
use crate::cli::RestoreArgs;
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::{self, Context};

const MARKER: &str = ".lakezip-restore";

pub fn run(args: RestoreArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    let relocation = args
        .relocate
        .as_deref()
        .map(table_state::relocate::Relocation::parse)
        .transpose()?;
    // Archive ids oldest first, and where each archive is.
    let (order, locations, point): (Vec<String>, Vec<String>, String) = if is_chain(&args.source) {
        let loaded = LoadedChain::load(&args.source, context)?;
        let entry = match &args.at {
            Some(at) => loaded.chain.find(at)?,
            None => match loaded.chain.head() {
                Some(head) => head,
                None => bail!("{}: the chain has no archives yet", args.source),
            },
        };
        (
            loaded.chain.archives.iter().map(|e| e.id.clone()).collect(),
            loaded
                .chain
                .archives
                .iter()
                .map(|e| loaded.archive_location(&e.location))
                .collect(),
            entry.id.clone(),
        )
    } else {
        if args.at.is_some() {
            bail!(
                "--at picks a point of a chain; {} is a single archive",
                args.source
            );
        }
        let manifest = source::open(&args.source, context).and_then(|s| manifest_of(&s))?;
        (
            vec![manifest.archive_id.clone()],
            vec![args.source.clone()],
            manifest.archive_id,
        )
    };
    let counted: Mutex<Vec<Arc<source::Source>>> = Mutex::new(Vec::new());
    let open =
        |id: &str| -> range_reader::Result<Box<dyn RangeSource>> {
            let position = order.iter().position(|o| o == id).ok_or_else(|| {
                range_reader::Error::NotFound {
                    source_name: args.source.clone(),
                    what: "archive",
                    name: id.to_owned(),
                    hint: if is_chain(&args.source) {
                        " in the chain (was it pruned?)".into()
                    } else {
                        "; this archive is incremental: restore it from its chain".into()
                    },
                }
            })?;
            let opened = source::open(&locations[position], context).map_err(|e| {
                range_reader::Error::Remote {
                    source_name: locations[position].clone(),
                    message: format!("{e:#}"),
                }
            })?;
            let shared = Arc::new(opened);
            if let Ok(mut list) = counted.lock() {
                list.push(Arc::clone(&shared));
            }
            Ok(Box::new(shared))
        };
    let state = manifest_of(open(&point)?.as_ref())?;
    if state.archive_id != point {
        bail!(
            "the archive at the location of {point} is {}; the chain is inconsistent",
            state.archive_id
        );
    }
    let files = state_files(&state, &args.tables)?;
    let dest = &args.directory;
    prepare_target(dest, &point, args.force)?;
    let total: u64 = files.iter().map(|(f, _)| f.size).sum();
    let bar = bytes_bar(total, context.quiet, args.json, "restoring");
    let summary = restore(&files, &order, &open, dest, context.fetch_options(), &|n| {
        bar.inc(n)
    })?;
    bar.finish_and_clear();
    // Relocate before the marker goes: a restore interrupted here is resumed by a rerun
    // (which fetches the rewritten files again and rewrites them).
    let relocated = match &relocation {
        Some(relocation) => crate::relocate::relocate_extracted(
            dest,
            files.iter().map(|(f, _)| f.path.as_str()),
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
    std::fs::remove_file(dest.join(MARKER))
        .with_context(|| format!("cannot remove {}", dest.join(MARKER).display()))?;
    let sources: Vec<serde_json::Value> = counted
        .lock()
        .map(|list| {
            list.iter()
                .map(|s| {
                    let stats = s.stats();
                    serde_json::json!({"source": s.name(), "requests": stats.requests, "bytes": stats.bytes})
                })
                .collect()
        })
        .unwrap_or_default();
    out.emit(
        serde_json::json!({
            "type": "summary",
            "archive_id": point,
            "directory": dest.display().to_string(),
            "files": summary.files,
            "bytes": summary.bytes,
            "kept": summary.kept,
            "fetched": summary.fetched,
            "archives_read": summary.archives,
            "stats": sources,
        }),
        || {
            format!(
                "restored {point}: {} files, {} into {} ({} fetched from {} archives, {} already present)",
                summary.files,
                human_bytes(summary.bytes),
                dest.display(),
                summary.fetched,
                summary.archives,
                summary.kept
            )
        },
    )?;
    if context.stats && !out.is_json() {
        for s in counted.lock().map(|l| l.clone()).unwrap_or_default() {
            let stats = s.stats();
            eprintln!(
                "stats: {}: {} requests, {} bytes read",
                s.name(),
                stats.requests,
                stats.bytes
            );
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a non-empty target unless `--force` or the marker says this very point was
/// being restored there; then (re)writes the marker.
fn prepare_target(dest: &Path, point: &str, force: bool) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let marker = dest.join(MARKER);
    let resuming = std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == point);
    let empty = std::fs::read_dir(dest)
        .with_context(|| format!("cannot list {}", dest.display()))?
        .next()
        .is_none();
    if !empty && !resuming && !force {
        bail!(
            "{} is not empty; pass --force to restore into it (files that already match are kept), or rerun an interrupted restore of the same point to resume",
            dest.display()
        );
    }
    std::fs::write(&marker, format!("{point}\n"))
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(())
}
