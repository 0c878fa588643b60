//! Self-tests of the remote-reading test infrastructure in `tests/common`: the in-process S3
//! server (SigV4 and anonymous), nginx and the fault-injecting proxy. If one of these fails,
//! the end-to-end tests that use the helper cannot be trusted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use common::faults::{Fault, FaultPlan, FaultProxy, Requests};
use common::nginx::Nginx;
use common::s3::S3Server;

/// A small runtime for the async clients (reqwest, aws-sdk-s3) in these sync tests.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Deterministic test content: `len` bytes, no two neighbouring windows alike.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / 251) as u8).wrapping_add(seed))
        .collect()
}

/// One plain HTTP response, body read to the end (or the error that ended it).
#[derive(Debug)]
struct Http {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    body_error: Option<String>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// `method url` with `headers`, via reqwest.
fn http(rt: &tokio::runtime::Runtime, method: &str, url: &str, headers: &[(&str, &str)]) -> Http {
    rt.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client().request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut body_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
        Http {
            status,
            headers,
            body,
            body_error,
        }
    })
}

fn get(rt: &tokio::runtime::Runtime, url: &str, headers: &[(&str, &str)]) -> Http {
    http(rt, "GET", url, headers)
}

/// The HTTP status of a failed SDK call (`None` if no response came back).
fn sdk_status<E>(err: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

#[test]
fn s3_server_sigv4_ranges_etags_and_conditions() {
    let s3 = S3Server::start();
    assert!(
        s3.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        s3.endpoint
    );
    s3.create_bucket("lake");
    assert!(
        s3.root.join("lake").is_dir(),
        "a bucket is a directory under root"
    );
    let data = content(100, 0);
    let rt = runtime();
    // A transparent proxy in front of the server records the HTTP statuses the SDK saw and
    // proves that the proxy keeps SigV4 signatures valid.
    let proxy = FaultProxy::start(&s3.endpoint, FaultPlan::new());
    let mut config = s3.sdk_config().to_builder();
    config.set_endpoint_url(Some(proxy.url.clone()));
    let sdk = aws_sdk_s3::Client::from_conf(config.build());

    rt.block_on(async {
        // PutObject through the SDK (with its default request checksums), then GetObject.
        let put = sdk
            .put_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("PutObject");
        let etag = put.e_tag().expect("PutObject ETag").to_owned();
        let md5 = format!("\"{}\"", md5_hex(&data));
        assert_eq!(etag, md5, "s3s-fs ETag is the quoted MD5 of the content");
        assert_eq!(
            std::fs::read(s3.object_path("lake", "dir/obj.bin")).unwrap(),
            data,
            "objects are plain files"
        );

        let full = sdk
            .get_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .send()
            .await
            .expect("GetObject");
        assert_eq!(full.e_tag(), Some(etag.as_str()));
        assert_eq!(full.content_length(), Some(100));
        assert_eq!(
            full.body.collect().await.unwrap().into_bytes().as_ref(),
            &data[..]
        );

        let ranged = sdk
            .get_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .range("bytes=5-9")
            .send()
            .await
            .expect("ranged GetObject");
        assert_eq!(ranged.content_range(), Some("bytes 5-9/100"));
        assert_eq!(ranged.content_length(), Some(5));
        assert_eq!(
            ranged.e_tag(),
            Some(etag.as_str()),
            "a ranged GET carries the object's ETag"
        );
        assert_eq!(
            ranged.body.collect().await.unwrap().into_bytes().as_ref(),
            &data[5..10]
        );

        let suffix = sdk
            .get_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .range("bytes=-4")
            .send()
            .await
            .expect("suffix GetObject");
        assert_eq!(suffix.content_range(), Some("bytes 96-99/100"));
        assert_eq!(
            suffix.body.collect().await.unwrap().into_bytes().as_ref(),
            &data[96..]
        );

        let head = sdk
            .head_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .send()
            .await
            .expect("HeadObject");
        assert_eq!(head.content_length(), Some(100));
        assert_eq!(head.e_tag(), Some(etag.as_str()));
        assert!(head.last_modified().is_some());

        // Conditional reads (s3s-fs ignores them; tests/common/s3.rs ConditionalFs adds them).
        let ok = sdk
            .get_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .range("bytes=0-0")
            .if_match(&etag)
            .send()
            .await;
        assert!(ok.is_ok(), "If-Match with the right ETag: {ok:?}");
        let err = sdk
            .get_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .range("bytes=0-0")
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await
            .expect_err("If-Match with a wrong ETag");
        assert_eq!(sdk_status(&err), Some(412), "{err:?}");
        let err = sdk
            .head_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .if_match("\"nope\"")
            .send()
            .await
            .expect_err("HEAD If-Match");
        assert_eq!(sdk_status(&err), Some(412), "{err:?}");
        let err = sdk
            .get_object()
            .bucket("lake")
            .key("dir/obj.bin")
            .if_none_match(&etag)
            .send()
            .await
            .expect_err("If-None-Match");
        assert_eq!(sdk_status(&err), Some(304), "{err:?}");

        // put_file: an object written directly into the layout, with the same MD5 ETag.
        let src = tempfile::NamedTempFile::new().unwrap();
        let other = content(300, 7);
        std::fs::write(src.path(), &other).unwrap();
        s3.put_file("lake", "put/file.zip", src.path());
        let got = sdk
            .get_object()
            .bucket("lake")
            .key("put/file.zip")
            .range("bytes=290-")
            .send()
            .await
            .expect("GetObject of put_file");
        assert_eq!(
            got.e_tag(),
            Some(format!("\"{}\"", md5_hex(&other)).as_str())
        );
        assert_eq!(
            s3.etag("lake", "put/file.zip"),
            format!("\"{}\"", md5_hex(&other))
        );
        assert_eq!(got.content_range(), Some("bytes 290-299/300"));
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            &other[290..]
        );
        // Replacing an object changes its ETag.
        s3.put_bytes("lake", "put/file.zip", b"replaced");
        let head = sdk
            .head_object()
            .bucket("lake")
            .key("put/file.zip")
            .send()
            .await
            .expect("HeadObject");
        assert_eq!(
            head.e_tag(),
            Some(format!("\"{}\"", md5_hex(b"replaced")).as_str())
        );
        assert_eq!(head.content_length(), Some(8));

        let listed = sdk
            .list_objects_v2()
            .bucket("lake")
            .send()
            .await
            .expect("ListObjectsV2");
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["dir/obj.bin", "put/file.zip"]);

        let err = sdk
            .get_object()
            .bucket("lake")
            .key("missing")
            .send()
            .await
            .expect_err("missing key");
        assert_eq!(sdk_status(&err), Some(404));
        assert_eq!(err.code(), Some("NoSuchKey"));

        // Multipart upload (what a streaming `pack` to S3 uses): two parts.
        let part1 = content(5 * 1024 * 1024, 1);
        let part2 = content(1000, 2);
        let upload = sdk
            .create_multipart_upload()
            .bucket("lake")
            .key("multi.zip")
            .send()
            .await
            .expect("CreateMultipartUpload");
        let upload_id = upload.upload_id().expect("upload id");
        let mut parts = Vec::new();
        for (n, part) in [(1, &part1), (2, &part2)] {
            let done = sdk
                .upload_part()
                .bucket("lake")
                .key("multi.zip")
                .upload_id(upload_id)
                .part_number(n)
                .body(ByteStream::from(part.clone()))
                .send()
                .await
                .expect("UploadPart");
            parts.push(
                aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(n)
                    .e_tag(done.e_tag().expect("part ETag"))
                    .build(),
            );
        }
        let completed = sdk
            .complete_multipart_upload()
            .bucket("lake")
            .key("multi.zip")
            .upload_id(upload_id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .expect("CompleteMultipartUpload");
        let multipart_etag = completed.e_tag().expect("multipart ETag").to_owned();
        let head = sdk
            .head_object()
            .bucket("lake")
            .key("multi.zip")
            .send()
            .await
            .expect("HeadObject multipart");
        assert_eq!(
            head.content_length(),
            Some((part1.len() + part2.len()) as i64)
        );
        assert_eq!(head.e_tag(), Some(multipart_etag.as_str()));
        assert!(
            multipart_etag.ends_with("-2\""),
            "multipart ETag is S3-style \"md5-of-md5s-N\": {multipart_etag}"
        );
        let stored = std::fs::read(s3.object_path("lake", "multi.zip")).unwrap();
        assert_eq!(stored.len(), part1.len() + part2.len());
        assert!(stored[..part1.len()] == part1[..] && stored[part1.len()..] == part2[..]);
    });

    let statuses: Vec<(String, Option<String>, u16)> = proxy
        .requests()
        .into_iter()
        .map(|r| (r.method, r.range, r.status))
        .collect();
    assert!(
        statuses.contains(&("GET".to_owned(), Some("bytes=5-9".to_owned()), 206)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("GET".to_owned(), Some("bytes=-4".to_owned()), 206)),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|(_, _, s)| *s != 403),
        "SigV4 survives the proxy: {statuses:?}"
    );

    // A wrong secret key is rejected.
    let bad_credentials = aws_sdk_s3::config::Credentials::new(
        common::s3::ACCESS_KEY,
        "wrong-secret",
        None,
        None,
        "lakezip-tests",
    );
    let bad = aws_sdk_s3::Client::from_conf(
        s3.sdk_config()
            .to_builder()
            .credentials_provider(bad_credentials)
            .build(),
    );
    let err = rt
        .block_on(bad.get_object().bucket("lake").key("dir/obj.bin").send())
        .expect_err("wrong secret key");
    assert_eq!(sdk_status(&err), Some(403), "{err:?}");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");
    // So is an unknown access key, and an unsigned request.
    let unknown = aws_sdk_s3::config::Credentials::new(
        "UNKNOWNKEY",
        common::s3::SECRET_KEY,
        None,
        None,
        "lakezip-tests",
    );
    let unknown = aws_sdk_s3::Client::from_conf(
        s3.sdk_config()
            .to_builder()
            .credentials_provider(unknown)
            .build(),
    );
    let err = rt
        .block_on(
            unknown
                .head_object()
                .bucket("lake")
                .key("dir/obj.bin")
                .send(),
        )
        .expect_err("unknown access key");
    assert_eq!(sdk_status(&err), Some(403), "{err:?}");
    let anonymous = get(
        &rt,
        &s3.url("lake", "dir/obj.bin"),
        &[("Range", "bytes=0-9")],
    );
    assert_eq!(anonymous.status, 403, "unsigned GET: {anonymous:?}");

    // The environment for the lakezip binary: an SDK client built from it alone works.
    let env = s3.env();
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(
        var("AWS_ENDPOINT_URL").as_deref(),
        Some(s3.endpoint.as_str())
    );
    assert_eq!(var("AWS_EC2_METADATA_DISABLED").as_deref(), Some("true"));
    let mut cmd = std::process::Command::new("env");
    s3.apply_env(&mut cmd);
    let printed = common::run_ok(&mut cmd);
    assert!(printed.contains(&format!("AWS_ACCESS_KEY_ID={}", common::s3::ACCESS_KEY)));
    assert!(
        !printed.contains("AWS_SESSION_TOKEN="),
        "apply_env removes a session token"
    );
}

#[test]
fn s3_server_anonymous_serves_plain_http_ranges() {
    let s3 = S3Server::start_anonymous();
    let data = content(1000, 3);
    s3.put_bytes("public", "a/b.zip", &data);
    let etag = s3.etag("public", "a/b.zip");
    let url = s3.url("public", "a/b.zip");
    let rt = runtime();

    let full = get(&rt, &url, &[]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, data);
    assert_eq!(full.header("etag"), Some(etag.as_str()));
    assert_eq!(
        full.header("accept-ranges"),
        None,
        "s3s does not advertise Accept-Ranges (S3 does); fine for tests"
    );

    let first = get(&rt, &url, &[("Range", "bytes=0-9")]);
    assert_eq!(first.status, 206);
    assert_eq!(first.body, &data[..10]);
    assert_eq!(first.header("content-range"), Some("bytes 0-9/1000"));
    assert_eq!(first.header("content-length"), Some("10"));
    assert_eq!(first.header("etag"), Some(etag.as_str()));

    let suffix = get(&rt, &url, &[("Range", "bytes=-10")]);
    assert_eq!(suffix.status, 206);
    assert_eq!(suffix.body, &data[990..]);
    assert_eq!(suffix.header("content-range"), Some("bytes 990-999/1000"));

    let open_ended = get(&rt, &url, &[("Range", "bytes=995-")]);
    assert_eq!(
        (open_ended.status, &open_ended.body[..]),
        (206, &data[995..])
    );

    let past_end = get(&rt, &url, &[("Range", "bytes=5000-5010")]);
    assert_eq!(past_end.status, 416, "{past_end:?}");

    let wrong = get(
        &rt,
        &url,
        &[("Range", "bytes=0-9"), ("If-Match", "\"0000\"")],
    );
    assert_eq!(wrong.status, 412, "{wrong:?}");
    let right = get(&rt, &url, &[("Range", "bytes=0-9"), ("If-Match", &etag)]);
    assert_eq!((right.status, &right.body[..]), (206, &data[..10]));
    let not_modified = get(&rt, &url, &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    let head = http(&rt, "HEAD", &url, &[]);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("1000"))
    );
    assert_eq!(get(&rt, &s3.url("public", "nope"), &[]).status, 404);

    // Signed SDK requests work too (their signature is checked).
    let sdk = aws_sdk_s3::Client::from_conf(s3.sdk_config());
    let got = rt
        .block_on(
            sdk.get_object()
                .bucket("public")
                .key("a/b.zip")
                .range("bytes=1-2")
                .send(),
        )
        .expect("signed GET");
    assert_eq!(got.content_range(), Some("bytes 1-2/1000"));
    let bad_credentials = aws_sdk_s3::config::Credentials::new(
        common::s3::ACCESS_KEY,
        "wrong-secret",
        None,
        None,
        "lakezip-tests",
    );
    let bad = aws_sdk_s3::Client::from_conf(
        s3.sdk_config()
            .to_builder()
            .credentials_provider(bad_credentials)
            .build(),
    );
    let err = rt
        .block_on(bad.get_object().bucket("public").key("a/b.zip").send())
        .expect_err("wrong secret key");
    assert_eq!(
        sdk_status(&err),
        Some(403),
        "a wrongly signed request is still rejected: {err:?}"
    );
}

#[test]
fn nginx_serves_ranges_etags_and_conditions() {
    let root = tempfile::tempdir().unwrap();
    let data = content(1000, 5);
    std::fs::create_dir_all(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("dir/a.zip"), &data).unwrap();
    let nginx = Nginx::start(root.path());
    assert!(nginx.url.starts_with("http://127.0.0.1:"), "{}", nginx.url);
    let url = nginx.url_of("dir/a.zip");
    let rt = runtime();

    let full = get(&rt, &url, &[]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, data);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let etag = full.header("etag").expect("nginx ETag").to_owned();
    // nginx's ETag: "{mtime as hex}-{size as hex}".
    let (mtime_hex, size_hex) = etag
        .trim_matches('"')
        .split_once('-')
        .expect("mtime-size ETag");
    assert_eq!(u64::from_str_radix(size_hex, 16), Ok(1000), "{etag}");
    let mtime = std::fs::metadata(root.path().join("dir/a.zip"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(u64::from_str_radix(mtime_hex, 16), Ok(mtime), "{etag}");
    assert!(full.header("last-modified").is_some());

    let first = get(&rt, &url, &[("Range", "bytes=0-9")]);
    assert_eq!((first.status, &first.body[..]), (206, &data[..10]));
    assert_eq!(first.header("content-range"), Some("bytes 0-9/1000"));
    assert_eq!(first.header("etag"), Some(etag.as_str()));
    let suffix = get(&rt, &url, &[("Range", "bytes=-10")]);
    assert_eq!((suffix.status, &suffix.body[..]), (206, &data[990..]));
    assert_eq!(suffix.header("content-range"), Some("bytes 990-999/1000"));
    let past_end = get(&rt, &url, &[("Range", "bytes=5000-")]);
    assert_eq!(past_end.status, 416);

    let wrong = get(
        &rt,
        &url,
        &[("Range", "bytes=0-9"), ("If-Match", "\"0-0\"")],
    );
    assert_eq!(wrong.status, 412, "{wrong:?}");
    let right = get(&rt, &url, &[("Range", "bytes=0-9"), ("If-Match", &etag)]);
    assert_eq!((right.status, &right.body[..]), (206, &data[..10]));
    assert_eq!(get(&rt, &url, &[("If-None-Match", &etag)]).status, 304);
    // If-Range with a stale ETag: the whole object, 200.
    let if_range = get(
        &rt,
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", "\"0-0\"")],
    );
    assert_eq!((if_range.status, if_range.body.len()), (200, 1000));
    let head = http(&rt, "HEAD", &url, &[]);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("1000"))
    );
    assert_eq!(get(&rt, &nginx.url_of("dir/missing.zip"), &[]).status, 404);

    // A replaced file of another size gets another ETag.
    std::fs::write(root.path().join("dir/a.zip"), &data[..999]).unwrap();
    let replaced = get(&rt, &url, &[("Range", "bytes=0-9")]);
    assert_ne!(replaced.header("etag"), Some(etag.as_str()));
    assert_eq!(
        get(&rt, &url, &[("Range", "bytes=0-9"), ("If-Match", &etag)]).status,
        412
    );

    assert!(
        nginx.access_log().lines().count() >= 10,
        "access log: {}",
        nginx.access_log()
    );
    // Two at once get different ports, and dropping one leaves the other running.
    let second = Nginx::start(root.path());
    assert_ne!(second.port, nginx.port);
    drop(second);
    assert_eq!(get(&rt, &url, &[("Range", "bytes=0-0")]).status, 206);
}

#[test]
fn fault_proxy_injects_each_fault() {
    let root = tempfile::tempdir().unwrap();
    let data = content(200_000, 9);
    let other = content(50_000, 11);
    std::fs::write(root.path().join("a.zip"), &data).unwrap();
    std::fs::write(root.path().join("b.zip"), &other).unwrap();
    let nginx = Nginx::start(root.path());
    let rt = runtime();
    let direct_etag_b = get(&rt, &nginx.url_of("b.zip"), &[])
        .header("etag")
        .unwrap()
        .to_owned();

    // 1: untouched; 2: 503 SlowDown; 3: dropped after 1000 body bytes; 4: Range ignored;
    // 5: switched to b.zip; 6: delayed; 7..: untouched.
    let plan = FaultPlan::new()
        .on(Requests::Nth(2), Fault::Status(503))
        .on(Requests::Nth(3), Fault::DropMidBody { after_bytes: 1000 })
        .on(Requests::Nth(4), Fault::IgnoreRange)
        .on(
            Requests::Nth(5),
            Fault::SwitchObject {
                to_path: "/b.zip".to_owned(),
            },
        )
        .on(Requests::Nth(6), Fault::Delay(Duration::from_millis(20)));
    let proxy = FaultProxy::start(&nginx.url, plan);
    let url = format!("{}/a.zip", proxy.url);

    let ok = get(&rt, &url, &[("Range", "bytes=100-199")]);
    assert_eq!((ok.status, &ok.body[..]), (206, &data[100..200]));
    assert_eq!(ok.header("content-range"), Some("bytes 100-199/200000"));
    let etag_a = ok.header("etag").unwrap().to_owned();

    let slow = get(&rt, &url, &[("Range", "bytes=100-199")]);
    assert_eq!(slow.status, 503);
    assert!(String::from_utf8_lossy(&slow.body).contains("<Code>SlowDown</Code>"));

    let dropped = get(&rt, &url, &[]);
    assert_eq!(dropped.status, 200);
    assert_eq!(
        dropped.header("content-length"),
        Some("200000"),
        "headers promise the whole body"
    );
    assert!(
        dropped.body_error.is_some(),
        "the client sees a body error: {:?}",
        dropped.body_error
    );
    assert!(
        dropped.body.len() <= 1000,
        "at most after_bytes arrive: {}",
        dropped.body.len()
    );
    assert_eq!(dropped.body[..], data[..dropped.body.len()]);

    let ignored = get(&rt, &url, &[("Range", "bytes=100-199")]);
    assert_eq!((ignored.status, ignored.body.len()), (200, data.len()));
    assert_eq!(ignored.header("content-range"), None);

    let switched = get(&rt, &url, &[("Range", "bytes=0-9"), ("If-Match", &etag_a)]);
    assert_eq!(
        switched.status, 412,
        "the object behind the URL changed: If-Match fails"
    );
    proxy.set_plan(
        FaultPlan::new()
            .on(Requests::Nth(6), Fault::Delay(Duration::from_millis(20)))
            .on(
                Requests::AfterN(6),
                Fault::SwitchObject {
                    to_path: "/b.zip".to_owned(),
                },
            ),
    );
    let delayed = get(&rt, &url, &[("Range", "bytes=0-9")]);
    assert_eq!((delayed.status, &delayed.body[..]), (206, &data[..10]));
    let switched = get(&rt, &url, &[("Range", "bytes=0-9")]);
    assert_eq!((switched.status, &switched.body[..]), (206, &other[..10]));
    assert_eq!(switched.header("etag"), Some(direct_etag_b.as_str()));
    assert_ne!(switched.header("etag"), Some(etag_a.as_str()));
    assert_eq!(switched.header("content-range"), Some("bytes 0-9/50000"));

    let log = proxy.requests();
    let brief = |r: &common::faults::LoggedRequest| {
        let range = r.range.as_deref().unwrap_or("-");
        format!(
            "{} {} {} {range} {} {}",
            r.number, r.method, r.path, r.status, r.body_bytes
        )
    };
    assert_eq!(brief(&log[0]), "1 GET /a.zip bytes=100-199 206 100");
    assert_eq!(
        brief(&log[1]),
        format!("2 GET /a.zip bytes=100-199 503 {}", slow.body.len())
    );
    assert_eq!(
        (log[2].status, log[2].body_bytes),
        (200, 1000),
        "{:?}",
        log[2]
    );
    assert_eq!((log[3].status, log[3].body_bytes), (200, 200_000));
    assert_eq!(
        (log[4].status, log[4].if_match.as_deref()),
        (412, Some(etag_a.as_str()))
    );
    assert_eq!(log[5].faults, ["Delay(20ms)"]);
    assert_eq!(
        (log[6].path.as_str(), log[6].status, log[6].body_bytes),
        ("/a.zip", 206, 10)
    );
    assert_eq!(log.len(), 7);

    // reset: numbering starts again at 1; FirstN/All match from there.
    proxy.reset();
    proxy.set_plan(
        FaultPlan::new()
            .on(Requests::FirstN(2), Fault::Status(500))
            .on(Requests::All, Fault::IgnoreRange),
    );
    assert_eq!(get(&rt, &url, &[("Range", "bytes=0-0")]).status, 500);
    assert_eq!(get(&rt, &url, &[("Range", "bytes=0-0")]).status, 500);
    let third = get(&rt, &url, &[("Range", "bytes=0-0")]);
    assert_eq!((third.status, third.body.len()), (200, data.len()));
    assert_eq!(
        proxy
            .requests()
            .iter()
            .map(|r| r.number)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // An unreachable upstream is a 502 from the proxy, not a hang.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = FaultProxy::start(&format!("http://127.0.0.1:{dead_port}"), FaultPlan::new());
    assert_eq!(get(&rt, &format!("{}/x", dead.url), &[]).status, 502);
}

/// MD5 as lowercase hex (via s3s's own MD5, which is what s3s-fs uses for ETags).
fn md5_hex(data: &[u8]) -> String {
    use s3s::crypto::Checksum;
    let mut md5 = s3s::crypto::Md5::new();
    md5.update(data);
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
