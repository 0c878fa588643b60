//! `extract`/`restore --relocate OLD=NEW`: after the files are in place, rewrite the
//! absolute paths inside each extracted Iceberg and Delta table (see
//! `table_state::relocate`), so the table opens at its new home and nothing in it points
//! at the old one.

use std::path::Path;

use anyhow::{Context as _, Result};
use archive_format::manifest::TableFormat;
use archive_format::table::{self, SourceFile};
use table_state::relocate::{Relocation, TableKind, relocate_table};

/// What was rewritten in one table.
#[derive(Debug)]
pub struct Relocated {
    /// Table path.
    pub table: String,
    /// Files rewritten.
    pub files: usize,
}

/// Relocates every Iceberg and Delta table among `names` (member paths relative to
/// `dir`). Each table's rewrites are all computed before any is written, so a table the
/// relocation refuses (position deletes, …) is left exactly as extracted.
pub fn relocate_extracted<'a>(
    dir: &Path,
    names: impl Iterator<Item = &'a str>,
    relocation: &Relocation,
) -> Result<Vec<Relocated>> {
    let files = names
        .map(|name| SourceFile {
            path: name.to_owned(),
            size: 0,
            mtime: 0,
            mode: 0,
            held: None,
        })
        .collect();
    let mut done = Vec::new();
    for plan in table::plan(files) {
        let kind = match plan.format {
            TableFormat::Iceberg => TableKind::Iceberg,
            TableFormat::Delta => TableKind::Delta,
            TableFormat::Files => continue,
        };
        let root = if plan.path == table::ROOT_GROUP {
            dir.to_owned()
        } else {
            dir.join(&plan.path)
        };
        let view = table_state::LocalTable::open(&root)
            .with_context(|| format!("cannot read the extracted table {}", plan.path))?;
        let rewrites = relocate_table(&plan.path, kind, &view, relocation)
            .with_context(|| {
                format!(
                    "cannot relocate table {} (it was extracted unchanged, still pointing at its old home)",
                    plan.path
                )
            })?;
        for (relative, bytes) in &rewrites {
            let target = root.join(relative);
            let parent = target.parent().unwrap_or(&root);
            let mut temp = tempfile::Builder::new()
                .prefix(".lakezip-relocate-")
                .tempfile_in(parent)
                .with_context(|| format!("cannot write in {}", parent.display()))?;
            std::io::Write::write_all(&mut temp, bytes)
                .with_context(|| format!("cannot write {}", target.display()))?;
            temp.persist(&target)
                .map_err(|e| e.error)
                .with_context(|| format!("cannot replace {}", target.display()))?;
        }
        done.push(Relocated {
            table: plan.path.clone(),
            files: rewrites.len(),
        });
    }
    Ok(done)
}
