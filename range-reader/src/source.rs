//! The [`RangeSource`] trait: how every backend hands out bytes.

use std::fmt::Debug;
use std::ops::Range;

use crate::coalesce::coalesce;
use crate::{Error, Result};

/// Size of the chunks [`RangeSource::read_range_with`] reads at a time by default.
pub const STREAM_CHUNK: u64 = 1024 * 1024;

/// A read-only sequence of bytes addressed by u64 offsets: a local file, an HTTP object,
/// an S3 object, or memory.
///
/// Implementations must return exactly the bytes asked for or an error: a short read is
/// an error, never silent truncation.
pub trait RangeSource: Debug + Send + Sync {
    /// A name for messages: a path or a URL without credentials.
    fn name(&self) -> String;

    /// Total length in bytes.
    fn len(&self) -> Result<u64>;

    /// True if the source has no bytes.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads exactly `range`.
    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>>;

    /// Reads the last `n` bytes (fewer if the source is shorter). Returns the offset of
    /// the first byte read and the bytes. Remote backends do this in one request, which
    /// also tells them the length.
    fn read_suffix(&self, n: u64) -> Result<(u64, Vec<u8>)> {
        let len = self.len()?;
        let start = len.saturating_sub(n);
        Ok((start, self.read_range(start..len)?))
    }

    /// Streams `range` to `sink` in chunks, never holding more than one chunk.
    fn read_range_with(
        &self,
        range: Range<u64>,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut at = range.start;
        while at < range.end {
            let end = range.end.min(at + STREAM_CHUNK);
            sink(&self.read_range(at..end)?)?;
            at = end;
        }
        Ok(())
    }

    /// Reads several ranges, merging those less than `max_gap` apart into one request.
    /// Returns one buffer per requested range, in order.
    fn read_ranges(&self, ranges: &[Range<u64>], max_gap: u64) -> Result<Vec<Vec<u8>>> {
        let merged = coalesce(ranges, max_gap);
        let mut fetched = Vec::with_capacity(merged.len());
        for range in &merged {
            fetched.push((range.start, self.read_range(range.clone())?));
        }
        ranges
            .iter()
            .map(|r| {
                let (start, bytes) = fetched
                    .iter()
                    .rev()
                    .find(|(start, bytes)| *start <= r.start && r.end <= start + bytes.len() as u64)
                    .ok_or_else(|| Error::OutOfRange {
                        source_name: self.name(),
                        start: r.start,
                        end: r.end,
                        len: 0,
                    })?;
                let from = (r.start - start) as usize;
                Ok(bytes[from..from + (r.end - r.start) as usize].to_vec())
            })
            .collect()
    }
}

/// Smart pointers and references to a source are sources too.
macro_rules! forward_range_source {
    ($($pointer:ty),*) => {$(
        impl<S: RangeSource + ?Sized> RangeSource for $pointer {
            fn name(&self) -> String {
                (**self).name()
            }

            fn len(&self) -> Result<u64> {
                (**self).len()
            }

            fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
                (**self).read_range(range)
            }

            fn read_suffix(&self, n: u64) -> Result<(u64, Vec<u8>)> {
                (**self).read_suffix(n)
            }

            fn read_range_with(
                &self,
                range: Range<u64>,
                sink: &mut dyn FnMut(&[u8]) -> Result<()>,
            ) -> Result<()> {
                (**self).read_range_with(range, sink)
            }

            fn read_ranges(&self, ranges: &[Range<u64>], max_gap: u64) -> Result<Vec<Vec<u8>>> {
                (**self).read_ranges(ranges, max_gap)
            }
        }
    )*};
}

forward_range_source!(Box<S>, std::sync::Arc<S>, &S);

/// Checks `range` against a source length, for backends' `read_range`.
pub(crate) fn check_range(name: &dyn Fn() -> String, range: &Range<u64>, len: u64) -> Result<()> {
    if range.start > range.end || range.end > len {
        return Err(Error::OutOfRange {
            source_name: name(),
            start: range.start,
            end: range.end,
            len,
        });
    }
    Ok(())
}
