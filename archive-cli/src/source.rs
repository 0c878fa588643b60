//! Turning an ARCHIVE argument into a byte source.

use anyhow::{bail, Result};
use range_reader::counting::Counting;
use range_reader::local::LocalFile;

/// Opens the archive an argument names, wrapped in a request counter.
pub fn open(archive: &str) -> Result<Counting<LocalFile>> {
    if let Some((scheme, _)) = archive.split_once("://")
        && matches!(scheme, "s3" | "http" | "https")
    {
        bail!("{archive}: {scheme}:// archives are not supported by this version yet; copy the archive locally first");
    }
    Ok(Counting::new(LocalFile::open(archive)?))
}
