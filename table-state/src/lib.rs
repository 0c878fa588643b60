//! Table-aware packing and relocation.
//!
//! - [`iceberg`]: the files an Iceberg table state references (metadata JSON, manifest
//!   lists, manifests, data and delete files, statistics), read from its metadata.
//! - [`delta`]: the files a Delta table version references (log up to the version, its
//!   checkpoint, data files of the retained log).
//! - [`relocate`]: rewriting a table's absolute paths from one prefix to another.
//!
//! Everything reads a table through [`TableFiles`], so the same code serves a local
//! directory and an S3 prefix.
#![forbid(unsafe_code)]

pub mod delta;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod iceberg;
pub mod relocate;

use std::collections::BTreeSet;

pub use error::{Error, Result};

/// A table's files, addressed by paths relative to the table root (`/`-separated, e.g.
/// `metadata/00003-….metadata.json`, `data/part-0.parquet`, `_delta_log/00…01.json`).
pub trait TableFiles {
    /// Every file found when the table was listed.
    fn listed(&self) -> &BTreeSet<String>;
    /// The content of a file (listed or not: a file written after the listing can still
    /// be read). A file that does not exist is `Ok(None)`.
    fn read(&self, relative: &str) -> Result<Option<Vec<u8>>>;
    /// Whether a file exists now (listed or not).
    fn exists(&self, relative: &str) -> Result<bool>;
}

/// Which snapshots of an Iceberg table to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Snapshots {
    /// Every snapshot the chosen metadata still lists (time travel keeps working).
    #[default]
    All,
    /// Only the current snapshot's files.
    Current,
}

/// The files a table state references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Every file to pack, relative to the table root. Includes files that exist but were
    /// not listed (written between the listing and the selection).
    pub files: BTreeSet<String>,
    /// The state: Iceberg current snapshot id, or Delta version.
    pub snapshot: Option<String>,
    /// Files whose exact bytes were read to decide the state and must be packed as read
    /// (mutable pointer files such as `_delta_log/_last_checkpoint` or
    /// `metadata/version-hint.text`, which a writer may rewrite during the pack).
    pub pinned: Vec<(String, Vec<u8>)>,
}

/// A table in a local directory (for tests and tools; the `lakezip` binary has its own
/// implementation over its warehouse listing).
#[derive(Debug, Clone)]
pub struct LocalTable {
    root: std::path::PathBuf,
    listed: BTreeSet<String>,
}

impl LocalTable {
    /// Lists every regular file under `root`.
    pub fn open(root: impl Into<std::path::PathBuf>) -> Result<Self> {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut BTreeSet<String>) -> Result<()> {
            let entries = std::fs::read_dir(dir).map_err(|e| Error::Read {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::Read {
                    path: dir.display().to_string(),
                    reason: e.to_string(),
                })?;
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                let kind = entry.file_type().map_err(|e| Error::Read {
                    path: name.clone(),
                    reason: e.to_string(),
                })?;
                if kind.is_dir() {
                    walk(&entry.path(), &format!("{name}/"), out)?;
                } else if kind.is_file() {
                    out.insert(name);
                }
            }
            Ok(())
        }
        let root = root.into();
        let mut listed = BTreeSet::new();
        walk(&root, "", &mut listed)?;
        Ok(LocalTable { root, listed })
    }
}

impl TableFiles for LocalTable {
    fn listed(&self) -> &BTreeSet<String> {
        &self.listed
    }

    fn read(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.root.join(relative)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Read {
                path: relative.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    fn exists(&self, relative: &str) -> Result<bool> {
        Ok(self.root.join(relative).is_file())
    }
}
