//! Fuzz harnesses for the table-state readers, shared by the `fuzz/` targets
//! (`iceberg_metadata`, `delta_actions`; cargo-fuzz, nightly) and by
//! `tests/fuzz_regressions.rs` (stable). Not part of the public API.
//!
//! The input is a little in-memory table: a sequence of files, each
//! `name length (u8), name, content length (u32 LE), content`; a short last file keeps
//! what is there. Selection must return `Ok` or `Err` for any table, and what it selects
//! must exist.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Result, Selection, Snapshots, TableFiles, delta, iceberg};

/// A table held in memory.
#[derive(Debug, Default)]
struct MemoryTable {
    files: BTreeMap<String, Vec<u8>>,
    listed: BTreeSet<String>,
}

impl MemoryTable {
    fn decode(mut data: &[u8]) -> Self {
        let mut table = MemoryTable::default();
        while let Some((&name_len, rest)) = data.split_first() {
            let (name, rest) = rest.split_at(usize::from(name_len).min(rest.len()));
            let (len, rest) = rest.split_at(4.min(rest.len()));
            let mut len_bytes = [0u8; 4];
            len_bytes[..len.len()].copy_from_slice(len);
            let len = u32::from_le_bytes(len_bytes) as usize;
            let (content, rest) = rest.split_at(len.min(rest.len()));
            let name = String::from_utf8_lossy(name).into_owned();
            table.listed.insert(name.clone());
            table.files.entry(name).or_insert_with(|| content.to_vec());
            data = rest;
        }
        table
    }
}

impl TableFiles for MemoryTable {
    fn listed(&self) -> &BTreeSet<String> {
        &self.listed
    }

    fn read(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.files.get(relative).cloned())
    }

    fn exists(&self, relative: &str) -> Result<bool> {
        Ok(self.files.contains_key(relative))
    }
}

/// What must hold for any selection: every selected file exists, and pinned files carry
/// the bytes that were read.
fn check(table: &MemoryTable, selection: &Result<Selection>) {
    let Ok(selection) = selection else {
        return;
    };
    for file in &selection.files {
        assert!(
            table.files.contains_key(file),
            "selected {file:?}, which does not exist"
        );
    }
    for (path, bytes) in &selection.pinned {
        assert_eq!(
            table.files.get(path),
            Some(bytes),
            "pinned {path:?} differs from the file"
        );
    }
}

/// Target `iceberg_metadata`: chooses and walks an Iceberg table's state (metadata JSON,
/// version hint, Avro manifest lists and manifests), with every snapshot and with the
/// current one only, and with the first file named as the metadata file.
pub fn iceberg_metadata(data: &[u8]) {
    let table = MemoryTable::decode(data);
    for snapshots in [Snapshots::All, Snapshots::Current] {
        check(&table, &iceberg::select("t", &table, None, snapshots));
    }
    if let Some(first) = table.listed.first() {
        check(
            &table,
            &iceberg::select("t", &table, Some(first), Snapshots::All),
        );
    }
}

/// Target `delta_actions`: chooses a Delta table's version (the latest, and one from the
/// last input byte) and collects the files its log references (JSON commits,
/// `_last_checkpoint`, which checkpoint to read).
///
/// Parquet checkpoints and sidecars are decoded too: a panic inside the `parquet` crate
/// on a corrupt page is caught and reported as an error naming the file.
pub fn delta_actions(data: &[u8]) {
    let table = MemoryTable::decode(data);
    check(&table, &delta::select("t", &table, None));
    let version = data.last().map_or(0, |&b| u64::from(b % 32));
    check(&table, &delta::select("t", &table, Some(version)));
}
