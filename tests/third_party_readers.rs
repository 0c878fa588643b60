//! Every archive our writer makes must open in the standard tools: Info-ZIP `unzip`,
//! `7z`, libarchive's `bsdtar`, Python's `zipfile` and Java's `java.util.zip.ZipFile`
//! (PRODUCT.md: "The archive must stay a valid ZIP that `unzip`, `7z`, `bsdtar`, Python's
//! `zipfile` and Java's `ZipFile` open").
//!
//! Each reader checks CRC-32s and sizes on its own; on top of that, `bsdtar -xOf` must
//! print every member's exact bytes in archive order, and `unzip`/`zipfile` extractions
//! must reproduce the source files byte for byte with their UTF-8 names.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{json_lines, lakezip_bin, lakezip_ok, noise, require_tool, root, run_ok, testdata};
use tempfile::TempDir;

/// One member as `lakezip ls --json` reports it.
#[derive(Debug, Clone)]
struct Listed {
    path: String,
    size: u64,
    mode: Option<String>,
}

/// Every entry of `archive`, in central directory order (our writer's local order too).
fn list(archive: &Path) -> Vec<Listed> {
    json_lines(&lakezip_ok(&["ls", "--json", path_str(archive)]))
        .into_iter()
        .filter(|r| r["type"] == "entry")
        .map(|r| Listed {
            path: r["path"].as_str().expect("entry path").to_owned(),
            size: r["size"].as_u64().expect("entry size"),
            mode: r["mode"].as_str().map(str::to_owned),
        })
        .collect()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Runs a command and returns its raw stdout, asserting success.
fn run_bytes(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A UTF-8 locale, so `unzip` and `bsdtar` print and create non-ASCII names as they are.
fn utf8(cmd: &mut Command) -> &mut Command {
    cmd.env("LC_ALL", "C.UTF-8").env("LANG", "C.UTF-8")
}

/// `unzip -t`: Info-ZIP reads the central directory and checks every CRC-32.
fn unzip_test(archive: &Path) {
    require_tool("unzip", "unzip");
    let out = run_ok(utf8(Command::new("unzip").arg("-tq").arg(archive)));
    assert!(
        out.contains("No errors detected"),
        "unzip -t {}: {out}",
        archive.display()
    );
}

/// `7z t`: 7-Zip's own ZIP reader, CRC-32 of every member.
fn sevenzip_test(archive: &Path, entries: usize) {
    require_tool("7z", "p7zip-full");
    let out = run_ok(utf8(Command::new("7z").arg("t").arg(archive)));
    assert!(
        out.contains("Everything is Ok"),
        "7z t {}: {out}",
        archive.display()
    );
    // 7z prints "Files: N" for more than one file (and nothing for exactly one).
    if entries > 1 {
        assert!(
            out.contains(&format!("Files: {entries}")),
            "7z t {} should count {entries} files: {out}",
            archive.display()
        );
    }
}

/// `python3 -m zipfile -t`: exits 0 even when a member is corrupt, so read its output.
fn python_test(archive: &Path) {
    require_tool("python3", "python3");
    let out = run_ok(
        Command::new("python3")
            .args(["-m", "zipfile", "-t"])
            .arg(archive),
    );
    assert!(
        out.contains("Done testing") && !out.contains("corrupted"),
        "python3 -m zipfile -t {}: {out}",
        archive.display()
    );
}

/// `java tests/java/ZipCheck.java`: java.util.zip.ZipFile, every entry read fully with
/// its CRC-32 and size compared to the central directory.
fn java_test(archive: &Path, entries: usize) {
    require_tool("java", "openjdk-17-jdk-headless");
    let check = root().join("tests/java/ZipCheck.java");
    let out = run_ok(Command::new("java").arg(&check).arg(archive));
    assert_eq!(
        out.trim(),
        format!("ok {entries} entries"),
        "java ZipCheck {}",
        archive.display()
    );
}

/// `bsdtar -xOf`: libarchive prints every member to stdout; the result must be every
/// member's bytes in archive order.
fn bsdtar_test(archive: &Path, expected: &[u8]) {
    require_tool("bsdtar", "libarchive-tools");
    let out = run_bytes(utf8(Command::new("bsdtar").arg("-xOf").arg(archive)));
    assert_eq!(
        out.len(),
        expected.len(),
        "bsdtar -xOf {}: total bytes",
        archive.display()
    );
    assert!(
        out == expected,
        "bsdtar -xOf {}: content differs from the members in archive order",
        archive.display()
    );
}

/// The bytes of every member of `archive` in archive order: source files from `src`,
/// the archive's own `.lakezip/` metadata through `lakezip cat`.
fn members_in_order(archive: &Path, src: &Path, listed: &[Listed]) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in listed {
        let bytes = if entry.path.starts_with(".lakezip/") {
            run_bytes(Command::new(lakezip_bin()).args(["cat", path_str(archive), &entry.path]))
        } else {
            fs::read(src.join(&entry.path))
                .unwrap_or_else(|e| panic!("read source {}: {e}", entry.path))
        };
        assert_eq!(
            bytes.len() as u64,
            entry.size,
            "{}: listed size",
            entry.path
        );
        all.extend(bytes);
    }
    all
}

/// Runs all five third-party readers on `archive`, whose members come from `src`.
fn check_all_readers(archive: &Path, src: &Path) -> Vec<Listed> {
    let listed = list(archive);
    assert!(!listed.is_empty(), "{} lists no entries", archive.display());
    unzip_test(archive);
    sevenzip_test(archive, listed.len());
    python_test(archive);
    java_test(archive, listed.len());
    bsdtar_test(archive, &members_in_order(archive, src, &listed));
    listed
}

/// Every regular file under `dir`, by `/`-separated relative path.
fn files_under(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().into_string().expect("UTF-8 file name");
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                walk(&entry.path(), &relative, out);
            } else {
                out.insert(relative, entry.path());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

/// Asserts that `extracted` holds exactly the files of `src` (plus the archive's own
/// `.lakezip/` metadata), byte for byte.
fn assert_same_files(src: &Path, extracted: &Path, tool: &str) {
    let want = files_under(src);
    let got = files_under(extracted);
    let got_sources: Vec<&String> = got.keys().filter(|k| !k.starts_with(".lakezip/")).collect();
    assert_eq!(
        got_sources,
        want.keys().collect::<Vec<_>>(),
        "{tool}: extracted file names"
    );
    for (name, path) in &want {
        let expected = fs::read(path).expect("read source");
        let actual = fs::read(&got[name]).expect("read extracted");
        assert!(
            expected == actual,
            "{tool}: {name} differs after extraction ({} vs {} bytes)",
            expected.len(),
            actual.len()
        );
    }
}

fn pack(src: &Path, dest: &Path) {
    lakezip_ok(&["pack", path_str(src), "-o", path_str(dest)]);
}

const UMLAUT: &str = "ümlaut/ä.txt";
const JAPANESE: &str = "日本/データ.bin";
const EMPTY: &str = "empty.txt";
const EXECUTABLE: &str = "bin/run.sh";
/// One byte over the writer's in-memory limit (1 MiB): streamed, then its CRC-32 patched
/// into the local header.
const STREAMED: &str = "big/one-mib-plus-one.bin";
const STREAMED_LEN: usize = 1024 * 1024 + 1;

/// The (b) source tree: non-ASCII names, an empty file, an executable, a streamed member.
fn tricky_source(dir: &Path) {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, bytes).expect("write source file");
    };
    write(UMLAUT, "Grüße aus München\n".as_bytes());
    write(JAPANESE, &noise(4096, 7));
    write(EMPTY, b"");
    write(EXECUTABLE, b"#!/bin/sh\necho lakezip\n");
    fs::set_permissions(dir.join(EXECUTABLE), fs::Permissions::from_mode(0o755))
        .expect("chmod 0755");
    fs::set_permissions(dir.join(UMLAUT), fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    write(STREAMED, &noise(STREAMED_LEN, 42));
}

#[test]
fn warehouse_archive_passes_every_third_party_reader() {
    let tmp = TempDir::new().expect("tempdir");
    let archive = tmp.path().join("warehouse.zip");
    let src = testdata("warehouse");
    pack(&src, &archive);
    let listed = check_all_readers(&archive, &src);
    let sources = files_under(&src).len();
    assert_eq!(
        listed.len(),
        sources + 2,
        "every source file plus manifest and index"
    );
}

#[test]
fn utf8_names_empty_executable_and_streamed_members_pass_every_third_party_reader() {
    let tmp = TempDir::new().expect("tempdir");
    let src = tmp.path().join("src");
    tricky_source(&src);
    let archive = tmp.path().join("tricky.zip");
    pack(&src, &archive);
    let listed = check_all_readers(&archive, &src);

    let by_name: BTreeMap<&str, &Listed> = listed.iter().map(|l| (l.path.as_str(), l)).collect();
    assert_eq!(by_name[STREAMED].size, STREAMED_LEN as u64);
    assert_eq!(by_name[EMPTY].size, 0);
    assert_eq!(by_name[EXECUTABLE].mode.as_deref(), Some("0755"));
    assert!(
        by_name.contains_key(UMLAUT) && by_name.contains_key(JAPANESE),
        "UTF-8 names: {by_name:?}"
    );

    // Info-ZIP: the zipinfo listing shows the UTF-8 names and the 0755 mode…
    let zipinfo = run_ok(utf8(Command::new("unzip").arg("-Z").arg(&archive)));
    for name in [UMLAUT, JAPANESE, EMPTY, STREAMED] {
        assert!(
            zipinfo.contains(name),
            "unzip -Z should show {name:?}:\n{zipinfo}"
        );
    }
    let executable = zipinfo
        .lines()
        .find(|l| l.ends_with(EXECUTABLE))
        .unwrap_or_else(|| panic!("no {EXECUTABLE} in unzip -Z:\n{zipinfo}"));
    assert!(
        executable.starts_with("-rwxr-xr-x"),
        "unzip -Z mode of {EXECUTABLE}: {executable}"
    );

    // …and its extraction reproduces every file, names and mode included.
    let by_unzip = tmp.path().join("unzip-out");
    run_ok(utf8(
        Command::new("unzip")
            .arg("-o")
            .arg("-q")
            .arg(&archive)
            .arg("-d")
            .arg(&by_unzip),
    ));
    assert_same_files(&src, &by_unzip, "unzip");
    let mode = fs::metadata(by_unzip.join(EXECUTABLE))
        .expect("extracted executable")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "unzip keeps the executable bit");

    // Python: names decoded as UTF-8 (flag bit 11 set on exactly the non-ASCII names),
    // sizes as listed, and extractall reproduces every file.
    let by_python = tmp.path().join("python-out");
    let script = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    infos = [{"name": i.filename, "size": i.file_size, "utf8": bool(i.flag_bits & 0x800),
              "mode": (i.external_attr >> 16) & 0o7777} for i in z.infolist()]
    z.extractall(sys.argv[2])
print(json.dumps(infos))
"#;
    let out = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&archive)
            .arg(&by_python),
    );
    let infos: Vec<serde_json::Value> = serde_json::from_str(out.trim()).expect("python JSON");
    let names: Vec<&str> = infos
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        listed.iter().map(|l| l.path.as_str()).collect::<Vec<_>>(),
        "python names, in order"
    );
    for info in &infos {
        let name = info["name"].as_str().expect("name");
        assert_eq!(
            info["utf8"].as_bool(),
            Some(!name.is_ascii()),
            "{name}: UTF-8 flag"
        );
        assert_eq!(
            info["size"].as_u64(),
            Some(by_name[name].size),
            "{name}: python size"
        );
    }
    let python_mode = infos
        .iter()
        .find(|i| i["name"] == EXECUTABLE)
        .expect("executable in python listing");
    assert_eq!(python_mode["mode"].as_u64(), Some(0o755));
    assert_same_files(&src, &by_python, "python zipfile");
}

/// `lakezip pack` with `SOURCE_DATE_EPOCH` set, bypassing `common::lakezip` (which clears it).
fn pack_with_epoch(src: &Path, dest: &Path, epoch: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(lakezip_bin());
    cmd.args(["pack", "--json", path_str(src), "-o", path_str(dest)]);
    match epoch {
        Some(epoch) => cmd.env("SOURCE_DATE_EPOCH", epoch),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let out = run_ok(&mut cmd);
    json_lines(&out)
        .into_iter()
        .find(|r| r["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary record from pack: {out}"))
}

#[test]
fn source_date_epoch_makes_byte_identical_archives_that_readers_accept() {
    let tmp = TempDir::new().expect("tempdir");
    let src = tmp.path().join("src");
    tricky_source(&src);

    let first = tmp.path().join("first.zip");
    let second = tmp.path().join("second-name.zip");
    let first_summary = pack_with_epoch(&src, &first, Some("1700000000"));
    let second_summary = pack_with_epoch(&src, &second, Some("1700000000"));
    let first_bytes = fs::read(&first).expect("read first");
    let second_bytes = fs::read(&second).expect("read second");
    assert!(
        first_bytes == second_bytes,
        "SOURCE_DATE_EPOCH archives differ ({} vs {} bytes)",
        first_bytes.len(),
        second_bytes.len()
    );
    assert_eq!(first_summary["archive_id"], second_summary["archive_id"]);
    check_all_readers(&first, &src);

    // Member times newer than SOURCE_DATE_EPOCH are clamped to it.
    let python = r#"
import sys, zipfile
print(max(i.date_time for i in zipfile.ZipFile(sys.argv[1]).infolist()))
"#;
    let newest = run_ok(Command::new("python3").arg("-c").arg(python).arg(&first));
    assert_eq!(
        newest.trim(),
        "(2023, 11, 14, 22, 13, 20)",
        "newest DOS time is 1700000000 (UTC)"
    );

    // Without SOURCE_DATE_EPOCH every pack gets a fresh archive id.
    let third = pack_with_epoch(&src, &tmp.path().join("third.zip"), None);
    let fourth = pack_with_epoch(&src, &tmp.path().join("fourth.zip"), None);
    let (third_id, fourth_id) = (third["archive_id"].as_str(), fourth["archive_id"].as_str());
    assert!(
        third_id.is_some() && fourth_id.is_some(),
        "archive ids: {third} {fourth}"
    );
    assert_ne!(
        third_id, fourth_id,
        "archives packed without SOURCE_DATE_EPOCH share an id"
    );
    assert_ne!(third_id, first_summary["archive_id"].as_str());
}
