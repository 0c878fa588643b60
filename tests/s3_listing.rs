//! The packer's S3 input, against the in-process S3 server (s3s + s3s-fs): listing a prefix
//! across pages, reading listed objects pinned to their listed ETag, the stored full-object
//! CRC-32, and the prefetcher over listed objects.
//!
//! s3s-fs 0.14 quirks these tests allow for: ListObjectsV2 entries carry no ETag (real S3
//! always sends one), so pinning tests take the ETag from the server's records instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use common::s3::S3Server;
use range_reader::prefetch::{PrefetchItem, PrefetchOptions, Prefetcher};
use range_reader::retry::RetryPolicy;
use range_reader::s3::{ListedObject, S3Source, list_objects, stored_crc32};
use range_reader::{Error, RangeSource};

const BUCKET: &str = "lake";

fn client(s3: &S3Server) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3.sdk_config())
}

/// Few, short retries: the server is local, and failures here should be quick.
fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

/// Deterministic bytes, different per seed.
fn bytes(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(131) ^ seed.wrapping_mul(7919) ^ (i >> 8)) as u8)
        .collect()
}

fn listed_source(s3: &S3Server, object: &ListedObject, etag: String) -> S3Source {
    S3Source::with_listing(
        client(s3),
        BUCKET.into(),
        object.key.clone(),
        object.size,
        etag,
        policy(),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn listing_pages_through_a_prefix() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    // More than one page of 1,000 (S3's and s3s-fs's default page size).
    for i in 0..1100 {
        s3.put_bytes(BUCKET, &format!("big/obj-{i:04}"), &bytes(i, i % 7));
    }
    s3.put_bytes(BUCKET, "bigger/not-under-big-slash", b"x");
    s3.put_bytes(BUCKET, "other/y", b"yy");
    let client = client(&s3);

    let listed = list_objects(&client, BUCKET, "big/", &policy()).unwrap();
    assert_eq!(listed.len(), 1100);
    for (i, object) in listed.iter().enumerate() {
        assert_eq!(object.key, format!("big/obj-{i:04}"));
        assert_eq!(object.size, (i % 7) as u64);
        // s3s-fs omits ETags from listings; S3 sends the quoted MD5 for these objects.
        assert!(
            object.etag.is_empty() || object.etag == s3.etag(BUCKET, &object.key),
            "{object:?}"
        );
        assert!((now() - object.last_modified).abs() < 3600, "{object:?}");
    }

    let all = list_objects(&client, BUCKET, "", &policy()).unwrap();
    assert_eq!(all.len(), 1102);
    let keys: Vec<&str> = all.iter().map(|o| o.key.as_str()).collect();
    assert!(keys.is_sorted(), "keys in lexicographic order");
    assert_eq!(keys[1100..], ["bigger/not-under-big-slash", "other/y"]);

    assert!(
        list_objects(&client, BUCKET, "missing/", &policy())
            .unwrap()
            .is_empty()
    );
    let error = list_objects(&client, "no-such-bucket", "", &policy())
        .unwrap_err()
        .to_string();
    assert!(error.contains("no such bucket"), "{error}");
}

#[test]
fn listed_sources_read_without_a_length_request_and_refuse_replaced_objects() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let data = bytes(1, 300_000);
    s3.put_bytes(BUCKET, "t/a.bin", &data);
    let listed = list_objects(&client(&s3), BUCKET, "t/", &policy()).unwrap();
    let [object] = &listed[..] else {
        panic!("{listed:?}")
    };
    let etag = s3.etag(BUCKET, "t/a.bin");

    // The length comes from the listing: this client cannot reach any server.
    let unreachable = aws_sdk_s3::Client::from_conf(
        s3.sdk_config()
            .to_builder()
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let offline = S3Source::with_listing(
        unreachable,
        BUCKET.into(),
        object.key.clone(),
        object.size,
        etag.clone(),
        policy(),
    );
    assert_eq!(offline.len().unwrap(), 300_000);

    let source = listed_source(&s3, object, etag.clone());
    assert_eq!(source.len().unwrap(), 300_000);
    assert_eq!(source.read_range(0..300_000).unwrap(), data);
    assert_eq!(
        source.read_range(1000..2000).unwrap(),
        data[1000..2000].to_vec()
    );

    // Replaced after the listing, before the first read: the first GET carries If-Match.
    let replacement = bytes(2, 300_000);
    s3.put_bytes(BUCKET, "t/a.bin", &replacement);
    let stale = listed_source(&s3, object, etag);
    let error = stale.read_range(0..10).unwrap_err();
    assert!(matches!(error, Error::Changed { .. }), "{error}");
    // The source of the first reads is refused as well.
    assert!(matches!(
        source.read_range(0..10).unwrap_err(),
        Error::Changed { .. }
    ));

    // Without a listed ETag (as s3s-fs lists), the first reply's ETag is pinned.
    let no_etag = listed_source(&s3, object, String::new());
    assert_eq!(
        no_etag.read_range(0..10).unwrap(),
        replacement[..10].to_vec()
    );
    s3.put_bytes(BUCKET, "t/a.bin", &bytes(3, 300_000));
    let error = no_etag.read_range(10..20).unwrap_err();
    assert!(matches!(error, Error::Changed { .. }), "{error}");
    // A listed size that no longer holds is a change too.
    s3.put_bytes(BUCKET, "t/a.bin", &bytes(3, 1000));
    let error = listed_source(&s3, object, String::new())
        .read_range(0..10)
        .unwrap_err();
    assert!(matches!(error, Error::Changed { .. }), "{error}");
}

#[test]
fn stored_crc32_of_objects_uploaded_with_and_without_one() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let client = client(&s3);
    let data = bytes(5, 100_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(
            client
                .put_object()
                .bucket(BUCKET)
                .key("with-crc.bin")
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(data.clone()))
                .send(),
        )
        .unwrap();
    let etag = s3.etag(BUCKET, "with-crc.bin");
    assert_eq!(
        stored_crc32(&client, BUCKET, "with-crc.bin", &etag, &policy()).unwrap(),
        Some(crc32fast::hash(&data))
    );
    // No ETag to check against: the CRC-32 still comes back.
    assert_eq!(
        stored_crc32(&client, BUCKET, "with-crc.bin", "", &policy()).unwrap(),
        Some(crc32fast::hash(&data))
    );
    // An ETag that no longer matches is a change.
    let error = stored_crc32(&client, BUCKET, "with-crc.bin", "\"0123\"", &policy()).unwrap_err();
    assert!(matches!(error, Error::Changed { .. }), "{error}");

    // Written without a checksum: nothing stored.
    s3.put_bytes(BUCKET, "without.bin", &data);
    let etag = s3.etag(BUCKET, "without.bin");
    assert_eq!(
        stored_crc32(&client, BUCKET, "without.bin", &etag, &policy()).unwrap(),
        None
    );

    let error = stored_crc32(&client, BUCKET, "missing.bin", "", &policy())
        .unwrap_err()
        .to_string();
    assert!(error.contains("no such object"), "{error}");
}

#[test]
fn prefetcher_reads_listed_objects_in_order() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let sizes = [
        0, 1, 100, 65_535, 65_536, 65_537, 0, 300_000, 7, 1_000_000, 42,
    ];
    let files: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| bytes(i, n))
        .collect();
    for (i, data) in files.iter().enumerate() {
        s3.put_bytes(BUCKET, &format!("w/t/{i:02}.parquet"), data);
    }
    let listed = list_objects(&client(&s3), BUCKET, "w/", &policy()).unwrap();
    assert_eq!(listed.len(), files.len());
    let items = listed
        .iter()
        .enumerate()
        .map(|(i, object)| PrefetchItem {
            source: Arc::new(listed_source(&s3, object, s3.etag(BUCKET, &object.key))),
            len: object.size,
            crc_first: i % 2 == 1,
        })
        .collect();
    let mut prefetcher = Prefetcher::start(
        items,
        PrefetchOptions {
            chunk: 64 * 1024,
            concurrency: 4,
        },
    );
    for (i, expected) in files.iter().enumerate() {
        let mut file = prefetcher.next().unwrap().unwrap();
        assert_eq!(file.index(), i);
        assert_eq!(file.crc32, (i % 2 == 1).then(|| crc32fast::hash(expected)));
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        assert!(out == *expected, "file {i}: {} bytes", out.len());
    }
    assert!(prefetcher.next().is_none());
}
