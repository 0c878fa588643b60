//! What the HTTP and S3 backends share: the object validator pinned at the first read,
//! `Content-Range` parsing, and the retry loop that resumes broken bodies.

use std::future::Future;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;

use crate::retry::RetryPolicy;
use crate::{Error, Result};

/// ETag / Last-Modified of the object as first seen. Later replies must carry the same
/// values, and requests send `If-Match` so the server refuses a changed object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Validator {
    /// The ETag header, verbatim.
    pub etag: Option<String>,
    /// The Last-Modified header, verbatim.
    pub last_modified: Option<String>,
}

impl Validator {
    fn describe(&self) -> String {
        match (&self.etag, &self.last_modified) {
            (Some(e), _) => format!("etag {e}"),
            (None, Some(m)) => format!("last-modified {m}"),
            (None, None) => "no validator".into(),
        }
    }
}

/// The pinned validator and length of a remote object.
#[derive(Debug, Default)]
pub struct Pin {
    state: Mutex<Option<(Validator, u64)>>,
}

impl Pin {
    /// A pin set in advance, from a listing that already gave the validator and length, so
    /// that the first request carries `If-Match` too.
    pub fn preset(validator: Validator, len: u64) -> Self {
        Pin {
            state: Mutex::new(Some((validator, len))),
        }
    }

    /// The pinned validator and length, if a read happened.
    pub fn get(&self) -> Option<(Validator, u64)> {
        self.state.lock().ok().and_then(|s| s.clone())
    }

    /// Pins on the first call; afterwards checks that the reply describes the same object.
    /// A pin without any validator (a listing without ETags, a reply without one) takes
    /// the first validator a later reply carries.
    pub fn check(&self, source_name: &str, validator: Validator, len: u64) -> Result<()> {
        let mut state = self.state.lock().map_err(|_| Error::Remote {
            source_name: source_name.to_owned(),
            message: "internal lock poisoned".into(),
        })?;
        match &*state {
            None => {
                *state = Some((validator, len));
                Ok(())
            }
            Some((pinned, pinned_len)) => {
                let etag_changed = pinned.etag.is_some()
                    && validator.etag.is_some()
                    && pinned.etag != validator.etag;
                let modified_changed = pinned.etag.is_none()
                    && pinned.last_modified.is_some()
                    && validator.last_modified.is_some()
                    && pinned.last_modified != validator.last_modified;
                if etag_changed || modified_changed || *pinned_len != len {
                    return Err(Error::Changed {
                        source_name: source_name.to_owned(),
                        detail: format!(
                            "first {} ({pinned_len} bytes), now {} ({len} bytes)",
                            pinned.describe(),
                            validator.describe()
                        ),
                    });
                }
                if pinned.etag.is_none() && pinned.last_modified.is_none() {
                    *state = Some((validator, len));
                }
                Ok(())
            }
        }
    }
}

/// Parses `Content-Range: bytes START-END/TOTAL` into `(START..END+1, TOTAL)`.
pub fn parse_content_range(value: &str) -> Option<(Range<u64>, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end, total): (u64, u64, u64) =
        (start.parse().ok()?, end.parse().ok()?, total.parse().ok()?);
    (start <= end && end < total).then_some((start..end + 1, total))
}

/// One failed attempt: retry it or give up at once.
#[derive(Debug)]
pub enum Failure {
    /// Worth retrying (5xx, 429, connection reset, timeout, broken body).
    Transient(String),
    /// Not worth retrying.
    Fatal(Error),
}

/// A reply whose body is being streamed.
pub trait BodyStream {
    /// The next chunk, `None` at the end.
    fn next_chunk(&mut self) -> impl Future<Output = std::result::Result<Option<Bytes>, String>>;
}

/// Reads `range` with `request` (which starts a ranged GET for the bytes still missing
/// and returns its body), passing chunks to `sink` in order. A body that breaks or ends
/// early is resumed from the last byte received; transient failures are retried per
/// `policy`, and the attempt count resets whenever bytes arrive.
pub async fn read_with_retries<B, F, Fut>(
    source_name: &str,
    policy: &RetryPolicy,
    range: Range<u64>,
    mut request: F,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()>
where
    B: BodyStream,
    F: FnMut(Range<u64>) -> Fut,
    Fut: Future<Output = std::result::Result<B, Failure>>,
{
    let mut position = range.start;
    let mut attempts = 0u32;
    let mut last = String::new();
    while position < range.end || (range.start == range.end && attempts == 0) {
        if attempts > 0 {
            if attempts >= policy.max_attempts {
                return Err(Error::GaveUp {
                    source_name: source_name.to_owned(),
                    attempts,
                    last,
                });
            }
            tokio::time::sleep(policy.delay(attempts)).await;
        }
        attempts += 1;
        if range.start == range.end {
            return Ok(());
        }
        let mut body = match request(position..range.end).await {
            Ok(body) => body,
            Err(Failure::Transient(message)) => {
                last = message;
                continue;
            }
            Err(Failure::Fatal(error)) => return Err(error),
        };
        loop {
            match body.next_chunk().await {
                Ok(Some(chunk)) => {
                    let remaining = range.end - position;
                    if chunk.len() as u64 > remaining {
                        return Err(Error::Remote {
                            source_name: source_name.to_owned(),
                            message: format!(
                                "the server sent more bytes than the {} requested (range {}..{})",
                                range.end - range.start,
                                range.start,
                                range.end
                            ),
                        });
                    }
                    if !chunk.is_empty() {
                        sink(&chunk)?;
                        position += chunk.len() as u64;
                        attempts = 0;
                    }
                }
                Ok(None) => {
                    if position < range.end {
                        last = format!("body ended {} bytes early", range.end - position);
                    }
                    break;
                }
                Err(message) => {
                    last = format!("body broke off after byte {position}: {message}");
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Runs one whole-reply request (such as a suffix read) until it succeeds, fails fatally,
/// or `policy` runs out of attempts.
pub async fn with_retries<T, F, Fut>(
    source_name: &str,
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Failure>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Transient(message)) => message,
        };
        if attempts >= policy.max_attempts {
            return Err(Error::GaveUp {
                source_name: source_name.to_owned(),
                attempts,
                last,
            });
        }
        tokio::time::sleep(policy.delay(attempts)).await;
    }
}

/// `read_range` for streaming backends: collects `read_range_with` and checks the length.
pub fn collect_range(source: &dyn crate::RangeSource, range: Range<u64>) -> Result<Vec<u8>> {
    let expected = range.end - range.start;
    let mut out = Vec::with_capacity(expected.min(64 << 20) as usize);
    source.read_range_with(range, &mut |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    if out.len() as u64 != expected {
        return Err(Error::Remote {
            source_name: source.name(),
            message: format!("expected {expected} bytes, got {}", out.len()),
        });
    }
    Ok(out)
}

/// Checks that a suffix read reached the end of the object.
pub fn check_suffix(
    source_name: &str,
    got: &Range<u64>,
    total: u64,
) -> std::result::Result<(), Failure> {
    if got.end != total {
        return Err(Failure::Fatal(Error::Remote {
            source_name: source_name.to_owned(),
            message: format!(
                "a suffix read returned bytes {}..{} of {total}",
                got.start, got.end
            ),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0..10, 100)));
        assert_eq!(parse_content_range("bytes 90-99/100"), Some((90..100, 100)));
        assert_eq!(parse_content_range("bytes 9-0/100"), None);
        assert_eq!(parse_content_range("bytes 0-100/100"), None);
        assert_eq!(parse_content_range("bytes */100"), None);
    }

    #[test]
    fn pin_detects_change() {
        let pin = Pin::default();
        let v = |e: &str| Validator {
            etag: Some(e.into()),
            last_modified: None,
        };
        pin.check("x", v("\"a\""), 10).unwrap();
        pin.check("x", v("\"a\""), 10).unwrap();
        let err = pin.check("x", v("\"b\""), 10).unwrap_err().to_string();
        assert!(err.contains("changed"), "{err}");
        assert!(pin.check("x", v("\"a\""), 11).is_err());
    }

    #[test]
    fn preset_pin_without_validator_takes_the_first_one_seen() {
        let v = |e: &str| Validator {
            etag: Some(e.into()),
            last_modified: None,
        };
        let pin = Pin::preset(Validator::default(), 10);
        assert_eq!(pin.get(), Some((Validator::default(), 10)));
        assert!(pin.check("x", v("\"a\""), 11).is_err());
        pin.check("x", v("\"a\""), 10).unwrap();
        assert_eq!(pin.get(), Some((v("\"a\""), 10)));
        assert!(pin.check("x", v("\"b\""), 10).is_err());
        let pin = Pin::preset(v("\"a\""), 10);
        assert!(pin.check("x", v("\"b\""), 10).is_err());
    }
}
