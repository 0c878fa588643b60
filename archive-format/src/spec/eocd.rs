//! End of central directory record (APPNOTE 4.3.16).

use super::{Cursor, put_u16, put_u32};
use crate::{Error, Result};

/// Signature `PK\x05\x06`.
pub const SIGNATURE: u32 = 0x0605_4b50;
/// Size of the fixed part.
pub const FIXED_LEN: usize = 22;
/// Longest possible record: fixed part plus a 65,535-byte comment.
pub const MAX_LEN: usize = FIXED_LEN + u16::MAX as usize;

/// The end of central directory record. Fields at their 16/32-bit placeholder values mean
/// "see the ZIP64 end of central directory record".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndOfCentralDirectory {
    /// Number of this disk.
    pub disk_number: u16,
    /// Disk where the central directory starts.
    pub central_directory_disk: u16,
    /// Entries on this disk.
    pub entries_on_disk: u16,
    /// Total entries.
    pub entries: u16,
    /// Size of the central directory in bytes.
    pub central_directory_size: u32,
    /// Offset of the central directory.
    pub central_directory_offset: u32,
    /// Archive comment (raw bytes).
    pub comment: Vec<u8>,
}

impl EndOfCentralDirectory {
    /// Finds the last EOCD record in `tail` whose comment length reaches exactly the end of
    /// the buffer. `tail` must end at the end of the file; `tail_offset` is its absolute
    /// offset. Returns the record and its absolute offset.
    pub fn find(tail: &[u8], tail_offset: u64) -> Result<Option<(Self, u64)>> {
        if tail.len() < FIXED_LEN {
            return Ok(None);
        }
        // Search backwards: the real record is the last one whose comment ends the file.
        // A signature inside a comment would not satisfy the length check.
        let mut at = tail.len() - FIXED_LEN;
        let mut fallback = None;
        loop {
            if super::u32_at(tail, at) == Some(SIGNATURE) {
                let record = Self::parse(&tail[at..], tail_offset + at as u64)?;
                // Compare the *declared* comment length: `parse` keeps only the bytes present.
                let declared = usize::from(u16::from_le_bytes([tail[at + 20], tail[at + 21]]));
                if at + FIXED_LEN + declared == tail.len() {
                    return Ok(Some((record, tail_offset + at as u64)));
                }
                fallback.get_or_insert((at, declared));
            }
            if at == 0 {
                break;
            }
            at -= 1;
        }
        match fallback {
            // A record whose comment length disagrees with the bytes that follow it.
            Some((at, declared)) => Err(Error::invalid(
                "end of central directory",
                tail_offset + at as u64,
                format!(
                    "comment length {declared} does not match the end of the file ({} bytes follow the record)",
                    tail.len() - at - FIXED_LEN
                ),
            )),
            None => Ok(None),
        }
    }

    /// Parses a record starting at `bytes[0]`. The comment may be cut short by the buffer
    /// end; then it holds what is there (callers compare lengths).
    pub fn parse(bytes: &[u8], offset: u64) -> Result<Self> {
        let mut c = Cursor::new(bytes);
        let truncated = || Error::Truncated {
            record: "end of central directory",
            offset,
            needed: FIXED_LEN as u64,
            available: bytes.len() as u64,
        };
        let signature = c.u32().ok_or_else(truncated)?;
        if signature != SIGNATURE {
            return Err(Error::BadSignature {
                record: "end of central directory",
                offset,
                expected: SIGNATURE,
                actual: signature,
            });
        }
        let disk_number = c.u16().ok_or_else(truncated)?;
        let central_directory_disk = c.u16().ok_or_else(truncated)?;
        let entries_on_disk = c.u16().ok_or_else(truncated)?;
        let entries = c.u16().ok_or_else(truncated)?;
        let central_directory_size = c.u32().ok_or_else(truncated)?;
        let central_directory_offset = c.u32().ok_or_else(truncated)?;
        let comment_len = c.u16().ok_or_else(truncated)?;
        let available = c.remaining().min(usize::from(comment_len));
        let comment = c.take(available).unwrap_or_default().to_vec();
        Ok(EndOfCentralDirectory {
            disk_number,
            central_directory_disk,
            entries_on_disk,
            entries,
            central_directory_size,
            central_directory_offset,
            comment,
        })
    }

    /// Appends the encoded record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, SIGNATURE);
        put_u16(out, self.disk_number);
        put_u16(out, self.central_directory_disk);
        put_u16(out, self.entries_on_disk);
        put_u16(out, self.entries);
        put_u32(out, self.central_directory_size);
        put_u32(out, self.central_directory_offset);
        put_u16(out, self.comment.len() as u16);
        out.extend_from_slice(&self.comment);
    }
}
