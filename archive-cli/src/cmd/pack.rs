//! `lakezip pack SRC -o DEST`: walk the source, detect tables, write the archive to a
//! temporary file beside DEST and rename it into place.

use std::collections::HashMap;
use std::fs;
use std::io::{BufWriter, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::chain::Chain;
use archive_format::manifest::{ArchiveKind, Manifest, TableFormat};
use archive_format::table::{self, Held, SourceFile, TablePlan};
use archive_format::write::{PackOptions, PackProgress, pack};

use crate::chain::{
    LoadedChain, archive_manifest, relative_location, sha256_file, state_files, write_local_chain,
};
use crate::cli::PackArgs;
use crate::cmd::{selects, table_line, table_record};
use crate::output::{Output, bytes_bar, human_bytes};
use crate::source::Context;

pub fn run(args: PackArgs, context: &Context) -> Result<ExitCode> {
    let quiet = context.quiet;
    let mut out = Output::new(args.json);
    if !args.force && fs::symlink_metadata(&args.output).is_ok() {
        bail!(
            "{} already exists; pass --force to overwrite it",
            args.output.display()
        );
    }
    let src = &args.src;
    let meta =
        fs::metadata(src).with_context(|| format!("cannot read source {}", src.display()))?;
    if !meta.is_dir() {
        bail!(
            "{} is not a directory; pack takes a warehouse, a table or any folder",
            src.display()
        );
    }
    let mut files = Vec::new();
    walk(src, "", &mut files)?;
    // A source that is itself a table keeps its folder name, so it extracts as a table.
    let prefix = match table::plan(files.iter().map(|f| f.file.clone()).collect()).as_slice() {
        [only] if only.path == table::ROOT_GROUP && only.format != TableFormat::Files => {
            let name = fs::canonicalize(src)?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "table".to_owned());
            format!("{name}/")
        }
        _ => String::new(),
    };
    for f in &mut files {
        f.file.path = format!("{prefix}{}", f.file.path);
    }
    let disk_paths: HashMap<String, PathBuf> = files
        .iter()
        .map(|f| (f.file.path.clone(), f.disk.clone()))
        .collect();
    let mut tables = table::plan(files.into_iter().map(|f| f.file).collect());
    if !args.tables.is_empty() {
        for wanted in &args.tables {
            if !tables.iter().any(|t| selects(wanted, &t.path)) {
                bail!("no table {wanted:?} under {}", src.display());
            }
        }
        tables.retain(|t| args.tables.iter().any(|w| selects(w, &t.path)));
    }
    for t in &mut tables {
        t.snapshot = snapshot_of(t, &disk_paths);
    }
    // Incremental: the base's state decides which files are already held elsewhere.
    let chain = match &args.chain {
        Some(path) if path.exists() => Some((
            path.clone(),
            LoadedChain::load(&path.display().to_string(), context)?,
        )),
        Some(path) => Some((
            path.clone(),
            LoadedChain {
                location: path.display().to_string(),
                chain: Chain::default(),
            },
        )),
        None => None,
    };
    if let Some((path, _)) = &chain {
        // Fail before packing if DEST cannot be recorded relative to the chain.
        relative_location(path, &args.output)?;
    }
    let base: Option<Manifest> = match (&chain, &args.base) {
        (Some((_, loaded)), _) if !args.full => match loaded.chain.head() {
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
        Some(base) => mark_unchanged(&mut tables, base, &disk_paths)?,
        None => (0, 0),
    };
    let total: u64 = tables
        .iter()
        .flat_map(|t| &t.files)
        .filter(|f| f.held.is_none())
        .map(|f| f.size)
        .sum();
    let (created, deterministic) = now_or_epoch()?;
    let options = PackOptions {
        source: src.display().to_string(),
        created,
        deterministic,
        tool: format!("lakezip {}", env!("CARGO_PKG_VERSION")),
        kind: if base.is_some() {
            ArchiveKind::Incremental
        } else {
            ArchiveKind::Full
        },
        base_archive_id: base.as_ref().map(|b| b.archive_id.clone()),
    };
    let dest = &args.output;
    let bar = bytes_bar(total, quiet, args.json, "packing");
    let mut open = |file: &SourceFile| -> archive_format::Result<(Box<dyn Read>, PathBuf)> {
        let path = disk_paths
            .get(&file.path)
            .cloned()
            .unwrap_or_else(|| src.join(&file.path));
        let handle = fs::File::open(&path).map_err(|e| archive_format::Error::io(&path, e))?;
        Ok((Box::new(handle), path))
    };
    let outcome = write_archive(dest, args.force, &tables, &mut open, &options, &bar)?;
    bar.finish_and_clear();
    let manifest = &outcome.manifest;
    let files: u64 = manifest.tables.iter().map(|t| t.summary.files).sum();
    if let Some((path, mut loaded)) = chain {
        let location = relative_location(&path, dest)?;
        let sha256 = sha256_file(dest)?;
        loaded.chain.archives.push(Chain::entry_for(
            manifest,
            location,
            outcome.archive_len,
            sha256,
        ));
        write_local_chain(&path, &loaded.chain).with_context(|| {
            format!(
                "{} was written but the chain was not updated",
                dest.display()
            )
        })?;
    }
    for t in &manifest.tables {
        out.emit(table_record(&t.summary), || table_line(&t.summary))?;
    }
    out.emit(
        serde_json::json!({
            "type": "summary",
            "archive": dest.display().to_string(),
            "archive_id": manifest.archive_id,
            "tables": manifest.tables.len(),
            "kind": manifest.kind,
            "base_archive_id": manifest.base_archive_id,
            "unchanged_files": held_files,
            "unchanged_bytes": held_bytes,
            "files": files,
            "bytes": total,
            "archive_bytes": outcome.archive_len,
        }),
        || {
            format!(
                "packed {} tables, {files} files, {} into {} ({} bytes, archive id {})",
                manifest.tables.len(),
                human_bytes(total),
                dest.display(),
                outcome.archive_len,
                manifest.archive_id
            )
        },
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What [`write_archive`] wrote.
pub struct Written {
    /// The embedded manifest.
    pub manifest: Manifest,
    /// Archive size.
    pub archive_len: u64,
}

/// Writes an archive to a temporary file beside `dest`, flushes it to disk, then renames
/// it into place (refusing an existing `dest` unless `force`).
pub fn write_archive(
    dest: &Path,
    force: bool,
    tables: &[TablePlan],
    open: &mut archive_format::write::OpenSource<'_>,
    options: &PackOptions,
    bar: &indicatif::ProgressBar,
) -> Result<Written> {
    let parent = crate::chain::parent_dir(dest);
    let temp = tempfile::Builder::new()
        .prefix(".lakezip-partial-")
        .tempfile_in(&parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    let syncing = SyncingWriter::new(temp).context("cannot start writing the archive")?;
    let outcome = pack(
        BufWriter::with_capacity(128 * 1024, syncing),
        tables,
        open,
        options,
        PackProgress {
            bytes: &mut |n| bar.inc(n),
            file_done: &mut |_| {},
        },
    )?;
    let temp = outcome
        .output
        .into_inner()
        .map_err(|e| e.into_error())?
        .finish()
        .context("cannot flush the archive to disk")?;
    let persisted = if force {
        temp.persist(dest)
    } else {
        temp.persist_noclobber(dest)
    };
    persisted
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the archive into place at {}", dest.display()))?;
    Ok(Written {
        manifest: outcome.manifest,
        archive_len: outcome.archive_len,
    })
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
    disk_paths: &HashMap<String, PathBuf>,
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
                let path = disk_paths.get(&file.path).cloned().unwrap_or_default();
                let bytes =
                    fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
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

struct Found {
    file: SourceFile,
    disk: PathBuf,
}

/// Lists regular files under `dir` (relative names with `/`). Symlinks and special files
/// are refused: a backup that silently skips them would lose data.
fn walk(dir: &Path, relative: &str, out: &mut Vec<Found>) -> Result<()> {
    let mut names: Vec<fs::DirEntry> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            bail!(
                "{}: file name is not valid UTF-8; zip names must be UTF-8",
                path.display()
            );
        };
        let child = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(&path, &child, out)?;
        } else if kind.is_file() {
            out.push(Found {
                file: SourceFile {
                    path: child,
                    size: meta.len(),
                    mtime: meta.mtime(),
                    mode: meta.permissions().mode() & 0o7777,
                    held: None,
                },
                disk: path,
            });
        } else if kind.is_symlink() {
            bail!(
                "{} is a symbolic link; lakezip packs regular files only (copy the link's target instead)",
                path.display()
            );
        } else {
            bail!(
                "{} is not a regular file (device, socket or pipe); lakezip packs regular files only",
                path.display()
            );
        }
    }
    Ok(())
}

/// The snapshot id (Iceberg) or version (Delta) of a table, read from its files.
fn snapshot_of(table: &TablePlan, disk_paths: &HashMap<String, PathBuf>) -> Option<String> {
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
    let on_disk = |relative_name: &str| {
        disk_paths
            .get(&format!("{root}{relative_name}"))
            .cloned()
            .unwrap_or_default()
    };
    match table.format {
        TableFormat::Iceberg => {
            let hint = fs::read_to_string(on_disk("metadata/version-hint.text")).ok();
            let current = table::iceberg_current_metadata(&relative, hint.as_deref())?;
            table::iceberg_snapshot_id(&fs::read(on_disk(current)).ok()?)
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

/// Writes the archive and flushes it to disk as it goes: every [`SYNC_EVERY`] bytes a
/// background thread calls `fdatasync`, so the final `fsync` before the rename (which
/// makes the archive durable before it appears at DEST) has little left to do and disk
/// writeback overlaps with reading the sources.
struct SyncingWriter {
    file: tempfile::NamedTempFile,
    since_sync: u64,
    /// Dropping the sender ends the worker after its current sync.
    requests: Option<std::sync::mpsc::SyncSender<()>>,
    worker: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

const SYNC_EVERY: u64 = 64 * 1024 * 1024;

impl SyncingWriter {
    fn new(file: tempfile::NamedTempFile) -> std::io::Result<Self> {
        let handle = file.as_file().try_clone()?;
        // Capacity 1: at most one sync queued behind the running one; extra requests are dropped.
        let (requests, receive) = std::sync::mpsc::sync_channel::<()>(1);
        let worker = std::thread::spawn(move || {
            while receive.recv().is_ok() {
                handle.sync_data()?;
            }
            Ok(())
        });
        Ok(SyncingWriter {
            file,
            since_sync: 0,
            requests: Some(requests),
            worker: Some(worker),
        })
    }

    /// Stops the background syncs and makes the whole file durable.
    fn finish(mut self) -> std::io::Result<tempfile::NamedTempFile> {
        self.stop()?;
        self.file.as_file().sync_all()?;
        Ok(self.file)
    }

    fn stop(&mut self) -> std::io::Result<()> {
        self.requests = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("background sync thread panicked")),
            None => Ok(()),
        }
    }
}

impl std::io::Write for SyncingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since_sync += n as u64;
        if self.since_sync >= SYNC_EVERY {
            self.since_sync = 0;
            if let Some(requests) = &self.requests {
                let _ = requests.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl std::io::Seek for SyncingWriter {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
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
