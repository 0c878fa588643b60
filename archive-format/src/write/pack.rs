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
/// `open` opens a source file and returns a reader plus the path to name in errors. On
/// success each table's files are moved into the returned manifest's entries, and the
/// plans are left without files (a warehouse can hold millions: both at once would
/// double the memory); on error the plans are left as they were.
pub fn pack<W: ArchiveOutput>(
    out: W,
    tables: &mut [TablePlan],
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
    // Names are checked for duplicates here, once, so the writer keeps no set of them.
    let mut names: Vec<&str> = tables
        .iter()
        .flat_map(|t| &t.files)
        .map(|f| f.path.as_str())
        .collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::DuplicateName {
            name: pair[0].to_owned(),
        });
    }
    drop(names);
    let mut writer = ZipWriter::with_unique_names(out);
    let mut manifests = Vec::with_capacity(tables.len());
    // Per table, the CRC-32 of each file (its entries are made from the plan and these
    // when the manifest is written: holding them all would cost a record per file).
    let mut crcs: Vec<Vec<u32>> = Vec::with_capacity(tables.len());
    for table in tables.iter() {
        let data_start = writer.position();
        let central_start = writer.central_directory_len();
        let mut table_crcs = Vec::with_capacity(table.files.len());
        let (mut files, mut bytes) = (0u64, 0u64);
        for file in &table.files {
            let mtime = if options.deterministic {
                file.mtime.min(options.created)
            } else {
                file.mtime
            };
            if let Some(held) = &file.held {
                table_crcs.push(held.crc32);
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
            files += 1;
            bytes += written.size;
            table_crcs.push(written.crc32);
        }
        let data_end = writer.position();
        let central_end = writer.central_directory_len();
        manifests.push(TableManifest {
            summary: TableSummary {
                path: table.path.clone(),
                format: table.format,
                snapshot: table.snapshot.clone(),
                files,
                bytes,
                orphans: table.orphans.files,
                orphan_bytes: table.orphans.bytes,
                data_range: [data_start, data_end],
                central_directory_range: [central_start, central_end],
            },
            entries: Vec::new(),
        });
        crcs.push(table_crcs);
    }
    let archive_id = if let Some(id) = &options.archive_id {
        id.clone()
    } else if options.deterministic {
        deterministic_id(
            options.created,
            options.base_archive_id.as_deref(),
            tables,
            &crcs,
        )
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let mut manifest = Manifest {
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
    // Encoded straight into the archive (twice: for the header's size and CRC-32, then
    // the bytes), one table's entries at a time.
    let manifest_written = writer.add_generated(meta(MANIFEST_NAME), &|out| {
        let mut out = io::BufWriter::with_capacity(64 * 1024, out);
        write_manifest(&mut out, &manifest, tables, &crcs)?;
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
    // The caller gets the manifest whole, made from the plans' files (moved, not copied);
    // the writer's central directory is gone by now.
    for ((table, plan), crcs) in manifest.tables.iter_mut().zip(tables.iter_mut()).zip(&crcs) {
        table.entries = std::mem::take(&mut plan.files)
            .into_iter()
            .zip(crcs)
            .map(|(file, &crc32)| record(file, crc32))
            .collect();
    }
    Ok(PackOutcome {
        output,
        manifest,
        archive_len,
    })
}

/// The manifest record of a planned file with this CRC-32.
fn record(file: SourceFile, crc32: u32) -> FileRecord {
    FileRecord {
        size: file.size,
        crc32,
        mtime: Some(file.mtime),
        archive: file.held.map(|h| h.archive),
        path: file.path,
    }
}

/// Writes `manifest` (whose tables have no entries yet) as JSON with each table's
/// entries made from `tables` and `crcs` as it goes: one table's records in memory at a
/// time. The same JSON as serialising the whole [`Manifest`].
fn write_manifest(
    out: &mut dyn Write,
    manifest: &Manifest,
    tables: &[TablePlan],
    crcs: &[Vec<u32>],
) -> io::Result<()> {
    let head = Manifest {
        tables: Vec::new(),
        ..manifest.clone()
    };
    let head = serde_json::to_string(&head)?;
    // `tables` is the last field: everything before its empty array, then the tables.
    let Some(head) = head.strip_suffix("[]}") else {
        return Err(io::Error::other("internal: unexpected manifest layout"));
    };
    out.write_all(head.as_bytes())?;
    out.write_all(b"[")?;
    for (i, ((table, plan), crcs)) in manifest.tables.iter().zip(tables).zip(crcs).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let table = TableManifest {
            summary: table.summary.clone(),
            entries: plan
                .files
                .iter()
                .zip(crcs)
                .map(|(file, &crc32)| record(file.clone(), crc32))
                .collect(),
        };
        serde_json::to_writer(&mut *out, &table)?;
    }
    out.write_all(b"]}")
}

/// A UUID (version 5 layout) derived from the creation time and every member's name,
/// size, CRC-32: the same content gives the same id.
fn deterministic_id(
    created: i64,
    base: Option<&str>,
    tables: &[TablePlan],
    crcs: &[Vec<u32>],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(created.to_le_bytes());
    hasher.update(base.unwrap_or("").as_bytes());
    hasher.update([0]);
    for (table, crcs) in tables.iter().zip(crcs) {
        hasher.update(table.path.as_bytes());
        hasher.update([0]);
        for (file, crc32) in table.files.iter().zip(crcs) {
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update(file.size.to_le_bytes());
            hasher.update(crc32.to_le_bytes());
            hasher.update(
                file.held
                    .as_ref()
                    .map_or("", |h| h.archive.as_str())
                    .as_bytes(),
            );
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
