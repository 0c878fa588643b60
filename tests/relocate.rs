//! `table_state::relocate` end to end, checked by the tables' own readers.
//!
//! Iceberg: the fixture tables are relocated to an intermediate home `OLD` (their files
//! copied there and their paths rewritten), then `OLD` is copied to `NEW` and relocated
//! `OLD=NEW`, and `OLD` is deleted before anything reads `NEW` — so a path left pointing
//! at `OLD` fails instead of silently reading another copy, and nothing reads the original
//! fixture's paths. pyiceberg (`StaticTable.from_metadata`) then reads the current state
//! and every past snapshot, which must match `testdata/expected.json`;
//! `testdata/table_check.py` additionally checks manifest lengths and file sizes; and
//! `absolute_paths` must find every path under `NEW`. The same again for a table born on
//! S3 (`s3://bucket/wh`, relocated to a local home).
//!
//! Delta: the fixture tables hold relative paths (nothing to relocate, and they still
//! read); a copy whose commits were rewritten to absolute paths under a home that does
//! not exist is relocated and read by deltalake at every version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use table_state::relocate::{Relocation, TableKind, absolute_paths, relocate_table};
use table_state::{LocalTable, TableFiles};

/// `warehouse_uri` of `testdata/expected.json`: where the fixture was written.
const FIXTURE_URI: &str = "file:///work/main/testdata/warehouse";

const ICEBERG_TABLES: [&str; 4] = [
    "default.db/customers",
    "default.db/events",
    "default.db/orders",
    "default.db/tricky",
];

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn uri(path: &Path) -> String {
    format!("file://{}", utf8(path))
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("list {}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::create_dir_all(to).unwrap();
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Relocates the table at `dir` in place (writes the returned files); returns how many
/// files changed.
fn relocate_dir(dir: &Path, kind: TableKind, relocation: &Relocation) -> usize {
    let files = LocalTable::open(dir).unwrap();
    let changed = relocate_table(utf8(dir), kind, &files, relocation)
        .unwrap_or_else(|e| panic!("relocate {}: {e}", dir.display()));
    for (name, bytes) in &changed {
        fs::write(dir.join(name), bytes).unwrap();
    }
    changed.len()
}

/// Every absolute path in the table's metadata lies under the table's own directory.
fn assert_all_paths_inside(kind: TableKind, dir: &Path) -> usize {
    let paths = absolute_paths(kind, &LocalTable::open(dir).unwrap()).unwrap();
    let home = uri(dir);
    for path in &paths {
        let inside = path == &home || path.starts_with(&format!("{home}/"));
        assert!(inside, "{path} is outside {home}");
    }
    paths.len()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Reads each Iceberg table under `warehouse` with pyiceberg, from its highest-numbered
/// metadata file, and compares the current state and every snapshot with expected.json.
const PYICEBERG_CHECK: &str = r#"
import json, os, sys
testdata, warehouse, expected_json = sys.argv[1:4]
sys.path.insert(0, testdata)
from table_check import Acc, current_iceberg_metadata
from pyiceberg.table import StaticTable
expected = json.load(open(expected_json))["tables"]
problems = []
for rel in sys.argv[4:]:
    e = expected[rel]
    md_path, _ = current_iceberg_metadata(os.path.join(warehouse, rel))
    table = StaticTable.from_metadata(md_path)
    md = table.metadata
    if md.current_snapshot_id != e["current_snapshot_id"]:
        problems.append(f"{rel}: current snapshot {md.current_snapshot_id}")
    got = Acc().add_table(table.scan().to_arrow()).result()
    if (got["rows"], got["checksum"]) != (e["rows"], e["checksum"]):
        problems.append(f"{rel}: current state {got}")
    if sorted(s.snapshot_id for s in md.snapshots) != sorted(s["snapshot_id"] for s in e["snapshots"]):
        problems.append(f"{rel}: snapshot ids differ")
    for s in e["snapshots"]:
        got = Acc().add_table(table.scan(snapshot_id=s["snapshot_id"]).to_arrow()).result()
        if (got["rows"], got["checksum"]) != (s["rows"], s["checksum"]):
            problems.append(f"{rel}: snapshot {s['snapshot_id']}: {got}")
    print(f"ok {rel}: {len(e['snapshots'])} snapshots", file=sys.stderr)
for p in problems:
    print(p)
sys.stdout.flush()
os._exit(1 if problems else 0)
"#;

fn pyiceberg_check(warehouse: &Path, tables: &[&str]) {
    let out = Command::new(common::python())
        .arg("-c")
        .arg(PYICEBERG_CHECK)
        .arg(common::root().join("testdata"))
        .arg(warehouse)
        .arg(common::testdata("expected.json"))
        .args(tables)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyiceberg check failed: {}",
        describe(&out)
    );
}

/// `testdata/table_check.py check WAREHOUSE TABLE expected.json` (its direct reader also
/// checks that every manifest's size equals the `manifest_length` recorded for it).
fn table_check(warehouse: &Path, table: &str) {
    let out = Command::new(common::python())
        .arg(common::testdata("table_check.py"))
        .args(["check", utf8(warehouse), table])
        .arg(common::testdata("expected.json"))
        .output()
        .expect("run table_check.py");
    assert!(
        out.status.success(),
        "table_check {table}: {}",
        describe(&out)
    );
}

/// Copies the fixture's Iceberg tables to `home` and relocates them from the fixture's
/// location to `home_uri` (which need not be `home`: an S3 location, say).
fn relocated_copy(home: &Path, home_uri: &str) {
    let relocation = Relocation::parse(&format!("{FIXTURE_URI}={home_uri}")).unwrap();
    for table in ICEBERG_TABLES {
        let dir = home.join(table);
        copy_tree(&common::testdata("warehouse").join(table), &dir);
        let changed = relocate_dir(&dir, TableKind::Iceberg, &relocation);
        assert!(changed >= 7, "{table}: only {changed} files changed");
    }
}

/// Copies `from` to `to` and relocates every Iceberg table `from_uri=<to>`.
fn move_home(from: &Path, from_uri: &str, to: &Path) {
    copy_tree(from, to);
    let relocation = Relocation::parse(&format!("{from_uri}={}", uri(to))).unwrap();
    for table in ICEBERG_TABLES {
        relocate_dir(&to.join(table), TableKind::Iceberg, &relocation);
    }
}

#[test]
fn iceberg_tables_read_identically_after_two_relocations() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old-home");
    let new = dir.path().join("new-home");
    relocated_copy(&old, &uri(&old));
    move_home(&old, &uri(&old), &new);
    fs::remove_dir_all(&old).unwrap();

    for table in ICEBERG_TABLES {
        let paths = assert_all_paths_inside(TableKind::Iceberg, &new.join(table));
        assert!(paths >= 7, "{table}: {paths} paths");
    }
    pyiceberg_check(&new, &ICEBERG_TABLES);
    for table in ICEBERG_TABLES {
        table_check(&new, table);
    }
}

#[test]
fn an_iceberg_table_born_on_s3_reads_at_its_local_home() {
    let dir = tempfile::tempdir().unwrap();
    let s3_copy = dir.path().join("s3-copy");
    let home = dir.path().join("home");
    relocated_copy(&s3_copy, "s3://bucket/wh");
    // The copy really points at S3 now.
    let paths = absolute_paths(
        TableKind::Iceberg,
        &LocalTable::open(s3_copy.join("default.db/orders")).unwrap(),
    )
    .unwrap();
    assert!(paths.len() >= 7, "{paths:?}");
    let table_uri = "s3://bucket/wh/default.db/orders";
    assert!(
        paths
            .iter()
            .all(|p| p == table_uri || p.starts_with(&format!("{table_uri}/"))),
        "{paths:?}"
    );

    move_home(&s3_copy, "s3://bucket/wh", &home);
    fs::remove_dir_all(&s3_copy).unwrap();
    for table in ICEBERG_TABLES {
        assert_all_paths_inside(TableKind::Iceberg, &home.join(table));
    }
    pyiceberg_check(&home, &ICEBERG_TABLES);
}

#[test]
fn an_unrelocated_copy_does_not_read_without_its_original_home() {
    // Negative control for the test above: the same copy, not relocated, fails to read
    // once its recorded home is gone.
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old-home");
    let new = dir.path().join("new-home");
    relocated_copy(&old, &uri(&old));
    copy_tree(&old, &new);
    fs::remove_dir_all(&old).unwrap();
    let out = Command::new(common::python())
        .arg("-c")
        .arg(PYICEBERG_CHECK)
        .arg(common::root().join("testdata"))
        .arg(&new)
        .arg(common::testdata("expected.json"))
        .arg("default.db/orders")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
}

/// Rewrites every `add`/`remove` path of the commits under `table` to an absolute URI
/// under `home` (what a shallow clone writes).
fn make_paths_absolute(table: &Path, home: &str) {
    for entry in fs::read_dir(table.join("_delta_log")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut action: serde_json::Value = serde_json::from_str(line).unwrap();
            for kind in ["add", "remove"] {
                if let Some(relative) = action[kind]["path"].as_str() {
                    action[kind]["path"] = format!("{home}/{relative}").into();
                }
            }
            out.push_str(&serde_json::to_string(&action).unwrap());
            out.push('\n');
        }
        fs::write(&path, out).unwrap();
    }
}

#[test]
fn delta_tables_relocate() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh");
    let relocation = Relocation::parse(&format!("{FIXTURE_URI}={}", uri(&warehouse))).unwrap();
    for table in ["delta/sales", "delta/events_log"] {
        let target = warehouse.join(table);
        copy_tree(&common::testdata("warehouse").join(table), &target);
        // Relative paths only: nothing to change, and the copy reads as it is.
        assert_eq!(relocate_dir(&target, TableKind::Delta, &relocation), 0);
        assert_eq!(assert_all_paths_inside(TableKind::Delta, &target), 0);
        table_check(&warehouse, table);
    }

    // Absolute paths under a home that does not exist: relocated, they read again.
    let sales = warehouse.join("delta/sales");
    let gone = dir.path().join("gone/sales");
    make_paths_absolute(&sales, &uri(&gone));
    let files = LocalTable::open(&sales).unwrap();
    // Every data file (each added once, some removed later) appears once.
    let data_files = files
        .listed()
        .iter()
        .filter(|n| n.ends_with(".parquet"))
        .count();
    let paths = absolute_paths(TableKind::Delta, &files).unwrap();
    assert_eq!(paths.len(), data_files, "{paths:?}");
    let relocation = Relocation::parse(&format!("{}={}", uri(&gone), uri(&sales))).unwrap();
    let commits = fs::read_dir(sales.join("_delta_log")).unwrap().count();
    assert_eq!(relocate_dir(&sales, TableKind::Delta, &relocation), commits);
    assert_eq!(
        assert_all_paths_inside(TableKind::Delta, &sales),
        data_files
    );
    table_check(&warehouse, "delta/sales");
}

#[test]
fn delta_with_absolute_paths_fails_to_read_unrelocated() {
    // Negative control: the absolute-path copy does not read while its paths point at
    // the missing home, so the relocation above is what made it readable.
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh");
    let sales = warehouse.join("delta/sales");
    copy_tree(&common::testdata("warehouse/delta/sales"), &sales);
    make_paths_absolute(&sales, &uri(&dir.path().join("gone/sales")));
    let out = Command::new(common::python())
        .arg(common::testdata("table_check.py"))
        .args(["check", utf8(&warehouse), "delta/sales"])
        .arg(common::testdata("expected.json"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
}
