//! ZIP64: archives that need it for the entry count (more than 65,535 members) and for
//! sizes and offsets (a member over 4 GiB and members after it).
//!
//! Each archive is checked by our reader (the library's `open_directory`/`stream_entry`
//! and the `lakezip` binary's `verify`, `ls --json` and `cat`) and by third-party readers:
//! Info-ZIP `unzip -t`, `7z t`, `python3 -m zipfile -t` and Java's `ZipFile`
//! (tests/java/ZipCheck.java). All of them support ZIP64 end records and extra fields,
//! so every case runs all four; `bsdtar` is left to third_party_readers.rs because
//! printing 4 GiB through a pipe adds nothing the CRC checks do not cover.
//!
//! The 4 GiB archives cost almost no disk: the source is a sparse file and the archive is
//! written through [`SparseFile`], which turns all-zero writes into holes.

mod common;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use archive_format::table::{SourceFile, TablePlan};
use archive_format::write::{
    MemberMeta, Opened, PackOptions, PackProgress, WrittenMember, ZipWriter,
};
use common::{json_lines, lakezip_bin, lakezip_ok, noise, require_tool, root, run_ok};
use range_reader::archive::{TableView, open_directory, open_tables, stream_entry, table_entries};
use range_reader::local::LocalFile;
use tempfile::TempDir;

const GIB4: u64 = 1 << 32;
/// 4 GiB + 1 MiB: over every 32-bit size field.
const BIG: u64 = GIB4 + (1 << 20);
/// Non-zero bytes written into the sparse source, so its CRC-32 depends on them: near the
/// start, straddling the 4 GiB boundary (a 32-bit truncation of offsets would miss them)
/// and at the very end.
const MARKS: [(u64, &[u8]); 3] = [
    (1, b"lakezip zip64 head"),
    (GIB4 - 5, b"across-4GiB"),
    (BIG - 9, b"the end!\n"),
];
/// Fixed member time: 2023-11-14T22:13:20Z.
const MTIME: i64 = 1_700_000_000;
/// An archive of this size on disk is not sparse any more: the test would fill the disk.
const SPARSE_LIMIT: u64 = 64 << 20;

/// A test-only `Write + Seek` over a file that leaves all-zero blocks written past the
/// high-water mark as holes, so a 4 GiB archive of zeros takes a few blocks. Overwrites
/// below the high-water mark (the writer's CRC-32 patch) are written as they are.
struct SparseFile {
    file: File,
    position: u64,
    len: u64,
}

/// Granularity of hole detection: one file system block.
const BLOCK: usize = 4096;

impl SparseFile {
    fn create(path: &Path) -> Self {
        SparseFile {
            file: File::create(path).expect("create sparse output"),
            position: 0,
            len: 0,
        }
    }
}

fn all_zero(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(16);
    words.all(|w| u128::from_ne_bytes(w.try_into().expect("16 bytes")) == 0)
        && words.remainder().iter().all(|&b| b == 0)
}

impl Write for SparseFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut at = self.position;
        for block in buf.chunks(BLOCK) {
            if at < self.len || !all_zero(block) {
                self.file.write_all_at(block, at)?;
            }
            at += block.len() as u64;
        }
        self.position = at;
        self.len = self.len.max(at);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Trailing holes are only there once the file is long enough.
        if self.file.metadata()?.len() < self.len {
            self.file.set_len(self.len)?;
        }
        self.file.flush()
    }
}

impl Seek for SparseFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.position = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.position)
    }
}

/// Creates the sparse `BIG`-byte source with [`MARKS`].
fn sparse_source(path: &Path) {
    let file = File::create(path).expect("create sparse source");
    file.set_len(BIG).expect("set_len");
    for (offset, bytes) in MARKS {
        file.write_all_at(bytes, offset).expect("write mark");
    }
}

/// Asserts `path` is still sparse (allocated bytes far below its length).
fn assert_sparse(path: &Path) {
    let meta = std::fs::metadata(path).expect("metadata");
    let allocated = meta.blocks() * 512;
    assert!(
        allocated < SPARSE_LIMIT,
        "{} has {allocated} bytes allocated for {} bytes: not sparse",
        path.display(),
        meta.len()
    );
}

fn meta(name: &str) -> MemberMeta {
    MemberMeta {
        name: name.to_owned(),
        mtime: MTIME,
        mode: 0o644,
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The end records as raw bytes say them: EOCD counts and offset, and the ZIP64 end
/// record that the ZIP64 locator points at, if any.
#[derive(Debug)]
struct RawEnd {
    eocd_entries_on_disk: u16,
    eocd_entries: u16,
    eocd_central_directory_offset: u32,
    /// (entries, central directory offset) of the ZIP64 end record.
    zip64: Option<(u64, u64)>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses the end of `path` by hand (APPNOTE 4.3.14–4.3.16), independently of our reader.
fn raw_end(path: &Path) -> RawEnd {
    let file = File::open(path).expect("open archive");
    let len = file.metadata().expect("metadata").len();
    let tail_len = len.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact_at(&mut tail, len - tail_len)
        .expect("read tail");
    let eocd = (0..=tail.len() - 22)
        .rev()
        .find(|&i| {
            tail[i..i + 4] == *b"PK\x05\x06"
                && i + 22 + usize::from(u16_at(&tail, i + 20)) == tail.len()
        })
        .expect("end of central directory record");
    let zip64 = (eocd >= 20 && tail[eocd - 20..eocd - 16] == *b"PK\x06\x07").then(|| {
        let record_offset = u64_at(&tail, eocd - 20 + 8);
        let mut record = [0u8; 56];
        file.read_exact_at(&mut record, record_offset)
            .expect("read ZIP64 end record");
        assert_eq!(
            record[..4],
            *b"PK\x06\x06",
            "ZIP64 locator points at a ZIP64 end record"
        );
        assert_eq!(
            u64_at(&record, 24),
            u64_at(&record, 32),
            "entries on disk = entries"
        );
        (u64_at(&record, 32), u64_at(&record, 48))
    });
    RawEnd {
        eocd_entries_on_disk: u16_at(&tail, eocd + 8),
        eocd_entries: u16_at(&tail, eocd + 10),
        eocd_central_directory_offset: u32_at(&tail, eocd + 16),
        zip64,
    }
}

/// `unzip -t`, `7z t`, `python3 -m zipfile -t` and Java's ZipFile on `archive`.
///
/// Info-ZIP's CRC-32 is slow (about 20 s for 4 GiB, where the others take 1–2 s), so a
/// caller that already had `unzip` check a 4 GiB member elsewhere can pass
/// `unzip_members` to test only those members: `unzip` still parses the ZIP64 end
/// records and the whole central directory, and reads the named members at their
/// offsets past 4 GiB.
fn third_party_readers_accept(archive: &Path, entries: usize, unzip_members: &[&str]) {
    require_tool("unzip", "unzip");
    let out = run_ok(
        Command::new("unzip")
            .arg("-tq")
            .arg(archive)
            .args(unzip_members),
    );
    assert!(
        out.contains("No errors detected"),
        "unzip -t {}: {out}",
        archive.display()
    );

    require_tool("7z", "p7zip-full");
    let out = run_ok(Command::new("7z").arg("t").arg(archive));
    assert!(
        out.contains("Everything is Ok"),
        "7z t {}: {out}",
        archive.display()
    );
    assert!(
        out.contains(&format!("Files: {entries}")),
        "7z t {} should count {entries} files: {out}",
        archive.display()
    );

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

    require_tool("java", "openjdk-17-jdk-headless");
    let out = run_ok(
        Command::new("java")
            .arg(root().join("tests/java/ZipCheck.java"))
            .arg(archive),
    );
    assert_eq!(
        out.trim(),
        format!("ok {entries} entries"),
        "java ZipCheck {}",
        archive.display()
    );
}

/// `lakezip verify --json`: the summary record, asserted ok.
fn lakezip_verify(archive: &Path) -> serde_json::Value {
    let out = lakezip_ok(&["verify", "--json", path_str(archive)]);
    let summary = json_lines(&out)
        .into_iter()
        .find(|r| r["type"] == "summary")
        .unwrap_or_else(|| panic!("no verify summary: {out}"));
    assert_eq!(
        summary["ok"],
        true,
        "lakezip verify {}: {out}",
        archive.display()
    );
    summary
}

/// `lakezip ls --json`: (path, size, offset) of every entry.
fn lakezip_ls(archive: &Path) -> Vec<(String, u64, u64)> {
    json_lines(&lakezip_ok(&["ls", "--json", path_str(archive)]))
        .into_iter()
        .filter(|r| r["type"] == "entry")
        .map(|r| {
            (
                r["path"].as_str().expect("path").to_owned(),
                r["size"].as_u64().expect("size"),
                r["offset"].as_u64().expect("offset"),
            )
        })
        .collect()
}

/// `lakezip cat ARCHIVE NAME`, raw bytes.
fn lakezip_cat(archive: &Path, name: &str) -> Vec<u8> {
    let out = Command::new(lakezip_bin())
        .args(["cat", path_str(archive), name])
        .output()
        .expect("run lakezip cat");
    assert!(
        out.status.success(),
        "lakezip cat {} {name}: {}",
        archive.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Streams a member through the library reader. Returns its length, its bytes when it
/// is small, and for each of [`MARKS`] the bytes found at that offset.
fn library_read(
    source: &LocalFile,
    entry: &archive_format::read::Entry,
) -> (u64, Vec<u8>, Vec<Vec<u8>>) {
    let mut len = 0u64;
    let mut small = Vec::new();
    let mut marks: Vec<Vec<u8>> = MARKS.iter().map(|(_, want)| vec![0; want.len()]).collect();
    stream_entry(source, entry, &mut |bytes| {
        let start = len;
        len += bytes.len() as u64;
        if len <= 16 << 20 {
            small.extend_from_slice(bytes);
        }
        for ((at, _), found) in MARKS.iter().zip(&mut marks) {
            let from = (*at).max(start);
            let to = (*at + found.len() as u64).min(len);
            if from < to {
                found[(from - at) as usize..(to - at) as usize]
                    .copy_from_slice(&bytes[(from - start) as usize..(to - start) as usize]);
            }
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("stream_entry {}: {e}", entry.name));
    (len, small, marks)
}

#[test]
fn more_than_65535_entries_use_zip64_end_records() {
    const COUNT: usize = 70_000;
    let tmp = TempDir::new().expect("tempdir");
    let archive = tmp.path().join("many.zip");
    let name = |i: usize| format!("many/{:03}/{i:05}.bin", i / 1000);
    let content = |i: usize| [(i % 251) as u8];

    let file = File::create(&archive).expect("create archive");
    let mut writer = ZipWriter::new(io::BufWriter::new(file));
    let mut written = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        written.push(
            writer
                .add_bytes(meta(&name(i)), &content(i))
                .expect("add_bytes"),
        );
    }
    writer
        .finish(b"")
        .expect("finish")
        .0
        .flush()
        .expect("flush");

    // The EOCD says "see ZIP64" in both count fields; the ZIP64 record has the real count.
    let raw = raw_end(&archive);
    assert_eq!(
        (raw.eocd_entries_on_disk, raw.eocd_entries),
        (0xFFFF, 0xFFFF),
        "{raw:?}"
    );
    let (zip64_entries, zip64_cd_offset) = raw.zip64.expect("ZIP64 end records");
    assert_eq!(zip64_entries, COUNT as u64);
    assert_eq!(
        u64::from(raw.eocd_central_directory_offset),
        zip64_cd_offset,
        "offset fits in 32 bits"
    );

    // Library reader: every entry, its offset, and its one byte.
    let source = LocalFile::open(&archive).expect("open");
    let directory = open_directory(&source).expect("open_directory");
    assert!(directory.end().zip64);
    assert_eq!(directory.end().entries, COUNT as u64);
    assert_eq!(directory.end().central_directory_offset, zip64_cd_offset);
    assert_eq!(directory.entries().len(), COUNT);
    for (i, entry) in directory.entries().iter().enumerate() {
        assert_eq!(entry.name, name(i));
        assert_eq!(entry.local_header_offset, written[i].local_header_offset);
        assert_eq!(entry.crc32, written[i].crc32);
        let mut bytes = Vec::new();
        stream_entry(&source, entry, &mut |b| {
            bytes.extend_from_slice(b);
            Ok(())
        })
        .expect("stream_entry");
        assert_eq!(bytes, content(i), "{}", entry.name);
    }

    // The binary: verify, ls --json, cat.
    let summary = lakezip_verify(&archive);
    assert_eq!(summary["entries"], COUNT);
    assert_eq!(summary["files_verified"], COUNT);
    assert_eq!(summary["bytes_verified"], COUNT);
    let listed = lakezip_ls(&archive);
    assert_eq!(listed.len(), COUNT);
    for (i, (path, size, offset)) in listed.iter().enumerate() {
        assert_eq!(
            (path.as_str(), *size, *offset),
            (name(i).as_str(), 1, written[i].local_header_offset)
        );
    }
    let last = COUNT - 1;
    assert_eq!(lakezip_cat(&archive, &name(last)), content(last));

    third_party_readers_accept(&archive, COUNT, &[]);
}

/// Members of the raw-writer 4 GiB archive, in order.
const FIRST: &str = "before/first.txt";
const HUGE: &str = "big/huge.bin";
const AFTER_SMALL: &str = "after/small.txt";
/// Over the writer's 1 MiB in-memory limit: streamed, CRC-32 patched at an offset > 4 GiB.
const AFTER_STREAMED: &str = "after/streamed.bin";

#[test]
fn member_over_4_gib_and_members_after_it_use_zip64_fields() {
    let tmp = TempDir::new().expect("tempdir");
    let source_path = tmp.path().join("huge.src");
    sparse_source(&source_path);
    let archive = tmp.path().join("huge.zip");

    let first = b"first member, below 4 GiB\n".to_vec();
    let after_small = b"small member after the 4 GiB one\n".to_vec();
    let after_streamed = noise((2 << 20) + 3, 99);

    let mut writer = ZipWriter::new(SparseFile::create(&archive));
    let mut members: Vec<(&str, WrittenMember)> = Vec::new();
    members.push((
        FIRST,
        writer.add_bytes(meta(FIRST), &first).expect("add first"),
    ));
    let mut reported = 0u64;
    let mut source = File::open(&source_path).expect("open sparse source");
    let huge = writer
        .add(meta(HUGE), BIG, None, &mut source, &source_path, &mut |n| {
            reported += n
        })
        .expect("add huge member");
    assert_eq!(reported, BIG, "progress reports every byte");
    members.push((HUGE, huge));
    members.push((
        AFTER_SMALL,
        writer
            .add_bytes(meta(AFTER_SMALL), &after_small)
            .expect("add"),
    ));
    let mut reader: &[u8] = &after_streamed;
    let streamed = writer
        .add(
            meta(AFTER_STREAMED),
            after_streamed.len() as u64,
            None,
            &mut reader,
            Path::new(AFTER_STREAMED),
            &mut |_| {},
        )
        .expect("add streamed member after 4 GiB");
    members.push((AFTER_STREAMED, streamed));
    writer
        .finish(b"zip64 size and offset test")
        .expect("finish");
    assert_sparse(&archive);

    assert_eq!(huge.size, BIG);
    for (name, written) in &members[2..] {
        assert!(
            written.local_header_offset > GIB4,
            "{name} at {} should be past 4 GiB",
            written.local_header_offset
        );
    }

    // Raw end records: the central directory is past 4 GiB, so the EOCD offset is the
    // 0xFFFFFFFF placeholder and the ZIP64 record holds it.
    let raw = raw_end(&archive);
    assert_eq!(raw.eocd_central_directory_offset, u32::MAX, "{raw:?}");
    assert_eq!(raw.eocd_entries, 4);
    let (zip64_entries, zip64_cd_offset) = raw.zip64.expect("ZIP64 end records");
    assert_eq!(zip64_entries, 4);
    assert!(zip64_cd_offset > BIG);

    // Library reader: u64 sizes and offsets, content of every member.
    let source = LocalFile::open(&archive).expect("open");
    let directory = open_directory(&source).expect("open_directory");
    assert!(directory.end().zip64);
    assert_eq!(directory.end().central_directory_offset, zip64_cd_offset);
    let entries = directory.entries();
    assert_eq!(
        entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        [FIRST, HUGE, AFTER_SMALL, AFTER_STREAMED]
    );
    for (entry, (_, written)) in entries.iter().zip(&members) {
        assert_eq!(
            (
                entry.uncompressed_size,
                entry.compressed_size,
                entry.local_header_offset,
                entry.crc32
            ),
            (
                written.size,
                written.size,
                written.local_header_offset,
                written.crc32
            ),
            "{}",
            entry.name
        );
    }
    let (huge_len, _, marks) = library_read(&source, &entries[1]);
    assert_eq!(huge_len, BIG);
    for (found, (at, want)) in marks.iter().zip(MARKS) {
        assert_eq!(found.as_slice(), want, "huge member bytes at {at}");
    }
    for (entry, want) in entries[2..].iter().zip([&after_small, &after_streamed]) {
        let (len, bytes, _) = library_read(&source, entry);
        assert_eq!(len, want.len() as u64);
        assert!(bytes == *want, "{} content", entry.name);
    }
    assert_eq!(library_read(&source, &entries[0]).1, first);

    // The binary.
    let summary = lakezip_verify(&archive);
    assert_eq!(summary["files_verified"], 4);
    assert_eq!(
        summary["bytes_verified"],
        members.iter().map(|(_, w)| w.size).sum::<u64>()
    );
    let listed = lakezip_ls(&archive);
    let expected: Vec<(String, u64, u64)> = members
        .iter()
        .map(|(name, w)| (name.to_string(), w.size, w.local_header_offset))
        .collect();
    assert_eq!(listed, expected, "lakezip ls --json sizes and offsets");
    assert_eq!(lakezip_cat(&archive, AFTER_SMALL), after_small);
    assert!(
        lakezip_cat(&archive, AFTER_STREAMED) == after_streamed,
        "lakezip cat {AFTER_STREAMED}"
    );

    third_party_readers_accept(&archive, 4, &[]);
}

#[test]
fn pack_with_a_table_over_4_gib_indexes_ranges_past_4_gib() {
    let tmp = TempDir::new().expect("tempdir");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("db/big/data")).expect("mkdir");
    std::fs::create_dir_all(src.join("db/big/metadata")).expect("mkdir");
    std::fs::create_dir_all(src.join("misc")).expect("mkdir");
    sparse_source(&src.join("db/big/data/huge.parquet"));
    let small: [(&str, Vec<u8>); 3] = [
        (
            "db/big/data/small.parquet",
            b"PAR1 small data file PAR1".to_vec(),
        ),
        (
            "db/big/metadata/v1.metadata.json",
            br#"{"format-version":2}"#.to_vec(),
        ),
        ("misc/after.bin", noise((1 << 20) + 17, 5)),
    ];
    for (name, bytes) in &small {
        std::fs::write(src.join(name), bytes).expect("write source file");
    }
    let file = |path: &str, size: u64| SourceFile {
        path: path.to_owned(),
        size,
        mtime: MTIME,
        mode: 0o644,
        held: None,
    };
    let mut files = vec![file("db/big/data/huge.parquet", BIG)];
    files.extend(
        small
            .iter()
            .map(|(name, bytes)| file(name, bytes.len() as u64)),
    );
    let mut tables: Vec<TablePlan> = archive_format::table::plan(files);
    assert_eq!(
        tables.iter().map(|t| t.path.as_str()).collect::<Vec<_>>(),
        ["db/big", "misc"]
    );

    let archive = tmp.path().join("packed.zip");
    let mut open = |f: &SourceFile| -> archive_format::Result<Opened> {
        let path = src.join(&f.path);
        let handle = File::open(&path).map_err(|e| archive_format::Error::io(&path, e))?;
        Ok(Opened {
            reader: Box::new(handle),
            path,
            crc32: None,
        })
    };
    let outcome = archive_format::write::pack(
        SparseFile::create(&archive),
        &mut tables,
        &mut open,
        &PackOptions {
            source: path_str(&src).to_owned(),
            created: MTIME,
            deterministic: true,
            tool: "zip64 test".to_owned(),
            kind: archive_format::manifest::ArchiveKind::Full,
            base_archive_id: None,
            archive_id: None,
        },
        PackProgress {
            bytes: &mut |_| {},
            file_done: &mut |_| {},
        },
    )
    .expect("pack");
    assert_sparse(&archive);
    assert_eq!(
        outcome.archive_len,
        std::fs::metadata(&archive).expect("metadata").len()
    );
    let misc = &outcome.manifest.tables[1].summary;
    assert_eq!(misc.path, "misc");
    assert!(
        misc.data_range[0] > BIG,
        "misc data range {:?} starts past the huge member",
        misc.data_range
    );

    // Library: the index path reads only the misc table's slice of a central directory
    // that starts past 4 GiB, and finds its member past 4 GiB.
    let source = LocalFile::open(&archive).expect("open");
    let TableView::Indexed(end, index) = open_tables(&source).expect("open_tables") else {
        panic!("a packed archive has a table index");
    };
    assert!(end.zip64 && end.central_directory_offset > BIG);
    let misc_index = index
        .tables
        .iter()
        .find(|t| t.path == "misc")
        .expect("misc in index");
    assert_eq!(misc_index.data_range, misc.data_range);
    let misc_entries = table_entries(&source, &end, misc_index).expect("table_entries");
    assert_eq!(misc_entries.len(), 1);
    assert!(misc_entries[0].local_header_offset > BIG);
    let (len, bytes, _) = library_read(&source, &misc_entries[0]);
    assert_eq!(len, small[2].1.len() as u64);
    assert!(bytes == small[2].1, "misc/after.bin content via the index");
    let huge = open_directory(&source).expect("open_directory");
    let huge = huge.get("db/big/data/huge.parquet").expect("huge member");
    assert_eq!(huge.uncompressed_size, BIG);

    // The binary: verify (CRC-32s and manifest/index consistency), ls --tables, cat.
    let summary = lakezip_verify(&archive);
    assert_eq!(summary["lakezip_manifest"], true);
    assert_eq!(
        summary["files_verified"], 6,
        "4 source files, manifest, index"
    );
    let tables_json = json_lines(&lakezip_ok(&[
        "ls",
        "--tables",
        "--json",
        path_str(&archive),
    ]));
    let misc_json = tables_json
        .iter()
        .find(|t| t["path"] == "misc")
        .unwrap_or_else(|| panic!("misc in ls --tables: {tables_json:?}"));
    assert_eq!(
        misc_json["data_range"][0].as_u64(),
        Some(misc.data_range[0])
    );
    let listed = lakezip_ls(&archive);
    let huge_listed = listed
        .iter()
        .find(|l| l.0 == "db/big/data/huge.parquet")
        .expect("huge listed");
    assert_eq!(huge_listed.1, BIG);
    for (name, bytes) in &small {
        assert!(lakezip_cat(&archive, name) == *bytes, "lakezip cat {name}");
    }

    // `unzip -t` of the 4 GiB member itself is covered by
    // member_over_4_gib_and_members_after_it_use_zip64_fields; here it tests the members
    // around it (7z, python and Java still read all 4 GiB).
    let around: Vec<&str> = small
        .iter()
        .map(|(name, _)| *name)
        .chain([".lakezip/manifest.json", ".lakezip/index.json"])
        .collect();
    third_party_readers_accept(&archive, 6, &around);
}
