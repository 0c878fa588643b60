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
    // Never allocate by a declared count: a header takes at least 46 bytes.
    let bound = (bytes.len() / central::FIXED_LEN) as u64;
    let mut entries = Vec::with_capacity(expected.min(bound) as usize);
    let mut at = 0usize;
    while at < bytes.len() {
        if entries.len() as u64 == expected {
            return Err(Error::invalid(
                "central directory",
                offset + at as u64,
                format!(
                    "{} bytes follow the {expected} declared entries",
                    bytes.len() - at
                ),
            ));
        }
        let header_offset = offset + at as u64;
        let (header, len) = CentralDirectoryHeader::parse(&bytes[at..], header_offset)?;
        entries.push(Entry::from_header(&header, header_offset, len as u64)?);
        at += len;
    }
    if entries.len() as u64 != expected {
        return Err(Error::invalid(
            "central directory",
            offset,
            format!("declares {expected} entries but holds {}", entries.len()),
        ));
    }
    Ok(entries)
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
    CentralDirectory(EndRecords),
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
            State::CentralDirectory(end) => Some(end.central_directory_range()),
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
            State::CentralDirectory(end) => {
                let entries = parse_central_directory(bytes, offset, end.entries)?;
                let region = 0..end.central_directory_offset;
                return Ok(State::Done(Opened::Directory(Directory::new(
                    end, entries, region,
                )?)));
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
                if end.index.is_some() {
                    State::Index(end)
                } else {
                    State::Done(Opened::NoIndex(end))
                }
            }
            TailOutcome::Complete(end) => State::CentralDirectory(end),
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
