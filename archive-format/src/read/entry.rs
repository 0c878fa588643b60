//! A central directory entry resolved into u64 sizes, a decoded and checked name, and
//! Unix metadata.

use crate::spec::central::CentralDirectoryHeader;
use crate::spec::extra::{ExtraFields, Zip64Needs, Zip64Values};
use crate::spec::{self, U16_MAX, U32_MAX, time};
use crate::{Error, Result, name};

/// What an entry is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory (name ends in `/`).
    Directory,
    /// A symbolic link (Unix mode `S_IFLNK`); never extracted.
    Symlink,
}

/// One member of an archive, as its central directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Decoded name; passed [`name::check_safe`].
    pub name: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Compression method (0 stored, 8 deflate; others are refused at read time).
    pub method: u16,
    /// General purpose flags.
    pub flags: u16,
    /// CRC-32 of the uncompressed content.
    pub crc32: u32,
    /// Bytes stored in the archive.
    pub compressed_size: u64,
    /// Bytes after decompression.
    pub uncompressed_size: u64,
    /// Absolute offset of the local file header.
    pub local_header_offset: u64,
    /// Absolute offset of this entry's central directory header.
    pub central_offset: u64,
    /// Length of this entry's central directory header.
    pub central_len: u64,
    /// Modification time, Unix seconds (extended timestamp if present, else DOS time as UTC).
    pub mtime: i64,
    /// Unix permission bits, when the archive was made on Unix.
    pub mode: Option<u32>,
    /// Length of the raw (undecoded) name, which the local header repeats.
    pub raw_name_len: u64,
    /// First byte this entry must not reach: the next entry's local header or the end of
    /// the region holding entries. Set by directory validation.
    pub span_limit: u64,
}

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFDIR: u32 = 0o040_000;

impl Entry {
    /// Resolves a parsed header. `central_offset` is where the header starts.
    pub fn from_header(
        header: &CentralDirectoryHeader,
        central_offset: u64,
        central_len: u64,
    ) -> Result<Self> {
        const RECORD: &str = "central directory header";
        let extra = ExtraFields::parse(&header.extra, RECORD, central_offset)?;
        let needs = Zip64Needs {
            uncompressed: header.uncompressed_size == U32_MAX,
            compressed: header.compressed_size == U32_MAX,
            offset: header.local_header_offset == U32_MAX,
            disk: header.disk_start == U16_MAX,
        };
        let zip64 = Zip64Values::resolve(extra.zip64.as_deref(), needs, RECORD, central_offset)?;
        let disk = zip64.disk.unwrap_or(u32::from(header.disk_start));
        if disk != 0 {
            return Err(Error::MultiDisk { disk });
        }
        let name = name::decode(
            &header.name,
            header.flags & spec::FLAG_UTF8 != 0,
            extra.unicode_path.as_ref(),
        )?;
        name::check_safe(&name)?;
        let host = header.version_made_by >> 8;
        // Unix (3) and macOS (19) store st_mode in the high half of the external attributes.
        let unix_mode = (host == spec::HOST_UNIX || host == 19)
            .then_some(header.external_attributes >> 16)
            .filter(|&m| m != 0);
        let kind = if unix_mode.is_some_and(|m| m & S_IFMT == S_IFLNK) {
            EntryKind::Symlink
        } else if name.ends_with('/') || unix_mode.is_some_and(|m| m & S_IFMT == S_IFDIR) {
            EntryKind::Directory
        } else {
            EntryKind::File
        };
        if header.flags & (spec::FLAG_ENCRYPTED | spec::FLAG_STRONG_ENCRYPTION) != 0 {
            return Err(Error::Encrypted { name });
        }
        let compressed_size = zip64
            .compressed
            .unwrap_or(u64::from(header.compressed_size));
        let uncompressed_size = zip64
            .uncompressed
            .unwrap_or(u64::from(header.uncompressed_size));
        if header.method == spec::METHOD_STORED && compressed_size != uncompressed_size {
            return Err(Error::invalid(
                RECORD,
                central_offset,
                format!(
                    "stored entry {name:?} has compressed size {compressed_size} but uncompressed size {uncompressed_size}"
                ),
            ));
        }
        Ok(Entry {
            kind,
            method: header.method,
            flags: header.flags,
            crc32: header.crc32,
            compressed_size,
            uncompressed_size,
            local_header_offset: zip64
                .offset
                .unwrap_or(u64::from(header.local_header_offset)),
            central_offset,
            central_len,
            mtime: extra
                .mtime
                .unwrap_or_else(|| time::dos_to_unix(header.dos_time, header.dos_date)),
            mode: unix_mode.map(|m| m & 0o7777),
            span_limit: u64::MAX,
            raw_name_len: header.name.len() as u64,
            name,
        })
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// The smallest number of bytes the local record can occupy: fixed header, the name
    /// (as long as the central one) and the data. Saturates: a ZIP64 extra field can
    /// declare a size near `u64::MAX`, and such an entry fits nowhere.
    pub(crate) fn minimal_local_span(&self) -> u64 {
        (crate::spec::local::FIXED_LEN as u64 + self.raw_name_len)
            .saturating_add(self.compressed_size)
    }
}

#[cfg(test)]
mod tests {
    use crate::read::{DirectoryReader, Opened};
    use crate::spec::central::CentralDirectoryHeader;
    use crate::spec::eocd::EndOfCentralDirectory;
    use crate::spec::extra::encode_zip64;
    use crate::spec::{METHOD_DEFLATE, U32_MAX};

    /// Found by fuzzing (`tests/fuzz_regressions/local_header/minimal-span-overflow`): a
    /// ZIP64 extra field declaring a compressed size near `u64::MAX` overflowed the
    /// entry's minimal span (a panic in debug builds, a wrapped span in release).
    #[test]
    fn huge_zip64_size_is_an_error_not_an_overflow() {
        let mut extra = Vec::new();
        encode_zip64(&mut extra, &[u64::MAX - 5, u64::MAX - 5]);
        let header = CentralDirectoryHeader {
            version_made_by: 45,
            version_needed: 45,
            flags: 0,
            method: METHOD_DEFLATE,
            dos_time: 0,
            dos_date: 0x21,
            crc32: 0,
            compressed_size: U32_MAX,
            uncompressed_size: U32_MAX,
            disk_start: 0,
            internal_attributes: 0,
            external_attributes: 0,
            local_header_offset: 0,
            name: b"a".to_vec(),
            extra,
            comment: Vec::new(),
        };
        let mut archive = Vec::new();
        header.encode(&mut archive);
        EndOfCentralDirectory {
            disk_number: 0,
            central_directory_disk: 0,
            entries_on_disk: 1,
            entries: 1,
            central_directory_size: archive.len() as u32,
            central_directory_offset: 0,
            comment: Vec::new(),
        }
        .encode(&mut archive);
        let mut reader = DirectoryReader::full(archive.len() as u64);
        let mut result = Ok(());
        while let Some(range) = reader.wants_read() {
            result = reader.fill(
                range.start,
                &archive[range.start as usize..range.end as usize],
            );
            if result.is_err() {
                break;
            }
        }
        let err = result.and_then(|()| reader.finish().map(|_: Opened| ()));
        let message = err.expect_err("an entry larger than the file").to_string();
        assert!(message.contains("outside the member area"), "{message}");
    }
}
