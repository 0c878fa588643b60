//! A wrapper that counts requests and bytes, for `--stats` and request-budget tests.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Result;
use crate::source::RangeSource;

/// Requests made and bytes fetched through a [`Counting`] source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Number of read requests.
    pub requests: u64,
    /// Bytes returned.
    pub bytes: u64,
}

/// Counts every request that reaches the inner source (a streamed read is one request)
/// and keeps the list of ranges asked for, in order.
#[derive(Debug)]
pub struct Counting<S> {
    inner: S,
    requests: AtomicU64,
    bytes: AtomicU64,
    log: Mutex<Vec<Range<u64>>>,
}

impl<S: RangeSource> Counting<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// What has been counted so far.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Every range requested so far, in the order the requests were made.
    pub fn log(&self) -> Vec<Range<u64>> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn count(&self, range: Range<u64>, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut log) = self.log.lock() {
            log.push(range);
        }
    }
}

impl<S: RangeSource> RangeSource for Counting<S> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn len(&self) -> Result<u64> {
        self.inner.len()
    }

    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
        let bytes = self.inner.read_range(range.clone())?;
        self.count(range, bytes.len() as u64);
        Ok(bytes)
    }

    fn read_suffix(&self, n: u64) -> Result<(u64, Vec<u8>)> {
        let (offset, bytes) = self.inner.read_suffix(n)?;
        self.count(offset..offset + bytes.len() as u64, bytes.len() as u64);
        Ok((offset, bytes))
    }

    fn read_range_with(
        &self,
        range: Range<u64>,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut received = 0u64;
        let result = self.inner.read_range_with(range.clone(), &mut |chunk| {
            received += chunk.len() as u64;
            sink(chunk)
        });
        self.count(range, received);
        result
    }
}
