//! Local file header (APPNOTE 4.3.7) and data descriptor (4.3.9).

use super::{Cursor, put_u16, put_u32};
use crate::{Error, Result};

/// Signature `PK\x03\x04`.
pub const SIGNATURE: u32 = 0x0403_4b50;
/// Size of the fixed part.
pub const FIXED_LEN: usize = 30;
/// Offset of the CRC-32 field inside the header (the writer patches it in place).
pub const CRC32_OFFSET: u64 = 14;
/// Optional data descriptor signature `PK\x07\x08`.
pub const DATA_DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;

/// One local file header as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFileHeader {
    /// Version needed to extract.
    pub version_needed: u16,
    /// General purpose bit flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// DOS modification time.
    pub dos_time: u16,
    /// DOS modification date.
    pub dos_date: u16,
    /// CRC-32 (zero when a data descriptor follows).
    pub crc32: u32,
    /// Compressed size (or placeholder / zero with a data descriptor).
    pub compressed_size: u32,
    /// Uncompressed size (or placeholder / zero with a data descriptor).
    pub uncompressed_size: u32,
    /// Raw name bytes.
    pub name: Vec<u8>,
    /// Raw extra field block.
    pub extra: Vec<u8>,
}

impl LocalFileHeader {
    /// Length of the fixed part plus the name and extra lengths, read from the first
    /// [`FIXED_LEN`] bytes; `None` if the buffer is shorter.
    pub fn total_len(fixed: &[u8]) -> Option<usize> {
        let name = u16::from_le_bytes([*fixed.get(26)?, *fixed.get(27)?]);
        let extra = u16::from_le_bytes([*fixed.get(28)?, *fixed.get(29)?]);
        Some(FIXED_LEN + usize::from(name) + usize::from(extra))
    }

    /// Parses the header at `bytes[0]`; returns it and its total length.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<(Self, usize)> {
        let mut c = Cursor::new(bytes);
        let truncated = |needed: usize| Error::Truncated {
            record: "local file header",
            offset,
            needed: needed as u64,
            available: bytes.len() as u64,
        };
        let signature = c.u32().ok_or_else(|| truncated(FIXED_LEN))?;
        if signature != SIGNATURE {
            return Err(Error::BadSignature {
                record: "local file header",
                offset,
                expected: SIGNATURE,
                actual: signature,
            });
        }
        let fixed = (|| {
            Some((
                c.u16()?,
                c.u16()?,
                c.u16()?,
                c.u16()?,
                c.u16()?,
                c.u32()?,
                c.u32()?,
                c.u32()?,
                c.u16()?,
                c.u16()?,
            ))
        })()
        .ok_or_else(|| truncated(FIXED_LEN))?;
        let (
            version_needed,
            flags,
            method,
            dos_time,
            dos_date,
            crc32,
            compressed_size,
            uncompressed_size,
            name_len,
            extra_len,
        ) = fixed;
        let total = FIXED_LEN + usize::from(name_len) + usize::from(extra_len);
        let name = c
            .take(usize::from(name_len))
            .ok_or_else(|| truncated(total))?;
        let extra = c
            .take(usize::from(extra_len))
            .ok_or_else(|| truncated(total))?;
        Ok((
            LocalFileHeader {
                version_needed,
                flags,
                method,
                dos_time,
                dos_date,
                crc32,
                compressed_size,
                uncompressed_size,
                name: name.to_vec(),
                extra: extra.to_vec(),
            },
            total,
        ))
    }

    /// Encoded length of this header.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + self.name.len() + self.extra.len()
    }

    /// Appends the encoded header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, SIGNATURE);
        put_u16(out, self.version_needed);
        put_u16(out, self.flags);
        put_u16(out, self.method);
        put_u16(out, self.dos_time);
        put_u16(out, self.dos_date);
        put_u32(out, self.crc32);
        put_u32(out, self.compressed_size);
        put_u32(out, self.uncompressed_size);
        put_u16(out, self.name.len() as u16);
        put_u16(out, self.extra.len() as u16);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
    }
}
