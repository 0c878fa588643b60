//! The files a Delta table version references.
//!
//! [`select`] picks a version `V` (the latest, or one named with `--delta-version`) and
//! returns the files that make it, so that the packed table reads at `V` and time travels
//! to every older version its retained log can still rebuild:
//!
//! - **log**: every commit ≤ `V`, every checkpoint ≤ `V` (all parts, v2 sidecars), the
//!   `.crc` checksums ≤ `V`, log compactions ending ≤ `V`, and `_last_checkpoint` when it
//!   points at a version ≤ `V` (its bytes as read are [`Selection::pinned`]: writers
//!   rewrite it in place). Nothing of a later version; temp files (`_commit_….json.tmp`,
//!   `.tmp` anything) and unknown names never.
//! - **required data**: the logical files live at `V` (the newest complete checkpoint ≤
//!   `V`, then the commits after it): their data files and relative deletion vector files.
//!   One missing is [`Error::Missing`].
//! - **optional data**: every other path the retained log ≤ `V` mentions (files added and
//!   later removed, `remove` tombstones, `cdc` files, the state of older checkpoints):
//!   packed when they exist (vacuum deletes them).
//!
//! Paths in the log are URIs relative to the table root, percent-decoded exactly once to
//! the name on disk. A live file with an absolute path (shallow clones) is
//! [`Error::Unsupported`]: a table directory is what is packed. Absolute paths of files
//! no longer live are left out: a restored table finds them where it always did.
//!
//! ```no_run
//! use table_state::{LocalTable, delta};
//!
//! let table = LocalTable::open("warehouse/delta/sales")?;
//! let latest = delta::select("delta/sales", &table, None)?;
//! let v4 = delta::select("delta/sales", &table, Some(4))?;
//! assert_eq!(v4.snapshot.as_deref(), Some("4"));
//! assert!(v4.files.len() <= latest.files.len());
//! # Ok::<(), table_state::Error>(())
//! ```

mod actions;
mod log;
mod paths;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::{Error, Result, Selection, TableFiles};
use actions::{Action, FileAction};
use log::{LAST_CHECKPOINT, Log, SIDECARS_DIR};
use paths::Location;

/// Chooses the version (the latest, or `version` from `--delta-version TABLE=N`) and
/// returns exactly the files it references. `table` names the table in errors.
///
/// Errors: no commit or checkpoint ([`Error::Unsupported`]), a version newer than the
/// latest or one the retained log cannot rebuild ([`Error::Unsupported`], saying which
/// commits are missing), a live file missing ([`Error::Missing`]) or absolute
/// ([`Error::Unsupported`]), an unreadable log file ([`Error::Invalid`], [`Error::Read`]).
pub fn select(table: &str, files: &dyn TableFiles, version: Option<u64>) -> Result<Selection> {
    let log = Log::from_listing(files.listed());
    let latest = log.latest().ok_or_else(|| {
        Error::Unsupported(format!(
            "{table}: no Delta commit or checkpoint in _delta_log/"
        ))
    })?;
    let target = version.unwrap_or(latest);
    if target > latest {
        return Err(Error::Unsupported(format!(
            "{table}: version {target} does not exist (the latest is {latest})"
        )));
    }
    let base = log
        .base(target)
        .map_err(|reason| Error::Unsupported(format!("{table}: {reason}")))?;

    let mut replay = Replay {
        table,
        files,
        target,
        selected: BTreeSet::new(),
        live: BTreeMap::new(),
        mentioned: BTreeSet::new(),
    };

    // The state at `target`: the base checkpoint, then the commits after it.
    let mut base_files = BTreeSet::new();
    if let Some(checkpoint) = base {
        for file in log.complete_checkpoint(checkpoint).unwrap_or_default() {
            base_files.insert(file.path.clone());
            for (source, actions) in
                replay.read_checkpoint(&file.path, file.kind.is_json(), true)?
            {
                replay.apply(&source, actions)?;
            }
        }
    }
    let first_commit = base.map_or(0, |v| v + 1);
    // Empty when the base checkpoint is at `target` (`range` rejects start > end).
    let replayed = log
        .commits
        .range(first_commit..)
        .take_while(|&(&v, _)| v <= target);
    for path in replayed.map(|(_, p)| p) {
        let bytes = replay.read(path, true)?.unwrap_or_default();
        let actions = actions::from_json(path, &bytes)?;
        replay.apply(path, actions)?;
    }

    // The rest of the retained log ≤ `target`: for time travel, and for the files it names.
    for path in log.commits.range(..first_commit).map(|(_, p)| p) {
        if let Some(bytes) = replay.read(path, false)? {
            replay.mention(path, actions::from_json(path, &bytes)?)?;
        }
    }
    for file in log
        .checkpoints
        .range(..=target)
        .flat_map(|(_, files)| files)
    {
        if !base_files.contains(&file.path) {
            for (source, actions) in
                replay.read_checkpoint(&file.path, file.kind.is_json(), false)?
            {
                replay.mention(&source, actions)?;
            }
        }
    }
    for (_, last, path) in &log.compactions {
        if *last <= target
            && let Some(bytes) = replay.read(path, false)?
        {
            replay.mention(path, actions::from_json(path, &bytes)?)?;
        }
    }
    replay
        .selected
        .extend(log.checksums.range(..=target).map(|(_, p)| p.clone()));

    let mut selection = replay.finish()?;
    // Read now, not at listing time: it is rewritten in place. Pointing past `target`
    // (an older --delta-version), or at a checkpoint written after the listing and so
    // not selected, it is left out: readers then list the log.
    if let Some(bytes) = files.read(LAST_CHECKPOINT)?
        && last_checkpoint_version(&bytes).is_some_and(|v| {
            let prefix = format!("_delta_log/{v:020}.checkpoint");
            v <= target && selection.files.iter().any(|f| f.starts_with(&prefix))
        })
    {
        selection.files.insert(LAST_CHECKPOINT.to_owned());
        selection.pinned.push((LAST_CHECKPOINT.to_owned(), bytes));
    }
    selection.snapshot = Some(target.to_string());
    Ok(selection)
}

/// `version` of `_last_checkpoint`. A file that does not parse is ignored, as readers
/// ignore it (they fall back to listing the log).
fn last_checkpoint_version(bytes: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct LastCheckpoint {
        version: u64,
    }
    serde_json::from_slice::<LastCheckpoint>(bytes)
        .ok()
        .map(|l| l.version)
}

/// The files of one logical file: its data file and deletion vector file.
#[derive(Debug, Clone)]
struct LogicalFile {
    data: Location,
    deletion_vector: Option<Location>,
    /// `path` as written, for messages.
    written: String,
}

/// Replays the log into the live files and collects everything it names.
struct Replay<'a> {
    table: &'a str,
    files: &'a dyn TableFiles,
    target: u64,
    /// Log files to pack.
    selected: BTreeSet<String>,
    /// Live logical files by `(path, deletionVector.uniqueId)` (protocol "Action
    /// Reconciliation").
    live: BTreeMap<(Location, Option<String>), LogicalFile>,
    /// Every other file named: packed if it exists.
    mentioned: BTreeSet<Location>,
}

impl Replay<'_> {
    /// Reads a log file. Missing now (cleaned up since the listing): an error when the
    /// state needs it, else `None` and it is not packed.
    fn read(&mut self, path: &str, required: bool) -> Result<Option<Vec<u8>>> {
        match self.files.read(path)? {
            Some(bytes) => {
                self.selected.insert(path.to_owned());
                Ok(Some(bytes))
            }
            None if required => Err(Error::Missing {
                table: self.table.to_owned(),
                path: path.to_owned(),
            }),
            None => Ok(None),
        }
    }

    /// The actions of a checkpoint file, then of each sidecar it references (packed too),
    /// each with the file they come from.
    fn read_checkpoint(
        &mut self,
        path: &str,
        json: bool,
        required: bool,
    ) -> Result<Vec<(String, Vec<Action>)>> {
        let Some(bytes) = self.read(path, required)? else {
            return Ok(Vec::new());
        };
        let actions = if json {
            actions::from_json(path, &bytes)?
        } else {
            actions::from_parquet(path, bytes)?
        };
        let mut sidecars = Vec::new();
        for action in &actions {
            if let Action::Sidecar(written) = action {
                sidecars.push(sidecar_path(written).map_err(|reason| Error::Invalid {
                    path: path.to_owned(),
                    reason,
                })?);
            }
        }
        let mut out = vec![(path.to_owned(), actions)];
        for sidecar in sidecars {
            // Sidecars are written before their checkpoint, so a listing that holds the
            // checkpoint holds them; an optional one not listed is gone.
            if !required && !self.files.listed().contains(&sidecar) {
                continue;
            }
            if let Some(bytes) = self.read(&sidecar, required)? {
                let actions = actions::from_parquet(&sidecar, bytes)?;
                out.push((sidecar, actions));
            }
        }
        Ok(out)
    }

    /// Applies the actions of `source`, the next file of the replay up to `target`.
    fn apply(&mut self, source: &str, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            match action {
                Action::Add(file) => {
                    let (key, logical) = logical(source, &file)?;
                    self.live.insert(key, logical);
                }
                Action::Remove(file) => {
                    let (key, logical) = logical(source, &file)?;
                    self.live.remove(&key);
                    self.mention_logical(logical);
                }
                Action::Cdc(file) => {
                    let (_, logical) = logical(source, &file)?;
                    self.mention_logical(logical);
                }
                Action::Sidecar(_) => {}
            }
        }
        Ok(())
    }

    /// Records the files the actions of `source` name, without changing the live set.
    fn mention(&mut self, source: &str, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            if let Action::Add(file) | Action::Remove(file) | Action::Cdc(file) = action {
                let (_, logical) = logical(source, &file)?;
                self.mention_logical(logical);
            }
        }
        Ok(())
    }

    fn mention_logical(&mut self, logical: LogicalFile) {
        self.mentioned.insert(logical.data);
        if let Some(dv) = logical.deletion_vector {
            self.mentioned.insert(dv);
        }
    }

    /// Checks the live files and adds what exists of the rest.
    fn finish(self) -> Result<Selection> {
        let mut files = self.selected;
        let listed = self.files.listed();
        let mut required = BTreeSet::new();
        for logical in self.live.values() {
            let files = std::iter::once((&logical.data, "data file")).chain(
                logical
                    .deletion_vector
                    .iter()
                    .map(|dv| (dv, "deletion vector")),
            );
            for (location, what) in files {
                match location {
                    Location::Relative(path) => {
                        required.insert(path.clone());
                    }
                    Location::Absolute(uri) => {
                        return Err(Error::Unsupported(format!(
                            "{}: version {} references the {what} {uri} (of add.path {:?}) by absolute path; absolute data paths are not packed: use --all-files or relocate the table first",
                            self.table, self.target, logical.written
                        )));
                    }
                }
            }
        }
        for path in required {
            // A listing is not a snapshot: ask about a live file it missed before calling
            // it missing.
            if !listed.contains(&path) && !self.files.exists(&path)? {
                return Err(Error::Missing {
                    table: self.table.to_owned(),
                    path,
                });
            }
            files.insert(path);
        }
        // Optional files are packed if listed: asking about each vacuumed file would cost
        // a request per file on object stores, and data files are written before the
        // commit that names them, which the listing holds.
        for location in self.mentioned {
            if let Location::Relative(path) = location
                && listed.contains(&path)
            {
                files.insert(path);
            }
        }
        Ok(Selection {
            files,
            snapshot: None,
            pinned: Vec::new(),
        })
    }
}

/// The key (`path`, `deletionVector.uniqueId`) and files of an action read from `source`.
fn logical(source: &str, file: &FileAction) -> Result<((Location, Option<String>), LogicalFile)> {
    let invalid = |reason: String| Error::Invalid {
        path: source.to_owned(),
        reason,
    };
    let data = paths::location(&file.path).map_err(invalid)?;
    let deletion_vector = match &file.deletion_vector {
        Some(dv) => dv.location().map_err(invalid)?,
        None => None,
    };
    let key = (
        data.clone(),
        file.deletion_vector.as_ref().map(|dv| dv.unique_id()),
    );
    Ok((
        key,
        LogicalFile {
            data,
            deletion_vector,
            written: file.path.clone(),
        },
    ))
}

/// Where a `sidecar.path` is: sidecars always live in `_delta_log/_sidecars/`; writers
/// are encouraged to store the bare (URI-encoded) file name.
fn sidecar_path(written: &str) -> std::result::Result<String, String> {
    let decoded = paths::percent_decode(written)?;
    let name = match decoded.rsplit_once('/') {
        None => decoded.as_str(),
        Some((dir, name)) if dir.ends_with("_delta_log/_sidecars") => name,
        Some(_) => {
            return Err(format!(
                "sidecar {written:?} is not a file of _delta_log/_sidecars/"
            ));
        }
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("sidecar {written:?} has no file name"));
    }
    Ok(format!("{SIDECARS_DIR}{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_paths() {
        assert_eq!(
            sidecar_path("016ae953.parquet"),
            Ok("_delta_log/_sidecars/016ae953.parquet".into())
        );
        assert_eq!(
            sidecar_path("a%20b.parquet"),
            Ok("_delta_log/_sidecars/a b.parquet".into())
        );
        assert_eq!(
            sidecar_path("s3://bucket/t/_delta_log/_sidecars/x.parquet"),
            Ok("_delta_log/_sidecars/x.parquet".into())
        );
        assert!(sidecar_path("elsewhere/x.parquet").is_err());
        assert!(sidecar_path("..").is_err());
    }

    #[test]
    fn last_checkpoint_versions() {
        assert_eq!(
            last_checkpoint_version(
                br#"{"version":14,"size":17,"sizeInBytes":20121,"numOfAddFiles":15}"#
            ),
            Some(14)
        );
        assert_eq!(last_checkpoint_version(b"{\"version\":"), None);
    }
}
