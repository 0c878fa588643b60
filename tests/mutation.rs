//! Robustness: valid archives with random bit flips and truncations never make the
//! reader panic, and a single flipped byte never yields wrong content: every member read
//! without error is byte-identical to the original.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;

use archive_format::table::{SourceFile, plan};
use archive_format::write::{Opened, PackOptions, PackProgress, pack};
use proptest::prelude::*;
use range_reader::RangeSource;
use range_reader::archive::{
    TableView, check_lakezip_metadata, open_directory, open_tables, read_entry, table_entries,
};
use range_reader::memory::Memory;

fn files() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("README.txt".to_owned(), b"hello".to_vec());
    files.insert("db/t/data/a.parquet".to_owned(), vec![7u8; 3000]);
    files.insert(
        "db/t/metadata/00001-x.metadata.json".to_owned(),
        br#"{"current-snapshot-id": 5}"#.to_vec(),
    );
    files.insert(
        "delta/s/part=1/b.parquet".to_owned(),
        (0..=255u8).cycle().take(5000).collect(),
    );
    files.insert(
        "delta/s/_delta_log/00000000000000000000.json".to_owned(),
        b"{}".to_vec(),
    );
    files
}

fn archive(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let sources = files
        .iter()
        .map(|(p, b)| SourceFile {
            path: p.clone(),
            size: b.len() as u64,
            mtime: 1_600_000_000,
            mode: 0o644,
            held: None,
        })
        .collect();
    let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
        Ok(Opened {
            reader: Box::new(Cursor::new(files[&f.path].clone())),
            path: PathBuf::from(&f.path),
            crc32: None,
        })
    };
    let options = PackOptions {
        source: "t".into(),
        created: 1_700_000_000,
        deterministic: true,
        tool: "t".into(),
        kind: archive_format::manifest::ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let progress = PackProgress {
        bytes: &mut |_| {},
        file_done: &mut |_| {},
    };
    pack(
        Cursor::new(Vec::new()),
        &mut plan(sources),
        &mut open,
        &options,
        progress,
    )
    .unwrap()
    .output
    .into_inner()
}

/// Reads everything the archive offers; returns the members read successfully.
fn read_all(source: &dyn RangeSource) -> Vec<(String, Vec<u8>)> {
    let mut read = Vec::new();
    if let Ok(directory) = open_directory(source) {
        let _ = check_lakezip_metadata(source, &directory);
        for entry in directory.entries() {
            if let Ok(bytes) = read_entry(source, entry) {
                read.push((entry.name.clone(), bytes));
            }
        }
    }
    if let Ok(TableView::Indexed(end, index)) = open_tables(source) {
        for table in &index.tables {
            if let Ok(entries) = table_entries(source, &end, table) {
                for entry in entries {
                    if let Ok(bytes) = read_entry(source, &entry) {
                        read.push((entry.name.clone(), bytes));
                    }
                }
            }
        }
    }
    read
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn one_flipped_byte_never_gives_wrong_content(position in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let files = files();
        let mut bytes = archive(&files);
        let at = position.index(bytes.len());
        bytes[at] ^= xor;
        let source = Memory::new("mutated", bytes);
        for (name, content) in read_all(&source) {
            if let Some(original) = files.get(&name) {
                prop_assert_eq!(&content, original, "member {} read wrong after flipping byte {}", name, at);
            }
        }
    }

    #[test]
    fn many_flips_and_truncation_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = archive(&files());
        for (position, value) in flips {
            let at = position.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        read_all(&Memory::new("mutated", bytes));
    }
}

#[test]
fn truncation_at_every_length_is_an_error_not_a_panic() {
    let bytes = archive(&files());
    for len in 0..bytes.len() {
        let source = Memory::new("truncated", bytes[..len].to_vec());
        assert!(
            open_directory(&source).is_err(),
            "a {len}-byte prefix opened as an archive"
        );
    }
}
