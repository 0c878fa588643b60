//! Chains on disk or remote: reading a chain manifest, resolving archive locations
//! relative to it, reading an archive's embedded manifest, and writing a chain atomically.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::chain::Chain;
use archive_format::manifest::{FileRecord, Manifest};
use range_reader::RangeSource;
use range_reader::archive::{TableView, open_tables, read_manifest};
use sha2::{Digest, Sha256};

use crate::source::{self, Context};

/// True if ARG names a chain manifest rather than an archive.
pub fn is_chain(arg: &str) -> bool {
    arg.ends_with(".json")
}

/// A chain manifest and where it lives.
#[derive(Debug)]
pub struct LoadedChain {
    /// The chain's own argument (path or URL).
    pub location: String,
    /// Its content.
    pub chain: Chain,
}

impl LoadedChain {
    /// Reads a chain from a local path, `s3://` or `http(s)://`.
    pub fn load(location: &str, context: &Context) -> Result<Self> {
        let source = source::open(location, context)?;
        let len = source.len()?;
        let bytes = source.read_range(0..len)?;
        let chain =
            Chain::parse(&bytes).with_context(|| format!("cannot read chain {location}"))?;
        Ok(LoadedChain {
            location: location.to_owned(),
            chain,
        })
    }

    /// Where an archive of the chain is: its location joined to the chain's folder.
    pub fn archive_location(&self, relative: &str) -> String {
        match self.location.rfind('/') {
            Some(slash) => format!("{}/{relative}", &self.location[..slash]),
            None => relative.to_owned(),
        }
    }
}

/// Reads the embedded manifest of an archive (the tail, the index, the manifest).
pub fn archive_manifest(location: &str, context: &Context) -> Result<Manifest> {
    let source = source::open(location, context)?;
    manifest_of(&source)
}

/// The embedded manifest of an open archive.
pub fn manifest_of(source: &dyn RangeSource) -> Result<Manifest> {
    match open_tables(source)? {
        TableView::Indexed(_, index) => Ok(read_manifest(source, &index)?),
        TableView::Directory(_) => bail!(
            "{} is not a lakezip archive (no embedded manifest)",
            source.name()
        ),
    }
}

/// The state an archive describes: every file with the id of the archive holding it.
pub fn state_files(manifest: &Manifest) -> HashMap<String, (FileRecord, String)> {
    manifest
        .tables
        .iter()
        .flat_map(|t| &t.entries)
        .map(|f| {
            let holder = f
                .archive
                .clone()
                .unwrap_or_else(|| manifest.archive_id.clone());
            (f.path.clone(), (f.clone(), holder))
        })
        .collect()
}

/// SHA-256 of a local file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a local chain file atomically (temporary file in the same folder, then rename).
pub fn write_local_chain(path: &Path, chain: &Chain) -> Result<()> {
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".lakezip-chain-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, &chain.to_json())?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot update the chain {}", path.display()))?;
    Ok(())
}

/// The folder holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `archive` relative to the chain's folder; it must lie inside that folder.
pub fn relative_location(chain: &Path, archive: &Path) -> Result<String> {
    let chain_dir = std::fs::canonicalize(parent_dir(chain))
        .with_context(|| format!("cannot find the folder of {}", chain.display()))?;
    let archive_dir = std::fs::canonicalize(parent_dir(archive))
        .with_context(|| format!("cannot find the folder of {}", archive.display()))?;
    let Some(name) = archive.file_name() else {
        bail!("{} is not a file name", archive.display());
    };
    let Ok(relative_dir) = archive_dir.strip_prefix(&chain_dir) else {
        bail!(
            "{} must be in the chain's folder {} (or below it): chains locate archives relative to themselves",
            archive.display(),
            chain_dir.display()
        );
    };
    let location = relative_dir.join(name);
    location
        .to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8", location.display()))
}
