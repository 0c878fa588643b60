//! Local files, read with positioned reads (`pread`), so one open file serves concurrent
//! readers without a shared cursor.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::source::{RangeSource, check_range};
use crate::{Error, Result};

/// A local file opened for reading. Its length is taken at open time.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl LocalFile {
    /// Opens `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let read_error = |error| Error::Read {
            source_name: path.display().to_string(),
            error,
        };
        let file = File::open(&path).map_err(read_error)?;
        let metadata = file.metadata().map_err(read_error)?;
        if metadata.is_dir() {
            return Err(read_error(std::io::Error::other(
                "is a directory, not an archive",
            )));
        }
        Ok(LocalFile {
            len: metadata.len(),
            path,
            file,
        })
    }
}

impl RangeSource for LocalFile {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn len(&self) -> Result<u64> {
        Ok(self.len)
    }

    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
        check_range(&|| self.name(), &range, self.len)?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        self.file
            .read_exact_at(&mut buf, range.start)
            .map_err(|error| Error::Read {
                source_name: self.name(),
                error,
            })?;
        Ok(buf)
    }
}

/// A file listed earlier (by a directory walk) with its size and modification time,
/// opened afresh for every read so that thousands of them can be queued without holding
/// a descriptor each. Every read checks that the file still has the listed size and
/// mtime: a file rewritten or grown since the listing fails with [`Error::Changed`]
/// instead of mixing versions.
#[derive(Debug, Clone)]
pub struct ListedFile {
    path: PathBuf,
    len: u64,
    mtime: i64,
}

impl ListedFile {
    /// A file at `path` listed with `len` bytes and `mtime` (Unix seconds).
    pub fn new(path: PathBuf, len: u64, mtime: i64) -> Self {
        ListedFile { path, len, mtime }
    }
}

impl RangeSource for ListedFile {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn len(&self) -> Result<u64> {
        Ok(self.len)
    }

    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
        use std::os::unix::fs::MetadataExt;
        check_range(&|| self.name(), &range, self.len)?;
        let read_error = |error| Error::Read {
            source_name: self.name(),
            error,
        };
        let file = File::open(&self.path).map_err(read_error)?;
        let metadata = file.metadata().map_err(read_error)?;
        if metadata.len() != self.len || metadata.mtime() != self.mtime {
            return Err(Error::Changed {
                source_name: self.name(),
                detail: format!(
                    "listed with {} bytes and mtime {}, now {} bytes and mtime {}",
                    self.len,
                    self.mtime,
                    metadata.len(),
                    metadata.mtime()
                ),
            });
        }
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        file.read_exact_at(&mut buf, range.start)
            .map_err(read_error)?;
        Ok(buf)
    }
}
