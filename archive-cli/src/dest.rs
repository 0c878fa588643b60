//! Where archives are written: a local file (temporary file, fsync, rename into place) or
//! an S3 object (streamed as a multipart upload, resumable, checked after completion).
//!
//! Resuming: while a pack streams to S3, the state of its multipart upload (upload id, the
//! parts sent with their CRC-32 and MD5) and what the pack was (a fingerprint of the
//! listed files and options, its creation time and archive id) are kept in a small JSON
//! file in the state directory. Rerunning the same command finds it; if the input is
//! unchanged it writes the same bytes again, checks each part already stored against
//! them, and sends only the rest. A failed pack aborts its upload unless the failure was
//! the network giving out (retries exhausted), which is what a rerun can fix.

use std::fs::Permissions;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::Manifest;
use archive_format::manifest::chain::StoredObject;
use archive_format::table::TablePlan;
use archive_format::write::{OpenSource, PackOptions, PackProgress, Streaming, pack};
use indicatif::ProgressBar;
use range_reader::partial;
use range_reader::retry::RetryPolicy;
use range_reader::s3::{self, S3Options};
use range_reader::upload::{self, S3Upload, UploadOptions, UploadState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::{hex, parent_dir, sha256_file};
use crate::source::Context;

/// An archive destination.
#[derive(Debug, Clone)]
pub enum Dest {
    /// A local path.
    Local(PathBuf),
    /// `s3://bucket/key`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl Dest {
    /// The destination an `-o` argument names.
    pub fn parse(arg: &str) -> Result<Dest> {
        if arg.starts_with("s3://") {
            match s3::parse_s3_url(arg) {
                Some((bucket, key)) if !key.is_empty() && !key.ends_with('/') => {
                    Ok(Dest::S3 { bucket, key })
                }
                _ => bail!("{arg} is not an S3 object URL; expected s3://bucket/key"),
            }
        } else if arg.contains("://") {
            bail!("{arg}: archives are written to a local path or s3://bucket/key")
        } else {
            Ok(Dest::Local(PathBuf::from(arg)))
        }
    }

    /// Whether members need their CRC-32 before their data (no going back).
    pub fn is_streaming(&self) -> bool {
        matches!(self, Dest::S3 { .. })
    }

    /// Fails if the destination exists (unless `force`).
    pub fn check_absent(&self, force: bool, context: &Context) -> Result<()> {
        if force {
            return Ok(());
        }
        let exists = match self {
            Dest::Local(path) => std::fs::symlink_metadata(path).is_ok(),
            Dest::S3 { bucket, key } => {
                upload::head_object(&client(context)?, bucket, key, &RetryPolicy::from_env())?
                    .is_some()
            }
        };
        if exists {
            bail!("{self} already exists; pass --force to overwrite it");
        }
        Ok(())
    }
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Local(path) => write!(f, "{}", path.display()),
            Dest::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// What [`write_archive`] wrote.
#[derive(Debug)]
pub struct Written {
    /// The embedded manifest.
    pub manifest: Manifest,
    /// Archive size.
    pub archive_len: u64,
    /// SHA-256 of the archive, lowercase hex (when asked for: it costs a pass over the
    /// archive).
    pub sha256: Option<String>,
    /// For S3: the object as the store reported it after the upload.
    pub stored: Option<StoredObject>,
    /// For S3: whether an interrupted upload was continued.
    pub resumed: bool,
}

/// Progress bars of a pack: bytes read from the sources, and (S3) bytes stored.
#[derive(Debug, Clone)]
pub struct Bars {
    /// Source bytes copied into the archive.
    pub read: ProgressBar,
    /// Archive bytes the store acknowledged.
    pub upload: ProgressBar,
}

/// A prepared write: for S3, the resume decision is made before packing so the pack can
/// reuse the interrupted run's creation time and archive id.
pub struct Prepared {
    dest: Dest,
    force: bool,
    resume: Option<StateFile>,
    state_path: Option<PathBuf>,
    fingerprint: String,
    /// Compute the archive's SHA-256 (for a chain entry).
    pub want_sha256: bool,
}

/// The state file of a pack streaming to S3.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateFile {
    lakezip_upload: u32,
    destination: String,
    fingerprint: String,
    created: i64,
    archive_id: Option<String>,
    upload: Option<UploadState>,
}

/// Decides how to write: for S3, looks for an interrupted upload of the same pack in
/// `state_dir` and, if there is one, makes `options` reuse its creation time and id.
pub fn prepare(
    dest: &Dest,
    force: bool,
    tables: &[TablePlan],
    options: &mut PackOptions,
    state_dir: Option<&Path>,
    context: &Context,
) -> Result<Prepared> {
    let fingerprint = fingerprint(tables, options);
    let mut prepared = Prepared {
        dest: dest.clone(),
        force,
        resume: None,
        state_path: None,
        fingerprint: fingerprint.clone(),
        want_sha256: false,
    };
    let Dest::S3 { .. } = dest else {
        return Ok(prepared);
    };
    let dir = match state_dir {
        Some(dir) => dir.to_owned(),
        None => default_state_dir()?,
    };
    let id = hex(&Sha256::digest(
        format!(
            "{}\n{}",
            context.endpoint_url.as_deref().unwrap_or(""),
            dest
        )
        .as_bytes(),
    ));
    let path = dir.join(format!("upload-{}.json", &id[..16]));
    if let Some(state) = read_state(&path)? {
        if state.fingerprint == fingerprint && state.destination == dest.to_string() {
            options.created = state.created;
            options.archive_id = state.archive_id.clone();
            prepared.resume = Some(state);
        } else {
            if let (Some(upload), Dest::S3 { .. }) = (&state.upload, dest) {
                eprintln!(
                    "lakezip: the source changed since an interrupted pack to {dest}; starting over"
                );
                let _ = upload::abort_upload(
                    &client(context)?,
                    &upload.bucket,
                    &upload.key,
                    &upload.upload_id,
                    &RetryPolicy::from_env(),
                );
            }
            remove_state(&path);
        }
    }
    if prepared.resume.is_none() && !options.deterministic && options.archive_id.is_none() {
        options.archive_id = Some(uuid::Uuid::new_v4().to_string());
    }
    prepared.state_path = Some(path);
    Ok(prepared)
}

/// Writes the archive.
pub fn write_archive(
    prepared: Prepared,
    tables: &mut [TablePlan],
    open: &mut OpenSource<'_>,
    options: &PackOptions,
    bars: &Bars,
    context: &Context,
) -> Result<Written> {
    match &prepared.dest {
        Dest::Local(path) => write_local(
            path,
            prepared.force,
            prepared.want_sha256,
            tables,
            open,
            options,
            bars,
        ),
        Dest::S3 { bucket, key } => {
            write_s3(&prepared, bucket, key, tables, open, options, bars, context)
        }
    }
}

fn write_local(
    dest: &Path,
    force: bool,
    want_sha256: bool,
    tables: &mut [TablePlan],
    open: &mut OpenSource<'_>,
    options: &PackOptions,
    bars: &Bars,
) -> Result<Written> {
    let parent = parent_dir(dest);
    // 0666 minus the umask, like any other program's output (a temporary file's 0600
    // would keep everyone else from reading the archive).
    let temp = partial::create_in(&parent, Some(Permissions::from_mode(0o666)))
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    let syncing = SyncingWriter::new(temp).context("cannot start writing the archive")?;
    let cannot_write = || format!("cannot write {}", dest.display());
    let outcome = pack(
        io::BufWriter::with_capacity(128 * 1024, syncing),
        tables,
        open,
        options,
        PackProgress {
            bytes: &mut |n| bars.read.inc(n),
            file_done: &mut |_| {},
        },
    )
    .map_err(|error| match error {
        // The writer names the output `<archive>`: name DEST instead (disk full, quota).
        archive_format::Error::Io { path, source } if path == Path::new("<archive>") => {
            anyhow::Error::new(source).context(cannot_write())
        }
        other => other.into(),
    })?;
    let temp = outcome
        .output
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(cannot_write)?
        .finish()
        .with_context(|| format!("cannot flush {} to disk", dest.display()))?;
    let sha256 = want_sha256.then(|| sha256_file(temp.path())).transpose()?;
    partial::persist(temp.into_temp_path(), dest, force)
        .with_context(|| format!("cannot move the archive into place at {}", dest.display()))?;
    Ok(Written {
        manifest: outcome.manifest,
        archive_len: outcome.archive_len,
        sha256,
        stored: None,
        resumed: false,
    })
}

#[allow(clippy::too_many_arguments)]
fn write_s3(
    prepared: &Prepared,
    bucket: &str,
    key: &str,
    tables: &mut [TablePlan],
    open: &mut OpenSource<'_>,
    options: &PackOptions,
    bars: &Bars,
    context: &Context,
) -> Result<Written> {
    let client = client(context)?;
    let expected: u64 = tables
        .iter()
        .flat_map(|t| &t.files)
        .filter(|f| f.held.is_none())
        .map(|f| f.size + 30 + 2 * f.path.len() as u64 + 100)
        .sum::<u64>()
        + 1024 * 1024;
    let resume_upload = prepared.resume.as_ref().and_then(|s| s.upload.clone());
    let part_size = match &resume_upload {
        Some(state) => state.part_size,
        None => upload::part_size_for(expected)?,
    };
    let condition = if prepared.force {
        upload::PutCondition::Overwrite
    } else {
        upload::PutCondition::IfNoneMatch
    };
    let state_path = prepared.state_path.clone();
    let mut record = StateFile {
        lakezip_upload: 1,
        destination: prepared.dest.to_string(),
        fingerprint: prepared.fingerprint.clone(),
        created: options.created,
        archive_id: options.archive_id.clone(),
        upload: None,
    };
    let save_error: Arc<Mutex<Option<String>>> = Arc::default();
    let save_error_in = Arc::clone(&save_error);
    let on_state = Box::new(move |state: &UploadState| {
        record.upload = Some(state.clone());
        if let Some(path) = &state_path
            && let Err(e) = write_state(path, &record)
            && let Ok(mut slot) = save_error_in.lock()
        {
            *slot = Some(format!("{e:#}"));
        }
    });
    let upload_bar = bars.upload.clone();
    let resumed = resume_upload.is_some();
    let sink = S3Upload::new(
        client.clone(),
        bucket.to_owned(),
        key.to_owned(),
        UploadOptions {
            part_size,
            concurrency: context.concurrency.max(1),
            policy: RetryPolicy::from_env(),
            condition,
        },
        resume_upload,
        on_state,
        Box::new(move |n| upload_bar.inc(n)),
    );
    let sink = match sink {
        Ok(sink) => sink,
        Err(e @ range_reader::Error::UploadGone { .. }) if resumed => {
            // The interrupted upload is gone (aborted or expired): start over.
            eprintln!("lakezip: cannot continue the interrupted upload ({e}); starting over");
            if let Some(path) = &prepared.state_path {
                remove_state(path);
            }
            let fresh = Prepared {
                dest: prepared.dest.clone(),
                force: prepared.force,
                resume: None,
                state_path: prepared.state_path.clone(),
                fingerprint: prepared.fingerprint.clone(),
                want_sha256: prepared.want_sha256,
            };
            return write_s3(&fresh, bucket, key, tables, open, options, bars, context);
        }
        Err(e) => return Err(e.into()),
    };
    let failure: Arc<Mutex<Option<bool>>> = Arc::default();
    let writer = Hashing {
        inner: sink,
        sha256: prepared.want_sha256.then(Sha256::new),
        gave_up: Arc::clone(&failure),
    };
    let outcome = pack(
        Streaming(writer),
        tables,
        open,
        options,
        PackProgress {
            bytes: &mut |n| bars.read.inc(n),
            file_done: &mut |_| {},
        },
    );
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            let network = failure.lock().ok().and_then(|f| *f).unwrap_or(false);
            if network {
                return Err(kept_for_rerun(&error, &prepared.dest, bucket));
            }
            // Anything else aborts: no orphan parts are left behind.
            abort_state(prepared, &client, bucket, key);
            return Err(error.into());
        }
    };
    let Hashing { inner, sha256, .. } = outcome.output.0;
    let uploaded = match inner.finish() {
        Ok(uploaded) => uploaded,
        Err(error @ range_reader::Error::GaveUp { .. }) => {
            return Err(kept_for_rerun(&error, &prepared.dest, bucket));
        }
        Err(error) => {
            abort_state(prepared, &client, bucket, key);
            return Err(error)
                .with_context(|| format!("cannot complete the upload to {}", prepared.dest));
        }
    };
    if let Some(path) = &prepared.state_path {
        remove_state(path);
    }
    if let Ok(slot) = save_error.lock()
        && let Some(message) = slot.as_ref()
    {
        eprintln!("lakezip: warning: could not save the upload state: {message}");
    }
    if uploaded.size != outcome.archive_len {
        bail!(
            "{} holds {} bytes after the upload, but {} were written",
            prepared.dest,
            uploaded.size,
            outcome.archive_len
        );
    }
    Ok(Written {
        manifest: outcome.manifest,
        archive_len: outcome.archive_len,
        sha256: sha256.map(|h| hex(&h.finalize())),
        stored: Some(StoredObject {
            etag: uploaded.etag,
            parts: uploaded.parts,
            part_size: (uploaded.parts > 0).then_some(part_size),
            checksum_crc32: uploaded.checksum_crc32,
        }),
        resumed,
    })
}

/// The error of a pack whose upload the network cut off: the upload is kept for a rerun.
fn kept_for_rerun(error: &dyn std::fmt::Display, dest: &Dest, bucket: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{error}; the upload to {dest} is kept: rerun the same command to continue it, or run `lakezip cleanup s3://{bucket}/` to discard it"
    )
}

/// Best-effort abort of the upload of a failed pack, and its state file.
fn abort_state(prepared: &Prepared, client: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    let Some(path) = &prepared.state_path else {
        return;
    };
    if let Ok(Some(state)) = read_state(path)
        && let Some(upload) = state.upload
        && let Err(e) = upload::abort_upload(
            client,
            bucket,
            key,
            &upload.upload_id,
            &RetryPolicy::from_env(),
        )
    {
        eprintln!(
            "lakezip: warning: could not abort the upload to s3://{bucket}/{key} ({e}); run `lakezip cleanup s3://{bucket}/`"
        );
    }
    remove_state(path);
}

/// The S3 sink, hashing what it is given, and noting whether a failure was the network
/// giving out (worth a rerun) rather than a refusal.
struct Hashing {
    inner: S3Upload,
    sha256: Option<Sha256>,
    gave_up: Arc<Mutex<Option<bool>>>,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                if let Some(sha256) = &mut self.sha256 {
                    sha256.update(&buf[..n]);
                }
                Ok(n)
            }
            Err(e) => {
                let transient = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<range_reader::Error>())
                    .is_some_and(|inner| matches!(inner, range_reader::Error::GaveUp { .. }));
                if let Ok(mut slot) = self.gave_up.lock() {
                    *slot = Some(transient);
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An S3 client for `--endpoint-url` and the standard credential chain.
pub fn client(context: &Context) -> Result<aws_sdk_s3::Client> {
    Ok(s3::client(&S3Options {
        endpoint_url: context.endpoint_url.clone(),
    })?)
}

/// Where upload state lives: `$LAKEZIP_STATE_DIR`, else `$XDG_STATE_HOME/lakezip`, else
/// `~/.local/state/lakezip`.
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LAKEZIP_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("lakezip"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/lakezip")),
        None => bail!("no state directory: set LAKEZIP_STATE_DIR or HOME"),
    }
}

fn read_state(path: &Path) -> Result<Option<StateFile>> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<StateFile>(&bytes) {
            Ok(state) if state.lakezip_upload == 1 => Ok(Some(state)),
            _ => {
                eprintln!(
                    "lakezip: warning: ignoring unreadable upload state {}",
                    path.display()
                );
                Ok(None)
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_state(path: &Path, state: &StateFile) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".lakezip-state-")
        .tempfile_in(&dir)?;
    temp.write_all(&serde_json::to_vec_pretty(state)?)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn remove_state(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Every upload state file in `dir` with the upload it describes.
pub fn saved_uploads(dir: &Path) -> Vec<(PathBuf, UploadState)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("upload-") && n.ends_with(".json"))
        })
        .filter_map(|p| {
            let state: StateFile = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            Some((p, state.upload?))
        })
        .collect()
}

/// What decides whether an interrupted pack can be continued: the source as named, the
/// kind and base, and every file to write (path, size, mtime, mode) or reuse.
fn fingerprint(tables: &[TablePlan], options: &PackOptions) -> String {
    let mut h = Sha256::new();
    h.update(options.source.as_bytes());
    h.update([0, u8::from(options.deterministic)]);
    h.update(format!("{:?}", options.kind).as_bytes());
    h.update(options.base_archive_id.as_deref().unwrap_or("").as_bytes());
    if options.deterministic {
        h.update(options.created.to_le_bytes());
    }
    for table in tables {
        h.update([1]);
        h.update(table.path.as_bytes());
        h.update(table.snapshot.as_deref().unwrap_or("").as_bytes());
        for f in &table.files {
            h.update([2]);
            h.update(f.path.as_bytes());
            h.update(f.size.to_le_bytes());
            h.update(f.mtime.to_le_bytes());
            h.update(f.mode.to_le_bytes());
            if let Some(held) = &f.held {
                h.update(held.archive.as_bytes());
                h.update(held.crc32.to_le_bytes());
            }
        }
    }
    hex(&h.finalize())
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
    worker: Option<std::thread::JoinHandle<io::Result<()>>>,
}

const SYNC_EVERY: u64 = 64 * 1024 * 1024;

impl SyncingWriter {
    fn new(file: tempfile::NamedTempFile) -> io::Result<Self> {
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
    fn finish(mut self) -> io::Result<tempfile::NamedTempFile> {
        self.stop()?;
        self.file.as_file().sync_all()?;
        Ok(self.file)
    }

    fn stop(&mut self) -> io::Result<()> {
        self.requests = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("background sync thread panicked")),
            None => Ok(()),
        }
    }
}

impl Write for SyncingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Through the `File`: `NamedTempFile` would add its random name to the error.
        let n = self.file.as_file_mut().write(buf)?;
        self.since_sync += n as u64;
        if self.since_sync >= SYNC_EVERY {
            self.since_sync = 0;
            if let Some(requests) = &self.requests {
                let _ = requests.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_file_mut().flush()
    }
}

impl io::Seek for SyncingWriter {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file.as_file_mut().seek(pos)
    }
}
