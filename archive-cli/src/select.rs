//! Table-aware packing: for every Iceberg and Delta table, keep exactly the files its
//! state references (see the `table-state` crate) and count the rest as orphans. Files
//! outside tables, and everything under `--all-files`, are packed as listed.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context as _, Result, bail};
use archive_format::manifest::TableFormat;
use archive_format::table::{self, Orphans};
use table_state::{Snapshots, TableFiles};

use crate::warehouse::{Found, Warehouse};

/// The user's choices.
#[derive(Debug, Clone, Default)]
pub struct SelectOptions {
    /// Pack every file as listed (no table awareness).
    pub all_files: bool,
    /// `--iceberg-metadata TABLE=FILE`.
    pub iceberg_metadata: HashMap<String, String>,
    /// `--delta-version TABLE=N`.
    pub delta_version: HashMap<String, u64>,
    /// `--snapshots`.
    pub snapshots: Snapshots,
}

impl SelectOptions {
    /// Parses the `TABLE=VALUE` arguments.
    pub fn parse(
        all_files: bool,
        iceberg_metadata: &[String],
        delta_version: &[String],
        snapshots: Snapshots,
    ) -> Result<Self> {
        let pair = |arg: &String, flag: &str| -> Result<(String, String)> {
            match arg.split_once('=') {
                Some((table, value)) if !table.is_empty() && !value.is_empty() => {
                    Ok((table.trim_end_matches('/').to_owned(), value.to_owned()))
                }
                _ => bail!("{flag} {arg:?}: expected TABLE=VALUE"),
            }
        };
        let mut options = SelectOptions {
            all_files,
            snapshots,
            ..SelectOptions::default()
        };
        for arg in iceberg_metadata {
            let (table, file) = pair(arg, "--iceberg-metadata")?;
            options.iceberg_metadata.insert(table, file);
        }
        for arg in delta_version {
            let (table, version) = pair(arg, "--delta-version")?;
            let version = version
                .parse::<u64>()
                .with_context(|| format!("--delta-version {arg:?}: N must be a version number"))?;
            options.delta_version.insert(table, version);
        }
        Ok(options)
    }
}

/// The listing after selection.
#[derive(Debug, Default)]
pub struct Selected {
    /// Files to pack (paths relative to the warehouse root).
    pub found: Vec<Found>,
    /// Files to pack with these exact bytes (mutable pointer files read to decide a
    /// state), by path.
    pub overrides: HashMap<String, Vec<u8>>,
    /// Per table path: the state chosen and the orphans left out.
    pub tables: HashMap<String, (Option<String>, Orphans)>,
}

/// Applies table-aware selection to a warehouse listing.
/// `prefix` is what the caller put in front of the listed paths (a source that is itself
/// a table keeps its folder name); the warehouse is addressed without it.
pub fn select(
    found: Vec<Found>,
    warehouse: &Warehouse,
    options: &SelectOptions,
    prefix: &str,
) -> Result<Selected> {
    let mut selected = Selected::default();
    if options.all_files {
        if !options.iceberg_metadata.is_empty() || !options.delta_version.is_empty() {
            bail!(
                "--all-files packs raw folders: it cannot be combined with --iceberg-metadata or --delta-version"
            );
        }
        selected.found = found;
        return Ok(selected);
    }
    // Looked up by binary search: a map would hold every path a second time. Sorted, the
    // files of a table are one run.
    let mut found = found;
    found.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    let tables = table::roots(found.iter().map(|f| f.file.path.as_str()));
    let mut dropped = vec![false; found.len()];
    // Referenced files written after the listing.
    let mut added: Vec<Found> = Vec::new();
    let mut unknown: BTreeSet<String> = options
        .iceberg_metadata
        .keys()
        .chain(options.delta_version.keys())
        .cloned()
        .collect();
    for (table_root, format) in &tables {
        let path = table::display_root(table_root);
        unknown.remove(&path);
        let root = if table_root.is_empty() {
            String::new()
        } else {
            format!("{table_root}/")
        };
        let first = found.partition_point(|f| f.file.path.as_str() < root.as_str());
        let listed: BTreeSet<String> = found[first..]
            .iter()
            .map_while(|f| f.file.path.strip_prefix(&root).map(str::to_owned))
            .collect();
        let view = WarehouseTable {
            warehouse,
            prefix,
            root: &root,
            listed,
            found: &found,
            extra: std::sync::Mutex::default(),
        };
        let selection = match format {
            TableFormat::Iceberg => {
                if options.delta_version.contains_key(&path) {
                    bail!("{}: --delta-version given for an Iceberg table", path);
                }
                table_state::iceberg::select(
                    &path,
                    &view,
                    options.iceberg_metadata.get(&path).map(String::as_str),
                    options.snapshots,
                )
            }
            TableFormat::Delta => {
                if options.iceberg_metadata.contains_key(&path) {
                    bail!("{}: --iceberg-metadata given for a Delta table", path);
                }
                table_state::delta::select(&path, &view, options.delta_version.get(&path).copied())
            }
            TableFormat::Files => continue,
        }
        .with_context(|| format!("cannot choose the state of table {}", path))?;
        let extra = view.extra.into_inner().unwrap_or_default();
        let mut orphans = Orphans::default();
        for relative in &view.listed {
            if !selection.files.contains(relative)
                && let Some(i) = position(&found, &format!("{root}{relative}"))
                && !std::mem::replace(&mut dropped[i], true)
            {
                orphans.files += 1;
                orphans.bytes += found[i].file.size;
            }
        }
        for relative in &selection.files {
            let path = format!("{root}{relative}");
            if position(&found, &path).is_some() || added.iter().any(|f| f.file.path == path) {
                continue;
            }
            // Written after the listing (an in-flight commit finished): pack it too.
            match extra.get(relative) {
                Some(Some(f)) => added.push(f.clone()),
                _ => match find_prefixed(warehouse, prefix, &path)? {
                    Some(f) => added.push(f),
                    None => bail!(
                        "{}: {relative} is referenced by the table state but missing",
                        path
                    ),
                },
            }
        }
        for (relative, bytes) in selection.pinned {
            let path = format!("{root}{relative}");
            let listed = position(&found, &path).map(|i| &mut found[i]);
            if let Some(f) = listed.or_else(|| added.iter_mut().find(|f| f.file.path == path)) {
                f.file.size = bytes.len() as u64;
            }
            selected.overrides.insert(path, bytes);
        }
        selected
            .tables
            .insert(path.clone(), (selection.snapshot, orphans));
    }
    if let Some(table) = unknown.into_iter().next() {
        bail!(
            "no Iceberg or Delta table {table:?} in the source (--iceberg-metadata/--delta-version)"
        );
    }
    let mut dropped = dropped.into_iter();
    found.retain(|_| !dropped.next().unwrap_or(false));
    if !added.is_empty() {
        found.extend(added);
        found.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    }
    selected.found = found;
    Ok(selected)
}

/// Where `path` is in `found` (sorted by path).
fn position(found: &[Found], path: &str) -> Option<usize> {
    found
        .binary_search_by(|f| f.file.path.as_str().cmp(path))
        .ok()
}

/// One table of the warehouse, seen through [`TableFiles`].
struct WarehouseTable<'a> {
    warehouse: &'a Warehouse,
    /// Prefix of every path (see [`select`]).
    prefix: &'a str,
    /// `table/` (or empty for a table at the root).
    root: &'a str,
    listed: BTreeSet<String>,
    /// The listing, sorted by path.
    found: &'a [Found],
    /// Files looked up that were not listed (None: they do not exist).
    extra: std::sync::Mutex<HashMap<String, Option<Found>>>,
}

impl WarehouseTable<'_> {
    fn lookup(&self, relative: &str) -> table_state::Result<Option<Found>> {
        let path = format!("{}{relative}", self.root);
        if let Some(i) = position(self.found, &path) {
            return Ok(Some(self.found[i].clone()));
        }
        let mut extra = self.extra.lock().map_err(|_| table_state::Error::Read {
            path: relative.to_owned(),
            reason: "internal: lock poisoned".into(),
        })?;
        if let Some(known) = extra.get(relative) {
            return Ok(known.clone());
        }
        let f = find_prefixed(self.warehouse, self.prefix, &path).map_err(|e| {
            table_state::Error::Read {
                path: relative.to_owned(),
                reason: format!("{e:#}"),
            }
        })?;
        extra.insert(relative.to_owned(), f.clone());
        Ok(f)
    }
}

impl TableFiles for WarehouseTable<'_> {
    fn listed(&self) -> &BTreeSet<String> {
        &self.listed
    }

    fn read(&self, relative: &str) -> table_state::Result<Option<Vec<u8>>> {
        let Some(found) = self.lookup(relative)? else {
            return Ok(None);
        };
        let error = |e: range_reader::Error| table_state::Error::Read {
            path: relative.to_owned(),
            reason: e.to_string(),
        };
        match self.warehouse.read(&found, self.prefix) {
            Ok(bytes) => Ok(Some(bytes)),
            // Rewritten since the listing (a pointer file such as `_last_checkpoint`):
            // read what is there now.
            Err(range_reader::Error::Changed { .. }) => {
                let path = format!("{}{relative}", self.root);
                match find_prefixed(self.warehouse, self.prefix, &path) {
                    Ok(Some(now)) => self
                        .warehouse
                        .read(&now, self.prefix)
                        .map(Some)
                        .map_err(error),
                    Ok(None) => Ok(None),
                    Err(e) => Err(table_state::Error::Read {
                        path: relative.to_owned(),
                        reason: format!("{e:#}"),
                    }),
                }
            }
            Err(e) => Err(error(e)),
        }
    }

    fn exists(&self, relative: &str) -> table_state::Result<bool> {
        Ok(self.lookup(relative)?.is_some())
    }
}

/// [`Warehouse::find`] for a path that carries the caller's prefix; the result carries
/// it too.
fn find_prefixed(warehouse: &Warehouse, prefix: &str, path: &str) -> Result<Option<Found>> {
    let relative = path.strip_prefix(prefix).unwrap_or(path);
    Ok(warehouse.find(relative)?.map(|mut f| {
        f.file.path = path.to_owned();
        f
    }))
}
