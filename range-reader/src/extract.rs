//! Safe extraction to a directory.
//!
//! Rules, all checked before a byte is written where possible:
//! - names were already checked by the reader core (no `..`, absolute paths, drive
//!   letters or backslashes), and symlink entries are refused;
//! - parent directories are created one component at a time and an existing symlink on
//!   the way is refused, so nothing lands outside the target directory;
//! - compression methods other than stored and deflate are refused;
//! - existing files are refused unless `force`;
//! - each file is written to a temporary name in its final directory while the data phase
//!   ([`crate::fetch`]) streams it; its CRC-32 and size are verified; only when every
//!   member is complete are they renamed into place, in archive order (data before the
//!   commit file). A failure leaves no file at a final path: a rename that fails removes
//!   the files renamed before it (with `force`, a file that replaced an existing one
//!   stays: it holds the verified content);
//! - a selection no tree can hold (a name twice, a name that is both a file and a folder)
//!   is refused.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use archive_format::read::{Entry, EntryKind};
use archive_format::spec::{METHOD_DEFLATE, METHOD_STORED};
use tempfile::{NamedTempFile, TempPath};

use crate::fetch::{Destination, FetchOptions, fetch};
use crate::source::RangeSource;
use crate::{Error, Result};

/// Options of an extraction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Overwrite existing files.
    pub force: bool,
    /// How the data is read.
    pub fetch: FetchOptions,
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

/// Extracts `entries` of `source` under `dest`; files appear in the order given.
/// `progress` is called with the number of bytes just written.
pub fn extract(
    source: &dyn RangeSource,
    entries: &[&Entry],
    dest: &Path,
    options: ExtractOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExtractSummary> {
    fs::create_dir_all(dest).map_err(|error| Error::Write {
        path: dest.to_owned(),
        error,
    })?;
    for entry in entries {
        if entry.kind == EntryKind::Symlink {
            return Err(Error::Refused {
                name: entry.name.clone(),
                reason: "it is a symbolic link".into(),
            });
        }
        if entry.kind == EntryKind::File
            && entry.method != METHOD_STORED
            && entry.method != METHOD_DEFLATE
        {
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
    check_tree(entries)?;
    let mut summary = ExtractSummary::default();
    let mut targets = Vec::with_capacity(entries.len());
    for entry in entries {
        let components: Vec<&str> = entry.name.trim_end_matches('/').split('/').collect();
        let (file_name, parents) = match entry.kind {
            EntryKind::Directory => (None, &components[..]),
            _ => match components.split_last() {
                Some((last, parents)) => (Some(*last), parents),
                None => (None, &components[..0]),
            },
        };
        let directory = ensure_directory(dest, parents, &entry.name)?;
        if entry.kind == EntryKind::Directory {
            summary.directories += 1;
        }
        targets.push(file_name.map(|name| (directory.clone(), directory.join(name))));
    }
    let files = ToDirectory {
        targets: &targets,
        done: Mutex::new((0..entries.len()).map(|_| None).collect()),
    };
    fetch(source, entries, &files, &options.fetch, progress)?;
    let done = files.done.into_inner().map_err(|_| Error::Remote {
        source_name: source.name(),
        message: "internal state lost after a worker failed".into(),
    })?;
    // A rename can still fail (a name too long for the filesystem, a file created in the
    // meantime): then the files this call already put in place are removed again.
    let mut placed: Vec<&PathBuf> = Vec::new();
    for ((entry, target), temp) in entries.iter().zip(&targets).zip(done) {
        let (Some((_, target)), Some(temp)) = (target, temp) else {
            continue;
        };
        let created = !options.force || fs::symlink_metadata(target).is_err();
        if let Err(error) = crate::partial::persist(temp, target, options.force) {
            for path in placed {
                let _ = fs::remove_file(path);
            }
            return Err(if error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists {
                    path: target.clone(),
                }
            } else {
                Error::Write {
                    path: target.clone(),
                    error,
                }
            });
        }
        if created {
            placed.push(target);
        }
        summary.files += 1;
        summary.bytes += entry.uncompressed_size;
    }
    Ok(summary)
}

/// Refuses a selection that no directory tree can hold, before anything is written: a
/// name selected twice (two tables of a lying index can share entries) or a name that is
/// a file and also the folder of another entry (`a` and `a/b`, or `a` and `a/`).
fn check_tree(entries: &[&Entry]) -> Result<()> {
    let mut names = HashSet::with_capacity(entries.len());
    let mut folders = HashSet::new();
    for entry in entries {
        if !names.insert(entry.name.as_str()) {
            return Err(Error::Refused {
                name: entry.name.clone(),
                reason: "it is selected more than once".into(),
            });
        }
        let path = entry.name.trim_end_matches('/');
        if entry.kind == EntryKind::Directory {
            folders.insert(path);
        }
        folders.extend(path.match_indices('/').map(|(at, _)| &path[..at]));
    }
    match entries
        .iter()
        .find(|e| e.kind != EntryKind::Directory && folders.contains(e.name.as_str()))
    {
        Some(entry) => Err(Error::Refused {
            name: entry.name.clone(),
            reason: "the archive has it both as a file and as a folder".into(),
        }),
        None => Ok(()),
    }
}

/// Writes members to temporary files beside their targets.
struct ToDirectory<'a> {
    /// Per member: its directory and final path (`None` for directory entries).
    targets: &'a [Option<(PathBuf, PathBuf)>],
    /// Verified members, waiting to be renamed in order.
    done: Mutex<Vec<Option<TempPath>>>,
}

impl ToDirectory<'_> {
    fn target(&self, position: usize, entry: &Entry) -> Result<&(PathBuf, PathBuf)> {
        self.targets
            .get(position)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::Refused {
                name: entry.name.clone(),
                reason: "not a file".into(),
            })
    }
}

impl Destination for ToDirectory<'_> {
    type Output = (NamedTempFile, PathBuf);

    fn create(&self, position: usize, entry: &Entry) -> Result<Self::Output> {
        let (directory, target) = self.target(position, entry)?;
        let temp = crate::partial::create_in(directory, None).map_err(|error| Error::Write {
            path: directory.clone(),
            error,
        })?;
        Ok((temp, target.clone()))
    }

    fn write_at(
        &self,
        _entry: &Entry,
        output: &Self::Output,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()> {
        output
            .0
            .as_file()
            .write_all_at(bytes, offset)
            .map_err(|error| Error::Write {
                path: output.1.clone(),
                error,
            })
    }

    fn complete(&self, position: usize, entry: &Entry, output: Self::Output) -> Result<()> {
        let (temp, target) = output;
        let write_error = |error| Error::Write {
            path: target.clone(),
            error,
        };
        let file = temp.as_file();
        // Sizes are checked, but a member of zeros at the end still needs the length set.
        file.set_len(entry.uncompressed_size).map_err(write_error)?;
        if let Some(mode) = entry.mode {
            // Keep rwx bits only: setuid/setgid/sticky from an archive are not trusted.
            file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
                .map_err(write_error)?;
        }
        let mtime = if entry.mtime >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(entry.mtime as u64)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(entry.mtime.unsigned_abs())
        };
        file.set_modified(mtime).map_err(write_error)?;
        let mut done = self.done.lock().map_err(|_| Error::Refused {
            name: entry.name.clone(),
            reason: "internal state lost after a worker failed".into(),
        })?;
        done[position] = Some(temp.into_temp_path());
        Ok(())
    }
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
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && path.is_dir()
                        && !path.is_symlink() => {}
                Err(error) => return Err(Error::Write { path, error }),
            },
            Err(error) => return Err(Error::Write { path, error }),
        }
    }
    Ok(path)
}
