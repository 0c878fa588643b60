//! The writer: a streaming store-mode ZIP writer ([`ZipWriter`]) and the table-grouping
//! packer built on it ([`pack`]).
//!
//! Local headers always carry the real CRC-32 and sizes (no data descriptors): small
//! members are read into memory first; for larger ones the caller either gives the CRC-32
//! up front (it is checked against the bytes as they are copied), or the output can
//! patch ([`ArchiveOutput::can_patch`], a seekable file) and the CRC-32 is written into
//! the local header afterwards. ZIP64 extra fields and end records are written exactly
//! when a size, offset or count needs them.

mod pack;

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, Read, Seek, SeekFrom, Write};

pub use pack::{OpenSource, Opened, PackOptions, PackOutcome, PackProgress, pack};

use crate::spec::central::CentralDirectoryHeader;
use crate::spec::eocd::EndOfCentralDirectory;
use crate::spec::extra::{encode_mtime, encode_zip64};
use crate::spec::local::{self, LocalFileHeader};
use crate::spec::zip64::{Zip64EndOfCentralDirectory, Zip64Locator};
use crate::spec::{self, U16_MAX, U32_MAX, time};
use crate::{Error, Result, name};

/// Members up to this size are read into memory so their header is written once.
const BUFFER_LIMIT: u64 = 1024 * 1024;
/// Copy buffer for streamed members.
const COPY_BUFFER: usize = 1024 * 1024;

/// Where an archive is written: a byte stream that may or may not be able to go back and
/// overwrite the CRC-32 of a local header already written.
pub trait ArchiveOutput: Write {
    /// Whether [`ArchiveOutput::patch`] works.
    fn can_patch(&self) -> bool;
    /// Overwrites bytes at `offset` (from the start of the output) and returns to the end.
    fn patch(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
}

/// Seekable outputs (files) patch by seeking.
impl<W: Write + Seek> ArchiveOutput for W {
    fn can_patch(&self) -> bool {
        true
    }

    fn patch(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let end = self.stream_position()?;
        self.seek(SeekFrom::Start(offset))?;
        self.write_all(bytes)?;
        self.seek(SeekFrom::Start(end))?;
        Ok(())
    }
}

/// A forward-only output (an upload stream): every member larger than the in-memory limit
/// needs its CRC-32 before its data.
#[derive(Debug)]
pub struct Streaming<W: Write>(pub W);

impl<W: Write> Write for Streaming<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> ArchiveOutput for Streaming<W> {
    fn can_patch(&self) -> bool {
        false
    }

    fn patch(&mut self, _offset: u64, _bytes: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a streaming output cannot go back",
        ))
    }
}

/// Members up to this size are read into memory, so their CRC-32 is known before their
/// header is written whatever the output.
pub const IN_MEMORY_LIMIT: u64 = BUFFER_LIMIT;

/// Metadata of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMeta {
    /// Name in the archive (checked with [`name::check_safe`]).
    pub name: String,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// Unix permission bits.
    pub mode: u32,
}

/// Where a member ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenMember {
    /// Offset of its local header.
    pub local_header_offset: u64,
    /// Offset of its data.
    pub data_offset: u64,
    /// Size of its data.
    pub size: u64,
    /// CRC-32 of its data.
    pub crc32: u32,
}

/// A streaming writer of store-mode ZIP archives.
#[derive(Debug)]
pub struct ZipWriter<W: ArchiveOutput> {
    out: W,
    position: u64,
    /// The central directory so far, encoded: what stays in memory per member is its
    /// central header, in blocks so that growth never copies or doubles it.
    central: Vec<Vec<u8>>,
    /// Members added.
    count: u64,
    /// A 64-bit hash of every name added (a name is held once, in `central`; a hash hit
    /// is confirmed against it). `None` when the caller checked the names are unique.
    names: Option<HashSet<u64>>,
    buffer: Vec<u8>,
}

/// Size of a block of [`ZipWriter::central`].
const CENTRAL_BLOCK: usize = 1024 * 1024;

/// The hash of a member name in [`ZipWriter::names`].
fn name_hash(name: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(name)
}

impl<W: ArchiveOutput> ZipWriter<W> {
    /// Starts an archive at the output's current position, taken as offset 0.
    pub fn new(out: W) -> Self {
        ZipWriter {
            out,
            position: 0,
            central: Vec::new(),
            count: 0,
            names: Some(HashSet::new()),
            buffer: Vec::new(),
        }
    }

    /// Like [`new`](Self::new), for a caller that has checked that the names it will add
    /// are unique: no set of every name is kept (a warehouse can hold millions).
    pub(crate) fn with_unique_names(out: W) -> Self {
        ZipWriter {
            names: None,
            ..Self::new(out)
        }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("<archive>", e))?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Adds a member of `size` bytes read from `reader`. Exactly `size` bytes must be
    /// readable and then end of file, otherwise the source changed:
    /// [`Error::SourceChanged`] names `source_path`. `crc32` is the member's CRC-32 if the
    /// caller knows it already (required for members over [`IN_MEMORY_LIMIT`] when the
    /// output cannot patch); the bytes read must match it, otherwise the source changed.
    pub fn add(
        &mut self,
        meta: MemberMeta,
        size: u64,
        crc32: Option<u32>,
        reader: &mut dyn Read,
        source_path: &std::path::Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<WrittenMember> {
        self.claim_name(&meta.name)?;
        let local_header_offset = self.position;
        let changed = |reason: String| Error::SourceChanged {
            path: source_path.to_owned(),
            reason,
        };
        let read_err = |e| Error::io(source_path, e);
        let expected = crc32;
        let crc32;
        if size <= BUFFER_LIMIT {
            let mut data = std::mem::take(&mut self.buffer);
            data.clear();
            reader
                .take(size + 1)
                .read_to_end(&mut data)
                .map_err(read_err)?;
            if data.len() as u64 != size {
                return Err(changed(format!(
                    "listed as {size} bytes, read {}",
                    data.len()
                )));
            }
            crc32 = crc32fast::hash(&data);
            check_expected(expected, crc32, &changed)?;
            let header = local_header(&meta, size, crc32);
            self.write_all(&header)?;
            self.write_all(&data)?;
            progress(size);
            self.buffer = data;
        } else {
            if expected.is_none() && !self.out.can_patch() {
                return Err(Error::SourceChanged {
                    path: source_path.to_owned(),
                    reason: "internal: a streaming output needs the CRC-32 of a large member before its data".into(),
                });
            }
            let header = local_header(&meta, size, expected.unwrap_or(0));
            self.write_all(&header)?;
            let mut hasher = crc32fast::Hasher::new();
            let mut buf = vec![0u8; COPY_BUFFER];
            let mut copied = 0u64;
            loop {
                let n = reader.read(&mut buf).map_err(read_err)?;
                if n == 0 {
                    break;
                }
                copied += n as u64;
                if copied > size {
                    return Err(changed(format!("listed as {size} bytes, grew while read")));
                }
                hasher.update(&buf[..n]);
                self.write_all(&buf[..n])?;
                progress(n as u64);
            }
            if copied != size {
                return Err(changed(format!("listed as {size} bytes, read {copied}")));
            }
            crc32 = hasher.finalize();
            if expected.is_some() {
                check_expected(expected, crc32, &changed)?;
            } else {
                self.out
                    .patch(
                        local_header_offset + local::CRC32_OFFSET,
                        &crc32.to_le_bytes(),
                    )
                    .map_err(|e| Error::io("<archive>", e))?;
            }
        }
        let written = WrittenMember {
            local_header_offset,
            data_offset: local_header_offset + local_header_len(&meta, size) as u64,
            size,
            crc32,
        };
        self.push_central(&meta, &written);
        Ok(written)
    }

    /// Adds a member whose bytes `write` produces, without holding them: `write` runs
    /// twice, once to learn the size and CRC-32 for the local header, then into the
    /// archive. Both runs must produce the same bytes.
    pub fn add_generated(
        &mut self,
        meta: MemberMeta,
        write: &dyn Fn(&mut dyn Write) -> io::Result<()>,
    ) -> Result<WrittenMember> {
        self.claim_name(&meta.name)?;
        let generate = |e: io::Error| Error::io(&meta.name, e);
        let mut first = Checksum::default();
        write(&mut first).map_err(generate)?;
        let local_header_offset = self.position;
        self.write_all(&local_header(
            &meta,
            first.len,
            first.hasher.clone().finalize(),
        ))?;
        let mut second = Checksum {
            out: Some(&mut self.out),
            ..Checksum::default()
        };
        write(&mut second).map_err(|e| Error::io("<archive>", e))?;
        let (len, crc32) = (second.len, second.hasher.finalize());
        if len != first.len || crc32 != first.hasher.finalize() {
            return Err(Error::invalid(
                "member",
                local_header_offset,
                format!("{} came out different the second time", meta.name),
            ));
        }
        self.position += len;
        let written = WrittenMember {
            local_header_offset,
            data_offset: local_header_offset + local_header_len(&meta, len) as u64,
            size: len,
            crc32,
        };
        self.push_central(&meta, &written);
        Ok(written)
    }

    /// Adds a member from bytes in memory.
    pub fn add_bytes(&mut self, meta: MemberMeta, bytes: &[u8]) -> Result<WrittenMember> {
        let path = std::path::PathBuf::from(&meta.name);
        let mut reader = bytes;
        self.add(
            meta,
            bytes.len() as u64,
            None,
            &mut reader,
            &path,
            &mut |_| {},
        )
    }

    /// Bytes of central directory so far (the headers of the members added).
    pub fn central_directory_len(&self) -> u64 {
        self.central.iter().map(|b| b.len() as u64).sum()
    }

    /// Number of members added.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True if no member was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Checks a new member's name: safe, a file's, and not added before.
    fn claim_name(&mut self, name: &str) -> Result<()> {
        name::check_safe(name)?;
        if name.ends_with('/') {
            return Err(Error::UnsafeName {
                name: name.to_owned(),
                reason: "a file member cannot end in '/'",
            });
        }
        let fresh = self
            .names
            .as_mut()
            .is_none_or(|names| names.insert(name_hash(name)));
        if !fresh && self.has_name(name) {
            return Err(Error::DuplicateName {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    fn push_central(&mut self, meta: &MemberMeta, written: &WrittenMember) {
        let header = central_header(meta, written);
        let len = header.encoded_len();
        match self.central.last_mut() {
            Some(block) if block.len() + len <= block.capacity() => header.encode(block),
            _ => {
                let mut block = Vec::with_capacity(len.max(CENTRAL_BLOCK));
                header.encode(&mut block);
                self.central.push(block);
            }
        }
        self.count += 1;
    }

    /// Whether a member named `name` was added (read back from the encoded headers).
    fn has_name(&self, name: &str) -> bool {
        self.central.iter().any(|block| {
            let mut at = 0;
            while let Some(len) = CentralDirectoryHeader::total_len(&block[at..]) {
                if CentralDirectoryHeader::raw_name(&block[at..]) == Some(name.as_bytes()) {
                    return true;
                }
                at += len;
            }
            false
        })
    }

    /// Writes the central directory and end records (ZIP64 ones when needed) with
    /// `comment`, flushes, and returns the output and the archive's length.
    pub fn finish(mut self, comment: &[u8]) -> Result<(W, u64)> {
        if comment.len() > usize::from(u16::MAX) {
            return Err(Error::invalid(
                "end of central directory",
                self.position,
                "comment longer than 65,535 bytes",
            ));
        }
        let central_directory_offset = self.position;
        for block in std::mem::take(&mut self.central) {
            self.write_all(&block)?;
        }
        let central_directory_size = self.position - central_directory_offset;
        let entries = self.count;
        let mut end = Vec::new();
        let needs_zip64 = entries >= u64::from(U16_MAX)
            || central_directory_size >= u64::from(U32_MAX)
            || central_directory_offset >= u64::from(U32_MAX);
        if needs_zip64 {
            let record_offset = self.position;
            Zip64EndOfCentralDirectory {
                record_size: 44,
                version_made_by: made_by(),
                version_needed: spec::VERSION_ZIP64,
                disk_number: 0,
                central_directory_disk: 0,
                entries_on_disk: entries,
                entries,
                central_directory_size,
                central_directory_offset,
            }
            .encode(&mut end);
            Zip64Locator {
                record_disk: 0,
                record_offset,
                total_disks: 1,
            }
            .encode(&mut end);
        }
        let count16 = if entries >= u64::from(U16_MAX) {
            U16_MAX
        } else {
            entries as u16
        };
        EndOfCentralDirectory {
            disk_number: 0,
            central_directory_disk: 0,
            entries_on_disk: count16,
            entries: count16,
            central_directory_size: spec::u32_or_placeholder(central_directory_size),
            central_directory_offset: spec::u32_or_placeholder(central_directory_offset),
            comment: comment.to_vec(),
        }
        .encode(&mut end);
        self.write_all(&end)?;
        self.out.flush().map_err(|e| Error::io("<archive>", e))?;
        Ok((self.out, self.position))
    }
}

/// Counts and checksums bytes on their way to an optional output.
#[derive(Default)]
struct Checksum<'a> {
    out: Option<&'a mut dyn Write>,
    len: u64,
    hasher: crc32fast::Hasher,
}

impl Write for Checksum<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.out {
            Some(out) => out.write(buf)?,
            None => buf.len(),
        };
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().map_or(Ok(()), |out| out.flush())
    }
}

/// A CRC-32 known before the copy that the bytes do not match: the source changed between
/// the checksum pass (or the store's recorded checksum) and the copy.
fn check_expected(
    expected: Option<u32>,
    got: u32,
    changed: &dyn Fn(String) -> Error,
) -> Result<()> {
    match expected {
        Some(want) if want != got => Err(changed(format!(
            "its CRC-32 was {want:08x} before the copy and {got:08x} during it"
        ))),
        _ => Ok(()),
    }
}

fn made_by() -> u16 {
    (spec::HOST_UNIX << 8) | spec::VERSION_ZIP64
}

fn flags(meta: &MemberMeta) -> u16 {
    if meta.name.is_ascii() {
        0
    } else {
        spec::FLAG_UTF8
    }
}

fn local_header(meta: &MemberMeta, size: u64, crc32: u32) -> Vec<u8> {
    let zip64 = size >= u64::from(U32_MAX);
    let mut extra = Vec::new();
    if zip64 {
        encode_zip64(&mut extra, &[size, size]);
    }
    encode_mtime(&mut extra, meta.mtime);
    let (dos_time, dos_date) = time::unix_to_dos(meta.mtime);
    let size32 = spec::u32_or_placeholder(size);
    let header = LocalFileHeader {
        version_needed: if zip64 {
            spec::VERSION_ZIP64
        } else {
            spec::VERSION_STORED
        },
        flags: flags(meta),
        method: spec::METHOD_STORED,
        dos_time,
        dos_date,
        crc32,
        compressed_size: size32,
        uncompressed_size: size32,
        name: meta.name.as_bytes().to_vec(),
        extra,
    };
    let mut out = Vec::with_capacity(header.encoded_len());
    header.encode(&mut out);
    out
}

fn local_header_len(meta: &MemberMeta, size: u64) -> usize {
    let zip64 = if size >= u64::from(U32_MAX) { 20 } else { 0 };
    let mtime = if i32::try_from(meta.mtime).is_ok() {
        9
    } else {
        0
    };
    local::FIXED_LEN + meta.name.len() + zip64 + mtime
}

fn central_header(meta: &MemberMeta, written: &WrittenMember) -> CentralDirectoryHeader {
    let mut zip64 = Vec::new();
    if written.size >= u64::from(U32_MAX) {
        zip64.extend([written.size, written.size]);
    }
    if written.local_header_offset >= u64::from(U32_MAX) {
        zip64.push(written.local_header_offset);
    }
    let mut extra = Vec::new();
    if !zip64.is_empty() {
        encode_zip64(&mut extra, &zip64);
    }
    encode_mtime(&mut extra, meta.mtime);
    let (dos_time, dos_date) = time::unix_to_dos(meta.mtime);
    let size32 = spec::u32_or_placeholder(written.size);
    CentralDirectoryHeader {
        version_made_by: made_by(),
        version_needed: if zip64.is_empty() {
            spec::VERSION_STORED
        } else {
            spec::VERSION_ZIP64
        },
        flags: flags(meta),
        method: spec::METHOD_STORED,
        dos_time,
        dos_date,
        crc32: written.crc32,
        compressed_size: size32,
        uncompressed_size: size32,
        disk_start: 0,
        internal_attributes: 0,
        external_attributes: (0o100_000 | (meta.mode & 0o7777)) << 16,
        local_header_offset: spec::u32_or_placeholder(written.local_header_offset),
        name: meta.name.as_bytes().to_vec(),
        extra,
        comment: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> MemberMeta {
        MemberMeta {
            name: name.to_owned(),
            mtime: 0,
            mode: 0o644,
        }
    }

    #[test]
    fn a_name_added_twice_is_refused_from_the_encoded_headers() {
        let mut writer = ZipWriter::new(io::Cursor::new(Vec::new()));
        writer.add_bytes(meta("a"), b"1").expect("a");
        writer.add_bytes(meta("b"), b"2").expect("b");
        assert!(writer.has_name("a") && writer.has_name("b") && !writer.has_name("c"));
        let err = writer.add_bytes(meta("a"), b"3").expect_err("duplicate");
        assert!(
            matches!(err, Error::DuplicateName { ref name } if name == "a"),
            "{err}"
        );
        // The generated-member path checks names the same way.
        let err = writer
            .add_generated(meta("b"), &|out| out.write_all(b"x"))
            .expect_err("duplicate");
        assert!(matches!(err, Error::DuplicateName { .. }), "{err}");
        assert_eq!(writer.len(), 2);
    }
}
