//! Safe extraction to a directory.
//!
//! Rules, all checked before a byte is written where possible:
//! - names were already checked by the reader core (no `..`, absolute paths, drive
//!   letters or backslashes), and symlink entries are refused;
//! - parent directories are created one component at a time and an existing symlink on
//!   the way is refused, so nothing lands outside the target directory;
//! - compression methods other than stored and deflate are refused;
//! - existing files are refused unless `force`;
//! - each file is written to a temporary name in its final directory, its CRC-32 and
//!   size verified, then renamed into place: a failure never leaves a partial file at a
//!   final path.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use archive_format::read::{Entry, EntryKind};
use archive_format::spec::{METHOD_DEFLATE, METHOD_STORED};

use crate::archive::stream_entry;
use crate::source::RangeSource;
use crate::{Error, Result};

/// Options of an extraction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Overwrite existing files.
    pub force: bool,
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Files written.
    pub files: u64,
    /// Directories created for directory entries.
    pub directories: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Extracts `entries` of `source` under `dest`, in the order given.
/// `progress` is called with the number of bytes just written.
pub fn extract(
    source: &dyn RangeSource,
    entries: &[&Entry],
    dest: &Path,
    options: ExtractOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ExtractSummary> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |error| Error::Write { path, error }
    };
    fs::create_dir_all(dest).map_err(write_error(dest))?;
    for entry in entries {
        if entry.kind == EntryKind::Symlink {
            return Err(Error::Refused {
                name: entry.name.clone(),
                reason: "it is a symbolic link".into(),
            });
        }
        // Refuse what cannot be decoded before the first file is written, so an archive
        // with one bzip2 or lzma member does not leave half of its files behind.
        if entry.kind == EntryKind::File && entry.method != METHOD_STORED && entry.method != METHOD_DEFLATE {
            return Err(Error::format(
                source.name(),
                archive_format::Error::UnsupportedCompression {
                    name: entry.name.clone(),
                    method: entry.method,
                },
            ));
        }
        if entry.kind == EntryKind::File && !options.force {
            let target = dest.join(&entry.name);
            if fs::symlink_metadata(&target).is_ok() {
                return Err(Error::Exists { path: target });
            }
        }
    }
    let mut summary = ExtractSummary::default();
    for entry in entries {
        let components: Vec<&str> = entry.name.trim_end_matches('/').split('/').collect();
        let (file_name, parents) = match entry.kind {
            EntryKind::Directory => (None, &components[..]),
            _ => match components.split_last() {
                Some((last, parents)) => (Some(*last), parents),
                None => continue,
            },
        };
        let directory = ensure_directory(dest, parents, &entry.name)?;
        let Some(file_name) = file_name else {
            summary.directories += 1;
            continue;
        };
        let target = directory.join(file_name);
        let mut temp = tempfile::Builder::new()
            .prefix(".lakezip-partial-")
            .tempfile_in(&directory)
            .map_err(write_error(&directory))?;
        {
            let file = temp.as_file_mut();
            let mut out = std::io::BufWriter::with_capacity(1024 * 1024, file);
            stream_entry(source, entry, &mut |bytes| {
                out.write_all(bytes).map_err(write_error(&target))?;
                progress(bytes.len() as u64);
                Ok(())
            })?;
            out.flush().map_err(write_error(&target))?;
        }
        let file = temp.as_file();
        if let Some(mode) = entry.mode {
            use std::os::unix::fs::PermissionsExt;
            // Keep rwx bits only: setuid/setgid/sticky from an archive are not trusted.
            file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
                .map_err(write_error(&target))?;
        }
        let mtime = if entry.mtime >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(entry.mtime as u64)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(entry.mtime.unsigned_abs())
        };
        file.set_modified(mtime).map_err(write_error(&target))?;
        let persisted = if options.force { temp.persist(&target) } else { temp.persist_noclobber(&target) };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists { path: target.clone() }
            } else {
                Error::Write {
                    path: target.clone(),
                    error: e.error,
                }
            }
        })?;
        summary.files += 1;
        summary.bytes += entry.uncompressed_size;
    }
    Ok(summary)
}

/// Creates `dest/parents…` one component at a time, refusing symlinks and non-directories
/// on the way. Returns the directory.
fn ensure_directory(dest: &Path, parents: &[&str], name: &str) -> Result<PathBuf> {
    let mut path = dest.to_owned();
    for component in parents {
        path.push(component);
        let refuse = |reason: &str| Error::Refused {
            name: name.to_owned(),
            reason: format!("{} {reason}", path.display()),
        };
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => return Err(refuse("is a symbolic link")),
            Ok(_) => return Err(refuse("exists and is not a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() && !path.is_symlink() => {}
                Err(error) => return Err(Error::Write { path, error }),
            },
            Err(error) => return Err(Error::Write { path, error }),
        }
    }
    Ok(path)
}
