//! `lakezip consolidate CHAIN -o NEW.zip [--at ID]`: a new full archive of one point,
//! built from the chain alone (no source warehouse needed). Each member is streamed from
//! the archive holding it, CRC-checked on the way. When the point is the chain's newest,
//! the new archive is appended to the chain, so older archives can then be pruned.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::ArchiveKind;
use archive_format::manifest::chain::Chain;
use archive_format::read::Entry;
use archive_format::table::{SourceFile, TablePlan, table_holds};
use archive_format::write::PackOptions;
use range_reader::archive::{EntryReader, TableView, open_tables, table_entries};

use crate::chain::{
    LoadedChain, manifest_of, relative_location, sha256_file, state_files, write_local_chain,
};
use crate::cli::ConsolidateArgs;
use crate::cmd::pack::{now_or_epoch, write_archive};
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::{self, Context};

pub fn run(args: ConsolidateArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    if !args.force && std::fs::symlink_metadata(&args.output).is_ok() {
        bail!(
            "{} already exists; pass --force to overwrite it",
            args.output.display()
        );
    }
    let mut loaded = LoadedChain::load(&args.chain, context)?;
    let point = match &args.at {
        Some(at) => loaded.chain.find(at)?.clone(),
        None => match loaded.chain.head() {
            Some(head) => head.clone(),
            None => bail!("{}: the chain has no archives yet", args.chain),
        },
    };
    let is_head = loaded.chain.head().map(|h| &h.id) == Some(&point.id);
    let location_of = |id: &str| -> Result<String> {
        match loaded.chain.get(id) {
            Some(entry) => Ok(loaded.archive_location(&entry.location)),
            None => bail!("archive {id} is not in the chain (was it pruned?)"),
        }
    };
    let state = manifest_of(&source::open(&location_of(&point.id)?, context)?)?;
    // Find every file's member in the archive holding it.
    let files = state_files(&state);
    let mut by_holder: HashMap<&str, Vec<&str>> = HashMap::new();
    for (path, (_, holder)) in &files {
        by_holder
            .entry(holder.as_str())
            .or_default()
            .push(path.as_str());
    }
    let mut members: HashMap<String, (Arc<source::Source>, Entry)> = HashMap::new();
    for (holder, names) in by_holder {
        let source = Arc::new(source::open(&location_of(holder)?, context)?);
        let TableView::Indexed(end, index) = open_tables(source.as_ref())? else {
            bail!(
                "{} is not a lakezip archive",
                range_reader::RangeSource::name(source.as_ref())
            );
        };
        for table in index
            .tables
            .iter()
            .filter(|t| t.files > 0 && names.iter().any(|n| table_holds(&t.path, n)))
        {
            for entry in table_entries(source.as_ref(), &end, table)? {
                if let Some((record, h)) = files.get(&entry.name)
                    && h == holder
                {
                    if entry.uncompressed_size != record.size || entry.crc32 != record.crc32 {
                        bail!(
                            "archive {holder} holds a different version of {} than the state",
                            entry.name
                        );
                    }
                    members.insert(entry.name.clone(), (Arc::clone(&source), entry));
                }
            }
        }
    }
    let mut tables = Vec::with_capacity(state.tables.len());
    for table in &state.tables {
        let mut plan_files = Vec::with_capacity(table.entries.len());
        for file in &table.entries {
            let Some((_, entry)) = members.get(&file.path) else {
                bail!(
                    "no archive of the chain holds {} (the state names {:?})",
                    file.path,
                    file.archive
                );
            };
            plan_files.push(SourceFile {
                path: file.path.clone(),
                size: file.size,
                mtime: file.mtime.unwrap_or(entry.mtime),
                mode: entry.mode.unwrap_or(0o644),
                held: None,
            });
        }
        tables.push(TablePlan {
            path: table.summary.path.clone(),
            format: table.summary.format,
            snapshot: table.summary.snapshot.clone(),
            files: plan_files,
        });
    }
    let (created, deterministic) = now_or_epoch()?;
    let options = PackOptions {
        source: format!("{} at {}", args.chain, point.id),
        created,
        deterministic,
        tool: format!("lakezip {}", env!("CARGO_PKG_VERSION")),
        kind: ArchiveKind::Full,
        base_archive_id: None,
    };
    let total: u64 = files.values().map(|(f, _)| f.size).sum();
    let bar = bytes_bar(total, context.quiet, args.json, "consolidating");
    let mut open = |file: &SourceFile| -> archive_format::Result<(Box<dyn Read>, PathBuf)> {
        let (source, entry) = &members[&file.path];
        let reader = EntryReader::new(Arc::clone(source), entry).map_err(|e| {
            archive_format::Error::BadSource {
                path: PathBuf::from(&file.path),
                reason: e.to_string(),
            }
        })?;
        Ok((Box::new(reader), PathBuf::from(&file.path)))
    };
    let written = write_archive(&args.output, args.force, &tables, &mut open, &options, &bar)?;
    bar.finish_and_clear();
    let appended = is_head && !args.chain.contains("://");
    if appended {
        let chain_path = PathBuf::from(&args.chain);
        let location = relative_location(&chain_path, &args.output)?;
        let sha256 = sha256_file(&args.output)?;
        loaded.chain.archives.push(Chain::entry_for(
            &written.manifest,
            location,
            written.archive_len,
            sha256,
        ));
        write_local_chain(&chain_path, &loaded.chain).with_context(|| {
            format!(
                "{} was written but the chain was not updated",
                args.output.display()
            )
        })?;
    }
    out.emit(
        serde_json::json!({
            "type": "summary",
            "archive": args.output.display().to_string(),
            "archive_id": written.manifest.archive_id,
            "point": point.id,
            "files": files.len(),
            "bytes": total,
            "archive_bytes": written.archive_len,
            "appended_to_chain": appended,
        }),
        || {
            let note = if appended {
                "; appended to the chain"
            } else {
                "; not added to the chain (only a consolidation of the newest point of a local chain is)"
            };
            format!(
                "consolidated point {} into {} ({} files, {}){note}",
                point.id,
                args.output.display(),
                files.len(),
                human_bytes(total)
            )
        },
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
