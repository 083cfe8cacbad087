//! `edgeinfer serve`: the Open Inference Protocol v2 over HTTP/1.1 for one or more packed
//! models, on wasmtime-wasi-http + hyper + tokio.
//!
//! Each request gets a fresh instance of its model's component (stateless; the pooling
//! allocator and a pre-initialized snapshot make that cost microseconds), run under the
//! runtime's deadline and memory cap, with at most `max_concurrency` instances at once. The
//! component's own wasi:http handler speaks the protocol; the host adds what one component
//! cannot: several models and versions, a weighted traffic split, hot reload of changed files,
//! Prometheus metrics, access logs and a graceful shutdown.

mod batcher;
mod config;
mod handler;
mod metrics;
mod registry;
mod split;

pub use batcher::BatchPolicy;
pub use config::{FileConfig, ModelSpec, WeightSpec, expand_directories};

use crate::runtime::{Runtime, RuntimeConfig};
use anyhow::{Context, Result};
use metrics::Metrics;
use registry::{Loader, Registry};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wasmtime_wasi_http::io::TokioIo;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: String,
    pub models: Vec<ModelSpec>,
    pub weights: Vec<WeightSpec>,
    /// Instances that may run at once; more requests wait for a slot. Inference is
    /// CPU-bound, so the default is the number of cores: more instances than cores add
    /// memory (one linear memory each) and tail latency, not throughput.
    pub max_concurrency: usize,
    pub max_body_bytes: usize,
    /// How often model files are checked for changes (`None`: never).
    pub reload_interval: Option<Duration>,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    pub runtime: RuntimeConfig,
    pub cache_dir: Option<PathBuf>,
    /// A connection must send a complete request head within this time, whether it is new
    /// or kept alive between requests: closes slowloris and idle connections.
    pub header_timeout: Duration,
    /// The whole request body must arrive within this time (408 past it).
    pub body_timeout: Duration,
    /// Open connections at most; past it a new one gets a 503 and is closed.
    pub max_connections: usize,
    /// Requests that may wait for an instance when all `max_concurrency` are busy; past it,
    /// 503 with `Retry-After`.
    pub max_queued: usize,
    /// Keep an instance that answered for the next request of its model version instead of
    /// a fresh instance per request: no instantiation and no cold first inference, but a
    /// request may see memory a previous one left in the instance (the guest keeps no state
    /// between calls; the isolation is its word, not wasmtime's). An instance that trapped or
    /// overran its deadline is never reused.
    pub reuse_instances: bool,
    /// Dynamic batching of every model with a batch dim, unless its spec sets its own
    /// (`max_batch` 1: off).
    pub batching: BatchPolicy,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: "127.0.0.1:8080".into(),
            models: Vec::new(),
            weights: Vec::new(),
            max_concurrency: crate::runtime::cores(),
            max_body_bytes: edgeinfer_protocol::oip::MAX_BODY_BYTES,
            reload_interval: Some(Duration::from_secs(2)),
            shutdown_grace: Duration::from_secs(10),
            runtime: RuntimeConfig {
                memory_keep_resident: 64 << 20,
                ..RuntimeConfig::default()
            },
            cache_dir: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_queued: 256,
            reuse_instances: false,
            batching: BatchPolicy::default(),
        }
    }
}

pub(crate) struct Server {
    options: ServeOptions,
    registry: Registry,
    loader: Arc<Loader>,
    metrics: Arc<Metrics>,
    instances: Arc<Semaphore>,
    /// Instances kept between requests, over every model version (`--reuse-instances`).
    idle: handler::IdleCount,
    /// Requests waiting for an instance.
    queued: std::sync::atomic::AtomicUsize,
    shutting_down: AtomicBool,
}

impl Server {
    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// A started server: its address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// What is served: `(name, version, weight, path, sha256)`.
    pub models: Vec<(String, String, u32, PathBuf, String)>,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to the grace period) and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }

    /// Waits until the server stops (after [`Running::shutdown`] or a signal).
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

/// Loads the models, binds the listener and serves in the background of the current tokio
/// runtime. Returns once the server accepts connections.
pub async fn start(options: ServeOptions) -> Result<Running> {
    if options.runtime.deadline.is_none() {
        // Calls yield to the server at each epoch tick; without ticks one long call would
        // hold a worker, and a looping model would hold it for good.
        anyhow::bail!(
            "serve needs a deadline: a server must stop a model that loops and keep answering \
             while a call runs (--deadline 0 is for trusted batch runs and benchmarks)"
        );
    }
    let mut runtime_config = options.runtime.clone();
    // Pool slots: the request instances, as many idle ones with --reuse-instances, plus a
    // few for loading and reload checks.
    let idle_cap = if options.reuse_instances {
        options.max_concurrency
    } else {
        0
    };
    runtime_config.max_instances = runtime_config
        .max_instances
        .max((options.max_concurrency + idle_cap) as u32 + 4);
    let runtime = Runtime::new(runtime_config)?;
    let loader = Arc::new(Loader::new(runtime, options.cache_dir.clone())?);
    let metrics = Arc::new(Metrics::new());
    let registry = Registry::load(
        &loader,
        options.models.clone(),
        &options.weights,
        options.batching,
        &metrics,
    )
    .await?;
    let listener = TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let models = registry
        .describe()
        .into_iter()
        .map(|(slot, weight)| {
            let loaded = slot.current();
            (
                slot.labels.model.clone(),
                slot.labels.version.clone(),
                weight,
                slot.path.clone(),
                loaded.sha256.clone(),
            )
        })
        .collect();
    let server = Arc::new(Server {
        instances: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
        queued: Default::default(),
        idle: handler::IdleCount::new(idle_cap),
        options,
        registry,
        loader,
        metrics,
        shutting_down: AtomicBool::new(false),
    });
    let (stop, stop_rx) = watch::channel(false);
    let done = tokio::spawn(accept_loop(server, listener, stop_rx));
    Ok(Running {
        addr,
        models,
        stop,
        done,
    })
}

async fn accept_loop(server: Arc<Server>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    let open = Arc::new(Semaphore::new(server.options.max_connections.max(1)));
    let reloader = server.options.reload_interval.map(|every| {
        let server = server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                server
                    .registry
                    .reload_changed(&server.loader, &server.metrics)
                    .await;
            }
        })
    });
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match open.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let serve = serve_connection(server.clone(), stream, peer, stop.clone());
                        connections.spawn(async move {
                            serve.await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        server.metrics.connection_refused();
                        connections.spawn(refuse_connection(stream, server.options.max_connections));
                    }
                }
            }
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    server.shutting_down.store(true, Ordering::Relaxed);
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    drop(listener);
    let grace = server.options.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still open after {grace:?}; closing them",
            connections.len()
        );
        connections.shutdown().await;
    }
}

async fn serve_connection(
    server: Arc<Server>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let header_timeout = server.options.header_timeout;
    let service = hyper::service::service_fn(move |request| {
        let server = server.clone();
        async move { Ok::<_, std::convert::Infallible>(handler::handle(server, request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        // Runs from the first poll for a request head: new and kept-alive connections alike.
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            // Finish the request in progress, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result
        && !e.is_incomplete_message()
    {
        tracing::debug!("connection from {peer}: {e}");
    }
}

/// Past `--max-connections`: a short answer, then close, so the client knows why.
async fn refuse_connection(mut stream: tokio::net::TcpStream, max: usize) {
    use tokio::io::AsyncWriteExt;
    let body = edgeinfer_protocol::oip::error_body(&format!(
        "too many open connections (the limit is {max}); retry later"
    ));
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
