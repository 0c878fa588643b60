//! `lakezip consolidate CHAIN -o NEW.zip [--at ID]`: a new full archive of one point,
//! built from the chain alone (no source warehouse needed). Each member is streamed from
//! the archive holding it, CRC-checked on the way. When the point is the chain's newest,
//! the new archive is appended to the chain, so older archives can then be pruned.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::ArchiveKind;
use archive_format::manifest::chain::Chain;
use archive_format::read::Entry;
use archive_format::table::{SourceFile, TablePlan, table_holds};
use archive_format::write::{Opened, PackOptions};
use range_reader::archive::{EntryReader, TableView, open_tables, table_entries};

use crate::chain::{ChainFile, manifest_of, state_files};
use crate::cli::ConsolidateArgs;
use crate::cmd::pack::now_or_epoch;
use crate::dest::{self, Bars, Dest};
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::{self, Context};

pub fn run(args: ConsolidateArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    let output = Dest::parse(&args.output)?;
    output.check_absent(args.force, context)?;
    // Chains over HTTP are read-only; local and S3 chains can take the new archive.
    let chain_file = (!args.chain.starts_with("http://") && !args.chain.starts_with("https://"))
        .then(|| ChainFile::parse(&args.chain))
        .transpose()?;
    let (mut loaded, version) = match &chain_file {
        Some(file) => {
            let (loaded, version) = file.load(context)?;
            (loaded, Some(version))
        }
        None => (crate::chain::LoadedChain::load(&args.chain, context)?, None),
    };
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
            orphans: Default::default(),
        });
    }
    let (created, deterministic) = now_or_epoch()?;
    let mut options = PackOptions {
        source: format!("{} at {}", args.chain, point.id),
        created,
        deterministic,
        tool: format!("lakezip {}", env!("CARGO_PKG_VERSION")),
        kind: ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let total: u64 = files.values().map(|(f, _)| f.size).sum();
    let mut prepared = dest::prepare(&output, args.force, &tables, &mut options, None, context)?;
    prepared.want_sha256 = chain_file.is_some() && is_head;
    let bars = Bars {
        read: bytes_bar(total, context.quiet, args.json, "consolidating"),
        upload: indicatif::ProgressBar::hidden(),
    };
    let mut open = |file: &SourceFile| -> archive_format::Result<Opened> {
        let (source, entry) = &members[&file.path];
        let reader = EntryReader::new(Arc::clone(source), entry).map_err(|e| {
            archive_format::Error::BadSource {
                path: PathBuf::from(&file.path),
                reason: e.to_string(),
            }
        })?;
        // The chain recorded every member's CRC-32, so even an upload needs no extra pass.
        Ok(Opened {
            reader: Box::new(reader),
            path: PathBuf::from(&file.path),
            crc32: Some(entry.crc32),
        })
    };
    let written = dest::write_archive(prepared, &mut tables, &mut open, &options, &bars, context)?;
    bars.read.finish_and_clear();
    // Only a consolidation of the newest point extends the chain, and only if the new
    // archive sits where the chain can name it.
    let location = match &chain_file {
        Some(file) if is_head => file.relative_location(&output).ok(),
        _ => None,
    };
    let appended = location.is_some();
    if let (Some(file), Some(location), Some(version)) = (&chain_file, location, &version) {
        let sha256 = written
            .sha256
            .clone()
            .context("internal: no SHA-256 for the chain")?;
        let mut entry = Chain::entry_for(&written.manifest, location, written.archive_len, sha256);
        entry.stored = written.stored.clone();
        loaded.chain.archives.push(entry);
        file.save(&loaded.chain, version, context)
            .with_context(|| format!("{output} was written but the chain was not updated"))?;
    }
    out.emit(
        serde_json::json!({
            "type": "summary",
            "archive": output.to_string(),
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
                "; not added to the chain (only a consolidation of the newest point, written in the chain's folder, is)"
            };
            format!(
                "consolidated point {} into {} ({} files, {}){note}",
                point.id,
                output,
                files.len(),
                human_bytes(total)
            )
        },
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
