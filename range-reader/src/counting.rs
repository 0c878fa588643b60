//! A wrapper that counts requests and bytes, for `--stats` and request-budget tests.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::source::RangeSource;
use crate::Result;

/// Requests made and bytes fetched through a [`Counting`] source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Number of read requests.
    pub requests: u64,
    /// Bytes returned.
    pub bytes: u64,
}

/// Counts every request that reaches the inner source.
#[derive(Debug)]
pub struct Counting<S> {
    inner: S,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl<S: RangeSource> Counting<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// What has been counted so far.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    fn count(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
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
        let bytes = self.inner.read_range(range)?;
        self.count(bytes.len());
        Ok(bytes)
    }

    fn read_suffix(&self, n: u64) -> Result<(u64, Vec<u8>)> {
        let (offset, bytes) = self.inner.read_suffix(n)?;
        self.count(bytes.len());
        Ok((offset, bytes))
    }
}
