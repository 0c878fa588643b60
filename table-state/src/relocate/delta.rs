//! Delta relocation: absolute paths in the JSON log; Parquet checkpoints are checked only.
//!
//! Delta paths are URIs relative to the table root as a rule, and relative paths need
//! nothing. Absolute ones (shallow clones, some writers) appear in `add`, `remove`, `cdc`
//! and `sidecar` actions and in deletion vectors stored by absolute path
//! (`storageType: "p"`); `.crc` version checksums may repeat the `add` actions under
//! `allFiles`.

use std::collections::BTreeMap;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::Type;

use super::json::{self, Step};
use super::{Paths, Relocation, Walk, is_absolute_location};
use crate::{Error, Result, TableFiles};

/// Actions whose `path` names a file.
const PATH_ACTIONS: [&str; 4] = ["add", "remove", "cdc", "sidecar"];
/// Actions that may carry a deletion vector.
const DELETION_VECTOR_ACTIONS: [&str; 2] = ["add", "remove"];

pub(super) fn walk(
    table: &str,
    files: &dyn TableFiles,
    relocation: Option<&Relocation>,
) -> Result<Walk> {
    let mut paths = Paths::new(relocation);
    let mut changed = BTreeMap::new();
    let log: Vec<&String> = files
        .listed()
        .iter()
        .filter(|name| name.starts_with("_delta_log/"))
        .collect();
    if log.is_empty() {
        return Err(Error::Unsupported(format!(
            "{table}: no Delta log (_delta_log/)"
        )));
    }
    for name in log {
        let is_json = name.ends_with(".json");
        let is_crc = name.ends_with(".crc");
        let is_parquet = name.ends_with(".parquet");
        if !(is_json || is_crc || is_parquet) {
            continue; // _last_checkpoint and the like hold no paths
        }
        let bytes = files.read(name)?.ok_or_else(|| Error::Missing {
            table: table.to_owned(),
            path: name.clone(),
        })?;
        if is_parquet {
            let paths_in_file = parquet_paths(name, bytes)?;
            for path in paths_in_file.iter().filter(|p| is_absolute_location(p)) {
                if let Some(new) = paths.visit(path) {
                    return Err(Error::CannotRelocate {
                        path: name.clone(),
                        reason: format!(
                            "holds the absolute path {path} (to become {new}); Parquet \
                             checkpoints are not rewritten"
                        ),
                    });
                }
            }
            continue;
        }
        let mut documents = Vec::new();
        for document in serde_json::Deserializer::from_slice(&bytes).into_iter() {
            documents.push(document.map_err(|e| Error::Invalid {
                path: name.clone(),
                reason: format!("invalid JSON: {e}"),
            })?);
        }
        let rewritten = json::rewrite_strings(name, &bytes, |document, path, value| {
            let action = if is_crc {
                // `.crc`: {"allFiles": [{add action}, …], …}
                match path {
                    [Step::Key(all), Step::Index(_), rest @ ..] if all == "allFiles" => {
                        is_file_path(rest, "add")
                    }
                    _ => false,
                }
            } else {
                match path {
                    [Step::Key(action), rest @ ..] => is_file_path(rest, action),
                    _ => false,
                }
            };
            let wanted = action
                && is_absolute_location(value)
                && (!matches!(path.last(), Some(Step::Key(key)) if key == "pathOrInlineDv")
                    || documents
                        .get(document)
                        .is_some_and(|document| stored_by_path(document, path)));
            wanted.then(|| paths.visit(value)).flatten()
        })?;
        if let Some(rewritten) = rewritten {
            changed.insert(name.clone(), rewritten);
        }
    }
    Ok(Walk {
        changed,
        found: paths.found,
    })
}

/// Whether `rest`, inside an `action`, is a file path: `path`, or a deletion vector's
/// `pathOrInlineDv`.
fn is_file_path(rest: &[Step], action: &str) -> bool {
    if json::path_is(rest, &[Some("path")]) {
        return PATH_ACTIONS.contains(&action);
    }
    DELETION_VECTOR_ACTIONS.contains(&action)
        && json::path_is(rest, &[Some("deletionVector"), Some("pathOrInlineDv")])
}

/// Whether the deletion vector holding the `pathOrInlineDv` at `path` is stored by
/// absolute path (`storageType: "p"`); `u` (relative, encoded) and `i` (inline) are not
/// paths.
fn stored_by_path(document: &serde_json::Value, path: &[Step]) -> bool {
    let Some((_, vector_path)) = path.split_last() else {
        return false;
    };
    let mut at = document;
    for step in vector_path {
        let next = match step {
            Step::Key(key) => at.get(key),
            Step::Index(index) => at.get(index),
        };
        match next {
            Some(next) => at = next,
            None => return false,
        }
    }
    at.get("storageType").and_then(serde_json::Value::as_str) == Some("p")
}

/// The file paths in a Parquet checkpoint or sidecar: `path` of its `add`, `remove`,
/// `cdc` and `sidecar` actions and `p` deletion vectors.
fn parquet_paths(name: &str, bytes: Vec<u8>) -> Result<Vec<String>> {
    let invalid = |reason: String| Error::Invalid {
        path: name.to_owned(),
        reason,
    };
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes))
        .map_err(|e| invalid(format!("Parquet: {e}")))?;
    let root = reader.metadata().file_metadata().schema();
    let actions: Vec<_> = root
        .get_fields()
        .iter()
        .filter(|field| PATH_ACTIONS.contains(&field.name()))
        .cloned()
        .collect();
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    let projection = Type::group_type_builder(root.name())
        .with_fields(actions)
        .build()
        .map_err(|e| invalid(format!("Parquet schema: {e}")))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| invalid(format!("Parquet: {e}")))?;
    let mut found = Vec::new();
    for row in rows {
        let row = row.map_err(|e| invalid(format!("Parquet: {e}")))?;
        for (action_name, action) in row.get_column_iter() {
            let Field::Group(action) = action else {
                continue; // null: this row holds another action
            };
            if let Some(path) = text_field(action, "path") {
                found.push(path);
            }
            if DELETION_VECTOR_ACTIONS.contains(&action_name.as_str())
                && let Some(Field::Group(vector)) = field(action, "deletionVector")
                && text_field(vector, "storageType").as_deref() == Some("p")
                && let Some(path) = text_field(vector, "pathOrInlineDv")
            {
                found.push(path);
            }
        }
    }
    Ok(found)
}

fn field<'r>(row: &'r Row, name: &str) -> Option<&'r Field> {
    row.get_column_iter()
        .find(|(field, _)| field.as_str() == name)
        .map(|(_, value)| value)
}

fn text_field(row: &Row, name: &str) -> Option<String> {
    match field(row, name)? {
        Field::Str(text) => Some(text.clone()),
        Field::Bytes(bytes) => Some(String::from_utf8_lossy(bytes.data()).into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_paths_of_a_delta_rs_checkpoint() {
        let name = "_delta_log/00000000000000000014.checkpoint.parquet";
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/warehouse/delta/events_log")
            .join(name);
        let paths = parquet_paths(name, std::fs::read(file).unwrap()).unwrap();
        // `_last_checkpoint`: numOfAddFiles 15; no removes at v14.
        assert_eq!(paths.len(), 15, "{paths:?}");
        assert!(
            paths
                .iter()
                .all(|p| p.starts_with("part-") && p.ends_with(".parquet"))
        );
    }
}
