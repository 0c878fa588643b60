//! The files an Iceberg table state references.
//!
//! [`select`] chooses a metadata JSON file (named by the user, pointed at by
//! `metadata/version-hint.text`, or the highest-numbered one in `metadata/`), then walks
//! what it references — snapshots' manifest lists, their manifests, the data, delete and
//! deletion-vector files those list, statistics files, and the older metadata files of
//! `metadata-log` that still exist — and returns them as paths relative to the table root.
//!
//! Iceberg writes absolute paths everywhere (`file:///…`, `s3://…`, …). They are mapped
//! to table-relative paths by stripping the metadata's `location`; nothing is
//! percent-decoded, because Iceberg stores partition directory names literally. A
//! reference outside `location` is an error: lakezip packs one table directory.
//!
//! Writers commit by writing a new metadata file last, so files of an in-flight commit
//! are on disk before any metadata references them. Walking from one metadata file
//! therefore never picks them up, and a newest metadata file that is still being written
//! (not yet valid JSON) is passed over for the previous one.
//!
//! ```no_run
//! use table_state::{iceberg, LocalTable, Snapshots};
//!
//! let table = LocalTable::open("warehouse/default.db/orders")?;
//! let selection = iceberg::select("default.db/orders", &table, None, Snapshots::All)?;
//! println!("snapshot {:?}: {} files", selection.snapshot, selection.files.len());
//! # Ok::<(), table_state::Error>(())
//! ```

use std::collections::{BTreeSet, HashSet};
use std::io::Read as _;

use apache_avro::types::Value as AvroValue;
use serde::Deserialize;

use crate::{Error, Result, Selection, Snapshots, TableFiles};

/// The mutable pointer file of Hadoop-style tables.
const VERSION_HINT: &str = "metadata/version-hint.text";

/// Chooses the table's state and returns exactly the files it references.
///
/// - `table`: the table's path, used in messages.
/// - `files`: the table's files.
/// - `metadata`: the metadata file the user chose (`--iceberg-metadata TABLE=FILE`): a
///   path relative to the table root (`metadata/00003-….metadata.json`) or a bare file
///   name in `metadata/`. It must exist and parse.
/// - `snapshots`: every snapshot the metadata lists, or only the current one.
///
/// Without a choice, `metadata/version-hint.text` decides when it exists (its bytes are
/// returned in [`Selection::pinned`] and the file is selected); otherwise the
/// highest-numbered `metadata/NNNNN-<uuid>.metadata.json` or `metadata/vN.metadata.json`
/// that parses as JSON.
///
/// Required files (metadata, manifest lists, manifests, live data and delete files,
/// statistics) that do not exist are [`Error::Missing`], naming the first one found.
/// Optional ones (older metadata files from `metadata-log`, data files of manifest
/// entries with status DELETED) are selected only when they exist. Existence is taken
/// from the listing and, for files not listed, from [`TableFiles::exists`].
pub fn select(
    table: &str,
    files: &dyn TableFiles,
    metadata: Option<&str>,
    snapshots: Snapshots,
) -> Result<Selection> {
    let chosen = choose_metadata(table, files, metadata)?;
    let location = Location::new(&chosen.metadata.location);
    let mut walk = Walk {
        table,
        files,
        location: &location,
        selected: BTreeSet::new(),
        manifests_read: HashSet::new(),
    };
    walk.selected.insert(chosen.path.clone());
    if let Some((hint, _)) = &chosen.pinned {
        walk.selected.insert(hint.clone());
    }

    let current = chosen
        .metadata
        .current_snapshot_id
        .filter(|&id| id != NO_SNAPSHOT);
    let kept: Vec<&SnapshotJson> = match snapshots {
        Snapshots::All => chosen.metadata.snapshots.iter().collect(),
        Snapshots::Current => match current {
            None => Vec::new(),
            Some(id) => {
                let snapshot = chosen
                    .metadata
                    .snapshots
                    .iter()
                    .find(|snapshot| snapshot.snapshot_id == id)
                    .ok_or_else(|| Error::Invalid {
                        path: chosen.path.clone(),
                        reason: format!("current-snapshot-id {id} is not in snapshots"),
                    })?;
                vec![snapshot]
            }
        },
    };

    for entry in &chosen.metadata.metadata_log {
        walk.optional(&entry.metadata_file)?;
    }
    for snapshot in kept {
        walk.snapshot(&chosen.path, snapshot)?;
    }
    let statistics = chosen
        .metadata
        .statistics
        .iter()
        .chain(&chosen.metadata.partition_statistics);
    for statistics_file in statistics {
        let wanted = match snapshots {
            Snapshots::All => true,
            Snapshots::Current => Some(statistics_file.snapshot_id) == current,
        };
        if wanted {
            walk.required(&chosen.path, &statistics_file.statistics_path)?;
        }
    }

    Ok(Selection {
        files: walk.selected,
        snapshot: current.map(|id| id.to_string()),
        pinned: chosen.pinned.into_iter().collect(),
    })
}

/// `current-snapshot-id` of a table without snapshots, as format v1 writers spell it.
const NO_SNAPSHOT: i64 = -1;

/// The parts of a table metadata file ([spec: Table Metadata Fields]) that say which
/// files the table references; every other field is ignored.
///
/// [spec: Table Metadata Fields]: https://iceberg.apache.org/spec/#table-metadata-fields
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct MetadataJson {
    location: String,
    #[serde(default)]
    current_snapshot_id: Option<i64>,
    #[serde(default)]
    snapshots: Vec<SnapshotJson>,
    #[serde(default)]
    metadata_log: Vec<MetadataLogJson>,
    #[serde(default)]
    statistics: Vec<StatisticsJson>,
    #[serde(default)]
    partition_statistics: Vec<StatisticsJson>,
}

/// A snapshot: format v2+ has a manifest list; format v1 may list manifests inline.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SnapshotJson {
    snapshot_id: i64,
    #[serde(default)]
    manifest_list: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct MetadataLogJson {
    metadata_file: String,
}

/// An entry of `statistics` (Puffin) or `partition-statistics` (Parquet).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct StatisticsJson {
    snapshot_id: i64,
    statistics_path: String,
}

/// The chosen metadata file.
struct Chosen {
    /// Relative to the table root.
    path: String,
    metadata: MetadataJson,
    /// `version-hint.text` and its bytes, when it chose the file.
    pinned: Option<(String, Vec<u8>)>,
}

fn choose_metadata(table: &str, files: &dyn TableFiles, named: Option<&str>) -> Result<Chosen> {
    if let Some(named) = named {
        let path = named_metadata_path(named);
        let Some(bytes) = files.read(&path)? else {
            return Err(Error::Unsupported(format!(
                "{table}: the chosen metadata file {path} does not exist"
            )));
        };
        let metadata = parse_metadata(&path, &parse_json(&path, &bytes)?)?;
        return Ok(Chosen {
            path,
            metadata,
            pinned: None,
        });
    }

    // Only a listed hint counts: a table is Hadoop-style or not, and looking for a hint
    // that was not listed would cost every catalog-managed table a failed read.
    if files.listed().contains(VERSION_HINT)
        && let Some(hint) = files.read(VERSION_HINT)?
    {
        let path = hinted_metadata_path(table, files, &hint)?;
        let Some(bytes) = files.read(&path)? else {
            return Err(Error::Missing {
                table: table.to_owned(),
                path,
            });
        };
        let metadata = parse_metadata(&path, &parse_json(&path, &bytes)?)?;
        return Ok(Chosen {
            path,
            metadata,
            pinned: Some((VERSION_HINT.to_owned(), hint)),
        });
    }

    let mut candidates: Vec<(u64, &String)> = files
        .listed()
        .iter()
        .filter_map(|path| {
            let name = path.strip_prefix("metadata/")?;
            metadata_version(name).map(|version| (version, path))
        })
        .collect();
    // Highest version first; equal versions (two writers raced for one version number,
    // only one won the catalog commit) in a fixed order.
    candidates.sort_unstable_by(|a, b| b.cmp(a));

    let mut first_error = None;
    for (_, path) in candidates {
        // Deleted since the listing (expired by a concurrent writer): try an older one.
        let Some(bytes) = files.read(path)? else {
            continue;
        };
        match parse_json(path, &bytes) {
            Ok(json) => {
                return Ok(Chosen {
                    path: path.clone(),
                    metadata: parse_metadata(path, &json)?,
                    pinned: None,
                });
            }
            // Not JSON yet: a commit in flight (object stores have no atomic rename, so
            // a reader can see a partial file). The previous version is the state.
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        Error::Unsupported(format!(
            "{table}: no metadata/*.metadata.json (not an Iceberg table?)"
        ))
    }))
}

/// `--iceberg-metadata` takes a path relative to the table root or a bare name in
/// `metadata/`.
fn named_metadata_path(named: &str) -> String {
    let named = named.trim_start_matches("./");
    if named.contains('/') {
        named.to_owned()
    } else {
        format!("metadata/{named}")
    }
}

/// The metadata file `version-hint.text` points at. Iceberg's HadoopTableOperations
/// writes a version number N, meaning `metadata/vN.metadata.json` (or its gzip-compressed
/// `vN.gz.metadata.json`); other tools write a file name.
fn hinted_metadata_path(table: &str, files: &dyn TableFiles, hint: &[u8]) -> Result<String> {
    let invalid = |reason: String| Error::Invalid {
        path: VERSION_HINT.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(hint)
        .map_err(|_| invalid("not UTF-8 text".to_owned()))?
        .trim();
    if text.is_empty() {
        return Err(invalid("empty".to_owned()));
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        let version: u64 = text
            .parse()
            .map_err(|e| invalid(format!("version {text:?}: {e}")))?;
        let plain = format!("metadata/v{version}.metadata.json");
        for path in [
            plain.clone(),
            format!("metadata/v{version}.gz.metadata.json"),
            format!("metadata/v{version}.metadata.json.gz"),
        ] {
            if files.listed().contains(&path) || files.exists(&path)? {
                return Ok(path);
            }
        }
        return Err(Error::Missing {
            table: table.to_owned(),
            path: plain,
        });
    }
    let name = text.rsplit('/').next().unwrap_or(text);
    if metadata_version(name).is_none() && !name.contains(".metadata.json") {
        return Err(invalid(format!(
            "holds {text:?}: neither a version number nor a metadata file name"
        )));
    }
    Ok(format!("metadata/{name}"))
}

/// The version of a metadata file name: `NNNNN-<uuid>.metadata.json` → NNNNN,
/// `vN.metadata.json` → N, also with `.gz.metadata.json` / `.metadata.json.gz`.
fn metadata_version(name: &str) -> Option<u64> {
    if name.contains('/')
        || !(name.ends_with(".metadata.json") || name.ends_with(".metadata.json.gz"))
    {
        return None;
    }
    let (digits, separator) = match name.strip_prefix('v') {
        Some(rest) => (rest, b'.'),
        None => (name, b'-'),
    };
    let end = digits.bytes().position(|byte| !byte.is_ascii_digit())?;
    if end == 0 || digits.as_bytes().get(end) != Some(&separator) {
        return None;
    }
    digits.get(..end)?.parse().ok()
}

/// Parses a metadata file, gzip-compressed or not (Iceberg's `write.metadata.compression-codec`).
fn parse_json(path: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_owned(),
        reason,
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut text)
            .map_err(|e| invalid(format!("not a readable gzip file: {e}")))?;
        return serde_json::from_slice(&text)
            .map_err(|e| invalid(format!("not valid JSON after gunzip: {e}")));
    }
    serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))
}

fn parse_metadata(path: &str, json: &serde_json::Value) -> Result<MetadataJson> {
    MetadataJson::deserialize(json).map_err(|e| Error::Invalid {
        path: path.to_owned(),
        reason: format!("not Iceberg table metadata: {e}"),
    })
}

/// The table's `location`, normalized for prefix matching.
struct Location {
    /// As written in the metadata, for messages.
    written: String,
    /// Normalized, without a trailing `/`.
    prefix: String,
}

impl Location {
    fn new(written: &str) -> Self {
        Location {
            written: written.to_owned(),
            prefix: normalize(written).trim_end_matches('/').to_owned(),
        }
    }

    /// The path of `uri` relative to the table root, or `None` when it is outside.
    fn relative(&self, uri: &str) -> Option<String> {
        let normalized = normalize(uri);
        let rest = normalized.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        // Writers that join a location ending in `/` with `/data/…` write `//`.
        let relative = rest.trim_start_matches('/');
        let escapes = relative
            .split('/')
            .any(|segment| segment == "." || segment == "..");
        (!relative.is_empty() && !escapes).then(|| relative.to_owned())
    }
}

/// One spelling per location: `file:///x`, `file:/x`, `file://localhost/x` and `/x` are
/// the same local path; `s3a://` and `s3n://` (Hadoop's S3 connectors) are `s3://`.
/// Nothing is percent-decoded: Iceberg paths are literal.
fn normalize(uri: &str) -> String {
    if let Some(rest) = uri.strip_prefix("file:") {
        let Some(authority_and_path) = rest.strip_prefix("//") else {
            return rest.to_owned();
        };
        let slash = authority_and_path
            .find('/')
            .unwrap_or(authority_and_path.len());
        let (host, path) = authority_and_path.split_at(slash);
        if host.is_empty() || host == "localhost" {
            return path.to_owned();
        }
        return uri.to_owned();
    }
    for alias in ["s3a://", "s3n://"] {
        if let Some(rest) = uri.strip_prefix(alias) {
            return format!("s3://{rest}");
        }
    }
    uri.to_owned()
}

/// The walk from a metadata file to everything it references.
struct Walk<'a> {
    table: &'a str,
    files: &'a dyn TableFiles,
    location: &'a Location,
    selected: BTreeSet<String>,
    /// Manifests already walked: snapshots share most of their manifests.
    manifests_read: HashSet<String>,
}

impl Walk<'_> {
    fn relative(&self, referrer: &str, uri: &str) -> Result<String> {
        self.location.relative(uri).ok_or_else(|| {
            Error::Unsupported(format!(
                "{}: {referrer} references {uri}, outside the table location {} \
                 (lakezip packs a table directory)",
                self.table, self.location.written
            ))
        })
    }

    fn exists(&self, relative: &str) -> Result<bool> {
        Ok(self.files.listed().contains(relative) || self.files.exists(relative)?)
    }

    /// Selects a file the state cannot be read without.
    fn required(&mut self, referrer: &str, uri: &str) -> Result<()> {
        let relative = self.relative(referrer, uri)?;
        if !self.selected.contains(&relative) {
            if !self.exists(&relative)? {
                return Err(self.missing(relative));
            }
            self.selected.insert(relative);
        }
        Ok(())
    }

    /// Selects a file if it exists. A reference outside the table is skipped: readers
    /// never open these files (old metadata of a table registered at a new location
    /// still points at the old one).
    fn optional(&mut self, uri: &str) -> Result<()> {
        if let Some(relative) = self.location.relative(uri)
            && !self.selected.contains(&relative)
            && self.exists(&relative)?
        {
            self.selected.insert(relative);
        }
        Ok(())
    }

    /// Reads a required file and selects it.
    fn read_required(&mut self, referrer: &str, uri: &str) -> Result<(String, Vec<u8>)> {
        let relative = self.relative(referrer, uri)?;
        let Some(bytes) = self.files.read(&relative)? else {
            return Err(self.missing(relative));
        };
        self.selected.insert(relative.clone());
        Ok((relative, bytes))
    }

    fn missing(&self, path: String) -> Error {
        Error::Missing {
            table: self.table.to_owned(),
            path,
        }
    }

    fn snapshot(&mut self, metadata_path: &str, snapshot: &SnapshotJson) -> Result<()> {
        // The file the manifests' paths come from, for messages.
        let (referrer, manifests) = match (&snapshot.manifest_list, &snapshot.manifests) {
            (Some(manifest_list), _) => {
                let (list_path, bytes) = self.read_required(metadata_path, manifest_list)?;
                let manifests = manifest_paths(&list_path, &bytes)?;
                (list_path, manifests)
            }
            (None, Some(manifests)) => (metadata_path.to_owned(), manifests.clone()),
            (None, None) => {
                return Err(Error::Invalid {
                    path: metadata_path.to_owned(),
                    reason: format!(
                        "snapshot {} has neither manifest-list nor manifests",
                        snapshot.snapshot_id
                    ),
                });
            }
        };
        for manifest in manifests {
            self.manifest(&referrer, &manifest)?;
        }
        Ok(())
    }

    fn manifest(&mut self, referrer: &str, uri: &str) -> Result<()> {
        let relative = self.relative(referrer, uri)?;
        if !self.manifests_read.insert(relative) {
            return Ok(());
        }
        let (manifest_path, bytes) = self.read_required(referrer, uri)?;
        for entry in manifest_entries(&manifest_path, &bytes)? {
            if entry.deleted {
                // The file was removed by this snapshot; only older snapshots read it,
                // through their own manifests, and expiry may have deleted it.
                self.optional(&entry.file_path)?;
            } else {
                self.required(&manifest_path, &entry.file_path)?;
            }
        }
        Ok(())
    }
}

/// `manifest_path` of every entry of a manifest list ([spec: Manifest Lists]).
///
/// [spec: Manifest Lists]: https://iceberg.apache.org/spec/#manifest-lists
fn manifest_paths(path: &str, bytes: &[u8]) -> Result<Vec<String>> {
    read_avro(path, bytes)?
        .iter()
        .map(|record| string_field(path, record, "manifest_path"))
        .collect()
}

/// A manifest entry ([spec: Manifests]): data, delete and deletion-vector files alike.
///
/// [spec: Manifests]: https://iceberg.apache.org/spec/#manifests
struct ManifestEntry {
    /// Status 2: removed by the snapshot that wrote the manifest.
    deleted: bool,
    /// `data_file.file_path`.
    file_path: String,
}

const STATUS_DELETED: i32 = 2;

fn manifest_entries(path: &str, bytes: &[u8]) -> Result<Vec<ManifestEntry>> {
    read_avro(path, bytes)?
        .iter()
        .map(|record| {
            let status = match field(record, "status") {
                Some(AvroValue::Int(status)) => *status,
                _ => return Err(missing_field(path, "status")),
            };
            let data_file =
                field(record, "data_file").ok_or_else(|| missing_field(path, "data_file"))?;
            Ok(ManifestEntry {
                deleted: status == STATUS_DELETED,
                file_path: string_field(path, data_file, "file_path")?,
            })
        })
        .collect()
}

/// Every record of an Avro object container file, decoded with its writer schema.
fn read_avro(path: &str, bytes: &[u8]) -> Result<Vec<AvroValue>> {
    let invalid = |e: apache_avro::Error| Error::Invalid {
        path: path.to_owned(),
        reason: format!("not a readable Avro file: {e}"),
    };
    apache_avro::Reader::new(bytes)
        .map_err(invalid)?
        .map(|record| record.map_err(invalid))
        .collect()
}

/// A record's field, looking through the `["null", T]` unions of optional fields.
fn field<'v>(record: &'v AvroValue, name: &str) -> Option<&'v AvroValue> {
    let AvroValue::Record(fields) = record else {
        return None;
    };
    let mut value = fields
        .iter()
        .find(|(field_name, _)| field_name == name)
        .map(|(_, value)| value)?;
    while let AvroValue::Union(_, inner) = value {
        value = inner;
    }
    Some(value)
}

fn string_field(path: &str, record: &AvroValue, name: &str) -> Result<String> {
    match field(record, name) {
        Some(AvroValue::String(value)) => Ok(value.clone()),
        _ => Err(missing_field(path, name)),
    }
}

fn missing_field(path: &str, name: &str) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        reason: format!("a record has no {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_versions() {
        let cases = [
            (
                "00000-5e01b734-68c9-4b9f-afe4-73f3b7d6b116.metadata.json",
                Some(0),
            ),
            ("00012-x.metadata.json", Some(12)),
            ("123456-x.gz.metadata.json", Some(123_456)),
            ("00003-x.metadata.json.gz", Some(3)),
            ("v7.metadata.json", Some(7)),
            ("v7.gz.metadata.json", Some(7)),
            ("v.metadata.json", None),
            ("vx.metadata.json", None),
            ("abc-x.metadata.json", None),
            ("00001-x.avro", None),
            ("snap-1-0-x.avro", None),
            ("version-hint.text", None),
            ("-x.metadata.json", None),
        ];
        for (name, expected) in cases {
            assert_eq!(metadata_version(name), expected, "{name}");
        }
    }

    #[test]
    fn locations() {
        let cases = [
            (
                "file:///w/t",
                "file:///w/t/data/a.parquet",
                Some("data/a.parquet"),
            ),
            (
                "file:///w/t/",
                "file:///w/t/data/a.parquet",
                Some("data/a.parquet"),
            ),
            (
                "file:/w/t",
                "file:///w/t/data/a.parquet",
                Some("data/a.parquet"),
            ),
            (
                "file:///w/t",
                "file:/w/t/data/a.parquet",
                Some("data/a.parquet"),
            ),
            ("/w/t", "file:///w/t/data/a.parquet", Some("data/a.parquet")),
            (
                "file:///w/t",
                "/w/t/metadata/x.avro",
                Some("metadata/x.avro"),
            ),
            ("file://localhost/w/t", "/w/t/x", Some("x")),
            ("file:///w/t/", "file:///w/t//data/a", Some("data/a")),
            ("file:///w/t", "file:///w/t2/data/a", None),
            ("file:///w/t", "file:///w/t", None),
            ("file:///w/t", "file:///w/t/", None),
            ("file:///w/t", "file:///w/t/../u/a", None),
            ("file:///w/t", "file://host/w/t/a", None),
            ("s3://b/wh/t", "s3://b/wh/t/data/a", Some("data/a")),
            ("s3://b/wh/t", "s3a://b/wh/t/data/a", Some("data/a")),
            ("s3a://b/wh/t", "s3://b/wh/t/data/a", Some("data/a")),
            ("s3://b/wh/t", "gs://b/wh/t/data/a", None),
            ("gs://b/t", "gs://b/t/data/a", Some("data/a")),
            (
                "abfss://c@acct.dfs.core.windows.net/t",
                "abfss://c@acct.dfs.core.windows.net/t/d/a",
                Some("d/a"),
            ),
            // Literal, never percent-decoded.
            (
                "file:///w/t",
                "file:///w/t/data/category=a+b%3Ac%2Fd%25/x.parquet",
                Some("data/category=a+b%3Ac%2Fd%25/x.parquet"),
            ),
            ("file:///w/t%20x", "file:///w/t x/a", None),
        ];
        for (location, uri, expected) in cases {
            assert_eq!(
                Location::new(location).relative(uri).as_deref(),
                expected,
                "{location} {uri}"
            );
        }
    }
}
