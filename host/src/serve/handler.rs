//! One HTTP request: host endpoints (health, `/metrics`, `/v2`) answered here; model
//! endpoints routed to a version and handed to a fresh instance of its component (or to its
//! batcher, `--max-batch`), whose wasi:http handler speaks the protocol. The host adds limits and error statuses for what a
//! component cannot report itself (trap, deadline, memory).

use super::Server;
use super::metrics::{self, Metrics, ModelLabels};
use super::registry::{Loaded, Warm};
use crate::runtime::{Dim, HostState, InferError, Metadata, TensorSpec};
use bytes::Bytes;
use edgeinfer_protocol::oip::{self, OipError, Route};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub(crate) type Reply = Response<HyperOutgoingBody>;

pub(crate) async fn handle(server: Arc<Server>, request: Request<Incoming>) -> Reply {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let (reply, labels) = match dispatch(&server, request, &path).await {
        Ok((reply, labels)) => (reply, labels),
        Err((e, labels)) => (error_reply(&e), labels),
    };
    let status = reply.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(labels) = &labels {
        server.metrics.observe(labels, status, elapsed);
    }
    tracing::info!(
        target: "edgeinfer::access",
        method = %method,
        path = %path,
        model = %labels.as_ref().map_or("-", |l| l.model.as_str()),
        version = %labels.as_ref().map_or("-", |l| l.version.as_str()),
        status,
        ms = format_args!("{:.2}", elapsed.as_secs_f64() * 1e3),
    );
    reply
}

type Failure = (OipError, Option<ModelLabels>);

async fn dispatch(
    server: &Arc<Server>,
    request: Request<Incoming>,
    path: &str,
) -> Result<(Reply, Option<ModelLabels>), Failure> {
    let method = request.method().as_str().to_string();
    if request.uri().path() == "/metrics" {
        if method != "GET" {
            return Err((OipError::new(405, "use GET on /metrics"), None));
        }
        return Ok((
            reply(200, metrics::CONTENT_TYPE, server.metrics.encode().into()),
            None,
        ));
    }
    let route = oip::route(&method, path).map_err(|e| (e, None))?;
    let json = |status, body: Vec<u8>| Ok((reply(status, "application/json", body.into()), None));
    let suffix = match route {
        Route::ServerMetadata => {
            return json(
                200,
                oip::server_metadata_body("edgeinfer", env!("CARGO_PKG_VERSION")),
            );
        }
        Route::ServerLive => return json(200, oip::server_live_body()),
        Route::ServerReady => {
            let ready = !server.is_shutting_down();
            return json(if ready { 200 } else { 503 }, oip::server_ready_body(ready));
        }
        Route::ModelMetadata(_) => "",
        Route::ModelReady(_) => "/ready",
        Route::Infer(_) => "/infer",
    };
    let model = route.model().expect("model routes name a model");
    let slot = server.registry.resolve(model).map_err(|e| (e, None))?;
    let labels = slot.labels.clone();
    let fail = |e: OipError| (e, Some(labels.clone()));

    if let Route::ModelMetadata(_) | Route::ModelReady(_) = route {
        // From the metadata read at load rather than from an instance, byte for byte what the
        // component answers: a probe must not queue behind inferences.
        let meta = &slot.current().metadata;
        let body = match route {
            Route::ModelReady(_) => oip::model_ready_body(&meta.name, &meta.version, true),
            _ => oip::model_metadata_body(&describe(meta)),
        };
        return Ok((reply(200, "application/json", body.into()), Some(labels)));
    }
    let (parts, body) = read_body(request, &server.options).await.map_err(fail)?;
    let target = Target {
        server: server.clone(),
        labels: labels.clone(),
        loaded: slot.current(),
    };
    if let (Route::Infer(_), Some(batcher)) = (&route, &target.loaded.batcher)
        && let Some(joinable) = batcher.joinable(&parts, &body)
    {
        let reply = batcher.submit(&target, (parts, body), joinable).await;
        return Ok((reply.map_err(fail)?, Some(labels)));
    }
    let request = Request::from_parts(parts, full(body));
    let reply = forward(&target, request, suffix).await.map_err(fail)?;
    Ok((reply, Some(labels)))
}

/// The model version a request runs on, and the server it runs in.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) server: Arc<Server>,
    pub(crate) labels: ModelLabels,
    /// Taken once per request: a reload never changes it under the request.
    pub(crate) loaded: Arc<Loaded>,
}

/// Reads the whole body before an instance is taken, so a slow client holds a connection,
/// never an instance: refused over the cap (at once from Content-Length, or while reading a
/// chunked one) and past the body timeout (408).
async fn read_body(
    request: Request<Incoming>,
    options: &super::ServeOptions,
) -> Result<(Parts, Bytes), OipError> {
    let max = options.max_body_bytes;
    let too_large = || OipError::new(413, format!("the request body is larger than {max} bytes"));
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let timeout = options.body_timeout;
    let collected = tokio::time::timeout(timeout, Limited::new(body, max).collect())
        .await
        .map_err(|_| {
            OipError::new(
                408,
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            )
        })?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                OipError::bad_request(format!("reading the request body: {e}"))
            }
        })?;
    Ok((parts, collected.to_bytes()))
}

/// Runs the request in a fresh (or, with `--reuse-instances`, a kept) instance of the
/// target's component, with the path rewritten to the name and version it answers to.
pub(crate) async fn forward(
    target: &Target,
    mut request: Request<HyperOutgoingBody>,
    suffix: &str,
) -> Result<Reply, OipError> {
    let (server, loaded) = (&target.server, target.loaded.clone());
    let path = format!(
        "/v2/models/{}/versions/{}{suffix}",
        loaded.metadata.name, loaded.metadata.version
    );
    *request.uri_mut() = path
        .parse()
        .map_err(|e| OipError::new(500, format!("model name does not fit a URL path: {e}")))?;

    // Held by the task until the instance is done. When every instance is busy, a bounded
    // number of requests wait; past that, 503 with Retry-After.
    let permit = match server.instances.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            let queued = server.queued.fetch_add(1, Ordering::Relaxed);
            let _leave = QueueSpot(&server.queued);
            if queued >= server.options.max_queued {
                return Err(OipError::new(
                    503,
                    format!(
                        "all {} instances are busy and {queued} requests wait; retry later",
                        server.options.max_concurrency
                    ),
                ));
            }
            server
                .instances
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| OipError::new(503, "the server is shutting down"))?
        }
    };
    let in_flight = InFlight::start(server.metrics.clone(), permit);

    let runtime = server.loader.runtime().clone();
    let deadline = runtime.config().deadline;
    let reuse = server.options.reuse_instances;
    let warm = if reuse { loaded.take_idle() } else { None };
    server.metrics.instance_used(&target.labels, warm.is_some());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    // The end of the call, told before the store is dropped: dropping it resets the instance's
    // memory slot (milliseconds on a big model), which the client need not wait for.
    let (ended_sender, ended) = tokio::sync::oneshot::channel();
    let server = server.clone();
    tokio::task::spawn(async move {
        let _in_flight = in_flight;
        let (mut store, proxy) = match warm {
            Some(warm) => (warm.store, Some(warm.proxy)),
            None => (runtime.new_store(None), None),
        };
        runtime.yield_until_deadline(&mut store);
        let run = async {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            let proxy = match proxy {
                Some(proxy) => proxy,
                None => loaded.proxy.instantiate_async(&mut store).await?,
            };
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await?;
            Ok::<_, wasmtime::Error>(proxy)
        };
        let result = match run.await {
            Ok(proxy) => {
                // Only an instance that answered is kept: one that trapped or overran its
                // deadline is dropped with its store.
                if reuse && let Some(place) = server.idle.take_place() {
                    loaded.park(Warm {
                        store,
                        proxy,
                        _counted: place,
                    });
                }
                Ok(())
            }
            Err(e) => Err(explain_failure(&store, e, deadline)),
        };
        // Nobody listens when the client went away.
        let _ = ended_sender.send(result);
        // The woken handler would wait in this worker's LIFO slot, which other workers do
        // not steal from, until the drop below ends: let it send the answer first.
        tokio::task::yield_now().await;
        // The store, when not parked, drops here; the in-flight permit with it, so the
        // concurrency limit still bounds the slots being reset.
    });
    // A task that panicked drops its sender without a word.
    let ended = async {
        ended
            .await
            .unwrap_or_else(|_| Err(OipError::new(500, "the request task failed")))
    };
    let response = match receiver.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => return Err(OipError::new(500, format!("the model failed: {code:?}"))),
        // The component returned or trapped without answering.
        Err(_) => {
            ended.await?;
            return Err(OipError::new(500, "the model returned without answering"));
        }
    };
    // The whole answer, then the end of the call, before the client sees anything: a trap
    // after the head is a 500 with its cause instead of a cut body, and a kept instance is
    // parked before the client can send its next request.
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes());
    ended.await?;
    let body =
        body.map_err(|e| OipError::new(500, format!("reading the model's answer: {e:?}")))?;
    Ok(Response::from_parts(parts, full(body)))
}

fn explain_failure(
    store: &Store<HostState>,
    e: wasmtime::Error,
    deadline: Option<std::time::Duration>,
) -> OipError {
    let failure = store.data().failure(e, deadline);
    let status = match failure {
        InferError::Timeout(_) => 504,
        _ => 500,
    };
    OipError::new(status, failure.to_string())
}

/// An instance slot taken from the concurrency limit, counted in the in-flight gauge for as
/// long as it lives.
struct InFlight {
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
}

impl InFlight {
    fn start(metrics: Arc<Metrics>, permit: OwnedSemaphorePermit) -> InFlight {
        metrics.in_flight().inc();
        InFlight {
            metrics,
            _permit: permit,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.in_flight().dec();
    }
}

pub(crate) fn full(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn reply(status: u16, content_type: &str, body: Bytes) -> Reply {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(full(body))
        .expect("static response parts are valid")
}

/// An infer answer encoded by the host (a share of a batch), as the component sends one.
pub(crate) fn encoded_reply(encoded: oip::EncodedBody) -> Reply {
    let mut reply = reply(200, encoded.content_type(), encoded.body.into());
    if let Some(n) = encoded.json_len {
        reply.headers_mut().insert(
            oip::HEADER_CONTENT_LENGTH,
            hyper::header::HeaderValue::from(n),
        );
    }
    reply
}

fn error_reply(e: &OipError) -> Reply {
    let mut reply = reply(
        e.status,
        "application/json",
        oip::error_body(&e.message).into(),
    );
    // Overloaded or shutting down: tell clients when to come back.
    if e.status == 503 {
        reply.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
    }
    reply
}

/// How many instances wait between requests over the whole server, and how many may: each
/// holds a pool slot and its memory.
pub(crate) struct IdleCount {
    count: Arc<std::sync::atomic::AtomicUsize>,
    cap: usize,
}

impl IdleCount {
    pub(crate) fn new(cap: usize) -> IdleCount {
        IdleCount {
            count: Default::default(),
            cap,
        }
    }

    /// A place for one more idle instance, if the cap allows.
    fn take_place(&self) -> Option<IdlePlace> {
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        let place = IdlePlace(self.count.clone());
        (before < self.cap).then_some(place)
    }
}

/// One idle instance's share of [`IdleCount`], given back on drop.
pub(crate) struct IdlePlace(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for IdlePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A place in the instance queue, given back however the request ends.
struct QueueSpot<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for QueueSpot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The model as `GET /v2/models/{name}` describes it (the component's own description).
fn describe(meta: &Metadata) -> oip::ModelDescription {
    let tensors = |list: &[TensorSpec]| {
        list.iter()
            .map(|t| oip::TensorDescription {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => Some(*n),
                        Dim::Free(_) => None,
                    })
                    .collect(),
            })
            .collect()
    };
    oip::ModelDescription {
        name: meta.name.clone(),
        version: meta.version.clone(),
        platform: format!("edgeinfer/{}", meta.engine),
        inputs: tensors(&meta.inputs),
        outputs: tensors(&meta.outputs),
        parameters: meta
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}
