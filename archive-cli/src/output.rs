//! Human versus `--json` output, progress bars, and error printing.
//!
//! `--json` prints JSON Lines on stdout: one object per record, each with a `type`
//! field (`table`, `entry`, `summary`, `error`, `archive`, `stats`). Progress bars go to
//! stderr, and only when it is a terminal and neither `--quiet` nor `--json` is given.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// Where command output goes.
#[derive(Debug)]
pub struct Output {
    json: bool,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Output {
    /// Text or JSON Lines.
    pub fn new(json: bool) -> Self {
        Output {
            json,
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    /// True in `--json` mode.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a record: `record` in JSON mode, `text` otherwise.
    pub fn emit(&mut self, record: Value, text: impl FnOnce() -> String) -> std::io::Result<()> {
        if self.json {
            writeln!(self.out, "{record}")
        } else {
            writeln!(self.out, "{}", text())
        }
    }

    /// Flushes stdout.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Prints an error as one line: `lakezip: error: …` or a JSON `error` record.
pub fn print_error(error: &anyhow::Error, json: bool) {
    let message = error
        .chain()
        .map(|c| c.to_string())
        .fold(String::new(), |acc, part| {
            if acc.is_empty() {
                part
            } else if acc.contains(&part) {
                acc
            } else {
                format!("{acc}: {part}")
            }
        });
    if json {
        println!(
            "{}",
            serde_json::json!({"type": "error", "message": message})
        );
    }
    eprintln!("lakezip: error: {message}");
}

/// A byte progress bar on stderr, or a hidden one when not wanted.
pub fn bytes_bar(total: u64, quiet: bool, json: bool, message: &str) -> ProgressBar {
    if quiet || json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// Formats a byte count for people: `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
