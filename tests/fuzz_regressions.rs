//! Replays fuzz inputs on stable, through the same harnesses the `fuzz/` targets run
//! (`archive_format::fuzzing`, `table_state::fuzzing`): every input that ever crashed a target
//! (`tests/fuzz_regressions/<target>/`, each named after the bug it pins) and the seed
//! corpora (`fuzz/seeds/<target>/`). The fuzz targets themselves need nightly and are not
//! built in CI; this test keeps what they found fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use archive_format::fuzzing;

/// A fuzz harness: takes any bytes, panics only on a bug.
type Harness = fn(&[u8]);

/// Every target and its harness.
const TARGETS: [(&str, Harness); 7] = [
    ("directory", fuzzing::directory),
    ("local_header", fuzzing::local_header),
    ("manifest", fuzzing::manifest),
    ("chain", fuzzing::chain),
    ("roundtrip", fuzzing::roundtrip),
    ("iceberg_metadata", table_state::fuzzing::iceberg_metadata),
    ("delta_actions", table_state::fuzzing::delta_actions),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `folder` (none if it does not exist), sorted.
fn inputs(folder: &Path) -> Vec<PathBuf> {
    let Ok(read) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file under `base/<target>/` through its target; returns how many ran.
fn replay(base: &Path) -> usize {
    let mut count = 0;
    for (target, harness) in TARGETS {
        for path in inputs(&base.join(target)) {
            let data = fs::read(&path).unwrap();
            // A panic names the input: the harness's own message says what broke.
            eprintln!("{target}: {}", path.display());
            harness(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn crashes_found_by_fuzzing_stay_fixed() {
    let base = root().join("tests/fuzz_regressions");
    // Every folder must be a known target, so an input is never silently skipped.
    for entry in fs::read_dir(&base).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "tests/fuzz_regressions/{name} is not a fuzz target"
        );
    }
    assert!(replay(&base) > 0);
}

#[test]
fn seed_corpora_pass() {
    let count = replay(&root().join("fuzz/seeds"));
    assert!(count >= 50, "only {count} seeds found");
}
