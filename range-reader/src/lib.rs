//! Byte sources for lakezip archives and the operations built on them.
//!
//! - [`RangeSource`]: the read contract (`len`, `read_range`, `read_suffix`,
//!   `read_ranges` with coalescing), implemented by [`local::LocalFile`] (pread) and
//!   [`memory::Memory`] (tests); [`counting::Counting`] wraps any source and records
//!   requests and bytes for `--stats` and request-budget tests.
//! - [`archive`]: drives the sans-io reader core of `archive-format` over a source:
//!   open the directory or the table index, stream and verify members, extract safely.
//! - [`prefetch`]: reads many files ahead of a consumer, in parallel and in order (the
//!   packer's input).
//! - [`partial`]: the temporary files written before a rename into place, removed if the
//!   process is interrupted.
//! - [`upload`]: streams an archive to S3 as a resumable, verified multipart upload, and
//!   the small object helpers chain manifests use.
#![forbid(unsafe_code)]

pub mod archive;
pub mod coalesce;
pub mod counting;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod http;
pub mod local;
pub mod memory;
pub mod partial;
pub mod prefetch;
pub mod remote;
pub mod restore;
pub mod retry;
pub mod runtime;
pub mod s3;
pub mod source;
pub mod upload;

pub use error::{Error, Result};
pub use source::RangeSource;
