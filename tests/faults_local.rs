//! Local faults, with the real `lakezip` binary:
//!
//! - **a full disk**: pack to, and extract into, a 2 MiB tmpfs (ENOSPC); and the same under
//!   a file-size limit (`prlimit --fsize`, EFBIG with SIGXFSZ ignored), which needs no
//!   privileges, so those two run wherever the tests run;
//! - **permission denied**: a DEST folder that is not writable, an unreadable source file,
//!   an archive that cannot be read, extract and restore into read-only folders. Root
//!   ignores permission bits, so when the tests run as root the binary runs as `nobody`
//!   (`setpriv --reuid=65534 --regid=65534 --clear-groups`);
//! - **source files changing or vanishing during pack** (to a local file and to S3): the
//!   file being read, or one read after it, grows, shrinks, is rewritten or deleted;
//! - **SIGINT** in the middle of pack, extract and restore, then a rerun.
//!
//! Every failure must be exit 1 with one clear line naming the path, and leave no file at
//! a final path (DEST, or an extracted name) and no temporary file behind.
//!
//! No sleep decides anything: the test polls `/proc/<pid>` until the binary reaches a
//! known point (a given source file open and partly read, a partial file with data),
//! stops it with SIGSTOP, changes the files (or sends SIGINT), then lets it go on with
//! SIGCONT. If the binary got past that point before it could be stopped (a very loaded
//! machine), the case runs again with larger files instead of passing or failing by luck.
//!
//! The tmpfs needs CAP_SYS_ADMIN: where mounting is refused, those two tests say so on
//! stderr and pass, and the `prlimit` ones still cover a write failing mid-archive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::s3::S3Server;
use common::{json_lines, lakezip, lakezip_bin, lakezip_ok, noise, require_tool, run_ok};
use serde_json::Value;
use tempfile::TempDir;

const MIB: u64 = 1 << 20;

/// Prefix of the temporary files lakezip writes before renaming them into place.
const PARTIAL: &str = ".lakezip-partial-";

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_file(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A file of `len` zero bytes that takes no disk space.
fn sparse_file(path: &Path, len: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// Sets a file's mtime (source files get an old one, so that any write changes it).
fn set_mtime(path: &Path, unix_seconds: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(unix_seconds))
        .unwrap();
}

/// Size and CRC-32 of a file, streamed.
fn digest(path: &Path) -> (u64, u32) {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; MIB as usize];
    let mut len = 0;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    (len, hasher.finalize())
}

/// Every regular file under `root` (hidden ones too, so leftover partial files count):
/// relative `/`-separated path → size and CRC-32.
fn digest_tree(root: &Path) -> BTreeMap<String, (u64, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.insert(utf8(relative).to_owned(), digest(&path));
            }
        }
    }
    out
}

/// Partial (temporary) files left under `root`.
fn partials(root: &Path) -> Vec<String> {
    digest_tree(root)
        .into_keys()
        .filter(|p| p.rsplit('/').next().unwrap().starts_with(PARTIAL))
        .collect()
}

/// True if a partial file under `root` already holds data.
fn partial_with_data(root: &Path) -> bool {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if entry.file_name().to_string_lossy().starts_with(PARTIAL) && meta.len() > 0 {
                return true;
            }
        }
    }
    false
}

/// Asserts a failed run: exit 1, and stderr exactly one `lakezip: error:` line holding
/// every `needle` (case-insensitive). Returns the line.
fn assert_one_line_error(out: &Output, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1, got {}:\nstdout: {}\nstderr: {err}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{err}");
    let line = lines[0];
    assert!(line.starts_with("lakezip: error: "), "{line}");
    for needle in needles {
        assert!(
            line.to_lowercase().contains(&needle.to_lowercase()),
            "the error should mention {needle:?}: {line}"
        );
    }
    line.to_owned()
}

/// `(size, crc32)` of every member of an archive, from `lakezip ls --json`.
fn members(archive: &str, env: &[(String, String)]) -> BTreeMap<String, (u64, u32)> {
    let out = run_ok(
        Command::new(lakezip_bin())
            .envs(env.iter().cloned())
            .args(["ls", archive, "--json"]),
    );
    json_lines(&out)
        .into_iter()
        .filter(|r| r["type"] == "entry" && r["kind"] == "file")
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                (
                    r["size"].as_u64().unwrap(),
                    u32::from_str_radix(r["crc32"].as_str().unwrap(), 16).unwrap(),
                ),
            )
        })
        .collect()
}

fn unzip_test(path: &Path) {
    require_tool("unzip", "unzip");
    let out = run_ok(Command::new("unzip").args(["-tq", utf8(path)]));
    assert!(out.contains("No errors"), "{out}");
}

/// The effective uid of this process.
fn euid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// `lakezip ARGS…` as a user that permission bits apply to: `nobody` (via setpriv) when
/// the tests run as root, else the current user.
fn lakezip_unprivileged(args: &[&str]) -> Output {
    let mut cmd = if euid() == 0 {
        require_tool("setpriv", "util-linux");
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            utf8(&lakezip_bin()),
        ]);
        cmd
    } else {
        Command::new(lakezip_bin())
    };
    cmd.args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// A temporary directory that an unprivileged user can enter and read.
fn shared_tempdir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("lakezip-faults-")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------
// A running binary that the test can pause.

/// A `lakezip` process the test watches through `/proc` and pauses with SIGSTOP. Dropping
/// it kills the process if it is still there.
struct Running {
    child: Option<Child>,
    pid: u32,
    command: String,
}

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("SOURCE_DATE_EPOCH");
        let command = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
        Running {
            pid: child.id(),
            child: Some(child),
            command,
        }
    }

    fn exited(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_some()
    }

    /// Polls `ready` until it holds (true) or the process has exited (false).
    fn poll_until(&mut self, what: &str, mut ready: impl FnMut(u32) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready(self.pid) {
                return true;
            }
            if self.exited() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} in {}",
                self.command
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Like [`Running::poll_until`], but the process exiting first fails the test.
    fn wait_for(&mut self, what: &str, ready: impl FnMut(u32) -> bool) {
        if !self.poll_until(what, ready) {
            let out = self.child.take().unwrap().wait_with_output().unwrap();
            panic!(
                "{} exited ({}) before {what}:\n{}",
                self.command,
                out.status,
                stderr(&out)
            );
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name} {}", self.pid);
    }

    /// Sends SIGSTOP and waits until every thread is stopped (or the process has exited).
    fn stop(&mut self) {
        self.signal("STOP");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !all_threads_stopped(self.pid) {
            assert!(Instant::now() < deadline, "{} did not stop", self.command);
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn resume(&self) {
        self.signal("CONT");
    }

    fn finish(mut self) -> Output {
        self.child.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether every thread of `pid` is stopped, or the process is gone (exited, not reaped).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else {
            return true;
        };
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        matches!(state, Some('T' | 't' | 'Z' | 'X') | None)
    })
}

/// The read position of `path` if process `pid` has it open.
fn open_position(pid: u32, path: &Path) -> Option<u64> {
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for fd in fds.flatten() {
        if fs::read_link(fd.path()).ok().as_deref() != Some(path) {
            continue;
        }
        let info = fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .ok()?;
        return info
            .lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .and_then(|p| p.trim().parse().ok());
    }
    None
}

// ---------------------------------------------------------------------------------------
// 1. Disk full.

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// `None` (with a note on stderr) when this process may not mount: not root, or no
    /// CAP_SYS_ADMIN (an unprivileged container). The `prlimit` tests cover write failures
    /// without privileges.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = shared_tempdir();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .args(["tmpfs", utf8(dir.path())])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here ({}); the prlimit tests cover full-disk write failures without privileges",
                stderr(&out).trim()
            );
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A source tree of about 3 MiB: more than the 2 MiB tmpfs holds.
fn three_mib_source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    write_file(&src.join("t/a.bin"), &noise(1_500_000, 1));
    write_file(&src.join("t/b.bin"), &noise(1_500_000, 2));
    write_file(&src.join("t/c.txt"), b"small\n");
    src
}

#[test]
fn pack_to_a_full_disk_fails_cleanly() {
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        return;
    };
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let dest = tmpfs.path().join("wh.zip");
    let out = lakezip(&["pack", utf8(&src), "-o", utf8(&dest)]);
    assert_one_line_error(&out, &["no space left on device", utf8(&dest)]);
    assert_eq!(
        digest_tree(tmpfs.path()),
        BTreeMap::new(),
        "nothing is left on the full disk"
    );
}

#[test]
fn extract_onto_a_full_disk_fails_cleanly() {
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        return;
    };
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let archive = dir.path().join("wh.zip");
    lakezip_ok(&["pack", utf8(&src), "-o", utf8(&archive)]);
    let target = tmpfs.path().join("x");
    let out = lakezip(&["extract", utf8(&archive), "-C", utf8(&target)]);
    let line = assert_one_line_error(&out, &["no space left on device", utf8(&target)]);
    // No file at a final path, no temporary file: the folders may stay, nothing else.
    assert_eq!(digest_tree(tmpfs.path()), BTreeMap::new(), "{line}");
}

/// Runs `lakezip ARGS…` with a file-size limit of `limit` bytes; SIGXFSZ is ignored, so an
/// oversized write() fails with EFBIG instead of killing the process.
fn lakezip_with_file_size_limit(limit: u64, args: &[&str]) -> Output {
    require_tool("prlimit", "util-linux");
    Command::new("sh")
        .args(["-c", "trap '' XFSZ; exec \"$@\"", "sh", "prlimit"])
        .arg(format!("--fsize={limit}"))
        .arg(lakezip_bin())
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

#[test]
fn pack_past_the_file_size_limit_fails_cleanly() {
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let dest = out_dir.join("wh.zip");
    let out = lakezip_with_file_size_limit(2 * MIB, &["pack", utf8(&src), "-o", utf8(&dest)]);
    assert_one_line_error(&out, &["file too large", utf8(&dest)]);
    assert_eq!(digest_tree(&out_dir), BTreeMap::new());
}

#[test]
fn extract_past_the_file_size_limit_fails_cleanly() {
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let archive = dir.path().join("wh.zip");
    lakezip_ok(&["pack", utf8(&src), "-o", utf8(&archive)]);
    let target = dir.path().join("x");
    let out = lakezip_with_file_size_limit(MIB, &["extract", utf8(&archive), "-C", utf8(&target)]);
    assert_one_line_error(&out, &["file too large", utf8(&target)]);
    assert_eq!(digest_tree(&target), BTreeMap::new());
}

// ---------------------------------------------------------------------------------------
// 2. Permission denied.

#[test]
fn pack_into_a_folder_that_is_not_writable() {
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let out_dir = dir.path().join("read-only");
    fs::create_dir(&out_dir).unwrap();
    chmod(&out_dir, 0o555);
    let dest = out_dir.join("wh.zip");
    let out = lakezip_unprivileged(&["pack", utf8(&src), "-o", utf8(&dest)]);
    assert_one_line_error(&out, &["permission denied", utf8(&out_dir)]);
    assert_eq!(digest_tree(&out_dir), BTreeMap::new());
}

#[test]
fn pack_with_an_unreadable_source_file() {
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let secret = src.join("t/b.bin");
    chmod(&secret, 0o000);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    chmod(&out_dir, 0o777);
    let dest = out_dir.join("wh.zip");
    let out = lakezip_unprivileged(&["pack", utf8(&src), "-o", utf8(&dest)]);
    assert_one_line_error(&out, &["permission denied", utf8(&secret)]);
    assert_eq!(
        digest_tree(&out_dir),
        BTreeMap::new(),
        "no DEST, no partial file"
    );
}

#[test]
fn extract_and_restore_into_folders_that_are_not_writable() {
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    let archive = dir.path().join("wh.zip");
    lakezip_ok(&["pack", utf8(&src), "-o", utf8(&archive)]);
    chmod(&archive, 0o644);

    // The target itself is read-only.
    let read_only = dir.path().join("read-only");
    fs::create_dir(&read_only).unwrap();
    chmod(&read_only, 0o555);
    let out = lakezip_unprivileged(&["extract", utf8(&archive), "-C", utf8(&read_only)]);
    assert_one_line_error(&out, &["permission denied", utf8(&read_only)]);
    assert_eq!(digest_tree(&read_only), BTreeMap::new());

    // A folder to create inside a read-only one.
    let nested = read_only.join("x");
    let out = lakezip_unprivileged(&["extract", utf8(&archive), "-C", utf8(&nested)]);
    assert_one_line_error(&out, &["permission denied", utf8(&nested)]);

    // The target is writable but a table folder in it is not: nothing lands anywhere.
    let target = dir.path().join("target");
    fs::create_dir_all(target.join("t")).unwrap();
    chmod(&target, 0o777);
    chmod(&target.join("t"), 0o555);
    let out = lakezip_unprivileged(&["extract", utf8(&archive), "-C", utf8(&target)]);
    assert_one_line_error(&out, &["permission denied", utf8(&target.join("t"))]);
    assert_eq!(digest_tree(&target), BTreeMap::new());

    // restore: the same read-only target.
    let out = lakezip_unprivileged(&["restore", utf8(&archive), "-C", utf8(&read_only)]);
    assert_one_line_error(&out, &["permission denied", utf8(&read_only)]);
    assert_eq!(digest_tree(&read_only), BTreeMap::new());

    // An archive that cannot be read.
    chmod(&archive, 0o600);
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    chmod(&elsewhere, 0o777);
    let out = lakezip_unprivileged(&["extract", utf8(&archive), "-C", utf8(&elsewhere)]);
    assert_one_line_error(&out, &["permission denied", utf8(&archive)]);
    assert_eq!(digest_tree(&elsewhere), BTreeMap::new());
}

/// Regression: a packed archive was created with mode 0600 whatever the umask (the
/// temporary file's mode), so an archive packed by one user (root, a backup job) could not
/// be read by any other. It now gets 0666 minus the umask, like `zip`, `tar` or `cp`; so
/// does the chain file (it was 0600 too).
#[test]
fn packed_archive_mode_follows_the_umask() {
    let dir = shared_tempdir();
    let src = three_mib_source(dir.path());
    for (umask, mode) in [("022", 0o644), ("077", 0o600)] {
        let dest = dir.path().join(format!("umask-{umask}.zip"));
        let chain = dir.path().join(format!("umask-{umask}.chain.json"));
        run_ok(
            Command::new("sh")
                .args(["-c", &format!("umask {umask}; exec \"$@\""), "sh"])
                .arg(lakezip_bin())
                .args(["pack", utf8(&src), "-o", utf8(&dest)])
                .args(["--chain", utf8(&chain)]),
        );
        // The chain file too: a web server serving the chain must be able to read it.
        for path in [&dest, &chain] {
            let actual = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                actual,
                mode,
                "umask {umask}: {} mode {actual:o}",
                path.display()
            );
        }
    }
    // Readable by another user without a chmod.
    let target = dir.path().join("as-nobody");
    fs::create_dir(&target).unwrap();
    chmod(&target, 0o777);
    let archive = dir.path().join("umask-022.zip");
    let out = lakezip_unprivileged(&["extract", utf8(&archive), "-C", utf8(&target)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(digest_tree(&target), digest_tree(&src));
}

// ---------------------------------------------------------------------------------------
// 3. Source files changing or vanishing while pack reads them.

/// Which file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// The large file pack is reading (paused part way through it).
    BeingRead,
    /// A small file archived after it (listed, not opened yet).
    Later,
}

/// How it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Bytes appended.
    Grow,
    /// Truncated to half its size.
    Shrink,
    /// Rewritten in place with the same size (new content, new mtime).
    Rewrite,
    /// Deleted.
    Delete,
}

const BIG: &str = "files/a-big.bin";
const LATE: &str = "files/z-late.bin";
/// Listed mtime of the source files: any write moves it.
const OLD_MTIME: u64 = 1_700_000_000;

fn change_file(path: &Path, change: Change) {
    let len = fs::metadata(path).unwrap().len();
    match change {
        Change::Grow => {
            let mut file = fs::File::options().append(true).open(path).unwrap();
            file.write_all(&noise(4096, 99)).unwrap();
        }
        Change::Shrink => fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len / 2)
            .unwrap(),
        Change::Rewrite => {
            // New bytes at both ends, nothing truncated: for the file being read, its
            // start was read before the change and its end will be read after it.
            let file = fs::File::options().write(true).open(path).unwrap();
            let block = noise(4096.min(len as usize / 2), 98);
            file.write_all_at(&block, 0).unwrap();
            file.write_all_at(&block, len - block.len() as u64).unwrap();
        }
        Change::Delete => fs::remove_file(path).unwrap(),
    }
}

/// Where the changing pack writes.
enum PackTo<'a> {
    Local,
    S3(&'a S3Server),
}

/// Packs a tree of a large sparse file (`files/a-big.bin`) and a small one archived after
/// it (`files/z-late.bin`); pauses pack part way through the large file, applies
/// `change` to `which`, and lets pack finish. The result must be exit 1 with one line
/// naming the changed file (required when `must_fail`), or an archive whose members pass
/// `verify` and `unzip -t` and each hold one whole version of their file — never a member
/// mixing versions or disagreeing with its CRC-32 or size.
fn pack_while_changing(which: Which, change: Change, to: PackTo<'_>, must_fail: bool) {
    // A larger file if the pack got past the pause point before it could be stopped (a
    // very loaded machine): the test never depends on timing.
    for big_len in [64 * MIB, 256 * MIB, 1024 * MIB] {
        let dir = shared_tempdir();
        let src = dir.path().join("src");
        let big = src.join(BIG);
        let late = src.join(LATE);
        sparse_file(&big, big_len);
        write_file(&late, &noise(64 * 1024, 5));
        set_mtime(&big, OLD_MTIME);
        set_mtime(&late, OLD_MTIME);
        let before = BTreeMap::from([(BIG, digest(&big)), (LATE, digest(&late))]);
        let out_dir = dir.path().join("out");
        fs::create_dir(&out_dir).unwrap();
        let state_dir = dir.path().join("state");
        let (dest, env) = match &to {
            PackTo::Local => (utf8(&out_dir.join("wh.zip")).to_owned(), Vec::new()),
            PackTo::S3(s3) => (
                format!(
                    "s3://backups/{}.zip",
                    dir.path().file_name().unwrap().to_string_lossy()
                ),
                s3.env(),
            ),
        };
        let mut running = Running::spawn(
            Command::new(lakezip_bin())
                .args(["pack", utf8(&src), "-o", &dest])
                .envs(env.iter().cloned())
                .env("LAKEZIP_STATE_DIR", &state_dir)
                .env("LAKEZIP_RETRY_ATTEMPTS", "2")
                .env("LAKEZIP_RETRY_DELAY_MS", "1"),
        );
        let canonical_big = big.canonicalize().unwrap();
        let reading = |pid: u32| open_position(pid, &canonical_big).is_some_and(|pos| pos > 4096);
        running.wait_for("pack to start reading the large file", reading);
        running.stop();
        let position = open_position(running.pid, &canonical_big);
        if !position.is_some_and(|pos| pos > 4096 && pos < big_len - 4096) {
            // Stopped too late: the large file was read already.
            running.resume();
            let _ = running.finish();
            eprintln!("pack read {big_len} bytes before it could be paused; trying a larger file");
            continue;
        }
        change_file(
            if which == Which::BeingRead {
                &big
            } else {
                &late
            },
            change,
        );
        running.resume();
        let out = running.finish();
        let changed = if which == Which::BeingRead { BIG } else { LATE };
        let after = BTreeMap::from([
            (BIG, big.exists().then(|| digest(&big))),
            (LATE, late.exists().then(|| digest(&late))),
        ]);
        if out.status.success() {
            assert!(
                !must_fail,
                "pack should have failed ({which:?} {change:?}): {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let verify = Command::new(lakezip_bin())
                .envs(env.iter().cloned())
                .args(["verify", &dest])
                .output()
                .unwrap();
            assert!(verify.status.success(), "verify: {}", stderr(&verify));
            if let PackTo::Local = to {
                unzip_test(Path::new(&dest));
            }
            let members = members(&dest, &env);
            for name in [BIG, LATE] {
                let member = members[name];
                assert!(
                    member == before[name] || Some(member) == after[name],
                    "{name} in the archive is {member:?}: neither the version before ({:?}) nor after ({:?}) the change",
                    before[name],
                    after[name]
                );
            }
        } else {
            let line = assert_one_line_error(&out, &[changed]);
            if change != Change::Delete {
                assert!(line.contains("changed"), "{line}");
            }
            match &to {
                PackTo::Local => {
                    assert_eq!(digest_tree(&out_dir), BTreeMap::new(), "{line}")
                }
                PackTo::S3(s3) => {
                    let key = dest.strip_prefix("s3://backups/").unwrap();
                    assert!(
                        !s3.object_path("backups", key).exists(),
                        "no object after a failed pack"
                    );
                    assert_eq!(s3.open_uploads(), Vec::<String>::new(), "upload aborted");
                }
            }
        }
        return;
    }
    panic!("pack was never paused while reading the large file");
}

#[test]
fn pack_a_later_file_that_grows() {
    pack_while_changing(Which::Later, Change::Grow, PackTo::Local, true);
}

#[test]
fn pack_a_later_file_that_shrinks() {
    pack_while_changing(Which::Later, Change::Shrink, PackTo::Local, true);
}

#[test]
fn pack_a_later_file_that_is_rewritten() {
    pack_while_changing(Which::Later, Change::Rewrite, PackTo::Local, true);
}

#[test]
fn pack_a_later_file_that_is_deleted() {
    pack_while_changing(Which::Later, Change::Delete, PackTo::Local, true);
}

#[test]
fn pack_a_file_that_grows_while_read() {
    pack_while_changing(Which::BeingRead, Change::Grow, PackTo::Local, true);
}

#[test]
fn pack_a_file_that_shrinks_while_read() {
    pack_while_changing(Which::BeingRead, Change::Shrink, PackTo::Local, true);
}

/// Regression: a file rewritten in place (same size) while pack read it was archived with
/// its first part from the old version and the rest from the new one — a member that
/// passed every CRC check but was neither version.
#[test]
fn pack_a_file_rewritten_while_read() {
    pack_while_changing(Which::BeingRead, Change::Rewrite, PackTo::Local, true);
}

/// A file deleted while open is still read whole (its old version): success or a clear
/// error are both fine, a mix is not.
#[test]
fn pack_a_file_deleted_while_read() {
    pack_while_changing(Which::BeingRead, Change::Delete, PackTo::Local, false);
}

#[test]
fn pack_to_s3_while_files_change() {
    let s3 = S3Server::start();
    s3.create_bucket("backups");
    pack_while_changing(Which::Later, Change::Rewrite, PackTo::S3(&s3), true);
    pack_while_changing(Which::BeingRead, Change::Grow, PackTo::S3(&s3), true);
    pack_while_changing(Which::BeingRead, Change::Rewrite, PackTo::S3(&s3), true);
}

// ---------------------------------------------------------------------------------------
// 4. SIGINT mid-way, then a rerun.

/// Sizes of the large files of the SIGINT tests: a larger one only if the run finished
/// before it could be interrupted (a very loaded machine), so timing never decides.
const INTERRUPT_SIZES: [u64; 3] = [64 * MIB, 256 * MIB, 1024 * MIB];

/// Waits until `ready`, then stops the run, sends `signal` (`INT`, `TERM`…) and lets it
/// go on; the run must then exit with 128 + the signal number. `None` if it finished
/// (successfully) before it could be interrupted.
fn interrupt_when(
    mut running: Running,
    signal: &str,
    what: &str,
    ready: impl FnMut(u32) -> bool,
) -> Option<Output> {
    if !running.poll_until(what, ready) {
        let out = running.finish();
        assert!(out.status.success(), "{}", stderr(&out));
        eprintln!("the run finished before {what}; trying larger files");
        return None;
    }
    running.stop();
    running.signal(signal);
    running.resume();
    let out = running.finish();
    if out.status.success() {
        eprintln!("the run finished before it could be interrupted; trying larger files");
        return None;
    }
    let code = match signal {
        "INT" => 130,
        "TERM" => 143,
        "HUP" => 129,
        other => panic!("no exit status known for SIG{other}"),
    };
    assert!(
        out.status.code() == Some(code) && stderr(&out).contains("interrupted"),
        "expected exit {code} after SIG{signal}, got {}:\n{}",
        out.status,
        stderr(&out)
    );
    Some(out)
}

#[test]
fn sigint_mid_pack_leaves_nothing_then_rerun_packs() {
    for big_len in INTERRUPT_SIZES {
        let dir = shared_tempdir();
        let src = dir.path().join("src");
        sparse_file(&src.join("t/big.bin"), big_len);
        write_file(&src.join("t/small.bin"), &noise(100_000, 3));
        let out_dir = dir.path().join("out");
        fs::create_dir(&out_dir).unwrap();
        let dest = out_dir.join("wh.zip");
        let running = Running::spawn(Command::new(lakezip_bin()).args([
            "pack",
            utf8(&src),
            "-o",
            utf8(&dest),
        ]));
        let interrupted =
            interrupt_when(running, "INT", "the partial archive to hold data", |_| {
                partial_with_data(&out_dir)
            });
        if interrupted.is_none() {
            continue;
        }
        assert_eq!(
            digest_tree(&out_dir),
            BTreeMap::new(),
            "no DEST and no partial archive after SIGINT"
        );
        lakezip_ok(&["pack", utf8(&src), "-o", utf8(&dest)]);
        lakezip_ok(&["verify", utf8(&dest)]);
        return;
    }
    panic!("pack always finished before it could be interrupted");
}

/// Every file present under `target` is whole and equal to the same file in `expected`.
fn assert_only_whole_files(target: &Path, expected: &BTreeMap<String, (u64, u32)>) {
    for (path, found) in digest_tree(target) {
        let name = path.rsplit('/').next().unwrap();
        if name.starts_with(PARTIAL) || name == ".lakezip-restore" {
            continue;
        }
        assert_eq!(
            Some(&found),
            expected.get(&path),
            "{path} is at its final path but is not the whole file"
        );
    }
}

#[test]
fn sigint_mid_extract_then_rerun() {
    for big_len in INTERRUPT_SIZES {
        let dir = shared_tempdir();
        let src = dir.path().join("src");
        sparse_file(&src.join("t/big-1.bin"), big_len);
        sparse_file(&src.join("t/data/big-2.bin"), big_len);
        for i in 0..8 {
            write_file(
                &src.join(format!("t/data/part-{i}.bin")),
                &noise(1_000_000 + i, i as u64),
            );
        }
        let expected = digest_tree(&src);
        let archive = dir.path().join("wh.zip");
        lakezip_ok(&["pack", utf8(&src), "-o", utf8(&archive)]);
        let target = dir.path().join("x");
        let running = Running::spawn(Command::new(lakezip_bin()).args([
            "extract",
            utf8(&archive),
            "-C",
            utf8(&target),
        ]));
        let interrupted =
            interrupt_when(running, "INT", "extracted data in a partial file", |_| {
                partial_with_data(&target)
            });
        if interrupted.is_none() {
            continue;
        }
        assert_only_whole_files(&target, &expected);
        assert_eq!(
            partials(&target),
            Vec::<String>::new(),
            "partial files left behind"
        );
        lakezip_ok(&["extract", utf8(&archive), "-C", utf8(&target), "--force"]);
        assert_eq!(digest_tree(&target), expected);
        return;
    }
    panic!("extract always finished before it could be interrupted");
}

#[test]
fn sigint_mid_restore_then_rerun_resumes() {
    for big_len in INTERRUPT_SIZES {
        let dir = shared_tempdir();
        let src = dir.path().join("src");
        for i in 0..12 {
            write_file(
                &src.join(format!("t/part-{i:02}.bin")),
                &noise(500_000, 100 + i),
            );
        }
        sparse_file(&src.join("t/base.bin"), 8 * MIB);
        let chain_dir = dir.path().join("backups");
        fs::create_dir(&chain_dir).unwrap();
        let chain = chain_dir.join("chain.json");
        let pack_into_chain = |name: &str| {
            lakezip_ok(&[
                "pack",
                utf8(&src),
                "-o",
                utf8(&chain_dir.join(name)),
                "--chain",
                utf8(&chain),
            ])
        };
        pack_into_chain("full.zip");
        // The next night: a large new file and a rewritten one, in an incremental archive.
        sparse_file(&src.join("t/zz-new.bin"), big_len);
        write_file(&src.join("t/part-03.bin"), &noise(500_000, 7));
        pack_into_chain("incr.zip");
        let expected = digest_tree(&src);
        let target = dir.path().join("restored");
        let restore = ["restore", utf8(&chain), "-C", utf8(&target), "--json"];
        let running = Running::spawn(Command::new(lakezip_bin()).args(restore));
        // The full archive's files are in place and the incremental one's being written.
        let interrupted = interrupt_when(
            running,
            "INT",
            "files in place and another one being written",
            |_| target.join("t/part-00.bin").exists() && partial_with_data(&target),
        );
        if interrupted.is_none() {
            continue;
        }
        assert_only_whole_files(&target, &expected);
        assert!(
            target.join(".lakezip-restore").exists(),
            "the resume marker stays"
        );
        assert_eq!(
            partials(&target),
            Vec::<String>::new(),
            "partial files left behind"
        );
        let in_place = digest_tree(&target).len() as u64 - 1;
        // The same command again, without --force: it resumes, keeping what is in place.
        let summary = json_lines(&lakezip_ok(&restore))
            .into_iter()
            .find(|r| r["type"] == "summary")
            .unwrap();
        assert_eq!(summary["kept"], Value::from(in_place), "{summary}");
        assert!(in_place > 0, "{summary}");
        assert_eq!(digest_tree(&target), expected);
        return;
    }
    panic!("restore always finished before it could be interrupted");
}

/// An archive of two large sparse files and a few small ones, and what it holds.
fn extract_source(dir: &Path, big_len: u64) -> (PathBuf, BTreeMap<String, (u64, u32)>) {
    let src = dir.join("src");
    sparse_file(&src.join("t/big-1.bin"), big_len);
    sparse_file(&src.join("t/big-2.bin"), big_len);
    write_file(&src.join("t/small.bin"), &noise(300_000, 9));
    let expected = digest_tree(&src);
    let archive = dir.join("wh.zip");
    lakezip_ok(&["pack", utf8(&src), "-o", utf8(&archive)]);
    (archive, expected)
}

/// SIGTERM (a service stopped, `timeout`) cleans up like SIGINT, with exit 143.
#[test]
fn sigterm_mid_extract_removes_partial_files() {
    for big_len in INTERRUPT_SIZES {
        let dir = shared_tempdir();
        let (archive, expected) = extract_source(dir.path(), big_len);
        let target = dir.path().join("x");
        let running = Running::spawn(Command::new(lakezip_bin()).args([
            "extract",
            utf8(&archive),
            "-C",
            utf8(&target),
        ]));
        let interrupted =
            interrupt_when(running, "TERM", "extracted data in a partial file", |_| {
                partial_with_data(&target)
            });
        if interrupted.is_none() {
            continue;
        }
        assert_only_whole_files(&target, &expected);
        assert_eq!(partials(&target), Vec::<String>::new());
        return;
    }
    panic!("extract always finished before it could be interrupted");
}

/// A signal ignored when lakezip starts stays ignored: under `nohup` (SIGHUP ignored) an
/// extraction survives the terminal going away.
#[test]
fn sighup_ignored_at_start_stays_ignored() {
    let dir = shared_tempdir();
    let (archive, expected) = extract_source(dir.path(), 64 * MIB);
    let target = dir.path().join("x");
    let mut running = Running::spawn(
        Command::new("sh")
            .args(["-c", "trap '' HUP; exec \"$@\"", "sh"])
            .arg(lakezip_bin())
            .args(["extract", utf8(&archive), "-C", utf8(&target)]),
    );
    // Whether or not the extraction is still running by then, it must not die of SIGHUP.
    if running.poll_until("extracted data in a partial file", |_| {
        partial_with_data(&target)
    }) {
        running.stop();
        running.signal("HUP");
        running.resume();
    }
    let out = running.finish();
    assert!(out.status.success(), "{}: {}", out.status, stderr(&out));
    assert_eq!(digest_tree(&target), expected);
}
