//! An in-memory source, for tests.

use std::ops::Range;

use crate::Result;
use crate::source::{RangeSource, check_range};

/// Bytes in memory.
#[derive(Debug, Clone)]
pub struct Memory {
    name: String,
    bytes: Vec<u8>,
}

impl Memory {
    /// A source over `bytes`, called `name` in messages.
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Memory {
            name: name.into(),
            bytes,
        }
    }
}

impl RangeSource for Memory {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn len(&self) -> Result<u64> {
        Ok(self.bytes.len() as u64)
    }

    fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
        check_range(&|| self.name(), &range, self.bytes.len() as u64)?;
        Ok(self.bytes[range.start as usize..range.end as usize].to_vec())
    }
}
