//! Fuzz harnesses, shared by the `fuzz/` targets (cargo-fuzz, nightly) and by
//! `tests/fuzz_regressions.rs` (stable), which replays every crash ever found and the
//! seed corpora through the very same functions.
//!
//! Each harness takes arbitrary bytes. The parsers must return `Ok` or `Err` for every
//! input; a harness panics only when an invariant that must hold for *any* input is
//! broken (a range asked for outside the file, a reader that does not terminate, a
//! writer → reader round trip that does not give back what was written). Not part of the
//! public API.

use std::collections::BTreeMap;
use std::io::Cursor as IoCursor;
use std::ops::Range;
use std::path::PathBuf;

use crate::manifest::chain::Chain;
use crate::manifest::{ArchiveKind, IndexPointer, Manifest, TableIndex};
use crate::read::{Directory, DirectoryReader, EndRecords, Entry, EntryKind, LocalRecord, Opened};
use crate::spec::central::CentralDirectoryHeader;
use crate::spec::extra::{ExtraFields, Zip64Needs, Zip64Values};
use crate::spec::local::LocalFileHeader;
use crate::table::{SourceFile, plan};
use crate::write::{self, PackOptions, PackProgress, Streaming};
use crate::{name, read};

/// Most requests a directory read may make: tail, longer tail, ZIP64 record, central
/// directory or index. More means the state machine is going round in circles.
const MAX_READS: usize = 8;

/// Zero bytes put into the middle of the input in the second pass of [`directory`], so
/// that the central directory and a ZIP64 record can lie outside the first 64 KiB read
/// and are fetched by requests of their own (the fuzzer learns to shift offsets by it).
const GAP: u64 = 64 * 1024;

/// An archive: `bytes` with `gap` zero bytes inserted at `gap_at`, without allocating the
/// zeros.
struct Virtual<'a> {
    bytes: &'a [u8],
    gap_at: usize,
    gap: u64,
}

impl<'a> Virtual<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Virtual {
            bytes,
            gap_at: 0,
            gap: 0,
        }
    }

    fn len(&self) -> u64 {
        self.gap + self.bytes.len() as u64
    }

    /// The bytes of `range`, which must lie inside the file.
    fn read(&self, range: Range<u64>) -> Vec<u8> {
        assert!(
            range.start <= range.end && range.end <= self.len(),
            "range {range:?} asked for outside a file of {} bytes",
            self.len()
        );
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        let gap_start = self.gap_at as u64;
        let gap_end = gap_start + self.gap;
        // Before the gap, in it, after it.
        if range.start < gap_start {
            out.extend_from_slice(
                &self.bytes[range.start as usize..range.end.min(gap_start) as usize],
            );
        }
        if range.end > gap_start && range.start < gap_end {
            let zeros = range.end.min(gap_end) - range.start.max(gap_start);
            out.resize(out.len() + zeros as usize, 0);
        }
        if range.end > gap_end {
            let from = range.start.max(gap_end) - self.gap;
            out.extend_from_slice(&self.bytes[from as usize..(range.end - self.gap) as usize]);
        }
        out
    }
}

/// Runs a [`DirectoryReader`] over `file` to the end, checking that every range it asks
/// for lies inside the file and that it finishes within [`MAX_READS`] reads.
fn drive(file: &Virtual<'_>, want_index: bool) -> crate::Result<Opened> {
    let mut reader = if want_index {
        DirectoryReader::index(file.len())
    } else {
        DirectoryReader::full(file.len())
    };
    let mut reads = 0;
    while let Some(range) = reader.wants_read() {
        reads += 1;
        assert!(reads <= MAX_READS, "directory reader does not terminate");
        let bytes = file.read(range.clone());
        reader.fill(range.start, &bytes)?;
    }
    reader.finish()
}

/// Checks every entry's local header against the bytes from its offset to its span
/// limit, as a reader does before streaming its data.
fn check_locals(file: &Virtual<'_>, entries: &[Entry]) {
    for entry in entries {
        let start = entry.local_header_offset;
        let end = entry.span_limit.min(file.len());
        assert!(start <= end, "entry {:?} starts past its limit", entry.name);
        let bytes = file.read(start..end);
        if let Ok(record) = LocalRecord::check(entry, &bytes) {
            let data_end = record.data_offset.checked_add(entry.compressed_size);
            assert!(
                record.data_offset >= start && data_end.is_some_and(|e| e <= end),
                "checked local record of {:?} has data outside its span",
                entry.name
            );
        }
    }
}

/// One table's slice of the central directory, as the index locates it.
fn table_directory(
    file: &Virtual<'_>,
    end: &EndRecords,
    table: &crate::manifest::TableSummary,
) -> crate::Result<Directory> {
    let [start, stop] = table.central_directory_range;
    let range = end.central_directory_offset + start..end.central_directory_offset + stop;
    let bytes = file.read(range.clone());
    let entries = read::parse_central_directory(&bytes, range.start, table.files)?;
    let [data_start, data_end] = table.data_range;
    Directory::new(end.clone(), entries, data_start..data_end)
}

/// The manifest the index points at, if its CRC-32 matches.
fn indexed_manifest(file: &Virtual<'_>, index: &TableIndex) -> Option<crate::Result<Manifest>> {
    let m = index.manifest;
    let bytes = file.read(m.offset..m.offset + m.length);
    (crc32fast::hash(&bytes) == m.crc32).then(|| Manifest::parse(&bytes))
}

/// Target `directory`: `data` is an archive. Reads its whole central directory and its
/// table index with the sans-io reader and checks every local header; then reads the
/// whole central directory again with 64 KiB of zeros inserted in the middle.
pub fn directory(data: &[u8]) {
    for gap in [0, GAP] {
        let file = Virtual {
            bytes: data,
            gap_at: data.len() / 2,
            gap,
        };
        let full = match drive(&file, false) {
            Ok(Opened::Directory(directory)) => {
                check_locals(&file, directory.entries());
                Some(directory)
            }
            Ok(other) => panic!("full read produced {other:?}"),
            Err(_) => None,
        };
        if gap != 0 {
            continue;
        }
        match drive(&file, true) {
            Ok(Opened::Index(end, index)) => {
                for table in &index.tables {
                    if let Ok(directory) = table_directory(&file, &end, table) {
                        check_locals(&file, directory.entries());
                    }
                }
                if let (Some(Ok(manifest)), Some(full)) = (indexed_manifest(&file, &index), &full) {
                    let _ = crate::manifest::check_consistency(&manifest, &index, full);
                }
            }
            Ok(Opened::NoIndex(_)) | Err(_) => {}
            Ok(Opened::Directory(_)) => panic!("index read produced a whole directory"),
        }
    }
}

/// A little-endian reader over fuzz input that yields zeros once the input runs out.
struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = tail;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let head = self.take(N);
        out[..head.len()].copy_from_slice(head);
        out
    }

    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
}

/// Target `local_header`: the first 64 bytes describe a central entry (sizes, CRC-32,
/// name, flags, span), the rest is a local header with its extra fields. Parses the
/// header, its extra fields and ZIP64 values, decodes its name, and checks it against the
/// entry as a reader would.
pub fn local_header(data: &[u8]) {
    let split = data.len().min(64);
    let (head, record) = data.split_at(split);
    let mut input = Input { bytes: head };
    let selector = input.u8();
    let needs = Zip64Needs {
        uncompressed: selector & 1 != 0,
        compressed: selector & 2 != 0,
        offset: selector & 4 != 0,
        disk: selector & 8 != 0,
    };

    if let Ok(extra) = ExtraFields::parse(record, "local file header", 0) {
        let _ = Zip64Values::resolve(extra.zip64.as_deref(), needs, "local file header", 0);
    }
    let _ = CentralDirectoryHeader::parse(record, 0).map(|(header, len)| {
        assert!(len <= record.len(), "central header longer than its bytes");
        let _ = Entry::from_header(&header, 0, len as u64);
    });

    let Ok((header, len)) = LocalFileHeader::parse(record, 0) else {
        return;
    };
    assert_eq!(LocalFileHeader::total_len(record), Some(len));
    assert!(len <= record.len(), "local header longer than its bytes");
    let mut encoded = Vec::new();
    header.encode(&mut encoded);
    assert_eq!(encoded.as_slice(), &record[..len], "encode(parse(x)) != x");
    assert_eq!(header.encoded_len(), len);
    if let Ok(extra) = ExtraFields::parse(&header.extra, "local file header", 0) {
        let _ = Zip64Values::resolve(extra.zip64.as_deref(), needs, "local file header", 0);
        if let Ok(decoded) = name::decode(
            &header.name,
            header.flags & crate::spec::FLAG_UTF8 != 0,
            extra.unicode_path.as_ref(),
        ) {
            let _ = name::check_safe(&decoded);
        }
    }

    // A central entry to check the header against: the decoded local name (so the name
    // check passes and the later checks are reached) unless the selector says otherwise.
    let name = if selector & 16 != 0 {
        String::from_utf8_lossy(input.take(8)).into_owned()
    } else {
        name::decode(
            &header.name,
            header.flags & crate::spec::FLAG_UTF8 != 0,
            None,
        )
        .unwrap_or_else(|_| String::from_utf8_lossy(&header.name).into_owned())
    };
    let pick = |input: &mut Input<'_>, bit: u8, local: u64| {
        if selector & bit != 0 {
            input.u64()
        } else {
            local
        }
    };
    let compressed_size = pick(&mut input, 32, u64::from(header.compressed_size));
    let uncompressed_size = pick(&mut input, 64, u64::from(header.uncompressed_size));
    // Offsets below 2^63: a real entry's offsets lie inside the file.
    let local_header_offset = input.u64() >> (input.u8() % 64).max(1);
    let span_limit = if selector & 128 != 0 {
        input.u64() >> 1
    } else {
        local_header_offset + record.len() as u64
    };
    let entry = Entry {
        raw_name_len: header.name.len() as u64,
        name,
        kind: EntryKind::File,
        method: header.method,
        flags: header.flags,
        crc32: header.crc32,
        compressed_size,
        uncompressed_size,
        local_header_offset,
        central_offset: 0,
        central_len: 0,
        mtime: 0,
        mode: None,
        span_limit,
    };
    // Directory validation guarantees every entry's minimal span fits before its limit.
    let fits = local_header_offset
        .checked_add(entry.minimal_local_span())
        .is_some_and(|end| end <= span_limit);
    if !fits {
        return;
    }
    if let Ok(checked) = LocalRecord::check(&entry, record) {
        assert_eq!(checked.data_offset, local_header_offset + len as u64);
        assert!(
            checked
                .data_offset
                .checked_add(entry.compressed_size)
                .is_some_and(|end| end <= entry.span_limit),
            "data runs past the span limit"
        );
    }
}

/// Target `manifest`: `data` is a manifest, a table index and an archive comment at
/// once. The first 48 bytes are the end records and index pointer the index is checked
/// against; a selector bit makes the pointer's CRC-32 match so the JSON is reached.
pub fn manifest(data: &[u8]) {
    if let Ok(manifest) = Manifest::parse(data) {
        let json = serde_json::to_vec(&manifest).unwrap_or_default();
        match Manifest::parse(&json) {
            Ok(again) => assert_eq!(again, manifest, "manifest does not survive a round trip"),
            Err(e) => panic!("a parsed manifest does not parse again: {e}"),
        }
    }
    if let Some(pointer) = IndexPointer::from_comment(data) {
        assert_eq!(
            IndexPointer::from_comment(pointer.to_comment().as_bytes()),
            Some(pointer)
        );
    }

    let mut input = Input { bytes: data };
    let selector = input.u8();
    let mut pointer = IndexPointer {
        offset: input.u64(),
        length: input.u64(),
        crc32: input.u32(),
    };
    let central_directory_offset = input.u64();
    let central_directory_size = input.u64();
    let entries = u64::from(input.u16());
    let json = input.bytes;
    if selector & 1 != 0 {
        pointer.crc32 = crc32fast::hash(json);
    }
    let end = EndRecords {
        file_len: u64::MAX,
        central_directory_offset,
        central_directory_size,
        entries,
        end_records_offset: central_directory_offset.saturating_add(central_directory_size),
        zip64: selector & 2 != 0,
        comment: Vec::new(),
        index: Some(pointer),
    };
    if let Ok(index) = TableIndex::parse(json, &pointer, &end) {
        for table in &index.tables {
            let [start, stop] = table.central_directory_range;
            assert!(start <= stop && stop <= central_directory_size);
            let [start, stop] = table.data_range;
            assert!(start <= stop && stop <= central_directory_offset);
        }
        assert!(
            index
                .manifest
                .offset
                .checked_add(index.manifest.length)
                .is_some_and(|e| e <= central_directory_offset)
        );
    }
    let _ = Manifest::parse(json);
}

/// Target `chain`: `data` is a chain manifest, optionally followed by a `0xFF` byte
/// (never in UTF-8) and an id or prefix to find. Parses the chain, round-trips it, finds
/// the given prefix and prefixes of every id, and walks each archive's bases back to a
/// full archive.
pub fn chain(data: &[u8]) {
    let (json, query) = match data.iter().rposition(|&b| b == 0xFF) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(chain) = Chain::parse(json) else {
        return;
    };
    match Chain::parse(&chain.to_json()) {
        Ok(again) => assert_eq!(again, chain, "chain does not survive a round trip"),
        Err(e) => panic!("a parsed chain does not parse again: {e}"),
    }
    let check_find = |query: &str| {
        if let Ok(found) = chain.find(query) {
            assert!(
                found.id == query || (query.len() >= 4 && found.id.starts_with(query)),
                "find({query:?}) returned {:?}",
                found.id
            );
        }
    };
    if let Some(query) = query {
        check_find(&String::from_utf8_lossy(query));
    }
    for (i, entry) in chain.archives.iter().enumerate() {
        for cut in [
            0,
            1,
            3,
            4,
            5,
            8,
            entry.id.len().saturating_sub(1),
            entry.id.len(),
        ] {
            if let Some(prefix) = entry.id.get(..cut) {
                check_find(prefix);
            }
        }
        // Walking the bases from any point reaches a full archive (or a pruned base) in
        // fewer steps than there are archives: every base is an earlier archive.
        let mut position = i;
        let mut steps = 0;
        let mut cursor = Some(entry);
        while let Some(e) = cursor {
            steps += 1;
            assert!(
                steps <= chain.archives.len(),
                "base walk does not terminate"
            );
            cursor = e.base.as_ref().and_then(|b| chain.get(b));
            if let Some(base) = cursor {
                let at = chain.archives.iter().position(|x| x.id == base.id);
                assert!(
                    at.is_some_and(|at| at < position),
                    "base {} of {} is not an earlier archive",
                    base.id,
                    e.id
                );
                position = at.unwrap_or(0);
            }
        }
    }
}

/// Words the `roundtrip` target builds names from: table layout names, the archive's own
/// folder, unsafe components and non-ASCII text.
const WORDS: [&str; 24] = [
    "metadata",
    "_delta_log",
    "data",
    "00000000000000000000.json",
    "00000000000000000001.checkpoint.parquet",
    "v1.metadata.json",
    "00001-abc.metadata.json",
    "version-hint.text",
    "_last_checkpoint",
    "db",
    "part-0.parquet",
    ".lakezip",
    "manifest.json",
    "index.json",
    ".",
    "..",
    "",
    "é",
    "日本",
    "a b",
    "k=a+b%3Ac",
    "C:",
    "x\\y",
    "PK\u{5}\u{6}",
];

/// One file of a `roundtrip` tree: content, mtime, mode.
type TreeFile = (Vec<u8>, i64, u32);

/// Decodes a tree from fuzz input (see [`roundtrip`]).
fn decode_tree(input: &mut Input<'_>) -> BTreeMap<String, TreeFile> {
    let mut files = BTreeMap::new();
    let mut large = 0;
    while !input.is_empty() && files.len() < 64 {
        let op = input.u8();
        let mut path = String::new();
        for i in 0..=(op & 3) {
            if i > 0 {
                path.push('/');
            }
            let token = input.u8();
            match token {
                0..=127 => path.push_str(WORDS[usize::from(token) % WORDS.len()]),
                128..=143 => {
                    // A long component: names near and past the 65,535-byte field limit.
                    let len = usize::from(input.u16()) + usize::from(token & 1) * 0x1_0000;
                    path.extend(std::iter::repeat_n('n', len.min(70_000)));
                }
                _ => {
                    let literal = input.take(usize::from(token & 15));
                    path.push_str(&String::from_utf8_lossy(literal));
                }
            }
        }
        // Large members are slow to build and check: at most one, and only when two
        // bits of the op byte ask for it.
        let content = if op & 0x24 == 0x24 && large < 1 {
            // Past the in-memory limit, so the writer streams (or patches) the member.
            large += 1;
            let len = write::IN_MEMORY_LIMIT as usize + usize::from(input.u16());
            let seed = input.u8();
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect()
        } else {
            let len = usize::from(input.u8());
            input.take(len).to_vec()
        };
        let mtime = if op & 8 != 0 {
            input.u64() as i64
        } else {
            1_600_000_000
        };
        let mode = if op & 16 != 0 {
            u32::from(input.u16())
        } else {
            0o644
        };
        files.entry(path).or_insert((content, mtime, mode));
    }
    files
}

/// Target `roundtrip`: builds a small tree from `data`, packs it with
/// [`write::pack`] into memory, and reads it back with the sans-io reader — through the
/// whole central directory and through the table index — asserting that every member's
/// name, bytes, CRC-32, mode and (where the format holds it exactly) mtime come back, and
/// that the manifest agrees. A tree the writer refuses must hold a name it cannot write.
pub fn roundtrip(data: &[u8]) {
    let mut input = Input { bytes: data };
    let flags = input.u8();
    let created = if flags & 1 != 0 {
        input.u64() as i64
    } else {
        1_700_000_000
    };
    let streaming = flags & 2 != 0;
    let deterministic = flags & 4 != 0;
    let files = decode_tree(&mut input);
    // The packer refuses source files under `.lakezip/` (readers take every member there
    // for the archive's own metadata); see the check after packing.
    let reserved = files
        .keys()
        .any(|n| n.starts_with(crate::manifest::METADATA_DIR));

    let sources = files
        .iter()
        .map(|(path, (bytes, mtime, mode))| SourceFile {
            path: path.clone(),
            size: bytes.len() as u64,
            mtime: *mtime,
            mode: *mode,
            held: None,
        })
        .collect();
    let mut tables = plan(sources);
    assert_eq!(
        tables.iter().map(|t| t.files.len()).sum::<usize>(),
        files.len(),
        "plan lost or duplicated files"
    );
    let mut open = |f: &SourceFile| -> crate::Result<write::Opened> {
        let content = files
            .get(&f.path)
            .map(|(c, _, _)| c.clone())
            .unwrap_or_default();
        Ok(write::Opened {
            crc32: streaming.then(|| crc32fast::hash(&content)),
            reader: Box::new(IoCursor::new(content)),
            path: PathBuf::from(&f.path),
        })
    };
    let options = PackOptions {
        source: "fuzz".into(),
        created,
        deterministic,
        tool: "fuzz".into(),
        kind: ArchiveKind::Full,
        base_archive_id: None,
        archive_id: None,
    };
    let (mut on_bytes, mut on_done) = (|_| {}, |_: &SourceFile| {});
    let progress = PackProgress {
        bytes: &mut on_bytes,
        file_done: &mut on_done,
    };
    let packed = if streaming {
        write::pack(
            Streaming(Vec::new()),
            &mut tables,
            &mut open,
            &options,
            progress,
        )
        .map(|o| (o.output.0, o.manifest, o.archive_len))
    } else {
        write::pack(
            IoCursor::new(Vec::new()),
            &mut tables,
            &mut open,
            &options,
            progress,
        )
        .map(|o| (o.output.into_inner(), o.manifest, o.archive_len))
    };
    let (archive, manifest, archive_len) = match packed {
        Ok(packed) => packed,
        Err(e) => {
            // Only a name the format cannot hold may make the writer refuse a tree: an
            // unsafe one or a folder name.
            let writable = |name: &str| {
                name::check_safe(name).is_ok()
                    && !name.ends_with('/')
                    && !name.starts_with(crate::manifest::METADATA_DIR)
            };
            assert!(
                !files.keys().all(|n| writable(n)),
                "writer refused a writable tree: {e}"
            );
            return;
        }
    };
    assert!(!reserved, "the writer packed a file under .lakezip/");
    assert_eq!(archive_len, archive.len() as u64);
    let file = Virtual::new(&archive);

    let directory = match drive(&file, false) {
        Ok(Opened::Directory(directory)) => directory,
        Ok(other) => panic!("full read produced {other:?}"),
        Err(e) => panic!("reader refused the writer's archive: {e}"),
    };
    let mut seen = 0;
    for entry in directory.entries() {
        let start = entry.local_header_offset;
        let bytes = file.read(start..entry.span_limit);
        let record = match LocalRecord::check(entry, &bytes) {
            Ok(record) => record,
            Err(e) => panic!("local header of {:?} refused: {e}", entry.name),
        };
        let data_start = (record.data_offset - start) as usize;
        let content = &bytes[data_start..data_start + entry.compressed_size as usize];
        assert_eq!(entry.method, crate::spec::METHOD_STORED);
        assert_eq!(crc32fast::hash(content), entry.crc32, "{:?}", entry.name);
        if read::is_lakezip_member(&entry.name) {
            continue;
        }
        let Some((expected, mtime, mode)) = files.get(&entry.name) else {
            panic!("archive holds {:?}, which was not packed", entry.name);
        };
        seen += 1;
        assert!(
            content == expected.as_slice(),
            "{:?}: bytes differ",
            entry.name
        );
        assert_eq!(entry.kind, EntryKind::File);
        assert_eq!(entry.mode, Some(mode & 0o7777), "{:?}: mode", entry.name);
        let written = if deterministic {
            (*mtime).min(created)
        } else {
            *mtime
        };
        if i32::try_from(written).is_ok() {
            assert_eq!(entry.mtime, written, "{:?}: mtime", entry.name);
        }
    }
    assert_eq!(seen, files.len(), "members missing from the archive");

    let (end, index) = match drive(&file, true) {
        Ok(Opened::Index(end, index)) => (end, index),
        Ok(other) => panic!("index read produced {other:?}"),
        Err(e) => panic!("reader refused the writer's index: {e}"),
    };
    let mut via_index = Vec::new();
    for table in &index.tables {
        match table_directory(&file, &end, table) {
            Ok(slice) => via_index.extend(slice.into_entries()),
            Err(e) => panic!("table {:?} unreadable through the index: {e}", table.path),
        }
    }
    let members: Vec<&Entry> = directory
        .entries()
        .iter()
        .filter(|e| !read::is_lakezip_member(&e.name))
        .collect();
    assert_eq!(via_index.len(), members.len());
    for (a, b) in via_index.iter().zip(&members) {
        assert_eq!(a, *b, "the index path and the directory disagree");
    }
    match indexed_manifest(&file, &index) {
        Some(Ok(found)) => assert_eq!(found, manifest, "embedded manifest differs"),
        Some(Err(e)) => panic!("embedded manifest unreadable: {e}"),
        None => panic!("embedded manifest crc-32 mismatch"),
    }
    if let Err(e) = crate::manifest::check_consistency(&manifest, &index, &directory) {
        panic!("manifest, index and directory disagree: {e}");
    }
}
