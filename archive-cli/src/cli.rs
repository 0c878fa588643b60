//! Command-line surface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Pack Apache Iceberg and Delta Lake warehouses into single store-mode ZIP64 archives,
/// and read tables back out of them.
#[derive(Debug, Parser)]
#[command(name = "lakezip", version, about, long_about = None)]
pub struct Cli {
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Report requests made and bytes read per source (stderr, or a `stats` record with --json).
    #[arg(long, global = true)]
    pub stats: bool,
    /// Endpoint of an S3-compatible store for s3:// URLs (default: $AWS_ENDPOINT_URL, else AWS).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Parallel range requests when reading remote archives.
    #[arg(long, global = true, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command prints JSON Lines (errors then go out as JSON too).
    pub fn json_requested(&self) -> bool {
        match &self.command {
            Command::Pack(a) => a.json,
            Command::Ls(a) => a.json,
            Command::Extract(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Info(a) => a.json,
            Command::Restore(a) => a.json,
            Command::Consolidate(a) => a.json,
            Command::Prune(a) => a.json,
            Command::Cleanup(a) => a.json,
            Command::Cat(_) => false,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack a warehouse (or any directory) into an archive.
    Pack(PackArgs),
    /// List an archive's tables or entries, or a chain's points.
    Ls(LsArgs),
    /// Extract tables (or everything) to a directory.
    Extract(ExtractArgs),
    /// Write one member to stdout.
    Cat(CatArgs),
    /// Check an archive (every CRC-32, manifest, table index) or a whole chain.
    Verify(VerifyArgs),
    /// Show the embedded manifest.
    Info(InfoArgs),
    /// Restore a point of a chain (or one full archive) exactly.
    Restore(RestoreArgs),
    /// Write a new full archive of one point of a chain, from the chain alone.
    Consolidate(ConsolidateArgs),
    /// Delete the archives of a chain that no kept point needs.
    Prune(PruneArgs),
    /// Abort multipart uploads left open under an S3 prefix by interrupted packs.
    Cleanup(CleanupArgs),
}

/// `lakezip pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// What to pack: a directory or an S3 prefix (s3://bucket/prefix/) holding a warehouse,
    /// a table, or any tree of files.
    pub src: String,
    /// Archive to write: a path or s3://bucket/key (streamed as a multipart upload).
    #[arg(short, long = "output", value_name = "DEST")]
    pub output: String,
    /// Pack only the tables under this path (relative to SRC); repeatable.
    #[arg(long = "table", value_name = "PATH")]
    pub tables: Vec<String>,
    /// Chain manifest: the first run writes a full archive and creates it; later runs write
    /// an incremental archive against its newest archive and append to it. A path or
    /// s3://bucket/key.json; DEST must be in its folder (or below).
    #[arg(long, value_name = "CHAIN.json", conflicts_with = "base")]
    pub chain: Option<String>,
    /// Write an incremental archive against this archive (no chain file).
    #[arg(long, value_name = "ARCHIVE")]
    pub base: Option<String>,
    /// With --chain: start a new full archive in the chain.
    #[arg(long, requires = "chain")]
    pub full: bool,
    /// Overwrite DEST if it exists.
    #[arg(long)]
    pub force: bool,
    /// Pack every file of every folder as found, without choosing table states (by
    /// default only the files an Iceberg or Delta table's state references are packed).
    #[arg(long)]
    pub all_files: bool,
    /// The Iceberg metadata file to pack a table at (default: version-hint.text, else the
    /// highest-numbered metadata file); repeatable. FILE is relative to the table or a
    /// file name in its metadata/ folder.
    #[arg(long = "iceberg-metadata", value_name = "TABLE=FILE")]
    pub iceberg_metadata: Vec<String>,
    /// The Delta version to pack a table at (default: the latest); repeatable.
    #[arg(long = "delta-version", value_name = "TABLE=N")]
    pub delta_version: Vec<String>,
    /// Which Iceberg snapshots to keep: `all` that the chosen metadata lists (time travel
    /// keeps working), or only the `current` one.
    #[arg(long, value_name = "all|current", default_value = "all", value_parser = ["all", "current"])]
    pub snapshots: String,
    /// Where an upload to S3 keeps its resume state (default: $LAKEZIP_STATE_DIR, else
    /// $XDG_STATE_HOME/lakezip, else ~/.local/state/lakezip).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The archive: a path, s3://bucket/key or http(s)://… URL.
    pub archive: String,
    /// List tables instead of entries.
    #[arg(long)]
    pub tables: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The archive: a path, s3://bucket/key or http(s)://… URL.
    pub archive: String,
    /// Tables to extract (a table path or a folder holding tables); all when omitted.
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,
    /// Directory to extract into (created if missing).
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: PathBuf,
    /// Rewrite the absolute paths inside the extracted Iceberg (and Delta) tables from
    /// OLD_PREFIX to NEW_PREFIX, e.g. `s3://bucket/wh=file:///data/wh`.
    #[arg(long, value_name = "OLD_PREFIX=NEW_PREFIX")]
    pub relocate: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The archive: a path, s3://bucket/key or http(s)://… URL.
    pub archive: String,
    /// The member's path in the archive.
    pub path: String,
}

/// `lakezip verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The archive: a path, s3://bucket/key or http(s)://… URL.
    pub archive: String,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The archive: a path, s3://bucket/key or http(s)://… URL.
    pub archive: String,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A chain manifest (`….json`) or one archive: a path, s3://… or http(s)://… URL.
    #[arg(value_name = "CHAIN|ARCHIVE")]
    pub source: String,
    /// Directory to restore into (must be empty unless --force).
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: PathBuf,
    /// The point to restore: an archive id of the chain (or a unique prefix); default the newest.
    #[arg(long, value_name = "ARCHIVE_ID")]
    pub at: Option<String>,
    /// Restore only these tables (a table path or a folder holding tables); repeatable.
    #[arg(long = "table", value_name = "PATH")]
    pub tables: Vec<String>,
    /// Restore into a non-empty directory (files that already match are kept).
    #[arg(long)]
    pub force: bool,
    /// Rewrite the absolute paths inside the restored Iceberg (and Delta) tables from
    /// OLD_PREFIX to NEW_PREFIX, e.g. `s3://bucket/wh=file:///data/wh`.
    #[arg(long, value_name = "OLD_PREFIX=NEW_PREFIX")]
    pub relocate: Option<String>,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip consolidate`.
#[derive(Debug, Args)]
pub struct ConsolidateArgs {
    /// The chain manifest.
    #[arg(value_name = "CHAIN")]
    pub chain: String,
    /// The new full archive: a path or s3://bucket/key.
    #[arg(short, long = "output", value_name = "NEW.zip")]
    pub output: String,
    /// The point to consolidate (default: the newest, which also appends the new archive to the chain).
    #[arg(long, value_name = "ARCHIVE_ID")]
    pub at: Option<String>,
    /// Overwrite NEW.zip if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The chain manifest (local).
    #[arg(value_name = "CHAIN")]
    pub chain: String,
    /// How many of the newest points to keep.
    #[arg(long)]
    pub keep: usize,
    /// Only say what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lakezip cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The S3 prefix to clean: s3://bucket/prefix/ (or s3://bucket/ for the whole bucket).
    #[arg(value_name = "S3_PREFIX")]
    pub prefix: String,
    /// Only list what would be aborted.
    #[arg(long)]
    pub dry_run: bool,
    /// Only uploads started at least this long ago: 90s, 30m, 12h, 7d (default: all).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Where packs keep upload state (see `pack --state-dir`); the state of aborted
    /// uploads is removed.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}
