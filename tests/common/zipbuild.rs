//! ZIP archives written byte by byte, for tests that need archives no writer produces:
//! hostile names, lying sizes, counts and offsets, overlapping entries, truncations.
//!
//! [`Header`] holds the fields a local and a central header share, so a test builds a
//! valid entry and then bends one field of one of its two copies. [`Layout`] assembles
//! entries into an archive and remembers where every record starts, for truncation
//! sweeps. [`Member`], [`local_record`], [`finish_zip`] and [`simple_zip`] are the short
//! forms for stored members with Unix modes.

/// Local file header signature `PK\x03\x04`.
pub const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
/// Central directory header signature `PK\x01\x02`.
pub const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
/// End of central directory signature `PK\x05\x06`.
pub const EOCD_SIGNATURE: u32 = 0x0605_4b50;
/// ZIP64 end of central directory record signature `PK\x06\x06`.
pub const ZIP64_RECORD_SIGNATURE: u32 = 0x0606_4b50;
/// ZIP64 end of central directory locator signature `PK\x06\x07`.
pub const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;

/// 12:00:00.
pub const DOS_TIME: u16 = 0x6000;
/// 2024-01-01.
pub const DOS_DATE: u16 = (44 << 9) | (1 << 5) | 1;
/// General purpose flag: names are UTF-8.
pub const FLAG_UTF8: u16 = 0x0800;
/// Compression method: stored.
pub const STORED: u16 = 0;
/// Compression method: deflate.
pub const DEFLATE: u16 = 8;

/// `st_mode` of a regular file, rw-r--r--.
pub const FILE: u32 = 0o100_644;
/// `st_mode` of a symbolic link.
pub const SYMLINK: u32 = 0o120_777;
/// `st_mode` of a directory.
pub const DIRECTORY: u32 = 0o040_755;

/// The fields a local header and its central header share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Raw name bytes.
    pub name: Vec<u8>,
    /// General purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 of the uncompressed content.
    pub crc32: u32,
    /// Bytes stored.
    pub compressed_size: u32,
    /// Bytes after decompression.
    pub uncompressed_size: u32,
    /// Raw extra field block.
    pub extra: Vec<u8>,
}

impl Header {
    /// A stored entry holding `data`, its name flagged UTF-8.
    pub fn stored(name: &str, data: &[u8]) -> Self {
        Header {
            name: name.as_bytes().to_vec(),
            flags: FLAG_UTF8,
            method: STORED,
            crc32: crc32fast::hash(data),
            compressed_size: len32(data.len()),
            uncompressed_size: len32(data.len()),
            extra: Vec::new(),
        }
    }

    /// A deflate entry whose stored bytes are `compressed` and whose content is
    /// `uncompressed_size` bytes with CRC-32 `crc32` (they need not be true).
    pub fn deflated(name: &str, compressed: &[u8], uncompressed_size: u32, crc32: u32) -> Self {
        Header {
            name: name.as_bytes().to_vec(),
            flags: FLAG_UTF8,
            method: DEFLATE,
            crc32,
            compressed_size: len32(compressed.len()),
            uncompressed_size,
            extra: Vec::new(),
        }
    }

    /// The local file header (APPNOTE 4.3.7), without the data.
    pub fn local(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(30 + self.name.len() + self.extra.len());
        out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&self.version_needed().to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.method.to_le_bytes());
        out.extend_from_slice(&DOS_TIME.to_le_bytes());
        out.extend_from_slice(&DOS_DATE.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(&self.compressed_size.to_le_bytes());
        out.extend_from_slice(&self.uncompressed_size.to_le_bytes());
        out.extend_from_slice(&len16(self.name.len()).to_le_bytes());
        out.extend_from_slice(&len16(self.extra.len()).to_le_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
        out
    }

    /// The central directory header (APPNOTE 4.3.12), made on Unix so that the external
    /// attributes carry `mode` (`st_mode`, type and permission bits).
    pub fn central(&self, mode: u32, local_header_offset: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(46 + self.name.len() + self.extra.len());
        out.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes()); // made by Unix, 4.5
        out.extend_from_slice(&self.version_needed().to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.method.to_le_bytes());
        out.extend_from_slice(&DOS_TIME.to_le_bytes());
        out.extend_from_slice(&DOS_DATE.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(&self.compressed_size.to_le_bytes());
        out.extend_from_slice(&self.uncompressed_size.to_le_bytes());
        out.extend_from_slice(&len16(self.name.len()).to_le_bytes());
        out.extend_from_slice(&len16(self.extra.len()).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        out.extend_from_slice(&0u16.to_le_bytes()); // disk number start
        out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        out.extend_from_slice(&(mode << 16).to_le_bytes());
        out.extend_from_slice(&local_header_offset.to_le_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
        out
    }

    fn version_needed(&self) -> u16 {
        match self.method {
            DEFLATE => 20,
            _ if self.extra.is_empty() => 10,
            _ => 45,
        }
    }
}

/// The end of central directory record (APPNOTE 4.3.16), without a comment.
pub fn eocd(entries: u16, central_directory_size: u32, central_directory_offset: u32) -> Vec<u8> {
    eocd_with_comment(
        entries,
        central_directory_size,
        central_directory_offset,
        b"",
    )
}

/// [`eocd`] with an archive comment (its length field is `comment`'s length).
pub fn eocd_with_comment(
    entries: u16,
    central_directory_size: u32,
    central_directory_offset: u32,
    comment: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(22 + comment.len());
    out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // this disk, disk with the central directory
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&central_directory_size.to_le_bytes());
    out.extend_from_slice(&central_directory_offset.to_le_bytes());
    out.extend_from_slice(&len16(comment.len()).to_le_bytes());
    out.extend_from_slice(comment);
    out
}

/// The ZIP64 end of central directory record (APPNOTE 4.3.14), version 1, no
/// extensible data.
pub fn zip64_record(
    entries: u64,
    central_directory_size: u64,
    central_directory_offset: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(56);
    out.extend_from_slice(&ZIP64_RECORD_SIGNATURE.to_le_bytes());
    out.extend_from_slice(&44u64.to_le_bytes()); // size of the rest of the record
    out.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // this disk, disk with the central directory
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&central_directory_size.to_le_bytes());
    out.extend_from_slice(&central_directory_offset.to_le_bytes());
    out
}

/// The ZIP64 end of central directory locator (APPNOTE 4.3.15).
pub fn zip64_locator(record_offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&ZIP64_LOCATOR_SIGNATURE.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // disk with the record
    out.extend_from_slice(&record_offset.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // total disks
    out
}

/// A ZIP64 extended information extra field (0x0001) holding `values` in APPNOTE order
/// (uncompressed size, compressed size, local header offset), for the header fields
/// that hold `0xFFFFFFFF`.
pub fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 8 * values.len());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&len16(8 * values.len()).to_le_bytes());
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// One entry of a [`Layout`]: headers, stored bytes and mode.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The local header's fields.
    pub local: Header,
    /// The central header's fields (usually equal to `local`).
    pub central: Header,
    /// The bytes after the local header.
    pub data: Vec<u8>,
    /// `st_mode` in the central header.
    pub mode: u32,
}

impl Planned {
    /// A stored regular file.
    pub fn stored(name: &str, data: &[u8]) -> Self {
        let header = Header::stored(name, data);
        Planned {
            local: header.clone(),
            central: header,
            data: data.to_vec(),
            mode: FILE,
        }
    }
}

/// An archive and where each of its records starts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The archive.
    pub bytes: Vec<u8>,
    /// `(offset, what starts there)`, in file order.
    pub boundaries: Vec<(u64, String)>,
    /// Local header offset of each entry.
    pub local_offsets: Vec<u64>,
    /// Central header offset of each entry.
    pub central_offsets: Vec<u64>,
    /// Offset of the central directory.
    pub central_directory_offset: u64,
}

impl Layout {
    /// Overwrites the local header offset field of entry `index`'s central header.
    pub fn set_local_offset_field(&mut self, index: usize, value: u32) {
        let at = self.central_offsets[index] as usize + 42;
        self.bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Local records in order, the central directory, then the end records (ZIP64 record
    /// and locator too when `zip64`).
    pub fn new(entries: &[Planned], zip64: bool) -> Self {
        let mut bytes = Vec::new();
        let mut boundaries = Vec::new();
        let mut local_offsets = Vec::new();
        for entry in entries {
            let name = String::from_utf8_lossy(&entry.local.name);
            let offset = bytes.len() as u64;
            local_offsets.push(offset);
            boundaries.push((offset, format!("local header of {name}")));
            bytes.extend(entry.local.local());
            boundaries.push((bytes.len() as u64, format!("data of {name}")));
            bytes.extend_from_slice(&entry.data);
        }
        let central_directory_offset = bytes.len() as u64;
        let mut central_offsets = Vec::new();
        for (entry, &offset) in entries.iter().zip(&local_offsets) {
            let name = String::from_utf8_lossy(&entry.central.name);
            central_offsets.push(bytes.len() as u64);
            boundaries.push((bytes.len() as u64, format!("central header of {name}")));
            bytes.extend(entry.central.central(entry.mode, offset as u32));
        }
        let central_directory_size = bytes.len() as u64 - central_directory_offset;
        let count = entries.len() as u64;
        if zip64 {
            let record_offset = bytes.len() as u64;
            boundaries.push((record_offset, "zip64 end of central directory".into()));
            bytes.extend(zip64_record(
                count,
                central_directory_size,
                central_directory_offset,
            ));
            boundaries.push((bytes.len() as u64, "zip64 locator".into()));
            bytes.extend(zip64_locator(record_offset));
            boundaries.push((bytes.len() as u64, "end of central directory".into()));
            bytes.extend(eocd(u16::MAX, u32::MAX, u32::MAX));
        } else {
            boundaries.push((bytes.len() as u64, "end of central directory".into()));
            bytes.extend(eocd(
                count as u16,
                central_directory_size as u32,
                central_directory_offset as u32,
            ));
        }
        Layout {
            bytes,
            boundaries,
            local_offsets,
            central_offsets,
            central_directory_offset,
        }
    }
}

/// One stored member: name, data, Unix `st_mode` (type and permission bits).
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The name, stored as is.
    pub name: &'a str,
    /// The content.
    pub data: &'a [u8],
    /// `st_mode`.
    pub mode: u32,
}

/// A stored local record (header and data) for `member`, its name flagged UTF-8.
pub fn local_record(member: Member) -> Vec<u8> {
    let mut out = Header::stored(member.name, member.data).local();
    out.extend_from_slice(member.data);
    out
}

/// Appends a central directory of `central` entries (`(member, local header offset)`)
/// and the EOCD to `body`.
pub fn finish_zip(mut body: Vec<u8>, central: &[(Member, u32)]) -> Vec<u8> {
    let central_offset = len32(body.len());
    for &(member, offset) in central {
        body.extend(Header::stored(member.name, member.data).central(member.mode, offset));
    }
    let central_size = len32(body.len()) - central_offset;
    body.extend(eocd(len16(central.len()), central_size, central_offset));
    body
}

/// A well-formed stored ZIP of `members`, in order.
pub fn simple_zip(members: &[Member]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut central = Vec::new();
    for &member in members {
        central.push((member, len32(body.len())));
        body.extend(local_record(member));
    }
    finish_zip(body, &central)
}

fn len16(len: usize) -> u16 {
    u16::try_from(len).expect("test archives keep names, extras and counts under 65,536")
}

fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("test archives stay under 4 GiB")
}
