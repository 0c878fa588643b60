//! The end of the file: EOCD, ZIP64 locator and record, and the lakezip index pointer in
//! the archive comment.

use std::ops::Range;

use crate::manifest::IndexPointer;
use crate::spec::eocd::{self, EndOfCentralDirectory};
use crate::spec::zip64::{self, Zip64EndOfCentralDirectory, Zip64Locator};
use crate::spec::{U16_MAX, U32_MAX};
use crate::{Error, Result};

/// How many bytes the first read takes from the end of the file. Our own end records and
/// comment take well under 200 bytes; the rest of the 64 KiB usually carries the index
/// member and the tail of the central directory too, saving a request.
pub const TAIL_LEN: u64 = 64 * 1024;
/// The most any reader can need to find the EOCD: a maximal comment plus the ZIP64
/// locator and record right before it.
pub const MAX_TAIL_LEN: u64 = (eocd::MAX_LEN + zip64::LOCATOR_LEN + zip64::RECORD_LEN) as u64;

/// The end records, resolved to u64 (ZIP64 values where the EOCD holds placeholders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndRecords {
    /// Size of the archive file.
    pub file_len: u64,
    /// Offset of the central directory.
    pub central_directory_offset: u64,
    /// Size of the central directory.
    pub central_directory_size: u64,
    /// Number of entries.
    pub entries: u64,
    /// Offset of the first end record (ZIP64 record if present, else EOCD); the central
    /// directory must end here.
    pub end_records_offset: u64,
    /// Whether ZIP64 end records are present.
    pub zip64: bool,
    /// The archive comment.
    pub comment: Vec<u8>,
    /// Where the lakezip table index is, if the comment names one.
    pub index: Option<IndexPointer>,
}

impl EndRecords {
    /// The central directory's byte range.
    pub fn central_directory_range(&self) -> Range<u64> {
        self.central_directory_offset..self.central_directory_offset + self.central_directory_size
    }
}

/// What parsing the tail produced.
#[derive(Debug)]
pub enum TailOutcome {
    /// The end records are complete.
    Complete(EndRecords),
    /// These bytes are needed too (a longer tail, or a ZIP64 record outside it).
    Need(Range<u64>),
}

/// The range of the first read.
pub fn first_read(file_len: u64) -> Range<u64> {
    file_len.saturating_sub(TAIL_LEN)..file_len
}

/// Parses the end records from `tail` (which must end at `file_len`). `extra` supplies a
/// separately fetched ZIP64 record `(offset, bytes)` when it lies before the tail.
pub fn parse(
    file_len: u64,
    tail_offset: u64,
    tail: &[u8],
    extra: Option<(u64, &[u8])>,
) -> Result<TailOutcome> {
    let Some((eocd, eocd_offset)) = EndOfCentralDirectory::find(tail, tail_offset)? else {
        if tail_offset > 0 && (tail.len() as u64) < MAX_TAIL_LEN {
            return Ok(TailOutcome::Need(
                file_len.saturating_sub(MAX_TAIL_LEN)..file_len,
            ));
        }
        return Err(Error::NotAZip {
            searched: tail.len() as u64,
        });
    };
    if eocd.disk_number != 0 || eocd.central_directory_disk != 0 {
        return Err(Error::MultiDisk {
            disk: u32::from(eocd.disk_number.max(eocd.central_directory_disk)),
        });
    }
    let needs_zip64 = eocd.entries == U16_MAX
        || eocd.entries_on_disk == U16_MAX
        || eocd.central_directory_size == U32_MAX
        || eocd.central_directory_offset == U32_MAX;
    let index = IndexPointer::from_comment(&eocd.comment);
    let locator_offset = eocd_offset.checked_sub(zip64::LOCATOR_LEN as u64);
    let locator = match locator_offset {
        Some(at) if at >= tail_offset => {
            let start = (at - tail_offset) as usize;
            Zip64Locator::parse(&tail[start..], at)?
        }
        Some(_) => {
            // The locator is not in the tail: only possible for a tiny tail, ask for more.
            if tail_offset > 0 && (tail.len() as u64) < MAX_TAIL_LEN {
                return Ok(TailOutcome::Need(
                    file_len.saturating_sub(MAX_TAIL_LEN)..file_len,
                ));
            }
            None
        }
        None => None,
    };
    let plain = |eocd: EndOfCentralDirectory| {
        if eocd.entries != eocd.entries_on_disk {
            return Err(Error::invalid(
                "end of central directory",
                eocd_offset,
                format!(
                    "{} entries on this disk but {} in total",
                    eocd.entries_on_disk, eocd.entries
                ),
            ));
        }
        finish(EndRecords {
            file_len,
            central_directory_offset: u64::from(eocd.central_directory_offset),
            central_directory_size: u64::from(eocd.central_directory_size),
            entries: u64::from(eocd.entries),
            end_records_offset: eocd_offset,
            zip64: false,
            comment: eocd.comment,
            index,
        })
    };
    let Some(locator) = locator else {
        if needs_zip64 {
            return Err(Error::invalid(
                "end of central directory",
                eocd_offset,
                "fields hold zip64 placeholders but there is no zip64 end of central directory locator",
            ));
        }
        return plain(eocd);
    };
    match zip64_end(
        file_len,
        tail_offset,
        tail,
        extra,
        &eocd,
        eocd_offset,
        locator,
    ) {
        Ok(outcome) => Ok(outcome),
        // The EOCD holds real values, so ZIP64 records are optional. The 20 bytes before
        // it may then be the end of the last central directory header (a name, extra
        // field or comment that happens to hold `PK\x06\x07`) rather than a locator.
        // Only one reading can be consistent (the central directory ends either at the
        // ZIP64 record or at the EOCD), so take the plain one when it is, and report the
        // ZIP64 problem when it is not.
        Err(zip64_error) if !needs_zip64 => plain(eocd).map_err(|_| zip64_error),
        Err(zip64_error) => Err(zip64_error),
    }
}

/// The ZIP64 reading of the end records: the locator right before the EOCD points at the
/// ZIP64 end of central directory record, whose values win over the EOCD's placeholders.
fn zip64_end(
    file_len: u64,
    tail_offset: u64,
    tail: &[u8],
    extra: Option<(u64, &[u8])>,
    eocd: &EndOfCentralDirectory,
    eocd_offset: u64,
    locator: Zip64Locator,
) -> Result<TailOutcome> {
    let locator_offset = eocd_offset - zip64::LOCATOR_LEN as u64;
    if locator.record_disk != 0 || locator.total_disks > 1 {
        return Err(Error::MultiDisk {
            disk: locator
                .record_disk
                .max(locator.total_disks.saturating_sub(1)),
        });
    }
    let record_offset = locator.record_offset;
    let record_end = record_offset
        .checked_add(zip64::RECORD_LEN as u64)
        .filter(|&end| end <= locator_offset)
        .ok_or_else(|| {
            Error::invalid(
                "zip64 end of central directory locator",
                locator_offset,
                format!("points at offset {record_offset}, which leaves no room for the record before the locator"),
            )
        })?;
    let record_bytes: &[u8] = if record_offset >= tail_offset {
        &tail[(record_offset - tail_offset) as usize..]
    } else {
        match extra {
            Some((at, bytes)) if at == record_offset => bytes,
            _ => return Ok(TailOutcome::Need(record_offset..record_end)),
        }
    };
    let record = Zip64EndOfCentralDirectory::parse(record_bytes, record_offset)?;
    if record.disk_number != 0 || record.central_directory_disk != 0 {
        return Err(Error::MultiDisk {
            disk: record.disk_number.max(record.central_directory_disk),
        });
    }
    // The record (with any extensible data) must end where the locator begins.
    if record_offset
        .checked_add(12)
        .and_then(|x| x.checked_add(record.record_size))
        != Some(locator_offset)
    {
        return Err(Error::invalid(
            "zip64 end of central directory",
            record_offset,
            format!(
                "record of {} bytes does not end at the locator (offset {locator_offset})",
                record.record_size.saturating_add(12)
            ),
        ));
    }
    if record.entries != record.entries_on_disk {
        return Err(Error::invalid(
            "zip64 end of central directory",
            record_offset,
            format!(
                "{} entries on this disk but {} in total",
                record.entries_on_disk, record.entries
            ),
        ));
    }
    // Where the 32-bit EOCD holds a real value, it must agree with the ZIP64 record.
    let agree = |small: u64, placeholder: u64, big: u64| small == placeholder || small == big;
    if !agree(u64::from(eocd.entries), u64::from(U16_MAX), record.entries)
        || !agree(
            u64::from(eocd.central_directory_size),
            u64::from(U32_MAX),
            record.central_directory_size,
        )
        || !agree(
            u64::from(eocd.central_directory_offset),
            u64::from(U32_MAX),
            record.central_directory_offset,
        )
    {
        return Err(Error::invalid(
            "zip64 end of central directory",
            record_offset,
            "entry count, size or offset disagrees with the end of central directory record",
        ));
    }
    finish(EndRecords {
        file_len,
        central_directory_offset: record.central_directory_offset,
        central_directory_size: record.central_directory_size,
        entries: record.entries,
        end_records_offset: record_offset,
        zip64: true,
        comment: eocd.comment.clone(),
        index: IndexPointer::from_comment(&eocd.comment),
    })
}

/// Checks the central directory's placement against the end records.
fn finish(end: EndRecords) -> Result<TailOutcome> {
    let cd_end = end
        .central_directory_offset
        .checked_add(end.central_directory_size);
    if cd_end != Some(end.end_records_offset) {
        return Err(Error::invalid(
            "end of central directory",
            end.end_records_offset,
            format!(
                "central directory at offset {} of {} bytes does not end where the end records begin (offset {}); the file is truncated, has bytes prepended, or is corrupt",
                end.central_directory_offset, end.central_directory_size, end.end_records_offset
            ),
        ));
    }
    let min_size = end
        .entries
        .saturating_mul(crate::spec::central::FIXED_LEN as u64);
    if min_size > end.central_directory_size {
        return Err(Error::invalid(
            "end of central directory",
            end.end_records_offset,
            format!(
                "{} entries cannot fit in a central directory of {} bytes",
                end.entries, end.central_directory_size
            ),
        ));
    }
    if let Some(index) = &end.index
        && index
            .offset
            .checked_add(index.length)
            .is_none_or(|e| e > end.central_directory_offset)
    {
        return Err(Error::Manifest {
            reason: format!(
                "index pointer {}+{} in the archive comment lies outside the member area",
                index.offset, index.length
            ),
        });
    }
    Ok(TailOutcome::Complete(end))
}
