//! Restoring a point of a chain: every file of the state, each fetched from the archive
//! that holds its bytes, and nothing else.
//!
//! Files already present at the target with the state's size and CRC-32 are kept (an
//! interrupted restore resumes). The others are grouped by the archive holding them;
//! archives are visited oldest first, each through its table index: only the central
//! directory slices of tables with wanted files are read, and the data phase reads with
//! no gap merging, so superseded bytes are never fetched. Every file is CRC-checked and
//! renamed into place from a temporary name.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use archive_format::manifest::{FileRecord, Manifest};
use archive_format::read::Entry;
use archive_format::table::{selects, table_holds};

use crate::archive::{TableView, open_tables, table_entries};
use crate::extract::{ExtractOptions, extract};
use crate::fetch::FetchOptions;
use crate::source::RangeSource;
use crate::{Error, Result};

/// What a restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Files in the restored state.
    pub files: u64,
    /// Bytes in the restored state.
    pub bytes: u64,
    /// Files already present and correct, kept.
    pub kept: u64,
    /// Files fetched.
    pub fetched: u64,
    /// Archives read.
    pub archives: u64,
}

/// The files of `state` in the selected tables (all when `tables` is empty), each with the
/// id of the archive holding it.
pub fn state_files<'a>(
    state: &'a Manifest,
    tables: &[String],
) -> Result<Vec<(&'a FileRecord, String)>> {
    for wanted in tables {
        if !state
            .tables
            .iter()
            .any(|t| selects(wanted, &t.summary.path))
        {
            return Err(Error::NotFound {
                source_name: state.archive_id.clone(),
                what: "table",
                name: wanted.clone(),
                hint: String::new(),
            });
        }
    }
    Ok(state
        .tables
        .iter()
        .filter(|t| tables.is_empty() || tables.iter().any(|w| selects(w, &t.summary.path)))
        .flat_map(|t| &t.entries)
        .map(|f| {
            (
                f,
                f.archive
                    .clone()
                    .unwrap_or_else(|| state.archive_id.clone()),
            )
        })
        .collect())
}

/// True if `dest/path` already holds exactly this file.
fn already_present(dest: &Path, file: &FileRecord) -> bool {
    let path = dest.join(&file.path);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != file.size {
        return false;
    }
    let Ok(mut handle) = std::fs::File::open(&path) else {
        return false;
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match handle.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    hasher.finalize() == file.crc32
}

/// Restores `files` (from [`state_files`]) under `dest`. `order` lists archive ids oldest
/// first; `open` opens an archive by id. `progress` gets bytes as they are written.
pub fn restore(
    files: &[(&FileRecord, String)],
    order: &[String],
    open: &dyn Fn(&str) -> Result<Box<dyn RangeSource>>,
    dest: &Path,
    fetch: FetchOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RestoreSummary> {
    let mut summary = RestoreSummary {
        files: files.len() as u64,
        bytes: files.iter().map(|(f, _)| f.size).sum(),
        ..RestoreSummary::default()
    };
    let mut wanted: BTreeMap<usize, HashMap<&str, &FileRecord>> = BTreeMap::new();
    for (file, holder) in files {
        if already_present(dest, file) {
            summary.kept += 1;
            continue;
        }
        let Some(position) = order.iter().position(|id| id == holder) else {
            return Err(Error::Refused {
                name: file.path.clone(),
                reason: format!(
                    "its bytes are in archive {holder}, which is not available: restore it from its chain (or was that archive pruned?)"
                ),
            });
        };
        wanted
            .entry(position)
            .or_default()
            .insert(file.path.as_str(), file);
    }
    // Superseded bytes sit between wanted members: never read through gaps.
    let fetch = FetchOptions {
        max_gap: 0,
        ..fetch
    };
    for (position, mut names) in wanted {
        let id = &order[position];
        let source = open(id)?;
        let TableView::Indexed(end, index) = open_tables(source.as_ref())? else {
            return Err(Error::Refused {
                name: source.name(),
                reason: "not a lakezip archive (no table index)".into(),
            });
        };
        if &index.archive_id != id {
            return Err(Error::Refused {
                name: source.name(),
                reason: format!(
                    "it is archive {}, but the chain expects {id} there",
                    index.archive_id
                ),
            });
        }
        let mut selected: Vec<Entry> = Vec::with_capacity(names.len());
        for table in &index.tables {
            if table.files == 0 || !names.keys().any(|n| table_holds(&table.path, n)) {
                continue;
            }
            for entry in table_entries(source.as_ref(), &end, table)? {
                if let Some(file) = names.remove(entry.name.as_str()) {
                    if entry.uncompressed_size != file.size || entry.crc32 != file.crc32 {
                        return Err(Error::Refused {
                            name: entry.name.clone(),
                            reason: format!(
                                "archive {id} holds a different version ({} bytes, crc32 {:08x}) than the state ({} bytes, crc32 {:08x})",
                                entry.uncompressed_size, entry.crc32, file.size, file.crc32
                            ),
                        });
                    }
                    selected.push(entry);
                }
            }
        }
        if let Some(missing) = names.keys().next() {
            return Err(Error::NotFound {
                source_name: source.name(),
                what: "member",
                name: (*missing).to_owned(),
                hint: format!(" (the state says archive {id} holds it)"),
            });
        }
        let entries: Vec<&Entry> = selected.iter().collect();
        let options = ExtractOptions { force: true, fetch };
        let done = extract(source.as_ref(), &entries, dest, options, progress)?;
        summary.fetched += done.files;
        summary.archives += 1;
    }
    Ok(summary)
}
