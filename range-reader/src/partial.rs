//! Partial files: the temporary files (`.lakezip-partial-*`) that extraction and a local
//! pack write before renaming them into place.
//!
//! Each one is created through [`create_in`], which records its path in a process-wide
//! list, and renamed into place with [`persist`], which forgets it. A process interrupted by a signal
//! calls [`remove_all`] before it exits, so Ctrl-C in the middle of a 200 GB extraction
//! leaves no hidden half-written files behind (the `lakezip` binary does this on SIGINT,
//! SIGTERM and SIGHUP). A crash or SIGKILL still leaves them, under that prefix.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use std::io::Write;
//! use std::path::Path;
//! use range_reader::partial;
//!
//! let mut temp = partial::create_in(Path::new("out"), None)?;
//! temp.write_all(b"bytes")?;
//! partial::persist(temp.into_temp_path(), Path::new("out/file.bin"), false)?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeSet;
use std::fs::Permissions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tempfile::{NamedTempFile, TempPath};

/// Prefix of every partial file's name.
pub const PREFIX: &str = ".lakezip-partial-";

/// The partial files of this process that may still exist.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    // The set stays consistent whatever panicked while holding it.
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates a partial file in `dir`, recorded for [`remove_all`]. Its mode is 0600, or
/// `permissions` minus the umask.
pub fn create_in(dir: &Path, permissions: Option<Permissions>) -> io::Result<NamedTempFile> {
    // Held while creating: once `remove_all` has run, no new partial file can appear.
    let mut live = live();
    let mut builder = tempfile::Builder::new();
    builder.prefix(PREFIX);
    if let Some(permissions) = permissions {
        builder.permissions(permissions);
    }
    let temp = builder.tempfile_in(dir).map_err(without_random_name)?;
    live.insert(temp.path().to_owned());
    Ok(temp)
}

/// tempfile adds the name it tried to the OS error (`… at path "dir/.lakezip-partial-x7Gq2a"`);
/// callers name the directory, so drop it (the kind and the OS message stay).
fn without_random_name(error: io::Error) -> io::Error {
    if error.get_ref().is_none() {
        return error;
    }
    match error.to_string().rsplit_once(" at path ") {
        Some((message, _)) => io::Error::new(error.kind(), message.to_owned()),
        None => error,
    }
}

/// Renames a partial file to `target` (replacing a file there when `replace`, else failing
/// with [`io::ErrorKind::AlreadyExists`]) and forgets it. On error it is removed.
pub fn persist(temp: TempPath, target: &Path, replace: bool) -> io::Result<()> {
    let name = temp.to_path_buf();
    let persisted = if replace {
        temp.persist(target)
    } else {
        temp.persist_noclobber(target)
    };
    live().remove(&name);
    persisted.map_err(|e| e.error)
}

/// Removes every partial file still recorded and returns how many there were. For a
/// process about to exit on a signal: the list stays locked afterwards, so threads still
/// running block instead of creating new partial files.
pub fn remove_all() -> usize {
    let mut live = live();
    let removed = live
        .iter()
        .filter(|path| std::fs::remove_file(path).is_ok())
        .count();
    live.clear();
    std::mem::forget(live);
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    // `remove_all` locks the list for good, so it is exercised through the binary
    // (tests/faults_local.rs), not here.
    #[test]
    fn partial_files_are_recorded_until_forgotten() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp = create_in(dir.path(), None).unwrap_or_else(|e| panic!("{e}"));
        let name = temp.path().to_owned();
        assert!(live().contains(&name));
        assert!(
            name.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
        );
        let target = dir.path().join("done");
        persist(temp.into_temp_path(), &target, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(!live().contains(&name));
        assert!(target.is_file());
        // Without `replace` an existing file stays, and the partial file goes.
        let temp = create_in(dir.path(), None).unwrap_or_else(|e| panic!("{e}"));
        let name = temp.path().to_owned();
        let error = persist(temp.into_temp_path(), &target, false).expect_err("exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert!(!live().contains(&name) && !name.exists());
    }
}
