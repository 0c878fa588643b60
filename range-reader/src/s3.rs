//! S3 objects read with ranged `GetObject` calls (aws-sdk-s3).
//!
//! Credentials and region come from the standard AWS chain (environment, profile, IMDS);
//! the region falls back to `us-east-1`. An endpoint (`--endpoint-url` or
//! `AWS_ENDPOINT_URL`) selects an S3-compatible store (MinIO, R2, Ceph…), which is then
//! addressed path-style. The SDK's own retries are off: the shared retry loop handles
//! throttling, 5xx, timeouts and bodies that break mid-stream the same way as for HTTP.
//! The ETag of the first reply is pinned and sent as `If-Match` afterwards.
//!
//! For the packer: [`list_objects`] lists a prefix (size, ETag, Last-Modified of every
//! object), [`S3Source::with_listing`] reads a listed object without asking for its length
//! again and pins the listed ETag from the first request, and [`stored_crc32`] fetches the
//! full-object CRC-32 that S3 keeps for objects uploaded with one.

use std::ops::Range;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
use bytes::Bytes;

use crate::remote::{
    BodyStream, Failure, Pin, Validator, check_suffix, collect_range, parse_content_range,
    read_with_retries, with_retries,
};
use crate::retry::RetryPolicy;
use crate::runtime::block_on;
use crate::source::RangeSource;
use crate::{Error, Result};

/// Where an `s3://bucket/key` points and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store; `None` uses `AWS_ENDPOINT_URL` or AWS itself.
    pub endpoint_url: Option<String>,
}

/// Splits `s3://bucket/key` into bucket and key.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// Builds an S3 client from the standard credential chain and `options`.
pub fn client(options: &S3Options) -> Result<aws_sdk_s3::Client> {
    let endpoint = options
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.is_empty());
    block_on(async {
        let region =
            aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(endpoint) = &endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(endpoint.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    })
}

/// An object in S3 or an S3-compatible store.
#[derive(Debug)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    name: String,
    policy: RetryPolicy,
    pin: Pin,
}

impl S3Source {
    /// A source for `s3://bucket/key`. Nothing is fetched until the first read.
    pub fn new(url: &str, options: &S3Options, policy: RetryPolicy) -> Result<Self> {
        let (bucket, key) = parse_s3_url(url)
            .filter(|(_, k)| !k.is_empty())
            .ok_or_else(|| Error::Remote {
                source_name: url.to_owned(),
                message: "not an S3 object URL; expected s3://bucket/key".into(),
            })?;
        Ok(Self::with_client(client(options)?, bucket, key, policy))
    }

    /// A source using an existing client.
    pub fn with_client(
        client: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        policy: RetryPolicy,
    ) -> Self {
        S3Source {
            name: format!("s3://{bucket}/{key}"),
            client,
            bucket,
            key,
            policy,
            pin: Pin::default(),
        }
    }

    /// A source whose length and ETag are already known (from a listing): no request is
    /// needed for [`RangeSource::len`], and every GET carries `If-Match` with that ETag
    /// from the first one, so an object replaced since it was listed fails with
    /// [`Error::Changed`] instead of mixing versions. An empty `etag` (a store whose
    /// listings omit ETags) pins the length only, and the ETag of the first reply after
    /// that.
    pub fn with_listing(
        client: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        size: u64,
        etag: String,
        policy: RetryPolicy,
    ) -> Self {
        let validator = Validator {
            etag: (!etag.is_empty()).then_some(etag),
            last_modified: None,
        };
        S3Source {
            pin: Pin::preset(validator, size),
            ..Self::with_client(client, bucket, key, policy)
        }
    }

    async fn get(
        &self,
        range_header: String,
        expect: Option<Range<u64>>,
    ) -> std::result::Result<(GetObjectOutput, Range<u64>, u64), Failure> {
        let mut request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .range(&range_header);
        if let Some((validator, _)) = self.pin.get() {
            request = request.set_if_match(validator.etag);
        }
        let output = request
            .send()
            .await
            .map_err(|e| classify(&self.name, e, "no such object"))?;
        let remote = |message: String| {
            Failure::Fatal(Error::Remote {
                source_name: self.name.clone(),
                message,
            })
        };
        let Some((got, total)) = output.content_range().and_then(parse_content_range) else {
            return Err(remote(format!(
                "the store ignored the Range header ({range_header}): no Content-Range in the reply"
            )));
        };
        if let Some(expect) = &expect
            && got != *expect
        {
            return Err(remote(format!(
                "asked for bytes {}..{}, the store sent {}..{}",
                expect.start, expect.end, got.start, got.end
            )));
        }
        if let Some(length) = output.content_length()
            && u64::try_from(length).ok() != Some(got.end - got.start)
        {
            return Err(remote(format!(
                "Content-Length {length} does not match Content-Range {}..{}",
                got.start, got.end
            )));
        }
        let validator = Validator {
            etag: output.e_tag().map(str::to_owned),
            last_modified: output.last_modified().map(|t| t.to_string()),
        };
        self.pin
            .check(&self.name, validator, total)
            .map_err(Failure::Fatal)?;
        Ok((output, got, total))
    }
}

/// Sorts a failed request into retry or give up, with a message that says what to check.
/// `missing` describes a 404 ("no such object").
fn classify<E>(source_name: &str, error: SdkError<E>, missing: &str) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let fatal = |message: String| {
        Failure::Fatal(Error::Remote {
            source_name: source_name.to_owned(),
            message,
        })
    };
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().map(str::to_owned);
    match (&error, status) {
        (SdkError::ServiceError(_), Some(412)) => Failure::Fatal(Error::Changed {
            source_name: source_name.to_owned(),
            detail: "the store answered 412 PreconditionFailed to If-Match".into(),
        }),
        (SdkError::ServiceError(_), Some(s)) if s >= 500 || s == 429 || s == 408 => {
            Failure::Transient(format!("HTTP {s} {}", code.unwrap_or_default()))
        }
        (SdkError::ServiceError(_), Some(404)) => fatal(format!(
            "{missing} (HTTP 404 {}); check the bucket and key",
            code.unwrap_or_default()
        )),
        (SdkError::ServiceError(_), Some(s @ (401 | 403))) => fatal(format!(
            "access denied (HTTP {s} {}); check the credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE) and the bucket policy",
            code.unwrap_or_default()
        )),
        (SdkError::ServiceError(_), Some(s)) => fatal(format!(
            "HTTP {s} {}: {}",
            code.unwrap_or_default(),
            error.message().unwrap_or_default()
        )),
        (SdkError::ConstructionFailure(_), _) => {
            fatal(format!("cannot build the request: {}", chain(&error)))
        }
        // Dispatch failures, timeouts and unreadable responses are worth another try,
        // except for missing credentials, which no retry will fix.
        _ => {
            let text = chain(&error);
            if text.contains("credentials") || text.contains("Credentials") {
                fatal(format!("no usable AWS credentials: {text}"))
            } else {
                Failure::Transient(text)
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

struct ObjectBody(aws_sdk_s3::primitives::ByteStream);

impl BodyStream for ObjectBody {
    async fn next_chunk(&mut self) -> std::result::Result<Option<Bytes>, String> {
        self.0.try_next().await.map_err(|e| chain(&e))
    }
}

impl RangeSource for S3Source {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn len(&self) -> Result<u64> {
        if let Some((_, len)) = self.pin.get() {
            return Ok(len);
        }
        Ok(self.read_suffix(1)?.0 + 1)
    }

    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
        collect_range(self, range)
    }

    fn read_suffix(&self, n: u64) -> Result<(u64, Vec<u8>)> {
        block_on(with_retries(&self.name, &self.policy, || async move {
            let (output, got, total) = self.get(format!("bytes=-{n}"), None).await?;
            check_suffix(&self.name, &got, total)?;
            let body = output
                .body
                .collect()
                .await
                .map_err(|e| Failure::Transient(chain(&e)))?
                .into_bytes();
            if body.len() as u64 != got.end - got.start {
                return Err(Failure::Transient(format!(
                    "suffix body of {} bytes, expected {}",
                    body.len(),
                    got.end - got.start
                )));
            }
            Ok((got.start, body.to_vec()))
        }))?
    }

    fn read_range_with(
        &self,
        range: Range<u64>,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let len = self.len()?;
        crate::source::check_range(&|| self.name(), &range, len)?;
        block_on(read_with_retries(
            &self.name,
            &self.policy,
            range,
            |missing: Range<u64>| async move {
                let header = format!("bytes={}-{}", missing.start, missing.end - 1);
                let (output, _, _) = self.get(header, Some(missing)).await?;
                Ok(ObjectBody(output.body))
            },
            sink,
        ))?
    }
}

/// An object found by [`list_objects`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag as the store sent it (quoted on S3); empty if the store omitted it.
    pub etag: String,
    /// Last-Modified in Unix seconds; 0 if the store omitted it.
    pub last_modified: i64,
}

/// Every object under `prefix` in `bucket`: ListObjectsV2, all pages, each page retried
/// per `policy` like the GETs. Keys come in the store's order, which on S3 is
/// lexicographic (UTF-8 bytes). Must not be called from inside the I/O runtime.
pub fn list_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    policy: &RetryPolicy,
) -> Result<Vec<ListedObject>> {
    let name = format!("s3://{bucket}/{prefix}");
    let remote = |message: String| Error::Remote {
        source_name: name.clone(),
        message,
    };
    block_on(async {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = with_retries(&name, policy, || {
                let request = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.clone());
                async {
                    request
                        .send()
                        .await
                        .map_err(|e| classify(&name, e, "no such bucket"))
                }
            })
            .await?;
            for object in page.contents() {
                let key = object
                    .key()
                    .ok_or_else(|| remote("the listing has an object without a key".into()))?;
                let size = object
                    .size()
                    .and_then(|size| u64::try_from(size).ok())
                    .ok_or_else(|| remote(format!("the listing has no valid size for {key:?}")))?;
                objects.push(ListedObject {
                    key: key.to_owned(),
                    size,
                    etag: object.e_tag().unwrap_or_default().to_owned(),
                    last_modified: object.last_modified().map_or(0, |t| t.secs()),
                });
            }
            if page.is_truncated() != Some(true) {
                return Ok(objects);
            }
            match page.next_continuation_token() {
                Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                    token = Some(next.to_owned());
                }
                _ => {
                    return Err(remote(
                        "the listing is truncated but gives no new continuation token".into(),
                    ));
                }
            }
        }
    })?
}

/// The object's stored full-object CRC-32, if S3 has one: HeadObject with checksum mode
/// enabled and `If-Match: etag` (skipped if `etag` is empty), retried per `policy`. `None`
/// when the object has no CRC-32, or only a composite one (`xxx-N`, from a multipart
/// upload: a CRC of the parts' CRCs, not of the file). A changed object is
/// [`Error::Changed`].
pub fn stored_crc32(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    etag: &str,
    policy: &RetryPolicy,
) -> Result<Option<u32>> {
    let name = format!("s3://{bucket}/{key}");
    let output = block_on(with_retries(&name, policy, || {
        let request = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .set_if_match((!etag.is_empty()).then(|| etag.to_owned()));
        async {
            request
                .send()
                .await
                .map_err(|e| classify(&name, e, "no such object"))
        }
    }))??;
    full_object_crc32(output.checksum_crc32(), output.checksum_type()).map_err(|message| {
        Error::Remote {
            source_name: name,
            message,
        }
    })
}

/// The whole-file CRC-32 in a HeadObject reply's checksum fields, if there is one.
fn full_object_crc32(
    value: Option<&str>,
    checksum_type: Option<&ChecksumType>,
) -> std::result::Result<Option<u32>, String> {
    match value {
        None => Ok(None),
        // A composite checksum ("xxx-N", or typed COMPOSITE) is a CRC of the parts'
        // CRCs. Stores that predate the type field mark it with the suffix only.
        Some(value) if checksum_type == Some(&ChecksumType::Composite) || value.contains('-') => {
            Ok(None)
        }
        Some(value) => parse_crc32(value)
            .map(Some)
            .ok_or_else(|| format!("the stored CRC-32 {value:?} is not 4 bytes in base64")),
    }
}

/// Decodes an `x-amz-checksum-crc32` value: the big-endian CRC in standard base64.
fn parse_crc32(value: &str) -> Option<u32> {
    let bytes = decode_base64(value)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Standard base64 with padding (RFC 4648 §4), as S3 sends checksums.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let text = text.as_bytes();
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (i, group) in text.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 != groups) {
            return None;
        }
        let mut n = 0u32;
        for &c in &group[..4 - padding] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * padding as u32;
        let decoded = n.to_be_bytes();
        out.extend_from_slice(&decoded[1..4 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base64_decodes_like_rfc_4648() {
        // RFC 4648 §10 test vectors.
        for (encoded, decoded) in [
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(
                decode_base64(encoded).unwrap(),
                decoded.as_bytes(),
                "{encoded}"
            );
        }
        for bad in ["", "Zg=", "Z===", "Zg==Zg==", "Zm9*", "Zm9v\n"] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn crc32_values_are_big_endian_base64() {
        // crc32("hello") = 0x3610a686, which S3 sends as "NhCmhg==".
        assert_eq!(crc32fast::hash(b"hello"), 0x3610_a686);
        assert_eq!(parse_crc32("NhCmhg=="), Some(0x3610_a686));
        assert_eq!(parse_crc32("AAAAAA=="), Some(0));
        assert_eq!(parse_crc32("NhCm"), None);
        assert_eq!(parse_crc32("NhCmhgAA"), None);
    }

    #[test]
    fn only_full_object_crcs_count() {
        let full = Some(&ChecksumType::FullObject);
        let composite = Some(&ChecksumType::Composite);
        assert_eq!(full_object_crc32(None, None), Ok(None));
        assert_eq!(
            full_object_crc32(Some("NhCmhg=="), None),
            Ok(Some(0x3610_a686))
        );
        assert_eq!(
            full_object_crc32(Some("NhCmhg=="), full),
            Ok(Some(0x3610_a686))
        );
        assert_eq!(full_object_crc32(Some("NhCmhg=="), composite), Ok(None));
        assert_eq!(full_object_crc32(Some("NhCmhg==-3"), None), Ok(None));
        assert!(full_object_crc32(Some("not base64"), full).is_err());
    }
}
