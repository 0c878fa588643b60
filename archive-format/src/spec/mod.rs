//! ZIP records as defined by PKWARE's APPNOTE 6.3.x, one module per record.
//!
//! Each record has a `parse` that takes a byte slice plus the absolute offset it came
//! from (for error messages) and an `encode` that appends the record to a buffer.
//! Parsing never trusts a length without checking it against the bytes at hand.

pub mod central;
pub mod eocd;
pub mod extra;
pub mod local;
pub mod time;
pub mod zip64;

/// Placeholder meaning "the real value is in the ZIP64 extra field" (APPNOTE 4.4.8).
pub const U32_MAX: u32 = u32::MAX;
/// Placeholder count meaning "see the ZIP64 end of central directory" (APPNOTE 4.4.21).
pub const U16_MAX: u16 = u16::MAX;

/// Version needed to extract a stored member without ZIP64 (APPNOTE 4.4.3.2: 1.0).
pub const VERSION_STORED: u16 = 10;
/// Version needed for deflate or directories (2.0).
pub const VERSION_DEFLATE: u16 = 20;
/// Version needed when ZIP64 records are used (4.5).
pub const VERSION_ZIP64: u16 = 45;
/// "Version made by" high byte for Unix (APPNOTE 4.4.2.2), so external attributes hold a mode.
pub const HOST_UNIX: u16 = 3;

/// General purpose flag bit 0: encrypted.
pub const FLAG_ENCRYPTED: u16 = 1;
/// General purpose flag bit 3: sizes and CRC follow the data in a data descriptor.
pub const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// General purpose flag bit 6: strong encryption.
pub const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
/// General purpose flag bit 11: name and comment are UTF-8.
pub const FLAG_UTF8: u16 = 1 << 11;

/// Compression method 0: stored.
pub const METHOD_STORED: u16 = 0;
/// Compression method 8: deflate.
pub const METHOD_DEFLATE: u16 = 8;

/// A bounds-checked little-endian reader over a record's bytes.
///
/// Every read returns `None` past the end, so parsers turn a short buffer into
/// [`crate::Error::Truncated`] instead of panicking.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, position: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(n)?;
        let slice = self.bytes.get(self.position..end)?;
        self.position = end;
        Some(slice)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }
}

/// Reads the little-endian u32 at `at`, if the slice is long enough.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Saturates a u64 into the 32-bit field, using the ZIP64 placeholder when it does not fit.
pub(crate) fn u32_or_placeholder(v: u64) -> u32 {
    u32::try_from(v)
        .ok()
        .filter(|&x| x != U32_MAX)
        .unwrap_or(U32_MAX)
}
