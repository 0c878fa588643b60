//! The archive's own metadata: the embedded manifest, the table index, and the pointer to
//! the index that the archive comment carries.
//!
//! - `.lakezip/manifest.json` ([`Manifest`]) describes the archive completely: id, kind,
//!   base, created time, source, and per table its format, snapshot, byte ranges and
//!   every file with size and CRC-32.
//! - `.lakezip/index.json` ([`TableIndex`]) is the small part a remote reader needs to
//!   find one table: per table its data range and its slice of the central directory.
//! - The archive comment (`lakezip/1 index=OFFSET+LENGTH crc32=XXXXXXXX`,
//!   [`IndexPointer`]) says where the index's bytes are, so a reader holding only the last
//!   64 KiB of the file can find it.

use serde::{Deserialize, Serialize};

pub mod chain;

use crate::read::EndRecords;
use crate::{Error, Result};

/// Folder of the archive's own members.
pub const METADATA_DIR: &str = ".lakezip/";
/// Name of the manifest member.
pub const MANIFEST_NAME: &str = ".lakezip/manifest.json";
/// Name of the table index member.
pub const INDEX_NAME: &str = ".lakezip/index.json";
/// Version of the manifest and index schemas this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Where the table index's bytes are, as written in the archive comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPointer {
    /// Absolute offset of the index member's data.
    pub offset: u64,
    /// Length of the index member's data.
    pub length: u64,
    /// CRC-32 of the index member's data.
    pub crc32: u32,
}

impl IndexPointer {
    /// The comment text for this pointer.
    pub fn to_comment(&self) -> String {
        format!(
            "lakezip/{FORMAT_VERSION} index={}+{} crc32={:08x}",
            self.offset, self.length, self.crc32
        )
    }

    /// Reads a pointer from an archive comment; `None` for any other comment.
    pub fn from_comment(comment: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(comment).ok()?;
        let rest = text.strip_prefix(&format!("lakezip/{FORMAT_VERSION} index="))?;
        let (range, crc) = rest.split_once(" crc32=")?;
        let (offset, length) = range.split_once('+')?;
        if crc.len() != 8 {
            return None;
        }
        Some(IndexPointer {
            offset: offset.parse().ok()?,
            length: length.parse().ok()?,
            crc32: u32::from_str_radix(crc, 16).ok()?,
        })
    }
}

/// A table's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Apache Iceberg (`metadata/*.metadata.json`).
    Iceberg,
    /// Delta Lake (`_delta_log/`).
    Delta,
    /// Files outside any table.
    Files,
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableFormat::Iceberg => "iceberg",
            TableFormat::Delta => "delta",
            TableFormat::Files => "files",
        })
    }
}

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveKind {
    /// Holds every file of its state.
    Full,
    /// Holds only what changed since its base.
    Incremental,
}

/// A half-open byte range `[start, end)`, serialised as a two-element array.
pub type ByteRange = [u64; 2];

/// A member located by offset, length and CRC-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    /// Absolute offset of the member's data.
    pub offset: u64,
    /// Length of the data.
    pub length: u64,
    /// CRC-32 of the data, 8 lowercase hex digits.
    #[serde(with = "crc_hex")]
    pub crc32: u32,
}

/// What the index and the manifest say about one table. `files`, `bytes` and the ranges
/// describe the members *this archive holds*; in an incremental archive the manifest's
/// `entries` also list the files of the state that other archives hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Table path inside the archive (`.` for loose files at the root).
    pub path: String,
    /// Table format.
    pub format: TableFormat,
    /// Iceberg current snapshot id or Delta version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Number of members.
    pub files: u64,
    /// Sum of member sizes.
    pub bytes: u64,
    /// Files in the table's folder that its state does not reference, left out of the
    /// archive (orphans of failed or in-flight commits, expired snapshots, vacuumed…).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub orphans: u64,
    /// Their total size.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub orphan_bytes: u64,
    /// Bytes of the table's local headers and data, absolute.
    pub data_range: ByteRange,
    /// The table's central directory headers, relative to the central directory's start.
    pub central_directory_range: ByteRange,
}

/// The table index (`.lakezip/index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableIndex {
    /// Schema version ([`FORMAT_VERSION`]).
    pub lakezip_index: u32,
    /// Id of the archive (same as the manifest's).
    pub archive_id: String,
    /// Where the manifest is.
    pub manifest: MemberRef,
    /// The tables, in archive order.
    pub tables: Vec<TableSummary>,
}

impl TableIndex {
    /// Parses and checks the index bytes that `pointer` located.
    pub fn parse(bytes: &[u8], pointer: &IndexPointer, end: &EndRecords) -> Result<Self> {
        let actual = crc32fast::hash(bytes);
        if actual != pointer.crc32 {
            return Err(Error::Manifest {
                reason: format!(
                    "table index crc-32 is {actual:08x} but the archive comment says {:08x}",
                    pointer.crc32
                ),
            });
        }
        let index: TableIndex = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            reason: format!("table index is not valid: {e}"),
        })?;
        if index.lakezip_index != FORMAT_VERSION {
            return Err(Error::Manifest {
                reason: format!(
                    "table index version {} is not supported (this lakezip reads version {FORMAT_VERSION})",
                    index.lakezip_index
                ),
            });
        }
        let cd = end.central_directory_size;
        let area = end.central_directory_offset;
        let bad_range = |r: &ByteRange, limit: u64| r[0] > r[1] || r[1] > limit;
        for table in &index.tables {
            if bad_range(&table.data_range, area) || bad_range(&table.central_directory_range, cd) {
                return Err(Error::Manifest {
                    reason: format!("table {:?} has byte ranges outside the archive", table.path),
                });
            }
        }
        if index
            .manifest
            .offset
            .checked_add(index.manifest.length)
            .is_none_or(|e| e > area)
        {
            return Err(Error::Manifest {
                reason: "manifest location lies outside the archive".to_owned(),
            });
        }
        Ok(index)
    }
}

/// One file as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Member name.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC-32, 8 lowercase hex digits.
    #[serde(with = "crc_hex")]
    pub crc32: u32,
    /// Modification time of the source file, Unix seconds (used to detect changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    /// Id of the archive holding the bytes, when not this one (incrementals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
}

/// One table in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Summary, the same as in the index.
    #[serde(flatten)]
    pub summary: TableSummary,
    /// Every file of the table's state, in archive order.
    pub entries: Vec<FileRecord>,
}

/// The embedded manifest (`.lakezip/manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version ([`FORMAT_VERSION`]).
    pub lakezip_manifest: u32,
    /// Archive id (a UUID; derived from the content in deterministic mode).
    pub archive_id: String,
    /// Full or incremental.
    pub kind: ArchiveKind,
    /// Base archive id of an incremental.
    #[serde(default)]
    pub base_archive_id: Option<String>,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// The source as given to `pack`.
    pub source: String,
    /// Program that wrote the archive.
    pub tool: String,
    /// The tables, in archive order.
    pub tables: Vec<TableManifest>,
}

impl Manifest {
    /// Parses and checks manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            reason: format!("manifest is not valid: {e}"),
        })?;
        if manifest.lakezip_manifest != FORMAT_VERSION {
            return Err(Error::Manifest {
                reason: format!(
                    "manifest version {} is not supported (this lakezip reads version {FORMAT_VERSION})",
                    manifest.lakezip_manifest
                ),
            });
        }
        Ok(manifest)
    }
}

/// Checks that a manifest and index agree with each other and with the central
/// directory they came with: same archive id and tables, every table's members exactly
/// the manifest's files (name, size, CRC-32, order), inside the table's byte ranges, and
/// no member outside a table except the archive's own metadata.
pub fn check_consistency(
    manifest: &Manifest,
    index: &TableIndex,
    directory: &crate::read::Directory,
) -> Result<()> {
    let fail = |reason: String| Err(Error::Manifest { reason });
    if manifest.archive_id != index.archive_id {
        return fail(format!(
            "manifest archive id {} differs from the index's {}",
            manifest.archive_id, index.archive_id
        ));
    }
    let summaries: Vec<&TableSummary> = manifest.tables.iter().map(|t| &t.summary).collect();
    if summaries.len() != index.tables.len()
        || summaries.iter().zip(&index.tables).any(|(a, b)| *a != b)
    {
        return fail("manifest and table index list different tables".into());
    }
    match directory.get(MANIFEST_NAME) {
        Some(entry)
            if entry.uncompressed_size == index.manifest.length
                && entry.crc32 == index.manifest.crc32 => {}
        _ => return fail("the index does not describe the manifest member".into()),
    }
    let cd_start = directory.end().central_directory_offset;
    let mut entries = directory.entries().iter().peekable();
    for table in &manifest.tables {
        let s = &table.summary;
        let held: Vec<&FileRecord> = table
            .entries
            .iter()
            .filter(|f| f.archive.is_none())
            .collect();
        if s.files != held.len() as u64 || s.bytes != held.iter().map(|f| f.size).sum::<u64>() {
            return fail(format!(
                "table {:?}: file count or byte total disagrees with its file list",
                s.path
            ));
        }
        for (i, file) in held.iter().enumerate() {
            let Some(entry) = entries.next() else {
                return fail(format!(
                    "table {:?}: member {:?} is missing",
                    s.path, file.path
                ));
            };
            let relative = entry.central_offset - cd_start;
            if entry.name != file.path
                || entry.uncompressed_size != file.size
                || entry.crc32 != file.crc32
            {
                return fail(format!(
                    "table {:?}: member {:?} does not match the manifest's {:?}",
                    s.path, entry.name, file.path
                ));
            }
            let in_data = (s.data_range[0]..s.data_range[1]).contains(&entry.local_header_offset);
            let in_cd =
                (s.central_directory_range[0]..s.central_directory_range[1]).contains(&relative);
            if !in_data
                || !in_cd
                || (i == 0
                    && (entry.local_header_offset != s.data_range[0]
                        || relative != s.central_directory_range[0]))
            {
                return fail(format!(
                    "table {:?}: member {:?} lies outside the table's byte ranges",
                    s.path, entry.name
                ));
            }
            if i + 1 == held.len() && relative + entry.central_len != s.central_directory_range[1] {
                return fail(format!(
                    "table {:?}: central directory range does not end at its last member",
                    s.path
                ));
            }
        }
    }
    for entry in entries {
        if !entry.name.starts_with(METADATA_DIR) {
            return fail(format!(
                "member {:?} belongs to no table in the manifest",
                entry.name
            ));
        }
    }
    Ok(())
}

mod crc_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(crc: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{crc:08x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 8 {
            return Err(serde::de::Error::custom("crc32 must be 8 hex digits"));
        }
        u32::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

/// For `skip_serializing_if`.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_round_trip() {
        let p = IndexPointer {
            offset: 123_456_789_012,
            length: 345,
            crc32: 0xdead_beef,
        };
        assert_eq!(
            IndexPointer::from_comment(p.to_comment().as_bytes()),
            Some(p)
        );
        assert_eq!(IndexPointer::from_comment(b"made by zip"), None);
        assert_eq!(
            IndexPointer::from_comment(b"lakezip/1 index=1+2 crc32=zz"),
            None
        );
    }
}
