//! Third-party edge-case zips (`testdata/corpus/`, see testdata/README.md "Corpus") through
//! the real `lakezip` binary and through the sans-io reader core.
//!
//! [`CASES`] lists every corpus file with what `ls`, `extract` and `verify` must do: pass,
//! or fail with exit code 1 and one line holding a given substring. A change of behaviour
//! (a new refusal, a different diagnosis, an archive that starts to open) fails the test
//! naming the file, and a corpus file missing from the table fails too.
//!
//! Passing extractions are compared with the expected contents: yauzl's
//! `success/<name>/` folders, or for the other archives what Python's `zipfile` reads from
//! the same file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use archive_format::read::{DirectoryReader, Opened};
use range_reader::RangeSource;
use range_reader::memory::Memory;
use serde_json::Value;

/// What one command must do with an archive.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Exit 0, nothing on stderr.
    Pass,
    /// Exit 1, one clear line containing this text, no panic.
    Fail(&'static str),
}
use Outcome::{Fail, Pass};

/// One corpus file and what `lakezip ls`, `extract` and `verify` must do with it.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// Path under `testdata/corpus/`.
    file: &'static str,
    ls: Outcome,
    extract: Outcome,
    verify: Outcome,
}

/// Valid and read in full.
const fn ok(file: &'static str) -> Case {
    Case {
        file,
        ls: Pass,
        extract: Pass,
        verify: Pass,
    }
}

/// Refused as soon as the central directory is read: every command fails alike.
const fn refused(file: &'static str, error: &'static str) -> Case {
    Case {
        file,
        ls: Fail(error),
        extract: Fail(error),
        verify: Fail(error),
    }
}

/// The directory is sound, so `ls` lists it (it never reads member data); the member data
/// is refused or corrupt, which `extract` and `verify` must report.
const fn data(file: &'static str, error: &'static str) -> Case {
    Case {
        file,
        ls: Pass,
        extract: Fail(error),
        verify: Fail(error),
    }
}

const ENCRYPTED: &str = "is encrypted; lakezip does not decrypt";
const CONTROL: &str = "contains a control character";

/// Every file under `testdata/corpus/`, with its expected outcome.
const CASES: &[Case] = &[
    // ---- yauzl success/: valid archives (the folder of the same name holds the contents)
    ok("yauzl/success/NtfsTimestamp.zip"),
    ok("yauzl/success/big-compression.zip"),
    ok("yauzl/success/big-uncompressed.zip"),
    data(
        "yauzl/success/bogus-compression-method.zip",
        "compression method 7 not supported",
    ),
    ok("yauzl/success/cygwin-info-zip.zip"),
    ok("yauzl/success/deflate.zip"),
    ok("yauzl/success/directories.zip"),
    ok("yauzl/success/empty.zip"),
    ok("yauzl/success/everything.zip"),
    ok("yauzl/success/linux-info-zip.zip"),
    // yauzl maps `a\txt` to `a/txt`; lakezip refuses backslashes in names by design.
    refused("yauzl/success/sloppy-filenames.zip", "contains a backslash"),
    ok("yauzl/success/streaming.zip"),
    refused(
        "yauzl/success/traditional-encryption-and-compression.zip",
        ENCRYPTED,
    ),
    refused(
        "yauzl/success/traditional-encryption-and-compression_deprecated.zip",
        ENCRYPTED,
    ),
    refused("yauzl/success/traditional-encryption.zip", ENCRYPTED),
    refused(
        "yauzl/success/traditional-encryption_deprecated.zip",
        ENCRYPTED,
    ),
    // UTF-8 flag on a raw name of control bytes, real name in the Info-ZIP Unicode path field.
    ok("yauzl/success/unicode-path-extra-field.zip"),
    ok("yauzl/success/unicode.zip"),
    ok("yauzl/success/unix-epoch.zip"),
    ok("yauzl/success/windows-7-zip.zip"),
    ok("yauzl/success/windows-compressed-folder.zip"),
    ok("yauzl/success/zip64.zip"),
    // ---- yauzl failure/: invalid archives (file name = yauzl's error)
    refused(
        "yauzl/failure/End of central directory record signature not found Either not a zip file or file is truncated.zip",
        "not a zip archive",
    ),
    refused(
        "yauzl/failure/End of central directory record signature not found Either not a zip file or file is truncated_1.zip",
        "not a zip archive",
    ),
    refused(
        "yauzl/failure/Invalid comment length Expected 1 Found 0 Are there extra bytes at the end of the file Or is the end of central dir signature PK in the com.zip",
        "comment length 0 does not match the end of the file",
    ),
    refused(
        "yauzl/failure/absolute path C xt.zip",
        "starts with a drive letter",
    ),
    refused("yauzl/failure/absolute path atxt.zip", "absolute path"),
    refused(
        "yauzl/failure/compressed uncompressed size mismatch for stored file 2147483647 5.zip",
        "has compressed size 2147483647 but uncompressed size 5",
    ),
    refused(
        "yauzl/failure/extra field length exceeds extra field buffer size.zip",
        "declares 12 bytes but only 11 remain",
    ),
    refused(
        "yauzl/failure/file data overflows file bounds 63 2147483647 308.zip",
        "lies outside the member area",
    ),
    refused(
        "yauzl/failure/invalid central directory file header signature 0x1014b50.zip",
        "bad central directory header signature",
    ),
    refused(
        "yauzl/failure/invalid characters in fileName a txt.zip",
        "contains a backslash",
    ),
    data(
        "yauzl/failure/invalid code lengths set.zip",
        "corrupt deflate stream",
    ),
    data(
        "yauzl/failure/invalid local file header signature 0x3034b50.zip",
        "bad local file header signature",
    ),
    refused(
        "yauzl/failure/invalid relative path xt.zip",
        "'..' path component",
    ),
    refused(
        "yauzl/failure/invalid zip64 end of central directory record signature.zip",
        "bad zip64 end of central directory signature",
    ),
    refused(
        "yauzl/failure/multi-disk zip files are not supported found disk number 1.zip",
        "multi-disk zip archives are not supported",
    ),
    data(
        "yauzl/failure/not enough bytes in the stream expected 2048576 got only 1000000.zip",
        "uncompressed size is 1000000 locally, 2048576 centrally",
    ),
    refused(
        "yauzl/failure/strong encryption is not supported.zip",
        ENCRYPTED,
    ),
    data(
        "yauzl/failure/too many bytes in the stream expected 82496 got at least 98304.zip",
        "uncompressed size is 1000000 locally, 82496 centrally",
    ),
    data(
        "yauzl/failure/too many length or distance symbols.zip",
        "corrupt deflate stream",
    ),
    refused(
        "yauzl/failure/unexpected EOF.zip",
        "zip64 extended information extra field does not include uncompressed size",
    ),
    data(
        "yauzl/failure/unsupported compression method 1.zip",
        "compression method 1 not supported",
    ),
    refused(
        "yauzl/failure/zip64 extended information extra field does not include compressed size.zip",
        "does not include compressed size",
    ),
    refused(
        "yauzl/failure/zip64 extended information extra field does not include relative header offset.zip",
        "does not include relative header offset",
    ),
    refused(
        "yauzl/failure/zip64 extended information extra field does not include uncompressed size.zip",
        "does not include uncompressed size",
    ),
    // ---- zip2 tests/data/
    refused("zip2/aes_archive.zip", ENCRYPTED),
    ok("zip2/chinese.zip"),
    // Bytes after the comment: zip2 reads the comment and ignores them; lakezip takes an
    // EOCD whose comment does not end the file as a sign of corruption.
    refused(
        "zip2/comment_garbage.zip",
        "comment length 6 does not match the end of the file",
    ),
    ok("zip2/data_descriptor.zip"),
    refused(
        "zip2/deflate64_issue_25.zip",
        "comment length 22921 does not match the end of the file",
    ),
    ok("zip2/extended_timestamp.zip"),
    refused(
        "zip2/extended_timestamp_bad.zip",
        "extra field 0x1103 declares 13121 bytes",
    ),
    ok("zip2/files_and_dirs.zip"),
    // Plain data behind the encryption flag: zip2 can be told to ignore the flag; lakezip refuses.
    refused("zip2/ignore_encryption_flag.zip", ENCRYPTED),
    data("zip2/implode.zip", "compression method 6 not supported"),
    refused(
        "zip2/invalid_cde_number_of_files_allocation_greater_offset.zip",
        "bad zip64 end of central directory signature",
    ),
    refused(
        "zip2/invalid_cde_number_of_files_allocation_smaller_offset.zip",
        "bad zip64 end of central directory signature",
    ),
    refused(
        "zip2/invalid_offset.zip",
        "does not end where the end records begin",
    ),
    refused(
        "zip2/invalid_offset2.zip",
        "multi-disk zip archives are not supported",
    ),
    ok("zip2/linux-7z.zip"),
    ok("zip2/mimetype.zip"),
    refused(
        "zip2/misaligned_comment.zip",
        "comment length 6 does not match the end of the file",
    ),
    ok("zip2/non_utf8.zip"),
    ok("zip2/ntfs.zip"),
    data("zip2/ppmd.zip", "compression method 98 not supported"),
    refused("zip2/raw_deflate64_index_out_of_bounds.zip", CONTROL),
    data("zip2/reduce.zip", "compression method 5 not supported"),
    data("zip2/shrink.zip", "compression method 1 not supported"),
    // A symlink entry lists and verifies (its CRC is not checked: it is never extracted).
    Case {
        file: "zip2/symlink.zip",
        ls: Pass,
        extract: Fail("\"bar\": it is a symbolic link"),
        verify: Pass,
    },
    ok("zip2/windows-7zip.zip"),
    data("zip2/xz.zip", "compression method 95 not supported"),
    // "Leading junk.\n" before the first local header: every offset is off by 14. lakezip
    // does not guess a shift; the ZIP64 locator then points at no record.
    refused(
        "zip2/zip64_demo.zip",
        "bad zip64 end of central directory signature at offset 112",
    ),
    // Names holding `PK\x06\x06` / `PK\x06\x07` right before the EOCD look like ZIP64 end
    // records; they must be read as the plain archives they are (which then fail on the
    // names' control characters, not on the end records).
    refused("zip2/zip64_magic_in_filename_1.zip", CONTROL),
    refused("zip2/zip64_magic_in_filename_2.zip", CONTROL),
    refused("zip2/zip64_magic_in_filename_3.zip", CONTROL),
    refused("zip2/zip64_magic_in_filename_4.zip", CONTROL),
    refused("zip2/zip64_magic_in_filename_5.zip", CONTROL),
    // ---- made/ (make.py): small archives with methods lakezip refuses
    data("made/bzip2.zip", "compression method 12 not supported"),
    data("made/lzma.zip", "compression method 14 not supported"),
    data("made/deflate64.zip", "compression method 9 not supported"),
];

/// yauzl's expected-content folders, as copied into the shared corpus, spell non-ASCII
/// names in ASCII; these are the names the archives hold.
const TRANSLITERATED: &[(&str, &str)] = &[
    ("Turmion Katilot", "Turmion Kätilöt"),
    ("Mista veri pakenee.mp3", "Mistä veri pakenee.mp3"),
    ("qi ge fangjian.txt", "七个房间.txt"),
];

fn corpus(file: &str) -> PathBuf {
    common::testdata("corpus").join(file)
}

fn all_corpus_zips() -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).expect("list corpus") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "zip") {
                let relative = path.strip_prefix(root).expect("under root");
                out.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    let root = common::testdata("corpus");
    let mut out = BTreeSet::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn every_corpus_file_has_a_case() {
    let listed: BTreeSet<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    assert_eq!(listed.len(), CASES.len(), "a file is listed twice in CASES");
    let on_disk = all_corpus_zips();
    let missing: Vec<_> = on_disk.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "corpus files without a case in CASES: {missing:#?}"
    );
    assert!(
        stale.is_empty(),
        "CASES names files that do not exist: {stale:#?}"
    );
}

/// Checks a command's exit status and output against the expected outcome; returns a
/// description of the mismatch, if any.
fn check_outcome(command: &str, file: &str, expected: Outcome, out: &Output) -> Option<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let describe = |what: &str| {
        format!(
            "{command} {file}: {what}\n  status: {}\n  stdout: {stdout}\n  stderr: {stderr}",
            out.status
        )
    };
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Some(describe("panicked"));
    }
    match expected {
        Pass => {
            if !out.status.success() {
                return Some(describe("expected success"));
            }
            if !stderr.is_empty() {
                return Some(describe("expected nothing on stderr"));
            }
        }
        Fail(text) => {
            if out.status.code() != Some(1) {
                return Some(describe(&format!("expected exit code 1 with {text:?}")));
            }
            // `verify` reports member problems as `error: …` lines on stdout and fails
            // without a stderr line; everything else fails with one `lakezip: error:` line.
            let lines: Vec<&str> = if stderr.is_empty() && command == "verify" {
                stdout
                    .lines()
                    .filter(|l| l.starts_with("error: "))
                    .collect()
            } else {
                stderr.lines().collect()
            };
            if lines.len() != 1 {
                return Some(describe(&format!(
                    "expected exactly one error line, got {}",
                    lines.len()
                )));
            }
            if !lines[0].contains(text) {
                return Some(describe(&format!("expected the error to contain {text:?}")));
            }
            if stderr.lines().count() == 1 && !stderr.starts_with("lakezip: error: ") {
                return Some(describe(
                    "expected the stderr line to start with `lakezip: error: `",
                ));
            }
        }
    }
    None
}

fn assert_no_mismatches(mismatches: Vec<String>) {
    assert!(
        mismatches.is_empty(),
        "{} corpus mismatches:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}

/// What Python's `zipfile` reads from an archive: name, directory flag, size, CRC-32
/// and content (hex, or null when Python cannot read it) of every member, in central
/// directory order. Python ignores the Info-ZIP Unicode path field (0x7075), so the
/// script applies it as Info-ZIP specifies (version 1, CRC-32 of the raw name matching)
/// and, like yauzl, skips fields with an empty name.
fn python_read(archive: &Path) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, struct, sys, zipfile, zlib

def name(info):
    raw = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    extra, at = info.extra, 0
    while at + 4 <= len(extra):
        field, size = struct.unpack_from("<HH", extra, at)
        data = extra[at + 4:at + 4 + size]
        if field == 0x7075 and len(data) > 5 and data[0] == 1 \
                and struct.unpack_from("<I", data, 1)[0] == zlib.crc32(raw):
            return data[5:].decode("utf-8")
        at += 4 + size
    return info.filename

def content(z, info):
    if name(info).endswith("/"):
        return ""
    try:
        return z.read(info).hex()
    except Exception:
        return None

with zipfile.ZipFile(sys.argv[1]) as z:
    print(json.dumps([
        {"name": name(i), "dir": name(i).endswith("/"), "size": i.file_size, "crc32": "%08x" % i.CRC,
         "hex": content(z, i)}
        for i in z.infolist()
    ]))
"#;
    let stdout = common::run_ok(
        Command::new(common::python())
            .arg("-c")
            .arg(SCRIPT)
            .arg(archive),
    );
    serde_json::from_str::<Value>(&stdout)
        .expect("python output is JSON")
        .as_array()
        .expect("a list")
        .clone()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// Files (with bytes, `None` when Python cannot decode them) and directories (member
/// directories and every parent) that Python's `zipfile` reads from `archive`.
fn python_tree(archive: &Path) -> (BTreeMap<String, Option<Vec<u8>>>, BTreeSet<String>) {
    let (mut files, mut dirs) = (BTreeMap::new(), BTreeSet::new());
    for member in python_read(archive) {
        let name = member["name"]
            .as_str()
            .expect("name")
            .trim_end_matches('/')
            .to_owned();
        if member["dir"].as_bool().expect("dir") {
            dirs.insert(name);
        } else {
            files.insert(name, member["hex"].as_str().map(unhex));
        }
    }
    let paths: Vec<String> = files.keys().chain(dirs.iter()).cloned().collect();
    for path in paths {
        let mut parent = path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            dirs.insert(up.to_owned());
            parent = up;
        }
    }
    (files, dirs)
}

/// The expected extraction of a yauzl success archive: files with their bytes, and
/// directories, from its `success/<name>/` folder (yauzl's marker files left out).
fn yauzl_expected(file: &str) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>) {
    fn walk(
        dir: &Path,
        prefix: &str,
        files: &mut BTreeMap<String, Vec<u8>>,
        dirs: &mut BTreeSet<String>,
    ) {
        for entry in fs::read_dir(dir).expect("list expected folder") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let name = TRANSLITERATED
                .iter()
                .find(|(ascii, _)| *ascii == name)
                .map_or(name.clone(), |(_, real)| (*real).to_owned());
            let relative = format!("{prefix}{name}");
            if path.is_dir() {
                dirs.insert(relative.clone());
                walk(&path, &format!("{relative}/"), files, dirs);
            } else if name != ".git_please_make_this_directory"
                && name != ".dont_expect_an_empty_dir_entry_for_this_dir"
            {
                files.insert(relative, fs::read(&path).expect("read expected file"));
            }
        }
    }
    let folder = corpus(file.strip_suffix(".zip").expect(".zip"));
    let (mut files, mut dirs) = (BTreeMap::new(), BTreeSet::new());
    walk(&folder, "", &mut files, &mut dirs);
    (files, dirs)
}

/// Regular files (with bytes) and directories under `root`, as `/`-separated relative paths.
/// Anything else (a symlink, a socket) is reported as a file with a marker content.
fn read_tree(root: &Path) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>) {
    fn walk(
        dir: &Path,
        prefix: &str,
        files: &mut BTreeMap<String, Vec<u8>>,
        dirs: &mut BTreeSet<String>,
    ) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("entry");
            let relative = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                dirs.insert(relative.clone());
                walk(&entry.path(), &format!("{relative}/"), files, dirs);
            } else if kind.is_file() {
                files.insert(
                    relative,
                    fs::read(entry.path()).expect("read extracted file"),
                );
            } else {
                files.insert(relative, b"<not a regular file>".to_vec());
            }
        }
    }
    let (mut files, mut dirs) = (BTreeMap::new(), BTreeSet::new());
    walk(root, "", &mut files, &mut dirs);
    (files, dirs)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn ls_outcomes() {
    let mut mismatches = Vec::new();
    for case in CASES {
        let path = corpus(case.file);
        let out = common::lakezip(&["ls", "--json", path.to_str().expect("utf-8 path")]);
        if let Some(problem) = check_outcome("ls", case.file, case.ls, &out) {
            mismatches.push(problem);
            continue;
        }
        if let Pass = case.ls {
            let records = common::json_lines(&String::from_utf8_lossy(&out.stdout));
            if let Some(bad) = records.iter().find(|r| r["type"] != "entry") {
                mismatches.push(format!(
                    "ls {}: a record that is not an entry: {bad}",
                    case.file
                ));
                continue;
            }
            // Names, sizes and CRCs as an independent reader sees them.
            let ours: Vec<(String, u64, String)> = records
                .iter()
                .map(|r| {
                    (
                        r["path"].as_str().unwrap_or_default().to_owned(),
                        r["size"].as_u64().unwrap_or(u64::MAX),
                        r["crc32"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let python: Vec<(String, u64, String)> = python_read(&path)
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().expect("name").to_owned(),
                        m["size"].as_u64().expect("size"),
                        m["crc32"].as_str().expect("crc").to_owned(),
                    )
                })
                .collect();
            if ours != python {
                mismatches.push(format!(
                    "ls {}: entries differ from Python's zipfile\n  ours:   {ours:?}\n  python: {python:?}",
                    case.file
                ));
            }
        }
    }
    assert_no_mismatches(mismatches);
}

#[test]
fn verify_outcomes() {
    let mut mismatches = Vec::new();
    for case in CASES {
        let path = corpus(case.file);
        let out = common::lakezip(&["verify", path.to_str().expect("utf-8 path")]);
        mismatches.extend(check_outcome("verify", case.file, case.verify, &out));
    }
    assert_no_mismatches(mismatches);
}

type Tree = BTreeMap<String, Vec<u8>>;

/// The extracted tree must be what Python reads: the same files, byte for byte, and the
/// same directories (member directories and parents).
fn compare_with_python(
    file: &str,
    files: &Tree,
    dirs: &BTreeSet<String>,
    python_files: &BTreeMap<String, Option<Vec<u8>>>,
    python_dirs: &BTreeSet<String>,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    let got: BTreeSet<&String> = files.keys().collect();
    let expected: BTreeSet<&String> = python_files.keys().collect();
    if got != expected {
        mismatches.push(format!(
            "extract {file}: files differ from Python's\n  got:    {got:?}\n  python: {expected:?}"
        ));
    }
    for (name, bytes) in files {
        match python_files.get(name) {
            Some(Some(expected)) if expected == bytes => {}
            Some(Some(expected)) => mismatches.push(format!(
                "extract {file}: {name} differs from Python's read ({} bytes, head {}; python {} bytes, head {})",
                bytes.len(),
                hex(&bytes[..bytes.len().min(16)]),
                expected.len(),
                hex(&expected[..expected.len().min(16)]),
            )),
            Some(None) => mismatches.push(format!("extract {file}: extracted {name}, which Python cannot decode")),
            None => {}
        }
    }
    if dirs != python_dirs {
        mismatches.push(format!(
            "extract {file}: directories differ from Python's\n  got:    {dirs:?}\n  python: {python_dirs:?}"
        ));
    }
    mismatches
}

/// Every file of yauzl's expected folder must be extracted with the same bytes, and every
/// directory created. (The shared copy of `everything/` lacks the archive's 1,000 empty
/// files `a/b/000`…`a/b/999`, so extra files are left to the Python comparison.)
fn compare_with_yauzl(file: &str, files: &Tree, dirs: &BTreeSet<String>) -> Vec<String> {
    let (expected_files, expected_dirs) = yauzl_expected(file);
    let mut mismatches = Vec::new();
    for (name, bytes) in &expected_files {
        match files.get(name) {
            Some(got) if got == bytes => {}
            Some(got) => mismatches.push(format!(
                "extract {file}: {name} differs from yauzl's expected file ({} bytes vs {})",
                got.len(),
                bytes.len()
            )),
            None => mismatches.push(format!(
                "extract {file}: {name} (in yauzl's expected folder) was not extracted"
            )),
        }
    }
    for dir in expected_dirs.difference(dirs) {
        mismatches.push(format!(
            "extract {file}: directory {dir} (in yauzl's expected folder) was not created"
        ));
    }
    mismatches
}

/// Paths that hostile names in the corpus aim at; none may exist after the extractions.
const ESCAPE_TARGETS: &[&str] = &["/atxt", "/xt", "/tmp/xt"];

#[test]
fn extract_outcomes_and_contents() {
    for target in ESCAPE_TARGETS {
        assert!(
            !Path::new(target).exists(),
            "{target} exists before the test; remove it"
        );
    }
    let mut mismatches = Vec::new();
    for case in CASES {
        let sandbox = tempfile::tempdir().expect("tempdir");
        let out_dir = sandbox.path().join("out");
        let path = corpus(case.file);
        let out = common::lakezip(&[
            "extract",
            path.to_str().expect("utf-8 path"),
            "-C",
            out_dir.to_str().expect("utf-8 path"),
        ]);
        if let Some(problem) = check_outcome("extract", case.file, case.extract, &out) {
            mismatches.push(problem);
            continue;
        }
        // Nothing outside -C: the sandbox holds only the target directory.
        let outside: Vec<String> = fs::read_dir(sandbox.path())
            .expect("list sandbox")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name != "out")
            .collect();
        if !outside.is_empty() {
            mismatches.push(format!(
                "extract {}: wrote outside -C: {outside:?}",
                case.file
            ));
        }
        let (files, dirs) = read_tree(&out_dir);
        if let Some(partial) = files.keys().find(|f| f.contains(".lakezip-partial-")) {
            mismatches.push(format!(
                "extract {}: left a temporary file {partial}",
                case.file
            ));
        }
        let (python_files, python_dirs) = match case.ls {
            Pass => python_tree(&path),
            Fail(_) => Default::default(),
        };
        match case.extract {
            Pass => {
                mismatches.extend(compare_with_python(
                    case.file,
                    &files,
                    &dirs,
                    &python_files,
                    &python_dirs,
                ));
                if case.file.starts_with("yauzl/success/") {
                    mismatches.extend(compare_with_yauzl(case.file, &files, &dirs));
                }
            }
            Fail(error) => {
                // A refused archive writes nothing, and neither does one with a member in
                // a compression method lakezip cannot decode (checked before the first
                // write). A data error stops the extraction at the bad member (whose
                // temporary is removed): what was written before it must be complete and
                // right.
                if error.contains("compression method") && !files.is_empty() {
                    mismatches.push(format!(
                        "extract {}: refused a compression method but first wrote {:?}",
                        case.file,
                        files.keys().collect::<Vec<_>>()
                    ));
                }
                for (name, bytes) in &files {
                    if python_files.get(name).and_then(Option::as_ref) != Some(bytes) {
                        mismatches.push(format!(
                            "extract {}: failed and left {name} ({} bytes), which is not that member's content",
                            case.file,
                            bytes.len()
                        ));
                    }
                }
            }
        }
    }
    for target in ESCAPE_TARGETS {
        assert!(!Path::new(target).exists(), "an extraction wrote {target}");
    }
    assert_no_mismatches(mismatches);
}

/// Drives the sans-io reader over `bytes` one requested range at a time, checking that it
/// never asks for bytes outside the file and never loops. Returns the reader's result, or
/// a description of a contract violation.
fn open_in_memory(
    bytes: &[u8],
    want_index: bool,
) -> Result<archive_format::Result<Opened>, String> {
    let memory = Memory::new("corpus", bytes.to_vec());
    let len = bytes.len() as u64;
    let mut reader = if want_index {
        DirectoryReader::index(len)
    } else {
        DirectoryReader::full(len)
    };
    let mut requests = 0;
    while let Some(range) = reader.wants_read() {
        requests += 1;
        if requests > 8 {
            return Err(format!("more than 8 requests (now {range:?})"));
        }
        if range.start > range.end || range.end > len {
            return Err(format!("asked for {range:?} of a {len}-byte file"));
        }
        let chunk = memory
            .read_range(range.clone())
            .map_err(|e| e.to_string())?;
        if let Err(error) = reader.fill(range.start, &chunk) {
            return Ok(Err(error));
        }
    }
    Ok(reader.finish())
}

/// Opens `bytes` both ways and, when the directory opens, reads every member through
/// `range_reader` (local header checks, decompression, CRC). Errors are fine; panics and
/// reader contract violations are not.
fn exercise(bytes: &[u8]) -> Result<bool, String> {
    let _ = open_in_memory(bytes, true)?;
    let opened = open_in_memory(bytes, false)?;
    let Ok(Opened::Directory(directory)) = opened else {
        return Ok(false);
    };
    let memory = Memory::new("corpus", bytes.to_vec());
    for entry in directory.entries().iter().filter(|e| e.is_file()) {
        let _ = range_reader::archive::read_entry(&memory, entry);
    }
    Ok(true)
}

fn run_guarded(label: &str, bytes: &[u8], failures: &mut Vec<String>) -> Option<bool> {
    match catch_unwind(AssertUnwindSafe(|| exercise(bytes))) {
        Ok(Ok(opened)) => Some(opened),
        Ok(Err(violation)) => {
            failures.push(format!("{label}: {violation}"));
            None
        }
        Err(_) => {
            failures.push(format!("{label}: panicked"));
            None
        }
    }
}

/// Every corpus file through `DirectoryReader` (fed one requested range at a time from
/// `range_reader::memory::Memory`) and `range_reader::archive::read_entry`: no panic, no
/// out-of-bounds request; and the directory opens exactly when `lakezip ls` passes. Then
/// the same for truncations and single-byte corruptions of the end records and central
/// directory of every file.
#[test]
fn sans_io_reader_never_panics_on_the_corpus() {
    let mut failures = Vec::new();
    let mut mutations = 0u64;
    for case in CASES {
        let bytes = fs::read(corpus(case.file)).expect("read corpus file");
        if let Some(opened) = run_guarded(case.file, &bytes, &mut failures) {
            let expected = matches!(case.ls, Pass);
            if opened != expected {
                failures.push(format!(
                    "{}: directory {} in memory but `lakezip ls` is expected to {}",
                    case.file,
                    if opened { "opens" } else { "fails" },
                    if expected { "pass" } else { "fail" }
                ));
            }
        }
        // Truncations: every length in the last 300 bytes, and 16 spread over the file.
        let len = bytes.len();
        let cuts: BTreeSet<usize> = (len.saturating_sub(300)..len)
            .chain((0..16).map(|i| len * i / 16))
            .collect();
        for cut in cuts {
            mutations += 1;
            run_guarded(
                &format!("{} truncated to {cut} bytes", case.file),
                &bytes[..cut],
                &mut failures,
            );
        }
        // Corruptions: every byte of small files, the last 1 KiB (end records and central
        // directory) of larger ones, each replaced by its complement and by 0xff.
        let start = if len <= 4096 { 0 } else { len - 1024 };
        let mut mutated = bytes.clone();
        for at in start..len {
            let original = mutated[at];
            for value in [!original, 0xff] {
                if value == original {
                    continue;
                }
                mutated[at] = value;
                mutations += 1;
                run_guarded(
                    &format!("{} with byte {at} set to {value:#04x}", case.file),
                    &mutated,
                    &mut failures,
                );
            }
            mutated[at] = original;
        }
    }
    assert!(mutations > 10_000, "only {mutations} mutations ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Regression: a valid archive whose last central directory header ends with an extra
/// field holding `PK\x06\x07` (so the 20 bytes before the EOCD look like a ZIP64 locator
/// pointing at offset 0) was refused with "bad zip64 end of central directory signature".
/// The EOCD holds no ZIP64 placeholders, so the plain reading must be used.
#[test]
fn regression_zip64_locator_magic_in_last_extra_field() {
    const SCRIPT: &str = r#"
import struct, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    first = zipfile.ZipInfo("first.txt", (2024, 1, 1, 0, 0, 0))
    z.writestr(first, b"first member\n")
    last = zipfile.ZipInfo("last.txt", (2024, 1, 1, 0, 0, 0))
    # A private extra field (id 0xcafe) whose payload is a would-be ZIP64 locator:
    # signature, disk 0, record offset 0, 1 disk.
    payload = b"PK\x06\x07" + struct.pack("<IQI", 0, 0, 1)
    last.extra = struct.pack("<HH", 0xCAFE, len(payload)) + payload
    z.writestr(last, b"last member\n")
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("magic-extra.zip");
    common::run_ok(
        Command::new(common::python())
            .arg("-c")
            .arg(SCRIPT)
            .arg(&archive),
    );
    let bytes = fs::read(&archive).expect("read archive");
    let eocd = bytes.len() - 22;
    assert_eq!(
        &bytes[eocd - 20..eocd - 16],
        b"PK\x06\x07",
        "the lookalike locator sits right before the EOCD"
    );

    let out_dir = dir.path().join("out");
    let archive = archive.to_str().expect("utf-8 path");
    common::lakezip_ok(&[
        "extract",
        archive,
        "-C",
        out_dir.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        fs::read(out_dir.join("first.txt")).expect("first.txt"),
        b"first member\n"
    );
    assert_eq!(
        fs::read(out_dir.join("last.txt")).expect("last.txt"),
        b"last member\n"
    );
    common::lakezip_ok(&["verify", archive]);
}
