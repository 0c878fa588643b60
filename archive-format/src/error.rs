//! The crate's one error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing an archive.
///
/// Messages are lowercase, carry the offending name or offset, and never panic on input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No end of central directory record in the tail of the file.
    #[error("not a zip archive: no end of central directory record in the last {searched} bytes")]
    NotAZip {
        /// How many bytes of the tail were searched.
        searched: u64,
    },
    /// A record ends past the bytes that exist.
    #[error("truncated {record} at offset {offset}: needs {needed} bytes, {available} available")]
    Truncated {
        /// Which record.
        record: &'static str,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A record does not start with its signature.
    #[error(
        "bad {record} signature at offset {offset}: expected {expected:#010x}, found {actual:#010x}"
    )]
    BadSignature {
        /// Which record.
        record: &'static str,
        /// Where it was expected.
        offset: u64,
        /// The signature the spec requires.
        expected: u32,
        /// What was found.
        actual: u32,
    },
    /// A structural rule of the format is broken.
    #[error("invalid {record} at offset {offset}: {reason}")]
    Invalid {
        /// Which record.
        record: &'static str,
        /// Where it starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An entry's name is unsafe to extract or malformed.
    #[error("unsafe entry name {name:?}: {reason}")]
    UnsafeName {
        /// The name as stored (lossy UTF-8).
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two entries share a name.
    #[error("duplicate entry name {name:?}")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// Two entries' bytes overlap (the overlapping zip-bomb construction, or corruption).
    #[error("entries {first:?} and {second:?} overlap at offset {offset}")]
    Overlap {
        /// The earlier entry.
        first: String,
        /// The entry starting inside it.
        second: String,
        /// Where the second starts.
        offset: u64,
    },
    /// The local header disagrees with the central directory.
    #[error(
        "local header of {name:?} disagrees with the central directory: {field} is {local} locally, {central} centrally"
    )]
    LocalMismatch {
        /// The entry.
        name: String,
        /// Which field.
        field: &'static str,
        /// Value in the central directory.
        central: String,
        /// Value in the local header.
        local: String,
    },
    /// A compression method this reader does not decode.
    #[error(
        "entry {name:?}: compression method {method} not supported (lakezip reads stored and deflate members)"
    )]
    UnsupportedCompression {
        /// The entry.
        name: String,
        /// APPNOTE method number.
        method: u16,
    },
    /// An encrypted entry.
    #[error("entry {name:?} is encrypted; lakezip does not decrypt")]
    Encrypted {
        /// The entry.
        name: String,
    },
    /// Multi-disk (spanned) archives are not supported.
    #[error("multi-disk zip archives are not supported (disk number {disk})")]
    MultiDisk {
        /// The disk number found.
        disk: u32,
    },
    /// A member's content does not match its CRC-32.
    #[error("entry {name:?}: crc-32 mismatch (expected {expected:08x}, computed {actual:08x})")]
    CrcMismatch {
        /// The entry.
        name: String,
        /// CRC-32 in the archive.
        expected: u32,
        /// CRC-32 of the bytes read.
        actual: u32,
    },
    /// A member's content has the wrong length.
    #[error("entry {name:?}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        /// The entry.
        name: String,
        /// Declared size.
        expected: u64,
        /// Observed size.
        actual: u64,
    },
    /// The embedded manifest or table index is malformed or inconsistent.
    #[error("lakezip manifest: {reason}")]
    Manifest {
        /// What is wrong.
        reason: String,
    },
    /// A source file changed while it was being packed.
    #[error("{path}: file changed while packing ({reason}); rerun when writers are idle")]
    SourceChanged {
        /// The source file.
        path: PathBuf,
        /// What changed.
        reason: String,
    },
    /// Two inputs map to the same archive name, or the input is otherwise unusable.
    #[error("cannot pack {path}: {reason}")]
    BadSource {
        /// The source path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An I/O error, with the file it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file (or `<archive>`).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub(crate) fn invalid(record: &'static str, offset: u64, reason: impl Into<String>) -> Self {
        Error::Invalid {
            record,
            offset,
            reason: reason.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
