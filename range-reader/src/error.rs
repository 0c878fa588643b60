//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from reading sources and extracting archives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The archive's bytes break the format.
    #[error("{source_name}: {error}")]
    Format {
        /// The archive (path or URL).
        source_name: String,
        /// What is wrong.
        #[source]
        error: archive_format::Error,
    },
    /// Reading the source failed.
    #[error("{source_name}: {error}")]
    Read {
        /// The archive (path or URL).
        source_name: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// A read asked for bytes past the end of the source.
    #[error("{source_name}: range {start}..{end} is past the end ({len} bytes)")]
    OutOfRange {
        /// The archive.
        source_name: String,
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// Source length.
        len: u64,
    },
    /// A remote source answered with an error or broke the read contract.
    #[error("{source_name}: {message}")]
    Remote {
        /// The URL (without query string) or `s3://bucket/key`.
        source_name: String,
        /// What happened.
        message: String,
    },
    /// The object changed between reads (ETag or Last-Modified differ from the first
    /// reply): reading on would mix two versions.
    #[error(
        "{source_name}: the object changed while it was being read ({detail}); rerun to read the new version"
    )]
    Changed {
        /// The URL or `s3://bucket/key`.
        source_name: String,
        /// Old and new validator.
        detail: String,
    },
    /// Transient failures outlasted the retry policy.
    #[error("{source_name}: giving up after {attempts} attempts: {last}")]
    GaveUp {
        /// The URL or `s3://bucket/key`.
        source_name: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Writing an extracted file failed.
    #[error("{path}: {error}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// A file to extract exists already.
    #[error("{path} already exists; pass --force to overwrite it")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// An entry would be written outside the target directory or through a symlink.
    #[error("refusing to extract {name:?}: {reason}")]
    Refused {
        /// Entry name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A table or member the caller asked for is not in the archive.
    #[error("{source_name}: no {what} {name:?} in the archive{hint}")]
    NotFound {
        /// The archive.
        source_name: String,
        /// "table" or "member".
        what: &'static str,
        /// What was asked for.
        name: String,
        /// A hint, e.g. the tables that exist.
        hint: String,
    },
    /// A conditional write was refused (HTTP 412): another writer created or changed the
    /// object since the caller last saw it.
    #[error("{target}: {detail}")]
    Precondition {
        /// `s3://bucket/key`.
        target: String,
        /// Which condition failed.
        detail: String,
    },
    /// The multipart upload to resume or complete no longer exists: it was completed,
    /// aborted, or expired by a lifecycle rule. Start a new upload.
    #[error(
        "{target}: multipart upload {upload_id} no longer exists (completed, aborted or expired); start a new upload"
    )]
    UploadGone {
        /// `s3://bucket/key`.
        target: String,
        /// The upload id.
        upload_id: String,
    },
    /// A resumed upload was fed bytes that differ from the part stored by the interrupted
    /// run: the source changed, so the stored parts cannot be reused.
    #[error(
        "{target}: part {part} differs from the interrupted run ({detail}): the source changed; abort the upload and start again"
    )]
    ResumeMismatch {
        /// `s3://bucket/key`.
        target: String,
        /// Part number (1-based).
        part: i32,
        /// Recorded and regenerated size and CRC-32.
        detail: String,
    },
    /// An object would exceed what S3 stores in one object.
    #[error("an object of {size} bytes is larger than S3 allows ({limit} bytes)")]
    TooLarge {
        /// The size asked for.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An upload was refused or could not be verified for a reason not covered above.
    #[error("{target}: {message}")]
    Upload {
        /// `s3://bucket/key`.
        target: String,
        /// What happened.
        message: String,
    },
}

impl Error {
    /// Wraps a format error with the source it came from.
    pub fn format(source_name: impl Into<String>, error: archive_format::Error) -> Self {
        Error::Format {
            source_name: source_name.into(),
            error,
        }
    }
}
