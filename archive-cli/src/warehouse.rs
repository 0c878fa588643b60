//! Where `pack` reads a warehouse from: a local directory (walked) or an S3 prefix
//! (listed). Both give the same relative `/`-separated paths, so table detection and the
//! archive layout do not depend on where the warehouse lives.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use archive_format::table::SourceFile;
use range_reader::RangeSource;
use range_reader::local::ListedFile;
use range_reader::retry::RetryPolicy;
use range_reader::s3::{self, S3Options, S3Source};

use crate::source::Context;

/// A warehouse to pack.
#[derive(Debug)]
pub enum Warehouse {
    /// A local directory.
    Local(PathBuf),
    /// Every object under `s3://bucket/prefix`.
    S3 {
        /// The client.
        client: aws_sdk_s3::Client,
        /// Bucket.
        bucket: String,
        /// Key prefix, empty or ending in `/`.
        prefix: String,
    },
}

/// A file found in the warehouse.
#[derive(Debug, Clone)]
pub struct Found {
    /// What the packer needs (path relative to the warehouse root).
    pub file: SourceFile,
    /// Where its bytes are.
    pub origin: Origin,
}

/// Where a listed file's bytes are. A local file holds nothing but its listed path, size
/// and mtime (a warehouse can list millions); its path on disk and its reader are made
/// when asked for ([`Warehouse::source`]).
#[derive(Debug, Clone)]
pub enum Origin {
    /// A file under the local warehouse root.
    Local,
    /// An S3 object: its reader (pinned to the listed ETag), key and ETag.
    Object(Box<Object>),
}

/// An S3 object as listed.
#[derive(Debug, Clone)]
pub struct Object {
    /// Reads the object as listed.
    pub source: Arc<dyn RangeSource>,
    /// Its key.
    pub key: String,
    /// The ETag it was listed with.
    pub etag: String,
}

impl Found {
    /// A local regular file with the metadata just read.
    fn local(relative: String, meta: &std::fs::Metadata) -> Self {
        Found {
            file: SourceFile {
                path: relative,
                size: meta.len(),
                mtime: meta.mtime(),
                mode: meta.permissions().mode() & 0o7777,
                held: None,
            },
            origin: Origin::Local,
        }
    }

    /// An S3 object as listed, read pinned to its listed ETag.
    fn object(
        client: &aws_sdk_s3::Client,
        bucket: &str,
        relative: String,
        object: s3::ListedObject,
    ) -> Self {
        let source = S3Source::with_listing(
            client.clone(),
            bucket.to_owned(),
            object.key.clone(),
            object.size,
            object.etag.clone(),
            RetryPolicy::from_env(),
        );
        Found {
            file: SourceFile {
                path: relative,
                size: object.size,
                mtime: object.last_modified,
                mode: 0o644,
                held: None,
            },
            origin: Origin::Object(Box::new(Object {
                source: Arc::new(source),
                key: object.key,
                etag: object.etag,
            })),
        }
    }
}

impl Warehouse {
    /// The warehouse an argument names: `s3://bucket/prefix/` or a directory.
    pub fn open(src: &str, context: &Context) -> Result<Self> {
        if src.starts_with("s3://") {
            let Some((bucket, key)) = s3::parse_s3_url(src) else {
                bail!("{src} is not an S3 prefix; expected s3://bucket/prefix/");
            };
            let prefix = if key.is_empty() || key.ends_with('/') {
                key
            } else {
                format!("{key}/")
            };
            let client = s3::client(&S3Options {
                endpoint_url: context.endpoint_url.clone(),
            })?;
            return Ok(Warehouse::S3 {
                client,
                bucket,
                prefix,
            });
        }
        if src.contains("://") {
            bail!("{src}: pack reads a local directory or an s3://bucket/prefix/");
        }
        let path = PathBuf::from(src);
        let meta = std::fs::metadata(&path).with_context(|| format!("cannot read source {src}"))?;
        if !meta.is_dir() {
            bail!("{src} is not a directory; pack takes a warehouse, a table or any folder");
        }
        Ok(Warehouse::Local(path))
    }

    /// The warehouse's own folder name (a table packed on its own keeps it).
    pub fn folder_name(&self) -> Option<String> {
        match self {
            Warehouse::Local(path) => std::fs::canonicalize(path)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            Warehouse::S3 { prefix, bucket, .. } => prefix
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .or_else(|| Some(bucket.clone())),
        }
    }

    /// Every file, with paths relative to the warehouse root, sorted by path.
    pub fn list(&self) -> Result<Vec<Found>> {
        match self {
            Warehouse::Local(root) => {
                let mut out = Vec::new();
                walk(root, "", &mut out)?;
                Ok(out)
            }
            Warehouse::S3 {
                client,
                bucket,
                prefix,
            } => {
                let objects = s3::list_objects(client, bucket, prefix, &RetryPolicy::from_env())
                    .with_context(|| format!("cannot list s3://{bucket}/{prefix}"))?;
                let mut out = Vec::with_capacity(objects.len());
                for object in objects {
                    let Some(relative) = object.key.strip_prefix(prefix.as_str()) else {
                        continue;
                    };
                    // Folder markers written by consoles and some tools hold no data.
                    if relative.is_empty() || (relative.ends_with('/') && object.size == 0) {
                        continue;
                    }
                    let relative = relative.to_owned();
                    out.push(Found::object(client, bucket, relative, object));
                }
                if out.is_empty() {
                    bail!("no objects under s3://{bucket}/{prefix}; check the bucket and prefix");
                }
                out.sort_by(|a, b| a.file.path.cmp(&b.file.path));
                Ok(out)
            }
        }
    }

    /// A file that was not in the listing (written since), as it is now; `None` if it
    /// does not exist.
    pub fn find(&self, relative: &str) -> Result<Option<Found>> {
        match self {
            Warehouse::Local(root) => {
                let path = root.join(relative);
                let meta = match std::fs::symlink_metadata(&path) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", path.display()));
                    }
                };
                if !meta.file_type().is_file() {
                    bail!(
                        "{} is not a regular file; lakezip packs regular files only",
                        path.display()
                    );
                }
                Ok(Some(Found::local(relative.to_owned(), &meta)))
            }
            Warehouse::S3 {
                client,
                bucket,
                prefix,
            } => {
                let key = format!("{prefix}{relative}");
                let objects = s3::list_objects(client, bucket, &key, &RetryPolicy::from_env())
                    .with_context(|| format!("cannot look up s3://{bucket}/{key}"))?;
                let Some(object) = objects.into_iter().find(|o| o.key == key) else {
                    return Ok(None);
                };
                Ok(Some(Found::object(
                    client,
                    bucket,
                    relative.to_owned(),
                    object,
                )))
            }
        }
    }

    /// Where a listed local file is on disk. `prefix` is what the caller put in front of
    /// the listed paths (a source that is itself a table keeps its folder name).
    pub fn local_path(&self, path: &str, prefix: &str) -> PathBuf {
        let relative = path.strip_prefix(prefix).unwrap_or(path);
        match self {
            Warehouse::Local(root) => root.join(relative),
            Warehouse::S3 { .. } => PathBuf::from(relative),
        }
    }

    /// A listed file's bytes, pinned to the listed size and mtime (or ETag).
    pub fn source(&self, found: &Found, prefix: &str) -> Arc<dyn RangeSource> {
        match &found.origin {
            Origin::Object(object) => Arc::clone(&object.source),
            Origin::Local => Arc::new(ListedFile::new(
                self.local_path(&found.file.path, prefix),
                found.file.size,
                found.file.mtime,
            )),
        }
    }

    /// The whole content of a (small) listed file.
    pub fn read(&self, found: &Found, prefix: &str) -> range_reader::Result<Vec<u8>> {
        if found.file.size == 0 {
            return Ok(Vec::new());
        }
        self.source(found, prefix).read_range(0..found.file.size)
    }

    /// The CRC-32 the store keeps for the object, if any (S3 only; one HEAD request).
    pub fn stored_crc32(&self, found: &Found) -> Result<Option<u32>> {
        match (&found.origin, self) {
            (Origin::Object(object), Warehouse::S3 { client, bucket, .. }) => Ok(s3::stored_crc32(
                client,
                bucket,
                &object.key,
                &object.etag,
                &RetryPolicy::from_env(),
            )?),
            _ => Ok(None),
        }
    }
}

impl std::fmt::Display for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warehouse::Local(path) => write!(f, "{}", path.display()),
            Warehouse::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Lists regular files under `dir` (relative names with `/`). Symlinks and special files
/// are refused: a backup that silently skips them would lose data.
fn walk(dir: &Path, relative: &str, out: &mut Vec<Found>) -> Result<()> {
    let mut names: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            bail!(
                "{}: file name is not valid UTF-8; zip names must be UTF-8",
                path.display()
            );
        };
        let child = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(&path, &child, out)?;
        } else if kind.is_file() {
            out.push(Found::local(child, &meta));
        } else if kind.is_symlink() {
            bail!(
                "{} is a symbolic link; lakezip packs regular files only (copy the link's target instead)",
                path.display()
            );
        } else {
            bail!(
                "{} is not a regular file (device, socket or pipe); lakezip packs regular files only",
                path.display()
            );
        }
    }
    Ok(())
}
