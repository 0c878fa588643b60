//! `lakezip prune CHAIN --keep N [--dry-run]`: drop the archives no kept point needs.
//!
//! The newest N points are kept, with everything they need: the archives holding their
//! files and their base ancestry (so `verify` still finds every base link). The chain is
//! rewritten first, then the archives are deleted, so an interruption leaves at worst
//! unreferenced files, never a chain pointing at missing archives.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::chain::{LoadedChain, manifest_of, write_local_chain};
use crate::cli::PruneArgs;
use crate::output::{Output, human_bytes};
use crate::source::{self, Context};

pub fn run(args: PruneArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    if args.chain.contains("://") {
        bail!(
            "{}: prune works on local chains (deleting from S3 comes with S3 writing)",
            args.chain
        );
    }
    if args.keep == 0 {
        bail!("--keep must be at least 1");
    }
    let mut loaded = LoadedChain::load(&args.chain, context)?;
    let archives = &loaded.chain.archives;
    let kept_from = archives.len().saturating_sub(args.keep);
    let mut needed: HashSet<String> = HashSet::new();
    for entry in &archives[kept_from..] {
        // Base ancestry.
        let mut cursor = Some(entry);
        while let Some(e) = cursor {
            if !needed.insert(e.id.clone()) {
                break;
            }
            cursor = e.base.as_ref().and_then(|b| loaded.chain.get(b));
        }
        // Holders of the point's files.
        let manifest = manifest_of(&source::open(
            &loaded.archive_location(&entry.location),
            context,
        )?)
        .with_context(|| format!("cannot read point {}", entry.id))?;
        for file in manifest.tables.iter().flat_map(|t| &t.entries) {
            if let Some(holder) = &file.archive {
                needed.insert(holder.clone());
            }
        }
    }
    let (keep, drop): (Vec<_>, Vec<_>) = archives
        .iter()
        .cloned()
        .partition(|e| needed.contains(&e.id));
    for entry in &drop {
        out.emit(
            serde_json::json!({"type": "delete", "id": entry.id, "location": entry.location, "size": entry.size, "dry_run": args.dry_run}),
            || {
                format!(
                    "{} {} ({}, {})",
                    if args.dry_run { "would delete" } else { "deleting" },
                    entry.location,
                    entry.id,
                    human_bytes(entry.size)
                )
            },
        )?;
    }
    if !args.dry_run && !drop.is_empty() {
        loaded.chain.archives = keep.clone();
        let chain_path = PathBuf::from(&args.chain);
        write_local_chain(&chain_path, &loaded.chain)?;
        for entry in &drop {
            let path = PathBuf::from(loaded.archive_location(&entry.location));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot delete {}", path.display()));
                }
            }
        }
    }
    let freed: u64 = drop.iter().map(|e| e.size).sum();
    out.emit(
        serde_json::json!({
            "type": "summary",
            "kept": keep.len(),
            "deleted": drop.len(),
            "bytes_freed": freed,
            "dry_run": args.dry_run,
        }),
        || {
            format!(
                "{} {} archives ({}), kept {}",
                if args.dry_run {
                    "would delete"
                } else {
                    "deleted"
                },
                drop.len(),
                human_bytes(freed),
                keep.len()
            )
        },
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
