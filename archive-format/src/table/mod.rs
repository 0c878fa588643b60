//! Table detection and member ordering: pure functions over a list of relative paths.
//!
//! A directory holding `metadata/*.metadata.json` is an Iceberg table; one holding
//! `_delta_log/` is a Delta table. Tables are not looked for inside other tables. Files
//! outside every table are grouped by their top-level directory (format `files`; loose
//! files at the root form the group `.`).
//!
//! Within a table, members are ordered so that an extraction that stops half-way never
//! leaves a table pointing at files that are missing: data first, then metadata, and the
//! file that commits the table's state last (Iceberg: the newest metadata JSON, then
//! `version-hint.text`; Delta: log entries in version order, then `_last_checkpoint`).

use std::collections::BTreeMap;

use crate::manifest::TableFormat;

/// Name of the group holding loose files at the root of the source.
pub const ROOT_GROUP: &str = ".";

/// A file to pack, with the metadata the archive keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the source root, `/`-separated.
    pub path: String,
    /// Size in bytes when listed.
    pub size: u64,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// Unix permission bits.
    pub mode: u32,
    /// Set when the file is not written because another archive already holds these exact
    /// bytes (incremental archives). Boxed: most files are not held, and a warehouse can
    /// list millions.
    pub held: Option<Box<Held>>,
}

/// Where an unchanged file's bytes already are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Id of the archive holding the bytes.
    pub archive: String,
    /// Their CRC-32.
    pub crc32: u32,
}

/// A table (or group of loose files) and its members in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePlan {
    /// Table path relative to the source root (`.` for the root group).
    pub path: String,
    /// Format.
    pub format: TableFormat,
    /// Iceberg current snapshot id or Delta version, filled in by the caller that can
    /// read file contents (see [`iceberg_snapshot_id`], [`delta_version`]).
    pub snapshot: Option<String>,
    /// Members, ordered (see the module docs).
    pub files: Vec<SourceFile>,
    /// Files found in the table's folder that its state does not reference (left out).
    pub orphans: Orphans,
}

/// Files left out of a table because its state does not reference them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orphans {
    /// How many.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
}

/// The outermost table roots among `paths` (`""` for a table at the source root), sorted,
/// with their formats: what [`plan`] groups by, without the files.
pub fn roots<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<(String, TableFormat)> {
    let mut roots: BTreeMap<String, TableFormat> = BTreeMap::new();
    for path in paths {
        if let Some((root, rest)) = split_at_component(path, "metadata")
            && !rest.contains('/')
            && is_iceberg_metadata(rest)
        {
            roots.entry(root.to_owned()).or_insert(TableFormat::Iceberg);
        }
        if let Some((root, _)) = split_at_component(path, "_delta_log") {
            roots.entry(root.to_owned()).or_insert(TableFormat::Delta);
        }
    }
    // Keep only outermost roots: a table inside another table belongs to the outer one.
    roots
        .iter()
        .filter(|(root, _)| {
            !roots
                .keys()
                .any(|other| other != *root && is_under(root, other))
        })
        .map(|(r, f)| (r.clone(), *f))
        .collect()
}

/// Groups files into tables and orders each table's members. Tables come out sorted by path.
pub fn plan(files: Vec<SourceFile>) -> Vec<TablePlan> {
    let outermost = roots(files.iter().map(|f| f.path.as_str()));
    let mut groups: BTreeMap<String, (TableFormat, Vec<SourceFile>)> = BTreeMap::new();
    for (root, format) in &outermost {
        groups.insert(display_root(root), (*format, Vec::new()));
    }
    for file in files {
        let table = outermost
            .iter()
            .find(|(root, _)| is_under(&file.path, root))
            .map(|(root, _)| display_root(root))
            .unwrap_or_else(|| match file.path.split_once('/') {
                Some((top, _)) => top.to_owned(),
                None => ROOT_GROUP.to_owned(),
            });
        groups
            .entry(table)
            .or_insert_with(|| (TableFormat::Files, Vec::new()))
            .1
            .push(file);
    }
    groups
        .into_iter()
        .filter(|(_, (_, files))| !files.is_empty())
        .map(|(path, (format, mut files))| {
            let prefix_len = if path == ROOT_GROUP {
                0
            } else {
                path.len() + 1
            };
            files.shrink_to_fit();
            files.sort_by(|a, b| {
                let ka = member_rank(format, &a.path[prefix_len.min(a.path.len())..]);
                let kb = member_rank(format, &b.path[prefix_len.min(b.path.len())..]);
                ka.cmp(&kb).then_with(|| a.path.cmp(&b.path))
            });
            TablePlan {
                path,
                format,
                snapshot: None,
                files,
                orphans: Orphans::default(),
            }
        })
        .collect()
}

/// True if `path` equals `root` or lies below it (`root` "" is the source root).
pub fn is_under(path: &str, root: &str) -> bool {
    root.is_empty()
        || path == root
        || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

/// True if a user's TABLE argument selects the table at `table_path`: the same path or a
/// folder above it (`default.db` selects every table in it); `.` selects the root group.
pub fn selects(argument: &str, table_path: &str) -> bool {
    let argument = argument.trim_end_matches('/');
    if argument == ROOT_GROUP || table_path == ROOT_GROUP {
        return argument == table_path;
    }
    is_under(table_path, argument)
}

/// True if member `name` belongs to the table (or group) at `table_path`; the root group
/// `.` holds the files without a folder.
pub fn table_holds(table_path: &str, name: &str) -> bool {
    if table_path == ROOT_GROUP {
        !name.contains('/')
    } else {
        is_under(name, table_path)
    }
}

/// A table's path as plans name it: its root, or [`ROOT_GROUP`] for a table at the
/// source root (root `""`, as [`roots`] gives it).
pub fn display_root(root: &str) -> String {
    if root.is_empty() {
        ROOT_GROUP.to_owned()
    } else {
        root.to_owned()
    }
}

/// Splits `a/b/NAME/rest` at the first component equal to `name`: `("a/b", "rest")`.
fn split_at_component<'a>(path: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let mut start = 0;
    for component in path.split('/') {
        let end = start + component.len();
        if component == name && end < path.len() {
            let root = if start == 0 { "" } else { &path[..start - 1] };
            return Some((root, &path[end + 1..]));
        }
        start = end + 1;
    }
    None
}

fn is_iceberg_metadata(file_name: &str) -> bool {
    file_name.ends_with(".metadata.json") || file_name.ends_with(".metadata.json.gz")
}

/// The version number an Iceberg metadata file name carries: `v12.metadata.json` → 12,
/// `00012-<uuid>.metadata.json` → 12.
pub fn iceberg_metadata_version(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_prefix('v').unwrap_or(file_name);
    let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
    let rest = &stem[digits.len()..];
    if digits.is_empty() || !(rest.starts_with('-') || rest.starts_with('.')) {
        return None;
    }
    digits.parse().ok()
}

/// The version of a Delta log file (`00000000000000000010.json`,
/// `…10.checkpoint.parquet`, `…10.checkpoint.0000000001.0000000002.parquet`, `…10.crc`)
/// and its order among files of the same version (commit, checksum, checkpoint).
pub fn delta_log_version(file_name: &str) -> Option<(u64, u8)> {
    let (digits, rest) = file_name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sub = match rest {
        "json" => 0,
        "crc" => 1,
        r if r.starts_with("checkpoint.") && r.ends_with(".parquet") => 2,
        _ => return None,
    };
    Some((digits.parse().ok()?, sub))
}

/// Sort key of a member inside its table; `relative` is the path below the table root.
fn member_rank(format: TableFormat, relative: &str) -> (u8, u64, u8) {
    match format {
        TableFormat::Files => (0, 0, 0),
        TableFormat::Iceberg => match relative.strip_prefix("metadata/") {
            None => (0, 0, 0),
            Some("version-hint.text") => (3, 0, 0),
            Some(name) if is_iceberg_metadata(name) => {
                (2, iceberg_metadata_version(name).unwrap_or(0), 0)
            }
            Some(_) => (1, 0, 0),
        },
        TableFormat::Delta => match relative.strip_prefix("_delta_log/") {
            None => (0, 0, 0),
            Some("_last_checkpoint") => (3, 0, 0),
            Some(name) => match delta_log_version(name) {
                Some((version, sub)) => (2, version, sub),
                None => (1, 0, 0),
            },
        },
    }
}

/// The Iceberg metadata file that holds a table's current state: the one
/// `metadata/version-hint.text` names (its content is a version number or a file name),
/// else the highest-numbered one. `relative_names` are paths below the table root.
pub fn iceberg_current_metadata<'a>(
    relative_names: &[&'a str],
    version_hint: Option<&str>,
) -> Option<&'a str> {
    let metadata: Vec<&str> = relative_names
        .iter()
        .copied()
        .filter(|n| {
            n.strip_prefix("metadata/")
                .is_some_and(|f| !f.contains('/') && is_iceberg_metadata(f))
        })
        .collect();
    if let Some(hint) = version_hint.map(str::trim).filter(|h| !h.is_empty()) {
        let by_name = metadata
            .iter()
            .find(|n| n.strip_prefix("metadata/") == Some(hint));
        let by_version = hint.parse::<u64>().ok().and_then(|v| {
            metadata.iter().find(|n| {
                n.strip_prefix("metadata/")
                    .and_then(iceberg_metadata_version)
                    == Some(v)
            })
        });
        if let Some(found) = by_name.or(by_version) {
            return Some(found);
        }
    }
    metadata.into_iter().max_by_key(|n| {
        (
            n.strip_prefix("metadata/")
                .and_then(iceberg_metadata_version),
            *n,
        )
    })
}

/// `current-snapshot-id` of an Iceberg metadata JSON, if it has one.
pub fn iceberg_snapshot_id(metadata_json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(metadata_json).ok()?;
    match value.get("current-snapshot-id")? {
        serde_json::Value::Number(n) if n.as_i64() != Some(-1) => Some(n.to_string()),
        _ => None,
    }
}

/// The latest Delta version: the highest-numbered commit JSON in the log.
pub fn delta_version(relative_names: &[&str]) -> Option<u64> {
    relative_names
        .iter()
        .filter_map(|n| n.strip_prefix("_delta_log/"))
        .filter_map(delta_log_version)
        .filter(|(_, sub)| *sub == 0)
        .map(|(v, _)| v)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> SourceFile {
        SourceFile {
            path: path.to_owned(),
            size: 1,
            mtime: 0,
            mode: 0o644,
            held: None,
        }
    }

    #[test]
    fn detects_and_orders_tables() {
        let files = [
            "README.txt",
            "misc/notes.json",
            "db/t/metadata/v2.metadata.json",
            "db/t/metadata/version-hint.text",
            "db/t/metadata/v10.metadata.json",
            "db/t/metadata/snap-1.avro",
            "db/t/data/a.parquet",
            "delta/s/_delta_log/_last_checkpoint",
            "delta/s/_delta_log/00000000000000000001.checkpoint.parquet",
            "delta/s/_delta_log/00000000000000000001.json",
            "delta/s/_delta_log/00000000000000000000.json",
            "delta/s/part=1/x.parquet",
        ]
        .map(file)
        .to_vec();
        let plans = plan(files);
        let summary: Vec<(String, TableFormat, Vec<String>)> = plans
            .into_iter()
            .map(|p| {
                (
                    p.path,
                    p.format,
                    p.files.into_iter().map(|f| f.path).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (".".into(), TableFormat::Files, vec!["README.txt".into()]),
                (
                    "db/t".into(),
                    TableFormat::Iceberg,
                    vec![
                        "db/t/data/a.parquet".into(),
                        "db/t/metadata/snap-1.avro".into(),
                        "db/t/metadata/v2.metadata.json".into(),
                        "db/t/metadata/v10.metadata.json".into(),
                        "db/t/metadata/version-hint.text".into(),
                    ]
                ),
                (
                    "delta/s".into(),
                    TableFormat::Delta,
                    vec![
                        "delta/s/part=1/x.parquet".into(),
                        "delta/s/_delta_log/00000000000000000000.json".into(),
                        "delta/s/_delta_log/00000000000000000001.json".into(),
                        "delta/s/_delta_log/00000000000000000001.checkpoint.parquet".into(),
                        "delta/s/_delta_log/_last_checkpoint".into(),
                    ]
                ),
                (
                    "misc".into(),
                    TableFormat::Files,
                    vec!["misc/notes.json".into()]
                ),
            ]
        );
    }

    #[test]
    fn source_root_can_be_a_table() {
        let plans = plan(vec![file("metadata/00001-x.metadata.json"), file("data/a")]);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].path, ".");
        assert_eq!(plans[0].format, TableFormat::Iceberg);
    }

    #[test]
    fn current_metadata_choice() {
        let names = [
            "metadata/00001-a.metadata.json",
            "metadata/00003-b.metadata.json",
            "metadata/00002-c.metadata.json",
        ];
        assert_eq!(
            iceberg_current_metadata(&names, None),
            Some("metadata/00003-b.metadata.json")
        );
        assert_eq!(
            iceberg_current_metadata(&names, Some("2\n")),
            Some("metadata/00002-c.metadata.json")
        );
        assert_eq!(
            delta_version(&[
                "_delta_log/00000000000000000007.json",
                "_delta_log/00000000000000000009.checkpoint.parquet"
            ]),
            Some(7)
        );
    }
}
