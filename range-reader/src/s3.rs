//! S3 objects read with ranged `GetObject` calls (aws-sdk-s3).
//!
//! Credentials and region come from the standard AWS chain (environment, profile, IMDS);
//! the region falls back to `us-east-1`. An endpoint (`--endpoint-url` or
//! `AWS_ENDPOINT_URL`) selects an S3-compatible store (MinIO, R2, Ceph…), which is then
//! addressed path-style. The SDK's own retries are off: the shared retry loop handles
//! throttling, 5xx, timeouts and bodies that break mid-stream the same way as for HTTP.
//! The ETag of the first reply is pinned and sent as `If-Match` afterwards.

use std::ops::Range;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
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
        let output = request.send().await.map_err(|e| self.classify(e))?;
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

    fn classify(&self, error: SdkError<GetObjectError>) -> Failure {
        let fatal = |message: String| {
            Failure::Fatal(Error::Remote {
                source_name: self.name.clone(),
                message,
            })
        };
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error.code().map(str::to_owned);
        match (&error, status) {
            (SdkError::ServiceError(_), Some(412)) => Failure::Fatal(Error::Changed {
                source_name: self.name.clone(),
                detail: "the store answered 412 PreconditionFailed to If-Match".into(),
            }),
            (SdkError::ServiceError(_), Some(s)) if s >= 500 || s == 429 || s == 408 => {
                Failure::Transient(format!("HTTP {s} {}", code.unwrap_or_default()))
            }
            (SdkError::ServiceError(_), Some(404)) => fatal(format!(
                "no such object (HTTP 404 {}); check the bucket and key",
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
