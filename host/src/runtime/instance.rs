//! A loaded [`Model`] and its sandboxed [`Instance`]s.

use super::bindings::{
    Dimension, ErrorCode, ModelComponent, ModelComponentPre, ModelMetadata, NamedTensor, WitError,
    WitTensor,
};
use super::engine::deadline_ticks;
use super::{Runtime, RuntimeConfig};
use crate::{DType, Tensor};
use anyhow::Result;
use serde::Serialize;
use std::fmt;
use std::time::Duration;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{Deterministic, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-instance host state: a WASI context that grants nothing but stdin (used only to hand
/// a model to the generic guest) and a captured stderr, wasi:http for the component's OIP
/// handler (incoming requests only; outgoing ones are denied), plus the memory limiter.
pub(crate) struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: DenyOutgoingHttp,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
    pub(crate) limits: MemoryLimiter,
}

impl HostState {
    pub(crate) fn new(config: &RuntimeConfig, stdin: Option<Vec<u8>>) -> HostState {
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone());
        if let Some(bytes) = stdin {
            wasi.stdin(MemoryInputPipe::new(bytes));
            // A model handed in at pack time ends up in a snapshot: fixed "random" bytes (std
            // seeds its HashMaps from them) make the same model pack to the same bytes.
            let seed: Vec<u8> = (0u8..=255).collect();
            wasi.secure_random(Deterministic::new(seed.clone()))
                .insecure_random(Deterministic::new(seed))
                .insecure_random_seed(0);
        }
        HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: DenyOutgoingHttp,
            table: ResourceTable::new(),
            stderr,
            limits: MemoryLimiter {
                limit: config.memory_limit,
                peak: 0,
                denied: None,
            },
        }
    }

    /// Why a call into this store's instance failed: deadline, memory limit, or a trap with
    /// what the guest wrote to stderr.
    pub(crate) fn failure(&self, e: wasmtime::Error, deadline: Option<Duration>) -> InferError {
        if let (Some(deadline), Some(Trap::Interrupt)) = (deadline, e.downcast_ref::<Trap>()) {
            return InferError::Timeout(deadline);
        }
        if let Some(asked) = self.limits.denied {
            return InferError::OutOfMemory {
                limit_mib: self.limits.limit >> 20,
                asked_mib: asked >> 20,
            };
        }
        let stderr = self.stderr_text();
        let mut message = format!("{e:#}");
        if !stderr.is_empty() {
            message = format!("{message}; guest stderr: {stderr}");
        }
        InferError::Trap(message)
    }

    /// What the guest wrote to stderr (a panic message, say), trimmed.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// A model component has no business calling out: every outgoing request is refused.
struct DenyOutgoingHttp;

impl wasmtime_wasi_http::WasiHttpHooks for DenyOutgoingHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Caps linear memory and remembers a refused growth, so an out-of-memory trap is reported
/// as such rather than as the guest's `unreachable`.
pub(crate) struct MemoryLimiter {
    limit: usize,
    peak: usize,
    denied: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.denied = Some(desired);
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// Why an `infer` (or `metadata`) call failed.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The model refused the call with a typed error (bad input, unsupported op...).
    #[error("{}: {message}", code_name(*code))]
    Model { code: ErrorCode, message: String },
    /// The call ran past the runtime's deadline and was interrupted.
    #[error("the model ran past its deadline of {0:?} and was stopped")]
    Timeout(Duration),
    /// The guest needed more memory than the limit.
    #[error(
        "the model needed more than the {limit_mib} MiB memory limit (it asked for {asked_mib} MiB)"
    )]
    OutOfMemory { limit_mib: usize, asked_mib: usize },
    /// The guest trapped (a bug in the model component or the engine).
    #[error("the model trapped: {0}")]
    Trap(String),
    /// The host could not make the call (bad tensor on our side, instance poisoned...).
    #[error("{0}")]
    Host(String),
}

impl InferError {
    /// The wasi-nn style error code of a typed model error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            InferError::Model { code, .. } => Some(*code),
            InferError::Timeout(_) => Some(ErrorCode::Timeout),
            InferError::OutOfMemory { .. } => Some(ErrorCode::TooLarge),
            _ => None,
        }
    }
}

/// The WIT name of an error code (`invalid-argument`...).
pub fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidArgument => "invalid-argument",
        ErrorCode::InvalidEncoding => "invalid-encoding",
        ErrorCode::Timeout => "timeout",
        ErrorCode::RuntimeError => "runtime-error",
        ErrorCode::UnsupportedOperation => "unsupported-operation",
        ErrorCode::TooLarge => "too-large",
        ErrorCode::NotFound => "not-found",
        ErrorCode::Security => "security",
        ErrorCode::Unknown => "unknown",
    }
}

/// One dimension of a declared shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(u64),
    /// A free dimension, chosen per call, named by its symbol (or an expression of symbols).
    Free(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Free(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(serialize_with = "serialize_dtype")]
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

fn serialize_dtype<S: serde::Serializer>(d: &DType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.wit_name())
}

impl TensorSpec {
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        format!("[{}]", dims.join(","))
    }

    /// The shape with free dimensions set from `symbols` (unlisted ones: `None`).
    pub fn concrete_shape(
        &self,
        symbols: &std::collections::BTreeMap<String, u64>,
    ) -> Option<Vec<usize>> {
        self.shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n as usize),
                Dim::Free(s) => symbols.get(s).map(|&v| v as usize),
            })
            .collect()
    }
}

/// What a model component says about itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub engine: String,
    pub preinitialized: bool,
    /// The ONNX `metadata_props` (labels, dictionaries...) and producer.
    pub properties: std::collections::BTreeMap<String, String>,
}

impl From<ModelMetadata> for Metadata {
    fn from(m: ModelMetadata) -> Metadata {
        let specs = |list: Vec<super::bindings::edgeinfer::inference::types::TensorInfo>| {
            list.into_iter()
                .map(|t| TensorSpec {
                    name: t.name,
                    dtype: t.ty.into(),
                    shape: t
                        .shape
                        .into_iter()
                        .map(|d| match d {
                            Dimension::Fixed(n) => Dim::Fixed(n),
                            Dimension::Free(s) => Dim::Free(s),
                        })
                        .collect(),
                })
                .collect()
        };
        Metadata {
            name: m.name,
            version: m.version,
            inputs: specs(m.inputs),
            outputs: specs(m.outputs),
            engine: m.engine,
            preinitialized: m.preinitialized,
            properties: m.properties.into_iter().collect(),
        }
    }
}

/// A compiled model component, ready to instantiate (cheaply, and many times).
#[derive(Clone)]
pub struct Model {
    runtime: Runtime,
    component: Component,
    pre: ModelComponentPre<HostState>,
}

impl Model {
    pub(crate) fn new(runtime: Runtime, component: Component) -> Result<Model> {
        let pre = runtime.linker().instantiate_pre(&component).map_err(|e| {
            anyhow::anyhow!(
                "this component does not fit the edgeinfer host (it must export \
                 `edgeinfer:inference/model` and import only WASI): {e}"
            )
        })?;
        let pre = ModelComponentPre::new(pre).map_err(|e| {
            anyhow::anyhow!("this component does not export `edgeinfer:inference/model`: {e}")
        })?;
        Ok(Model {
            runtime,
            component,
            pre,
        })
    }

    /// The compiled component (for hosts that link it against other worlds, e.g. wasi:http).
    pub fn component(&self) -> &Component {
        &self.component
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// A fresh instance: its own memory, started from the component's (pre-initialized) image.
    pub fn instantiate(&self) -> Result<Instance> {
        self.instantiate_with_stdin(None)
    }

    /// A fresh instance of the generic guest, given a model at run time instead of pack time:
    /// the same `wizer-initialize` path `edgeinfer pack` snapshots, minus the snapshot. Lets
    /// tests and tools run many models on one compiled guest.
    pub fn instantiate_unpacked(
        &self,
        payload: &edgeinfer_protocol::PackPayload,
    ) -> Result<Instance> {
        let mut instance = self.instantiate_with_stdin(Some(payload.encode()))?;
        instance.arm_deadline();
        let result = instance.bindings.call_wizer_initialize(&mut instance.store);
        if let Err(e) = result {
            return Err(anyhow::anyhow!("{}", instance.call_failure(e)));
        }
        Ok(instance)
    }

    fn instantiate_with_stdin(&self, stdin: Option<Vec<u8>>) -> Result<Instance> {
        let mut store = self.runtime.new_store(stdin);
        let instantiated = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .and_then(|raw| Ok((raw, ModelComponent::new(&mut store, &raw)?)));
        let (raw, bindings) = instantiated.map_err(|e| {
            let stderr = store.data().stderr_text();
            anyhow::anyhow!("instantiating the model failed: {e:#} {stderr}")
        })?;
        Ok(Instance {
            store,
            raw,
            bindings,
            poisoned: false,
            deadline: self.runtime.config().deadline,
        })
    }

    /// The model's metadata, from a fresh instance.
    pub fn metadata(&self) -> Result<Metadata> {
        Ok(self.instantiate()?.metadata()?)
    }

    /// Runs one inference in a fresh instance.
    pub fn infer(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(self.instantiate()?.infer(inputs)?)
    }
}

/// One sandboxed instance of a model. Reusable for many calls: the model component keeps no
/// state between calls. After a trap or timeout it refuses further calls.
pub struct Instance {
    store: Store<HostState>,
    raw: wasmtime::component::Instance,
    bindings: ModelComponent,
    poisoned: bool,
    /// `None` when the runtime has none (see [`RuntimeConfig::deadline`]).
    deadline: Option<Duration>,
}

impl Instance {
    pub fn metadata(&mut self) -> Result<Metadata, InferError> {
        self.guard()?;
        self.arm_deadline();
        let result = self
            .bindings
            .edgeinfer_inference_model()
            .call_metadata(&mut self.store);
        match result {
            Ok(Ok(m)) => Ok(m.into()),
            Ok(Err(e)) => Err(model_error(e)),
            Err(e) => Err(self.call_failure(e)),
        }
    }

    pub fn infer(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, InferError> {
        self.guard()?;
        let inputs = inputs.iter().map(to_wit).collect::<Result<Vec<_>, _>>()?;
        self.arm_deadline();
        let result = self
            .bindings
            .edgeinfer_inference_model()
            .call_infer(&mut self.store, &inputs);
        match result {
            Ok(Ok(outputs)) => Ok(outputs.into_iter().map(from_wit).collect()),
            Ok(Err(e)) => Err(model_error(e)),
            Err(e) => Err(self.call_failure(e)),
        }
    }

    /// Changes the deadline of the next calls (default: the runtime's). Refused on a runtime
    /// made without a deadline: its code has no epoch checks that could stop a call.
    pub fn set_deadline(&mut self, deadline: Duration) -> Result<()> {
        if self.deadline.is_none() {
            anyhow::bail!(
                "this instance's runtime was made without a deadline (RuntimeConfig::deadline \
                 None), so its calls cannot be given one"
            );
        }
        self.deadline = Some(deadline);
        Ok(())
    }

    /// Lowers the memory limit of this instance (it cannot exceed the runtime's).
    pub fn set_memory_limit(&mut self, bytes: usize) {
        let limits = &mut self.store.data_mut().limits;
        limits.limit = limits.limit.min(bytes);
    }

    /// Largest linear memory the instance has had, in bytes (wasm memories never shrink).
    pub fn memory_peak_bytes(&self) -> usize {
        self.store.data().limits.peak
    }

    /// What the guest wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.store.data().stderr_text()
    }

    /// The store and raw instance, for Wizer's snapshot.
    pub(crate) fn raw_parts(&mut self) -> (&mut Store<HostState>, wasmtime::component::Instance) {
        (&mut self.store, self.raw)
    }

    fn guard(&self) -> Result<(), InferError> {
        if self.poisoned {
            return Err(InferError::Host(
                "this instance trapped earlier and cannot be used again; create a new one".into(),
            ));
        }
        Ok(())
    }

    fn arm_deadline(&mut self) {
        if let Some(deadline) = self.deadline {
            self.store.set_epoch_deadline(deadline_ticks(deadline));
        }
    }

    fn call_failure(&mut self, e: wasmtime::Error) -> InferError {
        self.poisoned = true;
        self.store.data().failure(e, self.deadline)
    }
}

fn model_error(e: WitError) -> InferError {
    InferError::Model {
        code: e.code,
        message: e.message,
    }
}

fn to_wit(t: &Tensor) -> Result<NamedTensor, InferError> {
    let dimensions = t
        .shape
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| InferError::Host(format!("input `{}` has a dimension over 2^32", t.name)))?;
    Ok(NamedTensor {
        name: t.name.clone(),
        tensor: WitTensor {
            dimensions,
            ty: t.dtype.into(),
            data: t.data.clone(),
        },
    })
}

fn from_wit(t: NamedTensor) -> Tensor {
    Tensor {
        name: t.name,
        dtype: t.tensor.ty.into(),
        shape: t.tensor.dimensions.iter().map(|&d| d as usize).collect(),
        data: t.tensor.data,
    }
}
