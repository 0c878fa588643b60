//! README's "Move a warehouse from S3 to on-prem" walkthrough, run as written: the shell
//! block under the `<!-- walkthrough: … -->` marker is executed by bash against the
//! in-process S3 server, which holds an S3-born copy of the fixture warehouse (its Iceberg
//! metadata rewritten to `s3://lake/warehouse/…`). The tables must then read at their new
//! home — current state and every snapshot — with nothing pointing anywhere else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::s3::S3Server;
use common::{lakezip_bin, lakezip_ok, python, root, testdata};
use table_state::TableFiles;

/// The shell block after the walkthrough marker in README.md.
fn walkthrough_block() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let after = readme
        .split_once("<!-- walkthrough:")
        .expect("README has the walkthrough marker")
        .1;
    let body = after
        .split_once("```sh\n")
        .expect("a ```sh block after the marker")
        .1;
    body.split_once("\n```\n")
        .expect("the block is closed")
        .0
        .to_owned()
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
        if entry.file_type().unwrap().is_dir() {
            walk(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn readme_s3_to_onprem_walkthrough_runs_as_written() {
    let work = tempfile::tempdir().unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(testdata("expected.json")).unwrap()).unwrap();
    let born_at = expected["warehouse_uri"].as_str().unwrap();

    // An S3-born warehouse: the fixture relocated to s3://lake/warehouse, uploaded there.
    let fixture = work.path().join("fixture.zip");
    let s3_born = work.path().join("s3-born");
    lakezip_ok(&[
        "pack",
        testdata("warehouse").to_str().unwrap(),
        "-o",
        fixture.to_str().unwrap(),
        "-q",
    ]);
    lakezip_ok(&[
        "extract",
        fixture.to_str().unwrap(),
        "-C",
        s3_born.to_str().unwrap(),
        "--relocate",
        &format!("{born_at}=s3://lake/warehouse"),
        "-q",
    ]);
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    let mut files = Vec::new();
    walk(&s3_born, "", &mut files);
    for name in &files {
        s3.put_file("lake", &format!("warehouse/{name}"), &s3_born.join(name));
    }

    // Run the README block in a fresh folder, with lakezip and the venv's python3 first
    // on PATH.
    let run_dir = work.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let bin_dir = lakezip_bin().parent().unwrap().to_owned();
    let venv_bin = python().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    s3.apply_env(&mut cmd)
        .current_dir(&run_dir)
        .env("PATH", path)
        .env("PWD", &run_dir)
        .args(["-euo", "pipefail", "-c", &walkthrough_block()]);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The rows of the current state and of every snapshot, as the fixture expects.
    let orders = &expected["tables"]["default.db/orders"];
    let rows = orders["rows"].as_u64().unwrap();
    assert!(
        stdout.contains(&format!("{rows} rows in default.db/orders")),
        "{stdout}"
    );
    let snapshots = orders["snapshots"].as_array().unwrap();
    for snapshot in snapshots {
        let line = format!("{} {}", snapshot["snapshot_id"], snapshot["rows"]);
        assert!(stdout.contains(&line), "missing {line:?} in {stdout}");
    }

    // Nothing in any relocated table points outside the new home.
    let home = run_dir.join("onprem/wh").canonicalize().unwrap();
    let home_uri = format!("file://{}/", home.display());
    for table in [
        "default.db/orders",
        "default.db/events",
        "default.db/customers",
        "default.db/tricky",
    ] {
        let view = table_state::LocalTable::open(home.join(table)).unwrap();
        assert!(!view.listed().is_empty());
        let paths =
            table_state::relocate::absolute_paths(table_state::relocate::TableKind::Iceberg, &view)
                .unwrap();
        assert!(!paths.is_empty(), "{table} has absolute paths to check");
        for p in paths {
            assert!(
                p.starts_with(&home_uri),
                "{table}: {p} is outside {home_uri}"
            );
        }
    }
}
