//! The file actions of a log file: `add`, `remove`, `cdc` and `sidecar`, read from JSON
//! lines (commits, compactions, UUID-named JSON checkpoints) or from Parquet (checkpoints
//! and sidecars, protocol "Checkpoint Schema"). Every other action is skipped.

use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::{Type, TypePtr};
use serde::Deserialize;

use super::paths::DeletionVector;
use crate::{Error, Result};

/// An `add`, `remove` or `cdc` action, as far as its files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileAction {
    /// `path` as written: a URI, relative or absolute.
    pub path: String,
    /// `deletionVector`, if any.
    pub deletion_vector: Option<DeletionVector>,
}

/// An action that names files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `add`: a logical file enters the table.
    Add(FileAction),
    /// `remove`: a logical file leaves the table (a tombstone in checkpoints).
    Remove(FileAction),
    /// `cdc`: a change data file.
    Cdc(FileAction),
    /// `sidecar` (v2 checkpoints): `path` of a file in `_delta_log/_sidecars/`.
    Sidecar(String),
}

#[derive(Deserialize)]
struct JsonLine {
    add: Option<JsonFile>,
    remove: Option<JsonFile>,
    cdc: Option<JsonFile>,
    sidecar: Option<JsonSidecar>,
}

#[derive(Deserialize)]
struct JsonFile {
    path: String,
    #[serde(rename = "deletionVector")]
    deletion_vector: Option<JsonDeletionVector>,
}

#[derive(Deserialize)]
struct JsonDeletionVector {
    #[serde(rename = "storageType")]
    storage_type: String,
    #[serde(rename = "pathOrInlineDv")]
    path_or_inline_dv: String,
    offset: Option<i64>,
}

#[derive(Deserialize)]
struct JsonSidecar {
    path: String,
}

impl From<JsonFile> for FileAction {
    fn from(file: JsonFile) -> Self {
        FileAction {
            path: file.path,
            deletion_vector: file.deletion_vector.map(|dv| DeletionVector {
                storage_type: dv.storage_type,
                path_or_inline_dv: dv.path_or_inline_dv,
                offset: dv.offset,
            }),
        }
    }
}

/// The file actions of newline-delimited JSON, in order. `path` names the file in errors.
pub(crate) fn from_json(path: &str, bytes: &[u8]) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: JsonLine = serde_json::from_slice(line).map_err(|e| Error::Invalid {
            path: path.to_owned(),
            reason: format!("line {}: {e}", index + 1),
        })?;
        if let Some(add) = parsed.add {
            actions.push(Action::Add(add.into()));
        }
        if let Some(remove) = parsed.remove {
            actions.push(Action::Remove(remove.into()));
        }
        if let Some(cdc) = parsed.cdc {
            actions.push(Action::Cdc(cdc.into()));
        }
        if let Some(sidecar) = parsed.sidecar {
            actions.push(Action::Sidecar(sidecar.path));
        }
    }
    Ok(actions)
}

/// The file actions of a Parquet checkpoint or sidecar, in row order. Only the `path` and
/// `deletionVector` columns are decoded (stats, the bulk of a checkpoint, are not).
pub(crate) fn from_parquet(path: &str, bytes: Vec<u8>) -> Result<Vec<Action>> {
    catching_panics(path, || decode_parquet(path, bytes))
}

/// Runs a third-party decoder that may panic on corrupt input, turning the panic into an
/// error that names the file. The `parquet` crate (60.1) does on some corrupt pages: a
/// BYTE_ARRAY value's 4-byte length prefix is read unchecked in `PlainDecoder`
/// (`tests/fuzz_regressions/delta_actions/`). Its panic message is kept off stderr; the
/// previous panic hook still reports every other panic.
fn catching_panics<T>(path: &str, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    use std::cell::Cell;
    use std::panic::{self, AssertUnwindSafe};
    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(decode));
    QUIET.with(|quiet| quiet.set(false));
    result.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Invalid {
            path: path.to_owned(),
            reason: format!("corrupt Parquet data (the decoder failed: {detail})"),
        })
    })
}

fn decode_parquet(path: &str, bytes: Vec<u8>) -> Result<Vec<Action>> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_owned(),
        reason,
    };
    let reader =
        SerializedFileReader::new(Bytes::from(bytes)).map_err(|e| invalid(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema();
    let Some(projection) = projection(schema).map_err(|e| invalid(e.to_string()))? else {
        return Ok(Vec::new());
    };
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| invalid(e.to_string()))?;
    let mut actions = Vec::new();
    for row in rows {
        let row = row.map_err(|e| invalid(e.to_string()))?;
        for (name, field) in row.get_column_iter() {
            let Field::Group(group) = field else {
                continue; // null: this row is another action
            };
            let action = match name.as_str() {
                "add" => Action::Add(file_action(group).map_err(|e| invalid(format!("add: {e}")))?),
                "remove" => {
                    Action::Remove(file_action(group).map_err(|e| invalid(format!("remove: {e}")))?)
                }
                "sidecar" => Action::Sidecar(
                    string(group, "path")
                        .map_err(|e| invalid(format!("sidecar: {e}")))?
                        .ok_or_else(|| invalid("sidecar without a path".into()))?,
                ),
                _ => continue,
            };
            actions.push(action);
        }
    }
    Ok(actions)
}

/// The checkpoint columns worth decoding: `add`/`remove` → `path`, `deletionVector` →
/// (`storageType`, `pathOrInlineDv`, `offset`); `sidecar` → `path`. `None` when the file
/// has none of them. Types are the file's own, so the projection is part of its schema.
fn projection(schema: &Type) -> parquet::errors::Result<Option<Type>> {
    let mut fields = Vec::new();
    for field in schema.get_fields() {
        let keep: &[&str] = match field.name() {
            "add" | "remove" => &["path", "deletionVector"],
            "sidecar" => &["path"],
            _ => continue,
        };
        if let Some(subset) = subset(field, keep)?
            && subset.get_fields().iter().any(|f| f.name() == "path")
        {
            fields.push(subset);
        }
    }
    if fields.is_empty() {
        return Ok(None);
    }
    Type::group_type_builder(schema.name())
        .with_fields(fields)
        .build()
        .map(Some)
}

/// `group` with only the children named in `keep` (`deletionVector` itself narrowed).
fn subset(group: &TypePtr, keep: &[&str]) -> parquet::errors::Result<Option<TypePtr>> {
    if !group.is_group() || !group.get_basic_info().has_repetition() {
        return Ok(None);
    }
    let mut children = Vec::new();
    for child in group.get_fields() {
        if !keep.contains(&child.name()) {
            continue;
        }
        if child.name() == "deletionVector" {
            if let Some(dv) = subset(child, &["storageType", "pathOrInlineDv", "offset"])? {
                children.push(dv);
            }
        } else {
            children.push(child.clone());
        }
    }
    if children.is_empty() {
        return Ok(None);
    }
    Type::group_type_builder(group.name())
        .with_repetition(group.get_basic_info().repetition())
        .with_fields(children)
        .build()
        .map(|t| Some(std::sync::Arc::new(t)))
}

/// A string child of `row` (`None` when null or absent).
fn string(row: &Row, name: &str) -> std::result::Result<Option<String>, String> {
    for (column, field) in row.get_column_iter() {
        if column != name {
            continue;
        }
        return match field {
            Field::Str(s) => Ok(Some(s.clone())),
            Field::Bytes(b) => std::str::from_utf8(b.data())
                .map(|s| Some(s.to_owned()))
                .map_err(|_| format!("{name} is not UTF-8")),
            Field::Null => Ok(None),
            other => Err(format!("{name} is {other:?}, not a string")),
        };
    }
    Ok(None)
}

fn file_action(row: &Row) -> std::result::Result<FileAction, String> {
    let path = string(row, "path")?.ok_or("no path")?;
    let mut deletion_vector = None;
    for (column, field) in row.get_column_iter() {
        if column != "deletionVector" {
            continue;
        }
        let Field::Group(dv) = field else {
            continue;
        };
        let offset = dv
            .get_column_iter()
            .find(|(name, _)| *name == "offset")
            .and_then(|(_, f)| match f {
                Field::Int(i) => Some(i64::from(*i)),
                Field::Long(i) => Some(*i),
                _ => None,
            });
        deletion_vector = Some(DeletionVector {
            storage_type: string(dv, "storageType")?.ok_or("deletionVector without storageType")?,
            path_or_inline_dv: string(dv, "pathOrInlineDv")?
                .ok_or("deletionVector without pathOrInlineDv")?,
            offset,
        });
    }
    Ok(FileAction {
        path,
        deletion_vector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let text = br#"{"commitInfo":{"timestamp":1,"operation":"WRITE"}}
{"protocol":{"minReaderVersion":3,"minWriterVersion":7}}

{"add":{"path":"a%20b.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":4,"sizeInBytes":40,"cardinality":6}}}
{"remove":{"path":"old.parquet","dataChange":true,"deletionVector":null}}
{"cdc":{"path":"_change_data/c.parquet","partitionValues":{},"size":1,"dataChange":false}}
{"sidecar":{"path":"s.parquet","sizeInBytes":1,"modificationTime":1}}
"#;
        let actions = from_json("x.json", text).unwrap();
        assert_eq!(
            actions,
            vec![
                Action::Add(FileAction {
                    path: "a%20b.parquet".into(),
                    deletion_vector: Some(DeletionVector {
                        storage_type: "u".into(),
                        path_or_inline_dv: "ab^-aqEH.-t@S}K{vb[*k^".into(),
                        offset: Some(4),
                    }),
                }),
                Action::Remove(FileAction {
                    path: "old.parquet".into(),
                    deletion_vector: None,
                }),
                Action::Cdc(FileAction {
                    path: "_change_data/c.parquet".into(),
                    deletion_vector: None,
                }),
                Action::Sidecar("s.parquet".into()),
            ]
        );
    }

    #[test]
    fn bad_json_names_the_file_and_line() {
        let err = from_json(
            "_delta_log/00000000000000000001.json",
            b"{}\n{\"add\":{}}\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("_delta_log/00000000000000000001.json: line 2:"),
            "{text}"
        );
    }

    #[test]
    fn not_parquet_is_invalid() {
        let err = from_parquet("c.parquet", b"PAR1 nope".to_vec()).unwrap_err();
        assert!(
            matches!(err, Error::Invalid { ref path, .. } if path == "c.parquet"),
            "{err}"
        );
    }
}
