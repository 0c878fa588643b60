//! End-to-end tests of the real `lakezip` binary in temporary directories: overwrite
//! refusals, table extraction from the fixture warehouse, `cat`, `ls`/`info` JSON Lines,
//! `verify` and `extract` on a corrupted copy, symlinks in a source tree, and mtime/mode
//! round trips. Hostile archives written byte by byte are in `tests/hostile.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Every regular file under `root`, relative `/`-separated path → bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
            let entry = entry.expect("dir entry");
            let name = format!(
                "{prefix}{}",
                entry.file_name().to_str().expect("UTF-8 name")
            );
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                assert!(
                    kind.is_file(),
                    "{} is not a regular file",
                    entry.path().display()
                );
                out.insert(name, fs::read(entry.path()).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, "", &mut out);
    }
    out
}

/// Every path (files, directories, links) under `root`, relative.
fn all_paths(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("dir entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            out.insert(name.clone());
            if entry.file_type().expect("file type").is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, "", &mut out);
    out
}

fn warehouse() -> PathBuf {
    common::testdata("warehouse")
}

/// The fixture warehouse's files under `prefix` (`""` for all), keyed by archive path.
fn warehouse_files(prefix: &str) -> BTreeMap<String, Vec<u8>> {
    tree(&warehouse())
        .into_iter()
        .filter(|(path, _)| prefix.is_empty() || path.starts_with(&format!("{prefix}/")))
        .collect()
}

/// Packs the fixture warehouse into `dir/warehouse.zip`.
fn pack_warehouse(dir: &Path) -> PathBuf {
    let archive = dir.join("warehouse.zip");
    common::lakezip_ok(&["pack", utf8(&warehouse()), "-o", utf8(&archive)]);
    archive
}

/// Asserts exit code 1, no panic, and exactly one `lakezip: error:` line on stderr that
/// contains every one of `needles`. Returns the line.
fn assert_fails(out: &Output, needles: &[&str]) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("status {}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit code 1\n{context}"
    );
    assert!(!stderr.contains("panicked"), "panicked\n{context}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line\n{context}");
    assert!(lines[0].starts_with("lakezip: error: "), "{context}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "expected the error to contain {needle:?}\n{context}"
        );
    }
    lines[0].to_owned()
}

#[test]
fn pack_refuses_an_existing_destination_unless_forced() {
    let dir = TempDir::new().expect("tempdir");
    let dest = dir.path().join("out.zip");
    fs::write(&dest, b"precious, not an archive").expect("write");
    let out = common::lakezip(&["pack", utf8(&warehouse()), "-o", utf8(&dest)]);
    assert_fails(&out, &[utf8(&dest), "--force"]);
    assert_eq!(fs::read(&dest).expect("read"), b"precious, not an archive");
    assert_eq!(
        all_paths(dir.path()),
        BTreeSet::from(["out.zip".to_owned()]),
        "no temporary left"
    );

    common::lakezip_ok(&["pack", utf8(&warehouse()), "-o", utf8(&dest), "--force"]);
    assert!(fs::read(&dest).expect("read").starts_with(b"PK\x03\x04"));
    common::lakezip_ok(&["verify", utf8(&dest)]);
}

#[test]
fn extract_refuses_existing_files_unless_forced() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let out_dir = dir.path().join("out");
    common::lakezip_ok(&[
        "extract",
        utf8(&archive),
        "delta/sales",
        "-C",
        utf8(&out_dir),
    ]);
    let before = tree(&out_dir);
    let victim = before
        .keys()
        .find(|p| p.ends_with(".json"))
        .expect("a delta log file")
        .clone();
    fs::write(out_dir.join(&victim), b"local edit").expect("write");

    let out = common::lakezip(&[
        "extract",
        utf8(&archive),
        "delta/sales",
        "-C",
        utf8(&out_dir),
    ]);
    let line = assert_fails(&out, &["exists"]);
    assert!(
        line.contains("delta/sales/"),
        "the error names the existing file: {line}"
    );
    assert_eq!(
        fs::read(out_dir.join(&victim)).expect("read"),
        b"local edit",
        "file untouched"
    );
    let after = tree(&out_dir);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "nothing added"
    );

    common::lakezip_ok(&[
        "extract",
        utf8(&archive),
        "delta/sales",
        "-C",
        utf8(&out_dir),
        "--force",
    ]);
    assert_eq!(tree(&out_dir), before, "--force restores every file");
}

#[test]
fn extract_one_table_writes_exactly_its_files() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    for table in ["default.db/orders", "delta/sales"] {
        let out_dir = dir.path().join(table.replace('/', "_"));
        let stdout = common::lakezip_ok(&[
            "extract",
            utf8(&archive),
            table,
            "-C",
            utf8(&out_dir),
            "--json",
        ]);
        let expected = warehouse_files(table);
        assert!(expected.len() > 10, "{table} has files");
        let got = tree(&out_dir);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{table}: the extracted file set"
        );
        for (path, bytes) in &expected {
            assert!(
                got[path] == *bytes,
                "{table}: {path} differs from testdata/warehouse"
            );
        }
        let summary = common::json_lines(&stdout).pop().expect("a summary record");
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["files"], expected.len());
        assert_eq!(
            summary["bytes"],
            expected.values().map(Vec::len).sum::<usize>()
        );
    }
}

#[test]
fn extract_a_folder_selects_every_table_under_it() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let out_dir = dir.path().join("out");
    common::lakezip_ok(&[
        "extract",
        utf8(&archive),
        "default.db",
        "-C",
        utf8(&out_dir),
    ]);
    let expected = warehouse_files("default.db");
    let tables: BTreeSet<&str> = expected
        .keys()
        .map(|p| p.splitn(3, '/').take(2).last().expect("table"))
        .collect();
    assert_eq!(
        tables,
        BTreeSet::from(["customers", "events", "orders", "tricky"])
    );
    assert_eq!(
        tree(&out_dir),
        expected,
        "exactly default.db's files, byte for byte"
    );
}

#[test]
fn extract_an_unknown_table_fails_naming_it() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let out_dir = dir.path().join("out");
    let out = common::lakezip(&[
        "extract",
        utf8(&archive),
        "default.db/nope",
        "-C",
        utf8(&out_dir),
    ]);
    assert_fails(&out, &["default.db/nope"]);
    assert!(tree(&out_dir).is_empty(), "nothing extracted");
    // A known table next to an unknown one: still refused, still nothing written.
    let out = common::lakezip(&[
        "extract",
        utf8(&archive),
        "delta/sales",
        "delta/nope",
        "-C",
        utf8(&out_dir),
    ]);
    assert_fails(&out, &["delta/nope"]);
    assert!(tree(&out_dir).is_empty(), "nothing extracted");
}

#[test]
fn cat_writes_the_member_unchanged() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let files = warehouse_files("");
    let parquet = files
        .keys()
        .find(|p| p.starts_with("delta/sales/region=x") && p.ends_with(".parquet"));
    let metadata = files
        .keys()
        .find(|p| p.starts_with("default.db/orders/metadata/") && p.ends_with(".metadata.json"));
    for path in [Some(&"README.txt".to_owned()), parquet, metadata]
        .into_iter()
        .map(|p| p.expect("fixture file"))
    {
        let out = common::lakezip(&["cat", utf8(&archive), path]);
        assert!(
            out.status.success(),
            "cat {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == files[path],
            "cat {path}: output differs from the source file"
        );
    }
    let out = common::lakezip(&["cat", utf8(&archive), "default.db/orders/no-such-file"]);
    assert_fails(&out, &["default.db/orders/no-such-file"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn ls_json_lists_every_entry_and_table() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let files = warehouse_files("");

    let entries = common::json_lines(&common::lakezip_ok(&["ls", utf8(&archive), "--json"]));
    assert!(
        entries.iter().all(|e| e["type"] == "entry"),
        "every record is an entry"
    );
    let listed: BTreeMap<String, u64> = entries
        .iter()
        .map(|e| {
            (
                e["path"].as_str().expect("path").to_owned(),
                e["size"].as_u64().expect("size"),
            )
        })
        .collect();
    assert_eq!(listed.len(), entries.len(), "no name listed twice");
    let members: BTreeMap<String, u64> = listed
        .iter()
        .filter(|(p, _)| !p.starts_with(".lakezip/"))
        .map(|(p, s)| (p.clone(), *s))
        .collect();
    let expected: BTreeMap<String, u64> = files
        .iter()
        .map(|(p, b)| (p.clone(), b.len() as u64))
        .collect();
    assert_eq!(
        members, expected,
        "entries = the warehouse's files with their sizes"
    );
    assert!(
        listed.contains_key(".lakezip/manifest.json") && listed.contains_key(".lakezip/index.json")
    );
    for entry in &entries {
        assert_eq!(entry["method"], "stored", "{entry}");
        assert!(
            entry["offset"].is_u64() && entry["crc32"].is_string() && entry["mtime"].is_string(),
            "{entry}"
        );
    }

    let tables = common::json_lines(&common::lakezip_ok(&[
        "ls",
        utf8(&archive),
        "--tables",
        "--json",
    ]));
    assert!(
        tables.iter().all(|t| t["type"] == "table"),
        "every record is a table"
    );
    let formats: BTreeMap<&str, &str> = tables
        .iter()
        .map(|t| {
            (
                t["path"].as_str().expect("path"),
                t["format"].as_str().expect("format"),
            )
        })
        .collect();
    assert_eq!(formats.len(), tables.len(), "one record per table");
    let expected_formats = BTreeMap::from([
        (".", "files"),
        ("default.db/customers", "iceberg"),
        ("default.db/events", "iceberg"),
        ("default.db/orders", "iceberg"),
        ("default.db/tricky", "iceberg"),
        ("delta/events_log", "delta"),
        ("delta/sales", "delta"),
        ("misc", "files"),
    ]);
    assert_eq!(formats, expected_formats);
    let files_in_tables: u64 = tables
        .iter()
        .map(|t| t["files"].as_u64().expect("files"))
        .sum();
    assert_eq!(
        files_in_tables,
        files.len() as u64,
        "every file belongs to one table"
    );
    for table in &tables {
        let path = table["path"].as_str().expect("path");
        let expected_bytes: usize = if path == "." {
            files
                .iter()
                .filter(|(p, _)| !p.contains('/'))
                .map(|(_, b)| b.len())
                .sum()
        } else {
            warehouse_files(path).values().map(Vec::len).sum()
        };
        assert_eq!(table["bytes"], expected_bytes, "{path}");
    }
    // Delta versions are the last commit of each fixture table.
    let snapshot =
        |path: &str| tables.iter().find(|t| t["path"] == path).expect("table")["snapshot"].clone();
    assert_eq!(snapshot("delta/sales"), "7");
    assert_eq!(snapshot("delta/events_log"), "18");
}

#[test]
fn info_json_describes_the_archive() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let files = warehouse_files("");
    let records = common::json_lines(&common::lakezip_ok(&["info", utf8(&archive), "--json"]));
    let head = &records[0];
    assert_eq!(head["type"], "archive");
    assert_eq!(head["lakezip"], true);
    assert_eq!(head["kind"], "full");
    assert_eq!(head["tables"], 8);
    assert_eq!(head["files"], files.len());
    assert_eq!(head["bytes"], files.values().map(Vec::len).sum::<usize>());
    assert_eq!(
        head["entries"],
        files.len() + 2,
        "files plus manifest and index"
    );
    assert_eq!(
        head["archive_bytes"],
        fs::metadata(&archive).expect("stat").len()
    );
    assert!(
        head["archive_id"].as_str().is_some_and(|id| id.len() >= 32),
        "{head}"
    );
    let tables: Vec<&Value> = records[1..].iter().collect();
    assert_eq!(tables.len(), 8);
    assert!(tables.iter().all(|t| t["type"] == "table"));
}

/// Copies `archive` to `dir/corrupt.zip` with one byte of `member`'s data flipped, found
/// through `ls --json` (`offset`) and the local header's name and extra lengths.
fn corrupt_copy(archive: &Path, member: &str, dir: &Path) -> PathBuf {
    let entries = common::json_lines(&common::lakezip_ok(&["ls", utf8(archive), "--json"]));
    let entry = entries
        .iter()
        .find(|e| e["path"] == member)
        .expect("member listed");
    let offset = entry["offset"].as_u64().expect("offset") as usize;
    let size = entry["compressed_size"].as_u64().expect("size") as usize;
    let mut bytes = fs::read(archive).expect("read archive");
    assert_eq!(
        &bytes[offset..offset + 4],
        b"PK\x03\x04",
        "a local header at the listed offset"
    );
    let name_len = u16::from_le_bytes([bytes[offset + 26], bytes[offset + 27]]) as usize;
    let extra_len = u16::from_le_bytes([bytes[offset + 28], bytes[offset + 29]]) as usize;
    let data = offset + 30 + name_len + extra_len;
    assert_eq!(
        &bytes[data..data + size],
        &fs::read(warehouse().join(member)).expect("source")[..]
    );
    bytes[data + size / 2] ^= 0x01;
    let copy = dir.join("corrupt.zip");
    fs::write(&copy, bytes).expect("write copy");
    copy
}

#[test]
fn verify_and_extract_catch_one_flipped_byte() {
    let dir = TempDir::new().expect("tempdir");
    let archive = pack_warehouse(dir.path());
    let verified = common::lakezip_ok(&["verify", utf8(&archive), "--json"]);
    let summary = common::json_lines(&verified).pop().expect("summary");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["files_verified"], warehouse_files("").len() + 2);

    let files = warehouse_files("default.db/orders");
    let member = files
        .keys()
        .find(|p| p.contains("/data/") && p.ends_with(".parquet"))
        .expect("an orders data file")
        .clone();
    let corrupt = corrupt_copy(&archive, &member, dir.path());

    let out = common::lakezip(&["verify", utf8(&corrupt)]);
    assert_eq!(out.status.code(), Some(1), "verify fails");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one problem: {stdout}");
    assert!(
        errors[0].contains(&member) && errors[0].contains("crc-32 mismatch"),
        "{stdout}"
    );
    let out = common::lakezip(&["verify", utf8(&corrupt), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let records = common::json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(records.iter().any(
        |r| r["type"] == "error" && r["message"].as_str().is_some_and(|m| m.contains(&member))
    ));
    assert_eq!(records.last().expect("summary")["ok"], false);

    // The whole archive, and just the table: exit 1 naming the member, nothing at its
    // final path, no temporary left behind.
    for selection in [None, Some("default.db/orders")] {
        let out_dir = dir.path().join(format!("out-{}", selection.is_some()));
        let mut args = vec!["extract", utf8(&corrupt)];
        args.extend(selection);
        args.extend(["-C", utf8(&out_dir)]);
        let out = common::lakezip(&args);
        assert_fails(&out, &[&member, "crc-32 mismatch"]);
        assert!(
            !out_dir.join(&member).exists(),
            "{member} must not be at its final path"
        );
        let leftovers: Vec<String> = all_paths(&out_dir)
            .into_iter()
            .filter(|p| p.contains(".lakezip-partial-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        // Whatever was written before the bad member is complete and right.
        for (path, bytes) in tree(&out_dir) {
            assert!(
                files.get(&path).or(warehouse_files("").get(&path)) == Some(&bytes),
                "{path} is wrong"
            );
        }
    }
}

#[test]
fn pack_refuses_a_symlink_in_the_source() {
    let dir = TempDir::new().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("table")).expect("mkdir");
    fs::write(src.join("table/a.txt"), b"a").expect("write");
    symlink("a.txt", src.join("table/link.txt")).expect("symlink");
    let dest = dir.path().join("out.zip");
    let out = common::lakezip(&["pack", utf8(&src), "-o", utf8(&dest)]);
    assert_fails(&out, &["table/link.txt", "symbolic link"]);
    assert!(!dest.exists(), "no archive written");
    assert_eq!(
        all_paths(dir.path()),
        BTreeSet::from([
            "src".to_owned(),
            "src/table".to_owned(),
            "src/table/a.txt".to_owned(),
            "src/table/link.txt".to_owned()
        ])
    );
}

/// `.lakezip/` at the top of an archive holds its own metadata, and readers treat every
/// member there as such: a source file there would vanish on extract, so pack refuses it
/// (found by the roundtrip fuzz target).
#[test]
fn pack_refuses_source_files_under_the_reserved_folder() {
    let dir = TempDir::new().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join(".lakezip")).expect("mkdir");
    fs::write(src.join("a.txt"), b"a").expect("write");
    fs::write(src.join(".lakezip/notes.txt"), b"mine").expect("write");
    let dest = dir.path().join("out.zip");
    for extra in [&[][..], &["--all-files"][..]] {
        let mut args = vec!["pack", utf8(&src), "-o", utf8(&dest)];
        args.extend_from_slice(extra);
        let out = common::lakezip(&args);
        assert_fails(&out, &[".lakezip/notes.txt", "reserved"]);
        assert!(!dest.exists(), "no archive written");
        let leftovers: Vec<String> = all_paths(dir.path())
            .into_iter()
            .filter(|p| p.starts_with("out") || p.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// A Delta checkpoint that makes the `parquet` crate panic (found by the delta_actions
/// fuzz target): pack names the file in one error line instead of crashing.
#[test]
fn pack_names_a_corrupt_delta_checkpoint() {
    let dir = TempDir::new().expect("tempdir");
    let table = dir.path().join("src/sales");
    // The fuzz input: (name length u8, name, content length u32 LE, content)…
    let input = fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_regressions/delta_actions/parquet-byte-array-length-prefix-panic"),
    )
    .expect("fuzz input");
    let mut rest = &input[..];
    let mut written = 0;
    while let Some((&name_len, after)) = rest.split_first() {
        let name_len = usize::from(name_len);
        let len_at = name_len + 4;
        if after.len() < len_at {
            break;
        }
        let name = std::str::from_utf8(&after[..name_len]).expect("name");
        let len = u32::from_le_bytes(after[name_len..len_at].try_into().expect("4 bytes")) as usize;
        if after.len() < len_at + len {
            break;
        }
        let path = table.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, &after[len_at..len_at + len]).expect("write");
        written += 1;
        rest = &after[len_at + len..];
    }
    assert_eq!(written, 3, "checkpoint and two commits");
    let dest = dir.path().join("out.zip");
    let out = common::lakezip(&["pack", utf8(&dir.path().join("src")), "-o", utf8(&dest)]);
    assert_fails(
        &out,
        &["00000000000000000014.checkpoint.parquet", "corrupt Parquet"],
    );
    assert!(!dest.exists(), "no archive written");
}

#[test]
fn mtime_and_mode_survive_pack_and_extract() {
    let dir = TempDir::new().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("bin")).expect("mkdir");
    // (path, mode, mtime): an odd second, which DOS time cannot hold; one before 1980,
    // which DOS time cannot hold either.
    let files = [
        ("bin/run.sh", 0o755, 1_614_834_367u64),
        ("notes.txt", 0o640, 1_700_000_001),
        ("old.txt", 0o600, 86_400 * 365 * 5 + 1),
    ];
    for (path, mode, mtime) in files {
        let full = src.join(path);
        fs::write(&full, path.as_bytes()).expect("write");
        fs::set_permissions(&full, fs::Permissions::from_mode(mode)).expect("chmod");
        fs::File::options()
            .write(true)
            .open(&full)
            .expect("open")
            .set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
            .expect("set mtime");
    }
    let archive = dir.path().join("a.zip");
    common::lakezip_ok(&["pack", utf8(&src), "-o", utf8(&archive)]);
    let out_dir = dir.path().join("out");
    common::lakezip_ok(&["extract", utf8(&archive), "-C", utf8(&out_dir)]);
    for (path, mode, mtime) in files {
        let meta = fs::metadata(out_dir.join(path)).expect("extracted");
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}: mode");
        let got = meta
            .modified()
            .expect("mtime")
            .duration_since(UNIX_EPOCH)
            .expect("after 1970");
        assert_eq!(got.as_secs(), mtime, "{path}: mtime");
        assert_eq!(fs::read(out_dir.join(path)).expect("read"), path.as_bytes());
    }
    let listed = common::json_lines(&common::lakezip_ok(&["ls", utf8(&archive), "--json"]));
    let run = listed
        .iter()
        .find(|e| e["path"] == "bin/run.sh")
        .expect("listed");
    assert_eq!(run["mode"], "0755");
    assert_eq!(run["mtime"], "2021-03-04T05:06:07Z");
}
