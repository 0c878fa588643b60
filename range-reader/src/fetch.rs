//! The data phase: reading many members with few, large, parallel range requests.
//!
//! Members are taken in file order and grouped into *parts*:
//! - a **run** is a stretch of consecutive members (gaps of at most `max_gap` bytes are
//!   read through) fetched with one streamed GET and parsed as it arrives: each local
//!   header is checked against its central entry, then its data is streamed to the
//!   member's destination. A run is closed once it reaches `part_size` bytes.
//! - a stored member larger than `part_size` is split into **slices** of `part_size`
//!   fetched in parallel and written at their offsets; their CRC-32s are combined in
//!   order. Its local header is read first with one small request.
//!
//! `concurrency` workers take parts in file order. No member is ever held in memory:
//! chunks go straight to the destination. Every member's size and CRC-32 are checked
//! before the destination is told it is complete; on the first error the other workers
//! stop and the error is returned.

use std::io::Write;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use archive_format::read::{Entry, LocalRecord};
use archive_format::spec::local::{FIXED_LEN, LocalFileHeader};
use archive_format::spec::{METHOD_DEFLATE, METHOD_STORED};

use crate::coalesce::DEFAULT_MAX_GAP;
use crate::source::RangeSource;
use crate::{Error, Result};

/// How the data phase reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// Parallel requests.
    pub concurrency: usize,
    /// Target size of one request; larger stored members are split into slices this big.
    pub part_size: u64,
    /// Gaps up to this many bytes between wanted members are read through rather than
    /// paying for another request.
    pub max_gap: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            concurrency: 8,
            part_size: 8 * 1024 * 1024,
            max_gap: DEFAULT_MAX_GAP,
        }
    }
}

/// Where fetched members go.
pub trait Destination: Sync {
    /// One member's open output.
    type Output: Send + Sync;

    /// Prepares the output of the member at `position` in the caller's list (e.g. a
    /// temporary file).
    fn create(&self, position: usize, entry: &Entry) -> Result<Self::Output>;

    /// Writes uncompressed bytes at `offset` within the member.
    fn write_at(
        &self,
        entry: &Entry,
        output: &Self::Output,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()>;

    /// The member is complete and its size and CRC-32 are verified.
    fn complete(&self, position: usize, entry: &Entry, output: Self::Output) -> Result<()>;
}

#[derive(Debug, Clone)]
enum Part {
    Run {
        range: Range<u64>,
        members: Vec<usize>,
    },
    /// One part-sized stretch of a large stored member's local record. Slice 0 starts at
    /// the local header: it checks it and publishes where the data starts, which the
    /// other slices (fetched in parallel) wait for before writing.
    Slice {
        member: usize,
        slice: usize,
        range: Range<u64>,
    },
}

/// Where a sliced member's data starts, once its first slice has read the local header.
/// `Err` when that slice failed (its worker reports the error).
#[derive(Default)]
struct DataStart {
    value: Mutex<Option<std::result::Result<u64, ()>>>,
    ready: std::sync::Condvar,
}

impl DataStart {
    fn publish(&self, value: std::result::Result<u64, ()>) {
        if let Ok(mut slot) = self.value.lock() {
            slot.get_or_insert(value);
        }
        self.ready.notify_all();
    }

    fn wait(&self) -> std::result::Result<u64, ()> {
        let Ok(mut slot) = self.value.lock() else {
            return Err(());
        };
        loop {
            if let Some(value) = *slot {
                return value;
            }
            slot = match self.ready.wait(slot) {
                Ok(slot) => slot,
                Err(_) => return Err(()),
            };
        }
    }
}

/// Publishes failure if the first slice ends without having published the data start.
struct PublishOnDrop<'a>(&'a DataStart);

impl Drop for PublishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.publish(Err(()));
    }
}

/// Upper bound of the bytes a member's local record occupies (header, data, descriptor).
fn record_end(entry: &Entry) -> u64 {
    let bound = entry
        .local_header_offset
        .saturating_add(FIXED_LEN as u64 + entry.raw_name_len + u64::from(u16::MAX) + 24)
        .saturating_add(entry.compressed_size);
    entry.span_limit.min(bound)
}

fn is_sliced(entry: &Entry, options: &FetchOptions) -> bool {
    entry.method == METHOD_STORED && entry.compressed_size > options.part_size
}

/// Splits the members (`order` holds positions in file order) into parts.
fn plan(entries: &[&Entry], order: &[usize], options: &FetchOptions) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut run: Option<(Range<u64>, Vec<usize>)> = None;
    for &i in order {
        let entry = entries[i];
        if is_sliced(entry, options) {
            if let Some((range, members)) = run.take() {
                parts.push(Part::Run { range, members });
            }
            // Even slices of about part_size (a small remainder joins the others rather
            // than costing a request of its own).
            let (start, end) = (entry.local_header_offset, record_end(entry));
            let len = end - start;
            let part = options.part_size.max(1);
            let count = (len / part + u64::from(len % part > part / 4)).max(1);
            for slice in 0..count {
                parts.push(Part::Slice {
                    member: i,
                    slice: slice as usize,
                    range: start + len * slice / count..start + len * (slice + 1) / count,
                });
            }
            continue;
        }
        let span = entry.local_header_offset..record_end(entry);
        match &mut run {
            Some((range, members))
                if span.start <= range.end.saturating_add(options.max_gap)
                    && range.end - range.start < options.part_size =>
            {
                range.end = range.end.max(span.end);
                members.push(i);
            }
            _ => {
                if let Some((range, members)) = run.take() {
                    parts.push(Part::Run { range, members });
                }
                run = Some((span, vec![i]));
            }
        }
    }
    if let Some((range, members)) = run {
        parts.push(Part::Run { range, members });
    }
    parts
}

/// Fetches `entries` into `destination`; `progress` gets the member bytes as they arrive.
pub fn fetch<D: Destination>(
    source: &dyn RangeSource,
    entries: &[&Entry],
    destination: &D,
    options: &FetchOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    for entry in entries {
        if entry.method != METHOD_STORED && entry.method != METHOD_DEFLATE {
            return Err(Error::format(
                source.name(),
                archive_format::Error::UnsupportedCompression {
                    name: entry.name.clone(),
                    method: entry.method,
                },
            ));
        }
    }
    let mut order: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].is_file())
        .collect();
    order.sort_by_key(|&i| entries[i].local_header_offset);
    let workers = options.concurrency.max(1);
    // Large stored members are fetched in slices.
    let sliced: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| is_sliced(entries[i], options))
        .collect();
    let parts = plan(entries, &order, options);
    // Outputs of sliced members (read-only while the workers run) and their slices' CRC-32s.
    let mut outputs: Vec<Option<D::Output>> = Vec::new();
    outputs.resize_with(entries.len(), || None);
    let mut slice_crcs: Vec<Vec<Option<(crc32fast::Hasher, u64)>>> =
        vec![Vec::new(); entries.len()];
    let mut starts: std::collections::HashMap<usize, DataStart> = std::collections::HashMap::new();
    for &i in &sliced {
        outputs[i] = Some(destination.create(i, entries[i])?);
        let slices = parts
            .iter()
            .filter(|p| matches!(p, Part::Slice { member, .. } if *member == i))
            .count();
        slice_crcs[i] = vec![None; slices];
        starts.insert(i, DataStart::default());
    }
    let slice_crcs = Mutex::new(slice_crcs);
    let source_name = source.name();
    run_parallel(workers, parts.len(), |p| match &parts[p] {
        Part::Run { range, members } => {
            let mut parser: RunParser<'_, D> = RunParser {
                source_name: &source_name,
                entries,
                members,
                next: 0,
                position: range.start,
                state: State::Seeking,
                destination,
                progress,
            };
            source.read_range_with(range.clone(), &mut |chunk| parser.feed(chunk))?;
            parser.end()
        }
        Part::Slice {
            member,
            slice,
            range,
        } => {
            let entry = entries[*member];
            let output = outputs[*member].as_ref().ok_or_else(poisoned)?;
            let start = starts.get(member).ok_or_else(poisoned)?;
            let mut hasher = crc32fast::Hasher::new();
            let mut written = 0u64;
            let mut position = range.start;
            let mut data_start = None;
            // Slice 0 reads the local header first; the others wait for where data starts.
            let mut header = Vec::new();
            let _guard = (*slice == 0).then(|| PublishOnDrop(start));
            if *slice > 0 {
                match start.wait() {
                    Ok(at) => data_start = Some(at),
                    // The first slice failed; its worker reports why.
                    Err(()) => return Ok(()),
                }
            }
            source.read_range_with(range.clone(), &mut |mut chunk| {
                let data_offset = match data_start {
                    Some(at) => at,
                    None => {
                        // The fixed part tells the full length; take bytes until then.
                        while LocalFileHeader::total_len(&header) != Some(header.len()) {
                            if chunk.is_empty() {
                                return Ok(());
                            }
                            let needed = LocalFileHeader::total_len(&header).unwrap_or(FIXED_LEN);
                            let take = (needed - header.len()).min(chunk.len());
                            header.extend_from_slice(&chunk[..take]);
                            position += take as u64;
                            chunk = &chunk[take..];
                        }
                        let record = LocalRecord::check(entry, &header)
                            .map_err(|e| Error::format(&source_name, e))?;
                        start.publish(Ok(record.data_offset));
                        data_start = Some(record.data_offset);
                        record.data_offset
                    }
                };
                // The part of this chunk that is the member's data.
                let data_end = data_offset + entry.compressed_size;
                let from = position.max(data_offset);
                let to = (position + chunk.len() as u64).min(data_end);
                if from < to {
                    let bytes = &chunk[(from - position) as usize..(to - position) as usize];
                    hasher.update(bytes);
                    destination.write_at(entry, output, from - data_offset, bytes)?;
                    written += bytes.len() as u64;
                    progress(bytes.len() as u64);
                }
                position += chunk.len() as u64;
                Ok(())
            })?;
            if data_start.is_none() {
                return Err(Error::format(
                    &source_name,
                    archive_format::Error::Truncated {
                        record: "local file header",
                        offset: entry.local_header_offset,
                        needed: FIXED_LEN as u64,
                        available: header.len() as u64,
                    },
                ));
            }
            lock(&slice_crcs)?[*member][*slice] = Some((hasher, written));
            Ok(())
        }
    })?;
    let slice_crcs = slice_crcs.into_inner().map_err(|_| poisoned())?;
    for ((i, output), slices) in outputs.into_iter().enumerate().zip(slice_crcs) {
        let Some(output) = output else { continue };
        let entry = entries[i];
        let mut hasher = crc32fast::Hasher::new();
        let mut total = 0;
        for (crc, len) in slices.into_iter().flatten() {
            hasher.combine(&crc);
            total += len;
        }
        verify(&source_name, entry, total, hasher.finalize())?;
        destination.complete(i, entry, output)?;
    }
    Ok(())
}

/// Checks a member's size and CRC-32.
fn verify(source_name: &str, entry: &Entry, size: u64, crc32: u32) -> Result<()> {
    if size != entry.uncompressed_size {
        return Err(Error::format(
            source_name,
            archive_format::Error::SizeMismatch {
                name: entry.name.clone(),
                expected: entry.uncompressed_size,
                actual: size,
            },
        ));
    }
    if crc32 != entry.crc32 {
        return Err(Error::format(
            source_name,
            archive_format::Error::CrcMismatch {
                name: entry.name.clone(),
                expected: entry.crc32,
                actual: crc32,
            },
        ));
    }
    Ok(())
}

fn poisoned() -> Error {
    Error::Remote {
        source_name: "fetch".into(),
        message: "internal state lost after a worker failed".into(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    mutex.lock().map_err(|_| poisoned())
}

/// Runs `job(0..count)` on up to `workers` threads, in order of index; stops handing out
/// work after the first error and returns it.
fn run_parallel(
    workers: usize,
    count: usize,
    job: impl Fn(usize) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let work = || {
        while !failed.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= count {
                break;
            }
            if let Err(error) = job(index) {
                failed.store(true, Ordering::Relaxed);
                if let Ok(mut slot) = first_error.lock() {
                    slot.get_or_insert(error);
                }
            }
        }
    };
    let threads = workers.min(count);
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    match first_error.into_inner() {
        Ok(Some(error)) => Err(error),
        Ok(None) => Ok(()),
        Err(_) => Err(poisoned()),
    }
}

/// Where the parser of a run is.
enum State<'a, D: Destination> {
    /// Skipping bytes until the next member's local header.
    Seeking,
    /// Collecting the local header.
    Header(Vec<u8>),
    /// Streaming the member's data (`remaining` compressed bytes to go).
    Data {
        remaining: u64,
        sink: Box<DataSink<'a, D>>,
    },
    /// Every member of the run is done; remaining bytes are ignored.
    Done,
}

enum DataSink<'a, D: Destination> {
    Stored(Uncompressed<'a, D>),
    Deflate(flate2::write::DeflateDecoder<Uncompressed<'a, D>>),
}

/// Receives a member's uncompressed bytes: counts them (never more than declared), hashes
/// them and writes them to the destination at increasing offsets.
struct Uncompressed<'a, D: Destination> {
    destination: &'a D,
    entry: &'a Entry,
    output: D::Output,
    written: u64,
    hasher: crc32fast::Hasher,
    error: Option<Error>,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<D: Destination> Write for Uncompressed<'_, D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.entry.uncompressed_size {
            return Err(std::io::Error::other(format!(
                "decompresses to more than its declared {} bytes",
                self.entry.uncompressed_size
            )));
        }
        if let Err(error) = self
            .destination
            .write_at(self.entry, &self.output, self.written, buf)
        {
            let message = error.to_string();
            self.error = Some(error);
            return Err(std::io::Error::other(message));
        }
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        (self.progress)(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Parses a run's byte stream: local header, data, next local header…
struct RunParser<'a, D: Destination> {
    source_name: &'a str,
    entries: &'a [&'a Entry],
    members: &'a [usize],
    next: usize,
    /// Absolute offset of the next byte to arrive.
    position: u64,
    state: State<'a, D>,
    destination: &'a D,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<'a, D: Destination> RunParser<'a, D> {
    fn feed(&mut self, mut chunk: &[u8]) -> Result<()> {
        while !chunk.is_empty() {
            let taken = match &mut self.state {
                State::Done => chunk.len(),
                State::Seeking => {
                    let entry = self.entries[self.members[self.next]];
                    let skip = entry
                        .local_header_offset
                        .saturating_sub(self.position)
                        .min(chunk.len() as u64) as usize;
                    if skip == 0 {
                        self.state = State::Header(Vec::with_capacity(FIXED_LEN + 128));
                    }
                    skip
                }
                State::Header(header) => {
                    let needed = LocalFileHeader::total_len(header).unwrap_or(FIXED_LEN);
                    let take = (needed - header.len()).min(chunk.len());
                    header.extend_from_slice(&chunk[..take]);
                    if LocalFileHeader::total_len(header) == Some(header.len()) {
                        let header = std::mem::take(header);
                        self.start_member(&header)?;
                    }
                    take
                }
                State::Data { remaining, sink } => {
                    let take = (*remaining).min(chunk.len() as u64) as usize;
                    let result = match sink.as_mut() {
                        DataSink::Stored(out) => out.write_all(&chunk[..take]),
                        DataSink::Deflate(decoder) => decoder.write_all(&chunk[..take]),
                    };
                    if let Err(e) = result {
                        return Err(self.data_error(e));
                    }
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.finish_member()?;
                    }
                    take
                }
            };
            self.position += taken as u64;
            chunk = &chunk[taken..];
        }
        Ok(())
    }

    fn current(&self) -> &'a Entry {
        self.entries[self.members[self.next]]
    }

    fn start_member(&mut self, header: &[u8]) -> Result<()> {
        let entry = self.current();
        LocalRecord::check(entry, header).map_err(|e| Error::format(self.source_name, e))?;
        let out = Uncompressed {
            destination: self.destination,
            entry,
            output: self.destination.create(self.members[self.next], entry)?,
            written: 0,
            hasher: crc32fast::Hasher::new(),
            error: None,
            progress: self.progress,
        };
        let sink = if entry.method == METHOD_DEFLATE {
            DataSink::Deflate(flate2::write::DeflateDecoder::new(out))
        } else {
            DataSink::Stored(out)
        };
        self.state = State::Data {
            remaining: entry.compressed_size,
            sink: Box::new(sink),
        };
        if entry.compressed_size == 0 {
            self.finish_member()?;
        }
        Ok(())
    }

    fn finish_member(&mut self) -> Result<()> {
        let entry = self.current();
        let State::Data { sink, .. } = std::mem::replace(&mut self.state, State::Seeking) else {
            return Ok(());
        };
        let out = match *sink {
            DataSink::Stored(out) => out,
            DataSink::Deflate(decoder) => decoder.finish().map_err(|e| self.data_error(e))?,
        };
        verify(self.source_name, entry, out.written, out.hasher.finalize())?;
        self.destination
            .complete(self.members[self.next], entry, out.output)?;
        self.next += 1;
        if self.next == self.members.len() {
            self.state = State::Done;
        }
        Ok(())
    }

    /// Turns a write error of the data sink into the error that caused it.
    fn data_error(&mut self, error: std::io::Error) -> Error {
        let entry = self.current();
        let inner = match &mut self.state {
            State::Data { sink, .. } => match sink.as_mut() {
                DataSink::Stored(out) => out.error.take(),
                DataSink::Deflate(decoder) => decoder.get_mut().error.take(),
            },
            _ => None,
        };
        inner.unwrap_or_else(|| {
            Error::format(
                self.source_name,
                archive_format::Error::Invalid {
                    record: "member data",
                    offset: entry.local_header_offset,
                    reason: format!("entry {:?}: {error}", entry.name),
                },
            )
        })
    }

    /// Called when the run's bytes ended: every member must be complete.
    fn end(self) -> Result<()> {
        if matches!(self.state, State::Done) {
            return Ok(());
        }
        let entry = self.current();
        if let State::Header(header) = &self.state {
            // The run ended inside what should be a local header (bytes that are not
            // one can declare any length): say what is wrong with it.
            LocalFileHeader::parse(header, entry.local_header_offset)
                .map_err(|e| Error::format(self.source_name, e))?;
        }
        Err(Error::format(
            self.source_name,
            archive_format::Error::Truncated {
                record: "member data",
                offset: entry.local_header_offset,
                needed: entry.compressed_size,
                available: self.position.saturating_sub(entry.local_header_offset),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_groups_runs_and_slices() {
        let entry = |offset: u64, size: u64, limit: u64| Entry {
            name: format!("f{offset}"),
            kind: archive_format::read::EntryKind::File,
            method: METHOD_STORED,
            flags: 0,
            crc32: 0,
            compressed_size: size,
            uncompressed_size: size,
            local_header_offset: offset,
            central_offset: 0,
            central_len: 0,
            mtime: 0,
            mode: None,
            raw_name_len: 4,
            span_limit: limit,
        };
        let options = FetchOptions {
            concurrency: 4,
            part_size: 100,
            max_gap: 10,
        };
        let a = entry(0, 20, 54);
        let b = entry(54, 20, 108);
        let big = entry(108, 250, 392);
        let far = entry(1000, 5, 1039);
        let entries = [&a, &b, &big, &far];
        let parts = plan(&entries, &[0, 1, 2, 3], &options);
        let summary: Vec<String> = parts
            .iter()
            .map(|p| match p {
                Part::Run { range, members } => {
                    format!("run {}..{} {members:?}", range.start, range.end)
                }
                Part::Slice {
                    member,
                    range,
                    slice,
                } => format!("slice {member}.{slice} {}..{}", range.start, range.end),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "run 0..108 [0, 1]",
                "slice 2.0 108..202",
                "slice 2.1 202..297",
                "slice 2.2 297..392",
                "run 1000..1039 [3]",
            ]
        );
    }
}
