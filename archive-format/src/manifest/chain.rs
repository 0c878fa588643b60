//! The chain manifest: a JSON file beside the archives listing them in order, so any
//! point can be restored and the links checked.
//!
//! ```json
//! {
//!   "lakezip_chain": 1,
//!   "archives": [
//!     {"id": "…", "kind": "full", "base": null, "location": "wh-20261121.zip",
//!      "size": 2236703, "sha256": "…", "created": "2026-11-21T23:37:38Z",
//!      "tables": [{"path": "default.db/orders", "format": "iceberg", "snapshot": "…",
//!                  "files": 40, "bytes": 790904}]}
//!   ]
//! }
//! ```
//!
//! `location` is relative to the chain file's folder (or prefix, for `s3://` and
//! `http(s)://` chains). `tables` summarises the *state* at that point: every file of each
//! table, wherever its bytes are.

use serde::{Deserialize, Serialize};

use super::{ArchiveKind, FORMAT_VERSION, Manifest, TableFormat};
use crate::{Error, Result};

/// A table at one point of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTable {
    /// Table path.
    pub path: String,
    /// Format.
    pub format: TableFormat,
    /// Snapshot id or version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Files in the state.
    pub files: u64,
    /// Bytes in the state.
    pub bytes: u64,
}

/// One archive of the chain: one restorable point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// Archive id (as in its embedded manifest).
    pub id: String,
    /// Full or incremental.
    pub kind: ArchiveKind,
    /// Base archive id of an incremental.
    #[serde(default)]
    pub base: Option<String>,
    /// Where the archive is, relative to the chain file.
    pub location: String,
    /// Archive size in bytes.
    pub size: u64,
    /// SHA-256 of the archive, lowercase hex.
    pub sha256: String,
    /// For an archive stored in S3: what the store reported after the upload and lakezip
    /// checked against the bytes it sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredObject>,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The state's tables.
    pub tables: Vec<ChainTable>,
}

/// How an object store holds an archive, as checked right after the upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    /// The object's ETag (for a multipart upload, `md5-of-part-md5s-N`).
    pub etag: String,
    /// Parts of the multipart upload (0: one PUT).
    pub parts: u32,
    /// The part size of a multipart upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    /// The store's CRC-32 checksum (base64; composite `…-N` for multipart), if it keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_crc32: Option<String>,
}

/// The chain manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// Schema version ([`FORMAT_VERSION`]).
    pub lakezip_chain: u32,
    /// Archives, oldest first.
    pub archives: Vec<ChainEntry>,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            lakezip_chain: FORMAT_VERSION,
            archives: Vec::new(),
        }
    }
}

impl Chain {
    /// Parses and checks a chain manifest: known version, unique ids, every base an
    /// earlier archive of the chain (or absent when it was pruned), locations relative.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let chain: Chain = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            reason: format!("chain manifest is not valid: {e}"),
        })?;
        if chain.lakezip_chain != FORMAT_VERSION {
            return Err(Error::Manifest {
                reason: format!(
                    "chain manifest version {} is not supported (this lakezip reads version {FORMAT_VERSION})",
                    chain.lakezip_chain
                ),
            });
        }
        for (i, entry) in chain.archives.iter().enumerate() {
            if chain.archives[..i].iter().any(|e| e.id == entry.id) {
                return Err(Error::Manifest {
                    reason: format!("chain lists archive {} twice", entry.id),
                });
            }
            if entry.location.is_empty()
                || entry.location.contains("..")
                || entry.location.starts_with('/')
            {
                return Err(Error::Manifest {
                    reason: format!(
                        "chain location {:?} of archive {} must be a relative path inside the chain's folder",
                        entry.location, entry.id
                    ),
                });
            }
            match (&entry.kind, &entry.base) {
                (ArchiveKind::Incremental, None) => {
                    return Err(Error::Manifest {
                        reason: format!("incremental archive {} has no base", entry.id),
                    });
                }
                (ArchiveKind::Full, Some(_)) => {
                    return Err(Error::Manifest {
                        reason: format!("full archive {} names a base", entry.id),
                    });
                }
                (_, Some(base)) if chain.archives[i..].iter().any(|e| &e.id == base) => {
                    return Err(Error::Manifest {
                        reason: format!(
                            "archive {} names a later archive {base} as its base",
                            entry.id
                        ),
                    });
                }
                _ => {}
            }
        }
        Ok(chain)
    }

    /// Serialises the chain (pretty JSON, newline-terminated).
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        text.push(b'\n');
        text
    }

    /// The newest archive.
    pub fn head(&self) -> Option<&ChainEntry> {
        self.archives.last()
    }

    /// The archive with this id.
    pub fn get(&self, id: &str) -> Option<&ChainEntry> {
        self.archives.iter().find(|e| e.id == id)
    }

    /// Finds a point by full id or unique prefix (at least 4 characters).
    pub fn find(&self, id_or_prefix: &str) -> Result<&ChainEntry> {
        if let Some(exact) = self.get(id_or_prefix) {
            return Ok(exact);
        }
        let matches: Vec<&ChainEntry> = if id_or_prefix.len() >= 4 {
            self.archives
                .iter()
                .filter(|e| e.id.starts_with(id_or_prefix))
                .collect()
        } else {
            Vec::new()
        };
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::Manifest {
                reason: format!(
                    "no archive {id_or_prefix:?} in the chain (see `lakezip ls CHAIN`)"
                ),
            }),
            _ => Err(Error::Manifest {
                reason: format!("{id_or_prefix:?} matches several archives; give more of the id"),
            }),
        }
    }

    /// The entry for a newly written archive, from its manifest.
    pub fn entry_for(
        manifest: &Manifest,
        location: String,
        size: u64,
        sha256: String,
    ) -> ChainEntry {
        ChainEntry {
            id: manifest.archive_id.clone(),
            kind: manifest.kind,
            base: manifest.base_archive_id.clone(),
            location,
            size,
            sha256,
            stored: None,
            created: manifest.created.clone(),
            tables: manifest
                .tables
                .iter()
                .map(|t| ChainTable {
                    path: t.summary.path.clone(),
                    format: t.summary.format,
                    snapshot: t.summary.snapshot.clone(),
                    files: t.entries.len() as u64,
                    bytes: t.entries.iter().map(|f| f.size).sum(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, kind: ArchiveKind, base: Option<&str>) -> ChainEntry {
        ChainEntry {
            id: id.into(),
            kind,
            base: base.map(Into::into),
            location: format!("{id}.zip"),
            size: 1,
            sha256: "00".into(),
            stored: None,
            created: "2026-01-01T00:00:00Z".into(),
            tables: vec![],
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let chain = Chain {
            lakezip_chain: 1,
            archives: vec![
                entry("aaaa1", ArchiveKind::Full, None),
                entry("bbbb2", ArchiveKind::Incremental, Some("aaaa1")),
            ],
        };
        let parsed = Chain::parse(&chain.to_json()).unwrap();
        assert_eq!(parsed, chain);
        assert_eq!(parsed.find("bbbb").unwrap().id, "bbbb2");
        assert!(parsed.find("cccc").is_err());
        let mut bad = chain.clone();
        bad.archives[1].base = None;
        assert!(Chain::parse(&bad.to_json()).is_err());
        let mut escaping = chain.clone();
        escaping.archives[0].location = "../x.zip".into();
        assert!(Chain::parse(&escaping.to_json()).is_err());
        let mut forward = chain;
        forward.archives[0].kind = ArchiveKind::Incremental;
        forward.archives[0].base = Some("bbbb2".into());
        assert!(Chain::parse(&forward.to_json()).is_err());
    }
}
