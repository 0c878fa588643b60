//! Packing while writers commit: pyiceberg and deltalake keep appending to an Iceberg and
//! a Delta table (testdata/concurrent_writer.py) while `lakezip pack` runs again and
//! again. Every archive, extracted with `--relocate` to its own folder, must hold each
//! table at a state the writer committed (rows equal to what the writer logged for that
//! snapshot or version), with every data file present and no path pointing outside the
//! extraction folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{json_lines, lakezip, python, root};

fn utf8(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn ready(log: &Path) -> bool {
    std::fs::File::open(log).is_ok_and(|f| {
        BufReader::new(f)
            .lines()
            .any(|l| l.is_ok_and(|l| l.contains("\"ready\"")))
    })
}

#[test]
fn packs_taken_while_writers_commit_hold_committed_states() {
    let work = tempfile::tempdir().unwrap();
    let wh = work.path().join("wh");
    let log = work.path().join("log.jsonl");
    let script = root().join("testdata/concurrent_writer.py");
    let mut writer = Command::new(python())
        .args([utf8(&script), "write", utf8(&wh), utf8(&log), "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready(&log) {
        if let Some(status) = writer.try_wait().unwrap() {
            panic!("the writer stopped early: {status}");
        }
        assert!(Instant::now() < deadline, "the writer never got ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Pack repeatedly while the writer commits.
    let mut archives = Vec::new();
    let mut orphans_seen = 0u64;
    while writer.try_wait().unwrap().is_none() || archives.len() < 2 {
        let archive = work.path().join(format!("a{}.zip", archives.len()));
        let out = lakezip(&["pack", utf8(&wh), "-o", utf8(&archive), "--json"]);
        assert!(
            out.status.success(),
            "pack during commits failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for record in json_lines(&String::from_utf8_lossy(&out.stdout)) {
            orphans_seen += record["orphans"].as_u64().unwrap_or(0);
        }
        archives.push(archive);
        if archives.len() >= 8 {
            break;
        }
    }
    let status = writer.wait_with_output().unwrap();
    assert!(
        status.status.success(),
        "writer failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    eprintln!(
        "{} archives packed during commits; {orphans_seen} orphan files skipped in total",
        archives.len()
    );

    let wh_uri = format!("file://{}", utf8(&wh));
    for (i, archive) in archives.iter().enumerate() {
        let dir = work.path().join(format!("x{i}"));
        let relocate = format!("{wh_uri}=file://{}", utf8(&dir));
        let out = lakezip(&[
            "extract",
            utf8(archive),
            "-C",
            utf8(&dir),
            "--relocate",
            &relocate,
            "-q",
        ]);
        assert!(
            out.status.success(),
            "extract {}: {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let check = Command::new(python())
            .args([utf8(&script), "check", utf8(&dir), utf8(&log)])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "archive {i} holds a state the writer never committed:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
