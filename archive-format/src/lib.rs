//! The lakezip archive format.
//!
//! A lakezip archive is a store-mode ZIP (PKWARE APPNOTE 6.3.x) with ZIP64 records where
//! sizes, offsets or counts need them, whose members are grouped per table and which
//! carries its own manifest and table index under `.lakezip/`. See `docs/FORMAT.md` for
//! the byte-level design.
//!
//! This crate holds the format and nothing that talks to a network:
//!
//! - [`spec`]: one module per ZIP record (parse and encode).
//! - [`read`]: the sans-io reader core. It *asks* for byte ranges and never does I/O, so
//!   the same code drives local files, HTTP and S3 (see the `range-reader` crate).
//! - [`write`]: the streaming writer and the table-grouping packer.
//! - [`manifest`]: the embedded manifest and table index.
//! - [`table`]: table detection (Iceberg, Delta, plain files) and member ordering.
#![forbid(unsafe_code)]

pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod manifest;
pub mod name;
pub mod read;
pub mod spec;
pub mod table;
pub mod write;

pub use error::{Error, Result};
