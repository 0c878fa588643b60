//! Errors of table-state reading and relocation.

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file the state references does not exist.
    #[error("{table}: {path} is referenced by the table state but missing")]
    Missing {
        /// Table path as given by the caller.
        table: String,
        /// The missing file (relative to the table root, or the absolute path when it is
        /// outside the table).
        path: String,
    },
    /// A file could not be parsed.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file (relative to the table root).
        path: String,
        /// Why.
        reason: String,
    },
    /// The table cannot be handled as asked (no metadata, unknown version, …).
    #[error("{0}")]
    Unsupported(String),
    /// Reading a file failed.
    #[error("{path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error.
        reason: String,
    },
    /// A `--relocate OLD=NEW` argument is malformed.
    #[error("invalid relocation {argument:?}: {reason}")]
    BadRelocation {
        /// The argument as given.
        argument: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Relocating the table would leave paths that cannot be rewritten (position-delete
    /// files, deletion vectors, absolute paths inside Parquet checkpoints…); nothing is
    /// rewritten.
    #[error("{path}: cannot relocate: {reason}")]
    CannotRelocate {
        /// The file that holds (or references) the paths (relative to the table root).
        path: String,
        /// Why.
        reason: String,
    },
}
