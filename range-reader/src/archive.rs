//! Reading archives through a [`RangeSource`]: the driver loop of the sans-io core, the
//! table index path (one table without reading the whole central directory), and
//! streaming members with CRC-32 and size verification.

use std::io::Read;
use std::ops::Range;

use archive_format::manifest::{INDEX_NAME, MANIFEST_NAME, Manifest, TableIndex, TableSummary};
use archive_format::read::{
    CentralDirectoryParser, Directory, DirectoryReader, EndRecords, Entry, EntryKind, LocalRecord,
    Opened, TAIL_LEN,
};
use archive_format::spec::local::LocalFileHeader;
use archive_format::spec::{METHOD_DEFLATE, METHOD_STORED};

use crate::memory::Memory;
use crate::source::{RangeSource, STREAM_CHUNK};
use crate::{Error, Result};

/// Runs a [`DirectoryReader`] to completion against `source`. The first read is a
/// suffix read, so remote sources learn the length from it without a HEAD request.
pub fn drive(source: &dyn RangeSource, want_index: bool) -> Result<Opened> {
    let fmt = |e| Error::format(source.name(), e);
    let (offset, tail) = source.read_suffix(TAIL_LEN)?;
    let file_len = offset + tail.len() as u64;
    let mut reader = if want_index {
        DirectoryReader::index(file_len)
    } else {
        DirectoryReader::full(file_len)
    };
    reader.fill(offset, &tail).map_err(fmt)?;
    while let Some(range) = reader.wants_read() {
        let bytes = source.read_range(range.clone())?;
        reader.fill(range.start, &bytes).map_err(fmt)?;
    }
    reader.finish().map_err(fmt)
}

/// Reads and validates the whole central directory.
pub fn open_directory(source: &dyn RangeSource) -> Result<Directory> {
    match drive(source, false)? {
        Opened::Directory(directory) => Ok(directory),
        _ => Err(Error::format(
            source.name(),
            archive_format::Error::Manifest {
                reason: "directory reader returned no directory".into(),
            },
        )),
    }
}

/// An archive opened for table-level access: through the lakezip index when it has one
/// (the central directory is then read one table slice at a time), else through the
/// whole central directory (foreign archives).
#[derive(Debug)]
pub enum TableView {
    /// A lakezip archive: end records and the table index.
    Indexed(EndRecords, TableIndex),
    /// Any other archive: its whole directory.
    Directory(Directory),
}

/// Opens `source` for table-level access (see [`TableView`]).
pub fn open_tables(source: &dyn RangeSource) -> Result<TableView> {
    Ok(match drive(source, true)? {
        Opened::Index(end, index) => TableView::Indexed(end, index),
        Opened::NoIndex(_) => TableView::Directory(open_directory(source)?),
        Opened::Directory(directory) => TableView::Directory(directory),
    })
}

/// Reads one table's slice of the central directory and validates it against the table's
/// data range from the index.
pub fn table_entries(
    source: &dyn RangeSource,
    end: &EndRecords,
    table: &TableSummary,
) -> Result<Vec<Entry>> {
    let fmt = |e| Error::format(source.name(), e);
    let [start, stop] = table.central_directory_range;
    let range = end.central_directory_offset + start..end.central_directory_offset + stop;
    let mut parser = CentralDirectoryParser::new(range, table.files);
    while let Some(piece) = parser.wants() {
        let bytes = source.read_range(piece.clone())?;
        parser.feed(piece.start, &bytes).map_err(fmt)?;
    }
    let entries = parser.finish().map_err(fmt)?;
    let [data_start, data_end] = table.data_range;
    let directory = Directory::new(end.clone(), entries, data_start..data_end).map_err(fmt)?;
    Ok(directory.into_entries())
}

/// Reads the embedded manifest that the index points at.
pub fn read_manifest(source: &dyn RangeSource, index: &TableIndex) -> Result<Manifest> {
    let fmt = |e| Error::format(source.name(), e);
    let m = index.manifest;
    let bytes = source.read_range(m.offset..m.offset + m.length)?;
    let actual = crc32fast::hash(&bytes);
    if actual != m.crc32 {
        return Err(fmt(archive_format::Error::CrcMismatch {
            name: MANIFEST_NAME.into(),
            expected: m.crc32,
            actual,
        }));
    }
    Manifest::parse(&bytes).map_err(fmt)
}

/// Members whose local record (header and data) is at most this long are read in one
/// request.
const SMALL_RECORD: u64 = 1024 * 1024;
/// Extra bytes read after the name when guessing a local header's length; our writer's
/// extra fields take at most 29.
const HEADER_SLACK: u64 = 256;

/// An entry's local record, checked against the central entry.
struct Located {
    data_offset: u64,
    /// The data itself, when it came with the header in one read.
    data: Option<Vec<u8>>,
}

/// Reads and checks an entry's local header. Small records are read whole, so their data
/// costs no second request.
fn locate(source: &dyn RangeSource, entry: &Entry) -> Result<Located> {
    let fmt = |e| Error::format(source.name(), e);
    let start = entry.local_header_offset;
    let span = entry.span_limit.saturating_sub(start);
    let mut bytes = if span <= SMALL_RECORD {
        source.read_range(start..start + span)?
    } else {
        let guess =
            archive_format::spec::local::FIXED_LEN as u64 + entry.raw_name_len + HEADER_SLACK;
        source.read_range(start..start + guess.min(span))?
    };
    let needed = LocalFileHeader::total_len(&bytes).unwrap_or(0) as u64;
    if needed > bytes.len() as u64 && needed <= span {
        bytes = source.read_range(start..start + needed)?;
    }
    let record = LocalRecord::check(entry, &bytes).map_err(fmt)?;
    let data_start = (record.data_offset - start) as usize;
    let data_end = data_start as u64 + entry.compressed_size;
    let data =
        (data_end <= bytes.len() as u64).then(|| bytes[data_start..data_end as usize].to_vec());
    Ok(Located {
        data_offset: record.data_offset,
        data,
    })
}

/// Reads and checks an entry's local header; returns where its data starts.
pub fn locate_data(source: &dyn RangeSource, entry: &Entry) -> Result<u64> {
    Ok(locate(source, entry)?.data_offset)
}

/// A [`Read`] over a byte range of a source, fetched a chunk at a time. A failed read
/// keeps its [`Error`] in `error` (the `io::Error` only carries its message).
struct RangeRead<S> {
    source: S,
    range: Range<u64>,
    chunk: Vec<u8>,
    chunk_at: usize,
    error: Option<Error>,
}

impl<S> RangeRead<S> {
    fn new(source: S, range: Range<u64>) -> Self {
        RangeRead {
            source,
            range,
            chunk: Vec::new(),
            chunk_at: 0,
            error: None,
        }
    }
}

impl<S: RangeSource> Read for RangeRead<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.chunk_at == self.chunk.len() {
            if self.range.start == self.range.end {
                return Ok(0);
            }
            let end = self.range.end.min(self.range.start + STREAM_CHUNK);
            match self.source.read_range(self.range.start..end) {
                Ok(bytes) => {
                    self.chunk = bytes;
                    self.chunk_at = 0;
                    self.range.start = end;
                }
                Err(e) => {
                    let message = e.to_string();
                    self.error = Some(e);
                    return Err(std::io::Error::other(message));
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.chunk_at);
        buf[..n].copy_from_slice(&self.chunk[self.chunk_at..self.chunk_at + n]);
        self.chunk_at += n;
        Ok(n)
    }
}

/// Streams an entry's uncompressed content to `sink`, checking the local header, the
/// size and the CRC-32. Stored and deflate members are supported. The sink sees bytes
/// before the CRC is known: callers that must not keep bad data write to a temporary.
pub fn stream_entry(
    source: &dyn RangeSource,
    entry: &Entry,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let fmt = |e| Error::format(source.name(), e);
    if entry.kind == EntryKind::Symlink {
        return Err(Error::Refused {
            name: entry.name.clone(),
            reason: "it is a symbolic link".into(),
        });
    }
    if entry.method != METHOD_STORED && entry.method != METHOD_DEFLATE {
        return Err(fmt(archive_format::Error::UnsupportedCompression {
            name: entry.name.clone(),
            method: entry.method,
        }));
    }
    let located = locate(source, entry)?;
    let data_offset = located.data_offset;
    let data = data_offset..data_offset + entry.compressed_size;
    let mut hasher = crc32fast::Hasher::new();
    let mut total = 0u64;
    let mut take = |bytes: &[u8]| -> Result<()> {
        total += bytes.len() as u64;
        if total > entry.uncompressed_size {
            return Err(fmt(archive_format::Error::SizeMismatch {
                name: entry.name.clone(),
                expected: entry.uncompressed_size,
                actual: total,
            }));
        }
        hasher.update(bytes);
        sink(bytes)
    };
    let in_memory = located.data.map(|bytes| Memory::new(source.name(), bytes));
    let source: &dyn RangeSource = match &in_memory {
        Some(memory) => memory,
        None => source,
    };
    let data = if in_memory.is_some() {
        0..entry.compressed_size
    } else {
        data
    };
    if entry.method == METHOD_STORED {
        source.read_range_with(data, &mut take)?;
    } else {
        let mut input = RangeRead::new(source, data);
        let mut decoder = flate2::read::DeflateDecoder::new(&mut input);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match decoder.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    drop(decoder);
                    if let Some(error) = input.error.take() {
                        return Err(error);
                    }
                    return Err(fmt(archive_format::Error::Invalid {
                        record: "deflate stream",
                        offset: data_offset,
                        reason: format!("entry {:?}: {e}", entry.name),
                    }));
                }
            };
            if n == 0 {
                break;
            }
            take(&buf[..n])?;
        }
        // Bytes after the end of the deflate stream but inside the member would be
        // hidden from every reader; the data phase (`fetch`) refuses them too.
        let consumed = decoder.total_in();
        if consumed != entry.compressed_size {
            return Err(fmt(archive_format::Error::Invalid {
                record: "deflate stream",
                offset: data_offset,
                reason: format!(
                    "entry {:?}: the stream ends after {consumed} of the member's {} bytes",
                    entry.name, entry.compressed_size
                ),
            }));
        }
    }
    if total != entry.uncompressed_size {
        return Err(fmt(archive_format::Error::SizeMismatch {
            name: entry.name.clone(),
            expected: entry.uncompressed_size,
            actual: total,
        }));
    }
    let actual = hasher.finalize();
    if actual != entry.crc32 {
        return Err(fmt(archive_format::Error::CrcMismatch {
            name: entry.name.clone(),
            expected: entry.crc32,
            actual,
        }));
    }
    Ok(())
}

/// Reads one member fully into memory (for small metadata members).
pub fn read_entry(source: &dyn RangeSource, entry: &Entry) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    stream_entry(source, entry, &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })?;
    Ok(out)
}

/// Checks that a whole archive's embedded manifest and index agree with its central
/// directory. `None` when the archive has no lakezip metadata.
pub fn check_lakezip_metadata(
    source: &dyn RangeSource,
    directory: &Directory,
) -> Result<Option<Manifest>> {
    let fmt = |e| Error::format(source.name(), e);
    let manifest_reason = |reason: String| fmt(archive_format::Error::Manifest { reason });
    let pointer = directory.end().index;
    let (Some(index_entry), Some(pointer)) = (directory.get(INDEX_NAME), pointer) else {
        if directory.get(MANIFEST_NAME).is_some() || pointer.is_some() {
            return Err(manifest_reason(
                "the archive has lakezip metadata but its table index is missing or not pointed at by the comment".into(),
            ));
        }
        return Ok(None);
    };
    let data_offset = locate_data(source, index_entry)?;
    if data_offset != pointer.offset
        || index_entry.uncompressed_size != pointer.length
        || index_entry.crc32 != pointer.crc32
    {
        return Err(manifest_reason(
            "the archive comment does not point at the table index member".into(),
        ));
    }
    let index_bytes = read_entry(source, index_entry)?;
    let index = TableIndex::parse(&index_bytes, &pointer, directory.end()).map_err(fmt)?;
    let manifest = read_manifest(source, &index)?;
    archive_format::manifest::check_consistency(&manifest, &index, directory).map_err(fmt)?;
    Ok(Some(manifest))
}

/// A [`Read`] over one stored member's content, fetched a chunk at a time; at the end its
/// size and CRC-32 are checked (a mismatch is an I/O error). Used to copy members from
/// one archive into another without holding them in memory.
pub struct EntryReader<S> {
    data: RangeRead<S>,
    name: String,
    expected_crc32: u32,
    hasher: crc32fast::Hasher,
}

impl<S: RangeSource> EntryReader<S> {
    /// Checks the member's local header and prepares to read its data.
    pub fn new(source: S, entry: &Entry) -> Result<Self> {
        if entry.method != METHOD_STORED {
            return Err(Error::format(
                source.name(),
                archive_format::Error::UnsupportedCompression {
                    name: entry.name.clone(),
                    method: entry.method,
                },
            ));
        }
        let data_offset = locate_data(&source, entry)?;
        Ok(EntryReader {
            data: RangeRead::new(source, data_offset..data_offset + entry.compressed_size),
            name: entry.name.clone(),
            expected_crc32: entry.crc32,
            hasher: crc32fast::Hasher::new(),
        })
    }
}

impl<S: RangeSource> Read for EntryReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let actual = self.hasher.clone().finalize();
            if actual != self.expected_crc32 {
                return Err(std::io::Error::other(format!(
                    "{}: entry {:?}: crc-32 mismatch (expected {:08x}, computed {actual:08x})",
                    self.data.source.name(),
                    self.name,
                    self.expected_crc32
                )));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
