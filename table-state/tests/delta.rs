//! `delta::select` over temp copies of the fixture Delta tables
//! (`testdata/warehouse/delta/*`, written by deltalake 1.6) and small hand-written logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use table_state::{Error, LocalTable, Selection, TableFiles, delta};

/// `events_log`: v0–18 appends (one file each), checkpoint at v14, `_last_checkpoint` → 14.
const EVENTS: &str = "events_log";
/// `sales`: partitioned by region (`east west`, `x:y/z%`), v5 deletes, v6 overwrites north.
const SALES: &str = "sales";

/// The data file `events_log` v18 adds.
const EVENTS_V18_FILE: &str = "part-00000-608a6613-1674-4b94-a443-d8aedbd7ed8c-c000.snappy.parquet";
/// A file `sales` v7 adds (live at the latest version).
const SALES_V7_NORTH: &str =
    "region=north/part-00000-370cbf25-0833-49ca-a143-16950ba4a54d-c000.snappy.parquet";
/// A live file in the partition `x:y/z%` (added by v7).
const SALES_V7_ODD: &str =
    "region=x%3Ay%2Fz%25/part-00000-02fef9f6-53df-49b8-b486-acddb02e898f-c000.snappy.parquet";
/// Files `sales` v0 adds and v5 removes.
const SALES_REMOVED_AT_5: [&str; 2] = [
    "region=south/part-00000-c9ead768-bf14-4fa6-920f-472bbc83efbb-c000.snappy.parquet",
    "region=east%20west/part-00000-7ca1f565-c560-43c7-ae91-392e7e05b8c4-c000.snappy.parquet",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/warehouse/delta")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temp copy of a fixture table.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(name);
    copy_dir(&fixture(name), &root);
    (dir, root)
}

fn select(root: &Path, version: Option<u64>) -> table_state::Result<Selection> {
    let table = LocalTable::open(root).unwrap();
    delta::select("t", &table, version)
}

fn listed(root: &Path) -> BTreeSet<String> {
    LocalTable::open(root).unwrap().listed().clone()
}

fn commit(v: u64) -> String {
    format!("_delta_log/{v:020}.json")
}

fn write(root: &Path, relative: &str, bytes: impl AsRef<[u8]>) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn remove(root: &Path, relative: &str) {
    fs::remove_file(root.join(relative)).unwrap();
}

fn unsupported(result: table_state::Result<Selection>) -> String {
    match result {
        Err(Error::Unsupported(message)) => message,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

fn missing(result: table_state::Result<Selection>) -> String {
    match result {
        Err(Error::Missing { table, path }) => {
            assert_eq!(table, "t");
            path
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn latest_selects_every_file_of_the_fixture_tables() {
    // Neither fixture has orphans: every data file is live or removed-but-not-vacuumed,
    // and every log file is part of the state.
    for (name, latest) in [(EVENTS, "18"), (SALES, "7")] {
        let (_dir, root) = copy(name);
        let selection = select(&root, None).unwrap();
        assert_eq!(selection.snapshot.as_deref(), Some(latest), "{name}");
        assert_eq!(selection.files, listed(&root), "{name}");
        // Explicitly asking for the latest version is the same.
        let explicit = select(&root, Some(latest.parse().unwrap())).unwrap();
        assert_eq!(explicit, selection, "{name}");
    }
}

#[test]
fn last_checkpoint_is_pinned_as_read_now() {
    let (_dir, root) = copy(EVENTS);
    let table = LocalTable::open(&root).unwrap();
    let before = fs::read(root.join("_delta_log/_last_checkpoint")).unwrap();
    // A writer rewrites it after the listing (same size, other content).
    let after = String::from_utf8(before.clone())
        .unwrap()
        .replace("20121", "20122")
        .into_bytes();
    assert_eq!(after.len(), before.len());
    write(&root, "_delta_log/_last_checkpoint", &after);
    let selection = delta::select("t", &table, None).unwrap();
    assert_eq!(
        selection.pinned,
        vec![("_delta_log/_last_checkpoint".to_owned(), after)]
    );
    assert!(selection.files.contains("_delta_log/_last_checkpoint"));
    // A table without checkpoints pins nothing.
    let (_dir, sales) = copy(SALES);
    assert!(select(&sales, None).unwrap().pinned.is_empty());
}

#[test]
fn orphans_are_left_out() {
    let (_dir, root) = copy(SALES);
    let before = listed(&root);
    for stray in [
        "part-00000-stray.snappy.parquet",
        "region=north/part-00000-stray.snappy.parquet",
        // The partition directory as the log spells it (decoded zero times) and decoded
        // twice: neither is the table's.
        "region=east%2520west/part-00000-0de5b104-6b6a-40ea-b502-cb2b41bb1c11-c000.zstd.parquet",
        "region=east west/part-00000-0de5b104-6b6a-40ea-b502-cb2b41bb1c11-c000.zstd.parquet",
        "_delta_log/_commit_8f2a.json.tmp",
        "_delta_log/00000000000000000008.json.tmp",
        "_delta_log/.00000000000000000007.json.crc",
        "_delta_log/_staged_commits/00000000000000000008.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json",
        "_delta_log/_sidecars/unreferenced.parquet",
    ] {
        write(&root, stray, b"stray");
    }
    let selection = select(&root, None).unwrap();
    assert_eq!(selection.snapshot.as_deref(), Some("7"));
    assert_eq!(selection.files, before);
}

#[test]
fn a_commit_written_after_the_listing_is_not_part_of_the_state() {
    let (_dir, root) = copy(EVENTS);
    let table = LocalTable::open(&root).unwrap();
    write(&root, "part-00000-new.snappy.parquet", b"new data");
    write(
        &root,
        &commit(19),
        br#"{"add":{"path":"part-00000-new.snappy.parquet","partitionValues":{},"size":8,"modificationTime":0,"dataChange":true}}"#,
    );
    let selection = delta::select("t", &table, None).unwrap();
    assert_eq!(selection.snapshot.as_deref(), Some("18"));
    assert_eq!(&selection.files, table.listed());
}

#[test]
fn an_older_version_leaves_out_later_commits_files_and_checkpoints() {
    let (_dir, root) = copy(EVENTS);
    let all = listed(&root);

    let v17 = select(&root, Some(17)).unwrap();
    assert_eq!(v17.snapshot.as_deref(), Some("17"));
    let left_out: BTreeSet<String> = all.difference(&v17.files).cloned().collect();
    assert_eq!(
        left_out,
        BTreeSet::from([commit(18), EVENTS_V18_FILE.to_owned()])
    );
    assert_eq!(v17.pinned.len(), 1, "_last_checkpoint (→ 14) still applies");

    // Before the checkpoint: no checkpoint, no _last_checkpoint (it points past 13), no
    // commit or data file of 14–18.
    let v13 = select(&root, Some(13)).unwrap();
    assert!(v13.pinned.is_empty());
    let left_out: BTreeSet<String> = all.difference(&v13.files).cloned().collect();
    assert_eq!(left_out.len(), 5 + 5 + 2, "{left_out:#?}");
    for v in 14..=18 {
        assert!(left_out.contains(&commit(v)));
    }
    assert!(left_out.contains("_delta_log/00000000000000000014.checkpoint.parquet"));
    assert!(left_out.contains("_delta_log/_last_checkpoint"));
    assert_eq!(
        v13.files.iter().filter(|f| f.ends_with(".parquet")).count(),
        14,
        "the 14 data files of v0–13"
    );

    let v0 = select(&root, Some(0)).unwrap();
    assert_eq!(
        v0.files,
        BTreeSet::from([
            commit(0),
            "part-00000-5566855a-102e-445f-a9a5-4f45e73fcf9f-c000.snappy.parquet".to_owned()
        ])
    );

    let too_new = unsupported(select(&root, Some(19)));
    assert_eq!(too_new, "t: version 19 does not exist (the latest is 18)");
}

#[test]
fn time_travel_before_a_delete_keeps_the_files_it_removed() {
    let (_dir, root) = copy(SALES);
    let v4 = select(&root, Some(4)).unwrap();
    for removed in SALES_REMOVED_AT_5 {
        assert!(v4.files.contains(removed), "{removed}");
    }
    assert!(!v4.files.contains(SALES_V7_NORTH));
    assert!(
        !v4.files.iter().any(|f| f.ends_with(".zstd.parquet")),
        "v5 rewrites are later"
    );
    assert_eq!(
        v4.files.iter().filter(|f| f.ends_with(".parquet")).count(),
        20
    );
}

#[test]
fn a_missing_live_file_is_an_error_naming_it() {
    for file in [SALES_V7_NORTH, SALES_V7_ODD] {
        let (_dir, root) = copy(SALES);
        remove(&root, file);
        assert_eq!(missing(select(&root, None)), file);
    }
}

#[test]
fn vacuumed_files_are_optional_unless_live_at_the_version() {
    let (_dir, root) = copy(SALES);
    let before = listed(&root);
    for removed in SALES_REMOVED_AT_5 {
        remove(&root, removed);
    }
    let selection = select(&root, None).unwrap();
    let expected: BTreeSet<String> = before
        .iter()
        .filter(|f| !SALES_REMOVED_AT_5.contains(&f.as_str()))
        .cloned()
        .collect();
    assert_eq!(selection.files, expected);
    // Version 4 cannot be read any more: say which file is gone.
    let path = missing(select(&root, Some(4)));
    assert!(SALES_REMOVED_AT_5.contains(&path.as_str()), "{path}");
}

#[test]
fn commits_cleaned_up_before_a_checkpoint() {
    let (_dir, root) = copy(EVENTS);
    for v in 0..14 {
        remove(&root, &commit(v));
    }
    let latest = select(&root, None).unwrap();
    assert_eq!(latest.snapshot.as_deref(), Some("18"));
    assert_eq!(
        latest.files,
        listed(&root),
        "data files of v0–13 live on via the checkpoint"
    );

    let at_checkpoint = select(&root, Some(14)).unwrap();
    assert!(
        at_checkpoint
            .files
            .contains("_delta_log/00000000000000000014.checkpoint.parquet")
    );
    assert!(!at_checkpoint.files.contains(EVENTS_V18_FILE));

    assert_eq!(
        unsupported(select(&root, Some(3))),
        "t: version 3 cannot be rebuilt: commits 0–3 were cleaned up and no complete checkpoint ≤ 3 exists"
    );
    assert_eq!(
        unsupported(select(&root, Some(0))),
        "t: version 0 cannot be rebuilt: commit 0 was cleaned up and no complete checkpoint ≤ 0 exists"
    );

    // The checkpoint's own commit may go too (older cleanups deleted it).
    remove(&root, &commit(14));
    assert_eq!(select(&root, None).unwrap().files, listed(&root));
    assert_eq!(
        select(&root, Some(14)).unwrap().snapshot.as_deref(),
        Some("14")
    );
}

#[test]
fn a_hole_in_the_log_is_an_error() {
    let (_dir, root) = copy(EVENTS);
    remove(&root, &commit(16));
    assert_eq!(
        unsupported(select(&root, None)),
        "t: version 18 cannot be rebuilt: commit 16 after checkpoint 14 is missing"
    );
    assert_eq!(
        select(&root, Some(15)).unwrap().snapshot.as_deref(),
        Some("15")
    );

    let (_dir, root) = copy(SALES);
    remove(&root, &commit(2));
    remove(&root, &commit(3));
    assert_eq!(
        unsupported(select(&root, None)),
        "t: version 7 cannot be rebuilt: commits 2–3 are missing and no complete checkpoint ≤ 7 exists"
    );
    assert_eq!(
        select(&root, Some(1)).unwrap().snapshot.as_deref(),
        Some("1")
    );
}

#[test]
fn a_directory_without_a_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "part-0.parquet", b"x");
    write(dir.path(), "_delta_log/_commit_0.json.tmp", b"{}");
    assert_eq!(
        unsupported(select(dir.path(), None)),
        "t: no Delta commit or checkpoint in _delta_log/"
    );
}

#[test]
fn a_commit_that_does_not_parse_is_invalid() {
    let (_dir, root) = copy(SALES);
    write(&root, &commit(8), b"{\"add\":\n");
    match select(&root, None) {
        Err(Error::Invalid { path, reason }) => {
            assert_eq!(path, commit(8));
            assert!(reason.starts_with("line 1:"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// A deletion vector file for the protocol's example descriptor.
const DV_FILE: &str = "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin";

/// A hand-written table: a partition value `a b:c` (`k=a%20b%3Ac` on disk, encoded once
/// more in the log), deletion vectors (on disk and inline), a change data file and a
/// tombstone with an absolute path.
fn hand_made() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    let add = |path: &str, dv: &str| {
        format!(
            r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":1,"modificationTime":0,"dataChange":true{dv}}}}}"#
        )
    };
    let remove = |path: &str| format!(r#"{{"remove":{{"path":"{path}","dataChange":true}}}}"#);
    let on_disk_dv = r#","deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":1,"sizeInBytes":40,"cardinality":6}"#;
    let inline_dv = r#","deletionVector":{"storageType":"i","pathOrInlineDv":"wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L","sizeInBytes":40,"cardinality":6}"#;
    write(
        &root,
        &commit(0),
        [
            r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors","changeDataFeed"]}}"#.to_owned(),
            r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":["k"],"configuration":{}}}"#.to_owned(),
            add("k=a%2520b%253Ac/part-0.parquet", ""),
            add("k=plain/part-1.parquet", ""),
        ]
        .join("\n"),
    );
    write(
        &root,
        &commit(1),
        [
            remove("k=plain/part-1.parquet"),
            add("k=plain/part-1.parquet", on_disk_dv),
            r#"{"cdc":{"path":"_change_data/cdc-0.parquet","partitionValues":{},"size":1,"dataChange":false}}"#.to_owned(),
        ]
        .join("\n"),
    );
    write(
        &root,
        &commit(2),
        [
            remove("k=a%2520b%253Ac/part-0.parquet"),
            add("k=a%2520b%253Ac/part-2.parquet", inline_dv),
            remove("s3://elsewhere/old.parquet"),
        ]
        .join("\n")
            + "\n",
    );
    for file in [
        "k=a%20b%3Ac/part-0.parquet",
        "k=a%20b%3Ac/part-2.parquet",
        "k=plain/part-1.parquet",
        DV_FILE,
        "_change_data/cdc-0.parquet",
        // Not the table's: the log's spelling, and decoded twice.
        "k=a%2520b%253Ac/part-2.parquet",
        "k=a b:c/part-2.parquet",
    ] {
        write(&root, file, b"data");
    }
    (dir, root)
}

#[test]
fn hand_made_paths_deletion_vectors_and_change_data() {
    let (_dir, root) = hand_made();
    let latest = select(&root, None).unwrap();
    let expected: BTreeSet<String> = [
        commit(0),
        commit(1),
        commit(2),
        "k=a%20b%3Ac/part-0.parquet".into(),
        "k=a%20b%3Ac/part-2.parquet".into(),
        "k=plain/part-1.parquet".into(),
        DV_FILE.into(),
        "_change_data/cdc-0.parquet".into(),
    ]
    .into();
    assert_eq!(latest.files, expected);

    // The deletion vector and change data file appear at v1.
    let v0 = select(&root, Some(0)).unwrap();
    assert_eq!(
        v0.files,
        BTreeSet::from([
            commit(0),
            "k=a%20b%3Ac/part-0.parquet".into(),
            "k=plain/part-1.parquet".into(),
        ])
    );

    // A live deletion vector is required; the removed file and change data file are not.
    remove(&root, "k=a%20b%3Ac/part-0.parquet");
    remove(&root, "_change_data/cdc-0.parquet");
    assert_eq!(select(&root, None).unwrap().files.len(), expected.len() - 2);
    remove(&root, DV_FILE);
    assert_eq!(missing(select(&root, None)), DV_FILE);
}

#[test]
fn a_live_absolute_path_is_unsupported() {
    let (_dir, root) = hand_made();
    write(
        &root,
        &commit(3),
        r#"{"add":{"path":"s3://bucket/shallow/part-9.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
    );
    let message = unsupported(select(&root, None));
    assert!(
        message.starts_with(
            "t: version 3 references the data file s3://bucket/shallow/part-9.parquet"
        ),
        "{message}"
    );
    assert!(message.contains("use --all-files or relocate"), "{message}");
    // Before it, only a tombstone is absolute: left out.
    assert_eq!(
        select(&root, Some(2)).unwrap().snapshot.as_deref(),
        Some("2")
    );

    write(
        &root,
        &commit(4),
        r#"{"remove":{"path":"s3://bucket/shallow/part-9.parquet","dataChange":true}}
{"add":{"path":"part-10.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true,"deletionVector":{"storageType":"p","pathOrInlineDv":"file:///elsewhere/dv.bin","offset":1,"sizeInBytes":4,"cardinality":1}}}"#,
    );
    write(&root, "part-10.parquet", b"data");
    let message = unsupported(select(&root, None));
    assert!(
        message.starts_with("t: version 4 references the deletion vector file:///elsewhere/dv.bin"),
        "{message}"
    );
}

/// `events_log` with its v14 checkpoint turned into a v2 checkpoint: a UUID-named JSON
/// checkpoint whose file actions are in a sidecar (the classic checkpoint's Parquet, whose
/// `add` rows are what a sidecar holds). Commits before 14 are cleaned up, so the state
/// can only come from the sidecar.
#[test]
fn v2_checkpoint_with_a_sidecar() {
    let (_dir, root) = copy(EVENTS);
    let classic = "_delta_log/00000000000000000014.checkpoint.parquet";
    let sidecar = "_delta_log/_sidecars/3a0d65cd-4056-49b8-937b-95f9e3ee90e5.parquet";
    let checkpoint =
        "_delta_log/00000000000000000014.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json";
    fs::create_dir_all(root.join("_delta_log/_sidecars")).unwrap();
    fs::rename(root.join(classic), root.join(sidecar)).unwrap();
    write(
        &root,
        checkpoint,
        r#"{"checkpointMetadata":{"version":14,"tags":{}}}
{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint"]}}
{"sidecar":{"path":"3a0d65cd-4056-49b8-937b-95f9e3ee90e5.parquet","sizeInBytes":1,"modificationTime":0,"tags":{}}}
"#,
    );
    for v in 0..14 {
        remove(&root, &commit(v));
    }
    write(&root, "_delta_log/_sidecars/unreferenced.parquet", b"old");
    let selection = select(&root, None).unwrap();
    let mut expected = listed(&root);
    expected.remove("_delta_log/_sidecars/unreferenced.parquet");
    assert_eq!(selection.files, expected);
    assert!(selection.files.contains(sidecar) && selection.files.contains(checkpoint));

    remove(&root, sidecar);
    assert_eq!(missing(select(&root, None)), sidecar);
}

// ---------------------------------------------------------------------------------------
// Tables made with Python (pyarrow, deltalake) when /work/main/.venv has them.

/// The project's venv Python with `modules` importable, or `None` (the test is skipped).
fn python(modules: &str) -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: no .venv Python with {modules}");
    }
    ok.then_some(python)
}

fn run_python(python: &Path, script: &str, args: &[&Path]) {
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Checkpoints written with each codec Spark and others use, and split into parts.
#[test]
fn compressed_and_multi_part_checkpoints() {
    let Some(python) = python("pyarrow.parquet") else {
        return;
    };
    let (_dir, root) = copy(EVENTS);
    for v in 0..14 {
        remove(&root, &commit(v));
    }
    let classic = root.join("_delta_log/00000000000000000014.checkpoint.parquet");
    let expected = listed(&root);
    for codec in ["snappy", "zstd", "gzip", "lz4"] {
        run_python(
            &python,
            "import sys, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1])\n\
             pq.write_table(t, sys.argv[1], compression=sys.argv[2])",
            &[&classic, Path::new(codec)],
        );
        assert_eq!(select(&root, None).unwrap().files, expected, "{codec}");
    }

    // Two parts, in small row groups; the classic checkpoint goes.
    let part =
        |k: u32| format!("_delta_log/00000000000000000014.checkpoint.{k:010}.0000000002.parquet");
    run_python(
        &python,
        "import sys, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1])\n\
         pq.write_table(t.slice(0, 9), sys.argv[2], row_group_size=4)\n\
         pq.write_table(t.slice(9), sys.argv[3], row_group_size=4)",
        &[&classic, &root.join(part(1)), &root.join(part(2))],
    );
    fs::remove_file(&classic).unwrap();
    let selection = select(&root, None).unwrap();
    assert_eq!(selection.files, listed(&root));
    assert!(selection.files.contains(&part(1)) && selection.files.contains(&part(2)));
    // With a part missing the checkpoint does not count, and commits 0–13 are gone.
    remove(&root, &part(2));
    assert_eq!(
        unsupported(select(&root, None)),
        "t: version 18 cannot be rebuilt: commits 0–13 were cleaned up and no complete checkpoint ≤ 18 exists"
    );
}

/// Deletion vectors read from a Parquet checkpoint: a live `add` row with an on-disk
/// vector (required) and a tombstone with one (optional).
#[test]
fn deletion_vectors_in_a_checkpoint() {
    let Some(python) = python("pyarrow.parquet") else {
        return;
    };
    let (_dir, root) = copy(EVENTS);
    for v in 0..14 {
        remove(&root, &commit(v));
    }
    let tombstone_dv = "deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin";
    run_python(
        &python,
        r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
path = sys.argv[1]
t = pq.read_table(path)
rows = t.to_pylist()
adds = [r for r in rows if r["add"] is not None]
adds[0]["add"]["deletionVector"] = {"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^",
                                    "offset": 1, "sizeInBytes": 40, "cardinality": 6}
adds[1]["add"]["deletionVector"] = {"storageType": "i", "pathOrInlineDv": "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L",
                                    "offset": None, "sizeInBytes": 40, "cardinality": 6}
tomb = {k: None for k in t.schema.names}
tomb["remove"] = {"path": "part-00000-gone.snappy.parquet", "deletionTimestamp": 1, "dataChange": True,
                  "extendedFileMetadata": False, "partitionValues": None, "size": None, "stats": None,
                  "tags": None, "baseRowId": None, "defaultRowCommitVersion": None,
                  "deletionVector": {"storageType": "u", "pathOrInlineDv": "^-aqEH.-t@S}K{vb[*k^",
                                     "offset": None, "sizeInBytes": 40, "cardinality": 6}}
rows.append(tomb)
pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), path, compression="snappy")
"#,
        &[&root.join("_delta_log/00000000000000000014.checkpoint.parquet")],
    );
    assert_eq!(missing(select(&root, None)), DV_FILE);
    write(&root, DV_FILE, b"dv");
    assert_eq!(select(&root, None).unwrap().files, listed(&root));
    // The tombstone's vector is packed when it exists, and not required.
    write(&root, tombstone_dv, b"dv");
    write(&root, "part-00000-gone.snappy.parquet", b"data");
    assert_eq!(select(&root, None).unwrap().files, listed(&root));
}

/// A table deltalake writes, deletes from, checkpoints, vacuums and cleans up.
#[test]
fn deltalake_checkpoint_vacuum_and_cleanup() {
    let Some(python) = python("deltalake, pyarrow") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    run_python(
        &python,
        r#"
import sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
p = sys.argv[1]
def batch(i):
    return pa.table({"id": pa.array(range(i * 10, i * 10 + 10), pa.int64()),
                     "k": pa.array(["a b:c%" if j % 2 else "plain" for j in range(10)])})
write_deltalake(p, batch(0), mode="append", partition_by=["k"], configuration={
    "delta.logRetentionDuration": "interval 0 seconds",
    "delta.deletedFileRetentionDuration": "interval 0 seconds",
    "delta.enableExpiredLogCleanup": "false"})
for i in range(1, 4):
    write_deltalake(p, batch(i), mode="append")
DeltaTable(p).delete("id < 15")
DeltaTable(p).create_checkpoint()
write_deltalake(p, batch(4), mode="append")
dt = DeltaTable(p)
dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True)
dt.cleanup_metadata()
"#,
        &[&root],
    );
    // v0–3 appends, v4 delete, v5 append, v6–7 vacuum start/end; commits 0–3 cleaned up.
    let selection = select(&root, None).unwrap();
    assert_eq!(selection.snapshot.as_deref(), Some("7"));
    assert_eq!(selection.files, listed(&root));
    assert!(
        listed(&root)
            .iter()
            .any(|f| f.starts_with("k=a%20b%3Ac%25/"))
    );
    assert!(!root.join(commit(0)).exists());
    assert_eq!(
        select(&root, Some(4)).unwrap().snapshot.as_deref(),
        Some("4")
    );
    assert!(unsupported(select(&root, Some(3))).contains("commits 0–3 were cleaned up"));
}
