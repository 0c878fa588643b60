//! Relocating a table: rewriting the absolute paths its metadata holds from one prefix to
//! another, so that a table extracted or restored to a new home reads its own files there.
//!
//! [`relocate_table`] reads the table through [`TableFiles`] and returns every file that
//! must change, as new bytes; it writes nothing itself. Everything is computed in memory
//! first, so a table that cannot be relocated is refused with an error naming the file
//! ([`Error::CannotRelocate`]) before the caller writes a single file: never a
//! half-relocated table.
//!
//! - **Iceberg** holds absolute paths everywhere. Rewritten: the metadata JSON files
//!   (`location`, `snapshots[].manifest-list` and v1 `snapshots[].manifests[]`,
//!   `metadata-log[].metadata-file`, `statistics[]` and `partition-statistics[]`
//!   `statistics-path`, the `write.*.path` properties), every manifest list
//!   (`manifest_path`, and `manifest_length` when the manifest itself changed) and every
//!   manifest (`data_file.file_path`). JSON keeps every byte outside the rewritten
//!   strings; Avro files keep their header (writer schema with its `field-id`s, Iceberg's
//!   keys, codec, sync marker) byte for byte and re-encode only the datums. Refused:
//!   position-delete files and deletion vectors (their rows and blobs hold data-file
//!   paths that cannot be rewritten here). Equality deletes hold no paths and are fine.
//! - **Delta** usually holds paths relative to the table root, which need nothing.
//!   Absolute `add`/`remove`/`cdc`/`sidecar` paths and `p` (absolute path) deletion
//!   vectors in the JSON log (commits, JSON checkpoints, `.crc` files) are rewritten;
//!   a Parquet checkpoint or sidecar holding an absolute path under the old prefix is
//!   refused (Parquet files are not rewritten).
//!
//! Paths not under the old prefix are left alone; [`absolute_paths`] lists every absolute
//! path a table's metadata holds, so a caller can check that nothing points outside the
//! new home.
//!
//! ```
//! use table_state::relocate::Relocation;
//!
//! let relocation = Relocation::parse("s3://bucket/wh=file:///data/wh").unwrap();
//! assert_eq!(
//!     relocation.apply("s3://bucket/wh/db/t/data/a.parquet").as_deref(),
//!     Some("file:///data/wh/db/t/data/a.parquet")
//! );
//! // Prefixes match whole path segments only.
//! assert_eq!(relocation.apply("s3://bucket/wh2/db/t/data/a.parquet"), None);
//! ```

mod avro;
mod delta;
mod iceberg;
mod json;

use std::collections::BTreeMap;

use crate::{Error, Result, TableFiles};

/// A relocation `OLD=NEW`: every path that starts with `from` (on a path-segment
/// boundary) moves to `to`.
///
/// Local file locations match in any spelling: with `from` = `file:///old/wh`, the paths
/// `file:///old/wh/…`, `file:/old/wh/…` (Hadoop's spelling) and `/old/wh/…` all move to
/// `to`. Other schemes match literally (`s3://` and `s3a://` are different prefixes).
/// Paths are never percent-decoded (Iceberg stores them literally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// The old prefix, without a trailing `/`.
    pub from: String,
    /// The new prefix, without a trailing `/`.
    pub to: String,
}

impl Relocation {
    /// Parses `OLD=NEW` as given on the command line (e.g. `s3://bucket/wh=file:///data/wh`).
    ///
    /// Both sides must be absolute locations (a URI with a scheme, or a path starting with
    /// `/`). A prefix may itself contain `=`: the argument is split at the one `=` that
    /// leaves an absolute location on both sides, and refused if there is no such `=` or
    /// more than one.
    pub fn parse(argument: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadRelocation {
            argument: argument.to_owned(),
            reason: reason.to_owned(),
        };
        let splits: Vec<usize> = argument
            .match_indices('=')
            .map(|(at, _)| at)
            .filter(|&at| {
                is_absolute_location(&argument[..at]) && is_absolute_location(&argument[at + 1..])
            })
            .collect();
        match splits.as_slice() {
            [at] => Relocation::new(&argument[..*at], &argument[*at + 1..]).map_err(|e| match e {
                Error::BadRelocation { reason, .. } => bad(&reason),
                other => other,
            }),
            [] => Err(bad(
                "expected OLD=NEW, both absolute locations (scheme://… or /…)",
            )),
            _ => Err(bad(
                "ambiguous: more than one `=` splits it into two absolute locations",
            )),
        }
    }

    /// A relocation from `from` to `to` (trailing `/` dropped). Both must be absolute
    /// locations and neither may be a bare scheme or the file-system root.
    pub fn new(from: &str, to: &str) -> Result<Self> {
        let argument = format!("{from}={to}");
        let check = |side: &str, which: &str| -> Result<String> {
            let trimmed = side.trim_end_matches('/');
            let bare = trimmed.is_empty()
                || trimmed.ends_with(':')
                || local_path(side).is_some_and(|local| local.trim_end_matches('/').is_empty());
            if !is_absolute_location(side) {
                Err(Error::BadRelocation {
                    argument: argument.clone(),
                    reason: format!("{which} {side:?} is not an absolute location"),
                })
            } else if bare {
                Err(Error::BadRelocation {
                    argument: argument.clone(),
                    reason: format!("{which} {side:?} names no directory (a bare scheme or /)"),
                })
            } else {
                Ok(trimmed.to_owned())
            }
        };
        Ok(Relocation {
            from: check(from, "OLD")?,
            to: check(to, "NEW")?,
        })
    }

    /// `path` moved from `from` to `to`, or `None` if it is not under `from`. `from`
    /// matches whole path segments only: `s3://b/wh` matches `s3://b/wh` and
    /// `s3://b/wh/…`, never `s3://b/wh2/…`.
    pub fn apply(&self, path: &str) -> Option<String> {
        strip_location(&self.from, path).map(|rest| format!("{}{rest}", self.to))
    }

    /// The same relocation with both prefixes percent-encoded (Delta stores paths as
    /// URIs), or `None` when encoding changes nothing.
    fn percent_encoded(&self) -> Option<Relocation> {
        let encoded = Relocation {
            from: percent_encode(&self.from),
            to: percent_encode(&self.to),
        };
        (encoded != *self).then_some(encoded)
    }
}

impl std::str::FromStr for Relocation {
    type Err = Error;

    fn from_str(argument: &str) -> Result<Self> {
        Relocation::parse(argument)
    }
}

/// Which table format a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Apache Iceberg (`metadata/*.metadata.json`, Avro manifest lists and manifests).
    Iceberg,
    /// Delta Lake (`_delta_log/`).
    Delta,
}

/// Every file of the table that must change for `relocation`: path relative to the table
/// root → new content. Files not returned stay as they are; an empty map means the table
/// needs no change.
///
/// `table` names the table in error messages; `files` gives the table's files (as
/// extracted). Files the metadata references but that are absent (for example the
/// manifest lists of past snapshots when only the current snapshot was packed) are skipped:
/// there is nothing to rewrite. Fails with [`Error::CannotRelocate`], naming the file,
/// when a file holds paths under `relocation.from` that cannot be rewritten; nothing is
/// returned then.
pub fn relocate_table(
    table: &str,
    kind: TableKind,
    files: &dyn TableFiles,
    relocation: &Relocation,
) -> Result<BTreeMap<String, Vec<u8>>> {
    match kind {
        TableKind::Iceberg => {
            iceberg::walk(table, files, Some(relocation)).map(|walk| walk.changed)
        }
        TableKind::Delta => delta::walk(table, files, Some(relocation)).map(|walk| walk.changed),
    }
}

/// Every absolute path the table's metadata holds (sorted, without repeats): for Iceberg
/// the paths in the metadata JSON files, the manifest lists and the manifests present; for
/// Delta the absolute file paths in the log and its checkpoints (relative ones are not
/// listed). After [`relocate_table`], every entry should lie under the new prefix.
pub fn absolute_paths(kind: TableKind, files: &dyn TableFiles) -> Result<Vec<String>> {
    let found = match kind {
        TableKind::Iceberg => iceberg::walk("", files, None)?.found,
        TableKind::Delta => delta::walk("", files, None)?.found,
    };
    let mut paths: Vec<String> = found
        .into_iter()
        .filter(|p| is_absolute_location(p))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// The outcome of walking a table's metadata: the files that change and every path seen.
struct Walk {
    /// Rewritten files (only when relocating).
    changed: BTreeMap<String, Vec<u8>>,
    /// Every path the metadata holds (relative ones included; filtered by the caller).
    found: Vec<String>,
}

/// Records every path met and relocates it when a relocation is given.
struct Paths<'a> {
    relocation: Option<&'a Relocation>,
    /// For Delta: the relocation with percent-encoded prefixes.
    encoded: Option<Relocation>,
    found: Vec<String>,
}

impl<'a> Paths<'a> {
    fn new(relocation: Option<&'a Relocation>) -> Self {
        Paths {
            relocation,
            encoded: relocation.and_then(Relocation::percent_encoded),
            found: Vec::new(),
        }
    }

    /// Records `path`; returns its new value if it moves.
    fn visit(&mut self, path: &str) -> Option<String> {
        self.found.push(path.to_owned());
        self.moved(path)
    }

    /// The new value of `path` if it moves (not recorded).
    fn moved(&self, path: &str) -> Option<String> {
        let relocation = self.relocation?;
        relocation.apply(path).or_else(|| {
            self.encoded
                .as_ref()
                .and_then(|encoded| encoded.apply(path))
        })
    }

    fn relocating(&self) -> bool {
        self.relocation.is_some()
    }
}

/// Whether `text` is an absolute location: `/…` or `scheme:…` (RFC 3986 scheme).
fn is_absolute_location(text: &str) -> bool {
    if text.starts_with('/') {
        return true;
    }
    match text.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// The local path of a local file location: `file:///p`, `file:/p` and `/p` all give `/p`
/// (`file://host/p` gives `None`, as does every other scheme).
fn local_path(location: &str) -> Option<&str> {
    if location.starts_with('/') {
        return Some(location);
    }
    let rest = location.strip_prefix("file:")?;
    match rest.strip_prefix("//") {
        Some(after_authority) if after_authority.starts_with('/') => Some(after_authority),
        Some(_) => None,
        None if rest.starts_with('/') => Some(rest),
        None => None,
    }
}

/// What follows `prefix` in `path` (empty, or starting with `/`) when `path` is `prefix`
/// or lies under it; local file locations compare in any spelling (see [`local_path`]).
/// `prefix` has no trailing `/`.
fn strip_location<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    let on_boundary = |rest: &str| rest.is_empty() || rest.starts_with('/');
    if let Some(rest) = path.strip_prefix(prefix)
        && on_boundary(rest)
    {
        return Some(rest);
    }
    let local_prefix = local_path(prefix)?;
    let rest = local_path(path)?.strip_prefix(local_prefix)?;
    on_boundary(rest).then_some(rest)
}

/// `path` relative to the table `location` (no leading `/`), or `None` if it is not
/// strictly inside it.
fn relative_to(location: &str, path: &str) -> Option<String> {
    let location = location.trim_end_matches('/');
    let rest = strip_location(location, path)?.trim_start_matches('/');
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// Percent-encodes what RFC 3986 does not allow in a path (keeping `/` and `:`), the way
/// Delta writers encode the table root in absolute paths.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_spellings() {
        assert_eq!(local_path("file:///a/b"), Some("/a/b"));
        assert_eq!(local_path("file:/a/b"), Some("/a/b"));
        assert_eq!(local_path("/a/b"), Some("/a/b"));
        assert_eq!(local_path("file://host/a"), None);
        assert_eq!(local_path("s3://b/a"), None);
    }

    #[test]
    fn relative_paths_inside_a_location() {
        let location = "file:///wh/db/t";
        assert_eq!(
            relative_to(location, "file:///wh/db/t/metadata/a.avro").as_deref(),
            Some("metadata/a.avro")
        );
        assert_eq!(
            relative_to(location, "file:/wh/db/t/data/x.parquet").as_deref(),
            Some("data/x.parquet")
        );
        assert_eq!(relative_to(location, "file:///wh/db/t"), None);
        assert_eq!(relative_to(location, "file:///wh/db/t2/a"), None);
        assert_eq!(relative_to("s3://b/t/", "s3://b/t/a").as_deref(), Some("a"));
    }

    #[test]
    fn encoding_keeps_uri_syntax() {
        assert_eq!(percent_encode("file:///a b/ü%"), "file:///a%20b/%C3%BC%25");
        let relocation = Relocation::parse("file:///a=file:///b").unwrap();
        assert_eq!(relocation.percent_encoded(), None);
    }
}
