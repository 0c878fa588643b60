//! `lakezip cat ARCHIVE PATH`: one member to stdout, CRC-32 checked at the end.
//!
//! On a lakezip archive only the table holding PATH has its central directory slice
//! read; otherwise the whole directory.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use archive_format::read::Entry;
use range_reader::RangeSource;
use range_reader::archive::{TableView, open_directory, open_tables, stream_entry, table_entries};

use crate::cli::CatArgs;
use crate::cmd::table_holds;
use crate::source::{self, Context};

pub fn run(args: CatArgs, context: &Context) -> Result<ExitCode> {
    let source = source::open(&args.archive, context)?;
    let entry = find(&source, &args.path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1024 * 1024, stdout.lock());
    stream_entry(&source, &entry, &mut |bytes| {
        out.write_all(bytes)
            .map_err(|error| range_reader::Error::Write {
                path: "<stdout>".into(),
                error,
            })
    })?;
    out.flush()?;
    drop(out);
    // Statistics go to stderr only: stdout is the member's bytes.
    source::report(&source, context, &mut crate::output::Output::new(false))?;
    Ok(ExitCode::SUCCESS)
}

fn find(source: &dyn RangeSource, path: &str) -> Result<Entry> {
    let from_directory = |entries: Vec<Entry>| entries.into_iter().find(|e| e.name == path);
    let found = match open_tables(source)? {
        TableView::Indexed(end, index) => {
            // The longest table path that holds PATH owns it.
            let owner = index
                .tables
                .iter()
                .filter(|t| table_holds(&t.path, path))
                .max_by_key(|t| t.path.len());
            match owner {
                Some(table) => from_directory(table_entries(source, &end, table)?),
                None => from_directory(open_directory(source)?.into_entries()),
            }
        }
        TableView::Directory(directory) => from_directory(directory.into_entries()),
    };
    match found {
        Some(entry) if entry.is_file() => Ok(entry),
        Some(_) => bail!("{}: {path:?} is not a regular file", source.name()),
        None => bail!(
            "{}: no member {path:?} in the archive (see `lakezip ls`)",
            source.name()
        ),
    }
}
