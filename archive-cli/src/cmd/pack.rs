//! `lakezip pack SRC -o DEST`: list the source (a directory or an S3 prefix), detect
//! tables, read the files in archive order with parallel reads, and write the archive
//! (see [`crate::dest`] for local files and S3 uploads).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::chain::Chain;
use archive_format::manifest::{ArchiveKind, Manifest, TableFormat};
use archive_format::table::{self, Held, SourceFile, TablePlan};
use archive_format::write::{IN_MEMORY_LIMIT, Opened, PackOptions};
use range_reader::prefetch::{PrefetchItem, PrefetchOptions, Prefetcher};

use crate::chain::{ChainFile, archive_manifest, state_files};
use crate::cli::PackArgs;
use crate::cmd::{selects, table_line, table_record};
use crate::dest::{self, Bars, Dest};
use crate::output::{Output, bytes_bar, human_bytes};
use crate::select::{self, SelectOptions};
use crate::source::Context;
use crate::warehouse::{Found, Origin, Warehouse};
use table_state::Snapshots;

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
    let at_root = table::roots(found.iter().map(|f| f.file.path.as_str()))
        .iter()
        .any(|(root, _)| root.is_empty());
    let prefix = if at_root {
        format!(
            "{}/",
            warehouse
                .folder_name()
                .unwrap_or_else(|| "table".to_owned())
        )
    } else {
        String::new()
    };
    for f in &mut found {
        f.file.path = format!("{prefix}{}", f.file.path);
    }
    if !args.tables.is_empty() {
        let plans = table::plan(found.iter().map(|f| f.file.clone()).collect());
        for wanted in &args.tables {
            if !plans.iter().any(|t| selects(wanted, &t.path)) {
                bail!("no table {wanted:?} under {warehouse}");
            }
        }
        let keep: std::collections::HashSet<&str> = plans
            .iter()
            .filter(|t| args.tables.iter().any(|w| selects(w, &t.path)))
            .flat_map(|t| t.files.iter().map(|f| f.path.as_str()))
            .collect();
        let keep: std::collections::HashSet<String> = keep.into_iter().map(str::to_owned).collect();
        found.retain(|f| keep.contains(&f.file.path));
    }
    let select_options = SelectOptions::parse(
        args.all_files,
        &args.iceberg_metadata,
        &args.delta_version,
        if args.snapshots == "current" {
            Snapshots::Current
        } else {
            Snapshots::All
        },
    )?;
    let selected = select::select(found, &warehouse, &select_options, &prefix)?;
    let overrides = selected.overrides;
    // The plan takes the listing over; only S3 objects keep more than their path.
    let sources = Sources {
        warehouse: &warehouse,
        prefix: &prefix,
        objects: selected
            .found
            .iter()
            .filter(|f| matches!(f.origin, Origin::Object(_)))
            .map(|f| (f.file.path.clone(), f.origin.clone()))
            .collect(),
    };
    let mut tables = table::plan(selected.found.into_iter().map(|f| f.file).collect());
    for t in &mut tables {
        match selected.tables.get(&t.path) {
            Some((snapshot, orphans)) => {
                t.snapshot = snapshot.clone();
                t.orphans = *orphans;
            }
            None => t.snapshot = snapshot_of(t, &sources),
        }
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
        Some(base) => mark_unchanged(&mut tables, base, &sources, &overrides)?,
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
    let mut prepared = dest::prepare(
        &dest,
        args.force,
        &tables,
        &mut options,
        args.state_dir.as_deref(),
        context,
    )?;
    prepared.want_sha256 = chain_file.is_some();
    let bars = pack_bars(total, &dest, quiet, args.json);
    let mut reading = start_reading(&tables, &sources, &overrides, &dest, context)?;
    let mut open = |file: &SourceFile| -> archive_format::Result<Opened> {
        if let Some(bytes) = overrides.get(&file.path) {
            return Ok(Opened {
                reader: Box::new(std::io::Cursor::new(bytes.clone())),
                path: PathBuf::from(&file.path),
                crc32: Some(crc32fast::hash(bytes)),
            });
        }
        let name = sources.name(file);
        let (reader, crc32) =
            reading
                .next(file, &sources)
                .map_err(|e| archive_format::Error::BadSource {
                    path: PathBuf::from(&name),
                    reason: format!("{e:#}"),
                })?;
        Ok(Opened {
            reader,
            path: PathBuf::from(name),
            crc32,
        })
    };
    let written = dest::write_archive(prepared, &mut tables, &mut open, &options, &bars, context)?;
    bars.read.finish_and_clear();
    bars.upload.finish_and_clear();
    let manifest = &written.manifest;
    let files_written: u64 = manifest.tables.iter().map(|t| t.summary.files).sum();
    if let (Some(file), Some((mut loaded, version))) = (&chain_file, chain) {
        let location = file.relative_location(&dest)?;
        let sha256 = written
            .sha256
            .clone()
            .context("internal: no SHA-256 for the chain")?;
        let mut entry = Chain::entry_for(manifest, location, written.archive_len, sha256);
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

/// How to reach the bytes of a planned file: local files by their path under the
/// warehouse root, S3 objects by what their listing gave.
struct Sources<'a> {
    warehouse: &'a Warehouse,
    /// What pack put in front of the listed paths (see [`Warehouse::local_path`]).
    prefix: &'a str,
    /// The listed S3 objects by archive path (none for a local warehouse).
    objects: HashMap<String, Origin>,
}

impl Sources<'_> {
    fn found(&self, file: &SourceFile) -> Found {
        Found {
            file: file.clone(),
            origin: self
                .objects
                .get(&file.path)
                .cloned()
                .unwrap_or(Origin::Local),
        }
    }

    fn read(&self, file: &SourceFile) -> Result<Vec<u8>> {
        let found = self.found(file);
        self.warehouse
            .read(&found, self.prefix)
            .with_context(|| format!("cannot read {}", self.name(file)))
    }

    /// Called for every file packed: no copy of `file`.
    fn name(&self, file: &SourceFile) -> String {
        match self.objects.get(&file.path) {
            Some(Origin::Object(object)) => object.source.name(),
            _ => self
                .warehouse
                .local_path(&file.path, self.prefix)
                .display()
                .to_string(),
        }
    }
}

/// Starts reading every file the archive will hold, in archive order. Local files are
/// read one after another (the page cache and the disk's read-ahead serve that best);
/// S3 objects through a prefetcher, `--concurrency` ranged GETs ahead. For a streaming
/// destination, members over the in-memory limit need their CRC-32 first: the store's own
/// CRC-32 when it keeps a full-object one (one HEAD request each, made in parallel), else
/// a checksum pass over the file before its data.
fn start_reading(
    tables: &[TablePlan],
    sources: &Sources<'_>,
    overrides: &HashMap<String, Vec<u8>>,
    dest: &Dest,
    context: &Context,
) -> Result<Reading> {
    let streaming = dest.is_streaming();
    if let Warehouse::Local(_) = sources.warehouse {
        return Ok(Reading::Local {
            crc_first: streaming,
        });
    }
    let order: Vec<Found> = tables
        .iter()
        .flat_map(|t| &t.files)
        .filter(|f| f.held.is_none() && !overrides.contains_key(&f.path))
        .map(|f| sources.found(f))
        .collect();
    let needs_crc = move |f: &Found| streaming && f.file.size > IN_MEMORY_LIMIT;
    let big: Vec<&Found> = order.iter().filter(|f| needs_crc(f)).collect();
    let stored = stored_crcs(sources.warehouse, &big, context.concurrency)?;
    let items = order
        .iter()
        .map(|f| PrefetchItem {
            source: sources.warehouse.source(f, sources.prefix),
            len: f.file.size,
            crc_first: needs_crc(f) && !stored.contains_key(&f.file.path),
        })
        .collect();
    let known: Vec<Option<u32>> = order
        .iter()
        .map(|f| stored.get(&f.file.path).copied())
        .collect();
    Ok(Reading::Remote {
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

/// The files being read, in archive order.
enum Reading {
    /// Local files, opened one at a time as the writer asks for them.
    Local {
        /// Whether members over the in-memory limit need a checksum pass.
        crc_first: bool,
    },
    /// Remote objects, read ahead in parallel, with the CRC-32s the store already had.
    Remote {
        prefetcher: Prefetcher,
        known: std::vec::IntoIter<Option<u32>>,
    },
}

impl Reading {
    /// The bytes of `file`, the next file in archive order, and its CRC-32 if known before
    /// reading.
    fn next(
        &mut self,
        file: &SourceFile,
        sources: &Sources<'_>,
    ) -> Result<(Box<dyn std::io::Read>, Option<u32>)> {
        match self {
            Reading::Local { crc_first } => open_local(
                &sources.warehouse.local_path(&file.path, sources.prefix),
                file,
                *crc_first && file.size > IN_MEMORY_LIMIT,
            ),
            Reading::Remote { prefetcher, known } => {
                let known = known.next().flatten();
                let file = prefetcher
                    .next()
                    .context("internal: the read plan ended early")??;
                let crc32 = file.crc32.or(known);
                Ok((Box::new(file), crc32))
            }
        }
    }
}

/// Opens a listed local file, checking it still has the listed size and mtime; with
/// `crc_first`, reads it once for its CRC-32 and rewinds. The reader is the file itself,
/// so the writer sees growth past the listed size.
fn open_local(
    path: &std::path::Path,
    listed: &SourceFile,
    crc_first: bool,
) -> Result<(Box<dyn std::io::Read>, Option<u32>)> {
    use std::io::{Read, Seek};
    use std::os::unix::fs::MetadataExt;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() != listed.size || meta.mtime() != listed.mtime {
        bail!(
            "{} changed since it was listed ({} bytes, mtime {}; now {} bytes, mtime {}); rerun pack",
            path.display(),
            listed.size,
            listed.mtime,
            meta.len(),
            meta.mtime()
        );
    }
    let mut crc32 = None;
    if crc_first {
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        crc32 = Some(hasher.finalize());
        file.rewind()
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    let reader = UnchangedWhileRead {
        file,
        len: meta.len(),
        modified: meta.modified().ok(),
    };
    Ok((Box::new(reader), crc32))
}

/// A local file being packed that, at its end, checks it still has the size and mtime it
/// had when opened: a file written to while it was read (rewritten in place with the same
/// size, say) is an error, not a member whose first part is one version and the rest
/// another — which every CRC-32 check would pass.
struct UnchangedWhileRead {
    file: std::fs::File,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl std::io::Read for UnchangedWhileRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let meta = self.file.metadata()?;
            if meta.len() != self.len || meta.modified().ok() != self.modified {
                return Err(std::io::Error::other(
                    "file changed while it was read (written to during the pack); rerun when writers are idle",
                ));
            }
        }
        Ok(n)
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
    sources: &Sources<'_>,
    overrides: &HashMap<String, Vec<u8>>,
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
                let bytes = match overrides.get(&file.path) {
                    Some(bytes) => bytes.clone(),
                    None => sources.read(file)?,
                };
                bytes.len() as u64 == record.size && crc32fast::hash(&bytes) == record.crc32
            } else {
                record.mtime == Some(file.mtime)
            };
            if unchanged {
                file.held = Some(Box::new(Held {
                    archive: holder.clone(),
                    crc32: record.crc32,
                }));
                files += 1;
                bytes += file.size;
            }
        }
    }
    Ok((files, bytes))
}

/// The snapshot id (Iceberg) or version (Delta) of a table, read from its files.
fn snapshot_of(table: &TablePlan, sources: &Sources<'_>) -> Option<String> {
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
        let path = format!("{root}{relative_name}");
        let file = table.files.iter().find(|f| f.path == path)?;
        sources.read(file).ok()
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
