//! `lakezip pack SRC -o DEST`: walk the source, detect tables, write the archive to a
//! temporary file beside DEST and rename it into place.

use std::collections::HashMap;
use std::fs;
use std::io::{BufWriter, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use archive_format::manifest::TableFormat;
use archive_format::table::{self, SourceFile, TablePlan};
use archive_format::write::{PackOptions, PackProgress, pack};

use crate::cli::PackArgs;
use crate::cmd::{selects, table_line, table_record};
use crate::output::{Output, bytes_bar, human_bytes};

pub fn run(args: PackArgs, quiet: bool) -> Result<ExitCode> {
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
    let total: u64 = tables.iter().flat_map(|t| &t.files).map(|f| f.size).sum();
    let (created, deterministic) = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => (
            v.trim()
                .parse::<i64>()
                .context("SOURCE_DATE_EPOCH must be whole seconds since 1970")?,
            true,
        ),
        Err(_) => (now(), false),
    };
    let options = PackOptions {
        source: src.display().to_string(),
        created,
        deterministic,
        tool: format!("lakezip {}", env!("CARGO_PKG_VERSION")),
    };
    let dest = &args.output;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".lakezip-partial-")
        .tempfile_in(&parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    let bar = bytes_bar(total, quiet, args.json, "packing");
    let mut open = |file: &SourceFile| -> archive_format::Result<(Box<dyn Read>, PathBuf)> {
        let path = disk_paths
            .get(&file.path)
            .cloned()
            .unwrap_or_else(|| src.join(&file.path));
        let handle = fs::File::open(&path).map_err(|e| archive_format::Error::io(&path, e))?;
        Ok((Box::new(handle), path))
    };
    let syncing = SyncingWriter::new(temp).context("cannot start writing the archive")?;
    let outcome = pack(
        BufWriter::with_capacity(128 * 1024, syncing),
        &tables,
        &mut open,
        &options,
        PackProgress {
            bytes: &mut |n| bar.inc(n),
            file_done: &mut |_| {},
        },
    )?;
    bar.finish_and_clear();
    let temp = outcome
        .output
        .into_inner()
        .map_err(|e| e.into_error())?
        .finish()
        .context("cannot flush the archive to disk")?;
    let persisted = if args.force {
        temp.persist(dest)
    } else {
        temp.persist_noclobber(dest)
    };
    persisted
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the archive into place at {}", dest.display()))?;
    let manifest = &outcome.manifest;
    let files: u64 = manifest.tables.iter().map(|t| t.summary.files).sum();
    for t in &manifest.tables {
        out.emit(table_record(&t.summary), || table_line(&t.summary))?;
    }
    out.emit(
        serde_json::json!({
            "type": "summary",
            "archive": dest.display().to_string(),
            "archive_id": manifest.archive_id,
            "tables": manifest.tables.len(),
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
