//! Request and byte budgets of remote reading, measured with a counting source over an
//! archive of 52,500 entries in 50 tables (the shape of remotezip's worst case):
//! - listing tables costs at most 2 requests;
//! - extracting one table costs at most 3 requests before its data, whatever the number of
//!   entries and tables, and fetches at most the table's bytes + 1% + 256 KiB;
//! - a large table is fetched with parallel part-sized requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;

use archive_format::table::{SourceFile, plan};
use archive_format::write::{Opened, PackOptions, PackProgress, pack};
use range_reader::archive::{TableView, open_tables, table_entries};
use range_reader::counting::Counting;
use range_reader::extract::{ExtractOptions, extract};
use range_reader::fetch::FetchOptions;
use range_reader::memory::Memory;

const TABLES: usize = 50;
const FILES_PER_TABLE: usize = 1_050;
/// The table extracted: realistic data files (Parquet files are rarely below 16 KiB).
const TARGET: &str = "db/table_17";

/// Content of a file, derived from its name so the test can check every byte.
fn content(path: &str, size: usize) -> Vec<u8> {
    let seed = crc32fast::hash(path.as_bytes());
    (0..size)
        .map(|i| (seed as usize).wrapping_add(i * 31) as u8)
        .collect()
}

fn build() -> (Vec<u8>, BTreeMap<String, usize>) {
    let mut sizes = BTreeMap::new();
    for t in 0..TABLES {
        let table = format!("db/table_{t:02}");
        let large = table == TARGET;
        for f in 0..FILES_PER_TABLE - 2 {
            let size = if large { 16 * 1024 + f } else { 40 + f % 50 };
            sizes.insert(format!("{table}/data/part-{f:05}.parquet"), size);
        }
        sizes.insert(format!("{table}/_delta_log/00000000000000000000.json"), 300);
        sizes.insert(format!("{table}/_delta_log/00000000000000000001.json"), 300);
    }
    let files = sizes
        .iter()
        .map(|(path, size)| SourceFile {
            path: path.clone(),
            size: *size as u64,
            mtime: 1_700_000_000,
            mode: 0o644,
            held: None,
        })
        .collect();
    let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
        Ok(Opened {
            reader: Box::new(Cursor::new(content(&f.path, f.size as usize))),
            path: PathBuf::from(&f.path),
            crc32: None,
        })
    };
    let options = PackOptions {
        source: "budget".into(),
        created: 1_700_000_000,
        deterministic: true,
        tool: "test".into(),
        kind: archive_format::manifest::ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let progress = PackProgress {
        bytes: &mut |_| {},
        file_done: &mut |_| {},
    };
    let outcome = pack(
        Cursor::new(Vec::new()),
        &mut plan(files),
        &mut open,
        &options,
        progress,
    )
    .unwrap();
    (outcome.output.into_inner(), sizes)
}

#[test]
fn one_table_out_of_52500_entries_in_3_requests_before_data() {
    let (archive, sizes) = build();
    let entries_total = sizes.len() + 2;
    assert!(entries_total >= 50_000);

    // Listing tables: the tail and the index only.
    let source = Counting::new(Memory::new("archive", archive.clone()));
    let TableView::Indexed(_, index) = open_tables(&source).unwrap() else {
        panic!("our archive has an index")
    };
    assert_eq!(index.tables.len(), TABLES);
    assert!(
        source.stats().requests <= 2,
        "listing tables took {:?}",
        source.log()
    );

    // Extracting one table, cold.
    let source = Counting::new(Memory::new("archive", archive));
    let TableView::Indexed(end, index) = open_tables(&source).unwrap() else {
        panic!("our archive has an index")
    };
    let table = index.tables.iter().find(|t| t.path == TARGET).unwrap();
    let entries = table_entries(&source, &end, table).unwrap();
    let before_data = source.stats().requests;
    assert!(
        before_data <= 3,
        "{before_data} requests before the data: {:?}",
        source.log()
    );
    let dir = tempfile::tempdir().unwrap();
    let selected: Vec<_> = entries.iter().collect();
    let options = ExtractOptions {
        force: false,
        fetch: FetchOptions::default(),
    };
    let summary = extract(&source, &selected, dir.path(), options, &|_| {}).unwrap();
    assert_eq!(summary.files as usize, FILES_PER_TABLE);
    for entry in &entries {
        let written = std::fs::read(dir.path().join(&entry.name)).unwrap();
        assert_eq!(
            written,
            content(&entry.name, sizes[&entry.name]),
            "{}",
            entry.name
        );
    }
    let stats = source.stats();
    let allowance = table.bytes + table.bytes / 100 + 256 * 1024;
    assert!(
        stats.bytes <= allowance,
        "fetched {} bytes for a table of {} (allowance {allowance})",
        stats.bytes,
        table.bytes
    );
    // Every data request lies inside the table, and the data came in part-sized requests
    // (about 17 MiB / 8 MiB), not one per member.
    let data_requests: Vec<_> = source
        .log()
        .into_iter()
        .skip(before_data as usize)
        .collect();
    for range in &data_requests {
        assert!(
            table.data_range[0] <= range.start && range.end <= table.data_range[1],
            "{range:?} is outside the table"
        );
    }
    assert!(
        (2..=4).contains(&data_requests.len()),
        "data requests: {data_requests:?}"
    );
}

#[test]
fn a_large_member_is_split_into_parallel_slices() {
    let size = 5 * 1024 * 1024 + 17;
    let files = vec![SourceFile {
        path: "t/data/big.parquet".into(),
        size: size as u64,
        mtime: 1_700_000_000,
        mode: 0o644,
        held: None,
    }];
    let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
        Ok(Opened {
            reader: Box::new(Cursor::new(content(&f.path, f.size as usize))),
            path: PathBuf::from(&f.path),
            crc32: None,
        })
    };
    let options = PackOptions {
        source: "big".into(),
        created: 1_700_000_000,
        deterministic: true,
        tool: "test".into(),
        kind: archive_format::manifest::ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let progress = PackProgress {
        bytes: &mut |_| {},
        file_done: &mut |_| {},
    };
    let archive = pack(
        Cursor::new(Vec::new()),
        &mut plan(files),
        &mut open,
        &options,
        progress,
    )
    .unwrap()
    .output
    .into_inner();
    let source_bytes = archive.clone();
    let source = Counting::new(Memory::new("archive", archive));
    let TableView::Indexed(end, index) = open_tables(&source).unwrap() else {
        panic!("indexed")
    };
    let entries = table_entries(&source, &end, &index.tables[0]).unwrap();
    let before = source.stats().requests;
    let dir = tempfile::tempdir().unwrap();
    let options = ExtractOptions {
        force: false,
        fetch: FetchOptions {
            concurrency: 4,
            part_size: 1024 * 1024,
            ..FetchOptions::default()
        },
    };
    extract(
        &source,
        &entries.iter().collect::<Vec<_>>(),
        dir.path(),
        options,
        &|_| {},
    )
    .unwrap();
    let written = std::fs::read(dir.path().join("t/data/big.parquet")).unwrap();
    assert!(written == content("t/data/big.parquet", size));
    // A damaged local header fails the first slice; the other slices wait for it and
    // stop, and the error names the member (no hang, no file).
    let mut damaged = source_bytes.clone();
    damaged[30] ^= 0x20; // first byte of the local header's name
    let damaged = Counting::new(Memory::new("damaged", damaged));
    let other = tempfile::tempdir().unwrap();
    let error = extract(
        &damaged,
        &entries.iter().collect::<Vec<_>>(),
        other.path(),
        options,
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("big.parquet"), "{error}");
    assert!(!other.path().join("t/data/big.parquet").exists());
    // Five even slices of the 5 MiB local record (the first one checks the local header):
    // the small remainder joins them instead of costing a sixth request.
    assert_eq!(source.stats().requests - before, 5, "{:?}", source.log());
}
