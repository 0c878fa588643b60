//! Property test: random trees → writer (`archive_format::write::pack`) → sans-io reader
//! (driven through `range_reader`) gives back every file byte for byte, with its name,
//! mtime and mode, and the embedded manifest agrees with the central directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::PathBuf;

use archive_format::table::{SourceFile, plan};
use archive_format::write::{Opened, PackOptions, PackProgress, Streaming, pack};
use proptest::prelude::*;
use range_reader::archive::{
    TableView, check_lakezip_metadata, open_directory, open_tables, read_entry, table_entries,
};
use range_reader::memory::Memory;

/// A path component: ASCII, punctuation that table paths use, and non-ASCII letters.
fn component() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9_=%+ .-]{0,6}[a-z0-9ü日]{1,3}").expect("regex")
}

fn tree() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, i64, u32)>> {
    let path = prop_oneof![
        component(),
        (component(), component()).prop_map(|(a, b)| format!("{a}/{b}")),
        (component(), component()).prop_map(|(t, f)| format!("db/{t}/metadata/{f}.metadata.json")),
        (component(), component()).prop_map(|(t, f)| format!("{t}/_delta_log/{f}")),
        (component(), component(), component()).prop_map(|(a, b, c)| format!("{a}/{b}/{c}")),
    ];
    let content = prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..300),
        1 => proptest::collection::vec(any::<u8>(), 0..5000),
    ];
    proptest::collection::btree_map(
        path.prop_filter("dot components are not valid names", |p| {
            p.split('/').all(|c| c != "." && c != "..")
        }),
        (content, 315_532_800i64..2_000_000_000, 0u32..0o1000),
        0..40,
    )
}

/// Drops files whose path is a directory of another file (a tree cannot hold both).
fn consistent(
    files: BTreeMap<String, (Vec<u8>, i64, u32)>,
) -> BTreeMap<String, (Vec<u8>, i64, u32)> {
    let names: Vec<String> = files.keys().cloned().collect();
    files
        .into_iter()
        .filter(|(name, _)| {
            !names
                .iter()
                .any(|other| other.starts_with(&format!("{name}/")))
        })
        .collect()
}

fn build(
    files: &BTreeMap<String, (Vec<u8>, i64, u32)>,
) -> (Vec<u8>, archive_format::manifest::Manifest) {
    let (bytes, manifest) = build_to(files, false).expect("pack");
    (bytes, manifest)
}

/// Packs `files` to a seekable buffer, or with `streaming` to a forward-only one with every
/// CRC-32 given up front (as a pack to S3 does).
fn build_to(
    files: &BTreeMap<String, (Vec<u8>, i64, u32)>,
    streaming: bool,
) -> archive_format::Result<(Vec<u8>, archive_format::manifest::Manifest)> {
    let sources = files
        .iter()
        .map(|(path, (bytes, mtime, mode))| SourceFile {
            path: path.clone(),
            size: bytes.len() as u64,
            mtime: *mtime,
            mode: *mode,
            held: None,
        })
        .collect();
    let mut tables = plan(sources);
    let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
        Ok(Opened {
            reader: Box::new(Cursor::new(files[&f.path].0.clone())),
            path: PathBuf::from(&f.path),
            crc32: streaming.then(|| crc32fast::hash(&files[&f.path].0)),
        })
    };
    let options = PackOptions {
        source: "proptest".into(),
        created: 1_700_000_000,
        deterministic: true,
        tool: "test".into(),
        kind: archive_format::manifest::ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let (mut bytes, mut done) = (|_| {}, |_: &SourceFile| {});
    let progress = PackProgress {
        bytes: &mut bytes,
        file_done: &mut done,
    };
    if streaming {
        let outcome = pack(
            Streaming(Vec::new()),
            &mut tables,
            &mut open,
            &options,
            progress,
        )?;
        Ok((outcome.output.0, outcome.manifest))
    } else {
        let outcome = pack(
            Cursor::new(Vec::new()),
            &mut tables,
            &mut open,
            &options,
            progress,
        )?;
        Ok((outcome.output.into_inner(), outcome.manifest))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn writer_reader_round_trip(files in tree().prop_map(consistent)) {
        let (bytes, manifest) = build(&files);
        let source = Memory::new("archive", bytes.clone());
        let directory = open_directory(&source).expect("open");
        let found = check_lakezip_metadata(&source, &directory).expect("metadata").expect("manifest");
        prop_assert_eq!(&found, &manifest);
        let mut seen = 0;
        for entry in directory.entries().iter().filter(|e| !e.name.starts_with(".lakezip/")) {
            let (content, mtime, mode) = &files[&entry.name];
            prop_assert_eq!(&read_entry(&source, entry).expect("read"), content);
            prop_assert_eq!(entry.mtime, (*mtime).min(1_700_000_000));
            prop_assert_eq!(entry.mode, Some(*mode));
            seen += 1;
        }
        prop_assert_eq!(seen, files.len());
        // The table index path finds every table's members without the whole directory.
        match open_tables(&source).expect("tables") {
            TableView::Indexed(end, index) => {
                let mut via_index = 0;
                for table in &index.tables {
                    for entry in table_entries(&source, &end, table).expect("table entries") {
                        prop_assert_eq!(&read_entry(&source, &entry).expect("read"), &files[&entry.name].0);
                        via_index += 1;
                    }
                }
                prop_assert_eq!(via_index, files.len());
            }
            TableView::Directory(_) => prop_assert!(false, "our archive has an index"),
        }
        // Deterministic mode: the same input gives the same bytes, and so does a
        // forward-only output given the CRC-32s first.
        prop_assert!(build(&files).0 == bytes);
        prop_assert!(build_to(&files, true).expect("streaming pack").0 == bytes);
        // An independent reader (the zip crate) agrees.
        let mut other = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip crate opens it");
        for (name, (content, _, _)) in &files {
            let mut member = other.by_name(name).expect("zip crate finds member");
            let mut read = Vec::new();
            member.read_to_end(&mut read).expect("zip crate reads member");
            prop_assert_eq!(&read, content);
        }
    }
}

/// Members over the in-memory limit: a forward-only output writes the CRC-32 it was given
/// and gets the same bytes as a seekable one; a wrong CRC-32 is reported as a changed
/// source, never written as a member whose header disagrees with its data.
#[test]
fn streaming_output_needs_and_checks_the_crc() {
    let big = (0..3 * 1024 * 1024 + 7)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect::<Vec<u8>>();
    let mut files = BTreeMap::new();
    files.insert(
        "t/data/big.bin".to_owned(),
        (big.clone(), 1_600_000_000, 0o644),
    );
    files.insert(
        "t/small.txt".to_owned(),
        (b"small".to_vec(), 1_600_000_000, 0o644),
    );
    let (seekable, _) = build_to(&files, false).expect("seekable pack");
    let (streamed, _) = build_to(&files, true).expect("streaming pack");
    assert!(seekable == streamed, "same bytes either way");

    let mut tables = plan(vec![SourceFile {
        path: "t/data/big.bin".into(),
        size: big.len() as u64,
        mtime: 1_600_000_000,
        mode: 0o644,
        held: None,
    }]);
    let options = PackOptions {
        source: "test".into(),
        created: 1_700_000_000,
        deterministic: true,
        tool: "test".into(),
        kind: archive_format::manifest::ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    for crc32 in [Some(crc32fast::hash(&big) ^ 1), None] {
        let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
            Ok(Opened {
                reader: Box::new(Cursor::new(big.clone())),
                path: PathBuf::from(&f.path),
                crc32,
            })
        };
        let error = pack(
            Streaming(Vec::new()),
            &mut tables,
            &mut open,
            &options,
            PackProgress {
                bytes: &mut |_| {},
                file_done: &mut |_| {},
            },
        )
        .expect_err("a wrong or missing CRC-32 is refused");
        assert!(
            matches!(error, archive_format::Error::SourceChanged { .. }),
            "{error}"
        );
    }
}

/// A plan naming one path twice is refused before anything is written (pack checks names
/// once, up front; its writer keeps no set of them), and the plan is left as it was.
#[test]
fn a_plan_with_a_duplicate_path_is_refused() {
    let file = SourceFile {
        path: "t/a.txt".into(),
        size: 1,
        mtime: 1_600_000_000,
        mode: 0o644,
        held: None,
    };
    let mut tables = plan(vec![file.clone(), file]);
    let options = PackOptions {
        source: "test".into(),
        created: 1_700_000_000,
        deterministic: true,
        tool: "test".into(),
        kind: archive_format::manifest::ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let mut opened = 0;
    let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
        opened += 1;
        Ok(Opened {
            reader: Box::new(Cursor::new(b"a".to_vec())),
            path: PathBuf::from(&f.path),
            crc32: None,
        })
    };
    let error = pack(
        Cursor::new(Vec::new()),
        &mut tables,
        &mut open,
        &options,
        PackProgress {
            bytes: &mut |_| {},
            file_done: &mut |_| {},
        },
    )
    .expect_err("duplicate path");
    assert!(
        matches!(error, archive_format::Error::DuplicateName { ref name } if name == "t/a.txt"),
        "{error}"
    );
    assert_eq!(opened, 0, "nothing read");
    assert_eq!(tables[0].files.len(), 2, "plan left as it was");
}
