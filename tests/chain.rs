//! Nightly chains: a warehouse evolves through appends, overwrites, deletes, schema
//! changes, Delta checkpoints, vacuum and snapshot expiry (testdata/evolve.py, written by
//! pyiceberg and deltalake), packed after each step with the same command. Every point is
//! then restored — locally, from the in-process S3 server and over HTTP from nginx — and
//! must equal the warehouse at that point file for file, with its tables reading back
//! identical (rows and time travel) in pyiceberg/deltalake. Restores fetch no superseded
//! bytes, and each incremental archive is about the size of what changed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::nginx::Nginx;
use common::s3::S3Server;
use common::{json_lines, lakezip_bin, python, root, run_ok};
use range_reader::RangeSource;
use range_reader::archive::{TableView, open_directory, open_tables, read_manifest};
use range_reader::counting::Counting;
use range_reader::fetch::FetchOptions;
use range_reader::local::LocalFile;
use range_reader::restore::{restore, state_files};

/// A tree's files: relative path → content.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn evolve(args: &[&str]) -> String {
    run_ok(
        Command::new(python())
            .arg(root().join("testdata/evolve.py"))
            .args(args),
    )
}

struct Point {
    id: String,
    files: BTreeMap<String, Vec<u8>>,
    expected: PathBuf,
    archive_bytes: u64,
    changed_bytes: u64,
}

/// The files of `files` (a warehouse's content) that a table state references, plus
/// every file outside tables: what a table-aware pack keeps (orphans — e.g. the manifest
/// lists of expired snapshots — are left out). Restored tables are then read back by
/// pyiceberg/deltalake, which fails if anything a state needs was dropped.
fn referenced(warehouse: &Path, mut files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    use archive_format::manifest::TableFormat;
    use archive_format::table::{SourceFile, plan};
    let sources = files
        .iter()
        .map(|(path, bytes)| SourceFile {
            path: path.clone(),
            size: bytes.len() as u64,
            mtime: 0,
            mode: 0o644,
            held: None,
        })
        .collect();
    for table in plan(sources) {
        let view = table_state::LocalTable::open(warehouse.join(&table.path)).unwrap();
        let selection = match table.format {
            TableFormat::Iceberg => {
                table_state::iceberg::select(&table.path, &view, None, table_state::Snapshots::All)
            }
            TableFormat::Delta => table_state::delta::select(&table.path, &view, None),
            TableFormat::Files => continue,
        }
        .unwrap();
        for file in &table.files {
            let relative = &file.path[table.path.len() + 1..];
            if !selection.files.contains(relative) {
                files.remove(&file.path);
            }
        }
    }
    files
}

/// Runs every step of the evolution, packing after each one into `backups/chain.json`.
fn nightly(work: &Path, steps: usize) -> Vec<Point> {
    let warehouse = work.join("wh");
    let backups = work.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let chain = backups.join("chain.json");
    let mut points: Vec<Point> = Vec::new();
    for step in 1..=steps {
        evolve(&["step", &step.to_string(), warehouse.to_str().unwrap()]);
        let expected = work.join(format!("expected-{step}.json"));
        std::fs::write(
            &expected,
            evolve(&["expected", warehouse.to_str().unwrap()]),
        )
        .unwrap();
        let files = referenced(&warehouse, snapshot(&warehouse));
        let changed_bytes = files
            .iter()
            .filter(|(path, bytes)| {
                points
                    .last()
                    .is_none_or(|p| p.files.get(*path) != Some(bytes))
            })
            .map(|(_, bytes)| bytes.len() as u64)
            .sum();
        // The same command every night; only the archive name changes.
        let archive = backups.join(format!("night-{step}.zip"));
        let out = common::lakezip_ok(&[
            "pack",
            warehouse.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
            "--json",
        ]);
        let records = json_lines(&out);
        let summary = records.iter().find(|r| r["type"] == "summary").unwrap();
        // Table-aware packing leaves out exactly the files no table state references.
        let orphans: u64 = records
            .iter()
            .filter(|r| r["type"] == "table")
            .filter_map(|r| r["orphans"].as_u64())
            .sum();
        assert_eq!(
            orphans as usize,
            snapshot(&warehouse).len() - files.len(),
            "step {step}: orphans reported vs files no state references"
        );
        assert_eq!(
            summary["kind"],
            if step == 1 { "full" } else { "incremental" }
        );
        points.push(Point {
            id: summary["archive_id"].as_str().unwrap().to_owned(),
            files,
            expected,
            archive_bytes: summary["archive_bytes"].as_u64().unwrap(),
            changed_bytes,
        });
    }
    points
}

/// Asserts that `dir` holds exactly `point`'s files and that every table reads back.
fn assert_restored(dir: &Path, point: &Point, step: usize) {
    let got = snapshot(dir);
    let missing: Vec<&String> = point
        .files
        .keys()
        .filter(|k| !got.contains_key(*k))
        .collect();
    let extra: Vec<&String> = got
        .keys()
        .filter(|k| !point.files.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "point {step}: missing {missing:?}, extra {extra:?}"
    );
    for (path, bytes) in &point.files {
        assert!(&got[path] == bytes, "point {step}: {path} differs");
    }
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&point.expected).unwrap()).unwrap();
    for table in expected["tables"]
        .as_object()
        .expect("tables in expected json")
        .keys()
    {
        run_ok(
            Command::new(python())
                .arg(root().join("testdata/table_check.py"))
                .args([
                    "check",
                    dir.to_str().unwrap(),
                    table,
                    point.expected.to_str().unwrap(),
                ]),
        );
    }
}

#[test]
fn every_point_of_a_nightly_chain_restores_exactly() {
    let work = tempfile::tempdir().unwrap();
    let steps: usize = evolve(&["steps"]).trim().parse().unwrap();
    let points = nightly(work.path(), steps);
    let chain = work.path().join("backups/chain.json");
    let listed = json_lines(&common::lakezip_ok(&[
        "ls",
        chain.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(listed.len(), steps);
    let verified = common::lakezip_ok(&["verify", chain.to_str().unwrap()]);
    assert!(verified.starts_with("ok:"), "{verified}");
    for (i, point) in points.iter().enumerate() {
        // An incremental holds what changed, plus its manifest (a few hundred bytes per file
        // of the state) and the end records.
        if i > 0 {
            let overhead = 64 * 1024 + 400 * point.files.len() as u64;
            assert!(
                point.archive_bytes >= point.changed_bytes
                    && point.archive_bytes <= point.changed_bytes + overhead,
                "night {}: archive of {} bytes for {} changed bytes",
                i + 1,
                point.archive_bytes,
                point.changed_bytes
            );
        }
        let dir = work.path().join(format!("restore-{}", i + 1));
        common::lakezip_ok(&[
            "restore",
            chain.to_str().unwrap(),
            "--at",
            &point.id,
            "-C",
            dir.to_str().unwrap(),
        ]);
        assert_restored(&dir, point, i + 1);
    }
    assert_no_superseded_reads(
        work.path(),
        &work.path().join("backups"),
        points.last().unwrap(),
        steps,
    );
}

#[test]
fn restore_resumes_and_refuses_a_non_empty_target() {
    let work = tempfile::tempdir().unwrap();
    let points = nightly(work.path(), 2);
    let chain = work.path().join("backups/chain.json");
    let dir = work.path().join("target");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stranger.txt"), b"not ours").unwrap();
    let out = common::lakezip(&[
        "restore",
        chain.to_str().unwrap(),
        "-C",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    std::fs::remove_file(dir.join("stranger.txt")).unwrap();
    // A first restore, then damage: one file gone, one truncated, the marker of an
    // interrupted run left behind. The rerun fetches only those two and keeps the rest.
    common::lakezip_ok(&[
        "restore",
        chain.to_str().unwrap(),
        "-C",
        dir.to_str().unwrap(),
    ]);
    let (first, second) = {
        let mut names = points[1].files.keys();
        (
            names.next().unwrap().clone(),
            names.next_back().unwrap().clone(),
        )
    };
    std::fs::remove_file(dir.join(&first)).unwrap();
    std::fs::write(dir.join(&second), b"x").unwrap();
    std::fs::write(dir.join(".lakezip-restore"), format!("{}\n", points[1].id)).unwrap();
    let out = json_lines(&common::lakezip_ok(&[
        "restore",
        chain.to_str().unwrap(),
        "-C",
        dir.to_str().unwrap(),
        "--json",
    ]));
    let summary = out.iter().find(|r| r["type"] == "summary").unwrap();
    assert_eq!(summary["fetched"], 2, "{summary}");
    assert_eq!(
        summary["kept"].as_u64().unwrap() + 2,
        summary["files"].as_u64().unwrap()
    );
    assert_restored(&dir, &points[1], 2);
}

#[test]
fn every_point_restores_from_s3_and_over_http() {
    let work = tempfile::tempdir().unwrap();
    let points = nightly(work.path(), 3);
    let backups = work.path().join("backups");
    let last = points.last().unwrap();

    // S3: the chain and its archives under one prefix.
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    for name in std::fs::read_dir(&backups).unwrap() {
        let name = name.unwrap().file_name().into_string().unwrap();
        s3.put_file("lake", &format!("nightly/{name}"), &backups.join(&name));
    }
    // Every point, from S3 and over HTTP (nginx serving the backups folder).
    let nginx = Nginx::start(&backups);
    for (i, point) in points.iter().enumerate() {
        let dir = work.path().join(format!("from-s3-{i}"));
        let mut cmd = Command::new(lakezip_bin());
        s3.apply_env(&mut cmd).args([
            "restore",
            "s3://lake/nightly/chain.json",
            "--at",
            &point.id,
            "-C",
            dir.to_str().unwrap(),
        ]);
        run_ok(&mut cmd);
        assert_restored(&dir, point, i + 1);
        let dir = work.path().join(format!("from-http-{i}"));
        common::lakezip_ok(&[
            "restore",
            &nginx.url_of("chain.json"),
            "--at",
            &point.id,
            "-C",
            dir.to_str().unwrap(),
        ]);
        assert_restored(&dir, point, i + 1);
    }
    assert!(!last.files.is_empty());
}

/// Restores the newest point of the chain in `backups` through counting sources and
/// asserts that no data request touches a member the restored state does not use.
fn assert_no_superseded_reads(work: &Path, backups: &Path, last: &Point, step: usize) {
    let chain: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backups.join("chain.json")).unwrap()).unwrap();
    let archives: Vec<(String, PathBuf)> = chain["archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                backups.join(a["location"].as_str().unwrap()),
            )
        })
        .collect();
    let order: Vec<String> = archives.iter().map(|(id, _)| id.clone()).collect();
    let mut superseded_seen = false;
    let opened: Mutex<Vec<(String, Arc<Counting<LocalFile>>)>> = Mutex::new(Vec::new());
    let open = |id: &str| -> range_reader::Result<Box<dyn RangeSource>> {
        let (_, path) = archives.iter().find(|(a, _)| a == id).unwrap();
        let source = Arc::new(Counting::new(LocalFile::open(path)?));
        opened
            .lock()
            .unwrap()
            .push((id.to_owned(), Arc::clone(&source)));
        Ok(Box::new(source))
    };
    let head = LocalFile::open(&archives.last().unwrap().1).unwrap();
    let TableView::Indexed(_, index) = open_tables(&head).unwrap() else {
        panic!("indexed")
    };
    let state = read_manifest(&head, &index).unwrap();
    let files = state_files(&state, &[]).unwrap();
    let dir = work.join("accounted");
    restore(
        &files,
        &order,
        &open,
        &dir,
        FetchOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_restored(&dir, last, step);
    for (id, source) in opened.lock().unwrap().iter() {
        let path = &archives.iter().find(|(a, _)| a == id).unwrap().1;
        let local = LocalFile::open(path).unwrap();
        let directory = open_directory(&local).unwrap();
        let TableView::Indexed(_, index) = open_tables(&local).unwrap() else {
            panic!("indexed")
        };
        let used: Vec<&str> = files
            .iter()
            .filter(|(_, holder)| holder == id)
            .map(|(f, _)| f.path.as_str())
            .collect();
        let first_used = directory
            .entries()
            .iter()
            .filter(|e| used.contains(&e.name.as_str()))
            .map(|e| e.local_header_offset)
            .min()
            .unwrap_or(0);
        let last_used = directory
            .entries()
            .iter()
            .filter(|e| used.contains(&e.name.as_str()))
            .map(|e| e.local_header_offset)
            .max()
            .unwrap_or(0);
        let superseded: Vec<_> = directory
            .entries()
            .iter()
            .filter(|e| !e.name.starts_with(".lakezip/") && !used.contains(&e.name.as_str()))
            .collect();
        superseded_seen |= superseded
            .iter()
            .any(|e| first_used < e.local_header_offset && e.local_header_offset < last_used);
        // The first request is the tail read; requests past the manifest are metadata.
        for range in source
            .log()
            .iter()
            .skip(1)
            .filter(|r| r.end <= index.manifest.offset)
        {
            for entry in &superseded {
                assert!(
                    range.end <= entry.local_header_offset || range.start >= entry.span_limit,
                    "archive {id}: request {range:?} reads superseded member {}",
                    entry.name
                );
            }
        }
    }
    assert!(
        superseded_seen,
        "the test needs superseded members between used ones"
    );
}

#[test]
fn consolidate_then_prune_keeps_every_kept_point_restorable() {
    let work = tempfile::tempdir().unwrap();
    let points = nightly(work.path(), 3);
    let backups = work.path().join("backups");
    let chain = backups.join("chain.json");
    let chain_arg = chain.to_str().unwrap();
    // Pruning a chain of full + incrementals deletes nothing: the kept points need them all.
    let dry = json_lines(&common::lakezip_ok(&[
        "prune",
        chain_arg,
        "--keep",
        "1",
        "--dry-run",
        "--json",
    ]));
    assert!(dry.iter().all(|r| r["type"] != "delete"), "{dry:?}");
    // A consolidated full archive of the newest point, built from the chain alone (the
    // warehouse is gone), makes the older archives unnecessary.
    std::fs::remove_dir_all(work.path().join("wh")).unwrap();
    let consolidated = backups.join("consolidated.zip");
    common::lakezip_ok(&[
        "consolidate",
        chain_arg,
        "-o",
        consolidated.to_str().unwrap(),
    ]);
    let dry = json_lines(&common::lakezip_ok(&[
        "prune",
        chain_arg,
        "--keep",
        "1",
        "--dry-run",
        "--json",
    ]));
    assert_eq!(
        dry.iter().filter(|r| r["type"] == "delete").count(),
        3,
        "{dry:?}"
    );
    assert!(
        backups.join("night-1.zip").exists(),
        "a dry run deletes nothing"
    );
    common::lakezip_ok(&["prune", chain_arg, "--keep", "1"]);
    for night in 1..=3 {
        assert!(!backups.join(format!("night-{night}.zip")).exists());
    }
    let verified = common::lakezip_ok(&["verify", chain_arg]);
    assert!(verified.starts_with("ok:"), "{verified}");
    let dir = work.path().join("after-prune");
    common::lakezip_ok(&["restore", chain_arg, "-C", dir.to_str().unwrap()]);
    assert_restored(&dir, points.last().unwrap(), 3);
    let unzip = run_ok(Command::new("unzip").args(["-tq", consolidated.to_str().unwrap()]));
    assert!(unzip.contains("No errors"), "{unzip}");
}

#[test]
fn base_full_table_selection_and_a_damaged_chain() {
    let work = tempfile::tempdir().unwrap();
    let points = nightly(work.path(), 2);
    let backups = work.path().join("backups");
    let chain = backups.join("chain.json");
    let chain_arg = chain.to_str().unwrap();
    let warehouse = work.path().join("wh");

    // --full starts a new full archive in the same chain.
    let full = json_lines(&common::lakezip_ok(&[
        "pack",
        warehouse.to_str().unwrap(),
        "-o",
        backups.join("full-again.zip").to_str().unwrap(),
        "--chain",
        chain_arg,
        "--full",
        "--json",
    ]));
    let summary = full.iter().find(|r| r["type"] == "summary").unwrap();
    assert_eq!(summary["kind"], "full");
    assert_eq!(summary["unchanged_files"], 0);

    // --base makes an ad-hoc incremental: nothing changed, so it holds no table files.
    let adhoc = work.path().join("adhoc.zip");
    let records = json_lines(&common::lakezip_ok(&[
        "pack",
        warehouse.to_str().unwrap(),
        "-o",
        adhoc.to_str().unwrap(),
        "--base",
        backups.join("night-2.zip").to_str().unwrap(),
        "--json",
    ]));
    let summary = records.iter().find(|r| r["type"] == "summary").unwrap();
    assert_eq!(summary["kind"], "incremental");
    assert_eq!(summary["files"], 0, "{summary}");
    assert_eq!(
        summary["unchanged_files"].as_u64().unwrap() as usize,
        points[1].files.len()
    );
    // Alone, an incremental cannot be restored: its bytes are elsewhere.
    let out = common::lakezip(&[
        "restore",
        adhoc.to_str().unwrap(),
        "-C",
        work.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("restore it from its chain"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --table restores one table only.
    let dir = work.path().join("one-table");
    common::lakezip_ok(&[
        "restore",
        chain_arg,
        "--table",
        "delta/sales",
        "-C",
        dir.to_str().unwrap(),
    ]);
    let got = snapshot(&dir);
    let expected: Vec<&String> = points[1]
        .files
        .keys()
        .filter(|k| k.starts_with("delta/sales/"))
        .collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), expected);

    // A flipped byte in an archive of the chain fails verify, naming the archive.
    let night2 = backups.join("night-2.zip");
    let mut bytes = std::fs::read(&night2).unwrap();
    bytes[40] ^= 0x55;
    std::fs::write(&night2, bytes).unwrap();
    let out = common::lakezip(&["verify", chain_arg]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("night-2.zip") && stderr.contains("SHA-256"),
        "{stderr}"
    );
    // A missing archive too.
    std::fs::remove_file(&night2).unwrap();
    let out = common::lakezip(&["verify", chain_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}
