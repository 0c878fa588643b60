//! The sans-io reader core.
//!
//! Nothing here does I/O. [`DirectoryReader`] says which byte range it wants next
//! ([`DirectoryReader::wants_read`]); the caller reads it from wherever the archive lives
//! and hands it back ([`DirectoryReader::fill`]). The same code therefore drives a local
//! file, an HTTP server or S3, and tests can feed it one byte at a time.
//!
//! ```
//! use archive_format::read::{DirectoryReader, Opened};
//! # fn demo(archive: &[u8]) -> archive_format::Result<()> {
//! let mut reader = DirectoryReader::full(archive.len() as u64);
//! while let Some(range) = reader.wants_read() {
//!     let bytes = &archive[range.start as usize..range.end as usize];
//!     reader.fill(range.start, bytes)?;
//! }
//! let Opened::Directory(directory) = reader.finish()? else { unreachable!() };
//! for entry in directory.entries() {
//!     println!("{} {}", entry.name, entry.uncompressed_size);
//! }
//! # Ok(()) }
//! ```
//!
//! Everything trusted is validated: offsets and sizes inside the file, entries that do
//! not overlap, names that stay inside the target directory, no duplicates, entry counts
//! consistent with sizes (memory is never allocated by a declared count), and — when the
//! data is read — the local header agreeing with the central entry
//! ([`LocalRecord::check`]).

mod entry;
mod tail;

use std::collections::HashSet;
use std::ops::Range;

pub use entry::{Entry, EntryKind};
pub use tail::{EndRecords, MAX_TAIL_LEN, TAIL_LEN, TailOutcome, first_read};

use crate::manifest::TableIndex;
use crate::spec::central::{self, CentralDirectoryHeader};
use crate::spec::extra::{ExtraFields, Zip64Needs, Zip64Values};
use crate::spec::local::LocalFileHeader;
use crate::spec::{self, U32_MAX};
use crate::{Error, Result, name};

/// Parses every central directory header in `bytes` (which start at absolute `offset`).
///
/// `expected` is the number of entries the caller expects; the bytes must hold exactly
/// that many headers and nothing else.
pub fn parse_central_directory(bytes: &[u8], offset: u64, expected: u64) -> Result<Vec<Entry>> {
    let mut parser = CentralDirectoryParser::new(offset..offset + bytes.len() as u64, expected);
    parser.feed(offset, bytes)?;
    parser.finish()
}

/// How many bytes of a central directory are read at a time: memory for the raw bytes
/// stays bounded whatever size the end records claim, and a lie is found in the first
/// piece that does not parse.
pub const CENTRAL_DIRECTORY_PIECE: u64 = 8 * 1024 * 1024;

/// Parses a central directory fed in consecutive pieces of any size (a header may span
/// pieces). Holds at most one partial header besides the entries parsed so far.
#[derive(Debug)]
pub struct CentralDirectoryParser {
    range: Range<u64>,
    expected: u64,
    /// Absolute offset of the first byte not yet fed.
    next: u64,
    /// Bytes of a header begun in an earlier piece (they start at `next - carry.len()`).
    carry: Vec<u8>,
    entries: Vec<Entry>,
}

impl CentralDirectoryParser {
    /// A parser for the central directory at `range` that must hold `expected` entries.
    pub fn new(range: Range<u64>, expected: u64) -> Self {
        // Never allocate by a declared count: a header takes at least 46 bytes.
        let bound = (range.end - range.start) / central::FIXED_LEN as u64;
        let capacity = expected.min(bound).min(CENTRAL_DIRECTORY_PIECE);
        CentralDirectoryParser {
            next: range.start,
            range,
            expected,
            carry: Vec::new(),
            entries: Vec::with_capacity(capacity as usize),
        }
    }

    /// The next piece to feed, or `None` when every byte has been fed.
    pub fn wants(&self) -> Option<Range<u64>> {
        (self.next < self.range.end)
            .then(|| self.next..self.range.end.min(self.next + CENTRAL_DIRECTORY_PIECE))
    }

    /// Parses the bytes at `offset`, which must be the next ones.
    pub fn feed(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        if offset != self.next || offset + bytes.len() as u64 > self.range.end {
            return Err(Error::invalid(
                "central directory",
                offset,
                format!(
                    "got {} bytes at offset {offset}, wanted them from {} within {}..{}",
                    bytes.len(),
                    self.next,
                    self.range.start,
                    self.range.end
                ),
            ));
        }
        self.next += bytes.len() as u64;
        let mut joined;
        let (mut at, data, base) = if self.carry.is_empty() {
            (0usize, bytes, offset)
        } else {
            joined = std::mem::take(&mut self.carry);
            let base = offset - joined.len() as u64;
            joined.extend_from_slice(bytes);
            (0usize, &joined[..], base)
        };
        while at < data.len() {
            let rest = &data[at..];
            let header_offset = base + at as u64;
            let complete = CentralDirectoryHeader::total_len(rest).is_some_and(|n| n <= rest.len());
            if !complete && self.next < self.range.end {
                // The rest is checked when it arrives; a bad signature is refused now.
                if rest.len() >= 4 && rest[..4] != central::SIGNATURE.to_le_bytes() {
                    CentralDirectoryHeader::parse(rest, header_offset)?;
                }
                self.carry = rest.to_vec();
                return Ok(());
            }
            if self.entries.len() as u64 == self.expected {
                return Err(Error::invalid(
                    "central directory",
                    header_offset,
                    format!(
                        "{} bytes follow the {} declared entries",
                        self.range.end - header_offset,
                        self.expected
                    ),
                ));
            }
            let (header, len) = CentralDirectoryHeader::parse(rest, header_offset)?;
            self.entries
                .push(Entry::from_header(&header, header_offset, len as u64)?);
            at += len;
        }
        Ok(())
    }

    /// The entries, once every byte has been fed.
    pub fn finish(self) -> Result<Vec<Entry>> {
        if self.next != self.range.end || !self.carry.is_empty() {
            return Err(Error::invalid(
                "central directory",
                self.next,
                "ended before its last header was complete",
            ));
        }
        if self.entries.len() as u64 != self.expected {
            return Err(Error::invalid(
                "central directory",
                self.range.start,
                format!(
                    "declares {} entries but holds {}",
                    self.expected,
                    self.entries.len()
                ),
            ));
        }
        Ok(self.entries)
    }
}

/// A validated set of entries: every name safe and unique, every entry's bytes inside
/// `region` and disjoint from the others.
#[derive(Debug, Clone)]
pub struct Directory {
    end: EndRecords,
    entries: Vec<Entry>,
}

impl Directory {
    /// Validates `entries`, all of whose bytes must lie in `region` (for a whole archive:
    /// from 0 to the central directory). Sets each entry's `span_limit`.
    pub fn new(end: EndRecords, mut entries: Vec<Entry>, region: Range<u64>) -> Result<Self> {
        let mut names = HashSet::with_capacity(entries.len());
        for entry in &entries {
            if !names.insert(entry.name.as_str()) {
                return Err(Error::DuplicateName {
                    name: entry.name.clone(),
                });
            }
        }
        drop(names);
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| entries[i].local_header_offset);
        for (position, &i) in order.iter().enumerate() {
            let entry = &entries[i];
            let limit = match order.get(position + 1) {
                Some(&next) => entries[next].local_header_offset,
                None => region.end,
            };
            let end = entry
                .local_header_offset
                .checked_add(entry.minimal_local_span());
            if entry.local_header_offset < region.start || end.is_none_or(|e| e > region.end) {
                return Err(Error::invalid(
                    "central directory header",
                    entry.central_offset,
                    format!(
                        "data of {:?} (offset {}, {} bytes) lies outside the member area {}..{}",
                        entry.name,
                        entry.local_header_offset,
                        entry.compressed_size,
                        region.start,
                        region.end
                    ),
                ));
            }
            if end.is_some_and(|e| e > limit) {
                let next = order[position + 1];
                return Err(Error::Overlap {
                    first: entry.name.clone(),
                    second: entries[next].name.clone(),
                    offset: limit,
                });
            }
            entries[i].span_limit = limit;
        }
        Ok(Directory { end, entries })
    }

    /// The entries in central directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Consumes the directory, returning its entries.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// The end records the directory was found through.
    pub fn end(&self) -> &EndRecords {
        &self.end
    }

    /// Looks an entry up by name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// What [`DirectoryReader`] produced.
#[derive(Debug)]
pub enum Opened {
    /// The whole central directory, validated.
    Directory(Directory),
    /// The lakezip table index (only in [`DirectoryReader::index`] mode, when the archive
    /// has one). The central directory was not read.
    Index(EndRecords, TableIndex),
    /// No lakezip index: a foreign archive. Read the whole central directory instead.
    NoIndex(EndRecords),
}

#[derive(Debug)]
enum State {
    Tail,
    MoreTail(Range<u64>),
    Zip64Record(Range<u64>),
    CentralDirectory(EndRecords, CentralDirectoryParser),
    Index(EndRecords),
    Done(Opened),
    Failed,
}

/// The sans-io state machine that finds the end records, then either the whole central
/// directory or the lakezip table index.
#[derive(Debug)]
pub struct DirectoryReader {
    file_len: u64,
    want_index: bool,
    state: State,
    /// The tail read, kept so later steps that fall inside it cost no request.
    tail: (u64, Vec<u8>),
}

impl DirectoryReader {
    /// Reads the end records and the whole central directory.
    pub fn full(file_len: u64) -> Self {
        Self::new(file_len, false)
    }

    /// Reads the end records and, if the comment points at one, the lakezip table index
    /// (so that one table can be read without the rest of the central directory).
    pub fn index(file_len: u64) -> Self {
        Self::new(file_len, true)
    }

    fn new(file_len: u64, want_index: bool) -> Self {
        DirectoryReader {
            file_len,
            want_index,
            state: State::Tail,
            tail: (file_len, Vec::new()),
        }
    }

    /// The byte range to read next, or `None` when [`finish`](Self::finish) can be called.
    pub fn wants_read(&self) -> Option<Range<u64>> {
        match &self.state {
            State::Tail => Some(first_read(self.file_len)),
            State::MoreTail(r) | State::Zip64Record(r) => Some(r.clone()),
            State::CentralDirectory(_, parser) => parser.wants(),
            State::Index(end) => end.index.as_ref().map(|p| p.offset..p.offset + p.length),
            State::Done(_) | State::Failed => None,
        }
    }

    /// Supplies the bytes of the range [`wants_read`](Self::wants_read) asked for.
    pub fn fill(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let Some(wanted) = self.wants_read() else {
            return Ok(());
        };
        if offset != wanted.start || bytes.len() as u64 != wanted.end - wanted.start {
            self.state = State::Failed;
            return Err(Error::invalid(
                "read",
                offset,
                format!(
                    "got {} bytes at offset {offset}, wanted {}..{}",
                    bytes.len(),
                    wanted.start,
                    wanted.end
                ),
            ));
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        self.state = self.step(state, offset, bytes)?;
        // Steps whose bytes are already in the tail need no request.
        while let Some(range) = self.wants_read() {
            let (tail_offset, tail) = &self.tail;
            if range.start < *tail_offset || range.end > tail_offset + tail.len() as u64 {
                break;
            }
            let start = (range.start - tail_offset) as usize;
            let slice = tail[start..start + (range.end - range.start) as usize].to_vec();
            let state = std::mem::replace(&mut self.state, State::Failed);
            self.state = self.step(state, range.start, &slice)?;
        }
        Ok(())
    }

    fn step(&mut self, state: State, offset: u64, bytes: &[u8]) -> Result<State> {
        let outcome = match state {
            State::Tail | State::MoreTail(_) => {
                self.tail = (offset, bytes.to_vec());
                tail::parse(self.file_len, offset, bytes, None)?
            }
            State::Zip64Record(_) => {
                let (tail_offset, tail) = &self.tail;
                tail::parse(self.file_len, *tail_offset, tail, Some((offset, bytes)))?
            }
            State::CentralDirectory(end, mut parser) => {
                parser.feed(offset, bytes)?;
                return directory_when_complete(end, parser);
            }
            State::Index(end) => {
                let Some(pointer) = &end.index else {
                    return Ok(State::Done(Opened::NoIndex(end)));
                };
                let index = TableIndex::parse(bytes, pointer, &end)?;
                return Ok(State::Done(Opened::Index(end, index)));
            }
            done @ (State::Done(_) | State::Failed) => return Ok(done),
        };
        Ok(match outcome {
            TailOutcome::Need(range) if range.end == self.file_len => State::MoreTail(range),
            TailOutcome::Need(range) => State::Zip64Record(range),
            TailOutcome::Complete(end) if self.want_index => {
                if let Some(pointer) = &end.index {
                    check_index_length(pointer.length, &end)?;
                    State::Index(end)
                } else {
                    State::Done(Opened::NoIndex(end))
                }
            }
            TailOutcome::Complete(end) => {
                let parser =
                    CentralDirectoryParser::new(end.central_directory_range(), end.entries);
                directory_when_complete(end, parser)?
            }
        })
    }

    /// The result, once [`wants_read`](Self::wants_read) returns `None`.
    pub fn finish(self) -> Result<Opened> {
        match self.state {
            State::Done(opened) => Ok(opened),
            _ => Err(Error::invalid(
                "read",
                0,
                "directory reader finished before it had all its bytes",
            )),
        }
    }
}

/// An index is a few hundred bytes per table, and every table has at least one central
/// directory header that repeats its path; a claimed length past this bound is a lie,
/// refused before anything is allocated for it.
fn check_index_length(length: u64, end: &EndRecords) -> Result<()> {
    let bound = (1 << 20) + 16 * end.central_directory_size;
    if length > bound {
        return Err(Error::Manifest {
            reason: format!(
                "the table index pointer claims {length} bytes, more than an index for a central directory of {} bytes can take ({bound})",
                end.central_directory_size
            ),
        });
    }
    Ok(())
}

/// The directory once `parser` has every byte, else the state that reads on.
fn directory_when_complete(end: EndRecords, parser: CentralDirectoryParser) -> Result<State> {
    if parser.wants().is_some() {
        return Ok(State::CentralDirectory(end, parser));
    }
    let region = 0..end.central_directory_offset;
    let entries = parser.finish()?;
    Ok(State::Done(Opened::Directory(Directory::new(
        end, entries, region,
    )?)))
}

/// A validated local header: where the entry's data starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalRecord {
    /// Absolute offset of the first data byte.
    pub data_offset: u64,
}

impl LocalRecord {
    /// Parses the local header in `bytes` (starting at `entry.local_header_offset`) and
    /// checks it against the central entry: name, method, flags, and — unless a data
    /// descriptor follows — CRC-32 and sizes. The data must end before the next entry.
    pub fn check(entry: &Entry, bytes: &[u8]) -> Result<Self> {
        let offset = entry.local_header_offset;
        let (header, header_len) = LocalFileHeader::parse(bytes, offset)?;
        let mismatch = |field: &'static str, central: String, local: String| Error::LocalMismatch {
            name: entry.name.clone(),
            field,
            central,
            local,
        };
        let extra = ExtraFields::parse(&header.extra, "local file header", offset)?;
        let local_name = name::decode(
            &header.name,
            header.flags & spec::FLAG_UTF8 != 0,
            extra.unicode_path.as_ref(),
        )
        .unwrap_or_else(|_| String::from_utf8_lossy(&header.name).into_owned());
        if local_name != entry.name {
            return Err(mismatch("name", entry.name.clone(), local_name));
        }
        if header.method != entry.method {
            return Err(mismatch(
                "compression method",
                entry.method.to_string(),
                header.method.to_string(),
            ));
        }
        if header.flags & spec::FLAG_ENCRYPTED != 0 {
            return Err(Error::Encrypted {
                name: entry.name.clone(),
            });
        }
        let descriptor = header.flags & spec::FLAG_DATA_DESCRIPTOR != 0;
        let zip64 = Zip64Values::resolve(
            extra.zip64.as_deref(),
            Zip64Needs {
                uncompressed: header.uncompressed_size == U32_MAX,
                compressed: header.compressed_size == U32_MAX,
                ..Default::default()
            },
            "local file header",
            offset,
        )?;
        let compressed = zip64
            .compressed
            .unwrap_or(u64::from(header.compressed_size));
        let uncompressed = zip64
            .uncompressed
            .unwrap_or(u64::from(header.uncompressed_size));
        // With a data descriptor the local fields may be zero; otherwise they must agree.
        let agrees = |local: u64, central: u64| local == central || (descriptor && local == 0);
        if !agrees(u64::from(header.crc32), u64::from(entry.crc32)) {
            return Err(mismatch(
                "crc-32",
                format!("{:08x}", entry.crc32),
                format!("{:08x}", header.crc32),
            ));
        }
        if !agrees(compressed, entry.compressed_size) {
            return Err(mismatch(
                "compressed size",
                entry.compressed_size.to_string(),
                compressed.to_string(),
            ));
        }
        if !agrees(uncompressed, entry.uncompressed_size) {
            return Err(mismatch(
                "uncompressed size",
                entry.uncompressed_size.to_string(),
                uncompressed.to_string(),
            ));
        }
        let data_offset = offset + header_len as u64;
        let data_end = data_offset.checked_add(entry.compressed_size);
        if data_end.is_none_or(|end| end > entry.span_limit) {
            return Err(Error::invalid(
                "local file header",
                offset,
                format!(
                    "data of {:?} ({} bytes from offset {data_offset}) runs into the next record at offset {}",
                    entry.name, entry.compressed_size, entry.span_limit
                ),
            ));
        }
        Ok(LocalRecord { data_offset })
    }
}

/// True if `name` is one of the archive's own metadata members.
pub fn is_lakezip_member(name: &str) -> bool {
    name.starts_with(crate::manifest::METADATA_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, offset: u32) -> Vec<u8> {
        let mut out = Vec::new();
        CentralDirectoryHeader {
            version_made_by: 0x031e,
            version_needed: 20,
            flags: spec::FLAG_UTF8,
            method: spec::METHOD_STORED,
            dos_time: 0,
            dos_date: 0x21,
            crc32: 0,
            compressed_size: 0,
            uncompressed_size: 0,
            disk_start: 0,
            internal_attributes: 0,
            external_attributes: 0,
            local_header_offset: offset,
            name: name.as_bytes().to_vec(),
            extra: vec![],
            comment: b"c".to_vec(),
        }
        .encode(&mut out);
        out
    }

    fn directory(count: u32) -> Vec<u8> {
        (0..count)
            .flat_map(|i| header(&format!("t/data/part-{i:05}.parquet"), i * 100))
            .collect()
    }

    #[test]
    fn pieces_of_any_size_give_the_same_entries() {
        let bytes = directory(50);
        let whole = parse_central_directory(&bytes, 1000, 50).expect("whole");
        assert_eq!(whole.len(), 50);
        for piece in [1, 2, 45, 46, 47, 100, 4096] {
            let mut parser = CentralDirectoryParser::new(1000..1000 + bytes.len() as u64, 50);
            for (i, chunk) in bytes.chunks(piece).enumerate() {
                parser
                    .feed(1000 + (i * piece) as u64, chunk)
                    .expect("piece");
            }
            assert_eq!(parser.finish().expect("finish"), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn a_lie_is_found_in_the_first_piece_that_does_not_parse() {
        // One real header, then what the end records claim is 1 GiB more of directory.
        let real = header("a.txt", 0);
        let claimed = 1u64 << 30;
        let mut parser = CentralDirectoryParser::new(0..claimed, 1);
        let piece = parser.wants().expect("a piece");
        assert_eq!(piece, 0..CENTRAL_DIRECTORY_PIECE);
        let mut bytes = real.clone();
        bytes.resize(CENTRAL_DIRECTORY_PIECE as usize, 0);
        let message = parser.feed(0, &bytes).expect_err("zeros").to_string();
        assert!(
            message.contains("follow the 1 declared entries"),
            "{message}"
        );
        // A bad signature is refused even when the header is cut by the piece's end.
        let mut bytes = header("a.txt", 0);
        bytes.extend_from_slice(b"XXXXpart of a header");
        let mut parser = CentralDirectoryParser::new(0..bytes.len() as u64 + 100, 2);
        let message = parser
            .feed(0, &bytes)
            .expect_err("bad signature")
            .to_string();
        assert!(message.contains("signature"), "{message}");
        let mut parser = CentralDirectoryParser::new(0..100, 1);
        assert!(parser.feed(5, b"x").is_err(), "out of order");
    }

    #[test]
    fn a_header_cut_by_the_end_of_the_directory_is_refused() {
        let bytes = directory(2);
        let cut = &bytes[..bytes.len() - 3];
        let mut parser = CentralDirectoryParser::new(0..cut.len() as u64, 2);
        let message = parser
            .feed(0, cut)
            .and_then(|()| parser.finish().map(|_| ()))
            .expect_err("cut")
            .to_string();
        assert!(message.contains("central directory header"), "{message}");
    }
}
