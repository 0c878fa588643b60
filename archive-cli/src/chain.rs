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

/// Writes a local chain file atomically (temporary file in the same folder, then rename),
/// with mode 0666 minus the umask like the archives it lists (a web server serving the
/// chain must be able to read it).
pub fn write_local_chain(path: &Path, chain: &Chain) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent_dir(path);
    let mut temp =
        range_reader::partial::create_in(&dir, Some(std::fs::Permissions::from_mode(0o666)))
            .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, &chain.to_json())?;
    temp.as_file().sync_all()?;
    range_reader::partial::persist(temp.into_temp_path(), path, true)
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

/// A chain manifest that `pack --chain` reads and then updates: a local file or an S3
/// object. Updates are compare-and-swap: a chain changed by another writer since it was
/// read is never overwritten.
#[derive(Debug, Clone)]
pub enum ChainFile {
    /// A local path.
    Local(PathBuf),
    /// `s3://bucket/key`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

/// The version of a chain as read: its bytes (local) or ETag (S3); `None` if it did not
/// exist yet.
#[derive(Debug, Clone)]
pub enum ChainVersion {
    /// Local content.
    Bytes(Option<Vec<u8>>),
    /// S3 ETag.
    ETag(Option<String>),
}

impl ChainFile {
    /// The chain a `--chain` argument names.
    pub fn parse(arg: &str) -> Result<Self> {
        if arg.starts_with("s3://") {
            match range_reader::s3::parse_s3_url(arg) {
                Some((bucket, key)) if !key.is_empty() && !key.ends_with('/') => {
                    Ok(ChainFile::S3 { bucket, key })
                }
                _ => bail!("{arg} is not an S3 object URL; expected s3://bucket/key.json"),
            }
        } else if arg.contains("://") {
            bail!("{arg}: pack --chain takes a local path or s3://bucket/key.json")
        } else {
            Ok(ChainFile::Local(PathBuf::from(arg)))
        }
    }

    /// Reads the chain (an empty one if it does not exist yet) and its version.
    pub fn load(&self, context: &Context) -> Result<(LoadedChain, ChainVersion)> {
        let (bytes, version) = match self {
            ChainFile::Local(path) => match std::fs::read(path) {
                Ok(bytes) => (Some(bytes.clone()), ChainVersion::Bytes(Some(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (None, ChainVersion::Bytes(None))
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read chain {}", path.display()));
                }
            },
            ChainFile::S3 { bucket, key } => {
                let client = crate::dest::client(context)?;
                match range_reader::upload::get_object(
                    &client,
                    bucket,
                    key,
                    &range_reader::retry::RetryPolicy::from_env(),
                )? {
                    Some((bytes, etag)) => (Some(bytes), ChainVersion::ETag(Some(etag))),
                    None => (None, ChainVersion::ETag(None)),
                }
            }
        };
        let chain = match bytes {
            Some(bytes) => {
                Chain::parse(&bytes).with_context(|| format!("cannot read chain {self}"))?
            }
            None => Chain::default(),
        };
        Ok((
            LoadedChain {
                location: self.to_string(),
                chain,
            },
            version,
        ))
    }

    /// Where the chain records `dest`: relative to the chain's folder, which must hold it.
    pub fn relative_location(&self, dest: &crate::dest::Dest) -> Result<String> {
        use crate::dest::Dest;
        match (self, dest) {
            (ChainFile::Local(chain), Dest::Local(archive)) => relative_location(chain, archive),
            (ChainFile::S3 { bucket, key }, Dest::S3 { bucket: b, key: k }) if bucket == b => {
                let folder = key.rfind('/').map(|i| &key[..=i]).unwrap_or("");
                match k.strip_prefix(folder) {
                    Some(rest) if !rest.is_empty() => Ok(rest.to_owned()),
                    _ => bail!(
                        "{dest} must be under the chain's folder s3://{bucket}/{folder}: chains locate archives relative to themselves"
                    ),
                }
            }
            _ => bail!(
                "{dest} must be next to the chain {self} (same store, in the chain's folder or below it)"
            ),
        }
    }

    /// Writes `chain` if the stored chain is still `version`; otherwise fails without
    /// writing (another writer got there first).
    pub fn save(&self, chain: &Chain, version: &ChainVersion, context: &Context) -> Result<()> {
        let lost = || {
            anyhow::anyhow!(
                "another writer updated the chain {self} while this pack ran; the chain was not changed"
            )
        };
        match (self, version) {
            (ChainFile::Local(path), ChainVersion::Bytes(read)) => {
                // Hold a lock on the chain's folder while comparing and replacing, so two
                // writers on this machine cannot interleave between the two.
                let dir = parent_dir(path);
                let lock = std::fs::File::open(&dir)
                    .with_context(|| format!("cannot open {}", dir.display()))?;
                lock.lock()
                    .with_context(|| format!("cannot lock {}", dir.display()))?;
                let now = match std::fs::read(path) {
                    Ok(bytes) => Some(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", path.display()));
                    }
                };
                if now != *read {
                    return Err(lost());
                }
                write_local_chain(path, chain)
            }
            (ChainFile::S3 { bucket, key }, ChainVersion::ETag(etag)) => {
                let client = crate::dest::client(context)?;
                let condition = match etag {
                    Some(etag) => range_reader::upload::PutCondition::IfMatch(etag.clone()),
                    None => range_reader::upload::PutCondition::IfNoneMatch,
                };
                match range_reader::upload::put_object(
                    &client,
                    bucket,
                    key,
                    chain.to_json(),
                    condition,
                    &range_reader::retry::RetryPolicy::from_env(),
                ) {
                    Ok(_) => Ok(()),
                    Err(range_reader::Error::Precondition { .. }) => Err(lost()),
                    Err(e) => Err(e).with_context(|| format!("cannot update the chain {self}")),
                }
            }
            _ => bail!("internal: chain version of another kind"),
        }
    }
}

impl std::fmt::Display for ChainFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFile::Local(path) => write!(f, "{}", path.display()),
            ChainFile::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}
