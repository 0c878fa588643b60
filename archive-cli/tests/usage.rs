//! Exit codes and usage errors of the real binary. (Having an integration test here also
//! makes `cargo test --workspace` build `lakezip` for the end-to-end tests in `tests/`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn lakezip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lakezip"))
        .args(args)
        .output()
        .expect("run lakezip")
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["pack"][..],
        &["extract", "a.zip"],
        &["frobnicate"],
        &["ls", "a.zip", "--bogus"],
    ] {
        let out = lakezip(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn failures_exit_1_with_one_line() {
    let out = lakezip(&["ls", "/nonexistent/archive.zip"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/archive.zip"), "{stderr}");
}

#[test]
fn json_errors_are_json_records() {
    let out = lakezip(&["ls", "/nonexistent/archive.zip", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let line = String::from_utf8_lossy(&out.stdout);
    let record: serde_json::Value = serde_json::from_str(line.trim()).expect("json error record");
    assert_eq!(record["type"], "error");
}

#[test]
fn help_succeeds() {
    let out = lakezip(&["--help"]);
    assert!(out.status.success());
    for command in ["pack", "ls", "extract", "cat", "verify", "info"] {
        assert!(String::from_utf8_lossy(&out.stdout).contains(command));
    }
}
