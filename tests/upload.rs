//! Streaming uploads to S3 (`range_reader::upload`), against the in-process S3 server
//! (s3s + s3s-fs, wrapped so multipart uploads answer like S3: see tests/common/s3.rs) and,
//! where requests are counted or faults injected, the fault proxy in front of it.
//!
//! Parts are 5 MiB (S3's minimum) so that multipart uploads stay small; the SDK's own
//! retries are off (as in `range_reader::s3::client`) so every request the proxy logs is
//! one the code made, and the retry policy is fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::faults::{Fault, FaultPlan, FaultProxy, LoggedRequest, Requests};
use common::noise;
use common::s3::S3Server;
use range_reader::Error;
use range_reader::retry::RetryPolicy;
use range_reader::upload::{
    self, MIN_PART_SIZE, PutCondition, S3Upload, UploadOptions, UploadState, Uploaded,
};

const BUCKET: &str = "lake";
const PART: u64 = MIN_PART_SIZE;
const PART_LEN: usize = PART as usize;

/// Quick retries: the server is local.
fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// A client for `endpoint` (the server or a proxy in front of it), SDK retries off.
fn client(s3: &S3Server, endpoint: &str) -> aws_sdk_s3::Client {
    let config = s3
        .sdk_config()
        .to_builder()
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn server() -> S3Server {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    s3
}

fn options(concurrency: usize) -> UploadOptions {
    UploadOptions {
        part_size: PART,
        concurrency,
        policy: fast(),
        condition: PutCondition::Overwrite,
    }
}

fn md5_hex(data: &[u8]) -> String {
    use s3s::crypto::Checksum as _;
    let mut md5 = s3s::crypto::Md5::new();
    md5.update(data);
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What the callbacks saw.
#[derive(Clone, Default)]
struct Seen {
    states: Arc<Mutex<Vec<UploadState>>>,
    acknowledged: Arc<AtomicU64>,
}

impl Seen {
    fn start(
        &self,
        client: aws_sdk_s3::Client,
        key: &str,
        options: UploadOptions,
        resume: Option<UploadState>,
    ) -> range_reader::Result<S3Upload> {
        let states = Arc::clone(&self.states);
        let acknowledged = Arc::clone(&self.acknowledged);
        S3Upload::new(
            client,
            BUCKET.into(),
            key.into(),
            options,
            resume,
            Box::new(move |state| states.lock().unwrap().push(state.clone())),
            Box::new(move |n| {
                acknowledged.fetch_add(n, Ordering::SeqCst);
            }),
        )
    }

    fn last_state(&self) -> UploadState {
        self.states
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a state was reported")
    }

    fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::SeqCst)
    }
}

/// Writes `data` in odd-sized chunks (so part boundaries fall inside writes).
fn write_chunks(upload: &mut S3Upload, data: &[u8]) -> std::io::Result<()> {
    for chunk in data.chunks(65_537) {
        upload.write_all(chunk)?;
    }
    Ok(())
}

fn upload_all(
    seen: &Seen,
    client: aws_sdk_s3::Client,
    key: &str,
    options: UploadOptions,
    data: &[u8],
) -> Uploaded {
    let mut upload = seen.start(client, key, options, None).unwrap();
    write_chunks(&mut upload, data).unwrap();
    assert_eq!(upload.position(), data.len() as u64);
    upload.finish().unwrap()
}

/// The crate error inside an `io::Error` from `write`.
fn inner(error: std::io::Error) -> Error {
    *error
        .into_inner()
        .expect("an error from the uploader")
        .downcast::<Error>()
        .expect("a range_reader::Error")
}

fn part_requests(log: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    log.iter()
        .filter(|r| r.method == "PUT" && r.path.contains("partNumber="))
        .collect()
}

fn part_number(request: &LoggedRequest) -> u32 {
    let query = request.path.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("partNumber="))
        .unwrap()
        .parse()
        .unwrap()
}

/// Starts an upload of `data`, writes `written` bytes of it and drops it unfinished, as a
/// crash would leave it; returns the last state reported.
fn interrupted(s3: &S3Server, key: &str, data: &[u8], written: usize) -> UploadState {
    let seen = Seen::default();
    let mut upload = seen
        .start(client(s3, &s3.endpoint), key, options(2), None)
        .unwrap();
    write_chunks(&mut upload, &data[..written]).unwrap();
    drop(upload);
    // What the caller would have persisted, read back.
    let json = serde_json::to_string(&seen.last_state()).unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn small_stream_is_one_put() {
    let s3 = server();
    let proxy = FaultProxy::start(&s3.endpoint, FaultPlan::new());
    let data = noise(100_000, 1);
    let seen = Seen::default();
    let uploaded = upload_all(
        &seen,
        client(&s3, &proxy.url),
        "small.zip",
        options(2),
        &data,
    );
    assert_eq!(uploaded.parts, 0);
    assert_eq!(uploaded.size, data.len() as u64);
    assert_eq!(uploaded.etag, format!("\"{}\"", md5_hex(&data)));
    assert!(uploaded.etag_verified);
    // The store kept the CRC-32 sent with the PUT, and it was checked.
    assert!(uploaded.checksum_crc32.is_some());
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "small.zip")).unwrap(),
        data
    );
    assert_eq!(seen.acknowledged(), data.len() as u64);
    assert!(
        seen.states.lock().unwrap().is_empty(),
        "no multipart upload, no state"
    );
    let methods: Vec<_> = proxy.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["PUT", "HEAD"]);

    // Exactly one part's worth is still a single PUT; an empty stream is an empty object.
    let data = noise(PART_LEN, 2);
    let uploaded = upload_all(
        &seen,
        client(&s3, &s3.endpoint),
        "one-part.zip",
        options(2),
        &data,
    );
    assert_eq!(uploaded.parts, 0);
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "one-part.zip")).unwrap(),
        data
    );
    let uploaded = upload_all(
        &seen,
        client(&s3, &s3.endpoint),
        "empty.zip",
        options(1),
        &[],
    );
    assert_eq!((uploaded.size, uploaded.parts), (0, 0));
    assert!(s3.open_uploads().is_empty());
}

#[test]
fn multipart_upload_round_trips_and_verifies() {
    let s3 = server();
    // A stale object under the key: its checksum must not confuse the verification.
    s3.put_bytes(BUCKET, "dir/multi.zip", b"old");
    let data = noise(3 * PART_LEN + 12_345, 3);
    let seen = Seen::default();
    let client = client(&s3, &s3.endpoint);
    let uploaded = upload_all(&seen, client.clone(), "dir/multi.zip", options(1), &data);
    assert_eq!(uploaded.parts, 4);
    assert_eq!(uploaded.size, data.len() as u64);
    assert!(uploaded.etag.ends_with("-4\""), "{}", uploaded.etag);
    // The composite CRC-32 the server derived from the stored parts matched ours.
    let checksum = uploaded.checksum_crc32.clone().unwrap();
    assert!(checksum.ends_with("-4"), "{checksum}");
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "dir/multi.zip")).unwrap(),
        data
    );
    assert_eq!(seen.acknowledged(), data.len() as u64);

    let states = seen.states.lock().unwrap().clone();
    assert!(
        states[0].parts.is_empty(),
        "state reported right after creation"
    );
    let last = states.last().unwrap();
    assert_eq!(last.part_size, PART);
    let numbers: Vec<i32> = last.parts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(last.parts[3].size, 12_345);
    assert_eq!(last.parts[0].crc32, crc32fast::hash(&data[..PART_LEN]));
    assert_eq!(last.parts[0].md5, md5_hex(&data[..PART_LEN]));

    assert!(s3.open_uploads().is_empty());
    assert!(
        upload::list_uploads(&client, BUCKET, "", &fast())
            .unwrap()
            .is_empty()
    );
    let (size, etag) = upload::head_object(&client, BUCKET, "dir/multi.zip", &fast())
        .unwrap()
        .unwrap();
    assert_eq!((size, etag), (data.len() as u64, uploaded.etag));
}

#[test]
fn parallel_parts_finish_out_of_order() {
    let s3 = server();
    // Request 1 creates the upload; the first part request to arrive is held back, so the
    // parts after it finish first.
    let proxy = FaultProxy::start(
        &s3.endpoint,
        FaultPlan::new().on(Requests::Nth(2), Fault::Delay(Duration::from_millis(600))),
    );
    let data = noise(4 * PART_LEN + 1_000, 4);
    let seen = Seen::default();
    let uploaded = upload_all(&seen, client(&s3, &proxy.url), "par.zip", options(3), &data);
    assert_eq!(uploaded.parts, 5);
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "par.zip")).unwrap(),
        data
    );

    // The order parts were recorded in, from the successive states.
    let states = seen.states.lock().unwrap().clone();
    let mut order = Vec::new();
    for pair in states.windows(2) {
        let before: Vec<i32> = pair[0].parts.iter().map(|p| p.number).collect();
        let added: Vec<i32> = pair[1]
            .parts
            .iter()
            .map(|p| p.number)
            .filter(|n| !before.contains(n))
            .collect();
        order.extend(added);
    }
    assert_eq!(order.len(), 5, "{order:?}");
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_ne!(
        order, sorted,
        "the delayed part should finish last: {order:?}"
    );
    for state in &states {
        assert!(state.parts.windows(2).all(|w| w[0].number < w[1].number));
    }
    let log = proxy.requests();
    assert_eq!(
        part_requests(&log).len(),
        5,
        "each part sent once: {log:#?}"
    );
    let delayed = part_number(&log[1]);
    assert_eq!(*order.last().unwrap(), delayed as i32, "{order:?}");
}

#[test]
fn resume_skips_stored_parts() {
    let s3 = server();
    let data = noise(4 * PART_LEN + 1_000, 5);
    // Parts 1–3 are sent (part 3 once a byte of part 4 arrives); the rest is lost.
    let state = interrupted(&s3, "resume.zip", &data, 3 * PART_LEN + 100);
    let stored: Vec<i32> = state.parts.iter().map(|p| p.number).collect();
    assert_eq!(stored, [1, 2, 3]);
    assert_eq!(s3.open_uploads(), std::slice::from_ref(&state.upload_id));

    let proxy = FaultProxy::start(&s3.endpoint, FaultPlan::new());
    let seen = Seen::default();
    let mut upload = seen
        .start(
            client(&s3, &proxy.url),
            "resume.zip",
            options(2),
            Some(state.clone()),
        )
        .unwrap();
    assert_eq!(upload.upload_id(), Some(state.upload_id.as_str()));
    write_chunks(&mut upload, &data).unwrap();
    let uploaded = upload.finish().unwrap();
    assert_eq!(uploaded.parts, 5);
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "resume.zip")).unwrap(),
        data
    );
    assert!(s3.open_uploads().is_empty());
    assert_eq!(seen.acknowledged(), data.len() as u64);

    let log = proxy.requests();
    let sent: Vec<u32> = part_requests(&log).iter().map(|r| part_number(r)).collect();
    assert_eq!(sent.len(), 2, "only parts 4 and 5 are sent again: {log:#?}");
    assert!(sent.contains(&4) && sent.contains(&5), "{sent:?}");
    assert!(
        !log.iter()
            .any(|r| r.method == "POST" && r.path.contains("uploads")),
        "no new multipart upload: {log:#?}"
    );
    assert!(
        log[0].method == "GET" && log[0].path.contains("uploadId="),
        "ListParts first: {log:#?}"
    );
}

#[test]
fn resume_with_changed_bytes_fails_then_abort_cleans_up() {
    let s3 = server();
    let data = noise(3 * PART_LEN + 1_000, 6);
    let state = interrupted(&s3, "changed.zip", &data, 2 * PART_LEN + 10);
    assert_eq!(state.parts.len(), 2);

    let mut changed = data.clone();
    changed[PART_LEN + 7] ^= 1;
    let seen = Seen::default();
    let client = client(&s3, &s3.endpoint);
    let mut upload = seen
        .start(
            client.clone(),
            "changed.zip",
            options(2),
            Some(state.clone()),
        )
        .unwrap();
    let error = inner(write_chunks(&mut upload, &changed).unwrap_err());
    assert!(
        matches!(error, Error::ResumeMismatch { part: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("source changed"), "{error}");
    // Every later call fails too.
    assert!(upload.write_all(b"more").is_err());
    upload.abort().unwrap();
    assert!(s3.open_uploads().is_empty());
    assert!(!s3.object_path(BUCKET, "changed.zip").exists());

    // The upload is gone now: resuming it says so.
    let error = seen
        .start(client, "changed.zip", options(2), Some(state))
        .unwrap_err();
    assert!(matches!(error, Error::UploadGone { .. }), "{error}");
}

#[test]
fn resume_with_a_shorter_stream_fails_in_finish_and_aborts() {
    let s3 = server();
    let data = noise(3 * PART_LEN + 1_000, 7);
    let state = interrupted(&s3, "short.zip", &data, 2 * PART_LEN + 10);
    let seen = Seen::default();
    let mut upload = seen
        .start(
            client(&s3, &s3.endpoint),
            "short.zip",
            options(1),
            Some(state),
        )
        .unwrap();
    // Part 1 matches; the stream then ends inside part 2.
    write_chunks(&mut upload, &data[..PART_LEN + 100]).unwrap();
    let error = upload.finish().unwrap_err();
    assert!(matches!(error, Error::ResumeMismatch { .. }), "{error}");
    assert!(
        s3.open_uploads().is_empty(),
        "finish aborted the useless upload"
    );
}

#[test]
fn abort_leaves_no_parts() {
    let s3 = server();
    let data = noise(2 * PART_LEN + PART_LEN / 2, 8);
    let seen = Seen::default();
    let mut upload = seen
        .start(client(&s3, &s3.endpoint), "aborted.zip", options(2), None)
        .unwrap();
    write_chunks(&mut upload, &data).unwrap();
    assert_eq!(s3.open_uploads().len(), 1);
    upload.abort().unwrap();
    assert!(s3.open_uploads().is_empty());
    assert!(!s3.object_path(BUCKET, "aborted.zip").exists());

    // Nothing started, nothing to abort.
    let upload = seen
        .start(client(&s3, &s3.endpoint), "nothing.zip", options(2), None)
        .unwrap();
    upload.abort().unwrap();
}

#[test]
fn list_uploads_then_abort_upload() {
    let s3 = server();
    let client = client(&s3, &s3.endpoint);
    let data = noise(PART_LEN + 10, 9);
    let state = interrupted(&s3, "backups/pending.zip", &data, data.len());
    let pending = upload::list_uploads(&client, BUCKET, "backups/", &fast()).unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].key, "backups/pending.zip");
    assert_eq!(pending[0].upload_id, state.upload_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - pending[0].initiated.unwrap()).abs() < 600);
    assert!(
        upload::list_uploads(&client, BUCKET, "other/", &fast())
            .unwrap()
            .is_empty()
    );

    upload::abort_upload(
        &client,
        BUCKET,
        &pending[0].key,
        &pending[0].upload_id,
        &fast(),
    )
    .unwrap();
    assert!(
        upload::list_uploads(&client, BUCKET, "", &fast())
            .unwrap()
            .is_empty()
    );
    assert!(s3.open_uploads().is_empty());
    // Aborting again is fine.
    upload::abort_upload(
        &client,
        BUCKET,
        &pending[0].key,
        &pending[0].upload_id,
        &fast(),
    )
    .unwrap();
}

#[test]
fn conditional_puts_and_small_objects() {
    let s3 = server();
    let client = client(&s3, &s3.endpoint);
    let policy = fast();
    assert_eq!(
        upload::get_object(&client, BUCKET, "chain.json", &policy).unwrap(),
        None
    );
    assert_eq!(
        upload::head_object(&client, BUCKET, "chain.json", &policy).unwrap(),
        None
    );

    let first = upload::put_object(
        &client,
        BUCKET,
        "chain.json",
        b"{\"v\":1}".to_vec(),
        PutCondition::IfNoneMatch,
        &policy,
    )
    .unwrap();
    assert_eq!(first, format!("\"{}\"", md5_hex(b"{\"v\":1}")));
    let (body, etag) = upload::get_object(&client, BUCKET, "chain.json", &policy)
        .unwrap()
        .unwrap();
    assert_eq!(
        (body.as_slice(), etag.as_str()),
        (&b"{\"v\":1}"[..], first.as_str())
    );
    assert_eq!(
        upload::head_object(&client, BUCKET, "chain.json", &policy).unwrap(),
        Some((7, first.clone()))
    );

    // Another writer got there first.
    let error = upload::put_object(
        &client,
        BUCKET,
        "chain.json",
        b"{\"v\":2}".to_vec(),
        PutCondition::IfNoneMatch,
        &policy,
    )
    .unwrap_err();
    assert!(matches!(error, Error::Precondition { .. }), "{error}");
    assert!(error.to_string().contains("another writer"), "{error}");

    let second = upload::put_object(
        &client,
        BUCKET,
        "chain.json",
        b"{\"v\":2}".to_vec(),
        PutCondition::IfMatch(first.clone()),
        &policy,
    )
    .unwrap();
    assert_ne!(second, first);
    // A stale ETag: the object changed since it was read.
    let error = upload::put_object(
        &client,
        BUCKET,
        "chain.json",
        b"{\"v\":3}".to_vec(),
        PutCondition::IfMatch(first),
        &policy,
    )
    .unwrap_err();
    assert!(matches!(error, Error::Precondition { .. }), "{error}");
    let (body, _) = upload::get_object(&client, BUCKET, "chain.json", &policy)
        .unwrap()
        .unwrap();
    assert_eq!(body, b"{\"v\":2}");
}

#[test]
fn conditional_archive_uploads() {
    let s3 = server();
    let client = client(&s3, &s3.endpoint);
    s3.put_bytes(BUCKET, "taken.zip", b"someone else's");
    let seen = Seen::default();
    let if_none_match = UploadOptions {
        condition: PutCondition::IfNoneMatch,
        ..options(2)
    };
    // Refused before anything is sent.
    let error = seen
        .start(client.clone(), "taken.zip", if_none_match.clone(), None)
        .unwrap_err();
    assert!(matches!(error, Error::Precondition { .. }), "{error}");

    // Created by another writer while the parts were going up: the completion is refused
    // and the parts are not left behind.
    let data = noise(2 * PART_LEN + 10, 10);
    let mut upload = seen
        .start(client.clone(), "raced.zip", if_none_match.clone(), None)
        .unwrap();
    write_chunks(&mut upload, &data).unwrap();
    s3.put_bytes(BUCKET, "raced.zip", b"the other writer's");
    let error = upload.finish().unwrap_err();
    assert!(matches!(error, Error::Precondition { .. }), "{error}");
    assert!(s3.open_uploads().is_empty());
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "raced.zip")).unwrap(),
        b"the other writer's"
    );

    // If-Match with the current ETag replaces the object, as a single PUT and as multipart.
    let etag = s3.etag(BUCKET, "raced.zip");
    let if_match = UploadOptions {
        condition: PutCondition::IfMatch(etag),
        ..options(2)
    };
    let uploaded = upload_all(&seen, client.clone(), "raced.zip", if_match.clone(), &data);
    assert_eq!(uploaded.parts, 3);
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "raced.zip")).unwrap(),
        data
    );
    // …and with a stale one it is refused.
    let error = seen.start(client, "raced.zip", if_match, None).unwrap_err();
    assert!(matches!(error, Error::Precondition { .. }), "{error}");
}

#[test]
fn a_503_on_a_part_is_retried() {
    let s3 = server();
    // Concurrency 1 keeps the order fixed: 1 creates the upload, 2 is part 1, 3 is part 2.
    let proxy = FaultProxy::start(
        &s3.endpoint,
        FaultPlan::new().on(Requests::Nth(3), Fault::Status(503)),
    );
    let data = noise(2 * PART_LEN + 10, 11);
    let seen = Seen::default();
    let uploaded = upload_all(
        &seen,
        client(&s3, &proxy.url),
        "retried.zip",
        options(1),
        &data,
    );
    assert_eq!(uploaded.parts, 3);
    assert_eq!(
        std::fs::read(s3.object_path(BUCKET, "retried.zip")).unwrap(),
        data
    );
    let log = proxy.requests();
    let parts: Vec<(u32, u16)> = part_requests(&log)
        .iter()
        .map(|r| (part_number(r), r.status))
        .collect();
    assert_eq!(parts, [(1, 200), (2, 503), (2, 200), (3, 200)], "{log:#?}");
    assert!(s3.open_uploads().is_empty());
}

#[test]
fn a_403_on_a_part_fails_the_upload() {
    let s3 = server();
    // Everything after CreateMultipartUpload is refused.
    let proxy = FaultProxy::start(
        &s3.endpoint,
        FaultPlan::new().on(Requests::AfterN(1), Fault::Status(403)),
    );
    let data = noise(3 * PART_LEN + 10, 12);
    let seen = Seen::default();
    let mut upload = seen
        .start(client(&s3, &proxy.url), "denied.zip", options(1), None)
        .unwrap();
    // With one part in flight, the write that needs a second slot sees the failure.
    let error = inner(write_chunks(&mut upload, &data).unwrap_err());
    assert!(error.to_string().contains("access denied"), "{error}");
    // Refused, not retried.
    let log = proxy.requests();
    assert_eq!(part_requests(&log).len(), 1, "{log:#?}");
    // The caller aborts once the store lets it.
    proxy.set_plan(FaultPlan::new());
    upload.abort().unwrap();
    assert!(s3.open_uploads().is_empty());
}
