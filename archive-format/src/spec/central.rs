//! Central directory file header (APPNOTE 4.3.12).

use super::{Cursor, put_u16, put_u32};
use crate::{Error, Result};

/// Signature `PK\x01\x02`.
pub const SIGNATURE: u32 = 0x0201_4b50;
/// Size of the fixed part.
pub const FIXED_LEN: usize = 46;

/// One central directory file header as stored (32-bit fields may be ZIP64 placeholders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralDirectoryHeader {
    /// Version made by (high byte: host system).
    pub version_made_by: u16,
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
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Compressed size (or placeholder).
    pub compressed_size: u32,
    /// Uncompressed size (or placeholder).
    pub uncompressed_size: u32,
    /// Disk number where the entry starts (or placeholder).
    pub disk_start: u16,
    /// Internal file attributes.
    pub internal_attributes: u16,
    /// External file attributes (Unix mode in the high 16 bits when made on Unix).
    pub external_attributes: u32,
    /// Offset of the local header (or placeholder).
    pub local_header_offset: u32,
    /// Raw file name bytes.
    pub name: Vec<u8>,
    /// Raw extra field block.
    pub extra: Vec<u8>,
    /// Raw file comment.
    pub comment: Vec<u8>,
}

impl CentralDirectoryHeader {
    /// Total length of the header whose fixed part starts `fixed`, if it holds the length
    /// fields.
    pub fn total_len(fixed: &[u8]) -> Option<usize> {
        let field = |at: usize| {
            Some(usize::from(u16::from_le_bytes([
                *fixed.get(at)?,
                *fixed.get(at + 1)?,
            ])))
        };
        Some(FIXED_LEN + field(28)? + field(30)? + field(32)?)
    }

    /// The raw name of the header whose bytes start `bytes`, if they reach its end.
    pub fn raw_name(bytes: &[u8]) -> Option<&[u8]> {
        let len = usize::from(u16::from_le_bytes([*bytes.get(28)?, *bytes.get(29)?]));
        bytes.get(FIXED_LEN..FIXED_LEN + len)
    }

    /// Parses one header at `bytes[0]`; returns it and its total length.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<(Self, usize)> {
        let mut c = Cursor::new(bytes);
        let truncated = |needed: usize| Error::Truncated {
            record: "central directory header",
            offset,
            needed: needed as u64,
            available: bytes.len() as u64,
        };
        let signature = c.u32().ok_or_else(|| truncated(FIXED_LEN))?;
        if signature != SIGNATURE {
            return Err(Error::BadSignature {
                record: "central directory header",
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
                c.u16()?,
                c.u32()?,
                c.u32()?,
                c.u32()?,
                c.u16()?,
                c.u16()?,
                c.u16()?,
                c.u16()?,
                c.u16()?,
                c.u32()?,
                c.u32()?,
            ))
        })()
        .ok_or_else(|| truncated(FIXED_LEN))?;
        let (
            version_made_by,
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
            comment_len,
            disk_start,
            internal_attributes,
            external_attributes,
            local_header_offset,
        ) = fixed;
        let total =
            FIXED_LEN + usize::from(name_len) + usize::from(extra_len) + usize::from(comment_len);
        let name = c
            .take(usize::from(name_len))
            .ok_or_else(|| truncated(total))?;
        let extra = c
            .take(usize::from(extra_len))
            .ok_or_else(|| truncated(total))?;
        let comment = c
            .take(usize::from(comment_len))
            .ok_or_else(|| truncated(total))?;
        Ok((
            CentralDirectoryHeader {
                version_made_by,
                version_needed,
                flags,
                method,
                dos_time,
                dos_date,
                crc32,
                compressed_size,
                uncompressed_size,
                disk_start,
                internal_attributes,
                external_attributes,
                local_header_offset,
                name: name.to_vec(),
                extra: extra.to_vec(),
                comment: comment.to_vec(),
            },
            total,
        ))
    }

    /// Encoded length of this header.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + self.name.len() + self.extra.len() + self.comment.len()
    }

    /// Appends the encoded header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, SIGNATURE);
        put_u16(out, self.version_made_by);
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
        put_u16(out, self.comment.len() as u16);
        put_u16(out, self.disk_start);
        put_u16(out, self.internal_attributes);
        put_u32(out, self.external_attributes);
        put_u32(out, self.local_header_offset);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
        out.extend_from_slice(&self.comment);
    }
}
