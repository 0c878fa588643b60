//! The packer: writes tables as contiguous groups, then the manifest and table index, then
//! the central directory, and points the archive comment at the index.

use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{ArchiveOutput, MemberMeta, ZipWriter};
use crate::manifest::{
    ArchiveKind, FORMAT_VERSION, FileRecord, INDEX_NAME, IndexPointer, MANIFEST_NAME, Manifest,
    MemberRef, TableIndex, TableManifest, TableSummary,
};
use crate::spec::time;
use crate::table::{SourceFile, TablePlan};
use crate::{Error, Result};
use std::io::{self, Write};

/// Options of one pack.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// The source as the user named it (recorded in the manifest).
    pub source: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Deterministic mode (`SOURCE_DATE_EPOCH`): the archive id is derived from the
    /// content and member times newer than `created` are clamped to it, so the same input
    /// gives a byte-identical archive.
    pub deterministic: bool,
    /// Program name and version recorded in the manifest.
    pub tool: String,
    /// Full, or incremental (files with [`crate::table::Held`] set are not written).
    pub kind: ArchiveKind,
    /// The archive an incremental is based on.
    pub base_archive_id: Option<String>,
    /// Use this archive id instead of a new one (a resumed upload must write the same
    /// bytes as the interrupted run).
    pub archive_id: Option<String>,
}

/// An opened source file.
pub struct Opened {
    /// Its bytes.
    pub reader: Box<dyn Read>,
    /// The path (or URL) to name in errors.
    pub path: PathBuf,
    /// Its CRC-32 if known before reading (a checksum pass, or the store's checksum).
    pub crc32: Option<u32>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("path", &self.path)
            .field("crc32", &self.crc32)
            .finish_non_exhaustive()
    }
}

/// Opens a source file.
pub type OpenSource<'a> = dyn FnMut(&SourceFile) -> Result<Opened> + 'a;

/// Callbacks for progress reporting.
pub struct PackProgress<'a> {
    /// Called with the number of member bytes just written.
    pub bytes: &'a mut dyn FnMut(u64),
    /// Called when a member is finished.
    pub file_done: &'a mut dyn FnMut(&SourceFile),
}

impl std::fmt::Debug for PackProgress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PackProgress")
    }
}

/// What a pack produced.
#[derive(Debug)]
pub struct PackOutcome<W> {
    /// The output, finished and flushed.
    pub output: W,
    /// The manifest embedded in the archive.
    pub manifest: Manifest,
    /// Total archive size.
    pub archive_len: u64,
}

/// Writes `tables` (members in the order given) to `out`.
///
/// `open` opens a source file and returns a reader plus the path to name in errors.
pub fn pack<W: ArchiveOutput>(
    out: W,
    tables: &[TablePlan],
    open: &mut OpenSource<'_>,
    options: &PackOptions,
    progress: PackProgress<'_>,
) -> Result<PackOutcome<W>> {
    // Readers take every `.lakezip/` member for the archive's own metadata: a source file
    // there would be left out of a full extract, so it is refused before anything is
    // written.
    if let Some(file) = tables
        .iter()
        .flat_map(|t| &t.files)
        .find(|f| f.path.starts_with(crate::manifest::METADATA_DIR))
    {
        return Err(Error::UnsafeName {
            name: file.path.clone(),
            reason: "the folder .lakezip/ at the top of an archive is reserved for its own metadata; rename or move it",
        });
    }
    let mut writer = ZipWriter::new(out);
    let mut manifests = Vec::with_capacity(tables.len());
    let mut first_member = 0usize;
    let mut central_offset = 0u64;
    for table in tables {
        let data_start = writer.position();
        let mut entries = Vec::with_capacity(table.files.len());
        let mut bytes = 0u64;
        for file in &table.files {
            let mtime = if options.deterministic {
                file.mtime.min(options.created)
            } else {
                file.mtime
            };
            if let Some(held) = &file.held {
                entries.push(FileRecord {
                    path: file.path.clone(),
                    size: file.size,
                    crc32: held.crc32,
                    mtime: Some(file.mtime),
                    archive: Some(held.archive.clone()),
                });
                (progress.file_done)(file);
                continue;
            }
            let mut opened = open(file)?;
            let meta = MemberMeta {
                name: file.path.clone(),
                mtime,
                mode: file.mode,
            };
            let written = writer.add(
                meta,
                file.size,
                opened.crc32,
                &mut opened.reader,
                &opened.path,
                progress.bytes,
            )?;
            (progress.file_done)(file);
            bytes += written.size;
            entries.push(FileRecord {
                path: file.path.clone(),
                size: written.size,
                crc32: written.crc32,
                mtime: Some(file.mtime),
                archive: None,
            });
        }
        let data_end = writer.position();
        let central_start = central_offset;
        for i in first_member..writer.len() {
            central_offset += writer.central_header_len(i).unwrap_or(0);
        }
        first_member = writer.len();
        manifests.push(TableManifest {
            summary: TableSummary {
                path: table.path.clone(),
                format: table.format,
                snapshot: table.snapshot.clone(),
                files: entries.iter().filter(|e| e.archive.is_none()).count() as u64,
                bytes,
                orphans: table.orphans.files,
                orphan_bytes: table.orphans.bytes,
                data_range: [data_start, data_end],
                central_directory_range: [central_start, central_offset],
            },
            entries,
        });
    }
    let archive_id = if let Some(id) = &options.archive_id {
        id.clone()
    } else if options.deterministic {
        deterministic_id(
            options.created,
            options.base_archive_id.as_deref(),
            &manifests,
        )
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let manifest = Manifest {
        lakezip_manifest: FORMAT_VERSION,
        archive_id: archive_id.clone(),
        kind: options.kind,
        base_archive_id: options.base_archive_id.clone(),
        created: time::rfc3339(options.created),
        source: options.source.clone(),
        tool: options.tool.clone(),
        tables: manifests,
    };
    let meta = |name: &str| MemberMeta {
        name: name.to_owned(),
        mtime: options.created,
        mode: 0o644,
    };
    // Written as it is encoded (twice: for the header's size and CRC-32, then the bytes),
    // never held whole: it has a record per file.
    let manifest_written = writer.add_generated(meta(MANIFEST_NAME), &|out| {
        let mut out = io::BufWriter::with_capacity(64 * 1024, out);
        serde_json::to_writer_pretty(&mut out, &manifest)?;
        out.flush()
    })?;
    let index = TableIndex {
        lakezip_index: FORMAT_VERSION,
        archive_id,
        manifest: MemberRef {
            offset: manifest_written.data_offset,
            length: manifest_written.size,
            crc32: manifest_written.crc32,
        },
        tables: manifest.tables.iter().map(|t| t.summary.clone()).collect(),
    };
    let index_json = serde_json::to_vec(&index).map_err(|e| Error::Manifest {
        reason: format!("cannot encode the table index: {e}"),
    })?;
    let index_written = writer.add_bytes(meta(INDEX_NAME), &index_json)?;
    let pointer = IndexPointer {
        offset: index_written.data_offset,
        length: index_written.size,
        crc32: index_written.crc32,
    };
    let (output, archive_len) = writer.finish(pointer.to_comment().as_bytes())?;
    Ok(PackOutcome {
        output,
        manifest,
        archive_len,
    })
}

/// A UUID (version 5 layout) derived from the creation time and every member's name,
/// size, CRC-32: the same content gives the same id.
fn deterministic_id(created: i64, base: Option<&str>, tables: &[TableManifest]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(created.to_le_bytes());
    hasher.update(base.unwrap_or("").as_bytes());
    hasher.update([0]);
    for table in tables {
        hasher.update(table.summary.path.as_bytes());
        hasher.update([0]);
        for file in &table.entries {
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update(file.size.to_le_bytes());
            hasher.update(file.crc32.to_le_bytes());
            hasher.update(file.archive.as_deref().unwrap_or("").as_bytes());
            hasher.update([0]);
        }
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}
