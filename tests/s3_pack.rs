//! Packing to and from S3 with the real `lakezip` binary against the in-process S3 server
//! (s3s-fs, SigV4): local → S3, S3 → local and S3 → S3 give the same bytes as a local
//! pack and pass `unzip -t`; an upload cut off by the network resumes on rerun without
//! re-sending stored parts; a refused upload is aborted; `cleanup` finds and aborts open
//! uploads; chains live on S3, and a chain changed by another writer mid-pack is never
//! overwritten.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::faults::{Fault, FaultPlan, FaultProxy, Requests};
use common::s3::S3Server;
use common::{json_lines, lakezip_bin, noise, run_ok, testdata};
use serde_json::Value;

const EPOCH: &str = "1700000000";

/// Every regular file under `root`: relative path → bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (name, bytes) in tree(from) {
        let dest = to.join(&name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// The fixture warehouse plus two files large enough for a multipart upload (8 MiB
/// parts) and for the CRC-32 pass (over 1 MiB).
fn source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    copy_tree(&testdata("warehouse"), &src);
    std::fs::create_dir_all(src.join("raw")).unwrap();
    std::fs::write(src.join("raw/big-a.bin"), noise(19 << 20, 7)).unwrap();
    std::fs::write(src.join("raw/big-b.bin"), noise((3 << 20) + 5, 11)).unwrap();
    src
}

fn utf8(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs lakezip against `s3` (or the proxy `endpoint` in front of it) with fast retries
/// and a fixed creation time.
fn lakezip(s3: &S3Server, endpoint: Option<&str>, state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(lakezip_bin());
    s3.apply_env(&mut cmd)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("LAKEZIP_STATE_DIR", state)
        .env("LAKEZIP_RETRY_ATTEMPTS", "2")
        .env("LAKEZIP_RETRY_DELAY_MS", "1")
        .args(args);
    if let Some(endpoint) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", endpoint);
    }
    cmd.output().unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "lakezip failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn summary(stdout: &str) -> Value {
    json_lines(stdout)
        .into_iter()
        .find(|r| r["type"] == "summary")
        .expect("a summary record")
}

fn unzip_test(path: &Path) {
    common::require_tool("unzip", "unzip");
    let out = run_ok(Command::new("unzip").args(["-tq", utf8(path)]));
    assert!(out.contains("No errors"), "{out}");
}

fn upload_states(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.to_str().unwrap().contains("upload-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn local_to_s3_matches_a_local_pack() {
    let work = tempfile::tempdir().unwrap();
    let src = source(work.path());
    let state = work.path().join("state");
    let s3 = S3Server::start();
    s3.create_bucket("lake");

    let local = work.path().join("local.zip");
    ok(&lakezip(
        &s3,
        None,
        &state,
        &["pack", utf8(&src), "-o", utf8(&local), "-q"],
    ));
    let out = ok(&lakezip(
        &s3,
        None,
        &state,
        &[
            "pack",
            utf8(&src),
            "-o",
            "s3://lake/backups/full.zip",
            "--json",
        ],
    ));
    let sum = summary(&out);
    let object = s3.object_path("lake", "backups/full.zip");
    let uploaded = std::fs::read(&object).unwrap();
    assert!(
        uploaded == std::fs::read(&local).unwrap(),
        "same bytes as a local pack"
    );
    assert_eq!(sum["archive_bytes"].as_u64(), Some(uploaded.len() as u64));
    assert!(sum["stored"]["parts"].as_u64().unwrap() >= 3, "{sum}");
    assert!(!sum["stored"]["etag"].as_str().unwrap().is_empty());
    unzip_test(&object);
    assert!(
        s3.open_uploads().is_empty(),
        "no multipart upload left open"
    );
    assert!(
        upload_states(&state).is_empty(),
        "no state left after success"
    );

    // The archive reads back from S3 byte for byte.
    let out_dir = work.path().join("out");
    ok(&lakezip(
        &s3,
        None,
        &state,
        &[
            "extract",
            "s3://lake/backups/full.zip",
            "-C",
            utf8(&out_dir),
            "-q",
        ],
    ));
    assert!(tree(&out_dir) == tree(&src));

    // An existing object is not overwritten without --force.
    let again = lakezip(
        &s3,
        None,
        &state,
        &["pack", utf8(&src), "-o", "s3://lake/backups/full.zip"],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn s3_to_local_and_s3_to_s3() {
    let work = tempfile::tempdir().unwrap();
    let src = source(work.path());
    let state = work.path().join("state");
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    for (name, _) in tree(&src) {
        s3.put_file("lake", &format!("wh/{name}"), &src.join(&name));
    }

    let local = work.path().join("from-s3.zip");
    let out = ok(&lakezip(
        &s3,
        None,
        &state,
        &["pack", "s3://lake/wh/", "-o", utf8(&local), "--json"],
    ));
    let records = json_lines(&out);
    let formats: Vec<&str> = records
        .iter()
        .filter(|r| r["type"] == "table")
        .filter_map(|r| r["format"].as_str())
        .collect();
    assert!(
        formats.contains(&"iceberg") && formats.contains(&"delta"),
        "{formats:?}"
    );
    unzip_test(&local);
    let extracted = work.path().join("x1");
    ok(&lakezip(
        &s3,
        None,
        &state,
        &["extract", utf8(&local), "-C", utf8(&extracted), "-q"],
    ));
    assert!(
        tree(&extracted) == tree(&src),
        "S3 → local holds the warehouse"
    );

    ok(&lakezip(
        &s3,
        None,
        &state,
        &["pack", "s3://lake/wh/", "-o", "s3://lake/out/wh.zip", "-q"],
    ));
    let object = s3.object_path("lake", "out/wh.zip");
    unzip_test(&object);
    assert!(
        std::fs::read(&object).unwrap() == std::fs::read(&local).unwrap(),
        "S3 → S3 writes the same bytes as S3 → local"
    );
    assert!(s3.open_uploads().is_empty());

    // A prefix with nothing under it (a typo) is an error, not an empty archive.
    let empty = lakezip(
        &s3,
        None,
        &state,
        &[
            "pack",
            "s3://lake/no-such-prefix/",
            "-o",
            utf8(&work.path().join("e.zip")),
        ],
    );
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no objects under"));
    assert!(!work.path().join("e.zip").exists());
}

#[test]
fn an_upload_cut_off_by_the_network_resumes_on_rerun() {
    let work = tempfile::tempdir().unwrap();
    let src = source(work.path());
    let state = work.path().join("state");
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    let local = work.path().join("local.zip");
    ok(&lakezip(
        &s3,
        None,
        &state,
        &["pack", utf8(&src), "-o", utf8(&local), "-q"],
    ));

    // Every UploadPart from the third on fails: retries run out, the upload is kept.
    let proxy = FaultProxy::start(
        &s3.endpoint,
        FaultPlan::new().on(
            Requests::Matching {
                method: "PUT",
                text: "partNumber=",
                from: 3,
            },
            Fault::Status(503),
        ),
    );
    let args = [
        "pack",
        utf8(&src),
        "-o",
        "s3://lake/backups/full.zip",
        "--json",
        "--concurrency",
        "1",
    ];
    let failed = lakezip(&s3, Some(&proxy.url), &state, &args);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("rerun the same command"), "{stderr}");
    assert_eq!(
        s3.open_uploads().len(),
        1,
        "the upload is kept for the rerun"
    );
    assert_eq!(upload_states(&state).len(), 1);
    assert!(!s3.object_path("lake", "backups/full.zip").exists());

    // `cleanup --dry-run` sees it, and leaves it.
    let listed = ok(&lakezip(
        &s3,
        None,
        &state,
        &["cleanup", "s3://lake/backups/", "--dry-run", "--json"],
    ));
    assert_eq!(
        summary(&listed)["would_abort"].as_u64(),
        Some(1),
        "{listed}"
    );
    let young = ok(&lakezip(
        &s3,
        None,
        &state,
        &["cleanup", "s3://lake/", "--older-than", "1d", "--json"],
    ));
    assert_eq!(summary(&young)["kept_younger"].as_u64(), Some(1), "{young}");
    assert_eq!(s3.open_uploads().len(), 1);

    // The rerun continues: stored parts are checked, not sent again.
    proxy.set_plan(FaultPlan::new());
    proxy.reset();
    let out = ok(&lakezip(&s3, Some(&proxy.url), &state, &args));
    let sum = summary(&out);
    assert_eq!(sum["resumed"], Value::Bool(true), "{sum}");
    let parts = sum["stored"]["parts"].as_u64().unwrap();
    let sent = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("partNumber="))
        .count() as u64;
    assert_eq!(sent, parts - 2, "parts 1 and 2 were not uploaded again");
    let object = s3.object_path("lake", "backups/full.zip");
    assert!(
        std::fs::read(&object).unwrap() == std::fs::read(&local).unwrap(),
        "the resumed upload is the same archive"
    );
    unzip_test(&object);
    assert!(s3.open_uploads().is_empty());
    assert!(upload_states(&state).is_empty());
}

#[test]
fn a_refused_upload_is_aborted_and_cleanup_aborts_leftovers() {
    let work = tempfile::tempdir().unwrap();
    let src = source(work.path());
    let state = work.path().join("state");
    let s3 = S3Server::start();
    s3.create_bucket("lake");

    // A 403 is not worth a rerun: the upload is aborted, nothing is left behind.
    let proxy = FaultProxy::start(
        &s3.endpoint,
        FaultPlan::new().on(
            Requests::Matching {
                method: "PUT",
                text: "partNumber=",
                from: 2,
            },
            Fault::Status(403),
        ),
    );
    let failed = lakezip(
        &s3,
        Some(&proxy.url),
        &state,
        &[
            "pack",
            utf8(&src),
            "-o",
            "s3://lake/b/full.zip",
            "--concurrency",
            "1",
        ],
    );
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!stderr.contains("rerun the same command"), "{stderr}");
    assert!(
        s3.open_uploads().is_empty(),
        "the refused upload was aborted"
    );
    assert!(upload_states(&state).is_empty());
    assert!(!s3.object_path("lake", "b/full.zip").exists());

    // An upload left open (here: cut off by the network) is found and aborted by cleanup.
    proxy.set_plan(FaultPlan::new().on(
        Requests::Matching {
            method: "PUT",
            text: "partNumber=",
            from: 1,
        },
        Fault::Status(503),
    ));
    let cut = lakezip(
        &s3,
        Some(&proxy.url),
        &state,
        &["pack", utf8(&src), "-o", "s3://lake/b/full.zip"],
    );
    assert!(!cut.status.success());
    assert_eq!(s3.open_uploads().len(), 1);
    let out = ok(&lakezip(
        &s3,
        None,
        &state,
        &["cleanup", "s3://lake/b/", "--json"],
    ));
    assert_eq!(summary(&out)["aborted"].as_u64(), Some(1), "{out}");
    assert!(s3.open_uploads().is_empty());
    assert!(
        upload_states(&state).is_empty(),
        "cleanup drops the resume state too"
    );
}

#[test]
fn chains_on_s3_and_a_concurrent_writer() {
    let work = tempfile::tempdir().unwrap();
    let src = source(work.path());
    let state = work.path().join("state");
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    let chain = "s3://lake/nightly/chain.json";

    ok(&lakezip(
        &s3,
        None,
        &state,
        &[
            "pack",
            utf8(&src),
            "--chain",
            chain,
            "-o",
            "s3://lake/nightly/full.zip",
            "-q",
        ],
    ));
    std::fs::write(src.join("raw/new.txt"), b"added after the full archive\n").unwrap();
    std::fs::write(src.join("raw/big-b.bin"), noise(2 << 20, 99)).unwrap();
    let out = ok(&lakezip(
        &s3,
        None,
        &state,
        &[
            "pack",
            utf8(&src),
            "--chain",
            chain,
            "-o",
            "s3://lake/nightly/inc-1.zip",
            "--json",
        ],
    ));
    assert_eq!(summary(&out)["kind"], "incremental");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(s3.object_path("lake", "nightly/chain.json")).unwrap(),
    )
    .unwrap();
    let archives = manifest["archives"].as_array().unwrap();
    assert_eq!(archives.len(), 2);
    for archive in archives {
        assert!(
            !archive["stored"]["etag"].as_str().unwrap().is_empty(),
            "{archive}"
        );
    }

    let restored = work.path().join("restored");
    ok(&lakezip(
        &s3,
        None,
        &state,
        &["restore", chain, "-C", utf8(&restored), "-q"],
    ));
    assert!(
        tree(&restored) == tree(&src),
        "the newest point restores from S3"
    );
    ok(&lakezip(&s3, None, &state, &["verify", chain, "-q"]));

    // Another writer updates the chain while this pack uploads: the pack must not
    // overwrite it. The proxy holds the archive's first upload request for 2 s, and the
    // test changes the chain meanwhile.
    let proxy = FaultProxy::start(
        &s3.endpoint,
        FaultPlan::new().on(
            Requests::Matching {
                method: "PUT",
                text: "inc-2.zip",
                from: 1,
            },
            Fault::Delay(Duration::from_secs(2)),
        ),
    );
    std::fs::write(src.join("raw/newer.txt"), b"another change\n").unwrap();
    let child = {
        let mut cmd = Command::new(lakezip_bin());
        s3.apply_env(&mut cmd)
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .env("LAKEZIP_STATE_DIR", &state)
            .args([
                "pack",
                utf8(&src),
                "--chain",
                chain,
                "-o",
                "s3://lake/nightly/inc-2.zip",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path.contains("inc-2.zip"))
    {
        assert!(
            Instant::now() < deadline,
            "the pack never started its upload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut theirs = manifest.clone();
    theirs["archives"].as_array_mut().unwrap().pop();
    let theirs = serde_json::to_vec_pretty(&theirs).unwrap();
    s3.put_bytes("lake", "nightly/chain.json", &theirs);
    let result = child.wait_with_output().unwrap();
    assert!(
        !result.status.success(),
        "the pack must not win against a newer chain"
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("another writer updated the chain"),
        "{stderr}"
    );
    assert!(
        std::fs::read(s3.object_path("lake", "nightly/chain.json")).unwrap() == theirs,
        "the other writer's chain is intact"
    );
}
