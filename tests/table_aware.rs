//! Table-aware packing through the real binary, on copies of the fixture warehouse:
//! orphans are left out and counted (pack, `ls --tables`, `info`), `--all-files` keeps
//! them, `--delta-version` / `--iceberg-metadata` / `--snapshots current` pack an older or
//! smaller state that the reference readers open at exactly that state, a referenced file
//! that is missing is an error naming it, and `extract --relocate` from the fixture's
//! `file:///…` home to a new directory reads back identically (every snapshot) with every
//! path under the new home.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{json_lines, lakezip, lakezip_ok, python, testdata};
use serde_json::Value;

fn utf8(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn warehouse(dir: &Path) -> std::path::PathBuf {
    let wh = dir.join("wh");
    std::fs::create_dir_all(&wh).unwrap();
    copy_tree(&testdata("warehouse"), &wh);
    wh
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(testdata("expected.json")).unwrap()).unwrap()
}

fn tables(stdout: &str) -> Vec<Value> {
    json_lines(stdout)
        .into_iter()
        .filter(|r| r["type"] == "table")
        .collect()
}

fn table<'a>(records: &'a [Value], path: &str) -> &'a Value {
    records.iter().find(|r| r["path"] == path).unwrap()
}

/// Runs python code with the venv (pyiceberg, deltalake) and returns its stdout.
fn py(code: &str) -> String {
    let out = Command::new(python()).args(["-c", code]).output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn orphans_are_left_out_and_counted() {
    let work = tempfile::tempdir().unwrap();
    let wh = warehouse(work.path());
    std::fs::write(
        wh.join("default.db/orders/data/00000-orphan.parquet"),
        b"never committed",
    )
    .unwrap();
    std::fs::write(
        wh.join("default.db/orders/metadata/in-flight-m0.avro"),
        b"half",
    )
    .unwrap();
    std::fs::write(wh.join("delta/sales/part-orphan.parquet"), b"stray").unwrap();
    std::fs::write(wh.join("delta/sales/_delta_log/_commit_x.json.tmp"), b"{}").unwrap();

    let archive = work.path().join("a.zip");
    let packed = tables(&lakezip_ok(&[
        "pack",
        utf8(&wh),
        "-o",
        utf8(&archive),
        "--json",
    ]));
    assert_eq!(table(&packed, "default.db/orders")["orphans"], 2);
    assert_eq!(table(&packed, "delta/sales")["orphans"], 2);
    assert_eq!(table(&packed, "default.db/events")["orphans"], 0);
    for listing in [
        tables(&lakezip_ok(&["ls", utf8(&archive), "--tables", "--json"])),
        tables(&lakezip_ok(&["info", utf8(&archive), "--json"])),
    ] {
        assert_eq!(table(&listing, "default.db/orders")["orphans"], 2);
        assert_eq!(
            table(&listing, "default.db/orders")["orphan_bytes"],
            "never committed".len() + "half".len()
        );
    }
    let text = lakezip_ok(&["ls", utf8(&archive), "--tables"]);
    assert!(text.contains("2 orphans left out"), "{text}");
    let names = lakezip_ok(&["ls", utf8(&archive)]);
    assert!(!names.contains("orphan") && !names.contains("in-flight") && !names.contains(".tmp"));
    // The archive holds exactly what the fixture holds.
    let extracted = work.path().join("x");
    lakezip_ok(&["extract", utf8(&archive), "-C", utf8(&extracted), "-q"]);
    let check = Command::new(python())
        .arg(testdata("table_check.py"))
        .args([
            "check",
            utf8(&extracted),
            "--all",
            utf8(&testdata("expected.json")),
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // --all-files packs the folders as they are.
    let raw = work.path().join("raw.zip");
    let packed = tables(&lakezip_ok(&[
        "pack",
        utf8(&wh),
        "-o",
        utf8(&raw),
        "--all-files",
        "--json",
    ]));
    assert_eq!(table(&packed, "default.db/orders")["orphans"], 0);
    assert!(lakezip_ok(&["ls", utf8(&raw)]).contains("00000-orphan.parquet"));
}

#[test]
fn an_older_or_smaller_state_opens_at_exactly_that_state() {
    let work = tempfile::tempdir().unwrap();
    let wh = warehouse(work.path());
    let exp = expected();
    let orders = &exp["tables"]["default.db/orders"];
    let metadata: Vec<String> = {
        let mut names: Vec<String> = std::fs::read_dir(wh.join("default.db/orders/metadata"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".metadata.json"))
            .collect();
        names.sort();
        names
    };
    // 00003-… is the state after the fourth commit: its current snapshot is the third.
    let older = &metadata[3];
    let archive = work.path().join("old.zip");
    let packed = tables(&lakezip_ok(&[
        "pack",
        utf8(&wh),
        "-o",
        utf8(&archive),
        "--delta-version",
        "delta/sales=3",
        "--iceberg-metadata",
        &format!("default.db/orders={older}"),
        "--json",
    ]));
    assert_eq!(table(&packed, "delta/sales")["snapshot"], "3");
    let dir = work.path().join("old");
    lakezip_ok(&[
        "extract",
        utf8(&archive),
        "delta/sales",
        "default.db/orders",
        "-C",
        utf8(&dir),
        "-q",
    ]);
    // Delta: the reader sees version 3 as the latest, with version 3's rows.
    let sales_v3 = exp["tables"]["delta/sales"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 3)
        .unwrap()["rows"]
        .as_u64()
        .unwrap();
    let out = py(&format!(
        "import os\nfrom deltalake import DeltaTable\nt = DeltaTable({:?})\nprint(t.version(), t.to_pyarrow_table().num_rows)\nimport sys; sys.stdout.flush(); os._exit(0)",
        utf8(&dir.join("delta/sales"))
    ));
    assert_eq!(out.trim(), format!("3 {sales_v3}"));
    assert!(
        std::fs::read_dir(dir.join("delta/sales/_delta_log"))
            .unwrap()
            .all(|e| !e
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with("00000000000000000004")),
        "nothing from later commits"
    );
    // Iceberg: the newest metadata in the extracted table is the one asked for.
    let extracted_meta: Vec<String> = std::fs::read_dir(dir.join("default.db/orders/metadata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".metadata.json"))
        .collect();
    assert!(
        extracted_meta.iter().all(|n| n <= older),
        "{extracted_meta:?}"
    );
    assert!(extracted_meta.contains(older));

    // --snapshots current: the current snapshot's files only; it still reads right.
    let current = work.path().join("current.zip");
    let packed = tables(&lakezip_ok(&[
        "pack",
        utf8(&wh),
        "-o",
        utf8(&current),
        "--snapshots",
        "current",
        "--table",
        "default.db/orders",
        "--json",
    ]));
    let row = table(&packed, "default.db/orders");
    assert!(row["orphans"].as_u64().unwrap() > 0, "{row}");
    assert!(row["files"].as_u64().unwrap() < 40, "{row}");
    let dir = work.path().join("current");
    let relocate = format!(
        "{}=file://{}",
        exp["warehouse_uri"].as_str().unwrap(),
        utf8(&dir)
    );
    lakezip_ok(&[
        "extract",
        utf8(&current),
        "-C",
        utf8(&dir),
        "--relocate",
        &relocate,
        "-q",
    ]);
    let out = py(&format!(
        "import glob\nfrom pyiceberg.table import StaticTable\nm = sorted(glob.glob({:?}))[-1]\nprint(StaticTable.from_metadata(m).scan().to_arrow().num_rows)",
        format!("{}/default.db/orders/metadata/*.metadata.json", utf8(&dir))
    ));
    assert_eq!(out.trim(), orders["rows"].to_string());
}

#[test]
fn a_missing_referenced_file_is_an_error_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let wh = warehouse(work.path());
    let data = wh.join("default.db/customers/data");
    let victim = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".parquet"))
        .unwrap();
    std::fs::remove_file(data.join(&victim)).unwrap();
    let archive = work.path().join("a.zip");
    let out = lakezip(&["pack", utf8(&wh), "-o", utf8(&archive)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&victim) && stderr.contains("missing"),
        "{stderr}"
    );
    assert!(!archive.exists());
}

#[test]
fn relocated_tables_read_identically_at_their_new_home() {
    let work = tempfile::tempdir().unwrap();
    let exp = expected();
    let archive = work.path().join("a.zip");
    lakezip_ok(&[
        "pack",
        utf8(&testdata("warehouse")),
        "-o",
        utf8(&archive),
        "-q",
    ]);
    let home = work.path().join("new home");
    let relocate = format!(
        "{}=file://{}",
        exp["warehouse_uri"].as_str().unwrap(),
        utf8(&home)
    );
    let out = lakezip_ok(&[
        "extract",
        utf8(&archive),
        "-C",
        utf8(&home),
        "--relocate",
        &relocate,
        "--json",
    ]);
    let relocated: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|r| r["type"] == "relocated")
        .collect();
    assert_eq!(
        relocated
            .iter()
            .filter(|r| r["files"].as_u64().unwrap() > 0)
            .count(),
        4,
        "the four Iceberg tables were rewritten: {relocated:?}"
    );
    // Every snapshot of every table reads as the fixture expects…
    let check = Command::new(python())
        .arg(testdata("table_check.py"))
        .args([
            "check",
            utf8(&home),
            "--all",
            utf8(&testdata("expected.json")),
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // …and every path in the Iceberg metadata is under the new home.
    let home_uri = format!("file://{}/", utf8(&home));
    for t in [
        "default.db/orders",
        "default.db/events",
        "default.db/customers",
        "default.db/tricky",
    ] {
        let view = table_state::LocalTable::open(home.join(t)).unwrap();
        for p in
            table_state::relocate::absolute_paths(table_state::relocate::TableKind::Iceberg, &view)
                .unwrap()
        {
            assert!(p.starts_with(&home_uri), "{t}: {p}");
        }
    }
}
