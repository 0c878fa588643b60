//! The files of `_delta_log/` by name (protocol "Delta Log Entries", "Checkpoints", "Log
//! Compaction Files", "Version Checksum File"), and which of them rebuild a version.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The log directory, relative to the table root.
pub(crate) const LOG_DIR: &str = "_delta_log/";

/// The mutable pointer to a recent checkpoint.
pub(crate) const LAST_CHECKPOINT: &str = "_delta_log/_last_checkpoint";

/// Where v2 checkpoints keep their sidecar files.
pub(crate) const SIDECARS_DIR: &str = "_delta_log/_sidecars/";

/// What a file directly in `_delta_log/` is, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogFile {
    /// `NNNNNNNNNNNNNNNNNNNN.json`.
    Commit(u64),
    /// `NNN….checkpoint.parquet`, `NNN….checkpoint.K.P.parquet`,
    /// `NNN….checkpoint.<uuid>.json|parquet`.
    Checkpoint(u64, CheckpointKind),
    /// `NNN….crc`.
    Checksum(u64),
    /// `X.Y.compacted.json`: the reconciled actions of commits X to Y.
    Compacted(u64, u64),
}

/// The naming scheme of a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckpointKind {
    /// `NNN….checkpoint.parquet` (v1 or v2 spec).
    Classic,
    /// Part `part` of `parts` of a multi-part (v1) checkpoint.
    Part {
        /// 1-based.
        part: u64,
        /// How many parts make the checkpoint.
        parts: u64,
    },
    /// `NNN….checkpoint.<uuid>.json` or `.parquet` (v2 spec).
    Uuid {
        /// JSON lines rather than Parquet.
        json: bool,
    },
}

impl CheckpointKind {
    /// Whether the file holds JSON lines (else Parquet).
    pub(crate) fn is_json(&self) -> bool {
        matches!(self, CheckpointKind::Uuid { json: true })
    }
}

/// A 20-digit zero-padded version.
fn version(digits: &str) -> Option<u64> {
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn number(digits: &str) -> Option<u64> {
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Classifies a name inside `_delta_log/`. Anything else (`_commit_….json.tmp`, Hadoop's
/// `.NNN.json.crc`, `_last_checkpoint`, …) is `None`: never part of a state by name.
pub(crate) fn classify(name: &str) -> Option<LogFile> {
    let (head, rest) = name.split_once('.')?;
    if let Some(v) = version(head) {
        return match rest {
            "json" => Some(LogFile::Commit(v)),
            "crc" => Some(LogFile::Checksum(v)),
            "checkpoint.parquet" => Some(LogFile::Checkpoint(v, CheckpointKind::Classic)),
            _ => {
                if let Some(end) = rest
                    .strip_suffix(".compacted.json")
                    .and_then(version)
                    .filter(|&end| end > v)
                {
                    return Some(LogFile::Compacted(v, end));
                }
                let middle = rest.strip_prefix("checkpoint.")?;
                if let Some(parts) = middle.strip_suffix(".parquet") {
                    if let Some((part, of)) = parts.split_once('.')
                        && let (Some(part), Some(parts)) = (number(part), number(of))
                    {
                        return (part >= 1 && part <= parts).then_some(LogFile::Checkpoint(
                            v,
                            CheckpointKind::Part { part, parts },
                        ));
                    }
                    return is_uuid(parts)
                        .then_some(LogFile::Checkpoint(v, CheckpointKind::Uuid { json: false }));
                }
                let uuid = middle.strip_suffix(".json")?;
                is_uuid(uuid).then_some(LogFile::Checkpoint(v, CheckpointKind::Uuid { json: true }))
            }
        };
    }
    None
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One checkpoint file (a multi-part checkpoint has several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointFile {
    /// Relative to the table root.
    pub path: String,
    /// Its naming scheme.
    pub kind: CheckpointKind,
}

/// The listed log of a table.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// Commit version → path.
    pub commits: BTreeMap<u64, String>,
    /// Checkpoint version → its files (every naming scheme, complete or not).
    pub checkpoints: BTreeMap<u64, Vec<CheckpointFile>>,
    /// Checksum version → path.
    pub checksums: BTreeMap<u64, String>,
    /// `(first, last, path)` of log compaction files.
    pub compactions: Vec<(u64, u64, String)>,
}

impl Log {
    /// Sorts the listed files directly in `_delta_log/`.
    pub(crate) fn from_listing(listed: &BTreeSet<String>) -> Log {
        let mut log = Log::default();
        for path in listed.range(LOG_DIR.to_owned()..) {
            let Some(name) = path.strip_prefix(LOG_DIR) else {
                break;
            };
            if name.contains('/') {
                continue;
            }
            match classify(name) {
                Some(LogFile::Commit(v)) => {
                    log.commits.insert(v, path.clone());
                }
                Some(LogFile::Checkpoint(v, kind)) => {
                    log.checkpoints.entry(v).or_default().push(CheckpointFile {
                        path: path.clone(),
                        kind,
                    });
                }
                Some(LogFile::Checksum(v)) => {
                    log.checksums.insert(v, path.clone());
                }
                Some(LogFile::Compacted(first, last)) => {
                    log.compactions.push((first, last, path.clone()))
                }
                None => {}
            }
        }
        log
    }

    /// The files of one complete checkpoint at `version`, if there is one. Single-file
    /// checkpoints come first; a multi-part checkpoint counts only with all its parts
    /// (readers must ignore one with parts missing).
    pub(crate) fn complete_checkpoint(&self, version: u64) -> Option<Vec<&CheckpointFile>> {
        let files = self.checkpoints.get(&version)?;
        if let Some(single) = files
            .iter()
            .find(|f| matches!(f.kind, CheckpointKind::Classic))
            .or_else(|| {
                files
                    .iter()
                    .find(|f| matches!(f.kind, CheckpointKind::Uuid { .. }))
            })
        {
            return Some(vec![single]);
        }
        let mut by_parts: BTreeMap<u64, BTreeMap<u64, &CheckpointFile>> = BTreeMap::new();
        for file in files {
            if let CheckpointKind::Part { part, parts } = file.kind {
                by_parts.entry(parts).or_default().insert(part, file);
            }
        }
        by_parts
            .into_iter()
            .find(|(parts, found)| u64::try_from(found.len()).is_ok_and(|n| n == *parts))
            .map(|(_, found)| found.into_values().collect())
    }

    /// The newest version the log holds: its last commit, or a later complete checkpoint
    /// (commits can be cleaned up, never the newest, but a checkpoint is enough).
    pub(crate) fn latest(&self) -> Option<u64> {
        let commit = self.commits.last_key_value().map(|(&v, _)| v);
        let checkpoint = self
            .checkpoints
            .keys()
            .rev()
            .copied()
            .find(|&v| self.complete_checkpoint(v).is_some());
        commit.max(checkpoint)
    }

    /// How to rebuild `target`: the newest complete checkpoint ≤ `target` followed by every
    /// commit after it up to `target` (`Some(version)`), or every commit from 0 (`None`).
    /// The error says what is missing.
    pub(crate) fn base(&self, target: u64) -> Result<Option<u64>, String> {
        // Commits `lowest..=target` are all present.
        let mut lowest = target.saturating_add(1);
        while lowest > 0 && self.commits.contains_key(&(lowest - 1)) {
            lowest -= 1;
        }
        let newest_checkpoint = self
            .checkpoints
            .range(..=target)
            .rev()
            .map(|(&v, _)| v)
            .find(|&v| self.complete_checkpoint(v).is_some());
        match newest_checkpoint {
            Some(v) if v.saturating_add(1) >= lowest => return Ok(Some(v)),
            None if lowest == 0 => return Ok(None),
            _ => {}
        }
        // Commits in `from..lowest` with gaps; `lowest - 1` is surely missing.
        let from = newest_checkpoint.map_or(0, |v| v + 1);
        let mut gaps = Vec::new();
        let mut next = from;
        for &present in self.commits.range(from..lowest).map(|(v, _)| v) {
            if present > next {
                gaps.push((next, present - 1));
            }
            next = present + 1;
        }
        if next < lowest {
            gaps.push((next, lowest - 1));
        }
        let mut missing = String::new();
        for (i, (first, last)) in gaps.iter().enumerate() {
            if i > 0 {
                missing.push_str(", ");
            }
            if first == last {
                let _ = write!(missing, "{first}");
            } else {
                let _ = write!(missing, "{first}–{last}");
            }
        }
        let plural = gaps.len() > 1 || gaps.first().is_some_and(|(a, b)| a != b);
        let commits = if plural { "commits" } else { "commit" };
        Err(match newest_checkpoint {
            Some(v) => format!(
                "version {target} cannot be rebuilt: {commits} {missing} after checkpoint {v} {} missing",
                if plural { "are" } else { "is" }
            ),
            None => {
                // Missing commits at the start of the log were cleaned up; a hole further on
                // is damage.
                let cleaned = gaps.len() == 1 && gaps[0].0 == 0;
                let verb = match (cleaned, plural) {
                    (true, true) => "were cleaned up",
                    (true, false) => "was cleaned up",
                    (false, true) => "are missing",
                    (false, false) => "is missing",
                };
                format!(
                    "version {target} cannot be rebuilt: {commits} {missing} {verb} and no complete checkpoint ≤ {target} exists"
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = "00000000000000000003";

    #[test]
    fn names() {
        let cases = [
            (format!("{V3}.json"), Some(LogFile::Commit(3))),
            (format!("{V3}.crc"), Some(LogFile::Checksum(3))),
            (
                format!("{V3}.checkpoint.parquet"),
                Some(LogFile::Checkpoint(3, CheckpointKind::Classic)),
            ),
            (
                format!("{V3}.checkpoint.0000000002.0000000003.parquet"),
                Some(LogFile::Checkpoint(
                    3,
                    CheckpointKind::Part { part: 2, parts: 3 },
                )),
            ),
            (
                format!("{V3}.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"),
                Some(LogFile::Checkpoint(3, CheckpointKind::Uuid { json: true })),
            ),
            (
                format!("{V3}.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.parquet"),
                Some(LogFile::Checkpoint(3, CheckpointKind::Uuid { json: false })),
            ),
            (
                format!("{V3}.00000000000000000005.compacted.json"),
                Some(LogFile::Compacted(3, 5)),
            ),
            (
                format!("{V3}.checkpoint.0000000004.0000000003.parquet"),
                None,
            ),
            (format!("{V3}.checkpoint.not-a-uuid.json"), None),
            (format!("{V3}.json.tmp"), None),
            (format!(".{V3}.json.crc"), None),
            (format!("_commit_{V3}.json.tmp"), None),
            ("3.json".to_owned(), None),
            ("_last_checkpoint".to_owned(), None),
            (format!("{V3}.00000000000000000002.compacted.json"), None),
        ];
        for (name, expected) in cases {
            assert_eq!(classify(&name), expected, "{name}");
        }
    }

    fn log(names: &[&str]) -> Log {
        let listed = names.iter().map(|n| format!("{LOG_DIR}{n}")).collect();
        Log::from_listing(&listed)
    }

    fn commit(v: u64) -> String {
        format!("{v:020}.json")
    }

    #[test]
    fn bases() {
        let names: Vec<String> = (0..=5).map(commit).collect();
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(log(&all).base(5), Ok(None));
        assert_eq!(log(&all).latest(), Some(5));
        let checkpoint = format!("{:020}.checkpoint.parquet", 3);
        all.push(&checkpoint);
        assert_eq!(log(&all).base(5), Ok(Some(3)));
        assert_eq!(log(&all).base(2), Ok(None));
        // Cleaned up before the checkpoint.
        let kept = [&names[3], &names[4], &names[5], &checkpoint].map(String::as_str);
        assert_eq!(log(&kept).base(4), Ok(Some(3)));
        assert_eq!(
            log(&kept).base(2),
            Err("version 2 cannot be rebuilt: commits 0–2 were cleaned up and no complete checkpoint ≤ 2 exists".into())
        );
        // A hole after the checkpoint.
        let holed = [&names[3], &names[5], &checkpoint].map(String::as_str);
        assert_eq!(
            log(&holed).base(5),
            Err("version 5 cannot be rebuilt: commit 4 after checkpoint 3 is missing".into())
        );
        // Only a checkpoint.
        assert_eq!(log(&[checkpoint.as_str()]).latest(), Some(3));
        assert_eq!(log(&[checkpoint.as_str()]).base(3), Ok(Some(3)));
    }

    #[test]
    fn multi_part_checkpoints_count_only_when_complete() {
        let part = |k: u64| format!("{:020}.checkpoint.{k:010}.{:010}.parquet", 2, 2);
        let (one, two) = (part(1), part(2));
        let (c2, c3) = (commit(2), commit(3));
        let complete = log(&[&one, &two, &c2, &c3]);
        assert_eq!(complete.base(3), Ok(Some(2)));
        assert_eq!(complete.complete_checkpoint(2).map(|f| f.len()), Some(2));
        let incomplete = log(&[&one, &c2, &c3]);
        assert_eq!(incomplete.complete_checkpoint(2), None);
        assert_eq!(
            incomplete.base(3),
            Err("version 3 cannot be rebuilt: commits 0–1 were cleaned up and no complete checkpoint ≤ 3 exists".into())
        );
    }
}
