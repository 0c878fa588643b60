//! The fixture warehouse through the real binary and back, checked by the tables' own
//! readers: pack `testdata/warehouse`, extract every table (one `extract` per table) into
//! a temporary warehouse, and run `testdata/table_check.py check` on each — pyarrow for
//! Iceberg (paths relocated by the checker), deltalake for Delta — comparing rows and
//! checksums of the current state and of every past snapshot / version with
//! `testdata/expected.json`. Negative controls delete one data file from an extracted
//! Delta table and from an extracted Iceberg table: the checker must then fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn expected_json() -> PathBuf {
    common::testdata("expected.json")
}

/// Table path → format, from `expected.json`.
fn expected_tables() -> BTreeMap<String, String> {
    let expected: Value =
        serde_json::from_slice(&fs::read(expected_json()).expect("read expected.json"))
            .expect("JSON");
    expected["tables"]
        .as_object()
        .expect("tables object")
        .iter()
        .map(|(path, table)| {
            (
                path.clone(),
                table["format"].as_str().expect("format").to_owned(),
            )
        })
        .collect()
}

/// Every regular file under `root`, relative path → bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
            let entry = entry.expect("entry");
            let name = format!(
                "{prefix}{}",
                entry.file_name().to_str().expect("UTF-8 name")
            );
            if entry.file_type().expect("type").is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.insert(name, fs::read(entry.path()).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (path, bytes) in tree(from) {
        let target = to.join(path);
        fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        fs::write(target, bytes).expect("write");
    }
}

/// `python testdata/table_check.py check WAREHOUSE TABLE expected.json`.
fn table_check(warehouse: &Path, table: &str) -> Output {
    Command::new(common::python())
        .arg(common::testdata("table_check.py"))
        .args(["check", utf8(warehouse), table, utf8(&expected_json())])
        .output()
        .expect("run table_check.py")
}

/// Runs `table_check` on several `(warehouse, table)` pairs at once (each takes seconds).
fn table_checks(jobs: &[(PathBuf, String)]) -> Vec<Output> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(warehouse, table)| scope.spawn(move || table_check(warehouse, table)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("checker thread"))
            .collect()
    })
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Decodes `%XX` escapes once (Delta's `add.path` is percent-encoded).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' && at + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).expect("ASCII escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 path")
}

#[test]
fn every_table_reads_back_identical_after_pack_and_extract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = common::testdata("warehouse");
    let archive = dir.path().join("warehouse.zip");
    common::lakezip_ok(&["pack", utf8(&source), "-o", utf8(&archive)]);

    // The archive's Iceberg and Delta tables are exactly the ones expected.json knows.
    let listed = common::json_lines(&common::lakezip_ok(&[
        "ls",
        utf8(&archive),
        "--tables",
        "--json",
    ]));
    let lakezip_tables: BTreeMap<String, String> = listed
        .iter()
        .filter(|t| t["format"] != "files")
        .map(|t| {
            (
                t["path"].as_str().expect("path").to_owned(),
                t["format"].as_str().expect("format").to_owned(),
            )
        })
        .collect();
    let expected = expected_tables();
    assert_eq!(
        lakezip_tables, expected,
        "tables in the archive vs expected.json"
    );
    assert!(expected.contains_key("default.db/orders") && expected.contains_key("delta/sales"));

    // One extraction per table into the same fresh warehouse.
    let restored = dir.path().join("restored");
    for table in expected.keys() {
        common::lakezip_ok(&["extract", utf8(&archive), table, "-C", utf8(&restored)]);
        let got = tree(&restored.join(table));
        let want = tree(&source.join(table));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{table}: file set"
        );
        assert!(
            got == want,
            "{table}: extracted bytes differ from testdata/warehouse"
        );
    }
    let top: BTreeSet<String> = fs::read_dir(&restored)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        top,
        BTreeSet::from(["default.db".to_owned(), "delta".to_owned()]),
        "only tables extracted"
    );

    let jobs: Vec<(PathBuf, String)> = expected
        .keys()
        .map(|t| (restored.clone(), t.clone()))
        .collect();
    for ((_, table), out) in jobs.iter().zip(table_checks(&jobs)) {
        assert!(
            out.status.success(),
            "table_check {table} failed:\n{}",
            describe(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "table_check {table} reported mismatches:\n{}",
            describe(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("ok {table}:")),
            "table_check {table} did not confirm:\n{}",
            describe(&out)
        );
    }
}

/// The checker must notice a missing data file in the extracted copy, so the positive
/// test above can fail.
#[test]
fn table_check_fails_when_a_data_file_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("warehouse.zip");
    common::lakezip_ok(&[
        "pack",
        utf8(&common::testdata("warehouse")),
        "-o",
        utf8(&archive),
    ]);
    let restored = dir.path().join("restored");
    common::lakezip_ok(&[
        "extract",
        utf8(&archive),
        "delta/sales",
        "default.db/orders",
        "-C",
        utf8(&restored),
    ]);

    // Delta: the first file the last commit adds (its path is percent-encoded once).
    let delta = dir.path().join("delta-control");
    copy_tree(&restored.join("delta/sales"), &delta.join("delta/sales"));
    let log = delta.join("delta/sales/_delta_log");
    let last_commit = fs::read_dir(&log)
        .expect("list log")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .max()
        .expect("a commit");
    let added = fs::read_to_string(&last_commit)
        .expect("read commit")
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|action| action["add"]["path"].as_str().map(percent_decode))
        .expect("the last commit adds a file");
    let victim = delta.join("delta/sales").join(&added);
    assert!(
        victim.is_file(),
        "{} exists before deletion",
        victim.display()
    );
    fs::remove_file(&victim).expect("delete data file");

    // Iceberg: any data file of orders (every one is referenced by some snapshot).
    let iceberg = dir.path().join("iceberg-control");
    copy_tree(
        &restored.join("default.db/orders"),
        &iceberg.join("default.db/orders"),
    );
    let data_file = fs::read_dir(iceberg.join("default.db/orders/data"))
        .expect("list data")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .min()
        .expect("a data file");
    fs::remove_file(&data_file).expect("delete data file");

    let jobs = [
        (delta.clone(), "delta/sales".to_owned()),
        (iceberg.clone(), "default.db/orders".to_owned()),
        // Untouched copies pass: the failures above are the deletions' doing.
        (restored.clone(), "delta/sales".to_owned()),
    ];
    let outs = table_checks(&jobs);
    for (out, (table, deleted)) in outs[..2]
        .iter()
        .zip([("delta/sales", &victim), ("default.db/orders", &data_file)])
    {
        assert_eq!(
            out.status.code(),
            Some(1),
            "table_check {table} must fail without a data file:\n{}",
            describe(out)
        );
        // The failure names the deleted file: a mismatch line (Iceberg) or the reader's
        // error (deltalake fails to open the current version).
        let name = deleted
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        assert!(
            describe(out).contains(&name),
            "table_check {table} does not name {name}:\n{}",
            describe(out)
        );
    }
    assert!(
        outs[2].status.success(),
        "the untouched copy passes:\n{}",
        describe(&outs[2])
    );
}
