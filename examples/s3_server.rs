//! The tests' in-process S3 server (`tests/common/s3.rs`: s3s + s3s-fs with SigV4, multipart
//! uploads, conditional GETs) as a standalone process, for benchmarks and manual runs:
//!
//! ```sh
//! cargo build --release --example s3_server
//! mkfifo ctl; target/release/examples/s3_server bench <ctl >s3.env & exec 3>ctl
//! # … wait for the line `# ready` in s3.env …
//! . ./s3.env && lakezip pack warehouse/ -o s3://bench/full.zip
//! exec 3>&-   # EOF on stdin: the server stops and deletes its data
//! ```
//!
//! Arguments: the buckets to create (default `bench`). On stdout, as a shell snippet to
//! source: `unset` lines for the variables that could make an AWS SDK pick other credentials,
//! `export` lines for the endpoint, credentials and region ([`S3Server::env`]), a comment with
//! the data directory, then `# ready`. It serves until stdin reaches EOF, then removes its data
//! directory (a temporary directory: set `TMPDIR` to put it on a disk with space). Killed by a
//! signal it cannot clean up, so prefer closing stdin.

// The test helpers, compiled as they are for the tests (they allow their unused parts).
#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::process::ExitCode;

use common::s3::{AWS_ENV_TO_REMOVE, S3Server};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    let mut buckets: Vec<String> = std::env::args().skip(1).collect();
    if buckets.is_empty() {
        buckets.push("bench".to_owned());
    }
    let server = S3Server::start();
    for bucket in &buckets {
        server.create_bucket(bucket);
    }
    {
        let mut out = io::stdout().lock();
        for name in AWS_ENV_TO_REMOVE {
            writeln!(out, "unset {name}")?;
        }
        for (name, value) in server.env() {
            writeln!(out, "export {name}={}", shell_quote(&value))?;
        }
        writeln!(out, "# endpoint: {}", server.endpoint)?;
        writeln!(out, "# buckets: {}", buckets.join(" "))?;
        writeln!(out, "# data: {}", server.root.display())?;
        writeln!(out, "# ready")?;
        out.flush()?;
    }
    // Serve until stdin is closed; a read error (e.g. stdin is a closed terminal) stops too.
    let mut buf = [0u8; 4096];
    let mut stdin = io::stdin().lock();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(server);
    Ok(())
}

/// `value` in single quotes, for `sh`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
