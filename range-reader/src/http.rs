//! HTTP(S) objects read with ranged GETs (reqwest): plain URLs and presigned S3/GCS/Azure
//! URLs alike.
//!
//! Strict replies: the first read is a suffix GET (`Range: bytes=-N`, no HEAD) whose
//! `Content-Range` gives the length and whose ETag (else Last-Modified) is pinned; later
//! GETs send `If-Match` (else `If-Unmodified-Since`) and must answer 206 with the exact
//! range and the same validator. A 200 to a range request, a wrong length or a changed
//! object is an error, never silent garbage.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, ETAG, IF_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED, RANGE};

use crate::remote::{
    BodyStream, Failure, Pin, Validator, check_suffix, collect_range, parse_content_range,
    read_with_retries, with_retries,
};
use crate::retry::RetryPolicy;
use crate::runtime::block_on;
use crate::source::RangeSource;
use crate::{Error, Result};

/// An object behind an `http://` or `https://` URL.
#[derive(Debug)]
pub struct HttpSource {
    url: reqwest::Url,
    name: String,
    client: reqwest::Client,
    policy: RetryPolicy,
    pin: Pin,
}

impl HttpSource {
    /// A source for `url`. Nothing is fetched until the first read.
    pub fn new(url: &str, policy: RetryPolicy) -> Result<Self> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::Remote {
            source_name: redact(url),
            message: format!("not a valid URL: {e}"),
        })?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("lakezip/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Remote {
                source_name: redact(url),
                message: format!("cannot create an HTTP client: {e}"),
            })?;
        Ok(HttpSource {
            name: redact(url),
            url: parsed,
            client,
            policy,
            pin: Pin::default(),
        })
    }

    /// Sends one ranged GET; checks status, `Content-Range` and the validator.
    async fn get(
        &self,
        range_header: String,
        expect: Option<Range<u64>>,
    ) -> std::result::Result<(reqwest::Response, Range<u64>, u64), Failure> {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(RANGE, &range_header);
        if let Some((validator, _)) = self.pin.get() {
            if let Some(etag) = validator.etag.filter(|e| !e.starts_with("W/")) {
                request = request.header(IF_MATCH, etag);
            } else if let Some(modified) = validator.last_modified {
                request = request.header(IF_UNMODIFIED_SINCE, modified);
            }
        }
        let response = request.send().await.map_err(|e| {
            let text = describe(&e);
            // No retry fixes a certificate the client does not trust.
            if text.contains("certificate") {
                Failure::Fatal(Error::Remote {
                    source_name: self.name.clone(),
                    message: format!(
                        "TLS: {text} (for a private CA, point SSL_CERT_FILE at its PEM certificate)"
                    ),
                })
            } else {
                Failure::Transient(text)
            }
        })?;
        let status = response.status();
        let remote = |message: String| {
            Failure::Fatal(Error::Remote {
                source_name: self.name.clone(),
                message,
            })
        };
        match status {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::PRECONDITION_FAILED => {
                return Err(Failure::Fatal(Error::Changed {
                    source_name: self.name.clone(),
                    detail: "the server answered 412 Precondition Failed to If-Match".into(),
                }));
            }
            StatusCode::OK => {
                return Err(remote(format!(
                    "the server ignored the Range header (200 OK instead of 206 for {range_header}); it cannot serve range reads"
                )));
            }
            s if s.is_server_error()
                || s == StatusCode::TOO_MANY_REQUESTS
                || s == StatusCode::REQUEST_TIMEOUT =>
            {
                return Err(Failure::Transient(format!("HTTP {s}")));
            }
            StatusCode::NOT_FOUND => {
                return Err(remote("HTTP 404 Not Found: no object at this URL".into()));
            }
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                return Err(remote(format!(
                    "HTTP {status}: access denied (for a presigned URL: has it expired?)"
                )));
            }
            s => return Err(remote(format!("HTTP {s} for {range_header}"))),
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let Some((got, total)) = header(CONTENT_RANGE)
            .as_deref()
            .and_then(parse_content_range)
        else {
            return Err(remote(format!(
                "206 reply without a valid Content-Range ({:?})",
                header(CONTENT_RANGE)
            )));
        };
        if let Some(expect) = &expect
            && got != *expect
        {
            return Err(remote(format!(
                "asked for bytes {}..{}, the server sent {}..{}",
                expect.start, expect.end, got.start, got.end
            )));
        }
        let validator = Validator {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        self.pin
            .check(&self.name, validator, total)
            .map_err(Failure::Fatal)?;
        if let Some(length) = response.content_length()
            && length != got.end - got.start
        {
            return Err(remote(format!(
                "Content-Length {length} does not match Content-Range {}..{}",
                got.start, got.end
            )));
        }
        Ok((response, got, total))
    }
}

struct ResponseBody(reqwest::Response);

impl BodyStream for ResponseBody {
    async fn next_chunk(&mut self) -> std::result::Result<Option<Bytes>, String> {
        self.0.chunk().await.map_err(|e| describe(&e))
    }
}

impl RangeSource for HttpSource {
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
            let (response, got, total) = self.get(format!("bytes=-{n}"), None).await?;
            check_suffix(&self.name, &got, total)?;
            let body = response
                .bytes()
                .await
                .map_err(|e| Failure::Transient(describe(&e)))?;
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
                let (response, _, _) = self.get(header, Some(missing)).await?;
                Ok(ResponseBody(response))
            },
            sink,
        ))?
    }
}

/// A URL without query string or credentials, safe to print (presigned URLs carry their
/// signature in the query).
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let had_query = parsed.query().is_some();
            parsed.set_query(None);
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            let mut text = parsed.to_string();
            if had_query {
                text.push_str("?…");
            }
            text
        }
        Err(_) => url.split('?').next().unwrap_or_default().to_owned(),
    }
}

/// A reqwest error as one line, with its cause (reqwest's Display omits it).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
