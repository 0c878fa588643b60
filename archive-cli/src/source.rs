//! Turning an ARCHIVE argument into a byte source: a local path, `s3://bucket/key`, or an
//! `http(s)://` URL (presigned URLs included), wrapped in a request counter.

use anyhow::Result;
use range_reader::RangeSource;
use range_reader::counting::Counting;
use range_reader::fetch::FetchOptions;
use range_reader::http::HttpSource;
use range_reader::local::LocalFile;
use range_reader::retry::RetryPolicy;
use range_reader::s3::{S3Options, S3Source};

use crate::cli::Cli;
use crate::output::Output;

/// Options shared by every command that reads an archive.
#[derive(Debug, Clone)]
pub struct Context {
    /// No progress bars.
    pub quiet: bool,
    /// Print request statistics.
    pub stats: bool,
    /// S3 endpoint override.
    pub endpoint_url: Option<String>,
    /// Parallel requests.
    pub concurrency: usize,
}

impl Context {
    /// The global options of a parsed command line.
    pub fn from_cli(cli: &Cli) -> Self {
        Context {
            quiet: cli.quiet,
            stats: cli.stats,
            endpoint_url: cli.endpoint_url.clone(),
            concurrency: usize::from(cli.concurrency),
        }
    }

    /// How the data phase reads.
    pub fn fetch_options(&self) -> FetchOptions {
        FetchOptions {
            concurrency: self.concurrency,
            ..FetchOptions::default()
        }
    }
}

/// A counted source.
pub type Source = Counting<Box<dyn RangeSource>>;

/// Opens the archive an argument names. Nothing is read yet.
pub fn open(archive: &str, context: &Context) -> Result<Source> {
    let policy = RetryPolicy::from_env();
    let inner: Box<dyn RangeSource> = if archive.starts_with("s3://") {
        let options = S3Options {
            endpoint_url: context.endpoint_url.clone(),
        };
        Box::new(S3Source::new(archive, &options, policy)?)
    } else if archive.starts_with("http://") || archive.starts_with("https://") {
        Box::new(HttpSource::new(archive, policy)?)
    } else {
        Box::new(LocalFile::open(archive)?)
    };
    Ok(Counting::new(inner))
}

/// Prints the source's request statistics if `--stats` was given.
pub fn report(source: &Source, context: &Context, out: &mut Output) -> std::io::Result<()> {
    if !context.stats {
        return Ok(());
    }
    let stats = source.stats();
    if out.is_json() {
        out.emit(
            serde_json::json!({"type": "stats", "source": source.name(), "requests": stats.requests, "bytes": stats.bytes}),
            String::new,
        )
    } else {
        eprintln!(
            "stats: {}: {} requests, {} bytes read",
            source.name(),
            stats.requests,
            stats.bytes
        );
        Ok(())
    }
}
