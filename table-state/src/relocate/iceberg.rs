//! Iceberg relocation: metadata JSON files, manifest lists, manifests.
//!
//! Order matters only for `manifest_length`: manifests are rewritten first so that the
//! manifest lists can record their new sizes. Metadata JSON records no sizes.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::avro::{self, Container};
use super::json::{self, Step};
use super::{Paths, Relocation, Walk, relative_to};
use crate::{Error, Result, TableFiles};

/// `data_file.content` of a position-delete file (or a v3 deletion vector).
const POSITION_DELETES: i64 = 1;

/// Whether a string at `path` in a metadata JSON file is a location.
fn is_location_field(path: &[Step]) -> bool {
    json::path_is(path, &[Some("location")])
        || json::path_is(path, &[Some("snapshots"), None, Some("manifest-list")])
        || json::path_is(path, &[Some("snapshots"), None, Some("manifests"), None])
        || json::path_is(path, &[Some("metadata-log"), None, Some("metadata-file")])
        || json::path_is(path, &[Some("statistics"), None, Some("statistics-path")])
        || json::path_is(
            path,
            &[Some("partition-statistics"), None, Some("statistics-path")],
        )
        || matches!(path, [Step::Key(properties), Step::Key(key)]
            if properties == "properties" && key.starts_with("write.") && key.ends_with(".path"))
}

/// A manifest list or manifest to visit: where it was referenced, and the table location
/// its path is relative to.
struct Reference {
    /// The absolute path as referenced.
    path: String,
    /// The file that references it (relative to the table root).
    referenced_by: String,
    location: String,
}

/// A file that holds paths relocation cannot rewrite.
struct Unrewritable {
    /// The file that references it (relative to the table root).
    file: String,
    /// The path of the offending file.
    path: String,
    reason: String,
}

pub(super) fn walk(
    table: &str,
    files: &dyn TableFiles,
    relocation: Option<&Relocation>,
) -> Result<Walk> {
    let mut paths = Paths::new(relocation);
    let mut changed = BTreeMap::new();
    let mut unrewritable = Vec::new();

    let metadata_files: Vec<String> = files
        .listed()
        .iter()
        .filter(|name| {
            name.starts_with("metadata/")
                && (name.ends_with(".metadata.json") || name.ends_with(".metadata.json.gz"))
        })
        .cloned()
        .collect();
    if metadata_files.is_empty() {
        return Err(Error::Unsupported(format!(
            "{table}: no Iceberg metadata file (metadata/*.metadata.json)"
        )));
    }

    // Metadata JSON: rewrite in place, and gather the manifest lists (and v1 manifests)
    // the snapshots reference.
    let mut manifest_lists: BTreeMap<String, Reference> = BTreeMap::new();
    let mut manifests: BTreeMap<String, Reference> = BTreeMap::new();
    for name in &metadata_files {
        let stored = files.read(name)?.ok_or_else(|| Error::Missing {
            table: table.to_owned(),
            path: name.clone(),
        })?;
        let gzipped = stored.starts_with(&[0x1f, 0x8b]);
        let text = if gzipped {
            gunzip(name, &stored)?
        } else {
            stored
        };
        let document: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| Error::Invalid {
                path: name.clone(),
                reason: format!("invalid metadata JSON: {e}"),
            })?;
        let location = document
            .get("location")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Error::Invalid {
                path: name.clone(),
                reason: "no table location".to_owned(),
            })?
            .to_owned();
        let reference = |path: &str| Reference {
            path: path.to_owned(),
            referenced_by: name.clone(),
            location: location.clone(),
        };
        for snapshot in document
            .get("snapshots")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = snapshot
                .get("manifest-list")
                .and_then(serde_json::Value::as_str)
            {
                add_reference(&mut manifest_lists, reference(path), &paths)?;
            }
            for path in snapshot
                .get("manifests")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
            {
                add_reference(&mut manifests, reference(path), &paths)?;
            }
        }
        let rewritten = json::rewrite_strings(name, &text, |document, path, value| {
            (document == 0 && is_location_field(path))
                .then(|| paths.visit(value))
                .flatten()
        })?;
        if let Some(rewritten) = rewritten {
            let bytes = if gzipped {
                gzip(name, &rewritten)?
            } else {
                rewritten
            };
            changed.insert(name.clone(), bytes);
        }
    }

    // Manifest lists name the manifests.
    let mut list_bytes = BTreeMap::new();
    for (relative, list) in &manifest_lists {
        let Some(bytes) = files.read(relative)? else {
            continue; // not extracted (a past snapshot of a current-only pack)
        };
        let container = Container::parse(relative, &bytes)?;
        for entry in container.values()? {
            let path = manifest_path(relative, &entry)?;
            let reference = Reference {
                path: path.to_owned(),
                referenced_by: relative.clone(),
                location: list.location.clone(),
            };
            add_reference(&mut manifests, reference, &paths)?;
        }
        list_bytes.insert(relative.clone(), (list.location.clone(), bytes));
    }

    // Manifests: data-file paths. Position deletes cannot be relocated.
    let mut new_lengths: BTreeMap<String, i64> = BTreeMap::new();
    for relative in manifests.keys() {
        let Some(bytes) = files.read(relative)? else {
            continue;
        };
        let container = Container::parse(relative, &bytes)?;
        let rewritten = container.rewrite(|entry| {
            let data_file = avro::field_mut(entry, "data_file").ok_or_else(|| Error::Invalid {
                path: relative.clone(),
                reason: "manifest entry without data_file".to_owned(),
            })?;
            let content = avro::field(data_file, "content")
                .and_then(avro::as_long)
                .unwrap_or(0);
            let file_path = avro::field(data_file, "file_path")
                .and_then(avro::as_str)
                .ok_or_else(|| Error::Invalid {
                    path: relative.clone(),
                    reason: "data_file without file_path".to_owned(),
                })?
                .to_owned();
            if let Some(referenced) =
                avro::field(data_file, "referenced_data_file").and_then(avro::as_str)
            {
                paths.visit(referenced);
            }
            if content == POSITION_DELETES {
                unrewritable.push(position_deletes(relative, data_file, &file_path));
            }
            if let Some(new) = paths.visit(&file_path)
                && let Some(slot) = avro::field_mut(data_file, "file_path")
            {
                avro::set_str(slot, new);
            }
            Ok(())
        })?;
        if let Some(rewritten) = rewritten {
            let length = i64::try_from(rewritten.len()).map_err(|_| Error::Invalid {
                path: relative.clone(),
                reason: "manifest too large".to_owned(),
            })?;
            new_lengths.insert(relative.clone(), length);
            changed.insert(relative.clone(), rewritten);
        }
    }

    // Manifest lists: manifest paths, and the new length of every rewritten manifest.
    for (relative, (location, bytes)) in &list_bytes {
        let container = Container::parse(relative, bytes)?;
        let rewritten = container.rewrite(|entry| {
            let path = manifest_path(relative, entry)?.to_owned();
            let new_length = relative_to(location, &path).and_then(|m| new_lengths.get(&m));
            if let Some(&length) = new_length {
                let slot = avro::field_mut(entry, "manifest_length");
                if !slot.is_some_and(|slot| avro::set_long(slot, length)) {
                    return Err(Error::Invalid {
                        path: relative.clone(),
                        reason: format!("no manifest_length for {path}"),
                    });
                }
            }
            if let Some(new) = paths.visit(&path)
                && let Some(slot) = avro::field_mut(entry, "manifest_path")
            {
                avro::set_str(slot, new);
            }
            Ok(())
        })?;
        if let Some(rewritten) = rewritten {
            changed.insert(relative.clone(), rewritten);
        }
    }

    // A table the relocation does not touch stays as it is, delete files or not: their
    // rows can only name data files the manifests list, and none of those moved.
    if paths.relocating()
        && !changed.is_empty()
        && let Some(problem) = unrewritable.into_iter().next()
    {
        return Err(Error::CannotRelocate {
            path: problem.file,
            reason: format!("{}: {}", problem.path, problem.reason),
        });
    }
    Ok(Walk {
        changed,
        found: paths.found,
    })
}

/// Why a position-delete entry cannot be relocated.
fn position_deletes(
    manifest: &str,
    data_file: &apache_avro::types::Value,
    path: &str,
) -> Unrewritable {
    let format = avro::field(data_file, "file_format")
        .and_then(avro::as_str)
        .unwrap_or("");
    let referenced = avro::field(data_file, "referenced_data_file").and_then(avro::as_str);
    let reason = if format.eq_ignore_ascii_case("puffin") {
        format!(
            "deletion vector for {}: the Puffin blob names its data file, which relocation \
             cannot rewrite",
            referenced.unwrap_or("a data file")
        )
    } else {
        "position-delete file: its rows hold data-file paths, which relocation cannot rewrite"
            .to_owned()
    };
    Unrewritable {
        file: manifest.to_owned(),
        path: path.to_owned(),
        reason,
    }
}

/// `manifest_path` of a manifest-list entry.
fn manifest_path<'v>(list: &str, entry: &'v apache_avro::types::Value) -> Result<&'v str> {
    avro::field(entry, "manifest_path")
        .and_then(avro::as_str)
        .ok_or_else(|| Error::Invalid {
            path: list.to_owned(),
            reason: "manifest-list entry without manifest_path".to_owned(),
        })
}

/// Adds a manifest list or manifest to visit, keyed by its path inside the table. One
/// outside the table location cannot be read (nor rewritten): refused if it would move,
/// left alone otherwise.
fn add_reference(
    into: &mut BTreeMap<String, Reference>,
    reference: Reference,
    paths: &Paths<'_>,
) -> Result<()> {
    match relative_to(&reference.location, &reference.path) {
        Some(relative) => {
            into.entry(relative).or_insert(reference);
            Ok(())
        }
        None if paths.moved(&reference.path).is_some() => Err(Error::CannotRelocate {
            path: reference.referenced_by,
            reason: format!(
                "{} is outside the table location {}: it would move but cannot be rewritten",
                reference.path, reference.location
            ),
        }),
        None => Ok(()),
    }
}

fn gunzip(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut text)
        .map_err(|e| Error::Invalid {
            path: name.to_owned(),
            reason: format!("gzip: {e}"),
        })?;
    Ok(text)
}

fn gzip(name: &str, text: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(text)
        .and_then(|()| encoder.finish())
        .map_err(|e| Error::Invalid {
            path: name.to_owned(),
            reason: format!("gzip: {e}"),
        })
}
