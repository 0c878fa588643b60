//! Merging nearby byte ranges into fewer requests.

use std::ops::Range;

/// Default largest gap merged into one request (object_store uses the same 1 MiB).
pub const DEFAULT_MAX_GAP: u64 = 1024 * 1024;

/// Sorts `ranges` and merges those that overlap or are less than `max_gap` bytes apart.
/// Empty ranges are dropped.
pub fn coalesce(ranges: &[Range<u64>], max_gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(max_gap) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn merged_cover_every_input_and_are_disjoint(
            input in proptest::collection::vec((0u64..10_000, 0u64..500), 0..40),
            gap in 0u64..300,
        ) {
            let ranges: Vec<Range<u64>> = input.iter().map(|&(s, l)| s..s + l).collect();
            let merged = coalesce(&ranges, gap);
            for r in ranges.iter().filter(|r| r.start < r.end) {
                prop_assert!(merged.iter().any(|m| m.start <= r.start && r.end <= m.end));
            }
            for pair in merged.windows(2) {
                prop_assert!(pair[0].end + gap < pair[1].start);
            }
            // Merging never adds bytes beyond the gaps it bridged.
            let covered: u64 = merged.iter().map(|m| m.end - m.start).sum();
            let total_span = merged.last().map(|l| l.end).unwrap_or(0) - merged.first().map(|f| f.start).unwrap_or(0);
            prop_assert!(covered <= total_span);
        }
    }
}
