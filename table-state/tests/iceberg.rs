//! `iceberg::select` over temporary copies of the fixture tables in
//! `testdata/warehouse/default.db/` (written by pyiceberg; see `testdata/README.md`).
//!
//! Expected sets come from two independent sources: the fixture has no orphan files, so
//! every file on disk is referenced by the newest metadata (checked against a small
//! fastavro walk in `.venv` when `scripts/setup` has made it), and the fastavro walk
//! itself for older metadata and for the current snapshot only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use apache_avro::types::Value as AvroValue;
use table_state::{Error, LocalTable, Selection, Snapshots, TableFiles, iceberg};

const TABLES: [&str; 4] = ["customers", "events", "orders", "tricky"];

fn fixture(table: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/warehouse/default.db")
        .join(table)
}

/// A copy of a fixture table; its metadata still says the fixture's `location`.
fn copy(table: &str) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(table), dir.path());
    dir
}

fn select(root: &Path, metadata: Option<&str>, snapshots: Snapshots) -> Result<Selection, Error> {
    let table = LocalTable::open(root).unwrap();
    iceberg::select("default.db/t", &table, metadata, snapshots)
}

fn on_disk(root: &Path) -> BTreeSet<String> {
    LocalTable::open(root).unwrap().listed().clone()
}

/// `metadata/NNNNN-….metadata.json` files, oldest first.
fn metadata_files(root: &Path) -> Vec<String> {
    on_disk(root)
        .into_iter()
        .filter(|path| path.starts_with("metadata/") && path.ends_with(".metadata.json"))
        .collect()
}

fn newest_metadata(root: &Path) -> String {
    metadata_files(root).pop().unwrap()
}

fn json(root: &Path, relative: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root.join(relative)).unwrap()).unwrap()
}

fn set(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|path| (*path).to_owned()).collect()
}

/// The files a metadata file references, computed with fastavro: `(all, current)`, each
/// required ∪ existing optional. `None` (and a note) when `.venv` has no fastavro.
fn fastavro_expected(root: &Path, metadata: &str) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    const WALK: &str = r#"
import fastavro, json, os, sys
root, meta = sys.argv[1], sys.argv[2]
md = json.load(open(os.path.join(root, meta)))
loc = md['location'].rstrip('/')
def rel(p):
    assert p.startswith(loc + '/'), p
    return p[len(loc) + 1:]
def exists(r):
    return os.path.isfile(os.path.join(root, r))
def avro(r):
    with open(os.path.join(root, r), 'rb') as f:
        return list(fastavro.reader(f))
cur = md.get('current-snapshot-id')
out = []
for mode in ('all', 'current'):
    files = {meta}
    files |= {rel(e['metadata-file']) for e in md.get('metadata-log', []) if exists(rel(e['metadata-file']))}
    for s in md.get('snapshots', []):
        if mode == 'current' and s['snapshot-id'] != cur:
            continue
        files.add(rel(s['manifest-list']))
        for m in avro(rel(s['manifest-list'])):
            files.add(rel(m['manifest_path']))
            for e in avro(rel(m['manifest_path'])):
                p = rel(e['data_file']['file_path'])
                if e['status'] != 2 or exists(p):
                    files.add(p)
    out.append(sorted(files))
json.dump(out, sys.stdout)
"#;
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let output = Command::new(&python)
        .arg("-c")
        .arg(WALK)
        .arg(root)
        .arg(metadata)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let (all, current): (BTreeSet<String>, BTreeSet<String>) =
                serde_json::from_slice(&output.stdout).unwrap();
            Some((all, current))
        }
        Ok(output) if String::from_utf8_lossy(&output.stderr).contains("No module named") => {
            eprintln!("note: no fastavro in .venv (run scripts/setup); skipping the cross-check");
            None
        }
        Ok(output) => panic!(
            "fastavro walk failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => {
            eprintln!("note: no .venv/bin/python (run scripts/setup); skipping the cross-check");
            None
        }
    }
}

#[test]
fn all_snapshots_select_every_file_of_each_fixture_table() {
    for table in TABLES {
        let dir = copy(table);
        let root = dir.path();
        let newest = newest_metadata(root);
        let selection = select(root, None, Snapshots::All).unwrap();
        // The fixture has no orphans: every file on disk belongs to the state.
        assert_eq!(selection.files, on_disk(root), "{table}");
        let current = json(root, &newest)["current-snapshot-id"].to_string();
        assert_eq!(
            selection.snapshot.as_deref(),
            Some(current.as_str()),
            "{table}"
        );
        assert!(selection.pinned.is_empty(), "{table}");
        if let Some((all, _)) = fastavro_expected(root, &newest) {
            assert_eq!(selection.files, all, "{table}");
        }
    }
}

#[test]
fn current_snapshot_is_a_subset_of_all() {
    for table in TABLES {
        let dir = copy(table);
        let root = dir.path();
        let all = select(root, None, Snapshots::All).unwrap();
        let current = select(root, None, Snapshots::Current).unwrap();
        assert!(current.files.is_subset(&all.files), "{table}");
        assert!(current.files.len() < all.files.len(), "{table}");
        assert_eq!(current.snapshot, all.snapshot, "{table}");
        // One manifest list; every metadata file (the chosen one and its log).
        let manifest_lists = current
            .files
            .iter()
            .filter(|path| path.starts_with("metadata/snap-"))
            .count();
        assert_eq!(manifest_lists, 1, "{table}");
        for metadata in metadata_files(root) {
            assert!(current.files.contains(&metadata), "{table}: {metadata}");
        }
        if let Some((_, expected)) = fastavro_expected(root, &newest_metadata(root)) {
            assert_eq!(current.files, expected, "{table}");
        }
    }
}

#[test]
fn fixture_counts() {
    // (table, all, current): pinned so that a regenerated fixture is noticed.
    let cases = [
        ("customers", 18, 15),
        ("events", 43, 38),
        ("orders", 40, 18),
        ("tricky", 15, 14),
    ];
    for (table, all, current) in cases {
        let dir = copy(table);
        let root = dir.path();
        assert_eq!(
            select(root, None, Snapshots::All).unwrap().files.len(),
            all,
            "{table}"
        );
        let selected = select(root, None, Snapshots::Current).unwrap().files.len();
        assert_eq!(selected, current, "{table}");
    }
}

#[test]
fn orphans_and_an_unfinished_commit_are_not_selected() {
    for table in TABLES {
        let dir = copy(table);
        let root = dir.path();
        let before = select(root, None, Snapshots::All).unwrap();
        let newest = newest_metadata(root);
        let manifest = before
            .files
            .iter()
            .find(|path| path.ends_with("-m0.avro"))
            .unwrap()
            .clone();
        let manifest_list = before
            .files
            .iter()
            .find(|path| path.starts_with("metadata/snap-"))
            .unwrap()
            .clone();
        // An in-flight commit: data, a manifest and a manifest list on disk, and its
        // metadata file half written.
        std::fs::write(root.join("data/00000-0-stray.parquet"), b"PAR1").unwrap();
        std::fs::copy(
            root.join(&manifest),
            root.join("metadata/ffffffff-in-flight-m0.avro"),
        )
        .unwrap();
        std::fs::copy(
            root.join(&manifest_list),
            root.join("metadata/snap-1-0-ffffffff-in-flight.avro"),
        )
        .unwrap();
        let text = std::fs::read(root.join(&newest)).unwrap();
        std::fs::write(
            root.join("metadata/99999-in-flight.metadata.json"),
            &text[..text.len() / 2],
        )
        .unwrap();
        std::fs::write(root.join("metadata/88888-empty.metadata.json"), b"").unwrap();

        let after = select(root, None, Snapshots::All).unwrap();
        assert_eq!(after, before, "{table}");
        assert!(
            after.files.contains(&newest),
            "{table}: falls back to {newest}"
        );
    }
}

#[test]
fn a_higher_version_number_wins_regardless_of_name_order() {
    // `00100-…` sorts after `00007-…` both as text and as a number; `100000-…` sorts
    // before `99999` as text but is the higher version.
    let dir = copy("orders");
    let root = dir.path();
    let metadata = metadata_files(root);
    std::fs::copy(
        root.join(&metadata[2]),
        root.join("metadata/100000-a.metadata.json"),
    )
    .unwrap();
    std::fs::copy(
        root.join(&metadata[5]),
        root.join("metadata/99999-b.metadata.json"),
    )
    .unwrap();
    let selection = select(root, None, Snapshots::All).unwrap();
    assert!(selection.files.contains("metadata/100000-a.metadata.json"));
    assert!(!selection.files.contains("metadata/99999-b.metadata.json"));
    // The copy of the 00002 state: its log (00000, 00001), two snapshots.
    let expected_metadata = set(&[
        &metadata[0],
        &metadata[1],
        "metadata/100000-a.metadata.json",
    ]);
    let selected_metadata: BTreeSet<String> = selection
        .files
        .iter()
        .filter(|path| path.ends_with(".metadata.json"))
        .cloned()
        .collect();
    assert_eq!(selected_metadata, expected_metadata);
}

#[test]
fn a_named_older_metadata_file_selects_its_state_only() {
    let dir = copy("orders");
    let root = dir.path();
    let metadata = metadata_files(root);
    let all = select(root, None, Snapshots::All).unwrap();
    let chosen = &metadata[3];
    let name = chosen.strip_prefix("metadata/").unwrap();
    let by_name = select(root, Some(name), Snapshots::All).unwrap();
    let by_path = select(root, Some(chosen), Snapshots::All).unwrap();
    assert_eq!(by_name, by_path);
    assert!(by_name.files.is_subset(&all.files));
    assert!(by_name.files.len() < all.files.len());
    let old_json = json(root, chosen);
    assert_eq!(
        by_name.snapshot.as_deref(),
        Some(old_json["current-snapshot-id"].to_string().as_str())
    );
    // No newer metadata, and exactly the manifest lists of its own snapshots.
    for newer in &metadata[4..] {
        assert!(!by_name.files.contains(newer), "{newer}");
    }
    let own_lists: BTreeSet<String> = old_json["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|snapshot| {
            let uri = snapshot["manifest-list"].as_str().unwrap();
            format!("metadata/{}", uri.rsplit('/').next().unwrap())
        })
        .collect();
    let selected_lists: BTreeSet<String> = by_name
        .files
        .iter()
        .filter(|path| path.starts_with("metadata/snap-"))
        .cloned()
        .collect();
    assert_eq!(selected_lists, own_lists);
    if let Some((expected, _)) = fastavro_expected(root, chosen) {
        assert_eq!(by_name.files, expected);
    }
    let current = select(root, Some(name), Snapshots::Current).unwrap();
    assert!(current.files.is_subset(&by_name.files));
}

#[test]
fn a_named_metadata_file_is_not_replaced_by_a_fallback() {
    let dir = copy("orders");
    let root = dir.path();
    let error = select(root, Some("00042-nope.metadata.json"), Snapshots::All).unwrap_err();
    assert!(
        matches!(&error, Error::Unsupported(message) if message.contains("metadata/00042-nope.metadata.json")),
        "{error}"
    );
    std::fs::write(root.join("metadata/99999-bad.metadata.json"), b"{\"loc").unwrap();
    let error = select(root, Some("99999-bad.metadata.json"), Snapshots::All).unwrap_err();
    assert!(
        matches!(&error, Error::Invalid { path, .. } if path == "metadata/99999-bad.metadata.json"),
        "{error}"
    );
    std::fs::write(root.join("metadata/99998-odd.metadata.json"), b"{\"a\": 1}").unwrap();
    let error = select(root, Some("99998-odd.metadata.json"), Snapshots::All).unwrap_err();
    assert!(error.to_string().contains("location"), "{error}");
}

#[test]
fn a_table_without_snapshots_is_its_metadata_file() {
    let dir = copy("orders");
    let root = dir.path();
    let first = metadata_files(root).remove(0);
    assert!(
        json(root, &first)["snapshots"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for snapshots in [Snapshots::All, Snapshots::Current] {
        let selection = select(root, Some(&first), snapshots).unwrap();
        assert_eq!(selection.files, set(&[&first]));
        assert_eq!(selection.snapshot, None);
    }
}

#[test]
fn a_missing_data_file_is_named() {
    let dir = copy("events");
    let root = dir.path();
    let data = on_disk(root)
        .into_iter()
        .find(|path| path.starts_with("data/") && path.ends_with(".parquet"))
        .unwrap();
    std::fs::remove_file(root.join(&data)).unwrap();
    let error = select(root, None, Snapshots::All).unwrap_err();
    assert!(
        matches!(&error, Error::Missing { path, .. } if *path == data),
        "{error}"
    );
    assert!(error.to_string().contains(&data));
}

#[test]
fn a_missing_manifest_list_or_manifest_is_named() {
    let dir = copy("customers");
    let root = dir.path();
    let current = select(root, None, Snapshots::Current).unwrap();
    for prefix in ["metadata/snap-", "metadata/"] {
        let victim = current
            .files
            .iter()
            .find(|path| path.starts_with(prefix) && path.ends_with(".avro"))
            .unwrap()
            .clone();
        let saved = std::fs::read(root.join(&victim)).unwrap();
        std::fs::remove_file(root.join(&victim)).unwrap();
        let error = select(root, None, Snapshots::Current).unwrap_err();
        assert!(
            matches!(&error, Error::Missing { path, .. } if *path == victim),
            "{error}"
        );
        std::fs::write(root.join(&victim), saved).unwrap();
    }
}

#[test]
fn files_of_expired_snapshots_are_only_needed_for_all() {
    // Expiry deleted the data files only old snapshots read: the current state is
    // complete (a DELETED manifest entry's file is optional), the full history is not.
    let dir = copy("orders");
    let root = dir.path();
    let all = select(root, None, Snapshots::All).unwrap();
    let current = select(root, None, Snapshots::Current).unwrap();
    let expired: Vec<&String> = all
        .files
        .difference(&current.files)
        .filter(|path| path.starts_with("data/"))
        .collect();
    assert!(!expired.is_empty());
    for path in &expired {
        std::fs::remove_file(root.join(path)).unwrap();
    }
    assert_eq!(select(root, None, Snapshots::Current).unwrap(), current);
    let error = select(root, None, Snapshots::All).unwrap_err();
    assert!(matches!(error, Error::Missing { .. }), "{error}");
}

#[test]
fn a_file_written_after_the_listing_counts() {
    let dir = copy("tricky");
    let root = dir.path();
    let expected = select(root, None, Snapshots::All).unwrap();
    let data = expected
        .files
        .iter()
        .find(|path| path.starts_with("data/"))
        .unwrap();
    let bytes = std::fs::read(root.join(data)).unwrap();
    std::fs::remove_file(root.join(data)).unwrap();
    let table = LocalTable::open(root).unwrap();
    assert!(!table.listed().contains(data));
    std::fs::write(root.join(data), bytes).unwrap();
    let selection = iceberg::select("t", &table, None, Snapshots::All).unwrap();
    assert_eq!(selection, expected);
}

#[test]
fn odd_partition_values_are_not_percent_decoded() {
    let dir = copy("tricky");
    let selection = select(dir.path(), None, Snapshots::All).unwrap();
    for directory in [
        "data/category=a+b%3Ac%2Fd%25/",
        "data/category=%C3%BCmlaut/",
        "data/category=semi%3Bcolon%3Deq/",
    ] {
        assert!(
            selection
                .files
                .iter()
                .any(|path| path.starts_with(directory)),
            "{directory}"
        );
    }
}

/// Rewrites every string value that starts with `from` in an Avro file, keeping the
/// writer schema and the header's other keys, with another codec.
fn rewrite_avro(path: &Path, from: &str, to: &str, codec: apache_avro::Codec) {
    fn rewrite(value: AvroValue, from: &str, to: &str) -> AvroValue {
        match value {
            AvroValue::String(text) => match text.strip_prefix(from) {
                Some(rest) => AvroValue::String(format!("{to}{rest}")),
                None => AvroValue::String(text),
            },
            AvroValue::Record(fields) => AvroValue::Record(
                fields
                    .into_iter()
                    .map(|(name, value)| (name, rewrite(value, from, to)))
                    .collect(),
            ),
            AvroValue::Union(index, inner) => {
                AvroValue::Union(index, Box::new(rewrite(*inner, from, to)))
            }
            other => other,
        }
    }
    let bytes = std::fs::read(path).unwrap();
    let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
    let schema = reader.writer_schema().clone();
    let metadata = reader.user_metadata().clone();
    let records: Vec<AvroValue> = reader.map(Result::unwrap).collect();
    let mut writer = apache_avro::Writer::with_codec(&schema, Vec::new(), codec).unwrap();
    for (key, value) in metadata {
        writer.add_user_metadata(key, value).unwrap();
    }
    for record in records {
        writer.append_value(rewrite(record, from, to)).unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}

/// Rewrites every metadata JSON file's paths and `location` from `from` to `to`.
fn rewrite_metadata_json(root: &Path, from: &str, to: &str) {
    for metadata in metadata_files(root) {
        let text = std::fs::read_to_string(root.join(&metadata)).unwrap();
        std::fs::write(root.join(&metadata), text.replace(from, to)).unwrap();
    }
}

#[test]
fn an_s3_location_maps_s3_paths() {
    let dir = copy("orders");
    let root = dir.path();
    let expected = select(root, None, Snapshots::All).unwrap();
    let from = json(root, &newest_metadata(root))["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let to = "s3://bucket/wh/default.db/orders";
    rewrite_metadata_json(root, &from, to);
    for path in &expected.files {
        if path.starts_with("metadata/snap-") {
            rewrite_avro(&root.join(path), &from, to, apache_avro::Codec::Snappy);
        } else if path.ends_with(".avro") {
            // Hadoop's connector spelling, compressed with zstd.
            let codec = apache_avro::Codec::Zstandard(apache_avro::ZstandardSettings::default());
            rewrite_avro(
                &root.join(path),
                &from,
                "s3a://bucket/wh/default.db/orders",
                codec,
            );
        }
    }
    assert_eq!(select(root, None, Snapshots::All).unwrap(), expected);
}

#[test]
fn paths_outside_the_location_are_an_error() {
    let dir = copy("orders");
    let root = dir.path();
    let newest = newest_metadata(root);
    let metadata = json(root, &newest);
    let from = metadata["location"].as_str().unwrap().to_owned();
    let first_list_uri = metadata["snapshots"][0]["manifest-list"].as_str().unwrap();
    let first_list = format!("metadata/{}", first_list_uri.rsplit('/').next().unwrap());
    let files = select(root, None, Snapshots::All).unwrap().files;
    // Everything moves to s3, except that the first snapshot's manifest list points
    // at manifests in another table.
    let to = "s3://bucket/wh/default.db/orders";
    rewrite_metadata_json(root, &from, to);
    for path in files.iter().filter(|path| path.ends_with(".avro")) {
        let target = if *path == first_list {
            "s3://bucket/wh/default.db/elsewhere"
        } else {
            to
        };
        rewrite_avro(&root.join(path), &from, target, apache_avro::Codec::Null);
    }
    let error = select(root, None, Snapshots::All).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("outside the table"), "{message}");
    assert!(
        message.contains("s3://bucket/wh/default.db/elsewhere/metadata/"),
        "{message}"
    );
    assert!(message.contains(&first_list), "{message}");
    // The current snapshot does not read that list.
    select(root, None, Snapshots::Current).unwrap();

    // Only the JSON moved: its first manifest list is outside the location.
    let dir = copy("customers");
    let root = dir.path();
    let newest = newest_metadata(root);
    let mut metadata = json(root, &newest);
    let from = metadata["location"].as_str().unwrap().to_owned();
    metadata["location"] = "s3://bucket/wh/default.db/customers".into();
    std::fs::write(root.join(&newest), metadata.to_string()).unwrap();
    let error = select(root, None, Snapshots::All).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("outside the table"), "{message}");
    assert!(
        message.contains(&format!("{from}/metadata/snap-")),
        "{message}"
    );
}

#[test]
fn location_spellings_are_tolerated() {
    for (table, location) in [
        (
            "tricky",
            "file:/work/main/testdata/warehouse/default.db/tricky/",
        ),
        ("tricky", "/work/main/testdata/warehouse/default.db/tricky"),
    ] {
        let dir = copy(table);
        let root = dir.path();
        let expected = select(root, None, Snapshots::All).unwrap();
        let newest = newest_metadata(root);
        let mut metadata = json(root, &newest);
        assert_eq!(
            metadata["location"],
            "file:///work/main/testdata/warehouse/default.db/tricky"
        );
        metadata["location"] = location.into();
        std::fs::write(root.join(&newest), metadata.to_string()).unwrap();
        assert_eq!(
            select(root, None, Snapshots::All).unwrap(),
            expected,
            "{location}"
        );
    }
}

#[test]
fn a_version_hint_chooses_and_pins_its_version() {
    let dir = copy("customers");
    let root = dir.path();
    let metadata = metadata_files(root);
    let by_name = select(root, Some(&metadata[2]), Snapshots::All).unwrap();
    // A Hadoop-style table: vN.metadata.json and version-hint.text.
    std::fs::copy(
        root.join(&metadata[2]),
        root.join("metadata/v2.metadata.json"),
    )
    .unwrap();
    std::fs::write(root.join("metadata/version-hint.text"), b"2\n").unwrap();
    let selection = select(root, None, Snapshots::All).unwrap();
    let mut expected = by_name.files.clone();
    expected.remove(&metadata[2]);
    expected.insert("metadata/v2.metadata.json".to_owned());
    expected.insert("metadata/version-hint.text".to_owned());
    assert_eq!(selection.files, expected);
    assert_eq!(selection.snapshot, by_name.snapshot);
    assert_eq!(
        selection.pinned,
        vec![("metadata/version-hint.text".to_owned(), b"2\n".to_vec())]
    );
    // A user's choice overrides the hint, which is then not packed.
    let named = select(root, Some(&metadata[2]), Snapshots::All).unwrap();
    assert_eq!(named, by_name);

    // A hint naming a file.
    let name = metadata[1].strip_prefix("metadata/").unwrap();
    std::fs::write(root.join("metadata/version-hint.text"), name).unwrap();
    let selection = select(root, None, Snapshots::All).unwrap();
    assert!(selection.files.contains(&metadata[1]));
    assert!(!selection.files.contains(&metadata[2]));
    assert_eq!(selection.pinned[0].1, name.as_bytes());

    // A hint naming a version that does not exist, or nothing.
    std::fs::write(root.join("metadata/version-hint.text"), b"7").unwrap();
    let error = select(root, None, Snapshots::All).unwrap_err();
    assert!(
        matches!(&error, Error::Missing { path, .. } if path == "metadata/v7.metadata.json"),
        "{error}"
    );
    std::fs::write(root.join("metadata/version-hint.text"), b"seven").unwrap();
    let error = select(root, None, Snapshots::All).unwrap_err();
    assert!(
        matches!(&error, Error::Invalid { path, .. } if path == "metadata/version-hint.text"),
        "{error}"
    );
}

#[test]
fn gzip_metadata_is_read() {
    use std::io::Write as _;
    let dir = copy("events");
    let root = dir.path();
    let newest = newest_metadata(root);
    let expected = select(root, None, Snapshots::All).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&std::fs::read(root.join(&newest)).unwrap())
        .unwrap();
    let compressed = "metadata/00100-gz.gz.metadata.json";
    std::fs::write(root.join(compressed), encoder.finish().unwrap()).unwrap();
    let selection = select(root, None, Snapshots::All).unwrap();
    let mut files = expected.files.clone();
    files.remove(&newest);
    files.insert(compressed.to_owned());
    assert_eq!(selection.files, files);
    assert_eq!(selection.snapshot, expected.snapshot);
}

#[test]
fn an_unreadable_manifest_is_invalid() {
    let dir = copy("events");
    let root = dir.path();
    let manifest = on_disk(root)
        .into_iter()
        .find(|path| path.ends_with("-m0.avro"))
        .unwrap();
    let bytes = std::fs::read(root.join(&manifest)).unwrap();
    std::fs::write(root.join(&manifest), &bytes[..bytes.len() / 2]).unwrap();
    let error = select(root, None, Snapshots::All).unwrap_err();
    assert!(
        matches!(&error, Error::Invalid { path, .. } if *path == manifest),
        "{error}"
    );
}

#[test]
fn not_an_iceberg_table() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/x.parquet"), b"PAR1").unwrap();
    let error = select(dir.path(), None, Snapshots::All).unwrap_err();
    assert!(matches!(error, Error::Unsupported(_)), "{error}");
    // Only an unfinished metadata file: its parse error.
    std::fs::create_dir(dir.path().join("metadata")).unwrap();
    std::fs::write(dir.path().join("metadata/00000-x.metadata.json"), b"{").unwrap();
    let error = select(dir.path(), None, Snapshots::All).unwrap_err();
    assert!(matches!(error, Error::Invalid { .. }), "{error}");
}
