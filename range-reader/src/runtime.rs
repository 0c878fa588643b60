//! The tokio runtime behind the HTTP and S3 backends.
//!
//! [`RangeSource`](crate::RangeSource) is a blocking trait (the sans-io core and the
//! extraction workers are plain threads); the async clients run on one shared
//! multi-thread runtime, and each call blocks its caller on it. Work that must go on while
//! the caller does something else (the part uploads of [`crate::upload`]) is [`spawn`]ed
//! onto the same runtime.

use std::future::Future;
use std::sync::OnceLock;

use crate::{Error, Result};

static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lakezip-io")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    runtime.as_ref().map_err(|message| Error::Remote {
        source_name: "runtime".into(),
        message: format!("cannot start the I/O runtime: {message}"),
    })
}

/// Runs `future` to completion on the shared runtime. Must not be called from inside the
/// runtime itself.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

/// Starts `future` on the shared runtime and returns at once; the task runs until it ends
/// (dropping the handle does not cancel it).
pub fn spawn<F>(future: F) -> Result<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(runtime()?.spawn(future))
}
