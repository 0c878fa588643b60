//! `lakezip pack SRC -o DEST`: list the source (a directory or an S3 prefix), detect
//! tables, read the files in archive order with parallel reads, and write the archive
//! (see [`crate::dest`] for local files and S3 uploads).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::chain::Chain;
use archive_format::manifest::{ArchiveKind, Manifest, TableFormat};
use archive_format::table::{self, Held, SourceFile, TablePlan};
use archive_format::write::{IN_MEMORY_LIMIT, Opened, PackOptions};
use range_reader::prefetch::{PrefetchItem, PrefetchOptions, PrefetchedFile, Prefetcher};

use crate::chain::{ChainFile, archive_manifest, state_files};
use crate::cli::PackArgs;
use crate::cmd::{selects, table_line, table_record};
use crate::dest::{self, Bars, Dest};
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::Context;
use crate::warehouse::{Found, Warehouse};

pub fn run(args: PackArgs, context: &Context) -> Result<ExitCode> {
    let quiet = context.quiet;
    let mut out = Output::new(args.json);
    let dest = Dest::parse(&args.output)?;
    let chain_file = args.chain.as_deref().map(ChainFile::parse).transpose()?;
    if let Some(chain) = &chain_file {
        // Fail before packing if DEST cannot be recorded relative to the chain.
        chain.relative_location(&dest)?;
    }
    dest.check_absent(args.force, context)?;
    let warehouse = Warehouse::open(&args.src, context)?;
    let mut found = warehouse.list()?;
    // A source that is itself a table keeps its folder name, so it extracts as a table.
    let prefix = match table::plan(found.iter().map(|f| f.file.clone()).collect()).as_slice() {
        [only] if only.path == table::ROOT_GROUP && only.format != TableFormat::Files => {
            format!(
                "{}/",
                warehouse
                    .folder_name()
                    .unwrap_or_else(|| "table".to_owned())
            )
        }
        _ => String::new(),
    };
    for f in &mut found {
        f.file.path = format!("{prefix}{}", f.file.path);
    }
    let files: HashMap<String, Found> = found
        .iter()
        .map(|f| (f.file.path.clone(), f.clone()))
        .collect();
    let mut tables = table::plan(found.into_iter().map(|f| f.file).collect());
    if !args.tables.is_empty() {
        for wanted in &args.tables {
            if !tables.iter().any(|t| selects(wanted, &t.path)) {
                bail!("no table {wanted:?} under {warehouse}");
            }
        }
        tables.retain(|t| args.tables.iter().any(|w| selects(w, &t.path)));
    }
    for t in &mut tables {
        t.snapshot = snapshot_of(t, &warehouse, &files);
    }
    // Incremental: the base's state decides which files are already held elsewhere.
    let chain = match &chain_file {
        Some(file) => Some(file.load(context)?),
        None => None,
    };
    let base: Option<Manifest> = match (&chain, &args.base) {
        (Some((loaded, _)), _) if !args.full => match loaded.chain.head() {
            Some(head) => Some(
                archive_manifest(&loaded.archive_location(&head.location), context).with_context(
                    || format!("cannot read the chain's newest archive {}", head.id),
                )?,
            ),
            None => None,
        },
        (None, Some(base)) => Some(archive_manifest(base, context)?),
        _ => None,
    };
    let (held_files, held_bytes) = match &base {
        Some(base) => mark_unchanged(&mut tables, base, &warehouse, &files)?,
        None => (0, 0),
    };
    let total: u64 = tables
        .iter()
        .flat_map(|t| &t.files)
        .filter(|f| f.held.is_none())
        .map(|f| f.size)
        .sum();
    let (created, deterministic) = now_or_epoch()?;
    let mut options = PackOptions {
        source: args.src.clone(),
        created,
        deterministic,
        tool: format!("lakezip {}", env!("CARGO_PKG_VERSION")),
        kind: if base.is_some() {
            ArchiveKind::Incremental
        } else {
            ArchiveKind::Full
        },
        base_archive_id: base.as_ref().map(|b| b.archive_id.clone()),
        archive_id: None,
    };
    let prepared = dest::prepare(
        &dest,
        args.force,
        &tables,
        &mut options,
        args.state_dir.as_deref(),
        context,
    )?;
    let bars = pack_bars(total, &dest, quiet, args.json);
    let mut reading = start_reading(&tables, &files, &warehouse, &dest, context)?;
    let mut open = |file: &SourceFile| -> archive_format::Result<Opened> {
        let name = files
            .get(&file.path)
            .map(|f| f.source.name())
            .unwrap_or_else(|| file.path.clone());
        let fetched = match reading.next() {
            Some(Ok(fetched)) => fetched,
            Some(Err(e)) => {
                return Err(archive_format::Error::io(&name, std::io::Error::other(e)));
            }
            None => {
                return Err(archive_format::Error::io(
                    &name,
                    std::io::Error::other("internal: the read plan ended early"),
                ));
            }
        };
        Ok(Opened {
            crc32: fetched.crc32,
            reader: Box::new(fetched),
            path: PathBuf::from(name),
        })
    };
    let written = dest::write_archive(prepared, &tables, &mut open, &options, &bars, context)?;
    bars.read.finish_and_clear();
    bars.upload.finish_and_clear();
    let manifest = &written.manifest;
    let files_written: u64 = manifest.tables.iter().map(|t| t.summary.files).sum();
    if let (Some(file), Some((mut loaded, version))) = (&chain_file, chain) {
        let location = file.relative_location(&dest)?;
        let mut entry = Chain::entry_for(
            manifest,
            location,
            written.archive_len,
            written.sha256.clone(),
        );
        entry.stored = written.stored.clone();
        loaded.chain.archives.push(entry);
        file.save(&loaded.chain, &version, context)
            .with_context(|| {
                format!(
                    "{dest} was written but is not in the chain; rerun pack to record a new archive"
                )
            })?;
    }
    for t in &manifest.tables {
        out.emit(table_record(&t.summary), || table_line(&t.summary))?;
    }
    out.emit(
        serde_json::json!({
            "type": "summary",
            "archive": dest.to_string(),
            "archive_id": manifest.archive_id,
            "tables": manifest.tables.len(),
            "kind": manifest.kind,
            "base_archive_id": manifest.base_archive_id,
            "unchanged_files": held_files,
            "unchanged_bytes": held_bytes,
            "files": files_written,
            "bytes": total,
            "archive_bytes": written.archive_len,
            "sha256": written.sha256,
            "stored": written.stored,
            "resumed": written.resumed,
        }),
        || {
            format!(
                "packed {} tables, {files_written} files, {} into {dest} ({} bytes, archive id {}{})",
                manifest.tables.len(),
                human_bytes(total),
                written.archive_len,
                manifest.archive_id,
                if written.resumed { ", resumed an interrupted upload" } else { "" }
            )
        },
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The read and (for S3) upload progress bars.
fn pack_bars(total: u64, dest: &Dest, quiet: bool, json: bool) -> Bars {
    if quiet || json || !std::io::stderr().is_terminal() {
        return Bars {
            read: indicatif::ProgressBar::hidden(),
            upload: indicatif::ProgressBar::hidden(),
        };
    }
    let multi = indicatif::MultiProgress::new();
    let read = multi.add(bytes_bar(total, quiet, json, "reading  "));
    let upload = if dest.is_streaming() {
        multi.add(bytes_bar(total, quiet, json, "uploading"))
    } else {
        indicatif::ProgressBar::hidden()
    };
    Bars { read, upload }
}

/// Size of one read from a source.
const READ_CHUNK: u64 = 8 * 1024 * 1024;

/// Starts reading every file the archive will hold, in archive order, `--concurrency`
/// reads at a time. For a streaming destination, members over the in-memory limit need
/// their CRC-32 first: the store's own CRC-32 when it keeps a full-object one (one HEAD
/// request each, made in parallel), else a checksum pass over the file before its data.
fn start_reading(
    tables: &[TablePlan],
    files: &HashMap<String, Found>,
    warehouse: &Warehouse,
    dest: &Dest,
    context: &Context,
) -> Result<Reading> {
    let order: Vec<&Found> = tables
        .iter()
        .flat_map(|t| &t.files)
        .filter(|f| f.held.is_none())
        .map(|f| {
            files
                .get(&f.path)
                .with_context(|| format!("internal: {} was not listed", f.path))
        })
        .collect::<Result<_>>()?;
    let needs_crc = |f: &Found| dest.is_streaming() && f.file.size > IN_MEMORY_LIMIT;
    let big: Vec<&Found> = order.iter().copied().filter(|f| needs_crc(f)).collect();
    let stored = stored_crcs(warehouse, &big, context.concurrency)?;
    let items = order
        .iter()
        .map(|f| PrefetchItem {
            source: Arc::clone(&f.source),
            len: f.file.size,
            crc_first: needs_crc(f) && !stored.contains_key(&f.file.path),
        })
        .collect();
    let known: Vec<Option<u32>> = order
        .iter()
        .map(|f| stored.get(&f.file.path).copied())
        .collect();
    Ok(Reading {
        prefetcher: Prefetcher::start(
            items,
            PrefetchOptions {
                chunk: READ_CHUNK,
                concurrency: context.concurrency.max(1),
            },
        ),
        known: known.into_iter(),
    })
}

/// The files being read, plus the CRC-32s the store already had, in the same order.
struct Reading {
    prefetcher: Prefetcher,
    known: std::vec::IntoIter<Option<u32>>,
}

impl Reading {
    fn next(&mut self) -> Option<range_reader::Result<PrefetchedFile>> {
        let known = self.known.next().flatten();
        self.prefetcher.next().map(|r| {
            r.map(|mut file| {
                if file.crc32.is_none() {
                    file.crc32 = known;
                }
                file
            })
        })
    }
}

/// The stored CRC-32 of every S3 object in `big` that has one, asked in parallel.
fn stored_crcs(
    warehouse: &Warehouse,
    big: &[&Found],
    concurrency: usize,
) -> Result<HashMap<String, u32>> {
    if !matches!(warehouse, Warehouse::S3 { .. }) || big.is_empty() {
        return Ok(HashMap::new());
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found = std::sync::Mutex::new(HashMap::new());
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, big.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = big.get(i) else { break };
                    match warehouse.stored_crc32(f) {
                        Ok(Some(crc)) => {
                            if let Ok(mut map) = found.lock() {
                                map.insert(f.file.path.clone(), crc);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            if let Ok(mut slot) = failure.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(found.into_inner().unwrap_or_default())
}

/// Marks the files the base already holds with the same bytes, so they are not written
/// again. Returns how many files and bytes are unchanged.
///
/// Table files are write-once by both table protocols, so a file with the base's path,
/// size and mtime is trusted unchanged. Files that are rewritten in place — Delta's
/// `_last_checkpoint`, Iceberg's `version-hint.text` — and every file outside a table are
/// re-read and compared by CRC-32 instead: a same-size rewrite that keeps the mtime is
/// still caught.
fn mark_unchanged(
    tables: &mut [TablePlan],
    base: &Manifest,
    warehouse: &Warehouse,
    listed: &HashMap<String, Found>,
) -> Result<(u64, u64)> {
    let state = state_files(base);
    let (mut files, mut bytes) = (0, 0);
    for table in tables {
        let content_check_all = table.format == TableFormat::Files;
        for file in &mut table.files {
            let Some((record, holder)) = state.get(&file.path) else {
                continue;
            };
            if record.size != file.size {
                continue;
            }
            let mutable = file.path.ends_with("/_delta_log/_last_checkpoint")
                || file.path.ends_with("/metadata/version-hint.text")
                || file.path == "_delta_log/_last_checkpoint"
                || file.path == "metadata/version-hint.text";
            let unchanged = if content_check_all || mutable {
                let found = listed
                    .get(&file.path)
                    .with_context(|| format!("internal: {} was not listed", file.path))?;
                let bytes = warehouse
                    .read(found)
                    .with_context(|| format!("cannot read {}", found.source.name()))?;
                bytes.len() as u64 == record.size && crc32fast::hash(&bytes) == record.crc32
            } else {
                record.mtime == Some(file.mtime)
            };
            if unchanged {
                file.held = Some(Held {
                    archive: holder.clone(),
                    crc32: record.crc32,
                });
                files += 1;
                bytes += file.size;
            }
        }
    }
    Ok((files, bytes))
}

/// The snapshot id (Iceberg) or version (Delta) of a table, read from its files.
fn snapshot_of(
    table: &TablePlan,
    warehouse: &Warehouse,
    files: &HashMap<String, Found>,
) -> Option<String> {
    let root = if table.path == table::ROOT_GROUP {
        String::new()
    } else {
        format!("{}/", table.path)
    };
    let relative: Vec<&str> = table
        .files
        .iter()
        .filter_map(|f| f.path.strip_prefix(&root))
        .collect();
    let read = |relative_name: &str| -> Option<Vec<u8>> {
        warehouse
            .read(files.get(&format!("{root}{relative_name}"))?)
            .ok()
    };
    match table.format {
        TableFormat::Iceberg => {
            let hint = read("metadata/version-hint.text").and_then(|b| String::from_utf8(b).ok());
            let current = table::iceberg_current_metadata(&relative, hint.as_deref())?;
            table::iceberg_snapshot_id(&read(current)?)
        }
        TableFormat::Delta => table::delta_version(&relative).map(|v| v.to_string()),
        TableFormat::Files => None,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Creation time: `SOURCE_DATE_EPOCH` (deterministic mode) or now.
pub fn now_or_epoch() -> Result<(i64, bool)> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Ok((
            v.trim()
                .parse::<i64>()
                .context("SOURCE_DATE_EPOCH must be whole seconds since 1970")?,
            true,
        )),
        Err(_) => Ok((now(), false)),
    }
}
