//! An in-process S3-compatible server for the remote-reading tests: `s3s` + `s3s-fs` 0.14 on
//! `127.0.0.1:<port from the OS>`, with SigV4 authentication ([`S3Server::start`]) or
//! anonymous, so that plain HTTP GETs work ([`S3Server::start_anonymous`]).
//!
//! The server runs on its own tokio runtime in a background thread ([`BackgroundServer`]), so
//! synchronous tests use it directly; dropping the [`S3Server`] stops it and deletes its data.
//! Objects are files: bucket `b`, key `k/x.zip` is `root/b/k/x.zip`. [`S3Server::put_file`]
//! writes that layout directly (no request) and records the MD5 ETag the way s3s-fs does, so
//! GETs of large objects don't re-hash them.
//!
//! s3s-fs 0.14 ignores `If-Match`/`If-None-Match`/`If-(Un)Modified-Since` on GetObject and
//! HeadObject; [`ConditionalFs`] wraps it to answer them like S3 does (412 / 304).
//!
//! Multipart uploads: [`ConditionalFs`] also fills the gaps of s3s-fs 0.14 that the upload
//! tests would trip over, so that the server answers like S3:
//! - ListMultipartUploads is not implemented by s3s-fs: the wrapper records every upload it
//!   creates (bucket, key, upload id, time) in memory, forgets it when it is completed or
//!   aborted, and answers from that record (prefix filter; one page, never truncated).
//!   [`S3Server::open_uploads`] gives the ground truth from disk instead.
//! - For an unknown or finished upload id, s3s-fs answers UploadPart, CompleteMultipartUpload
//!   and AbortMultipartUpload with 403 AccessDenied and ListParts with an empty list; the
//!   wrapper answers 404 `NoSuchUpload` like S3.
//! - s3s-fs lists parts in directory order: the wrapper sorts them by number.
//! - s3s-fs ignores part checksums on completion and keeps the checksums of an earlier
//!   object under the same key: the wrapper checks each listed part's `ChecksumCRC32`
//!   against the stored part (400 `InvalidPart` on a mismatch, like S3) and stores the
//!   composite CRC-32 (`base64(crc32(part CRCs, big-endian))-N`) in place of stale ones,
//!   or none if a part came without one.
//!
//! ```ignore
//! let s3 = S3Server::start();
//! s3.create_bucket("lake");
//! s3.put_file("lake", "backups/full.zip", &archive);
//! let out = s3.apply_env(&mut Command::new(lakezip_bin())).args(["ls", "s3://lake/backups/full.zip"]).output();
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

use s3s::dto::{self, ETag, ETagCondition, HeadObjectInput, HeadObjectOutput};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use super::faults::BackgroundServer;

/// The test access key id that [`S3Server::start`] accepts.
pub const ACCESS_KEY: &str = "LAKEZIPTESTACCESSKEY";
/// The matching secret key.
pub const SECRET_KEY: &str = "lakezip-test-secret-key/not-a-real-secret";
/// The region in [`S3Server::env`] (s3s accepts any region in the signature).
pub const REGION: &str = "us-east-1";

/// Environment variables that could make an AWS SDK pick other credentials, a profile or a
/// remote credential source; [`S3Server::apply_env`] removes them (and
/// `examples/s3_server.rs` prints `unset` lines for them).
pub const AWS_ENV_TO_REMOVE: [&str; 10] = [
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
];

/// A running S3 server; dropping it stops the server and removes `root`.
pub struct S3Server {
    /// `http://127.0.0.1:PORT` (path-style: `ENDPOINT/bucket/key`).
    pub endpoint: String,
    /// The s3s-fs data directory: one directory per bucket, one file per object.
    pub root: PathBuf,
    /// Whether a signature is required (false for [`S3Server::start_anonymous`]).
    pub authenticated: bool,
    server: BackgroundServer,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server that requires SigV4 signatures with [`ACCESS_KEY`]/[`SECRET_KEY`]
    /// (unsigned and wrongly signed requests get 403).
    pub fn start() -> Self {
        Self::start_with_auth(true)
    }

    /// Starts a server that also allows unsigned requests, like a public bucket: plain HTTP
    /// clients can `GET {endpoint}/bucket/key` (with `Range`). Signed requests still need
    /// the right keys.
    pub fn start_anonymous() -> Self {
        Self::start_with_auth(false)
    }

    fn start_with_auth(authenticated: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lakezip-s3-")
            .tempdir()
            .expect("temp dir for the S3 server");
        let root = dir.path().canonicalize().expect("canonical S3 root");
        let fs = FileSystem::new(&root).expect("s3s-fs FileSystem");
        let mut builder = s3s::service::S3ServiceBuilder::new(ConditionalFs {
            fs,
            root: root.clone(),
            uploads: Mutex::default(),
        });
        // Both modes verify signatures when there are any (s3s answers a signed request
        // without an auth provider with 501 NotImplemented); the anonymous mode also lets
        // unsigned requests through, like a public bucket.
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        if !authenticated {
            builder.set_access(AllowAnonymous);
        }
        let server = BackgroundServer::start("s3-server", builder.build());
        S3Server {
            endpoint: server.url(),
            root,
            authenticated,
            server,
            _dir: dir,
        }
    }

    /// Creates a bucket (for s3s-fs, a directory under `root`). Idempotent.
    pub fn create_bucket(&self, bucket: &str) {
        let dir = self.object_path(bucket, "x");
        std::fs::create_dir_all(dir.parent().expect("bucket directory"))
            .expect("create bucket directory");
    }

    /// The file that holds `bucket/key`.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        assert!(
            (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'),
            "bad test bucket name {bucket:?}: S3 (and s3s) want 3-63 lowercase letters, digits, '-' or '.'"
        );
        assert!(
            !key.starts_with('/') && !key.split('/').any(|c| c == ".."),
            "bad test key {key:?}"
        );
        self.root.join(bucket).join(key)
    }

    /// Stores a copy of `src` as `bucket/key` (replacing any object there), creating the
    /// bucket if needed. The object's ETag becomes the MD5 of its bytes, as for a PutObject.
    pub fn put_file(&self, bucket: &str, key: &str, src: &Path) {
        let dest = self.object_path(bucket, key);
        std::fs::create_dir_all(dest.parent().expect("object parent"))
            .expect("create key directories");
        std::fs::copy(src, &dest)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dest.display()));
        self.record_etag(bucket, key, &dest);
    }

    /// Stores `data` as `bucket/key`; see [`S3Server::put_file`].
    pub fn put_bytes(&self, bucket: &str, key: &str, data: &[u8]) {
        let dest = self.object_path(bucket, key);
        std::fs::create_dir_all(dest.parent().expect("object parent"))
            .expect("create key directories");
        std::fs::write(&dest, data).unwrap_or_else(|e| panic!("write {}: {e}", dest.display()));
        self.record_etag(bucket, key, &dest);
    }

    /// The ETag (quoted, as in HTTP headers) that the server reports for `bucket/key`.
    pub fn etag(&self, bucket: &str, key: &str) -> String {
        let info = std::fs::read(self.internal_info_path(bucket, key))
            .expect("object info (stored by put_file)");
        let info: serde_json::Value = serde_json::from_slice(&info).expect("object info JSON");
        format!(
            "\"{}\"",
            info["e_tag"].as_str().expect("e_tag in object info")
        )
    }

    /// The multipart uploads still stored, from disk: the distinct ids of s3s-fs's upload
    /// records (`root/.upload-<id>.json`) and stored parts (`root/.upload_id-<id>.part-N`),
    /// sorted. Empty once every upload was completed or aborted.
    pub fn open_uploads(&self) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for entry in std::fs::read_dir(&self.root).expect("read the S3 root") {
            let name = entry.expect("S3 root entry").file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_prefix(".upload-")
                .and_then(|rest| rest.strip_suffix(".json"))
            {
                ids.insert(id.to_owned());
            } else if let Some((id, _)) = name
                .strip_prefix(".upload_id-")
                .and_then(|rest| rest.split_once(".part-"))
            {
                ids.insert(id.to_owned());
            }
        }
        ids.into_iter().collect()
    }

    /// `{endpoint}/bucket/key`, for plain HTTP clients of an anonymous server.
    pub fn url(&self, bucket: &str, key: &str) -> String {
        format!("{}/{bucket}/{key}", self.endpoint)
    }

    /// The environment an AWS SDK client (the `lakezip` binary) needs to use this server:
    /// static credentials, region, `AWS_ENDPOINT_URL`, and no IMDS, profile or config file.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/lakezip-test-aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/lakezip-test-aws-credentials",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Sets [`S3Server::env`] on `cmd` and removes the variables that could override it
    /// (session token, profile, web identity, container credentials, `AWS_ENDPOINT_URL_S3`).
    pub fn apply_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        for name in AWS_ENV_TO_REMOVE {
            cmd.env_remove(name);
        }
        cmd.envs(self.env())
    }

    /// An `aws-sdk-s3` client configuration for this server (static credentials, path-style),
    /// independent of the process environment. Use the client inside a tokio runtime.
    pub fn sdk_config(&self) -> aws_sdk_s3::Config {
        let credentials = aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            None,
            None,
            "lakezip-tests",
        );
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(credentials)
            .build()
    }

    /// Where s3s-fs keeps an object's ETag and checksums:
    /// `root/.bucket-{b64url(bucket)}.object-{b64url(key)}.internal.json`.
    fn internal_info_path(&self, bucket: &str, key: &str) -> PathBuf {
        internal_info_path(&self.root, bucket, key)
    }

    /// Writes the object's MD5 ETag where s3s-fs looks for it (replacing stale checksums of
    /// an earlier upload of the same key).
    fn record_etag(&self, bucket: &str, key: &str, path: &Path) {
        use s3s::crypto::Checksum;
        use std::io::Read;
        let mut file = std::fs::File::open(path).expect("open object");
        let mut md5 = s3s::crypto::Md5::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = file.read(&mut buf).expect("read object");
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
        }
        let hex: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let info = serde_json::json!({ "e_tag": hex });
        std::fs::write(
            self.internal_info_path(bucket, key),
            serde_json::to_vec(&info).expect("JSON"),
        )
        .expect("write object info");
    }
}

/// `root/.bucket-{b64url(bucket)}.object-{b64url(key)}.internal.json`.
fn internal_info_path(root: &Path, bucket: &str, key: &str) -> PathBuf {
    root.join(format!(
        ".bucket-{}.object-{}.internal.json",
        base64_url_no_pad(bucket.as_bytes()),
        base64_url_no_pad(key.as_bytes())
    ))
}

fn base64_url_no_pad(data: &[u8]) -> String {
    base64(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        false,
    )
}

fn base64_standard(data: &[u8]) -> String {
    base64(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        true,
    )
}

fn base64(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        if pad {
            out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
        }
    }
    out
}

/// Access policy of [`S3Server::start_anonymous`]: every request is allowed, signed (and
/// verified) or not.
struct AllowAnonymous;

#[async_trait::async_trait]
impl s3s::access::S3Access for AllowAnonymous {
    async fn check(&self, _cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        Ok(())
    }
}

/// s3s-fs's [`FileSystem`], plus the conditional GET/HEAD headers that S3 honours and s3s-fs
/// 0.14 ignores: `If-Match` (412 on mismatch), `If-None-Match` (304 on match),
/// `If-Unmodified-Since` (412) and `If-Modified-Since` (304); and the multipart behaviour
/// described in the module docs (ListMultipartUploads, `NoSuchUpload`, part checksums).
/// Every other operation is delegated unchanged.
pub struct ConditionalFs {
    fs: FileSystem,
    /// s3s-fs's data directory.
    root: PathBuf,
    /// The multipart uploads created and not yet completed or aborted.
    uploads: Mutex<Vec<OpenUpload>>,
}

/// A multipart upload as ListMultipartUploads reports it.
struct OpenUpload {
    bucket: String,
    key: String,
    upload_id: String,
    initiated: SystemTime,
}

/// The condition headers of a GET or HEAD.
struct Conditions {
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<dto::Timestamp>,
    if_unmodified_since: Option<dto::Timestamp>,
}

impl ConditionalFs {
    /// S3's answer for an upload id that s3s-fs does not know (any more): 404 NoSuchUpload.
    fn require_upload(&self, upload_id: &str) -> S3Result<()> {
        // s3s-fs keeps one `.upload-<id>.json` per open upload (a uuid, so no path tricks).
        let known = uuid_like(upload_id)
            && self
                .root
                .join(format!(".upload-{upload_id}.json"))
                .is_file();
        if known {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            ))
        }
    }

    fn forget_upload(&self, upload_id: &str) {
        self.uploads
            .lock()
            .unwrap()
            .retain(|u| u.upload_id != upload_id);
    }

    /// Checks the `ChecksumCRC32` of every listed part against the stored part, like S3;
    /// returns the composite CRC-32 if every part has one.
    fn composite_crc32(
        &self,
        upload_id: &str,
        upload: Option<&dto::CompletedMultipartUpload>,
    ) -> S3Result<Option<String>> {
        let parts = upload
            .and_then(|u| u.parts.as_ref())
            .map_or(&[][..], Vec::as_slice);
        let mut crcs = Vec::new();
        for part in parts {
            let (Some(number), Some(expected)) = (part.part_number, &part.checksum_crc32) else {
                return Ok(None);
            };
            let path = self
                .root
                .join(format!(".upload_id-{upload_id}.part-{number}"));
            // A missing part is for s3s-fs to report.
            let Ok(data) = std::fs::read(&path) else {
                return Ok(None);
            };
            let crc = crc32fast::hash(&data).to_be_bytes();
            if base64_standard(&crc) != *expected {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found or its checksum did not match (part {number})"
                ));
            }
            crcs.extend_from_slice(&crc);
        }
        Ok((!parts.is_empty()).then(|| {
            format!(
                "{}-{}",
                base64_standard(&crc32fast::hash(&crcs).to_be_bytes()),
                parts.len()
            )
        }))
    }

    /// Replaces the checksums s3s-fs kept from an earlier object under `bucket/key` with
    /// `crc32` (or none).
    fn store_checksum(&self, bucket: &str, key: &str, crc32: Option<String>) {
        let path = internal_info_path(&self.root, bucket, key);
        let Ok(text) = std::fs::read(&path) else {
            return;
        };
        let Ok(serde_json::Value::Object(mut info)) = serde_json::from_slice(&text) else {
            return;
        };
        info.retain(|name, _| !name.starts_with("checksum_"));
        if let Some(crc32) = crc32 {
            info.insert("checksum_crc32".into(), serde_json::Value::String(crc32));
        }
        std::fs::write(&path, serde_json::to_vec(&info).expect("JSON")).expect("write object info");
    }

    /// Checks `cond` against the object's current ETag and Last-Modified (RFC 9110 §13.2.2
    /// order; If-Match with a weak or different ETag fails).
    async fn check<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        cond: Conditions,
    ) -> S3Result<()> {
        if cond.if_match.is_none()
            && cond.if_none_match.is_none()
            && cond.if_modified_since.is_none()
            && cond.if_unmodified_since.is_none()
        {
            return Ok(());
        }
        let head = S3Request {
            input: HeadObjectInput {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                ..Default::default()
            },
            method: req.method.clone(),
            uri: req.uri.clone(),
            headers: req.headers.clone(),
            extensions: Default::default(),
            credentials: req.credentials.clone(),
            region: req.region.clone(),
            service: req.service.clone(),
            trailing_headers: None,
        };
        let HeadObjectOutput {
            e_tag,
            last_modified,
            ..
        } = self.fs.head_object(head).await?.output;
        let etag = e_tag.unwrap_or(ETag::Strong(String::new()));
        if let Some(cond) = &cond.if_match {
            let ok = match cond {
                ETagCondition::Any => true,
                ETagCondition::ETag(expected) => etag.strong_cmp(expected),
            };
            if !ok {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        } else if let (Some(since), Some(modified)) = (&cond.if_unmodified_since, &last_modified)
            && modified > since
        {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        if let Some(cond) = &cond.if_none_match {
            let matched = match cond {
                ETagCondition::Any => true,
                ETagCondition::ETag(expected) => etag.weak_cmp(expected),
            };
            if matched {
                return Err(s3_error!(NotModified));
            }
        } else if let (Some(since), Some(modified)) = (&cond.if_modified_since, &last_modified)
            && modified <= since
        {
            return Err(s3_error!(NotModified));
        }
        Ok(())
    }
}

/// Implements [`S3`] for [`ConditionalFs`]: the listed operations (those s3s-fs implements)
/// delegate to it unchanged; GetObject and HeadObject check the conditions first; the
/// multipart operations behave as the module docs say. (The whole
/// impl comes from the macro because `async_trait` does not see async fns that a macro
/// inside the impl would generate.)
macro_rules! conditional_fs_impl {
    ($($op:ident($input:ident) -> $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for ConditionalFs {
            $(
                async fn $op(&self, req: S3Request<dto::$input>) -> S3Result<S3Response<dto::$output>> {
                    self.fs.$op(req).await
                }
            )*

            async fn get_object(&self, req: S3Request<dto::GetObjectInput>) -> S3Result<S3Response<dto::GetObjectOutput>> {
                let i = &req.input;
                let cond = Conditions {
                    if_match: i.if_match.clone(),
                    if_none_match: i.if_none_match.clone(),
                    if_modified_since: i.if_modified_since.clone(),
                    if_unmodified_since: i.if_unmodified_since.clone(),
                };
                self.check(&req, &i.bucket, &i.key, cond).await?;
                self.fs.get_object(req).await
            }

            async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
                let i = &req.input;
                let cond = Conditions {
                    if_match: i.if_match.clone(),
                    if_none_match: i.if_none_match.clone(),
                    if_modified_since: i.if_modified_since.clone(),
                    if_unmodified_since: i.if_unmodified_since.clone(),
                };
                self.check(&req, &i.bucket, &i.key, cond).await?;
                self.fs.head_object(req).await
            }

            async fn create_multipart_upload(&self, req: S3Request<dto::CreateMultipartUploadInput>) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let response = self.fs.create_multipart_upload(req).await?;
                if let Some(upload_id) = &response.output.upload_id {
                    self.uploads.lock().unwrap().push(OpenUpload {
                        bucket,
                        key,
                        upload_id: upload_id.clone(),
                        initiated: SystemTime::now(),
                    });
                }
                Ok(response)
            }

            async fn upload_part(&self, req: S3Request<dto::UploadPartInput>) -> S3Result<S3Response<dto::UploadPartOutput>> {
                self.require_upload(&req.input.upload_id)?;
                self.fs.upload_part(req).await
            }

            async fn list_parts(&self, req: S3Request<dto::ListPartsInput>) -> S3Result<S3Response<dto::ListPartsOutput>> {
                self.require_upload(&req.input.upload_id)?;
                let mut response = self.fs.list_parts(req).await?;
                if let Some(parts) = &mut response.output.parts {
                    parts.sort_by_key(|p| p.part_number);
                }
                Ok(response)
            }

            async fn complete_multipart_upload(&self, req: S3Request<dto::CompleteMultipartUploadInput>) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
                let i = &req.input;
                self.require_upload(&i.upload_id)?;
                let composite = self.composite_crc32(&i.upload_id, i.multipart_upload.as_ref())?;
                let (bucket, key, upload_id) = (i.bucket.clone(), i.key.clone(), i.upload_id.clone());
                let response = self.fs.complete_multipart_upload(req).await?;
                self.forget_upload(&upload_id);
                self.store_checksum(&bucket, &key, composite);
                Ok(response)
            }

            async fn abort_multipart_upload(&self, req: S3Request<dto::AbortMultipartUploadInput>) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
                self.require_upload(&req.input.upload_id)?;
                let upload_id = req.input.upload_id.clone();
                let response = self.fs.abort_multipart_upload(req).await?;
                self.forget_upload(&upload_id);
                Ok(response)
            }

            async fn list_multipart_uploads(&self, req: S3Request<dto::ListMultipartUploadsInput>) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
                let i = &req.input;
                let prefix = i.prefix.clone().unwrap_or_default();
                let uploads: Vec<dto::MultipartUpload> = self
                    .uploads
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|u| u.bucket == i.bucket && u.key.starts_with(&prefix))
                    .map(|u| dto::MultipartUpload {
                        key: Some(u.key.clone()),
                        upload_id: Some(u.upload_id.clone()),
                        initiated: Some(dto::Timestamp::from(u.initiated)),
                        ..Default::default()
                    })
                    .collect();
                Ok(S3Response::new(dto::ListMultipartUploadsOutput {
                    bucket: Some(i.bucket.clone()),
                    prefix: i.prefix.clone(),
                    uploads: Some(uploads),
                    is_truncated: Some(false),
                    ..Default::default()
                }))
            }
        }
    };
}

conditional_fs_impl! {
    create_bucket(CreateBucketInput) -> CreateBucketOutput;
    copy_object(CopyObjectInput) -> CopyObjectOutput;
    delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
    head_bucket(HeadBucketInput) -> HeadBucketOutput;
    list_buckets(ListBucketsInput) -> ListBucketsOutput;
    list_objects(ListObjectsInput) -> ListObjectsOutput;
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
    put_object(PutObjectInput) -> PutObjectOutput;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
}

/// Whether `id` looks like the uuid s3s-fs makes upload ids of (hex digits and dashes).
fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}
