//! Ordered parallel reading of many files, for the packer.
//!
//! The packer writes files into an archive one after another, in an order it knows up
//! front. Reading them one at a time costs a round trip per small file on S3 and leaves
//! bandwidth unused for big ones. A [`Prefetcher`] reads ahead of its consumer with
//! `concurrency` worker threads: every file is split into chunks of at most
//! [`PrefetchOptions::chunk`] bytes and the workers take chunks strictly in file order, so
//! many small files become many parallel GETs and a big file becomes parallel ranged GETs
//! of its chunks. The consumer takes the files back in the same order with
//! [`Prefetcher::next`]; each is a [`PrefetchedFile`] that implements [`std::io::Read`].
//!
//! Memory is bounded: at most [`PrefetchOptions::window`] (2 × concurrency) data chunks
//! are fetched or in flight and not yet consumed. Workers wait rather than run further
//! ahead, so memory stays about `(window + concurrency + 1) × chunk` whatever the files.
//!
//! A file with [`PrefetchItem::crc_first`] is read twice: a first pass computes the CRC-32
//! of each chunk in the workers, drops the bytes and combines the CRC-32s in order; then
//! the data pass delivers the chunks. The packer needs the CRC-32 before the data to write
//! a store-mode local header without a data descriptor. The CRC pass of a file can run
//! while the consumer is still reading the previous file.
//!
//! A failed read stops the workers (reads in flight finish, nothing new starts). The
//! error surfaces in order, at the file it belongs to: from [`Prefetcher::next`] if it is
//! in the CRC pass or the first chunk, otherwise from [`PrefetchedFile`]'s `read` as an
//! [`std::io::Error`] of kind `Other` that wraps the crate's [`Error`].
//!
//! ```
//! use std::io::Read;
//! use std::sync::Arc;
//!
//! use range_reader::memory::Memory;
//! use range_reader::prefetch::{PrefetchItem, PrefetchOptions, Prefetcher};
//!
//! let files = [b"hello".to_vec(), vec![7; 100]];
//! let items = files
//!     .iter()
//!     .enumerate()
//!     .map(|(i, bytes)| PrefetchItem {
//!         source: Arc::new(Memory::new(format!("file{i}"), bytes.clone())),
//!         len: bytes.len() as u64,
//!         crc_first: true,
//!     })
//!     .collect();
//! let options = PrefetchOptions { chunk: 16, concurrency: 4 };
//! let mut prefetcher = Prefetcher::start(items, options);
//! for expected in &files {
//!     let mut file = prefetcher.next().expect("one file per item")?;
//!     assert_eq!(file.crc32, Some(crc32fast::hash(expected)));
//!     let mut bytes = Vec::new();
//!     file.read_to_end(&mut bytes)?;
//!     assert_eq!(&bytes, expected);
//! }
//! assert!(prefetcher.next().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::source::RangeSource;
use crate::{Error, Result};

/// Default [`PrefetchOptions::chunk`]: 8 MiB.
pub const DEFAULT_CHUNK: u64 = 8 * 1024 * 1024;

/// One file to read.
#[derive(Debug, Clone)]
pub struct PrefetchItem {
    /// Where the bytes come from.
    pub source: Arc<dyn RangeSource>,
    /// The file's expected length. Bytes past it are never read. A source whose
    /// [`RangeSource::len`] differs (checked after the first read, when remote sources
    /// know it without another request) is an [`Error::Changed`]; a short read is an
    /// error. A file of length 0 issues no request at all, so its source is not checked.
    pub len: u64,
    /// Compute the CRC-32 of the whole file in a first pass, before its data is delivered
    /// ([`PrefetchedFile::crc32`]).
    pub crc_first: bool,
}

/// How a [`Prefetcher`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefetchOptions {
    /// Largest read request, in bytes (0 counts as 1).
    pub chunk: u64,
    /// Worker threads, hence parallel requests (0 counts as 1).
    pub concurrency: usize,
}

impl Default for PrefetchOptions {
    fn default() -> Self {
        PrefetchOptions {
            chunk: DEFAULT_CHUNK,
            concurrency: 8,
        }
    }
}

impl PrefetchOptions {
    /// The most data chunks fetched (or being fetched) and not yet consumed: twice the
    /// concurrency, so every worker has a chunk to fetch while the consumer is busy with
    /// the one it holds.
    pub fn window(&self) -> usize {
        self.concurrency.max(1).saturating_mul(2)
    }
}

/// Reads a list of files ahead of its consumer, in parallel and in order. See the
/// [module docs](self).
///
/// Dropping it stops the workers: reads in flight finish (a remote read is bounded by
/// its timeouts and retry policy), nothing new starts, and the threads exit on their own;
/// `drop` does not wait for them. A [`PrefetchedFile`] still alive then can read the
/// chunks that were already fetched or in flight and gets an error after that.
pub struct Prefetcher {
    shared: Arc<Shared>,
    /// The item [`Prefetcher::next`] returns next.
    next_item: usize,
    /// Set once `next` returned an error: the rest is not delivered.
    finished: bool,
}

/// One file's data, in order: implements [`Read`], yielding exactly its length in bytes,
/// then end of file.
///
/// Dropping it before the end skips the rest of the file (chunks not fetched yet are not
/// fetched). It stays readable until [`Prefetcher::next`] is called again; after that,
/// reads fail (the prefetcher has moved on and dropped its unread chunks).
pub struct PrefetchedFile {
    /// The CRC-32 of the whole file when the item asked for [`PrefetchItem::crc_first`].
    pub crc32: Option<u32>,
    shared: Arc<Shared>,
    item: usize,
    len: u64,
    chunks: u64,
    /// Index of the chunk to take next.
    next_chunk: u64,
    buffer: Vec<u8>,
    position: usize,
    /// Set after a failed read: later reads fail the same way.
    failed: Option<String>,
}

impl PrefetchedFile {
    /// The file's position in the list given to [`Prefetcher::start`].
    pub fn index(&self) -> usize {
        self.item
    }

    /// The file's length in bytes (the item's [`PrefetchItem::len`]).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a file of 0 bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The source's name, for messages.
    pub fn name(&self) -> String {
        self.shared.items[self.item].source.name()
    }
}

/// Which of an item's passes a task belongs to (the CRC pass comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Pass {
    Crc,
    Data,
}

/// One chunk read. Tasks are handed out in their `Ord` order: by item, pass, chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Task {
    item: usize,
    pass: Pass,
    chunk: u64,
}

/// A finished task's result.
enum Outcome {
    Data(Result<Vec<u8>>),
    Crc(Result<crc32fast::Hasher>),
}

/// The CRC pass of one item: each chunk's CRC-32 as it arrives.
struct CrcPass {
    chunks: Vec<Option<crc32fast::Hasher>>,
    missing: usize,
    error: Option<Error>,
}

/// What the workers and the consumer share, under one lock.
struct State {
    /// The next task to hand out; `None` when all are handed out.
    cursor: Option<Task>,
    /// Items before this one are no longer wanted: their chunks are dropped on arrival.
    floor: usize,
    /// Data chunks handed out and not yet consumed or dropped.
    outstanding: usize,
    /// Highest `outstanding` so far (tests check the window).
    peak_outstanding: usize,
    /// Fetched data chunks by (item, chunk).
    data: HashMap<(usize, u64), Result<Vec<u8>>>,
    /// CRC passes under way, by item.
    crc: HashMap<usize, CrcPass>,
    /// Why the workers stopped, after a failed read.
    failure: Option<String>,
    /// The [`Prefetcher`] was dropped.
    cancelled: bool,
}

struct Shared {
    items: Vec<PrefetchItem>,
    chunk: u64,
    window: usize,
    state: Mutex<State>,
    /// Wakes workers: window space, a raised floor, a stop.
    work: Condvar,
    /// Wakes the consumer: a result arrived, or the workers stopped.
    results: Condvar,
}

impl Prefetcher {
    /// Starts reading `items` with `options.concurrency` worker threads (fewer if there
    /// are fewer chunks to read).
    pub fn start(items: Vec<PrefetchItem>, options: PrefetchOptions) -> Self {
        let chunk = options.chunk.max(1);
        let tasks: u64 = items
            .iter()
            .map(|item| item.len.div_ceil(chunk) * (1 + u64::from(item.crc_first)))
            .fold(0, u64::saturating_add);
        let workers = options
            .concurrency
            .max(1)
            .min(usize::try_from(tasks).unwrap_or(usize::MAX));
        let mut shared = Shared {
            items,
            chunk,
            window: options.window(),
            state: Mutex::new(State {
                cursor: None,
                floor: 0,
                outstanding: 0,
                peak_outstanding: 0,
                data: HashMap::new(),
                crc: HashMap::new(),
                failure: None,
                cancelled: false,
            }),
            work: Condvar::new(),
            results: Condvar::new(),
        };
        let first = shared.first_task(0);
        shared
            .state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .cursor = first;
        let shared = Arc::new(shared);
        for _ in 0..workers {
            let worker = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name("lakezip-prefetch".into())
                .spawn(move || worker.work());
            if let Err(error) = spawned {
                // The consumer gets this as the error of the first chunk nobody took.
                shared.fail(format!("cannot start a prefetch worker thread: {error}"));
                break;
            }
        }
        Prefetcher {
            shared,
            next_item: 0,
            finished: false,
        }
    }

    /// The next file, in the order of the items. Blocks until its first chunk (and, with
    /// [`PrefetchItem::crc_first`], its whole CRC pass) is ready. Calling it again ends
    /// the previous file: its unread chunks are dropped.
    ///
    /// `None` after the last item, and after an error was returned.
    // Not an Iterator: `next` ends the previous file, so `collect` and friends would
    // hand out files that can no longer be read.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<PrefetchedFile>> {
        if self.finished || self.next_item >= self.shared.items.len() {
            return None;
        }
        let index = self.next_item;
        self.next_item += 1;
        self.shared.raise_floor(index);
        let opened = self.open(index);
        if opened.is_err() {
            self.finished = true;
        }
        Some(opened)
    }

    fn open(&self, index: usize) -> Result<PrefetchedFile> {
        let item = &self.shared.items[index];
        let chunks = self.shared.chunks(index);
        let crc32 = match (item.crc_first, chunks) {
            (false, _) => None,
            (true, 0) => Some(0),
            (true, _) => Some(self.shared.take_crc(index)?),
        };
        let mut file = PrefetchedFile {
            crc32,
            shared: Arc::clone(&self.shared),
            item: index,
            len: item.len,
            chunks,
            next_chunk: 0,
            buffer: Vec::new(),
            position: 0,
            failed: None,
        };
        if chunks > 0 {
            file.buffer = self.shared.take_data(index, 0)?;
            file.next_chunk = 1;
        }
        Ok(file)
    }

    /// The most data chunks that were ever fetched and not consumed at once.
    #[cfg(test)]
    fn peak_outstanding(&self) -> usize {
        self.shared.lock().peak_outstanding
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.cancelled = true;
        drop(state);
        self.shared.work.notify_all();
        self.shared.results.notify_all();
    }
}

impl fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefetcher")
            .field("items", &self.shared.items.len())
            .field("next_item", &self.next_item)
            .field("chunk", &self.shared.chunk)
            .field("window", &self.shared.window)
            .finish_non_exhaustive()
    }
}

impl Read for PrefetchedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(message) = &self.failed {
            return Err(io::Error::other(message.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        while self.position == self.buffer.len() {
            if self.next_chunk >= self.chunks {
                self.buffer = Vec::new();
                self.position = 0;
                return Ok(0);
            }
            match self.shared.take_data(self.item, self.next_chunk) {
                Ok(bytes) => {
                    self.buffer = bytes;
                    self.position = 0;
                    self.next_chunk += 1;
                }
                Err(error) => {
                    self.failed = Some(error.to_string());
                    self.buffer = Vec::new();
                    self.position = 0;
                    return Err(io::Error::other(error));
                }
            }
        }
        let n = buf.len().min(self.buffer.len() - self.position);
        buf[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

impl Drop for PrefetchedFile {
    fn drop(&mut self) {
        // Whatever is left of this file is not wanted any more.
        self.shared.raise_floor(self.item + 1);
    }
}

impl fmt::Debug for PrefetchedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefetchedFile")
            .field("name", &self.name())
            .field("index", &self.item)
            .field("len", &self.len)
            .field("crc32", &self.crc32)
            .finish_non_exhaustive()
    }
}

/// A handed-out task. If the worker unwinds before delivering it (a source panicked), the
/// drop delivers an error so that the consumer never waits for it.
struct Claim<'a> {
    shared: &'a Shared,
    task: Task,
    delivered: bool,
}

impl Claim<'_> {
    fn deliver(mut self, outcome: Outcome) {
        self.delivered = true;
        self.shared.deliver(self.task, outcome);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.delivered {
            let error = Error::Remote {
                source_name: self.shared.items[self.task.item].source.name(),
                message: "a prefetch worker panicked while reading".into(),
            };
            let outcome = match self.task.pass {
                Pass::Crc => Outcome::Crc(Err(error)),
                Pass::Data => Outcome::Data(Err(error)),
            };
            self.shared.deliver(self.task, outcome);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; if a panic ever did, the state is still
        // consistent enough to stop cleanly.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, condvar: &Condvar, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    fn chunks(&self, item: usize) -> u64 {
        self.items[item].len.div_ceil(self.chunk)
    }

    /// The first task of the first item at or after `item` that has bytes.
    fn first_task(&self, item: usize) -> Option<Task> {
        let item = (item..self.items.len()).find(|&i| self.items[i].len > 0)?;
        let pass = if self.items[item].crc_first {
            Pass::Crc
        } else {
            Pass::Data
        };
        Some(Task {
            item,
            pass,
            chunk: 0,
        })
    }

    fn after(&self, task: Task) -> Option<Task> {
        if task.chunk + 1 < self.chunks(task.item) {
            Some(Task {
                chunk: task.chunk + 1,
                ..task
            })
        } else if task.pass == Pass::Crc {
            Some(Task {
                pass: Pass::Data,
                chunk: 0,
                ..task
            })
        } else {
            self.first_task(task.item + 1)
        }
    }

    /// Whether `task` was handed out (or skipped): tasks go out in order.
    fn claimed(state: &State, task: Task) -> bool {
        state.cursor.is_none_or(|cursor| task < cursor)
    }

    /// Stops the workers after an error.
    fn fail(&self, reason: String) {
        let mut state = self.lock();
        state.failure.get_or_insert(reason);
        drop(state);
        self.work.notify_all();
        self.results.notify_all();
    }

    /// The error for a chunk that will never be read because the workers stopped.
    fn stopped(&self, state: &State, item: usize) -> Option<Error> {
        let message = if let Some(failure) = &state.failure {
            format!("not read: {failure}")
        } else if state.cancelled {
            "not read: the prefetcher was dropped".to_owned()
        } else {
            return None;
        };
        Some(Error::Remote {
            source_name: self.items[item].source.name(),
            message,
        })
    }

    /// Drops everything before `floor`: fetched chunks now, in-flight ones on arrival.
    fn raise_floor(&self, floor: usize) {
        let mut state = self.lock();
        if floor <= state.floor {
            return;
        }
        state.floor = floor;
        let before = state.data.len();
        state.data.retain(|&(item, _), _| item >= floor);
        let dropped = before - state.data.len();
        state.outstanding = state.outstanding.saturating_sub(dropped);
        state.crc.retain(|&item, _| item >= floor);
        drop(state);
        self.work.notify_all();
    }

    fn work(&self) {
        while let Some(task) = self.claim() {
            let claim = Claim {
                shared: self,
                task,
                delivered: false,
            };
            let bytes = self.read_chunk(task);
            let outcome = match task.pass {
                Pass::Data => Outcome::Data(bytes),
                Pass::Crc => Outcome::Crc(bytes.map(|bytes| {
                    let mut hasher = crc32fast::Hasher::new();
                    hasher.update(&bytes);
                    hasher
                })),
            };
            claim.deliver(outcome);
        }
    }

    /// The next task for a worker; `None` when there is nothing left or it must stop.
    fn claim(&self) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if state.cancelled || state.failure.is_some() {
                return None;
            }
            let task = state.cursor?;
            if task.item < state.floor {
                state.cursor = self.first_task(state.floor);
                continue;
            }
            if task.pass == Pass::Data && state.outstanding >= self.window {
                state = self.wait(&self.work, state);
                continue;
            }
            state.cursor = self.after(task);
            match task.pass {
                Pass::Data => {
                    state.outstanding += 1;
                    state.peak_outstanding = state.peak_outstanding.max(state.outstanding);
                }
                Pass::Crc if task.chunk == 0 => {
                    let chunks = usize::try_from(self.chunks(task.item)).unwrap_or(usize::MAX);
                    state.crc.insert(
                        task.item,
                        CrcPass {
                            chunks: vec![None; chunks],
                            missing: chunks,
                            error: None,
                        },
                    );
                }
                Pass::Crc => {}
            }
            return Some(task);
        }
    }

    fn read_chunk(&self, task: Task) -> Result<Vec<u8>> {
        let item = &self.items[task.item];
        let start = task.chunk.saturating_mul(self.chunk);
        let end = start.saturating_add(self.chunk).min(item.len);
        let bytes = item.source.read_range(start..end)?;
        if bytes.len() as u64 != end - start {
            return Err(Error::Remote {
                source_name: item.source.name(),
                message: format!(
                    "short read: asked for bytes {start}..{end}, got {} bytes",
                    bytes.len()
                ),
            });
        }
        // After a first read a remote source knows its length without another request.
        if task.chunk == 0 {
            let actual = item.source.len()?;
            if actual != item.len {
                return Err(Error::Changed {
                    source_name: item.source.name(),
                    detail: format!("expected {} bytes, the source has {actual}", item.len),
                });
            }
        }
        Ok(bytes)
    }

    fn deliver(&self, task: Task, outcome: Outcome) {
        let mut state = self.lock();
        if task.item < state.floor {
            // Nobody wants this chunk any more, nor its error.
            if task.pass == Pass::Data {
                state.outstanding = state.outstanding.saturating_sub(1);
                drop(state);
                self.work.notify_all();
            }
            return;
        }
        let failed = match outcome {
            Outcome::Data(result) => {
                let failed = result.as_ref().err().map(ToString::to_string);
                state.data.insert((task.item, task.chunk), result);
                failed
            }
            Outcome::Crc(result) => {
                let failed = result.as_ref().err().map(ToString::to_string);
                if let Some(pass) = state.crc.get_mut(&task.item) {
                    match result {
                        Ok(hasher) => {
                            if let Some(slot) = usize::try_from(task.chunk)
                                .ok()
                                .and_then(|i| pass.chunks.get_mut(i))
                                && slot.replace(hasher).is_none()
                            {
                                pass.missing -= 1;
                            }
                        }
                        Err(error) => {
                            pass.error.get_or_insert(error);
                        }
                    }
                }
                failed
            }
        };
        if let Some(message) = failed {
            state
                .failure
                .get_or_insert_with(|| format!("reading stopped after an error: {message}"));
            self.work.notify_all();
        }
        drop(state);
        self.results.notify_all();
    }

    /// Waits for data chunk `chunk` of `item` and takes it.
    fn take_data(&self, item: usize, chunk: u64) -> Result<Vec<u8>> {
        let task = Task {
            item,
            pass: Pass::Data,
            chunk,
        };
        let mut state = self.lock();
        loop {
            if item < state.floor {
                return Err(Error::Remote {
                    source_name: self.items[item].source.name(),
                    message: "read after the prefetcher moved on to the next file".into(),
                });
            }
            if let Some(result) = state.data.remove(&(item, chunk)) {
                state.outstanding = state.outstanding.saturating_sub(1);
                drop(state);
                self.work.notify_all();
                return result;
            }
            if !Self::claimed(&state, task)
                && let Some(error) = self.stopped(&state, item)
            {
                return Err(error);
            }
            state = self.wait(&self.results, state);
        }
    }

    /// Waits for the CRC pass of `item` (which has at least one chunk) and returns the
    /// CRC-32 of the whole file.
    fn take_crc(&self, item: usize) -> Result<u32> {
        let last = Task {
            item,
            pass: Pass::Crc,
            chunk: self.chunks(item) - 1,
        };
        let mut state = self.lock();
        loop {
            if let Some(pass) = state.crc.get_mut(&item) {
                if let Some(error) = pass.error.take() {
                    state.crc.remove(&item);
                    return Err(error);
                }
                if pass.missing == 0 {
                    let mut combined = crc32fast::Hasher::new();
                    for hasher in pass.chunks.iter().flatten() {
                        combined.combine(hasher);
                    }
                    state.crc.remove(&item);
                    return Ok(combined.finalize());
                }
            }
            // Once the last chunk is handed out, every chunk of the pass gets delivered.
            if !Self::claimed(&state, last)
                && let Some(error) = self.stopped(&state, item)
            {
                return Err(error);
            }
            state = self.wait(&self.results, state);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::ops::Range;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;
    use crate::memory::Memory;

    /// Counters shared by every [`Probe`] of a test.
    #[derive(Debug, Default)]
    struct Counters {
        reads: AtomicUsize,
        active: AtomicUsize,
        peak_active: AtomicUsize,
        len_calls: AtomicUsize,
    }

    /// A memory source that counts reads (and how many run at once), can sleep in each
    /// read, and fails reads that touch a chosen offset.
    #[derive(Debug)]
    struct Probe {
        inner: Memory,
        counters: Arc<Counters>,
        delay: Duration,
        fail_at: Option<u64>,
    }

    impl RangeSource for Probe {
        fn name(&self) -> String {
            self.inner.name()
        }

        fn len(&self) -> Result<u64> {
            self.counters.len_calls.fetch_add(1, Ordering::SeqCst);
            self.inner.len()
        }

        fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
            let c = &self.counters;
            c.reads.fetch_add(1, Ordering::SeqCst);
            let active = c.active.fetch_add(1, Ordering::SeqCst) + 1;
            c.peak_active.fetch_max(active, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            c.active.fetch_sub(1, Ordering::SeqCst);
            if let Some(at) = self.fail_at
                && range.contains(&at)
            {
                return Err(Error::Remote {
                    source_name: self.name(),
                    message: format!("injected failure at byte {at}"),
                });
            }
            self.inner.read_range(range)
        }
    }

    /// Deterministic test bytes, different per file.
    fn bytes(seed: usize, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(131)) as u8)
            .collect()
    }

    fn item(source: impl RangeSource + 'static, len: usize, crc_first: bool) -> PrefetchItem {
        PrefetchItem {
            source: Arc::new(source),
            len: len as u64,
            crc_first,
        }
    }

    fn probe(counters: &Arc<Counters>, name: &str, data: Vec<u8>) -> Probe {
        Probe {
            inner: Memory::new(name, data),
            counters: Arc::clone(counters),
            delay: Duration::ZERO,
            fail_at: None,
        }
    }

    fn options(chunk: u64, concurrency: usize) -> PrefetchOptions {
        PrefetchOptions { chunk, concurrency }
    }

    /// Runs `test` on a thread and fails if it takes longer than 20 s (a hang).
    fn within_time_limit(test: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            test();
            let _ = done.send(());
        });
        match finished.recv_timeout(Duration::from_secs(20)) {
            Ok(()) => handle.join().unwrap(),
            // The test panicked: join to report its panic.
            Err(mpsc::RecvTimeoutError::Disconnected) => handle.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test hung"),
        }
    }

    /// Waits until the workers are gone (they hold the only other references).
    fn assert_workers_exit(shared: std::sync::Weak<Shared>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while shared.upgrade().is_some() {
            assert!(Instant::now() < deadline, "prefetch workers did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn read_all(file: &mut PrefetchedFile) -> Vec<u8> {
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn files_come_back_in_order_with_exact_bytes_and_crcs() {
        let chunk = 10usize;
        let sizes = [0, 1, 9, 10, 11, 0, 57, 100, 3, 0, 250];
        let files: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| bytes(i, n))
            .collect();
        let items = files
            .iter()
            .enumerate()
            .map(|(i, data)| {
                item(
                    Memory::new(format!("f{i}"), data.clone()),
                    data.len(),
                    i % 2 == 0,
                )
            })
            .collect();
        let mut prefetcher = Prefetcher::start(items, options(chunk as u64, 3));
        for (i, expected) in files.iter().enumerate() {
            let mut file = prefetcher.next().unwrap().unwrap();
            assert_eq!(file.index(), i);
            assert_eq!(file.len(), expected.len() as u64);
            let crc = (i % 2 == 0).then(|| crc32fast::hash(expected));
            assert_eq!(file.crc32, crc, "file {i}");
            assert_eq!(&read_all(&mut file), expected, "file {i}");
            // End of file stays end of file.
            assert_eq!(file.read(&mut [0; 4]).unwrap(), 0);
        }
        assert!(prefetcher.next().is_none());
        assert!(prefetcher.next().is_none());
    }

    #[test]
    fn no_items() {
        let mut prefetcher = Prefetcher::start(Vec::new(), PrefetchOptions::default());
        assert!(prefetcher.next().is_none());
    }

    #[test]
    fn zero_length_items_issue_no_reads() {
        let counters = Arc::new(Counters::default());
        let items = (0..5)
            .map(|i| item(probe(&counters, "empty", Vec::new()), 0, i % 2 == 0))
            .collect();
        let mut prefetcher = Prefetcher::start(items, options(8, 4));
        for i in 0..5 {
            let mut file = prefetcher.next().unwrap().unwrap();
            assert!(file.is_empty());
            assert_eq!(file.crc32, (i % 2 == 0).then_some(0));
            assert!(read_all(&mut file).is_empty());
        }
        assert!(prefetcher.next().is_none());
        assert_eq!(counters.reads.load(Ordering::SeqCst), 0);
        assert_eq!(counters.len_calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn crc_pass_reads_every_chunk_twice_and_the_length_once_per_pass() {
        let counters = Arc::new(Counters::default());
        let data = bytes(7, 95);
        let items = vec![item(probe(&counters, "big", data.clone()), 95, true)];
        let mut prefetcher = Prefetcher::start(items, options(10, 4));
        let mut file = prefetcher.next().unwrap().unwrap();
        assert_eq!(file.crc32, Some(crc32fast::hash(&data)));
        assert_eq!(read_all(&mut file), data);
        assert_eq!(counters.reads.load(Ordering::SeqCst), 20);
        assert_eq!(counters.len_calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn small_files_are_read_in_parallel() {
        let counters = Arc::new(Counters::default());
        let files: Vec<Vec<u8>> = (0..16).map(|i| bytes(i, 5)).collect();
        let items = files
            .iter()
            .map(|data| {
                let mut source = probe(&counters, "small", data.clone());
                source.delay = Duration::from_millis(20);
                item(source, data.len(), false)
            })
            .collect();
        let mut prefetcher = Prefetcher::start(items, options(1024, 4));
        for expected in &files {
            assert_eq!(
                &read_all(&mut prefetcher.next().unwrap().unwrap()),
                expected
            );
        }
        let peak = counters.peak_active.load(Ordering::SeqCst);
        assert!((2..=4).contains(&peak), "peak concurrent reads {peak}");
    }

    #[test]
    fn a_big_file_is_read_with_parallel_ranged_reads() {
        let counters = Arc::new(Counters::default());
        let data = bytes(3, 1000);
        let mut source = probe(&counters, "big", data.clone());
        source.delay = Duration::from_millis(10);
        let mut prefetcher = Prefetcher::start(vec![item(source, 1000, false)], options(50, 4));
        assert_eq!(read_all(&mut prefetcher.next().unwrap().unwrap()), data);
        assert_eq!(counters.reads.load(Ordering::SeqCst), 20);
        let peak = counters.peak_active.load(Ordering::SeqCst);
        assert!((2..=4).contains(&peak), "peak concurrent reads {peak}");
    }

    #[test]
    fn the_window_bounds_chunks_fetched_ahead() {
        let counters = Arc::new(Counters::default());
        let files: Vec<Vec<u8>> = (0..6).map(|i| bytes(i, 200)).collect();
        let items = files
            .iter()
            .enumerate()
            .map(|(i, data)| item(probe(&counters, "f", data.clone()), 200, i == 3))
            .collect();
        let options = options(10, 3);
        let mut prefetcher = Prefetcher::start(items, options);
        for expected in &files {
            let mut file = prefetcher.next().unwrap().unwrap();
            let mut out = Vec::new();
            let mut buf = [0; 7];
            loop {
                // A slow consumer: the workers fill the window and wait.
                std::thread::sleep(Duration::from_micros(300));
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(&out, expected);
        }
        let peak = prefetcher.peak_outstanding();
        assert!(
            peak <= options.window(),
            "peak {peak} > window {}",
            options.window()
        );
        assert_eq!(peak, options.window(), "the workers should fill the window");
    }

    #[test]
    fn an_error_in_the_crc_pass_comes_from_next() {
        within_time_limit(|| {
            let counters = Arc::new(Counters::default());
            let mut failing = probe(&counters, "bad", bytes(1, 100));
            failing.fail_at = Some(55);
            let items = vec![
                item(probe(&counters, "good", bytes(0, 30)), 30, true),
                item(failing, 100, true),
                item(probe(&counters, "after", bytes(2, 30)), 30, false),
            ];
            let mut prefetcher = Prefetcher::start(items, options(10, 3));
            let mut first = prefetcher.next().unwrap().unwrap();
            assert_eq!(read_all(&mut first), bytes(0, 30));
            drop(first);
            let error = prefetcher.next().unwrap().unwrap_err().to_string();
            assert!(
                error.contains("bad") && error.contains("injected failure at byte 55"),
                "{error}"
            );
            assert!(prefetcher.next().is_none(), "nothing after an error");
            let shared = Arc::downgrade(&prefetcher.shared);
            drop(prefetcher);
            assert_workers_exit(shared);
        });
    }

    #[test]
    fn an_error_in_the_first_chunk_comes_from_next() {
        within_time_limit(|| {
            let counters = Arc::new(Counters::default());
            let mut failing = probe(&counters, "bad", bytes(1, 100));
            failing.fail_at = Some(0);
            let mut prefetcher = Prefetcher::start(vec![item(failing, 100, false)], options(10, 2));
            let error = prefetcher.next().unwrap().unwrap_err();
            assert!(matches!(error, Error::Remote { .. }), "{error}");
            assert!(prefetcher.next().is_none());
        });
    }

    #[test]
    fn an_error_mid_file_comes_from_read_and_stops_the_workers() {
        within_time_limit(|| {
            let counters = Arc::new(Counters::default());
            let mut failing = probe(&counters, "bad", bytes(1, 1000));
            failing.fail_at = Some(305);
            let items = vec![
                item(failing, 1000, false),
                item(probe(&counters, "after", bytes(2, 1000)), 1000, false),
            ];
            let mut prefetcher = Prefetcher::start(items, options(10, 4));
            let mut file = prefetcher.next().unwrap().unwrap();
            let mut out = Vec::new();
            let error = file.read_to_end(&mut out).unwrap_err();
            // Everything before the failed chunk arrives intact.
            assert_eq!(out, bytes(1, 1000)[..300]);
            assert_eq!(error.kind(), io::ErrorKind::Other);
            let inner = error.get_ref().and_then(|e| e.downcast_ref::<Error>());
            assert!(matches!(inner, Some(Error::Remote { .. })), "{error:?}");
            assert!(
                error.to_string().contains("injected failure at byte 305"),
                "{error}"
            );
            // Later reads keep failing rather than hang or skip.
            assert!(file.read(&mut [0; 8]).is_err());
            drop(file);
            // The workers stopped: the next file is not read past what was in flight.
            let reads = counters.reads.load(Ordering::SeqCst);
            assert!(reads < 40 + 8, "{reads} reads");
            let next = prefetcher.next().unwrap();
            let error = next.unwrap_err().to_string();
            assert!(
                error.contains("not read") && error.contains("injected failure"),
                "{error}"
            );
            let shared = Arc::downgrade(&prefetcher.shared);
            drop(prefetcher);
            assert_workers_exit(shared);
        });
    }

    #[test]
    fn an_error_ahead_surfaces_at_its_own_file() {
        within_time_limit(|| {
            let counters = Arc::new(Counters::default());
            let mut failing = probe(&counters, "bad", bytes(9, 20));
            failing.fail_at = Some(0);
            let items = vec![
                item(probe(&counters, "a", bytes(0, 20)), 20, false),
                item(probe(&counters, "b", bytes(1, 20)), 20, true),
                item(failing, 20, false),
            ];
            let mut prefetcher = Prefetcher::start(items, options(10, 4));
            // Let the workers reach the failing file before consuming anything.
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(
                read_all(&mut prefetcher.next().unwrap().unwrap()),
                bytes(0, 20)
            );
            let mut second = prefetcher.next().unwrap().unwrap();
            assert_eq!(second.crc32, Some(crc32fast::hash(&bytes(1, 20))));
            assert_eq!(read_all(&mut second), bytes(1, 20));
            let error = prefetcher.next().unwrap().unwrap_err().to_string();
            assert!(error.contains("injected failure at byte 0"), "{error}");
        });
    }

    #[test]
    fn a_length_mismatch_is_an_error() {
        within_time_limit(|| {
            let items = vec![item(Memory::new("longer", bytes(0, 30)), 20, false)];
            let mut prefetcher = Prefetcher::start(items, options(10, 2));
            let error = prefetcher.next().unwrap().unwrap_err();
            assert!(matches!(error, Error::Changed { .. }), "{error}");
            assert!(
                error
                    .to_string()
                    .contains("expected 20 bytes, the source has 30"),
                "{error}"
            );
            // A source shorter than the expected length fails too (reading past its end).
            let items = vec![item(Memory::new("shorter", bytes(0, 15)), 20, true)];
            let mut prefetcher = Prefetcher::start(items, options(10, 2));
            assert!(prefetcher.next().unwrap().is_err());
        });
    }

    #[test]
    fn a_short_read_is_an_error() {
        #[derive(Debug)]
        struct Short;
        impl RangeSource for Short {
            fn name(&self) -> String {
                "short".into()
            }
            fn len(&self) -> Result<u64> {
                Ok(100)
            }
            fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>> {
                Ok(vec![0; (range.end - range.start - 1) as usize])
            }
        }
        within_time_limit(|| {
            let mut prefetcher = Prefetcher::start(vec![item(Short, 100, false)], options(10, 2));
            let error = prefetcher.next().unwrap().unwrap_err().to_string();
            assert!(
                error.contains("short read: asked for bytes 0..10, got 9 bytes"),
                "{error}"
            );
        });
    }

    #[test]
    fn a_panicking_source_is_an_error_not_a_hang() {
        #[derive(Debug)]
        struct Panics;
        impl RangeSource for Panics {
            fn name(&self) -> String {
                "panics".into()
            }
            fn len(&self) -> Result<u64> {
                Ok(10)
            }
            fn read_range(&self, _: Range<u64>) -> Result<Vec<u8>> {
                panic!("source bug")
            }
        }
        within_time_limit(|| {
            let mut prefetcher = Prefetcher::start(vec![item(Panics, 10, true)], options(10, 1));
            let error = prefetcher.next().unwrap().unwrap_err().to_string();
            assert!(error.contains("panicked"), "{error}");
        });
    }

    #[test]
    fn dropping_a_file_early_skips_the_rest_of_it() {
        within_time_limit(|| {
            let counters = Arc::new(Counters::default());
            let mut big = probe(&counters, "big", bytes(0, 10_000));
            big.delay = Duration::from_millis(1);
            let items = vec![
                item(big, 10_000, false),
                item(probe(&counters, "next", bytes(1, 35)), 35, true),
                item(probe(&counters, "last", bytes(2, 5)), 5, false),
            ];
            let mut prefetcher = Prefetcher::start(items, options(10, 2));
            let mut first = prefetcher.next().unwrap().unwrap();
            let mut head = [0; 25];
            first.read_exact(&mut head).unwrap();
            assert_eq!(head, bytes(0, 10_000)[..25]);
            drop(first);
            let mut second = prefetcher.next().unwrap().unwrap();
            assert_eq!(second.crc32, Some(crc32fast::hash(&bytes(1, 35))));
            assert_eq!(read_all(&mut second), bytes(1, 35));
            assert_eq!(
                read_all(&mut prefetcher.next().unwrap().unwrap()),
                bytes(2, 5)
            );
            // Far fewer than the big file's 1,000 chunks were read.
            let reads = counters.reads.load(Ordering::SeqCst);
            assert!(reads < 100, "{reads} reads");
            assert!(prefetcher.peak_outstanding() <= 4);
        });
    }

    #[test]
    fn a_file_read_after_next_fails_instead_of_hanging() {
        within_time_limit(|| {
            let items = vec![
                item(Memory::new("a", bytes(0, 100)), 100, false),
                item(Memory::new("b", bytes(1, 100)), 100, false),
            ];
            let mut prefetcher = Prefetcher::start(items, options(10, 1));
            let mut first = prefetcher.next().unwrap().unwrap();
            let mut second = prefetcher.next().unwrap().unwrap();
            let mut out = Vec::new();
            let error = first.read_to_end(&mut out).unwrap_err().to_string();
            assert!(error.contains("moved on"), "{error}");
            assert_eq!(read_all(&mut second), bytes(1, 100));
        });
    }

    #[test]
    fn dropping_the_prefetcher_stops_the_workers() {
        within_time_limit(|| {
            let counters = Arc::new(Counters::default());
            let items = (0..200)
                .map(|i| {
                    let mut source = probe(&counters, "slow", bytes(i, 100));
                    source.delay = Duration::from_millis(2);
                    item(source, 100, i % 3 == 0)
                })
                .collect();
            let mut prefetcher = Prefetcher::start(items, options(10, 4));
            let mut file = prefetcher.next().unwrap().unwrap();
            let shared = Arc::downgrade(&prefetcher.shared);
            drop(prefetcher);
            // The file that is out can be read as far as chunks were fetched or in
            // flight, then fails; it never hangs.
            let mut out = Vec::new();
            match file.read_to_end(&mut out) {
                Ok(_) => assert_eq!(out, bytes(0, 100)),
                Err(error) => assert!(error.to_string().contains("dropped"), "{error}"),
            }
            drop(file);
            assert_workers_exit(shared);
            let reads = counters.reads.load(Ordering::SeqCst);
            assert!(reads < 100, "{reads} reads after an early drop");
        });
    }

    #[test]
    fn dropping_the_prefetcher_before_next() {
        within_time_limit(|| {
            let items = (0..50)
                .map(|i| item(Memory::new("m", bytes(i, 1000)), 1000, true))
                .collect();
            let prefetcher = Prefetcher::start(items, options(7, 8));
            let shared = Arc::downgrade(&prefetcher.shared);
            drop(prefetcher);
            assert_workers_exit(shared);
        });
    }

    #[test]
    fn files_are_send_and_static() {
        fn boxed(file: PrefetchedFile) -> Box<dyn Read + Send + 'static> {
            Box::new(file)
        }
        let items = vec![item(Memory::new("a", bytes(0, 33)), 33, false)];
        let mut prefetcher = Prefetcher::start(items, options(4, 2));
        let mut file = boxed(prefetcher.next().unwrap().unwrap());
        let read = std::thread::spawn(move || {
            let mut out = Vec::new();
            file.read_to_end(&mut out).unwrap();
            out
        });
        assert_eq!(read.join().unwrap(), bytes(0, 33));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn random_files_round_trip(
            files in prop::collection::vec((0usize..300, any::<bool>(), 0usize..4), 0..12),
            chunk in 1u64..64,
            concurrency in 1usize..6,
            read_size in 1usize..50,
        ) {
            let data: Vec<Vec<u8>> =
                files.iter().enumerate().map(|(i, &(n, _, _))| bytes(i, n)).collect();
            let items = files
                .iter()
                .zip(&data)
                .map(|(&(n, crc_first, _), data)| {
                    item(Memory::new("p", data.clone()), n, crc_first)
                })
                .collect();
            let options = options(chunk, concurrency);
            let mut prefetcher = Prefetcher::start(items, options);
            for (i, (&(_, crc_first, skip), expected)) in files.iter().zip(&data).enumerate() {
                let mut file = prefetcher.next().unwrap().unwrap();
                prop_assert_eq!(file.index(), i);
                prop_assert_eq!(file.crc32, crc_first.then(|| crc32fast::hash(expected)));
                let mut out = Vec::new();
                let mut buf = vec![0; read_size];
                loop {
                    // One file in four is abandoned after its first read.
                    if skip == 0 && !out.is_empty() {
                        break;
                    }
                    let n = file.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                if skip == 0 {
                    prop_assert_eq!(&out[..], &expected[..out.len()]);
                } else {
                    prop_assert_eq!(&out, expected);
                }
            }
            prop_assert!(prefetcher.next().is_none());
            prop_assert!(prefetcher.peak_outstanding() <= options.window());
        }
    }
}
