//! Hostile archives, written byte by byte (`common::zipbuild`), through the real
//! `lakezip` binary.
//!
//! Every case runs `ls`, `ls --tables`, `verify`, `cat` and `extract -C DIR`, each under
//! a wall-clock limit ([`TIME_LIMIT`]: past it the process is killed and the test fails),
//! an address-space limit ([`MEMORY_LIMIT_KIB`], `ulimit -v`: a bomb or an allocation
//! sized by a lying field kills the command, not the machine) and a file-size limit
//! ([`FILE_LIMIT_KIB`], `ulimit -f`: nor the disk), and checks:
//! - what each command must do: exit 0, or exit 1 with exactly one stderr line
//!   `lakezip: error: …` naming the problem (the entry, the record or the offset);
//!   never a panic;
//! - the filesystem: DIR is created inside a parent folder holding only the archive and
//!   a file put there before, and a folder elsewhere is the target of every symbolic
//!   link; both must stay exactly as they were (commands run with the parent as their
//!   working directory, so a stray relative write is caught too). What extract
//!   guarantees (README, `range-reader/src/extract.rs`): files are written to
//!   temporaries, verified, and renamed into place only once every member is verified,
//!   so after a failure DIR holds no file it did not hold before (directories may have
//!   been created), after a success exactly the archive's files, and never a
//!   `.lakezip-partial-*` temporary.
//!
//! `HOSTILE_DUMP=DIR` writes every case's archive to DIR, for a closer look.
//!
//! `ls` reads only the central directory, so archives whose damage is in the data (bad
//! CRC-32, a local header that disagrees, a deflate bomb) list fine and fail everywhere
//! else. Symbolic link entries are listed and verified, and `cat` prints members named
//! through them (it touches no file); only `extract` refuses them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::zipbuild::{
    DEFLATE, DIRECTORY, FILE, Header, Layout, Member, Planned, SYMLINK, eocd, eocd_with_comment,
    finish_zip, local_record, simple_zip, zip64_extra, zip64_locator, zip64_record,
};
use tempfile::TempDir;

/// Each command must finish within this.
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Each command runs under `ulimit -v` of this many KiB (512 MiB).
const MEMORY_LIMIT_KIB: u64 = 512 * 1024;
/// And under `ulimit -f` of this many KiB (64 MiB): writing a larger file kills it
/// (SIGXFSZ), so a bomb that is not stopped at its declared size fails the test
/// instead of filling the disk.
const FILE_LIMIT_KIB: u64 = 64 * 1024;
/// Bytes of stdout kept for assertions (the rest is counted).
const STDOUT_KEPT: usize = 1024 * 1024;

// ---- running the binary, bounded

/// What one bounded run of `lakezip` did.
struct Run {
    command: String,
    code: Option<i32>,
    stdout: Vec<u8>,
    stdout_len: u64,
    stderr: String,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "{}\nexit {:?}\nstdout ({} bytes): {}\nstderr: {}",
            self.command,
            self.code,
            self.stdout_len,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)]),
            self.stderr
        )
    }
}

/// Runs `lakezip ARGS…` in `cwd` under the memory limit; kills it and fails the test if
/// it outlives [`TIME_LIMIT`].
fn bounded(label: &str, cwd: &Path, args: &[&str]) -> Run {
    let command = format!("case {label}: lakezip {}", args.join(" "));
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            // No core dump: an abort under the memory limit must not write one.
            "ulimit -c 0 && ulimit -v {MEMORY_LIMIT_KIB} && ulimit -f {FILE_LIMIT_KIB} \
             && exec \"$0\" \"$@\""
        ))
        .arg(common::lakezip_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        // A panic must show as exit 101 at once: symbolising a backtrace of the debug
        // binary under the memory limit takes longer than the time limit.
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash");
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    // Drain both pipes while waiting, so a chatty command cannot block on a full pipe.
    let stdout_reader = thread::spawn(move || {
        let (mut kept, mut total, mut buf) = (Vec::new(), 0u64, vec![0u8; 64 * 1024]);
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
            let room = STDOUT_KEPT.saturating_sub(kept.len()).min(n);
            kept.extend_from_slice(&buf[..room]);
        }
        (kept, total)
    });
    let stderr_reader = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.by_ref().take(1024 * 1024).read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let deadline = Instant::now() + TIME_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for lakezip") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command}: still running after {TIME_LIMIT:?}, killed");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let (stdout, stdout_len) = stdout_reader.join().expect("stdout reader");
    let stderr = stderr_reader.join().expect("stderr reader");
    Run {
        command,
        code: status.code(),
        stdout,
        stdout_len,
        stderr,
    }
}

/// What one command must do.
#[derive(Debug, Clone, Copy)]
enum Expect<'a> {
    /// Exit 0.
    Ok,
    /// Exit 1, one stderr line `lakezip: error: …` containing each needle.
    Fails(&'a [&'a str]),
}

fn assert_outcome(label: &str, run: &Run, expect: Expect) {
    let context = run.context();
    let _ = label;
    assert!(
        !run.stderr.contains("panicked")
            && !String::from_utf8_lossy(&run.stdout).contains("panicked"),
        "panicked\n{context}"
    );
    match expect {
        Expect::Ok => assert_eq!(run.code, Some(0), "expected success\n{context}"),
        Expect::Fails(needles) => {
            assert_eq!(run.code, Some(1), "expected exit code 1\n{context}");
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "expected one stderr line\n{context}");
            assert!(
                lines[0].starts_with("lakezip: error: "),
                "stderr line is not `lakezip: error: …`\n{context}"
            );
            for needle in needles {
                assert!(
                    lines[0].contains(needle),
                    "expected the error to contain {needle:?}\n{context}"
                );
            }
        }
    }
}

// ---- the filesystem around DIR

/// One path as found on disk (symbolic links not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Directory,
    File(Vec<u8>),
    /// A file over [`SNAPSHOT_CONTENT`] (the sparse archives): its length and mtime.
    LargeFile(u64, std::time::SystemTime),
    Link(PathBuf),
    Other,
}

/// Files up to this size are compared by content.
const SNAPSHOT_CONTENT: u64 = 16 * 1024 * 1024;

/// Every path under `root`, relative, `/`-separated.
fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Node>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("dir entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().expect("file type");
            let node = if kind.is_symlink() {
                Node::Link(fs::read_link(entry.path()).expect("read link"))
            } else if kind.is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
                Node::Directory
            } else if kind.is_file() {
                let meta = entry.metadata().expect("stat");
                if meta.len() > SNAPSHOT_CONTENT {
                    Node::LargeFile(meta.len(), meta.modified().expect("mtime"))
                } else {
                    Node::File(fs::read(entry.path()).expect("read file"))
                }
            } else {
                Node::Other
            };
            out.insert(name, node);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

/// Everything but directories.
fn non_directories(nodes: &BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    nodes
        .iter()
        .filter(|(_, node)| **node != Node::Directory)
        .map(|(path, node)| (path.clone(), node.clone()))
        .collect()
}

const KEEP: &[u8] = b"put here before the extraction\n";
const SENTINEL: &[u8] = b"the symbolic links point here\n";

/// `root/parent/{archive.zip, keep.txt}` with DIR = `root/parent/out`, and
/// `root/elsewhere/sentinel.txt`, the folder symbolic links point at.
struct Sandbox {
    _root: TempDir,
    parent: PathBuf,
    archive: PathBuf,
    out: PathBuf,
    elsewhere: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let root = TempDir::new().expect("tempdir");
        let parent = root.path().join("parent");
        let elsewhere = root.path().join("elsewhere");
        fs::create_dir(&parent).expect("mkdir parent");
        fs::create_dir(&elsewhere).expect("mkdir elsewhere");
        fs::write(parent.join("keep.txt"), KEEP).expect("write keep.txt");
        fs::write(elsewhere.join("sentinel.txt"), SENTINEL).expect("write sentinel");
        Sandbox {
            archive: parent.join("archive.zip"),
            out: parent.join("out"),
            parent,
            elsewhere,
            _root: root,
        }
    }

    fn elsewhere(&self) -> &str {
        self.elsewhere.to_str().expect("UTF-8 temp path")
    }

    fn run(&self, label: &str, args: &[&str]) -> Run {
        bounded(label, &self.parent, args)
    }

    /// Writes `case.bytes` as the archive and runs every command on it.
    fn check(&self, case: &Case) {
        let label = case.label.as_str();
        let mut file = fs::File::create(&self.archive).expect("create archive");
        match case.hole {
            Some((at, len)) => {
                // A sparse file: the hole costs no disk.
                file.write_all(&case.bytes[..at]).expect("write archive");
                file.seek(SeekFrom::Current(len as i64)).expect("seek");
                file.write_all(&case.bytes[at..]).expect("write archive");
            }
            None => file.write_all(&case.bytes).expect("write archive"),
        }
        drop(file);
        if let Ok(dir) = std::env::var("HOSTILE_DUMP") {
            let name = format!("{}.zip", label.replace(['/', ' '], "_"));
            fs::write(Path::new(&dir).join(name), &case.bytes).expect("HOSTILE_DUMP");
        }
        let archive = self.archive.to_str().expect("UTF-8 temp path");
        let out = self.out.to_str().expect("UTF-8 temp path");
        let parent_before = snapshot(&self.parent);
        let elsewhere_before = snapshot(&self.elsewhere);
        let out_before = snapshot(&self.out);

        assert_outcome(label, &self.run(label, &["ls", archive]), case.ls);
        assert_outcome(
            label,
            &self.run(label, &["ls", archive, "--tables"]),
            case.ls_tables.unwrap_or(case.ls),
        );
        assert_outcome(label, &self.run(label, &["verify", archive]), case.verify);
        let cat = self.run(label, &["cat", archive, case.cat]);
        assert_outcome(label, &cat, case.cat_expect);
        if let Expect::Ok = case.cat_expect {
            assert!(
                Some(&cat.stdout) == case.contents.get(case.cat),
                "case {label}: cat printed something else than {:?}\n{}",
                case.cat,
                cat.context()
            );
        }
        assert!(
            cat.stdout_len <= case.cat_limit,
            "case {label}: cat printed {} bytes, more than the {} the archive declares",
            cat.stdout_len,
            case.cat_limit
        );
        let mut args = vec!["extract", archive];
        args.extend(case.extract_args.iter().copied());
        args.extend(["-C", out]);
        assert_outcome(label, &self.run(label, &args), case.extract);

        // Outside DIR: exactly as before.
        let strip_out = |mut nodes: BTreeMap<String, Node>| {
            nodes.retain(|path, _| path != "out" && !path.starts_with("out/"));
            nodes
        };
        assert_eq!(
            strip_out(snapshot(&self.parent)),
            strip_out(parent_before),
            "case {label}: something was written beside DIR"
        );
        assert_eq!(
            snapshot(&self.elsewhere),
            elsewhere_before,
            "case {label}: something was written through a symbolic link"
        );
        // Inside DIR.
        let out_after = snapshot(&self.out);
        let temporaries: Vec<&String> = out_after
            .keys()
            .filter(|path| {
                path.rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".lakezip-"))
            })
            .collect();
        assert!(
            temporaries.is_empty(),
            "case {label}: temporaries left in DIR: {temporaries:?}"
        );
        let mut expected = non_directories(&out_before);
        if let Expect::Ok = case.extract {
            for (path, content) in &case.contents {
                if !path.ends_with('/') {
                    expected.insert(path.clone(), Node::File(content.clone()));
                }
            }
        }
        assert_eq!(
            non_directories(&out_after),
            expected,
            "case {label}: DIR holds other files than expected"
        );
    }
}

/// One hostile archive and what each command must do with it.
struct Case<'a> {
    label: String,
    bytes: Vec<u8>,
    /// `ls` (it reads the central directory only).
    ls: Expect<'a>,
    /// `ls --tables`, when it differs from `ls` (it reads the table index if the
    /// comment points at one).
    ls_tables: Option<Expect<'a>>,
    verify: Expect<'a>,
    /// The member `cat` asks for.
    cat: &'a str,
    cat_expect: Expect<'a>,
    /// Most bytes `cat` may print (it streams before the CRC-32 is known, but never
    /// more than the member declares).
    cat_limit: u64,
    /// Arguments between `extract ARCHIVE` and `-C DIR` (tables, `--force`).
    extract_args: Vec<&'a str>,
    extract: Expect<'a>,
    /// What the archive's members hold (name → bytes): what `cat` prints and what a
    /// successful extraction writes.
    contents: BTreeMap<String, Vec<u8>>,
    /// `(at, len)`: the archive file has a hole of `len` zero bytes before `bytes[at]`.
    hole: Option<(usize, u64)>,
}

impl<'a> Case<'a> {
    /// Every command fails with `needles` (the central directory is refused).
    fn refused(label: impl Into<String>, bytes: Vec<u8>, needles: &'a [&'a str]) -> Self {
        Case {
            label: label.into(),
            bytes,
            ls: Expect::Fails(needles),
            ls_tables: None,
            verify: Expect::Fails(needles),
            cat: "harmless.txt",
            cat_expect: Expect::Fails(needles),
            cat_limit: 0,
            extract_args: Vec::new(),
            extract: Expect::Fails(needles),
            contents: BTreeMap::new(),
            hole: None,
        }
    }

    /// The directory lists, but reading `member` fails with `needles`: `verify`, `cat`
    /// and `extract` fail, and extract writes nothing.
    fn bad_data(
        label: impl Into<String>,
        bytes: Vec<u8>,
        member: &'a str,
        needles: &'a [&'a str],
    ) -> Self {
        Case {
            ls: Expect::Ok,
            cat: member,
            cat_limit: 4096,
            ..Case::refused(label, bytes, needles)
        }
    }

    /// Everything succeeds; extract writes `contents`.
    fn fine(label: impl Into<String>, bytes: Vec<u8>, contents: &[(&str, &[u8])]) -> Self {
        let contents: BTreeMap<String, Vec<u8>> = contents
            .iter()
            .map(|(name, data)| ((*name).to_owned(), data.to_vec()))
            .collect();
        Case {
            ls: Expect::Ok,
            verify: Expect::Ok,
            cat: "harmless.txt",
            cat_expect: Expect::Ok,
            cat_limit: u64::MAX,
            extract: Expect::Ok,
            contents,
            ..Case::refused(label, bytes, &[])
        }
    }

    fn cat(mut self, member: &'a str, expect: Expect<'a>) -> Self {
        self.cat = member;
        self.cat_expect = expect;
        self
    }
}

/// Runs `case` in a fresh sandbox.
fn check(case: &Case) {
    Sandbox::new().check(case);
}

// ---- archive shorthands

fn harmless() -> Planned {
    Planned::stored("harmless.txt", b"first\n")
}

fn zip_of(entries: &[Planned]) -> Vec<u8> {
    Layout::new(entries, false).bytes
}

/// A plain two-member archive (`harmless.txt`, then `name`).
fn with_name(name: &str) -> Vec<u8> {
    zip_of(&[harmless(), Planned::stored(name, b"pwned\n")])
}

/// `entry` with the raw name bytes `name` (in both headers).
fn raw_name(name: &[u8], data: &[u8]) -> Planned {
    let mut entry = Planned::stored("x", data);
    entry.local.name = name.to_vec();
    entry.central.name = name.to_vec();
    entry
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("deflate");
    encoder.finish().expect("deflate")
}

/// A deflate entry whose stored bytes are `compressed`, declaring `size` and `crc32`.
fn deflated(name: &str, compressed: &[u8], size: u32, crc32: u32) -> Planned {
    let header = Header::deflated(name, compressed, size, crc32);
    Planned {
        local: header.clone(),
        central: header,
        data: compressed.to_vec(),
        mode: FILE,
    }
}

/// A deflate stream of `1 + 258 × copies` zeros, written by hand: one fixed-Huffman
/// block holding a literal 0 and `copies` times "length 258, distance 1" (13 bits each),
/// about 1:160. Cheap to make at any size, unlike compressing the zeros.
fn zeros_bomb(copies: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        /// Bits used in the last byte (0: start a new one).
        used: u32,
    }
    impl Bits {
        /// `count` bits of `value`, least significant first (header fields).
        fn put(&mut self, value: u32, count: u32) {
            for i in 0..count {
                if self.used == 0 {
                    self.out.push(0);
                }
                let last = self.out.len() - 1;
                self.out[last] |= (((value >> i) & 1) as u8) << self.used;
                self.used = (self.used + 1) % 8;
            }
        }
        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u32, count: u32) {
            for i in (0..count).rev() {
                self.put((code >> i) & 1, 1);
            }
        }
    }
    let mut bits = Bits {
        out: Vec::with_capacity((copies * 13 / 8 + 8) as usize),
        used: 0,
    };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE 01: fixed Huffman codes
    bits.code(0x30, 8); // literal 0
    for _ in 0..copies {
        bits.code(0xc5, 8); // length code 285: 258 bytes
        bits.code(0, 5); // distance code 0: 1 byte back
    }
    bits.code(0, 7); // end of block
    bits.out
}

#[test]
fn the_hand_made_deflate_bomb_inflates_to_zeros() {
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&zeros_bomb(1000)[..])
        .read_to_end(&mut inflated)
        .expect("a valid deflate stream");
    assert_eq!(inflated.len(), 1 + 258 * 1000);
    assert!(inflated.iter().all(|&b| b == 0));
}

// ---- names

#[test]
fn names_that_leave_the_directory_are_refused_by_every_command() {
    let escape = std::env::temp_dir()
        .join(format!("lakezip-hostile-{}", std::process::id()))
        .join("planted.txt");
    let absolute = escape.to_str().expect("UTF-8 temp path").to_owned();
    let etc_x_existed = Path::new("/etc/x").exists();
    let cases: &[(&str, &str, &[&str])] = &[
        ("dotdot", "../evil", &["\"../evil\"", "'..' path component"]),
        ("dotdot-nested", "a/../../x", &["\"a/../../x\"", "'..'"]),
        ("dotdot-deep", "a/b/../../../x", &["'..'"]),
        ("dotdot-directory", "../", &["'..'"]),
        ("dotdot-alone", "..", &["'..'"]),
        ("absolute-tmp", &absolute, &["absolute path"]),
        ("absolute-etc", "/etc/x", &["\"/etc/x\"", "absolute path"]),
        ("drive-backslash", "C:\\x", &["backslash"]),
        ("drive-slash", "C:/x", &["\"C:/x\"", "drive letter"]),
        ("drive-relative", "C:x", &["drive letter"]),
        ("backslash-dotdot", "..\\x", &["backslash"]),
        ("backslash-nested", "a\\..\\..\\x", &["backslash"]),
        ("backslash-unc", "\\\\server\\share\\x", &["backslash"]),
        ("dot", "./x", &["'.' path component"]),
        ("empty-component", "a//x", &["empty path component"]),
        ("empty", "", &["empty name"]),
        ("nul", "a\0b", &["control character"]),
        // The name must not break the one-line error.
        ("newline", "a\nb", &["control character"]),
    ];
    for (label, name, needles) in cases {
        check(&Case::refused(*label, with_name(name), needles));
    }

    // A name flagged UTF-8 that is not.
    let bytes = zip_of(&[harmless(), raw_name(b"\xff../x", b"pwned\n")]);
    check(&Case::refused("invalid-utf8", bytes, &["not valid UTF-8"]));

    // An Info-ZIP Unicode path field (0x7075) whose CRC matches the harmless raw name
    // replaces it: the replacement is checked, not the raw name.
    let mut entry = Planned::stored("innocent.txt", b"pwned\n");
    let mut extra = vec![0x75, 0x70];
    extra.extend_from_slice(&(5u16 + 7).to_le_bytes());
    extra.push(1);
    extra.extend_from_slice(&crc32fast::hash(b"innocent.txt").to_le_bytes());
    extra.extend_from_slice(b"../evil");
    entry.local.extra = extra.clone();
    entry.central.extra = extra;
    let bytes = zip_of(&[harmless(), entry]);
    check(&Case::refused(
        "unicode-path-field",
        bytes,
        &["\"../evil\"", "'..'"],
    ));

    assert!(!escape.exists(), "{} was written", escape.display());
    assert!(
        etc_x_existed || !Path::new("/etc/x").exists(),
        "/etc/x was written"
    );
}

#[test]
fn a_local_name_that_differs_from_the_central_one_is_refused_when_read() {
    // The central directory says `b.txt`, the local header `../evil`: listing shows the
    // central name; reading checks the local header first and writes nothing.
    for (label, local_name) in [("local-dotdot", "../evil"), ("local-other", "c.txt")] {
        let mut entry = Planned::stored("b.txt", b"pwned\n");
        entry.local.name = local_name.as_bytes().to_vec();
        check(&Case::bad_data(
            label,
            zip_of(&[harmless(), entry]),
            "b.txt",
            &["\"b.txt\"", "disagrees with the central directory: name"],
        ));
    }
}

// ---- symbolic links

#[test]
fn symlink_entries_and_names_through_them_are_refused() {
    for (label, target) in [("absolute", None), ("relative", Some("../.."))] {
        let sandbox = Sandbox::new();
        let target = target.unwrap_or(sandbox.elsewhere()).to_owned();
        let mut link = Planned::stored("l", target.as_bytes());
        link.mode = SYMLINK;
        let bytes = zip_of(&[
            harmless(),
            link,
            Planned::stored("l/planted.txt", b"pwned\n"),
        ]);
        let mut case = Case::fine(
            format!("symlink-{label}"),
            bytes,
            &[
                ("harmless.txt", b"first\n"),
                ("l", target.as_bytes()),
                ("l/planted.txt", b"pwned\n"),
            ],
        )
        .cat("l/planted.txt", Expect::Ok);
        case.extract = Expect::Fails(&["\"l\"", "symbolic link"]);
        sandbox.check(&case);
    }

    // A link named like a directory, and a link alone: refused before anything is written.
    let mut link = Planned::stored("l/", b"/etc");
    link.mode = SYMLINK;
    let mut case = Case::fine(
        "symlink-directory-name",
        zip_of(&[harmless(), link]),
        &[("harmless.txt", b"first\n")],
    )
    .cat("harmless.txt", Expect::Ok);
    case.extract = Expect::Fails(&["\"l/\"", "symbolic link"]);
    check(&case);

    let mut link = Planned::stored("passwd", b"/etc/passwd");
    link.mode = SYMLINK;
    let mut case = Case::fine(
        "symlink-alone",
        zip_of(&[harmless(), link]),
        &[("harmless.txt", b"first\n")],
    )
    .cat(
        "passwd",
        Expect::Fails(&["\"passwd\"", "not a regular file"]),
    );
    case.extract = Expect::Fails(&["\"passwd\"", "symbolic link"]);
    check(&case);
}

#[test]
fn an_existing_symlink_in_dir_is_not_followed() {
    // DIR/l → elsewhere, and the archive holds l/x: refused, elsewhere untouched.
    // DIR/a/b → elsewhere, and the archive holds a/b/c/x: the same, one level down.
    for (label, link, member) in [("on-the-way", "l", "l/x"), ("deeper", "a/b", "a/b/c/x")] {
        let sandbox = Sandbox::new();
        let link_path = sandbox.out.join(link);
        fs::create_dir_all(link_path.parent().expect("parent")).expect("mkdir");
        symlink(&sandbox.elsewhere, &link_path).expect("symlink");
        let bytes = zip_of(&[harmless(), Planned::stored(member, b"pwned\n")]);
        let mut case = Case::fine(
            format!("existing-link-{label}"),
            bytes,
            &[("harmless.txt", b"first\n"), (member, b"pwned\n")],
        );
        let needles = ["symbolic link", link];
        case.extract = Expect::Fails(&needles);
        sandbox.check(&case);
    }

    // DIR/x.txt → elsewhere/target.txt (existing) and DIR/new.txt → elsewhere/new.txt
    // (dangling): refused as existing files; with --force the link itself is replaced,
    // never written through.
    for force in [false, true] {
        let sandbox = Sandbox::new();
        fs::create_dir(&sandbox.out).expect("mkdir out");
        fs::write(sandbox.elsewhere.join("target.txt"), b"precious\n").expect("write");
        symlink(
            sandbox.elsewhere.join("target.txt"),
            sandbox.out.join("x.txt"),
        )
        .expect("link");
        symlink(
            sandbox.elsewhere.join("new.txt"),
            sandbox.out.join("new.txt"),
        )
        .expect("link");
        let bytes = zip_of(&[
            Planned::stored("new.txt", b"new\n"),
            Planned::stored("x.txt", b"replaced\n"),
        ]);
        let mut case = Case::fine(
            format!("existing-link-final-force-{force}"),
            bytes,
            &[("new.txt", b"new\n"), ("x.txt", b"replaced\n")],
        )
        .cat("x.txt", Expect::Ok);
        if force {
            case.extract_args = vec!["--force"];
            // The links are replaced by the files: expected = the archive's files.
            let before = snapshot(&sandbox.out);
            assert_eq!(before.len(), 2);
            sandbox.check_replacing_links(&case);
        } else {
            case.extract = Expect::Fails(&["new.txt", "already exists", "--force"]);
            sandbox.check(&case);
        }
    }
}

impl Sandbox {
    /// [`Sandbox::check`] for an extraction with `--force` over symbolic links at the
    /// final paths: afterwards DIR holds the archive's files, the links are gone.
    fn check_replacing_links(&self, case: &Case) {
        let archive = self.archive.to_str().expect("UTF-8");
        fs::write(&self.archive, &case.bytes).expect("write archive");
        let elsewhere_before = snapshot(&self.elsewhere);
        let out = self.out.to_str().expect("UTF-8");
        assert_outcome(
            &case.label,
            &self.run(&case.label, &["extract", archive, "--force", "-C", out]),
            Expect::Ok,
        );
        let expected: BTreeMap<String, Node> = case
            .contents
            .iter()
            .map(|(path, data)| (path.clone(), Node::File(data.clone())))
            .collect();
        assert_eq!(snapshot(&self.out), expected, "case {}", case.label);
        assert_eq!(
            snapshot(&self.elsewhere),
            elsewhere_before,
            "case {}: written through a link",
            case.label
        );
    }
}

// ---- duplicates and names that conflict

#[test]
fn duplicate_and_conflicting_names_are_refused() {
    let duplicate = zip_of(&[
        Planned::stored("a.txt", b"first\n"),
        Planned::stored("a.txt", b"second\n"),
    ]);
    check(&Case::refused(
        "duplicate",
        duplicate,
        &["duplicate entry name \"a.txt\""],
    ));

    // Equal once decoded: a Unicode path field renames `x` to `a.txt`.
    let mut renamed = Planned::stored("x", b"second\n");
    let mut extra = vec![0x75, 0x70];
    extra.extend_from_slice(&(5u16 + 5).to_le_bytes());
    extra.push(1);
    extra.extend_from_slice(&crc32fast::hash(b"x").to_le_bytes());
    extra.extend_from_slice(b"a.txt");
    renamed.local.extra = extra.clone();
    renamed.central.extra = extra;
    let decoded = zip_of(&[Planned::stored("a.txt", b"first\n"), renamed]);
    check(&Case::refused(
        "duplicate-after-decoding",
        decoded,
        &["duplicate entry name \"a.txt\""],
    ));

    // A file that is also a folder of another entry, in either order, and a directory
    // entry beside a file of the same name: no tree holds both. Extraction refuses before
    // writing anything; listing and verifying are fine.
    let file_then_child = zip_of(&[
        harmless(),
        Planned::stored("a", b"file\n"),
        Planned::stored("a/b", b"child\n"),
    ]);
    let child_then_file = zip_of(&[
        harmless(),
        Planned::stored("a/b", b"child\n"),
        Planned::stored("a", b"file\n"),
    ]);
    let mut directory = Planned::stored("a/", b"");
    directory.mode = DIRECTORY;
    let directory_and_file = zip_of(&[harmless(), directory, Planned::stored("a", b"file\n")]);
    for (label, bytes) in [
        ("file-then-child", file_then_child),
        ("child-then-file", child_then_file),
        ("directory-and-file", directory_and_file),
    ] {
        let mut case = Case::fine(label, bytes, &[("harmless.txt", b"first\n")])
            .cat("harmless.txt", Expect::Ok);
        case.extract = Expect::Fails(&["\"a\"", "both as a file and as a folder"]);
        check(&case);
    }
}

#[test]
fn a_rename_that_fails_takes_back_the_files_renamed_before_it() {
    // A last component of 300 bytes is a fine zip name but too long for the filesystem
    // (NAME_MAX is 255): its data goes to a temporary with a short name, and only the
    // rename fails, after harmless.txt was renamed into place. The extraction fails and
    // removes harmless.txt again.
    let long = "x".repeat(300);
    let bytes = zip_of(&[harmless(), Planned::stored(&long, b"long\n")]);
    let mut case = Case::fine(
        "name-too-long",
        bytes,
        &[("harmless.txt", b"first\n"), (long.as_str(), b"long\n")],
    );
    case.extract = Expect::Fails(&["File name too long"]);
    check(&case);
}

// ---- overlapping entries (zip bombs)

#[test]
fn overlapping_entries_are_refused() {
    // Two central entries share one local record.
    let a = Member {
        name: "a.txt",
        data: b"shared bytes\n",
        mode: FILE,
    };
    let b = Member { name: "b.txt", ..a };
    let shared = finish_zip(local_record(a), &[(a, 0), (b, 0)]);
    check(&Case::refused("shared-local", shared, &["overlap"]));

    // A complete local record for b.txt hidden inside a.txt's data.
    let b = Member {
        name: "b.txt",
        data: b"inner\n",
        mode: FILE,
    };
    let mut outer_data = b"0123456789".to_vec();
    outer_data.extend(local_record(b));
    outer_data.extend_from_slice(b"0123456789");
    let a = Member {
        name: "a.txt",
        data: &outer_data,
        mode: FILE,
    };
    let nested_offset = (30 + a.name.len() + 10) as u32;
    let nested = finish_zip(local_record(a), &[(a, 0), (b, nested_offset)]);
    check(&Case::refused(
        "nested",
        nested,
        &["\"a.txt\"", "\"b.txt\"", "overlap"],
    ));

    // The many-entries bomb: 20,000 central entries, every one pointing at the same
    // local record. Refused, and fast.
    let kernel = vec![b'z'; 1000];
    let first = Member {
        name: "f00000",
        data: &kernel,
        mode: FILE,
    };
    let names: Vec<String> = (0..20_000).map(|i| format!("f{i:05}")).collect();
    let central: Vec<(Member, u32)> = names
        .iter()
        .map(|name| (Member { name, ..first }, 0))
        .collect();
    let bomb = finish_zip(local_record(first), &central);
    check(&Case::refused("shared-local-20000", bomb, &["overlap"]));

    // Fifield's overlapping-files construction: N local headers back to back, then one
    // kernel; entry i's data is every later header plus the kernel, so each header
    // "contains" all the following entries.
    let count = 50;
    let kernel = vec![b'k'; 4096];
    let names: Vec<String> = (0..count).map(|i| format!("{i:02}")).collect();
    let mut body = Vec::new();
    let mut central = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut data = Vec::new();
        for later in &names[i + 1..] {
            data.extend(Header::stored(later, b"").local());
        }
        data.extend_from_slice(&kernel);
        let header = Header::stored(name, &data);
        let offset = body.len() as u32;
        body.extend(header.local());
        central.push(header.central(FILE, offset));
    }
    // The local headers above declare the sizes of the whole span; only the kernel
    // follows the last one.
    body.extend_from_slice(&kernel);
    let central_offset = body.len() as u32;
    let central_bytes: Vec<u8> = central.concat();
    body.extend_from_slice(&central_bytes);
    body.extend(eocd(
        count as u16,
        central_bytes.len() as u32,
        central_offset,
    ));
    let mut case = Case::refused("fifield-overlap", body, &["overlap"]);
    case.cat = "00";
    check(&case);
}

// ---- damaged data: the directory lists, reading fails

#[test]
fn bad_crc_and_disagreeing_local_headers_fail_when_read_and_write_nothing() {
    // The CRC-32 both headers carry is wrong.
    let mut bad = Planned::stored("b.txt", b"pwned\n");
    bad.local.crc32 ^= 1;
    bad.central.crc32 ^= 1;
    check(&Case::bad_data(
        "bad-crc",
        zip_of(&[harmless(), bad.clone()]),
        "b.txt",
        &["\"b.txt\"", "crc-32 mismatch"],
    ));
    // The bad member first: the good one after it is not extracted either.
    check(&Case::bad_data(
        "bad-crc-first",
        zip_of(&[bad, harmless()]),
        "b.txt",
        &["\"b.txt\"", "crc-32 mismatch"],
    ));

    // A member larger than one 8 MiB part is fetched in parallel slices whose CRC-32s are
    // combined: a flipped byte in the middle is still caught.
    let mut big = vec![7u8; 9 * 1024 * 1024 + 123];
    let mut member = Planned::stored("big.bin", &big);
    big[5 * 1024 * 1024] ^= 0x40;
    member.data = big;
    let mut case = Case::bad_data(
        "bad-crc-sliced",
        zip_of(&[harmless(), member]),
        "big.bin",
        &["\"big.bin\"", "crc-32 mismatch"],
    );
    case.cat_limit = 9 * 1024 * 1024 + 123;
    check(&case);

    // The local header disagrees with the central one on one field.
    type Bend = fn(&mut Header);
    let bends: [(&str, Bend, &str); 4] = [
        ("local-crc", |h| h.crc32 ^= 1, "crc-32"),
        ("local-size", |h| h.compressed_size += 1, "compressed size"),
        (
            "local-uncompressed-size",
            |h| h.uncompressed_size += 1,
            "uncompressed size",
        ),
        ("local-method", |h| h.method = DEFLATE, "compression method"),
    ];
    for (label, bend, field) in bends {
        let mut entry = Planned::stored("b.txt", b"pwned\n");
        bend(&mut entry.local);
        let needles: &[&str] = match field {
            "crc-32" => &["\"b.txt\"", "disagrees", "crc-32"],
            "compressed size" => &["\"b.txt\"", "disagrees", "compressed size"],
            "uncompressed size" => &["\"b.txt\"", "disagrees", "uncompressed size"],
            _ => &["\"b.txt\"", "disagrees", "compression method"],
        };
        check(&Case::bad_data(
            label,
            zip_of(&[harmless(), entry]),
            "b.txt",
            needles,
        ));
    }

    // The local header's extra length (40) runs past the member's data and the next
    // local header: the bytes are not there.
    let b = Member {
        name: "b.txt",
        data: b"pwned\n",
        mode: FILE,
    };
    let h = Member {
        name: "harmless.txt",
        data: b"first\n",
        mode: FILE,
    };
    let mut header = Header::stored(b.name, b.data);
    header.extra = vec![0xaa; 40];
    let mut body = header.local();
    body.truncate(30 + b.name.len());
    body.extend_from_slice(b.data);
    let next_offset = body.len() as u32;
    body.extend(local_record(h));
    let bytes = finish_zip(body, &[(b, 0), (h, next_offset)]);
    let mut case = Case::bad_data(
        "local-extra-too-long",
        bytes,
        "b.txt",
        &["local file header at offset 0"],
    );
    case.cat_limit = 0;
    check(&case);

    // The central entry points at junk instead of a local header.
    let mut body = vec![b'#'; 100];
    let offset = body.len() as u32;
    body.extend(local_record(h));
    let bytes = finish_zip(body, &[(b, 0), (h, offset)]);
    check(&Case::bad_data(
        "local-offset-at-junk",
        bytes,
        "b.txt",
        &["bad local file header signature at offset 0"],
    ));
}

#[test]
fn deflate_bombs_are_bounded_by_the_declared_size() {
    // 1 GiB of zeros in 6.8 MB, declared as 1,000 bytes: decompression stops at the
    // declared size and fails; nothing is written (past FILE_LIMIT_KIB the command
    // would die of SIGXFSZ), memory and time stay bounded.
    let copies = 4_200_000;
    let bomb = zeros_bomb(copies);
    let declared = 1000u32;
    let entry = deflated("bomb.bin", &bomb, declared, crc32fast::hash(&[0; 1000]));
    let mut case = Case::bad_data(
        "deflate-bomb",
        zip_of(&[harmless(), entry]),
        "bomb.bin",
        &["\"bomb.bin\""],
    );
    case.cat_limit = u64::from(declared);
    check(&case);

    // 32 MiB declared at its true size but with a wrong CRC-32: all of it is inflated
    // into a temporary, which is removed.
    let copies = 130_000;
    let size = 1 + 258 * copies;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&vec![0; size as usize]);
    let entry = deflated(
        "bomb.bin",
        &zeros_bomb(copies),
        size as u32,
        hasher.finalize() ^ 1,
    );
    let mut case = Case::bad_data(
        "deflate-bomb-bad-crc",
        zip_of(&[harmless(), entry]),
        "bomb.bin",
        &["\"bomb.bin\"", "crc-32 mismatch"],
    );
    case.cat_limit = size;
    check(&case);

    // Not deflate at all; a stream cut in half; a stream followed by hidden bytes.
    let text = b"hello, hostile world\n".repeat(200);
    let good = deflate(&text);
    let crc = crc32fast::hash(&text);
    let size = text.len() as u32;
    let mut hidden = good.clone();
    hidden.extend_from_slice(b"hidden payload after the end of the deflate stream");
    let cases: [(&str, Vec<u8>); 3] = [
        ("deflate-garbage", vec![0xff; 64]),
        ("deflate-truncated", good[..good.len() / 2].to_vec()),
        ("deflate-trailing-bytes", hidden),
    ];
    for (label, compressed) in cases {
        let mut case = Case::bad_data(
            label,
            zip_of(&[harmless(), deflated("text.txt", &compressed, size, crc)]),
            "text.txt",
            &["\"text.txt\""],
        );
        case.cat_limit = u64::from(size);
        check(&case);
    }

    // The control: the same builder makes a deflate member every command reads.
    check(
        &Case::fine(
            "deflate-control",
            zip_of(&[harmless(), deflated("text.txt", &good, size, crc)]),
            &[("harmless.txt", b"first\n"), ("text.txt", &text)],
        )
        .cat("text.txt", Expect::Ok),
    );
}

#[test]
fn unsupported_methods_encryption_and_huge_declared_sizes() {
    for method in [12u16, 14, 93, 99] {
        let mut entry = Planned::stored("b.bin", b"compressed?");
        entry.local.method = method;
        entry.central.method = method;
        entry.local.uncompressed_size = 100;
        entry.central.uncompressed_size = 100;
        let needle = format!("compression method {method}");
        check(&Case::bad_data(
            format!("method-{method}"),
            zip_of(&[harmless(), entry]),
            "b.bin",
            &["\"b.bin\"", &needle],
        ));
    }

    let mut entry = Planned::stored("secret.txt", b"ciphertext");
    entry.local.flags |= 1;
    entry.central.flags |= 1;
    check(&Case::refused(
        "encrypted",
        zip_of(&[harmless(), entry]),
        &["\"secret.txt\"", "encrypted"],
    ));

    // Deflate members declaring 2^63 bytes each (ZIP64 extra): the sizes must neither
    // be trusted nor summed into an overflow.
    let text = b"tiny\n";
    let compressed = deflate(text);
    let huge = |name: &str| {
        let mut entry = deflated(name, &compressed, u32::MAX, crc32fast::hash(text));
        let extra = zip64_extra(&[1 << 63]);
        entry.local.extra = extra.clone();
        entry.central.extra = extra;
        entry
    };
    let case = Case::bad_data(
        "huge-declared-sizes",
        zip_of(&[huge("x.bin"), huge("y.bin")]),
        "x.bin",
        &["\"x.bin\"", "size mismatch"],
    );
    check(&case);
}

// ---- lies in the end records, offsets and sizes past the end

/// The valid three-member archive the truncation and lying-record cases start from.
fn three_members() -> Vec<Planned> {
    vec![
        harmless(),
        Planned::stored("dir/second.txt", b"second member\n"),
        Planned::stored("third.txt", b"3\n"),
    ]
}

#[test]
fn truncation_at_every_record_boundary_fails_cleanly() {
    for zip64 in [false, true] {
        let layout = Layout::new(&three_members(), zip64);
        // The archive itself is fine.
        check(
            &Case::fine(
                format!("untruncated-zip64-{zip64}"),
                layout.bytes.clone(),
                &[
                    ("harmless.txt", b"first\n"),
                    ("dir/second.txt", b"second member\n"),
                    ("third.txt", b"3\n"),
                ],
            )
            .cat("dir/second.txt", Expect::Ok),
        );
        let len = layout.bytes.len() as u64;
        let mut cuts: Vec<(u64, String)> = Vec::new();
        for (offset, what) in &layout.boundaries {
            for cut in [offset.saturating_sub(1), *offset, offset + 1] {
                if cut < len {
                    cuts.push((cut, format!("{what} {cut}")));
                }
            }
        }
        cuts.push((len - 1, "last byte".into()));
        cuts.dedup_by_key(|(cut, _)| *cut);
        parallel(&cuts, |(cut, what)| {
            let bytes = layout.bytes[..*cut as usize].to_vec();
            check(&Case::refused(
                format!("zip64-{zip64} cut at {what}"),
                bytes,
                &[],
            ));
        });
    }
}

#[test]
fn truncation_at_every_length_fails_cleanly() {
    let entries = [
        Planned::stored("a.txt", b"a\n"),
        Planned::stored("d/b.txt", b"bb\n"),
    ];
    let bytes = zip_of(&entries);
    let lengths: Vec<usize> = (0..bytes.len()).collect();
    parallel(&lengths, |&len| {
        check(&Case::refused(
            format!("truncated to {len} bytes"),
            bytes[..len].to_vec(),
            &[],
        ));
    });
}

/// Runs `job` on every item, a few at a time.
fn parallel<T: Sync>(items: &[T], job: impl Fn(&T) + Sync) {
    let workers = thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let chunk = items.len().div_ceil(workers).max(1);
    thread::scope(|scope| {
        for part in items.chunks(chunk) {
            let job = &job;
            scope.spawn(move || part.iter().for_each(job));
        }
    });
}

#[test]
fn offsets_and_sizes_past_the_end_are_refused() {
    // A central entry's local header offset past the end of the file, and the member's
    // size running past it.
    let mut far = Planned::stored("b.txt", b"pwned\n");
    far.central.compressed_size = 0x7fff_0000;
    far.central.uncompressed_size = 0x7fff_0000;
    check(&Case::refused(
        "size-past-end",
        zip_of(&[harmless(), far]),
        &["\"b.txt\"", "outside the member area"],
    ));
    let a = Member {
        name: "harmless.txt",
        data: b"first\n",
        mode: FILE,
    };
    let b = Member {
        name: "b.txt",
        data: b"pwned\n",
        mode: FILE,
    };
    let body = local_record(a);
    for (label, offset) in [
        ("offset-past-end", 0x7fff_0000u32),
        ("offset-max", u32::MAX - 1),
    ] {
        let bytes = finish_zip(body.clone(), &[(a, 0), (b, offset)]);
        check(&Case::refused(
            label,
            bytes,
            &["\"b.txt\"", "outside the member area"],
        ));
    }
    // The local offset points into the central directory, then at the EOCD.
    let plain = zip_of(&[harmless()]);
    let central_offset = (plain.len() - 22 - (46 + 12)) as u32;
    for (label, offset) in [
        ("offset-in-central-directory", central_offset),
        ("offset-at-eocd", plain.len() as u32 - 22),
    ] {
        let bytes = finish_zip(local_record(a), &[(a, 0), (b, offset)]);
        check(&Case::refused(label, bytes, &["outside the member area"]));
    }

    // ZIP64 extra fields with local header offsets at and near 2^64.
    for (label, offset) in [
        ("zip64-offset-2^63", 1u64 << 63),
        ("zip64-offset-max", u64::MAX),
    ] {
        let mut entry = Planned::stored("b.txt", b"pwned\n");
        entry.central.extra = zip64_extra(&[offset]);
        let mut layout = Layout::new(&[harmless(), entry], false);
        layout.set_local_offset_field(1, u32::MAX);
        check(&Case::refused(
            label,
            layout.bytes,
            &["\"b.txt\"", "outside the member area"],
        ));
    }

    // The EOCD's central directory offset and size past the end.
    let plain = zip_of(&three_members());
    let eocd_at = plain.len() - 22;
    for (label, field, value) in [
        ("cd-offset-past-end", 16, 0x7fff_0000u32),
        ("cd-size-past-end", 12, 0x7fff_0000),
        ("cd-offset-max", 16, u32::MAX - 1),
    ] {
        let mut bytes = plain.clone();
        bytes[eocd_at + field..eocd_at + field + 4].copy_from_slice(&value.to_le_bytes());
        check(&Case::refused(label, bytes, &["end of central directory"]));
    }
}

/// `three_members` with ZIP64 end records, the ZIP64 record's fields replaced by
/// `record` and the locator's offset by `locator`.
fn zip64_with(record: Option<Vec<u8>>, locator: Option<u64>) -> Vec<u8> {
    let layout = Layout::new(&three_members(), true);
    let bytes = layout.bytes;
    let eocd_at = bytes.len() - 22;
    let locator_at = eocd_at - 20;
    let record_at = locator_at - 56;
    let mut out = bytes[..record_at].to_vec();
    out.extend(record.unwrap_or_else(|| bytes[record_at..locator_at].to_vec()));
    out.extend(zip64_locator(locator.unwrap_or(record_at as u64)));
    out.extend_from_slice(&bytes[eocd_at..]);
    out
}

#[test]
fn zip64_end_records_that_lie_are_refused() {
    let layout = Layout::new(&three_members(), true);
    let cd_offset = layout.central_directory_offset;
    let record_at = layout.bytes.len() as u64 - 22 - 20 - 56;
    let cd_size = record_at - cd_offset;
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "locator-past-end",
            zip64_with(None, Some(1 << 40)),
            &["zip64 end of central directory locator", "points at offset"],
        ),
        (
            "locator-max",
            zip64_with(None, Some(u64::MAX)),
            &["zip64 end of central directory locator"],
        ),
        (
            "locator-at-local-header",
            zip64_with(None, Some(0)),
            &["zip64 end of central directory", "offset 0"],
        ),
        (
            "locator-at-garbage",
            zip64_with(None, Some(3)),
            &["zip64 end of central directory", "offset 3"],
        ),
        (
            "entries-2^40",
            zip64_with(Some(zip64_record(1 << 40, cd_size, cd_offset)), None),
            &["1099511627776 entries"],
        ),
        (
            "entries-max",
            zip64_with(Some(zip64_record(u64::MAX, cd_size, cd_offset)), None),
            &["entries"],
        ),
        (
            "entries-70000",
            zip64_with(Some(zip64_record(70_000, cd_size, cd_offset)), None),
            &["70000 entries"],
        ),
        (
            "entries-one-more",
            zip64_with(Some(zip64_record(4, cd_size, cd_offset)), None),
            &["4 entries"],
        ),
        (
            "entries-fewer",
            zip64_with(Some(zip64_record(2, cd_size, cd_offset)), None),
            &["central directory"],
        ),
        (
            "cd-size-huge",
            zip64_with(Some(zip64_record(3, 1 << 62, cd_offset)), None),
            &["central directory"],
        ),
        (
            "cd-offset-past-end",
            zip64_with(Some(zip64_record(3, cd_size, 1 << 40)), None),
            &["central directory"],
        ),
        (
            // Offset and size each past 2^63: their sum wraps around to the record.
            "cd-offset-and-size-wrap",
            zip64_with(
                Some(zip64_record(3, cd_size + (1 << 63), cd_offset + (1 << 63))),
                None,
            ),
            &["central directory"],
        ),
        (
            "record-size-huge",
            zip64_with(
                Some({
                    let mut record = zip64_record(3, cd_size, cd_offset);
                    record[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
                    record
                }),
                None,
            ),
            &["zip64 end of central directory"],
        ),
    ];
    for (label, bytes, needles) in cases {
        check(&Case::refused(label, bytes, needles));
    }

    // The EOCD says "see ZIP64" but there is no locator.
    let plain = zip_of(&three_members());
    let mut bytes = plain.clone();
    let eocd_at = bytes.len() - 22;
    bytes[eocd_at + 8..eocd_at + 10].copy_from_slice(&u16::MAX.to_le_bytes());
    bytes[eocd_at + 10..eocd_at + 12].copy_from_slice(&u16::MAX.to_le_bytes());
    check(&Case::refused(
        "placeholders-without-locator",
        bytes,
        &["no zip64 end of central directory locator"],
    ));
}

#[test]
fn entry_counts_and_comment_lengths_that_lie_are_refused() {
    // Long names, so that the 46-byte minimum per header does not give the lie away.
    let long =
        |name: &str, data: &[u8]| Planned::stored(&format!("{name}-{}", "n".repeat(60)), data);
    let entries = [long("a", b"a\n"), long("b", b"b\n")];
    let plain = zip_of(&entries);
    let eocd_at = plain.len() - 22;
    let with_count = |count: u16| {
        let mut bytes = plain.clone();
        bytes[eocd_at + 8..eocd_at + 10].copy_from_slice(&count.to_le_bytes());
        bytes[eocd_at + 10..eocd_at + 12].copy_from_slice(&count.to_le_bytes());
        bytes
    };
    check(&Case::refused(
        "count-one-more",
        with_count(3),
        &["declares 3 entries but holds 2"],
    ));
    check(&Case::refused(
        "count-one-less",
        with_count(1),
        &["follow the 1 declared entries"],
    ));
    check(&Case::refused(
        "count-65534",
        with_count(65_534),
        &["65534 entries cannot fit"],
    ));
    let mut bytes = with_count(2);
    bytes[eocd_at + 8..eocd_at + 10].copy_from_slice(&1u16.to_le_bytes());
    check(&Case::refused(
        "count-on-disk-differs",
        bytes,
        &["1 entries on this disk but 2 in total"],
    ));

    // Comment length: longer than what follows, shorter, and junk after a zero length.
    let set_comment_len = |bytes: &mut Vec<u8>, len: u16| {
        bytes[eocd_at + 20..eocd_at + 22].copy_from_slice(&len.to_le_bytes());
    };
    let mut longer = plain.clone();
    set_comment_len(&mut longer, 100);
    longer.extend_from_slice(b"only ten b");
    let mut shorter = plain.clone();
    set_comment_len(&mut shorter, 4);
    shorter.extend_from_slice(b"ten bytes!");
    let mut junk = plain.clone();
    junk.extend_from_slice(b"junk after the end records");
    for (label, bytes) in [
        ("comment-longer", longer),
        ("comment-shorter", shorter),
        ("junk-after-eocd", junk),
    ] {
        check(&Case::refused(label, bytes, &["comment length"]));
    }

    // A second, fake EOCD as the comment of the real one: it ends the file, so it is
    // the one found, and it points at a directory that is not there.
    let fake = eocd(1, 46, 0);
    let mut bytes = plain[..eocd_at + 20].to_vec();
    bytes.extend_from_slice(&(fake.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&fake);
    check(&Case::refused(
        "fake-eocd-in-comment",
        bytes,
        &["end of central directory"],
    ));

    // Multi-disk.
    let mut bytes = plain.clone();
    bytes[eocd_at + 4..eocd_at + 6].copy_from_slice(&1u16.to_le_bytes());
    check(&Case::refused("multi-disk", bytes, &["multi-disk"]));

    // A comment of the maximal length, well formed: fine.
    let cd_offset = Layout::new(&entries, false).central_directory_offset as u32;
    let mut bytes = plain[..eocd_at].to_vec();
    bytes.extend(eocd_with_comment(
        2,
        eocd_at as u32 - cd_offset,
        cd_offset,
        &[b'c'; 65_535],
    ));
    let name_b = String::from_utf8(entries[1].central.name.clone()).expect("UTF-8");
    let name_a = String::from_utf8(entries[0].central.name.clone()).expect("UTF-8");
    check(
        &Case::fine(
            "max-comment",
            bytes,
            &[(name_a.as_str(), b"a\n"), (name_b.as_str(), b"b\n")],
        )
        .cat(&name_b, Expect::Ok),
    );
}

#[test]
fn claims_of_65536_entries_with_few_present_are_refused() {
    // 16-bit counts at their placeholder with a ZIP64 record claiming 70,000 and
    // 100,000 entries; the directory holds 3.
    let layout = Layout::new(&three_members(), true);
    let cd_offset = layout.central_directory_offset;
    let record_at = layout.bytes.len() as u64 - 22 - 20 - 56;
    for count in [65_536u64, 100_000] {
        let bytes = zip64_with(
            Some(zip64_record(count, record_at - cd_offset, cd_offset)),
            None,
        );
        let needle = format!("{count} entries cannot fit");
        check(&Case::refused(
            format!("zip64-claims-{count}"),
            bytes,
            &[&needle],
        ));
    }
    // 65,535 claimed in a plain EOCD (that value means "see ZIP64") without a ZIP64
    // record: refused, not read as 65,535 entries.
    let plain = zip_of(&three_members());
    let eocd_at = plain.len() - 22;
    let mut bytes = plain.clone();
    bytes[eocd_at + 8..eocd_at + 12].copy_from_slice(&[0xff; 4]);
    check(&Case::refused(
        "plain-claims-65535",
        bytes,
        &["zip64 placeholders"],
    ));
}

// ---- not zip files at all

/// A ustar archive holding one file.
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    header[136..148].copy_from_slice(b"14500000000\0");
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512) + 1024, 0);
    out
}

#[test]
fn files_that_are_not_zips_are_refused() {
    let png = {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(b"IHDR");
        png.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
        png.extend_from_slice(&[0x1f, 0x15, 0xc4, 0x89]);
        png
    };
    let zip = zip_of(&three_members());
    // A PNG with a zip appended whose offsets were not shifted (a careless polyglot).
    let mut polyglot = png.clone();
    polyglot.extend_from_slice(&zip);
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty-file", Vec::new(), &["not a zip archive"]),
        ("one-byte", b"P".to_vec(), &["not a zip archive"]),
        (
            "text",
            b"just some text, not an archive\n".repeat(10),
            &["not a zip archive"],
        ),
        ("png", png, &["not a zip archive"]),
        (
            "tar",
            tar_of("hello.txt", b"hello\n"),
            &["not a zip archive"],
        ),
        // The zip inside a tar: the tar's padding follows the EOCD.
        ("zip-in-tar", tar_of("inner.zip", &zip), &["comment length"]),
        ("zeros-1mib", vec![0u8; 1024 * 1024], &["not a zip archive"]),
        (
            "signatures-only",
            b"PK\x05\x06".repeat(20_000),
            &["end of central directory"],
        ),
        (
            "png-with-zip-appended",
            polyglot,
            &["end of central directory", "prepended"],
        ),
    ];
    for (label, bytes, needles) in cases {
        check(&Case::refused(label, bytes, needles));
    }

    // The empty archive (an EOCD alone) is a valid zip with nothing in it.
    let mut case = Case::fine("empty-archive", eocd(0, 0, 0), &[]);
    case.cat_expect = Expect::Fails(&["no member \"harmless.txt\""]);
    case.cat = "harmless.txt";
    check(&case);
}

// ---- a lakezip index that lies

#[test]
fn the_extract_targets_are_unique_even_when_tables_overlap() {
    // A lakezip-style table index whose two tables both claim the whole central
    // directory: `extract a b` would get every entry twice.
    let members = [
        Planned::stored("a/x.txt", b"x\n"),
        Planned::stored("b/y.txt", b"y\n"),
    ];
    let mut entries = members.to_vec();
    let mut body_len = 0u64;
    for entry in &entries {
        body_len += 30 + entry.local.name.len() as u64 + entry.data.len() as u64;
    }
    // The index member comes last; its own offset must be known before its bytes, so
    // compute it from the other records' lengths.
    let index_name = ".lakezip/index.json";
    let index_data_offset = body_len + 30 + index_name.len() as u64;
    let central_len: u64 = entries
        .iter()
        .map(|e| 46 + e.central.name.len() as u64)
        .sum::<u64>()
        + 46
        + index_name.len() as u64;
    let index_json = |length: u64| {
        format!(
            concat!(
                r#"{{"lakezip_index":1,"archive_id":"00000000-0000-0000-0000-000000000000","#,
                r#""manifest":{{"offset":{o},"length":{l},"crc32":"00000000"}},"tables":["#,
                r#"{{"path":"a","format":"files","files":2,"bytes":6,"data_range":[0,{d}],"central_directory_range":[0,{c}]}},"#,
                r#"{{"path":"b","format":"files","files":2,"bytes":6,"data_range":[0,{d}],"central_directory_range":[0,{c}]}}]}}"#
            ),
            o = index_data_offset,
            l = length,
            d = body_len,
            c = central_len - 46 - index_name.len() as u64,
        )
    };
    // The JSON's length depends on itself only through `l`; two rounds settle it.
    let mut json = index_json(0);
    json = index_json(json.len() as u64);
    json = index_json(json.len() as u64);
    entries.push(Planned::stored(index_name, json.as_bytes()));
    let layout = Layout::new(&entries, false);
    let mut bytes = layout.bytes;
    assert_eq!(
        layout.local_offsets[2] + 30 + index_name.len() as u64,
        index_data_offset
    );
    let comment = format!(
        "lakezip/1 index={}+{} crc32={:08x}",
        index_data_offset,
        json.len(),
        crc32fast::hash(json.as_bytes())
    );
    let eocd_at = bytes.len() - 22;
    let mut end = bytes[eocd_at..eocd_at + 20].to_vec();
    end.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    end.extend_from_slice(comment.as_bytes());
    bytes.truncate(eocd_at);
    bytes.extend(end);

    let mut case = Case::fine(
        "overlapping-tables",
        bytes,
        &[
            ("a/x.txt", b"x\n"),
            ("b/y.txt", b"y\n"),
            (index_name, json.as_bytes()),
        ],
    )
    .cat("a/x.txt", Expect::Ok);
    // verify checks the index against the directory; the manifest it points at is not
    // a manifest.
    case.verify = Expect::Fails(&["manifest"]);
    case.extract_args = vec!["a", "b"];
    case.extract = Expect::Fails(&["\"a/x.txt\"", "more than once"]);
    check(&case);
}

// ---- modes

#[test]
fn setuid_and_other_special_bits_are_dropped() {
    let mut entry = Planned::stored("run.sh", b"#!/bin/sh\n");
    entry.mode = 0o104_755;
    let sandbox = Sandbox::new();
    sandbox.check(
        &Case::fine("setuid", zip_of(&[entry]), &[("run.sh", b"#!/bin/sh\n")])
            .cat("run.sh", Expect::Ok),
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(sandbox.out.join("run.sh"))
        .expect("extracted")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn the_builders_make_archives_the_zip_crate_reads() {
    // The helpers shared with tests/cli_e2e.rs: simple_zip is read by the zip crate too.
    let bytes = simple_zip(&[
        Member {
            name: "dir/ok.txt",
            data: b"fine\n",
            mode: 0o100_755,
        },
        Member {
            name: "b.txt",
            data: b"b\n",
            mode: FILE,
        },
    ]);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).expect("zip crate");
    assert_eq!(archive.len(), 2);
    let mut text = String::new();
    archive
        .by_name("dir/ok.txt")
        .expect("member")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "fine\n");
    for zip64 in [false, true] {
        let layout = Layout::new(&three_members(), zip64);
        let archive = zip::ZipArchive::new(std::io::Cursor::new(&layout.bytes)).expect("zip crate");
        assert_eq!(archive.len(), 3, "zip64 {zip64}");
    }
}

/// A stored member whose ZIP64 extra field declares sizes of `u64::MAX`.
/// `30 + name + compressed_size` used to overflow in `Entry::minimal_local_span` (every
/// command panicked); the span now saturates and the entry lies outside the member area.
#[test]
fn zip64_sizes_of_u64_max_are_refused_without_overflow() {
    let mut entry = Planned::stored("b.txt", b"pwned\n");
    entry.central.uncompressed_size = u32::MAX;
    entry.central.compressed_size = u32::MAX;
    entry.central.extra = zip64_extra(&[u64::MAX, u64::MAX]);
    check(&Case::refused(
        "zip64-sizes-max",
        zip_of(&[harmless(), entry]),
        &["\"b.txt\"", "outside the member area"],
    ));
}

// ---- claims backed by nothing: sparse files

/// A central directory claimed to be 1 GiB long, in a sparse file: one real header, then
/// a hole.
///
/// The reader core reads a central directory in pieces of 8 MiB and checks each before
/// asking for the next, so the lie is found in the first piece: nothing near 1 GiB is
/// allocated or read (the test runs under a memory limit).
#[test]
fn a_central_directory_claimed_in_a_hole_is_refused_without_reading_it() {
    let claimed = 1u64 << 30;
    let entry = Planned::stored("harmless.txt", b"first\n");
    let mut bytes = entry.local.local();
    bytes.extend_from_slice(&entry.data);
    let central_offset = bytes.len() as u32;
    let header = entry.central.central(FILE, 0);
    let header_len = header.len();
    bytes.extend(header);
    bytes.extend(eocd(1, claimed as u32, central_offset));
    let mut case = Case::refused("central-directory-in-a-hole", bytes, &["central directory"]);
    case.hole = Some((
        central_offset as usize + header_len,
        claimed - header_len as u64,
    ));
    check(&case);
}

/// A lakezip index pointer in the comment claiming a 1 GiB index, in a sparse file.
///
/// An index is a few hundred bytes per table and every table has central directory
/// headers, so the reader refuses an index claimed larger than 1 MiB + 16 × the central
/// directory before reading it. Commands that use the index (`cat`, `ls --tables`,
/// `verify`) fail naming it; `extract` reads the central directory and works.
#[test]
fn an_index_claimed_in_a_hole_is_refused_without_reading_it() {
    let claimed = 1u64 << 30;
    let entry = Planned::stored("harmless.txt", b"first\n");
    let mut body = entry.local.local();
    body.extend_from_slice(&entry.data);
    let hole_at = body.len();
    let central_offset = hole_at as u64 + claimed;
    let header = entry.central.central(FILE, 0);
    let comment = format!("lakezip/1 index=0+{claimed} crc32=00000000");
    let mut bytes = body;
    bytes.extend_from_slice(&header);
    bytes.extend(eocd_with_comment(
        1,
        header.len() as u32,
        central_offset as u32,
        comment.as_bytes(),
    ));
    let mut case = Case::fine("index-in-a-hole", bytes, &[("harmless.txt", b"first\n")])
        .cat("harmless.txt", Expect::Fails(&["index"]));
    case.ls_tables = Some(Expect::Fails(&["index"]));
    case.verify = Expect::Fails(&["index"]);
    case.hole = Some((hole_at, claimed));
    check(&case);
}
