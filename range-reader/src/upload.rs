//! Writing to S3: a streaming, resumable multipart upload of an archive ([`S3Upload`]),
//! the housekeeping `lakezip cleanup` needs ([`list_uploads`], [`abort_upload`]), and small
//! whole-object helpers for chain manifests ([`get_object`], [`put_object`],
//! [`head_object`]).
//!
//! [`S3Upload`] implements [`std::io::Write`], so the archive writer streams into it like
//! into a file. Bytes fill one part buffer; a full part is handed to a task on the shared
//! runtime ([`crate::runtime::spawn`]) and `write` goes on with the next part, blocking
//! while [`UploadOptions::concurrency`] parts are in flight. Memory is therefore bounded by
//! `(concurrency + 1) × part_size`. A stream shorter than one part is sent as one
//! `PutObject` when [`S3Upload::finish`] is called; nothing is sent before a part is full.
//!
//! Integrity, end to end:
//! - every part and every single PUT carries `Content-MD5` and `x-amz-checksum-crc32`
//!   (computed here, so the SDK adds no checksum of its own and nothing needs
//!   `aws-chunked` trailers); the store rejects a body that does not match;
//! - `CompleteMultipartUpload` lists every part with its ETag and CRC-32 (AWS requires the
//!   part checksums when the parts were sent with them; the upload is created with
//!   `ChecksumAlgorithm=CRC32`, i.e. a composite checksum);
//! - afterwards `HeadObject` must report the size written, the ETag the bytes give (hex
//!   MD5 for a single PUT; MD5 of the concatenated part MD5s, `-N`, for multipart) and,
//!   if the store reports one, the CRC-32 (full-object, or composite `base64-N`: the
//!   CRC-32 of the concatenated big-endian part CRC-32s). Under SSE-KMS, DSSE-KMS or SSE-C
//!   the ETag is not an MD5, so it is not compared ([`Uploaded::etag_verified`] says so).
//!
//! Resuming: after `CreateMultipartUpload` and after every stored part the uploader
//! reports an [`UploadState`] (bucket, key, upload id, part size, parts with CRC-32 and MD5)
//! to the caller, who persists it. A later run passes it back and writes the same byte
//! stream again from the start: parts already stored are not sent again, only their
//! CRC-32 is compared with the recorded one ([`Error::ResumeMismatch`] if the source
//! changed). [`Error::UploadGone`] says the upload no longer exists (start afresh).
//!
//! Every request is retried per [`RetryPolicy`] (5xx, 429, timeouts, connection failures;
//! see [`crate::remote::with_retries`]); other 4xx replies fail at once with a clear message;
//! HTTP 412 on a conditional write is [`Error::Precondition`]. A conditional write whose
//! first attempt may have succeeded unseen (the reply was lost) and whose retry then gets
//! 412 (or `NoSuchUpload` on completion) is settled by `HeadObject`: if the object holds
//! exactly our bytes, the write succeeded.
//!
//! Everything is synchronous from the caller's view; like [`crate::s3::S3Source`], these
//! functions block on the shared runtime and must not be called from inside it.
//!
//! ```no_run
//! use std::io::Write;
//! use range_reader::upload::{S3Upload, UploadOptions};
//!
//! # fn main() -> range_reader::Result<()> {
//! let client = range_reader::s3::client(&Default::default())?;
//! let archive: &[u8] = b"PK...";
//! let options = UploadOptions::for_size(archive.len() as u64)?;
//! let mut upload = S3Upload::new(
//!     client,
//!     "backups".into(),
//!     "warehouse.zip".into(),
//!     options,
//!     None,
//!     Box::new(|state| { /* persist serde_json::to_vec(state) */ let _ = state; }),
//!     Box::new(|acknowledged| { /* progress bar */ let _ = acknowledged; }),
//! )?;
//! upload.write_all(archive).map_err(|e| range_reader::Error::Upload {
//!     target: "s3://backups/warehouse.zip".into(),
//!     message: e.to_string(),
//! })?;
//! let uploaded = upload.finish()?;
//! println!("{} bytes, ETag {}", uploaded.size, uploaded.etag);
//! # Ok(())
//! # }
//! ```

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};

use crate::remote::{Failure, with_retries};
use crate::retry::RetryPolicy;
use crate::runtime::{block_on, spawn};
use crate::{Error, Result};

const MIB: u64 = 1 << 20;
/// The smallest part S3 accepts (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// The largest object S3 stores.
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;
/// The most parts one multipart upload may have.
pub const MAX_PARTS: i32 = 10_000;
/// [`part_size_for`] aims at no more than this many parts, leaving headroom under
/// [`MAX_PARTS`] for an archive that grows past its estimate.
const TARGET_PARTS: u64 = 9_000;
/// [`part_size_for`]'s smallest part: fewer requests than S3's 5 MiB minimum.
const DEFAULT_MIN_PART_SIZE: u64 = 8 * MIB;

/// Error codes that mean "try again" whatever the HTTP status (S3 can report an
/// `InternalError` inside a 200 reply to `CompleteMultipartUpload`; concurrent conditional
/// writes get 409 `ConditionalRequestConflict`).
const TRANSIENT_CODES: [&str; 7] = [
    "InternalError",
    "SlowDown",
    "ServiceUnavailable",
    "RequestTimeout",
    "Throttling",
    "ConditionalRequestConflict",
    "OperationAborted",
];

/// Condition for writing an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PutCondition {
    /// Write whatever is there.
    #[default]
    Overwrite,
    /// The object must not exist yet (`If-None-Match: *`).
    IfNoneMatch,
    /// The object must still have this ETag (`If-Match`), i.e. nobody changed it since it
    /// was read. The ETag as S3 reports it (quoted or not).
    IfMatch(String),
}

/// How an [`S3Upload`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Bytes per part, [`MIN_PART_SIZE`]..=[`MAX_PART_SIZE`]; see [`part_size_for`]. Also
    /// the threshold below which the stream is sent as one `PutObject`.
    pub part_size: u64,
    /// Parts in flight at once (at least 1).
    pub concurrency: usize,
    /// Bounded retries of each request.
    pub policy: RetryPolicy,
    /// Applied to `PutObject` (single PUT) and `CompleteMultipartUpload`, and checked with
    /// `HeadObject` before anything is sent so that a doomed upload fails at once.
    pub condition: PutCondition,
}

impl UploadOptions {
    /// Defaults for an archive of about `expected_len` bytes: [`part_size_for`], 4 parts in
    /// flight, the default retry policy, overwrite.
    pub fn for_size(expected_len: u64) -> Result<Self> {
        Ok(UploadOptions {
            part_size: part_size_for(expected_len)?,
            concurrency: 4,
            policy: RetryPolicy::default(),
            condition: PutCondition::Overwrite,
        })
    }
}

/// Part size for an archive of about `expected_len` bytes: at least 8 MiB, a whole number
/// of MiB, and large enough that `expected_len` fits in at most 9,000 parts (headroom under
/// S3's 10,000), so 5 TiB fits (583 MiB parts). Larger than 5 TiB is [`Error::TooLarge`].
pub fn part_size_for(expected_len: u64) -> Result<u64> {
    if expected_len > MAX_OBJECT_SIZE {
        return Err(Error::TooLarge {
            size: expected_len,
            limit: MAX_OBJECT_SIZE,
        });
    }
    let mib_per_part = expected_len.div_ceil(TARGET_PARTS).div_ceil(MIB);
    Ok((mib_per_part * MIB).max(DEFAULT_MIN_PART_SIZE))
}

/// One stored part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Part number, from 1.
    pub number: i32,
    /// Bytes in the part.
    pub size: u64,
    /// CRC-32 of the part's bytes.
    pub crc32: u32,
    /// MD5 of the part's bytes, lowercase hex.
    pub md5: String,
    /// The ETag the store answered, verbatim.
    pub etag: String,
}

/// Resumable state of a multipart upload, reported to the caller after every change (see
/// [`S3Upload::new`]) for it to persist (it is serde, e.g. a JSON state file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The multipart upload's id.
    pub upload_id: String,
    /// Bytes per part (a resumed upload keeps it, whatever the new options say).
    pub part_size: u64,
    /// Parts stored so far, sorted by number (there may be gaps: parts finish out of order).
    pub parts: Vec<PartRecord>,
}

/// A finished and verified upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Object size (= bytes written).
    pub size: u64,
    /// The object's ETag as the store reports it.
    pub etag: String,
    /// Parts of the multipart upload; 0 for a single PUT.
    pub parts: u32,
    /// The CRC-32 the store reports, if any: base64 (full object) or `base64-N` (composite).
    pub checksum_crc32: Option<String>,
    /// Whether the ETag was compared with the MD5 of the bytes; false when the object is
    /// encrypted with SSE-KMS, DSSE-KMS or SSE-C (its ETag is not an MD5 then).
    pub etag_verified: bool,
}

/// A multipart upload in progress (for `lakezip cleanup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// When it was started, in Unix seconds.
    pub initiated: Option<i64>,
}

/// What the writer and the part tasks share.
struct Shared {
    target: String,
    inner: Mutex<Inner>,
    wake: Condvar,
    /// Set by abort: parts still retrying stop before their next attempt.
    cancelled: AtomicBool,
    on_uploaded: Box<dyn Fn(u64) + Send + Sync>,
}

struct Inner {
    in_flight: usize,
    /// The first failure, until a caller has been given it.
    failure: Option<Error>,
    /// The first failure's text, once given: every later call fails with it too.
    failed: Option<String>,
    state: Option<UploadState>,
    on_state: Box<dyn FnMut(&UploadState) + Send>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking callback poisons the lock; the data is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_while<'a>(
        &self,
        guard: MutexGuard<'a, Inner>,
        condition: impl FnMut(&mut Inner) -> bool,
    ) -> MutexGuard<'a, Inner> {
        self.wake
            .wait_while(guard, condition)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The pending failure, if any.
    fn check(&self, inner: &mut Inner) -> Result<()> {
        if let Some(error) = inner.failure.take() {
            inner.failed = Some(error.to_string());
            return Err(error);
        }
        match &inner.failed {
            Some(message) => Err(Error::Upload {
                target: self.target.clone(),
                message: format!("the upload failed earlier: {message}"),
            }),
            None => Ok(()),
        }
    }

    /// Records a failure found by the writer itself, so later calls fail too.
    fn fail(&self, error: Error) -> Error {
        let mut inner = self.lock();
        if inner.failure.is_none() && inner.failed.is_none() {
            inner.failed = Some(error.to_string());
        }
        error
    }

    fn publish(inner: &mut Inner) {
        let Inner {
            state, on_state, ..
        } = inner;
        if let Some(state) = state {
            on_state(state);
        }
    }

    /// Reports `bytes` more as stored (under the lock, so calls never overlap).
    fn acknowledge(&self, _inner: &mut Inner, bytes: u64) {
        (self.on_uploaded)(bytes);
    }
}

/// Held by a part task: whatever way the task ends (even a panic or a runtime shut down),
/// its slot is freed and the writer woken, so nothing hangs.
struct InFlight {
    shared: Arc<Shared>,
    outcome: Option<Result<PartRecord>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let outcome = self.outcome.take();
        let mut inner = self.shared.lock();
        match outcome {
            Some(Ok(record)) => {
                let size = record.size;
                if let Some(state) = &mut inner.state {
                    match state
                        .parts
                        .binary_search_by_key(&record.number, |p| p.number)
                    {
                        Ok(i) => state.parts[i] = record,
                        Err(i) => state.parts.insert(i, record),
                    }
                }
                // A panicking callback must not skip the bookkeeping below (the writer
                // would wait for this slot forever).
                let reported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Shared::publish(&mut inner);
                    self.shared.acknowledge(&mut inner, size);
                }));
                if reported.is_err() && inner.failure.is_none() && inner.failed.is_none() {
                    inner.failure = Some(Error::Upload {
                        target: self.shared.target.clone(),
                        message: "the upload state callback panicked".into(),
                    });
                }
            }
            Some(Err(error)) => {
                if inner.failure.is_none() && inner.failed.is_none() {
                    inner.failure = Some(error);
                }
            }
            None => {
                if inner.failure.is_none() && inner.failed.is_none() {
                    inner.failure = Some(Error::Upload {
                        target: self.shared.target.clone(),
                        message: "a part upload stopped unexpectedly".into(),
                    });
                }
            }
        }
        inner.in_flight = inner.in_flight.saturating_sub(1);
        drop(inner);
        self.shared.wake.notify_all();
    }
}

/// Where an object goes, and how requests to it are retried.
#[derive(Clone)]
struct Object {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    target: String,
    policy: RetryPolicy,
}

impl Object {
    fn new(client: &aws_sdk_s3::Client, bucket: &str, key: &str, policy: &RetryPolicy) -> Self {
        Object {
            client: client.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            target: format!("s3://{bucket}/{key}"),
            policy: *policy,
        }
    }

    fn upload_error(&self, message: String) -> Error {
        Error::Upload {
            target: self.target.clone(),
            message,
        }
    }

    async fn head(&self) -> Result<Option<HeadObjectOutput>> {
        with_retries(&self.target, &self.policy, || async move {
            match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
            {
                Ok(output) => Ok(Some(output)),
                // A HEAD reply has no body, hence no error code: any 404 is "no object".
                Err(error) if status_of(&error) == Some(404) => Ok(None),
                Err(error) => Err(classify(&self.target, "HeadObject", None, error)),
            }
        })
        .await
    }

    /// A whole-object PUT of `body` (with Content-MD5 and CRC-32) under `condition`.
    async fn put(&self, body: &Bytes, condition: &PutCondition) -> Result<Sent<String>> {
        let md5 = md5_of(body);
        let crc = crc32fast::hash(body);
        let attempt = &Cell::new(0u32);
        with_retries(&self.target, &self.policy, || async move {
            attempt.set(attempt.get() + 1);
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_length(length_header(body.len() as u64))
                .content_md5(BASE64.encode(md5))
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .checksum_crc32(BASE64.encode(crc.to_be_bytes()))
                .body(ByteStream::from(body.clone()));
            let request = match condition {
                PutCondition::Overwrite => request,
                PutCondition::IfNoneMatch => request.if_none_match("*"),
                PutCondition::IfMatch(etag) => request.if_match(etag),
            };
            match request.send().await {
                Ok(output) => {
                    let etag = output.e_tag().unwrap_or_default().to_owned();
                    let encrypted = is_encrypted(
                        output.server_side_encryption(),
                        output.sse_customer_algorithm(),
                    );
                    if !encrypted && !etag_eq(&etag, &hex(&md5)) {
                        return Err(Failure::Fatal(self.upload_error(format!(
                            "PutObject answered ETag {etag:?}, but the bytes sent have MD5 {}",
                            hex(&md5)
                        ))));
                    }
                    Ok(Sent::Done(etag))
                }
                Err(error) => settle(
                    classify(&self.target, "PutObject", None, error),
                    attempt.get(),
                ),
            }
        })
        .await
    }

    async fn list_parts(&self, upload_id: &str) -> Result<BTreeMap<i32, ListedPart>> {
        let mut parts = BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let page = with_retries(&self.target, &self.policy, || {
                let marker = marker.clone();
                async move {
                    self.client
                        .list_parts()
                        .bucket(&self.bucket)
                        .key(&self.key)
                        .upload_id(upload_id)
                        .set_part_number_marker(marker)
                        .send()
                        .await
                        .map_err(|e| classify(&self.target, "ListParts", Some(upload_id), e))
                }
            })
            .await?;
            for part in page.parts() {
                if let Some(number) = part.part_number() {
                    parts.insert(
                        number,
                        ListedPart {
                            size: part.size().and_then(|s| u64::try_from(s).ok()),
                            etag: part.e_tag().map(str::to_owned),
                        },
                    );
                }
            }
            match page.next_part_number_marker() {
                Some(next)
                    if page.is_truncated() == Some(true) && marker.as_deref() != Some(next) =>
                {
                    marker = Some(next.to_owned());
                }
                _ => return Ok(parts),
            }
        }
    }

    async fn abort(&self, upload_id: &str) -> Result<()> {
        let result = with_retries(&self.target, &self.policy, || async move {
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(&self.target, "AbortMultipartUpload", Some(upload_id), e))
        })
        .await;
        match result {
            Err(Error::UploadGone { .. }) => Ok(()),
            other => other,
        }
    }

    /// Aborts, then checks with ListParts that the upload is gone: a part whose upload was
    /// still in progress may be stored after an abort, so S3 asks to abort again then.
    async fn abort_fully(&self, upload_id: &str) -> Result<()> {
        for _ in 0..3 {
            self.abort(upload_id).await?;
            match self.list_parts(upload_id).await {
                Err(Error::UploadGone { .. }) => return Ok(()),
                Err(error) => return Err(error),
                Ok(_) => {}
            }
        }
        Err(self.upload_error(format!(
            "multipart upload {upload_id} is still listed after 3 aborts"
        )))
    }
}

/// A part as ListParts reports it.
struct ListedPart {
    size: Option<u64>,
    etag: Option<String>,
}

/// The outcome of a conditional write.
enum Sent<T> {
    /// The store accepted it.
    Done(T),
    /// A retry was refused (412, or `NoSuchUpload` on completion) after an earlier attempt
    /// failed unseen, which may have succeeded: the object decides. The error applies if it
    /// does not hold our bytes.
    Unsure(Error),
}

/// Turns the failure of attempt number `attempt` into a [`Sent::Unsure`] when an earlier
/// attempt may have done the work.
fn settle<T>(failure: Failure, attempt: u32) -> std::result::Result<Sent<T>, Failure> {
    match failure {
        Failure::Fatal(error @ (Error::Precondition { .. } | Error::UploadGone { .. }))
            if attempt > 1 =>
        {
            Ok(Sent::Unsure(error))
        }
        other => Err(other),
    }
}

/// What the finished object must look like.
struct Expected {
    size: u64,
    /// Unquoted hex MD5, or `hex-N` for multipart.
    etag: String,
    /// CRC-32 of the whole stream.
    crc32: u32,
    /// Composite CRC-32 and part count, for multipart.
    composite: Option<(u32, u32)>,
}

/// Streams bytes to `s3://bucket/key`, as a multipart upload or — for fewer than
/// `part_size` bytes — one PUT. See the [module docs](self).
///
/// Dropping it without [`finish`](S3Upload::finish) or [`abort`](S3Upload::abort) waits
/// for the parts in flight to be stored (or to fail after their retries) and leaves the
/// multipart upload in place, to be resumed with the last [`UploadState`] (or removed with
/// [`abort_upload`]).
pub struct S3Upload {
    object: Object,
    part_size: u64,
    concurrency: usize,
    condition: PutCondition,
    shared: Arc<Shared>,
    /// The part being filled (allocated when the first byte of a part arrives).
    buffer: Vec<u8>,
    position: u64,
    /// Number of the part `buffer` will become.
    next_part: i32,
    upload_id: Option<String>,
    /// Parts of the interrupted run not yet regenerated and compared.
    resumed: BTreeMap<i32, PartRecord>,
    /// CRC-32 of every byte written.
    crc: crc32fast::Hasher,
}

impl std::fmt::Debug for S3Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Upload")
            .field("target", &self.object.target)
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .field("condition", &self.condition)
            .field("position", &self.position)
            .field("upload_id", &self.upload_id)
            .finish_non_exhaustive()
    }
}

impl S3Upload {
    /// Starts an upload to `s3://bucket/key`; nothing is sent until a part is full, except a
    /// `HeadObject` when `options.condition` is not [`PutCondition::Overwrite`] (a doomed
    /// upload fails here, before any byte is sent).
    ///
    /// With `resume = Some(state)` it continues that multipart upload (with the state's part
    /// size): `ListParts` checks that it still exists ([`Error::UploadGone`] if not) and
    /// which recorded parts are stored; then, as the caller writes the same byte stream again
    /// from the start, stored parts are compared by CRC-32 instead of being sent
    /// ([`Error::ResumeMismatch`] on a difference: abort then).
    ///
    /// `on_state` is called with the upload's state right after `CreateMultipartUpload`,
    /// after a resume check, and after every stored part (from the part tasks, one call at a
    /// time, in the order the parts finish); persist it to resume after a crash.
    /// `on_uploaded` is called with the size of each part (or of the single PUT) once the
    /// store has acknowledged it, one call at a time (for a progress bar: `bar.inc(n)`;
    /// parts reused from an interrupted run count when they are compared).
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        options: UploadOptions,
        resume: Option<UploadState>,
        on_state: Box<dyn FnMut(&UploadState) + Send>,
        on_uploaded: Box<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Self> {
        let object = Object::new(&client, &bucket, &key, &options.policy);
        let part_size = resume.as_ref().map_or(options.part_size, |s| s.part_size);
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
            return Err(object.upload_error(format!(
                "part size {part_size} is outside S3's limits ({MIN_PART_SIZE}..={MAX_PART_SIZE} bytes)"
            )));
        }
        if options.concurrency == 0 {
            return Err(object.upload_error("concurrency must be at least 1".into()));
        }
        check_condition(&object, &options.condition)?;
        let mut upload = S3Upload {
            shared: Arc::new(Shared {
                target: object.target.clone(),
                inner: Mutex::new(Inner {
                    in_flight: 0,
                    failure: None,
                    failed: None,
                    state: None,
                    on_state,
                }),
                wake: Condvar::new(),
                cancelled: AtomicBool::new(false),
                on_uploaded,
            }),
            object,
            part_size,
            concurrency: options.concurrency,
            condition: options.condition,
            buffer: Vec::new(),
            position: 0,
            next_part: 1,
            upload_id: None,
            resumed: BTreeMap::new(),
            crc: crc32fast::Hasher::new(),
        };
        if let Some(state) = resume {
            upload.resume_from(state)?;
        }
        Ok(upload)
    }

    /// Bytes written so far (the archive position).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The multipart upload's id, once one was created or resumed.
    pub fn upload_id(&self) -> Option<&str> {
        self.upload_id.as_deref()
    }

    fn resume_from(&mut self, mut state: UploadState) -> Result<()> {
        if state.bucket != self.object.bucket || state.key != self.object.key {
            return Err(self.object.upload_error(format!(
                "the saved upload state is for s3://{}/{}",
                state.bucket, state.key
            )));
        }
        let listed = block_on(self.object.list_parts(&state.upload_id))??;
        // Keep the recorded parts the store still has, with the recorded size and ETag (the
        // ETag only where the store lists one); others are sent again.
        state.parts.sort_by_key(|p| p.number);
        state.parts.dedup_by_key(|p| p.number);
        state.parts.retain(|record| {
            listed.get(&record.number).is_some_and(|part| {
                part.size.is_none_or(|size| size == record.size)
                    && part
                        .etag
                        .as_deref()
                        .is_none_or(|etag| etag_eq(etag, &record.etag))
            })
        });
        self.resumed = state.parts.iter().map(|p| (p.number, p.clone())).collect();
        self.upload_id = Some(state.upload_id.clone());
        let mut inner = self.shared.lock();
        inner.state = Some(state);
        Shared::publish(&mut inner);
        Ok(())
    }

    /// Creates the multipart upload unless there is one.
    fn start_multipart(&mut self) -> Result<()> {
        if self.upload_id.is_some() {
            return Ok(());
        }
        let object = &self.object;
        let upload_id =
            block_on(with_retries(
                &object.target,
                &object.policy,
                || async move {
                    let output = object
                        .client
                        .create_multipart_upload()
                        .bucket(&object.bucket)
                        .key(&object.key)
                        .checksum_algorithm(ChecksumAlgorithm::Crc32)
                        .send()
                        .await
                        .map_err(|e| classify(&object.target, "CreateMultipartUpload", None, e))?;
                    output.upload_id().map(str::to_owned).ok_or_else(|| {
                        Failure::Fatal(object.upload_error(
                            "CreateMultipartUpload answered without an upload id".into(),
                        ))
                    })
                },
            ))??;
        self.upload_id = Some(upload_id.clone());
        let mut inner = self.shared.lock();
        inner.state = Some(UploadState {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            upload_id,
            part_size: self.part_size,
            parts: Vec::new(),
        });
        Shared::publish(&mut inner);
        Ok(())
    }

    /// Hands the buffer over as the next part (or compares it with the stored part of the
    /// interrupted run), blocking while `concurrency` parts are in flight.
    fn send_part(&mut self) -> Result<()> {
        self.shared.check(&mut self.shared.lock())?;
        let number = self.next_part;
        if number > MAX_PARTS {
            return Err(self.shared.fail(self.object.upload_error(format!(
                "the stream outgrew S3's {MAX_PARTS} parts of {} bytes; choose a larger part size",
                self.part_size
            ))));
        }
        let data = Bytes::from(std::mem::take(&mut self.buffer));
        let crc = crc32fast::hash(&data);
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            crc,
            data.len() as u64,
        ));
        self.next_part += 1;
        if let Some(record) = self.resumed.remove(&number) {
            if record.size != data.len() as u64 || record.crc32 != crc {
                return Err(self.shared.fail(Error::ResumeMismatch {
                    target: self.object.target.clone(),
                    part: number,
                    detail: format!(
                        "stored {} bytes with CRC-32 {:08x}, now {} bytes with CRC-32 {crc:08x}",
                        record.size,
                        record.crc32,
                        data.len()
                    ),
                }));
            }
            let mut inner = self.shared.lock();
            self.shared.acknowledge(&mut inner, record.size);
            return Ok(());
        }
        self.start_multipart()?;
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let md5 = md5_of(&data);
        {
            let concurrency = self.concurrency;
            let inner = self.shared.lock();
            let mut inner = self.shared.wait_while(inner, |inner| {
                inner.in_flight >= concurrency && inner.failure.is_none()
            });
            self.shared.check(&mut inner)?;
            inner.in_flight += 1;
        }
        let guard = InFlight {
            shared: Arc::clone(&self.shared),
            outcome: None,
        };
        let object = self.object.clone();
        spawn(async move {
            let mut guard = guard;
            let outcome =
                upload_part(&object, &guard.shared, &upload_id, number, data, crc, md5).await;
            guard.outcome = Some(outcome);
        })?;
        Ok(())
    }

    /// Waits until no part is in flight.
    fn wait_idle(&self) -> MutexGuard<'_, Inner> {
        let inner = self.shared.lock();
        self.shared.wait_while(inner, |inner| inner.in_flight > 0)
    }

    /// Sends what is left and completes the upload: one `PutObject` if fewer than
    /// `part_size` bytes were written and no multipart upload exists, else the last part and
    /// `CompleteMultipartUpload` (parts in order, each with ETag and CRC-32). Then verifies
    /// the object with `HeadObject` (size, ETag, CRC-32 if reported; see the
    /// [module docs](self)).
    ///
    /// On [`Error::ResumeMismatch`] or [`Error::Precondition`] the multipart upload can never
    /// complete, so it is aborted (best effort) before the error is returned. After any other
    /// error it stays in place for a resume (its id is in the last [`UploadState`]).
    pub fn finish(mut self) -> Result<Uploaded> {
        let result = self.finish_inner();
        if matches!(
            result,
            Err(Error::ResumeMismatch { .. } | Error::Precondition { .. })
        ) {
            let _ = self.abort_inner();
        }
        result
    }

    fn finish_inner(&mut self) -> Result<Uploaded> {
        self.shared.check(&mut self.shared.lock())?;
        if self.upload_id.is_none() {
            return self.put_single();
        }
        if self.position == 0 {
            return Err(self.object.upload_error(
                "nothing was written to the resumed upload; abort it or write the stream".into(),
            ));
        }
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        let last = self.next_part - 1;
        if let Some(&number) = self.resumed.keys().next() {
            return Err(self.shared.fail(Error::ResumeMismatch {
                target: self.object.target.clone(),
                part: number,
                detail: format!(
                    "the interrupted run stored part {number}, this stream ends at part {last}"
                ),
            }));
        }
        let parts = {
            let mut inner = self.wait_idle();
            self.shared.check(&mut inner)?;
            inner
                .state
                .as_ref()
                .map(|s| s.parts.clone())
                .unwrap_or_default()
        };
        let numbered_in_order = parts.iter().zip(1..).all(|(part, n)| part.number == n);
        let total: u64 = parts.iter().map(|p| p.size).sum();
        if !numbered_in_order
            || parts.len() != usize::try_from(last).unwrap_or(0)
            || total != self.position
        {
            return Err(self.object.upload_error(format!(
                "internal error: {} part records for {last} parts, {total} of {} bytes",
                parts.len(),
                self.position
            )));
        }
        let expected = self.expected_multipart(&parts)?;
        let sent = self.complete(&parts)?;
        self.verify(&expected, sent)
    }

    fn expected_multipart(&self, parts: &[PartRecord]) -> Result<Expected> {
        let mut md5s = Md5::new();
        let mut crcs = crc32fast::Hasher::new();
        for part in parts {
            let md5 = unhex16(&part.md5).ok_or_else(|| {
                self.object.upload_error(format!(
                    "part {} has a malformed MD5 {:?} in the upload state",
                    part.number, part.md5
                ))
            })?;
            md5s.update(md5);
            crcs.update(&part.crc32.to_be_bytes());
        }
        let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
        Ok(Expected {
            size: self.position,
            etag: format!("{}-{count}", hex(&md5s.finalize())),
            crc32: self.crc.clone().finalize(),
            composite: Some((crcs.finalize(), count)),
        })
    }

    fn complete(&self, parts: &[PartRecord]) -> Result<Sent<()>> {
        let object = &self.object;
        let upload_id = self.upload_id.as_deref().unwrap_or_default();
        let completed: Vec<CompletedPart> = parts
            .iter()
            .map(|part| {
                CompletedPart::builder()
                    .part_number(part.number)
                    .e_tag(&part.etag)
                    .checksum_crc32(BASE64.encode(part.crc32.to_be_bytes()))
                    .build()
            })
            .collect();
        let completed = &completed;
        let condition = &self.condition;
        let attempt = &Cell::new(0u32);
        block_on(with_retries(
            &object.target,
            &object.policy,
            || async move {
                attempt.set(attempt.get() + 1);
                let request = object
                    .client
                    .complete_multipart_upload()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .upload_id(upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(completed.clone()))
                            .build(),
                    );
                let request = match condition {
                    PutCondition::Overwrite => request,
                    PutCondition::IfNoneMatch => request.if_none_match("*"),
                    PutCondition::IfMatch(etag) => request.if_match(etag),
                };
                match request.send().await {
                    Ok(_) => Ok(Sent::Done(())),
                    Err(error) => settle(
                        classify(
                            &object.target,
                            "CompleteMultipartUpload",
                            Some(upload_id),
                            error,
                        ),
                        attempt.get(),
                    ),
                }
            },
        ))?
    }

    fn put_single(&mut self) -> Result<Uploaded> {
        let body = Bytes::from(std::mem::take(&mut self.buffer));
        let expected = Expected {
            size: body.len() as u64,
            etag: hex(&md5_of(&body)),
            crc32: crc32fast::hash(&body),
            composite: None,
        };
        let sent = block_on(self.object.put(&body, &self.condition))??;
        let sent = match sent {
            Sent::Done(_) => Sent::Done(()),
            Sent::Unsure(error) => Sent::Unsure(error),
        };
        {
            let mut inner = self.shared.lock();
            self.shared.acknowledge(&mut inner, expected.size);
        }
        self.verify(&expected, sent)
    }

    /// Checks the stored object against `expected`. For an unsure write, a mismatch means
    /// the write did not happen: its error is returned.
    fn verify(&self, expected: &Expected, sent: Sent<()>) -> Result<Uploaded> {
        let head = block_on(self.object.head())??;
        let checked = head
            .ok_or_else(|| {
                self.object
                    .upload_error("the object is missing right after the upload completed".into())
            })
            .and_then(|head| check_object(&self.object, expected, &head));
        match (checked, sent) {
            (Ok(uploaded), _) => Ok(uploaded),
            (Err(_), Sent::Unsure(error)) => Err(error),
            (Err(error), Sent::Done(())) => Err(error),
        }
    }

    /// Aborts the multipart upload, if one was started, so that no parts stay stored: parts
    /// in flight are let finish (retries are cancelled), then `AbortMultipartUpload` is sent
    /// (retried; an upload that is already gone counts as aborted) and repeated while
    /// `ListParts` still finds the upload.
    pub fn abort(mut self) -> Result<()> {
        self.abort_inner()
    }

    fn abort_inner(&mut self) -> Result<()> {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        drop(self.wait_idle());
        self.buffer = Vec::new();
        match self.upload_id.take() {
            Some(upload_id) => block_on(self.object.abort_fully(&upload_id))?,
            None => Ok(()),
        }
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        // Leave the upload for a resume, but let the parts handed over finish (with their
        // retries) first, so that they are stored and the state reported last is final.
        drop(self.wait_idle());
    }
}

impl std::io::Write for S3Upload {
    /// Takes up to one part's worth of `data`; blocks while `concurrency` parts are in flight.
    /// A failed part (after its retries) fails this and every later call; the error inside
    /// the `io::Error` is this crate's [`Error`] (`io_error.into_inner()` and downcast).
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let part_size = usize::try_from(self.part_size).unwrap_or(usize::MAX);
        // A full buffer is sent only when more bytes arrive, so that a stream of exactly
        // one part is still a single PUT.
        if self.buffer.len() >= part_size {
            self.send_part().map_err(std::io::Error::other)?;
        } else {
            self.shared
                .check(&mut self.shared.lock())
                .map_err(std::io::Error::other)?;
        }
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(part_size);
        }
        let taken = data.len().min(part_size - self.buffer.len());
        self.buffer.extend_from_slice(&data[..taken]);
        self.position += taken as u64;
        Ok(taken)
    }

    /// Nothing to flush before [`S3Upload::finish`]; reports a failed part.
    fn flush(&mut self) -> std::io::Result<()> {
        self.shared
            .check(&mut self.shared.lock())
            .map_err(std::io::Error::other)
    }
}

/// Uploads one part with its Content-MD5 and CRC-32, retrying per the policy, and checks
/// the ETag of the reply.
async fn upload_part(
    object: &Object,
    shared: &Shared,
    upload_id: &str,
    number: i32,
    data: Bytes,
    crc: u32,
    md5: [u8; 16],
) -> Result<PartRecord> {
    let operation = format!("UploadPart {number}");
    let (operation, data) = (&operation, &data);
    let etag = with_retries(&object.target, &object.policy, || async move {
        if shared.cancelled.load(Ordering::SeqCst) {
            return Err(Failure::Fatal(object.upload_error(format!(
                "part {number} cancelled: the upload is being aborted"
            ))));
        }
        let output = object
            .client
            .upload_part()
            .bucket(&object.bucket)
            .key(&object.key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(length_header(data.len() as u64))
            .content_md5(BASE64.encode(md5))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .checksum_crc32(BASE64.encode(crc.to_be_bytes()))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .map_err(|e| classify(&object.target, operation, Some(upload_id), e))?;
        let etag = output.e_tag().unwrap_or_default().to_owned();
        let encrypted = is_encrypted(
            output.server_side_encryption(),
            output.sse_customer_algorithm(),
        );
        if !encrypted && !etag_eq(&etag, &hex(&md5)) {
            return Err(Failure::Fatal(object.upload_error(format!(
                "{operation} answered ETag {etag:?}, but the part's bytes have MD5 {}",
                hex(&md5)
            ))));
        }
        if let Some(reported) = output.checksum_crc32()
            && reported != BASE64.encode(crc.to_be_bytes())
        {
            return Err(Failure::Fatal(object.upload_error(format!(
                "{operation} answered CRC-32 {reported}, but the part's bytes have {}",
                BASE64.encode(crc.to_be_bytes())
            ))));
        }
        Ok(etag)
    })
    .await?;
    Ok(PartRecord {
        number,
        size: data.len() as u64,
        crc32: crc,
        md5: hex(&md5),
        etag,
    })
}

/// Fails early when `condition` cannot hold for the object as it is now.
fn check_condition(object: &Object, condition: &PutCondition) -> Result<()> {
    if *condition == PutCondition::Overwrite {
        return Ok(());
    }
    let head = block_on(object.head())??;
    let refused = |detail: String| {
        Err(Error::Precondition {
            target: object.target.clone(),
            detail,
        })
    };
    match (condition, head) {
        (PutCondition::IfNoneMatch, Some(head)) => refused(format!(
            "the object exists already (ETag {}); another writer created it",
            head.e_tag().unwrap_or_default()
        )),
        (PutCondition::IfMatch(etag), None) => refused(format!(
            "the object with ETag {etag} is gone; another writer deleted it"
        )),
        (PutCondition::IfMatch(etag), Some(head))
            if !etag_eq(head.e_tag().unwrap_or_default(), etag) =>
        {
            refused(format!(
                "the object's ETag is {}, not {etag}; another writer changed it",
                head.e_tag().unwrap_or_default()
            ))
        }
        _ => Ok(()),
    }
}

/// Compares what `HeadObject` reports with what was written.
fn check_object(object: &Object, expected: &Expected, head: &HeadObjectOutput) -> Result<Uploaded> {
    let size = head.content_length().and_then(|l| u64::try_from(l).ok());
    if size != Some(expected.size) {
        return Err(object.upload_error(format!(
            "the stored object has {} bytes, {} were written",
            size.map_or_else(|| "an unknown number of".to_owned(), |s| s.to_string()),
            expected.size
        )));
    }
    let etag = head.e_tag().unwrap_or_default();
    let encrypted = is_encrypted(head.server_side_encryption(), head.sse_customer_algorithm());
    if !encrypted && !etag_eq(etag, &expected.etag) {
        return Err(object.upload_error(format!(
            "the stored object has ETag {etag}, but the bytes written give \"{}\"",
            expected.etag
        )));
    }
    let checksum = head.checksum_crc32().map(str::to_owned);
    if let Some(reported) = &checksum {
        let (want, kind) = match (reported.rsplit_once('-'), expected.composite) {
            (Some(_), Some((composite, count))) => (
                format!("{}-{count}", BASE64.encode(composite.to_be_bytes())),
                "composite ",
            ),
            _ => (BASE64.encode(expected.crc32.to_be_bytes()), ""),
        };
        if *reported != want {
            return Err(object.upload_error(format!(
                "the stored object has {kind}CRC-32 {reported}, but the bytes written give {want}"
            )));
        }
    }
    Ok(Uploaded {
        size: expected.size,
        etag: etag.to_owned(),
        parts: expected.composite.map_or(0, |(_, count)| count),
        checksum_crc32: checksum,
        etag_verified: !encrypted,
    })
}

/// The multipart uploads in progress in `bucket` under `prefix` (ListMultipartUploads,
/// every page).
pub fn list_uploads(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    policy: &RetryPolicy,
) -> Result<Vec<PendingUpload>> {
    let target = format!("s3://{bucket}/{prefix}");
    block_on(async {
        let mut uploads = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = with_retries(&target, policy, || {
                let (key_marker, upload_id_marker) = markers.clone();
                let target = &target;
                async move {
                    client
                        .list_multipart_uploads()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_key_marker(key_marker)
                        .set_upload_id_marker(upload_id_marker)
                        .send()
                        .await
                        .map_err(|e| classify(target, "ListMultipartUploads", None, e))
                }
            })
            .await?;
            uploads.extend(page.uploads().iter().map(|upload| PendingUpload {
                key: upload.key().unwrap_or_default().to_owned(),
                upload_id: upload.upload_id().unwrap_or_default().to_owned(),
                initiated: upload.initiated().map(|t| t.secs()),
            }));
            let next = (
                page.next_key_marker().map(str::to_owned),
                page.next_upload_id_marker().map(str::to_owned),
            );
            if page.is_truncated() != Some(true) || next == (None, None) || next == markers {
                return Ok(uploads);
            }
            markers = next;
        }
    })?
}

/// Aborts one multipart upload (retried; one that is already gone counts as aborted), and
/// repeats while `ListParts` still finds it.
pub fn abort_upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    policy: &RetryPolicy,
) -> Result<()> {
    block_on(Object::new(client, bucket, key, policy).abort_fully(upload_id))?
}

/// The whole object and its ETag, or `None` if there is no such key.
pub fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    policy: &RetryPolicy,
) -> Result<Option<(Vec<u8>, String)>> {
    let object = Object::new(client, bucket, key, policy);
    let object = &object;
    block_on(with_retries(&object.target, policy, || async move {
        let output = match object
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if error.code() == Some("NoSuchKey") => return Ok(None),
            Err(error) => return Err(classify(&object.target, "GetObject", None, error)),
        };
        let etag = output.e_tag().unwrap_or_default().to_owned();
        let expected = output.content_length();
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| Failure::Transient(format!("GetObject body broke off: {}", chain(&e))))?
            .to_vec();
        if let Some(expected) = expected
            && u64::try_from(expected).ok() != Some(body.len() as u64)
        {
            return Err(Failure::Transient(format!(
                "GetObject body of {} bytes, Content-Length {expected}",
                body.len()
            )));
        }
        Ok(Some((body, etag)))
    }))?
}

/// Writes `body` as the whole object under `condition` (with Content-MD5 and CRC-32) and
/// returns its ETag. A refused condition is [`Error::Precondition`]: another writer created
/// or changed the object.
pub fn put_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    condition: PutCondition,
    policy: &RetryPolicy,
) -> Result<String> {
    let object = Object::new(client, bucket, key, policy);
    let body = Bytes::from(body);
    match block_on(object.put(&body, &condition))?? {
        Sent::Done(etag) => Ok(etag),
        Sent::Unsure(error) => {
            // An earlier attempt may have written our bytes: then the write happened.
            let head = block_on(object.head())??;
            match head {
                Some(head)
                    if head.content_length() == i64::try_from(body.len()).ok()
                        && etag_eq(head.e_tag().unwrap_or_default(), &hex(&md5_of(&body))) =>
                {
                    Ok(head.e_tag().unwrap_or_default().to_owned())
                }
                _ => Err(error),
            }
        }
    }
}

/// The object's size and ETag, or `None` if there is none.
pub fn head_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    policy: &RetryPolicy,
) -> Result<Option<(u64, String)>> {
    let object = Object::new(client, bucket, key, policy);
    let head = block_on(object.head())??;
    Ok(head.map(|head| {
        (
            head.content_length()
                .and_then(|l| u64::try_from(l).ok())
                .unwrap_or(0),
            head.e_tag().unwrap_or_default().to_owned(),
        )
    }))
}

fn status_of<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// Sorts a failed request into retry or give up, like [`crate::s3::S3Source`] does for
/// reads: 5xx, 429, 408, throttling codes, timeouts and dispatch failures are transient;
/// 412 is [`Error::Precondition`]; `NoSuchUpload` is [`Error::UploadGone`]; other 4xx
/// replies fail with a message saying what to check.
fn classify<E>(
    target: &str,
    operation: &str,
    upload_id: Option<&str>,
    error: SdkError<E, HttpResponse>,
) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let fatal = |message: String| {
        Failure::Fatal(Error::Remote {
            source_name: target.to_owned(),
            message,
        })
    };
    let status = status_of(&error);
    let code = error.code().unwrap_or_default().to_owned();
    match (&error, status) {
        (SdkError::ServiceError(_), Some(412)) => Failure::Fatal(Error::Precondition {
            target: target.to_owned(),
            detail: format!(
                "{operation} refused with HTTP 412 {code}: another writer created or changed the object"
            ),
        }),
        (SdkError::ServiceError(_), _) if code == "NoSuchUpload" => {
            Failure::Fatal(Error::UploadGone {
                target: target.to_owned(),
                upload_id: upload_id.unwrap_or_default().to_owned(),
            })
        }
        (SdkError::ServiceError(_), Some(s))
            if s >= 500 || s == 429 || s == 408 || TRANSIENT_CODES.contains(&code.as_str()) =>
        {
            Failure::Transient(format!("{operation}: HTTP {s} {code}"))
        }
        (SdkError::ServiceError(_), Some(404)) => fatal(format!(
            "{operation}: HTTP 404 {code}; check the bucket name{}",
            if code == "NoSuchBucket" {
                ": there is no such bucket"
            } else {
                ""
            }
        )),
        (SdkError::ServiceError(_), Some(s @ (401 | 403))) => fatal(format!(
            "{operation}: access denied (HTTP {s} {code}); check the credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE) and that the bucket policy allows writing"
        )),
        (SdkError::ServiceError(_), Some(s)) => fatal(format!(
            "{operation}: HTTP {s} {code}: {}",
            error.message().unwrap_or_default()
        )),
        (SdkError::ConstructionFailure(_), _) => fatal(format!(
            "{operation}: cannot build the request: {}",
            chain(&error)
        )),
        // Dispatch failures, timeouts and unreadable responses are worth another try,
        // except for missing credentials, which no retry will fix.
        _ => {
            let text = chain(&error);
            if text.contains("credentials") || text.contains("Credentials") {
                fatal(format!("no usable AWS credentials: {text}"))
            } else {
                Failure::Transient(format!("{operation}: {text}"))
            }
        }
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether the ETag of an object or part stored this way is not the MD5 of its bytes.
fn is_encrypted(sse: Option<&ServerSideEncryption>, sse_customer: Option<&str>) -> bool {
    sse_customer.is_some()
        || matches!(
            sse,
            Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
        )
}

/// ETags compared without their quotes, case-insensitively.
fn etag_eq(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    strip(a).eq_ignore_ascii_case(&strip(b))
}

/// The `Content-Length` header value (bodies here are in memory, far below `i64::MAX`).
fn length_header(len: u64) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex16(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_bounds() {
        assert_eq!(part_size_for(0).unwrap(), 8 * MIB);
        assert_eq!(part_size_for(8 * MIB * 9_000).unwrap(), 8 * MIB);
        assert_eq!(part_size_for(8 * MIB * 9_000 + 1).unwrap(), 9 * MIB);
        let largest = part_size_for(MAX_OBJECT_SIZE).unwrap();
        assert_eq!(largest, 583 * MIB);
        assert!(MAX_OBJECT_SIZE.div_ceil(largest) <= 9_000);
        assert!(largest <= MAX_PART_SIZE);
        for len in [1, MIB, 100 << 30, 1 << 40, MAX_OBJECT_SIZE - 1] {
            let size = part_size_for(len).unwrap();
            assert_eq!(size % MIB, 0);
            assert!(size >= 8 * MIB);
            assert!(len.div_ceil(size) <= 9_000, "{len}");
        }
        let err = part_size_for(MAX_OBJECT_SIZE + 1).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("larger than S3 allows"), "{err}");
    }

    #[test]
    fn etags_and_hex() {
        assert!(etag_eq("\"ABC\"", "abc"));
        assert!(etag_eq("abc-2", "\"abc-2\""));
        assert!(!etag_eq("abc", "abd"));
        let md5 = md5_of(b"hello");
        assert_eq!(hex(&md5), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(unhex16(&hex(&md5)), Some(md5));
        assert_eq!(unhex16("xyz"), None);
    }

    #[test]
    fn a_refusal_after_a_lost_reply_is_settled_by_the_object() {
        let precondition = || {
            Failure::Fatal(Error::Precondition {
                target: "s3://b/k".into(),
                detail: "412".into(),
            })
        };
        // On the first attempt a 412 is certain: someone else's object.
        assert!(matches!(
            settle::<()>(precondition(), 1),
            Err(Failure::Fatal(Error::Precondition { .. }))
        ));
        // After a failed attempt it may be our own write: HeadObject decides.
        assert!(matches!(
            settle::<()>(precondition(), 2),
            Ok(Sent::Unsure(Error::Precondition { .. }))
        ));
        let gone = Failure::Fatal(Error::UploadGone {
            target: "s3://b/k".into(),
            upload_id: "u".into(),
        });
        assert!(matches!(settle::<()>(gone, 3), Ok(Sent::Unsure(_))));
        assert!(matches!(
            settle::<()>(Failure::Transient("503".into()), 2),
            Err(Failure::Transient(_))
        ));
    }

    #[test]
    fn the_uploader_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<S3Upload>();
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = UploadState {
            bucket: "b".into(),
            key: "k.zip".into(),
            upload_id: "id".into(),
            part_size: 8 * MIB,
            parts: vec![PartRecord {
                number: 1,
                size: 8 * MIB,
                crc32: 0xdead_beef,
                md5: "00".repeat(16),
                etag: "\"e\"".into(),
            }],
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<UploadState>(&json).unwrap(), state);
    }
}
