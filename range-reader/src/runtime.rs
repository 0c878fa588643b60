//! The tokio runtime behind the HTTP and S3 backends.
//!
//! [`RangeSource`](crate::RangeSource) is a blocking trait (the sans-io core and the
//! extraction workers are plain threads); the async clients run on one shared
//! multi-thread runtime, and each call blocks its caller on it.

use std::future::Future;
use std::sync::OnceLock;

use crate::{Error, Result};

static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// Runs `future` to completion on the shared runtime. Must not be called from inside the
/// runtime itself.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lakezip-io")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(message) => Err(Error::Remote {
            source_name: "runtime".into(),
            message: format!("cannot start the I/O runtime: {message}"),
        }),
    }
}
