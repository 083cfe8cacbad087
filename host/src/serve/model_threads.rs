//! The threads that run model instances, apart from the ones that serve HTTP.
//!
//! A call into a component runs to its end without yielding (the epoch only enforces the
//! deadline), so on the server's own runtime a few long inferences would hold every worker:
//! health probes, `/metrics` and new connections would wait behind them (measured before this
//! split: `/v2/health/ready` took up to 1 s behind a 0.7 s detector at 16 connections on 2
//! cores, and a multi-second model would fail a Kubernetes probe under load). Instances run
//! here instead, on one thread per core, and the HTTP side keeps answering.

use anyhow::{Context, Result};
use tokio::runtime::{Handle, Runtime};

pub(crate) struct ModelThreads {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
}

impl ModelThreads {
    /// As many threads as cores: inference is CPU-bound, so more would only add memory (an
    /// instance each) and latency.
    pub(crate) fn start() -> Result<ModelThreads> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("edgeinfer-model")
            .enable_all()
            .build()
            .context("starting the model threads")?;
        Ok(ModelThreads {
            runtime: Some(runtime),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        self.runtime.as_ref().expect("model threads live").handle()
    }
}

impl Drop for ModelThreads {
    /// The server may be dropped on one of its own runtime's threads, where a blocking
    /// shutdown is not allowed; in-flight calls have been drained by then.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
