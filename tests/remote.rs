//! Remote reading end to end, against real servers started by the tests on loopback: an
//! in-process S3 server (s3s + s3s-fs, SigV4), nginx (honours Range), and a
//! fault-injecting proxy. Every backend also runs one shared conformance suite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::faults::{Fault, FaultPlan, FaultProxy, Requests};
use common::nginx::Nginx;
use common::s3::S3Server;
use common::{json_lines, lakezip_bin, testdata};
use range_reader::RangeSource;
use range_reader::http::HttpSource;
use range_reader::local::LocalFile;
use range_reader::memory::Memory;
use range_reader::retry::RetryPolicy;
use range_reader::s3::S3Source;

/// Packs testdata/warehouse into `dir/warehouse.zip`.
fn warehouse_archive(dir: &Path) -> std::path::PathBuf {
    let archive = dir.join("warehouse.zip");
    common::lakezip_ok(&[
        "pack",
        testdata("warehouse").to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
    ]);
    archive
}

fn run(cmd: &mut Command) -> Output {
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run lakezip")
}

fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts exit code 1, one stderr line containing `needle`, no panic.
fn assert_fails(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Asserts that `dir/table` holds exactly the files of testdata/warehouse/table.
fn assert_same_tree(extracted: &Path, table: &str) {
    let source = testdata("warehouse").join(table);
    let mut expected = Vec::new();
    collect(&source, &source, &mut expected);
    let mut got = Vec::new();
    collect(&extracted.join(table), &extracted.join(table), &mut got);
    assert_eq!(got, expected, "files of {table}");
    for (relative, bytes) in &expected {
        let (_, written) = got.iter().find(|(r, _)| r == relative).unwrap();
        assert!(written == bytes, "{table}/{relative} differs");
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((relative, std::fs::read(&path).unwrap()));
        }
    }
}

fn no_partial_files(dir: &Path) -> bool {
    if !dir.exists() {
        return true;
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".lakezip-partial-")
            {
                return false;
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    true
}

fn count_files(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    let mut out = Vec::new();
    collect(dir, dir, &mut out);
    out.len()
}

/// The shared contract every backend honours, checked against the bytes it should serve.
///
/// `long_suffix`: whether the server answers a suffix range longer than the object with
/// the whole object (RFC 9110 §14.1.1; nginx and AWS S3 do). s3s-fs 0.14 answers 500,
/// so the S3 test server skips that one check.
fn conformance(source: &dyn RangeSource, expected: &[u8], long_suffix: bool) {
    let len = expected.len() as u64;
    assert_eq!(source.len().unwrap(), len, "{}: len", source.name());
    let (offset, tail) = source.read_suffix(100).unwrap();
    assert_eq!(offset, len - 100);
    assert_eq!(tail, &expected[expected.len() - 100..]);
    if long_suffix {
        let (offset, all) = source.read_suffix(len + 1000).unwrap();
        assert_eq!(
            (offset, all.as_slice()),
            (0, expected),
            "suffix longer than the object"
        );
    }
    for range in [0..1, 0..len, len - 1..len, 12_345..67_890, 5..5] {
        assert_eq!(
            source.read_range(range.clone()).unwrap(),
            &expected[range.start as usize..range.end as usize],
            "{}: range {range:?}",
            source.name()
        );
    }
    assert!(
        source.read_range(len - 10..len + 1).is_err(),
        "past the end"
    );
    let mut streamed = Vec::new();
    source
        .read_range_with(1000..len - 1000, &mut |chunk| {
            streamed.extend_from_slice(chunk);
            Ok(())
        })
        .unwrap();
    assert!(
        streamed == expected[1000..expected.len() - 1000],
        "streamed range"
    );
    let ranges = [10..20, 25..30, 1_000_000..1_000_010, 40..50];
    let parts = source.read_ranges(&ranges, 100).unwrap();
    for (range, part) in ranges.iter().zip(parts) {
        assert_eq!(part, &expected[range.start as usize..range.end as usize]);
    }
}

fn object_bytes() -> Vec<u8> {
    (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn every_backend_passes_the_conformance_suite() {
    let bytes = object_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.bin");
    std::fs::write(&path, &bytes).unwrap();
    conformance(&Memory::new("memory", bytes.clone()), &bytes, true);
    conformance(&LocalFile::open(&path).unwrap(), &bytes, true);
    let nginx = Nginx::start(dir.path());
    conformance(
        &HttpSource::new(&nginx.url_of("object.bin"), RetryPolicy::default()).unwrap(),
        &bytes,
        true,
    );
    let anonymous = S3Server::start_anonymous();
    anonymous.create_bucket("lake");
    anonymous.put_file("lake", "object.bin", &path);
    conformance(
        &HttpSource::new(&anonymous.url("lake", "object.bin"), RetryPolicy::default()).unwrap(),
        &bytes,
        false,
    );
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    s3.put_file("lake", "dir/object.bin", &path);
    let client = aws_sdk_s3::Client::from_conf(s3.sdk_config());
    conformance(
        &S3Source::with_client(
            client,
            "lake".into(),
            "dir/object.bin".into(),
            RetryPolicy::default(),
        ),
        &bytes,
        false,
    );
}

#[test]
fn extract_tables_from_s3() {
    let dir = tempfile::tempdir().unwrap();
    let archive = warehouse_archive(dir.path());
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    s3.put_file("lake", "backups/warehouse.zip", &archive);
    let url = "s3://lake/backups/warehouse.zip";
    let lakezip = || {
        let mut cmd = Command::new(lakezip_bin());
        s3.apply_env(&mut cmd);
        cmd
    };
    let tables = json_lines(&assert_ok(&run(
        lakezip().args(["ls", url, "--tables", "--json", "--stats"])
    )));
    assert_eq!(tables.iter().filter(|r| r["type"] == "table").count(), 8);
    let stats = tables.iter().find(|r| r["type"] == "stats").unwrap();
    assert!(stats["requests"].as_u64().unwrap() <= 2, "{stats}");

    let out = dir.path().join("restored");
    let summary = json_lines(&assert_ok(&run(lakezip().args([
        "extract",
        url,
        "default.db/orders",
        "delta/sales",
        "-C",
        out.to_str().unwrap(),
        "--json",
    ]))));
    assert_same_tree(&out, "default.db/orders");
    assert_same_tree(&out, "delta/sales");
    let summary = summary.iter().find(|r| r["type"] == "summary").unwrap();
    assert_eq!(summary["files"], 77);
    assert!(
        summary["stats"]["requests"].as_u64().unwrap() <= 6,
        "{summary}"
    );

    // --endpoint-url instead of AWS_ENDPOINT_URL.
    let mut cmd = lakezip();
    cmd.env_remove("AWS_ENDPOINT_URL");
    let text = assert_ok(&run(cmd.args([
        "info",
        url,
        "--endpoint-url",
        &s3.endpoint,
    ])));
    assert!(text.contains("default.db/orders"), "{text}");
    let cat = run(lakezip().args(["cat", url, "misc/notes.json"]));
    assert!(cat.stdout == std::fs::read(testdata("warehouse/misc/notes.json")).unwrap());
    let verify = assert_ok(&run(lakezip().args(["verify", url])));
    assert!(verify.starts_with("ok:"), "{verify}");
}

#[test]
fn s3_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let archive = warehouse_archive(dir.path());
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    s3.put_file("lake", "w.zip", &archive);
    let mut cmd = Command::new(lakezip_bin());
    s3.apply_env(&mut cmd)
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    assert_fails(&run(cmd.args(["ls", "s3://lake/w.zip"])), "access denied");
    let mut cmd = Command::new(lakezip_bin());
    s3.apply_env(&mut cmd);
    assert_fails(
        &run(cmd.args(["ls", "s3://lake/missing.zip"])),
        "no such object",
    );
}

#[test]
fn extract_tables_over_http_from_nginx() {
    let dir = tempfile::tempdir().unwrap();
    warehouse_archive(dir.path());
    let nginx = Nginx::start(dir.path());
    let url = nginx.url_of("warehouse.zip");
    let out = dir.path().join("restored");
    let summary = json_lines(&assert_ok(&run(Command::new(lakezip_bin()).args([
        "extract",
        &url,
        "default.db/orders",
        "-C",
        out.to_str().unwrap(),
        "--json",
    ]))));
    assert_same_tree(&out, "default.db/orders");
    let summary = summary.iter().find(|r| r["type"] == "summary").unwrap();
    // Tail (which holds the index), the table's directory slice, the data in one request.
    assert!(
        summary["stats"]["requests"].as_u64().unwrap() <= 4,
        "{summary}"
    );
    // Python's http.server-like behaviour (200 to a range request) is refused by the
    // fault-proxy tests below; a missing object is a clear 404.
    assert_fails(
        &run(Command::new(lakezip_bin()).args(["ls", &nginx.url_of("missing.zip")])),
        "404",
    );
}

#[test]
fn presigned_url_reads_over_plain_https_client() {
    let dir = tempfile::tempdir().unwrap();
    let archive = warehouse_archive(dir.path());
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    s3.put_file("lake", "w.zip", &archive);
    let client = aws_sdk_s3::Client::from_conf(s3.sdk_config());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let presigned = runtime
        .block_on(client.get_object().bucket("lake").key("w.zip").presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(600)).unwrap(),
        ))
        .unwrap();
    let url = presigned.uri().to_owned();
    assert!(url.contains("X-Amz-Signature"), "{url}");
    let out = dir.path().join("restored");
    let mut cmd = Command::new(lakezip_bin());
    for (name, _) in s3.env() {
        cmd.env_remove(name);
    }
    let output = run(cmd.args([
        "extract",
        &url,
        "delta/sales",
        "-C",
        out.to_str().unwrap(),
        "--stats",
    ]));
    assert_ok(&output);
    assert_same_tree(&out, "delta/sales");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("X-Amz-Signature"),
        "the signature leaked: {stderr}"
    );
}

/// Starts nginx over a packed warehouse and a proxy in front of it.
struct Faulty {
    dir: tempfile::TempDir,
    _nginx: Nginx,
    proxy: FaultProxy,
}

impl Faulty {
    fn start(plan: FaultPlan) -> Faulty {
        let dir = tempfile::tempdir().unwrap();
        warehouse_archive(dir.path());
        let nginx = Nginx::start(dir.path());
        let proxy = FaultProxy::start(&nginx.url_of(""), plan);
        Faulty {
            dir,
            _nginx: nginx,
            proxy,
        }
    }

    fn extract(&self, table: &str) -> (Output, std::path::PathBuf) {
        let out = self.dir.path().join("restored");
        let url = format!("{}/warehouse.zip", self.proxy.url);
        let output = run(Command::new(lakezip_bin()).args([
            "extract",
            &url,
            table,
            "-C",
            out.to_str().unwrap(),
        ]));
        (output, out)
    }
}

#[test]
fn transient_5xx_are_retried() {
    let faulty = Faulty::start(
        FaultPlan::new()
            .on(Requests::FirstN(2), Fault::Status(503))
            .on(Requests::Nth(4), Fault::Status(500)),
    );
    let (output, out) = faulty.extract("delta/sales");
    assert_ok(&output);
    assert_same_tree(&out, "delta/sales");
    let statuses: Vec<u16> = faulty.proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..2], &[503, 503], "{statuses:?}");
}

#[test]
fn a_body_dropped_mid_stream_resumes_from_the_last_byte() {
    // Request 1 is the tail; request 2 the table's directory slice; 3 the data.
    let faulty = Faulty::start(FaultPlan::new().on(
        Requests::Nth(3),
        Fault::DropMidBody {
            after_bytes: 10_000,
        },
    ));
    let (output, out) = faulty.extract("default.db/orders");
    assert_ok(&output);
    assert_same_tree(&out, "default.db/orders");
    let requests = faulty.proxy.requests();
    let dropped = &requests[2];
    let resumed = &requests[3];
    let start = |r: &common::faults::LoggedRequest| -> u64 {
        r.range
            .as_deref()
            .unwrap()
            .trim_start_matches("bytes=")
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        start(resumed),
        start(dropped) + 10_000,
        "resumed at the wrong byte: {requests:#?}"
    );
    assert!(resumed.if_match.is_some(), "resumed without If-Match");
}

#[test]
fn persistent_failures_give_up_with_a_clear_error() {
    let faulty = Faulty::start(FaultPlan::new().on(Requests::AfterN(1), Fault::Status(500)));
    let (output, out) = faulty.extract("delta/sales");
    assert_fails(&output, "giving up after 6 attempts");
    assert_eq!(count_files(&out), 0, "no file may appear");
    assert!(no_partial_files(&out));
}

#[test]
fn a_server_that_ignores_range_is_refused() {
    let faulty = Faulty::start(FaultPlan::new().on(Requests::All, Fault::IgnoreRange));
    let (output, out) = faulty.extract("delta/sales");
    assert_fails(&output, "ignored the Range header");
    assert_eq!(count_files(&out), 0);
}

#[test]
fn an_object_that_changes_between_reads_is_refused() {
    let faulty = Faulty::start(FaultPlan::new());
    // A different archive at another path: after the first read, the proxy serves it.
    let other = faulty.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("x.txt"), b"something else").unwrap();
    common::lakezip_ok(&[
        "pack",
        other.to_str().unwrap(),
        "-o",
        faulty.dir.path().join("other.zip").to_str().unwrap(),
    ]);
    faulty.proxy.set_plan(FaultPlan::new().on(
        Requests::AfterN(1),
        Fault::SwitchObject {
            to_path: "/other.zip".into(),
        },
    ));
    let (output, out) = faulty.extract("delta/sales");
    assert_fails(&output, "changed");
    assert_eq!(count_files(&out), 0);
    assert!(no_partial_files(&out));
}

#[test]
fn an_unreachable_server_gives_up_after_bounded_retries() {
    // Bind a port, then close it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/warehouse.zip");
    assert_fails(
        &run(Command::new(lakezip_bin()).args(["ls", &url])),
        "giving up after 6 attempts: cannot connect",
    );
}

#[test]
fn https_with_a_private_ca() {
    common::require_tool("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    warehouse_archive(dir.path());
    // A CA and a certificate for 127.0.0.1 signed by it.
    let tls = tempfile::tempdir().unwrap();
    let t = |name: &str| tls.path().join(name).to_str().unwrap().to_owned();
    let openssl = |args: &[&str]| run_ok(Command::new("openssl").args(args));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=lakezip test CA",
        "-keyout",
        &t("ca.key"),
        "-out",
        &t("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &t("key.pem"),
        "-out",
        &t("leaf.csr"),
    ]);
    std::fs::write(
        t("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &t("leaf.csr"),
        "-CA",
        &t("ca.pem"),
        "-CAkey",
        &t("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &t("ext.cnf"),
        "-out",
        &t("cert.pem"),
    ]);
    let nginx = Nginx::start_tls(
        dir.path(),
        tls.path().join("cert.pem").as_path(),
        tls.path().join("key.pem").as_path(),
    );
    let url = format!("{}/warehouse.zip", nginx.https_url.as_deref().unwrap());
    // Untrusted: one clear error at once, no retries.
    let out = run(Command::new(lakezip_bin())
        .args(["ls", &url])
        .env("SSL_CERT_FILE", t("cert.pem") + ".missing"));
    assert_fails(&out, "certificate");
    // Trusted through SSL_CERT_FILE: the table comes out byte for byte.
    let restored = dir.path().join("restored");
    assert_ok(&run(Command::new(lakezip_bin())
        .args([
            "extract",
            &url,
            "delta/sales",
            "-C",
            restored.to_str().unwrap(),
        ])
        .env("SSL_CERT_FILE", t("ca.pem"))));
    assert_same_tree(&restored, "delta/sales");
}

fn run_ok(cmd: &mut Command) -> String {
    assert_ok(&cmd.output().expect("run"))
}
