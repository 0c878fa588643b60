//! ZIP64 end of central directory record (APPNOTE 4.3.14) and its locator (4.3.15).

use super::{Cursor, put_u16, put_u32, put_u64};
use crate::{Error, Result};

/// Signature `PK\x06\x06` of the ZIP64 end of central directory record.
pub const RECORD_SIGNATURE: u32 = 0x0606_4b50;
/// Size of the record's fixed part (no extensible data).
pub const RECORD_LEN: usize = 56;
/// Signature `PK\x06\x07` of the locator.
pub const LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
/// Size of the locator.
pub const LOCATOR_LEN: usize = 20;

/// The ZIP64 end of central directory locator, which sits right before the EOCD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zip64Locator {
    /// Disk holding the ZIP64 EOCD record.
    pub record_disk: u32,
    /// Absolute offset of the ZIP64 EOCD record.
    pub record_offset: u64,
    /// Total number of disks.
    pub total_disks: u32,
}

impl Zip64Locator {
    /// Parses a locator at `bytes[0]`, or returns `None` if its signature is absent.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<Option<Self>> {
        let mut c = Cursor::new(bytes);
        if c.u32() != Some(LOCATOR_SIGNATURE) {
            return Ok(None);
        }
        let truncated = || Error::Truncated {
            record: "zip64 end of central directory locator",
            offset,
            needed: LOCATOR_LEN as u64,
            available: bytes.len() as u64,
        };
        Ok(Some(Zip64Locator {
            record_disk: c.u32().ok_or_else(truncated)?,
            record_offset: c.u64().ok_or_else(truncated)?,
            total_disks: c.u32().ok_or_else(truncated)?,
        }))
    }

    /// Appends the encoded locator.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, LOCATOR_SIGNATURE);
        put_u32(out, self.record_disk);
        put_u64(out, self.record_offset);
        put_u32(out, self.total_disks);
    }
}

/// The ZIP64 end of central directory record (version 1; extensible data is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zip64EndOfCentralDirectory {
    /// Size of the remaining record (total size − 12).
    pub record_size: u64,
    /// Version made by.
    pub version_made_by: u16,
    /// Version needed to extract.
    pub version_needed: u16,
    /// Number of this disk.
    pub disk_number: u32,
    /// Disk where the central directory starts.
    pub central_directory_disk: u32,
    /// Entries on this disk.
    pub entries_on_disk: u64,
    /// Total entries.
    pub entries: u64,
    /// Size of the central directory.
    pub central_directory_size: u64,
    /// Offset of the central directory.
    pub central_directory_offset: u64,
}

impl Zip64EndOfCentralDirectory {
    /// Parses the record at `bytes[0]`.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<Self> {
        let mut c = Cursor::new(bytes);
        let truncated = || Error::Truncated {
            record: "zip64 end of central directory",
            offset,
            needed: RECORD_LEN as u64,
            available: bytes.len() as u64,
        };
        let signature = c.u32().ok_or_else(truncated)?;
        if signature != RECORD_SIGNATURE {
            return Err(Error::BadSignature {
                record: "zip64 end of central directory",
                offset,
                expected: RECORD_SIGNATURE,
                actual: signature,
            });
        }
        let record = Zip64EndOfCentralDirectory {
            record_size: c.u64().ok_or_else(truncated)?,
            version_made_by: c.u16().ok_or_else(truncated)?,
            version_needed: c.u16().ok_or_else(truncated)?,
            disk_number: c.u32().ok_or_else(truncated)?,
            central_directory_disk: c.u32().ok_or_else(truncated)?,
            entries_on_disk: c.u64().ok_or_else(truncated)?,
            entries: c.u64().ok_or_else(truncated)?,
            central_directory_size: c.u64().ok_or_else(truncated)?,
            central_directory_offset: c.u64().ok_or_else(truncated)?,
        };
        if record.record_size < (RECORD_LEN - 12) as u64 {
            return Err(Error::invalid(
                "zip64 end of central directory",
                offset,
                format!("record size {} is below the minimum 44", record.record_size),
            ));
        }
        Ok(record)
    }

    /// Appends the encoded record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, RECORD_SIGNATURE);
        put_u64(out, self.record_size);
        put_u16(out, self.version_made_by);
        put_u16(out, self.version_needed);
        put_u32(out, self.disk_number);
        put_u32(out, self.central_directory_disk);
        put_u64(out, self.entries_on_disk);
        put_u64(out, self.entries);
        put_u64(out, self.central_directory_size);
        put_u64(out, self.central_directory_offset);
    }
}
