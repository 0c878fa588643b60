//! `relocate`: parsing `OLD=NEW`, prefix matching, and rewriting the fixture tables
//! (`testdata/warehouse`) in memory: JSON kept byte for byte outside the paths, Avro
//! headers kept verbatim, manifest lengths updated, untouched files identical, and the
//! refusals (position deletes, deletion vectors, absolute paths in a Parquet checkpoint).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use apache_avro::types::Value;
use table_state::relocate::{Relocation, TableKind, absolute_paths, relocate_table};
use table_state::{Error, LocalTable, TableFiles};

const FIXTURE_PREFIX: &str = "file:///work/main/testdata/warehouse";

fn warehouse() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/warehouse")
}

const ICEBERG_TABLES: [&str; 4] = [
    "default.db/customers",
    "default.db/events",
    "default.db/orders",
    "default.db/tricky",
];
const DELTA_TABLES: [&str; 2] = ["delta/events_log", "delta/sales"];

/// A table held in memory: the fixture's files with some replaced or added.
struct MemoryTable {
    listed: BTreeSet<String>,
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryTable {
    fn fixture(table: &str) -> Self {
        let local = LocalTable::open(warehouse().join(table)).unwrap();
        let files: BTreeMap<String, Vec<u8>> = local
            .listed()
            .iter()
            .map(|name| (name.clone(), local.read(name).unwrap().unwrap()))
            .collect();
        MemoryTable {
            listed: files.keys().cloned().collect(),
            files,
        }
    }

    fn put(&mut self, name: &str, bytes: Vec<u8>) {
        self.listed.insert(name.to_owned());
        self.files.insert(name.to_owned(), bytes);
    }

    fn apply(&mut self, changed: BTreeMap<String, Vec<u8>>) {
        for (name, bytes) in changed {
            self.put(&name, bytes);
        }
    }
}

impl TableFiles for MemoryTable {
    fn listed(&self) -> &BTreeSet<String> {
        &self.listed
    }

    fn read(&self, relative: &str) -> table_state::Result<Option<Vec<u8>>> {
        Ok(self.files.get(relative).cloned())
    }

    fn exists(&self, relative: &str) -> table_state::Result<bool> {
        Ok(self.files.contains_key(relative))
    }
}

fn relocation(arg: &str) -> Relocation {
    Relocation::parse(arg).unwrap()
}

// ---------------------------------------------------------------------------- parsing

#[test]
fn parse_splits_at_the_equals_sign_between_two_locations() {
    let r = relocation("s3://bucket/wh=file:///data/wh");
    assert_eq!(
        (r.from.as_str(), r.to.as_str()),
        ("s3://bucket/wh", "file:///data/wh")
    );
    // Trailing slashes are dropped; `=` inside a prefix is fine.
    let r = relocation("s3://b/date=2024/wh/=/data/k=v/");
    assert_eq!(
        (r.from.as_str(), r.to.as_str()),
        ("s3://b/date=2024/wh", "/data/k=v")
    );
    let r: Relocation = "file:///old/wh=file:///new/wh".parse().unwrap();
    assert_eq!(r.to, "file:///new/wh");
}

#[test]
fn parse_refuses_malformed_arguments() {
    for bad in [
        "s3://bucket/wh",              // no NEW
        "relative/wh=file:///data/wh", // OLD not absolute
        "s3://bucket/wh=data/wh",      // NEW not absolute
        "s3://=file:///data/wh",       // bare scheme
        "file:///=file:///data/wh",    // the root
        "s3://b/x=/y=/z",              // two possible splits
        "=file:///x",
    ] {
        let error = Relocation::parse(bad).unwrap_err();
        assert!(
            matches!(&error, Error::BadRelocation { argument, .. } if argument == bad),
            "{bad}: {error}"
        );
    }
}

#[test]
fn apply_matches_whole_path_segments_only() {
    let r = relocation("s3://b/wh=file:///data/wh");
    assert_eq!(
        r.apply("s3://b/wh/t/a.parquet").as_deref(),
        Some("file:///data/wh/t/a.parquet")
    );
    assert_eq!(r.apply("s3://b/wh").as_deref(), Some("file:///data/wh"));
    assert_eq!(r.apply("s3://b/wh2/t/a.parquet"), None);
    assert_eq!(r.apply("s3://b/w"), None);
    assert_eq!(r.apply("s3a://b/wh/t/a.parquet"), None);
    assert_eq!(r.apply("data/a.parquet"), None);
    // Literal: no percent-decoding.
    assert_eq!(
        r.apply("s3://b/wh/t/category=a+b%3Ac%2Fd%25/x.parquet")
            .as_deref(),
        Some("file:///data/wh/t/category=a+b%3Ac%2Fd%25/x.parquet")
    );
}

#[test]
fn apply_matches_local_files_in_every_spelling() {
    let r = relocation("file:///old/wh=file:///new/wh");
    for spelling in ["file:///old/wh/t/a", "file:/old/wh/t/a", "/old/wh/t/a"] {
        assert_eq!(
            r.apply(spelling).as_deref(),
            Some("file:///new/wh/t/a"),
            "{spelling}"
        );
    }
    assert_eq!(r.apply("file:///old/wh2/t/a"), None);
    assert_eq!(r.apply("file://host/old/wh/t/a"), None);
}

// ---------------------------------------------------------------------------- Iceberg

#[test]
fn identity_relocation_changes_no_byte_of_any_fixture_table() {
    // Every path matches and maps to itself: the whole decode/re-encode path runs over
    // every metadata file, manifest list and manifest, and nothing may come out different.
    let identity = relocation(&format!("{FIXTURE_PREFIX}={FIXTURE_PREFIX}"));
    for table in ICEBERG_TABLES {
        let files = MemoryTable::fixture(table);
        let changed = relocate_table(table, TableKind::Iceberg, &files, &identity).unwrap();
        assert!(
            changed.is_empty(),
            "{table}: {:?}",
            changed.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_relocation_that_matches_nothing_changes_nothing() {
    let elsewhere = relocation("s3://elsewhere/wh=file:///data/wh");
    for table in ICEBERG_TABLES {
        let files = MemoryTable::fixture(table);
        assert!(
            relocate_table(table, TableKind::Iceberg, &files, &elsewhere)
                .unwrap()
                .is_empty()
        );
    }
    for table in DELTA_TABLES {
        let files = MemoryTable::fixture(table);
        assert!(
            relocate_table(table, TableKind::Delta, &files, &elsewhere)
                .unwrap()
                .is_empty()
        );
    }
}

fn avro_header_len(bytes: &[u8]) -> usize {
    // The file ends with the sync marker, which first occurs right after the header.
    let sync = &bytes[bytes.len() - 16..];
    bytes.windows(16).position(|w| w == sync).unwrap() + 16
}

fn avro_read(bytes: &[u8]) -> (Vec<Value>, std::collections::HashMap<String, Vec<u8>>) {
    let reader = apache_avro::Reader::new(bytes).unwrap();
    let metadata = reader.user_metadata().clone();
    (reader.map(|v| v.unwrap()).collect(), metadata)
}

fn field_mut<'v>(value: &'v mut Value, name: &str) -> &'v mut Value {
    match value {
        Value::Record(fields) => &mut fields.iter_mut().find(|(f, _)| f == name).unwrap().1,
        other => panic!("not a record: {other:?}"),
    }
}

fn string_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn every_iceberg_fixture_table_relocates_consistently() {
    let to = "s3://bucket/wh";
    let r = relocation(&format!("{FIXTURE_PREFIX}={to}"));
    for table in ICEBERG_TABLES {
        let original = MemoryTable::fixture(table);
        let changed = relocate_table(table, TableKind::Iceberg, &original, &r).unwrap();

        // Every metadata JSON, manifest list and manifest changes; data files do not.
        let expected: BTreeSet<&String> = original
            .listed
            .iter()
            .filter(|name| name.starts_with("metadata/"))
            .collect();
        assert_eq!(changed.keys().collect::<BTreeSet<_>>(), expected, "{table}");
        assert!(changed.len() >= 7, "{table}: {} files", changed.len());

        for (name, new) in &changed {
            let old = &original.files[name];
            if name.ends_with(".json") {
                // Outside the paths, every byte is the same (key order, numbers, spacing).
                let new = String::from_utf8(new.clone()).unwrap();
                assert!(!new.contains(FIXTURE_PREFIX), "{table}/{name}");
                assert_eq!(
                    new.replace(to, FIXTURE_PREFIX).as_bytes(),
                    old.as_slice(),
                    "{name}"
                );
                continue;
            }
            // Avro: header (writer schema with field ids, Iceberg keys, codec) verbatim.
            let header = avro_header_len(old);
            assert_eq!(new[..header], old[..header], "{table}/{name}: header");
            let (old_values, old_metadata) = avro_read(old);
            let (new_values, new_metadata) = avro_read(new);
            assert_eq!(old_metadata, new_metadata);
            assert_eq!(old_values.len(), new_values.len());
            for (mut expect, got) in old_values.into_iter().zip(new_values) {
                if name.contains("/snap-") {
                    let path = string_of(field_mut(&mut expect, "manifest_path"));
                    let moved = r.apply(&path).unwrap();
                    let relative = path.rsplit_once("/metadata/").unwrap().1;
                    let length = changed[&format!("metadata/{relative}")].len() as i64;
                    *field_mut(&mut expect, "manifest_path") = Value::String(moved);
                    *field_mut(&mut expect, "manifest_length") = Value::Long(length);
                } else {
                    let data_file = field_mut(&mut expect, "data_file");
                    let path = string_of(field_mut(data_file, "file_path"));
                    *field_mut(data_file, "file_path") = Value::String(r.apply(&path).unwrap());
                }
                assert_eq!(expect, got, "{table}/{name}");
            }
        }

        // Afterwards every path lies under the new prefix.
        let mut relocated = original;
        relocated.apply(changed);
        let paths = absolute_paths(TableKind::Iceberg, &relocated).unwrap();
        assert!(paths.len() >= 7, "{table}: {paths:?}");
        for path in paths {
            assert!(
                path.starts_with(&format!("{to}/{table}")),
                "{table}: {path}"
            );
        }
    }
}

#[test]
fn only_files_present_are_rewritten() {
    // A current-only extraction lacks past snapshots' manifest lists: they are skipped.
    let table = "default.db/orders";
    let mut files = MemoryTable::fixture(table);
    let missing = files
        .listed
        .iter()
        .find(|n| n.starts_with("metadata/snap-"))
        .unwrap()
        .clone();
    files.listed.remove(&missing);
    files.files.remove(&missing);
    let r = relocation(&format!("{FIXTURE_PREFIX}=file:///new"));
    let changed = relocate_table(table, TableKind::Iceberg, &files, &r).unwrap();
    assert!(!changed.contains_key(&missing));
    assert!(changed.keys().any(|n| n.starts_with("metadata/snap-")));
}

#[test]
fn gzipped_metadata_json_is_rewritten_and_gzipped_again() {
    use std::io::{Read, Write};
    let table = "default.db/tricky";
    let mut files = MemoryTable::fixture(table);
    let plain: Vec<String> = files
        .listed
        .iter()
        .filter(|n| n.ends_with(".metadata.json"))
        .cloned()
        .collect();
    let mut originals = BTreeMap::new();
    for name in plain {
        let text = files.files.remove(&name).unwrap();
        files.listed.remove(&name);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&text).unwrap();
        let gz_name = name.replace(".metadata.json", ".gz.metadata.json");
        files.put(&gz_name, encoder.finish().unwrap());
        originals.insert(gz_name, text);
    }
    let r = relocation(&format!("{FIXTURE_PREFIX}=s3://bucket/wh"));
    let changed = relocate_table(table, TableKind::Iceberg, &files, &r).unwrap();
    for (name, original) in originals {
        let mut text = String::new();
        flate2::read::GzDecoder::new(changed[&name].as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(
            text.replace("s3://bucket/wh", FIXTURE_PREFIX).as_bytes(),
            original
        );
    }
}

#[test]
fn a_manifest_list_outside_the_table_that_would_move_is_refused() {
    let table = "default.db/orders";
    let mut files = MemoryTable::fixture(table);
    let metadata = files
        .listed
        .iter()
        .rfind(|n| n.ends_with(".metadata.json"))
        .unwrap()
        .clone();
    let text = String::from_utf8(files.files[&metadata].clone()).unwrap();
    let moved = text.replacen(
        &format!("{FIXTURE_PREFIX}/{table}/metadata/snap-"),
        &format!("{FIXTURE_PREFIX}/elsewhere/snap-"),
        1,
    );
    assert_ne!(moved, text);
    files.put(&metadata, moved.into_bytes());
    let r = relocation(&format!("{FIXTURE_PREFIX}=s3://bucket/wh"));
    match relocate_table(table, TableKind::Iceberg, &files, &r).unwrap_err() {
        Error::CannotRelocate { path, reason } => {
            assert_eq!(path, metadata);
            assert!(reason.contains("outside the table location"), "{reason}");
        }
        other => panic!("{other}"),
    }
}

/// The fixture table with one manifest's entries changed by `edit` (written with
/// apache-avro, header keys copied).
fn with_edited_manifest(table: &str, edit: impl Fn(&mut Value)) -> (MemoryTable, String) {
    let mut files = MemoryTable::fixture(table);
    let manifest = files
        .listed
        .iter()
        .find(|n| n.ends_with("-m0.avro"))
        .unwrap()
        .clone();
    let (mut values, metadata) = avro_read(&files.files[&manifest]);
    for value in &mut values {
        edit(field_mut(value, "data_file"));
    }
    let reader = apache_avro::Reader::new(files.files[&manifest].as_slice()).unwrap();
    let schema = reader.writer_schema().clone();
    let mut writer = apache_avro::Writer::with_codec(
        &schema,
        Vec::new(),
        apache_avro::Codec::Deflate(Default::default()),
    )
    .unwrap();
    for (key, value) in metadata {
        writer.add_user_metadata(key, value).unwrap();
    }
    for value in values {
        writer.append_value(value).unwrap();
    }
    files.put(&manifest, writer.into_inner().unwrap());
    (files, manifest)
}

#[test]
fn position_delete_files_are_refused_naming_the_manifest() {
    let table = "default.db/orders";
    let (files, manifest) = with_edited_manifest(table, |data_file| {
        *field_mut(data_file, "content") = Value::Int(1);
    });
    let r = relocation(&format!("{FIXTURE_PREFIX}=file:///new"));
    let error = relocate_table(table, TableKind::Iceberg, &files, &r).unwrap_err();
    match &error {
        Error::CannotRelocate { path, reason } => {
            assert_eq!(path, &manifest);
            assert!(reason.contains("position-delete file"), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(
        error
            .to_string()
            .starts_with(&format!("{manifest}: cannot relocate: "))
    );
    // A relocation that does not touch the table leaves it alone.
    let elsewhere = relocation("s3://elsewhere=file:///new");
    assert!(
        relocate_table(table, TableKind::Iceberg, &files, &elsewhere)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn deletion_vectors_are_refused() {
    let table = "default.db/orders";
    let (files, manifest) = with_edited_manifest(table, |data_file| {
        *field_mut(data_file, "content") = Value::Int(1);
        *field_mut(data_file, "file_format") = Value::String("PUFFIN".to_owned());
    });
    let r = relocation(&format!("{FIXTURE_PREFIX}=file:///new"));
    match relocate_table(table, TableKind::Iceberg, &files, &r).unwrap_err() {
        Error::CannotRelocate { path, reason } => {
            assert_eq!(path, manifest);
            assert!(reason.contains("deletion vector"), "{reason}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn equality_deletes_hold_no_paths_and_relocate() {
    let table = "default.db/orders";
    let (files, manifest) = with_edited_manifest(table, |data_file| {
        *field_mut(data_file, "content") = Value::Int(2);
    });
    let r = relocation(&format!("{FIXTURE_PREFIX}=file:///new"));
    let changed = relocate_table(table, TableKind::Iceberg, &files, &r).unwrap();
    let (values, _) = avro_read(&changed[&manifest]);
    for mut value in values {
        let path = string_of(field_mut(field_mut(&mut value, "data_file"), "file_path"));
        assert!(
            path.starts_with("file:///new/default.db/orders/data/"),
            "{path}"
        );
    }
}

#[test]
fn a_table_without_metadata_is_an_error() {
    let files = MemoryTable {
        listed: BTreeSet::from(["data/a.parquet".to_owned()]),
        files: BTreeMap::new(),
    };
    let r = relocation("s3://a=s3://b");
    assert!(matches!(
        relocate_table("t", TableKind::Iceberg, &files, &r),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        relocate_table("t", TableKind::Delta, &files, &r),
        Err(Error::Unsupported(_))
    ));
}

// ---------------------------------------------------------------------------- Delta

#[test]
fn fixture_delta_tables_hold_only_relative_paths() {
    let r = relocation("file:///work/main/testdata/warehouse=file:///new");
    for table in DELTA_TABLES {
        let files = MemoryTable::fixture(table);
        assert!(
            relocate_table(table, TableKind::Delta, &files, &r)
                .unwrap()
                .is_empty()
        );
        assert!(
            absolute_paths(TableKind::Delta, &files).unwrap().is_empty(),
            "{table}"
        );
    }
}

const ABSOLUTE_COMMIT: &str = concat!(
    r#"{"commitInfo":{"operation":"CLONE","operationParameters":{"source":"file:///old/t"}}}"#,
    "\n",
    r#"{"add":{"path":"file:///old/t/part-1.parquet","partitionValues":{},"size":10,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"p","pathOrInlineDv":"file:///old/t/dv-1.bin","offset":1,"sizeInBytes":36,"cardinality":2}}}"#,
    "\n",
    r#"{"add":{"path":"file:///old/t/region=east%2520west/part-2.parquet","partitionValues":{"region":"east west"},"size":10,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"/old/t/0000000000000000000","offset":1,"sizeInBytes":36,"cardinality":2}}}"#,
    "\n",
    r#"{"remove":{"path":"file:///old/t/part-0.parquet","dataChange":true}}"#,
    "\n",
    r#"{"cdc":{"path":"_change_data/cdc-1.parquet","partitionValues":{},"size":5,"dataChange":false}}"#,
    "\n",
    r#"{"add":{"path":"s3://other/part-3.parquet","partitionValues":{},"size":10,"modificationTime":1,"dataChange":true}}"#,
    "\n",
);

#[test]
fn absolute_delta_paths_in_commits_are_rewritten() {
    let mut files = MemoryTable::fixture("delta/sales");
    let commit = "_delta_log/00000000000000000008.json";
    files.put(commit, ABSOLUTE_COMMIT.as_bytes().to_vec());
    let crc = "_delta_log/00000000000000000008.crc";
    files.put(
        crc,
        br#"{"tableSizeBytes":10,"allFiles":[{"path":"file:///old/t/part-1.parquet","size":10}]}"#
            .to_vec(),
    );
    let changed = relocate_table(
        "delta/sales",
        TableKind::Delta,
        &files,
        &relocation("file:///old/t=file:///new/home"),
    )
    .unwrap();
    assert_eq!(changed.keys().collect::<Vec<_>>(), [crc, commit]);
    let expected = ABSOLUTE_COMMIT
        .replace(r#""path":"file:///old/t/"#, r#""path":"file:///new/home/"#)
        .replace("file:///old/t/dv-1.bin", "file:///new/home/dv-1.bin");
    // The CLONE source (not a file of the table), the `u` vector, the relative and the
    // foreign paths are untouched.
    assert!(expected.contains(r#""source":"file:///old/t""#));
    assert!(expected.contains(r#""pathOrInlineDv":"/old/t/0000000000000000000""#));
    assert_eq!(
        String::from_utf8(changed[commit].clone()).unwrap(),
        expected
    );
    assert_eq!(
        String::from_utf8(changed[crc].clone()).unwrap(),
        r#"{"tableSizeBytes":10,"allFiles":[{"path":"file:///new/home/part-1.parquet","size":10}]}"#
    );

    files.apply(changed);
    assert_eq!(
        absolute_paths(TableKind::Delta, &files).unwrap(),
        [
            "file:///new/home/dv-1.bin",
            "file:///new/home/part-0.parquet",
            "file:///new/home/part-1.parquet",
            "file:///new/home/region=east%2520west/part-2.parquet",
            "s3://other/part-3.parquet",
        ]
    );
}

#[test]
fn delta_paths_match_a_percent_encoded_prefix() {
    let mut files = MemoryTable::fixture("delta/sales");
    let commit = "_delta_log/00000000000000000008.json";
    files.put(
        commit,
        br#"{"add":{"path":"file:///old%20dir/t/part-1.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}"#.to_vec(),
    );
    let changed = relocate_table(
        "delta/sales",
        TableKind::Delta,
        &files,
        &relocation("file:///old dir/t=file:///new dir/t"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(changed[commit].clone()).unwrap(),
        r#"{"add":{"path":"file:///new%20dir/t/part-1.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}"#
    );
}

/// A minimal checkpoint: `add.path` / `remove.path` columns, one action per row.
fn checkpoint(adds: &[Option<&str>], removes: &[Option<&str>]) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message spark_schema {
                optional group add { required binary path (UTF8); }
                optional group remove { required binary path (UTF8); }
            }",
        )
        .unwrap(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(
        &mut out,
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut row_group = writer.next_row_group().unwrap();
    for column in [adds, removes] {
        let values: Vec<ByteArray> = column
            .iter()
            .flatten()
            .map(|p| ByteArray::from(*p))
            .collect();
        let levels: Vec<i16> = column.iter().map(|p| i16::from(p.is_some())).collect();
        let mut writer = row_group.next_column().unwrap().unwrap();
        writer
            .typed::<ByteArrayType>()
            .write_batch(&values, Some(&levels), None)
            .unwrap();
        writer.close().unwrap();
    }
    row_group.close().unwrap();
    writer.close().unwrap();
    out
}

#[test]
fn a_checkpoint_with_absolute_paths_under_the_old_prefix_is_refused() {
    let mut files = MemoryTable::fixture("delta/events_log");
    let name = "_delta_log/00000000000000000019.checkpoint.parquet";
    files.put(
        name,
        checkpoint(
            &[
                Some("part-1.parquet"),
                None,
                Some("file:///old/t/part-2.parquet"),
            ],
            &[None, Some("s3://other/part-0.parquet"), None],
        ),
    );
    let error = relocate_table(
        "delta/events_log",
        TableKind::Delta,
        &files,
        &relocation("file:///old/t=file:///new/t"),
    )
    .unwrap_err();
    match error {
        Error::CannotRelocate { path, reason } => {
            assert_eq!(path, name);
            assert!(reason.contains("file:///old/t/part-2.parquet"), "{reason}");
        }
        other => panic!("{other}"),
    }
    // Absolute paths elsewhere are fine (and reported).
    let changed = relocate_table(
        "delta/events_log",
        TableKind::Delta,
        &files,
        &relocation("file:///elsewhere=file:///new/t"),
    )
    .unwrap();
    assert!(changed.is_empty());
    assert_eq!(
        absolute_paths(TableKind::Delta, &files).unwrap(),
        ["file:///old/t/part-2.parquet", "s3://other/part-0.parquet"]
    );
}
