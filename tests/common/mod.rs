//! Shared helpers for the end-to-end tests: the real `lakezip` binary, the Python venv
//! with pyiceberg/deltalake, and the third-party tools `.ci/run` installs.
//!
//! A missing tool is a test failure with a message saying how to install it, never a
//! silent skip: `scripts/setup` (run by `scripts/test` and `.ci/run`) installs them all.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod faults;
pub mod nginx;
pub mod s3;
pub mod zipbuild;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `testdata/…`.
pub fn testdata(relative: &str) -> PathBuf {
    root().join("testdata").join(relative)
}

/// The `lakezip` binary cargo built for this test run (`target/<profile>/lakezip`).
pub fn lakezip_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/lakezip
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("lakezip");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo nextest run --workspace`) so the binary is built",
        bin.display()
    );
    bin
}

/// Runs `lakezip ARGS…` and returns its output.
pub fn lakezip(args: &[&str]) -> Output {
    Command::new(lakezip_bin())
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run lakezip")
}

/// Runs `lakezip`, asserting success; returns stdout.
pub fn lakezip_ok(args: &[&str]) -> String {
    let out = lakezip(args);
    assert!(
        out.status.success(),
        "lakezip {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Python interpreter of the project venv (`.venv`, or `$LAKEZIP_PYTHON`).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("LAKEZIP_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup to create the venv with pyiceberg and deltalake",
        venv.display()
    );
    venv
}

/// Asserts that an external tool is on PATH, with an install hint.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: apt-get install {package} (scripts/setup does it)"
    );
}

/// Runs a command, asserting success; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Parses JSON Lines output.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), a different stream for every seed, so
/// CRC-32s and part checksums cover real content.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
