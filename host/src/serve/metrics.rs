//! Prometheus metrics of `edgeinfer serve` (OpenMetrics text on `GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelLabels {
    pub(crate) model: String,
    pub(crate) version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    version: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    model: String,
    version: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    model: String,
    version: String,
    sha256: String,
    path: String,
}

pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<ModelLabels, Counter>,
    latency: Family<ModelLabels, Histogram>,
    in_flight: Gauge,
    reloads: Family<ReloadLabels, Counter>,
    info: Family<InfoLabels, Gauge>,
    refused: Counter,
    instances: Family<InstanceLabels, Counter>,
    batches: Family<ModelLabels, Counter>,
    batched: Family<ModelLabels, Counter>,
    batches_failed: Family<ModelLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    model: String,
    version: String,
    /// `fresh` (instantiated for the request) or `reused` (`--reuse-instances`).
    instance: &'static str,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("edgeinfer");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests to a model, by HTTP status",
            requests.clone(),
        );
        let errors = Family::<ModelLabels, Counter>::default();
        registry.register(
            "errors",
            "Requests to a model that did not end in 2xx",
            errors.clone(),
        );
        let latency = Family::<ModelLabels, Histogram>::new_with_constructor(|| {
            // 0.25 ms to ~8 s.
            Histogram::new(exponential_buckets(0.00025, 2.0, 16))
        });
        registry.register(
            "request_duration_seconds",
            "Time from request to response headers (instantiation, inference, encoding)",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "instances_in_flight",
            "Model instances handling a request right now",
            in_flight.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "model_reloads",
            "Hot reloads of a changed model file, by result",
            reloads.clone(),
        );
        let info = Family::<InfoLabels, Gauge>::default();
        registry.register(
            "model_info",
            "The model file behind each served version (value 1)",
            info.clone(),
        );
        let refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections answered 503 and closed because --max-connections were open",
            refused.clone(),
        );
        let instances = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "instances",
            "Requests handed to a model instance, by whether it was fresh or reused",
            instances.clone(),
        );
        let batches = Family::<ModelLabels, Counter>::default();
        registry.register(
            "batches",
            "Calls that joined several requests (--max-batch)",
            batches.clone(),
        );
        let batched = Family::<ModelLabels, Counter>::default();
        registry.register(
            "batched_requests",
            "Requests answered from a joined call; over edgeinfer_batches_total, the mean batch",
            batched.clone(),
        );
        let batches_failed = Family::<ModelLabels, Counter>::default();
        registry.register(
            "batches_failed",
            "Joined calls that failed and were run again request by request",
            batches_failed.clone(),
        );
        Metrics {
            registry,
            batches,
            batched,
            batches_failed,
            refused,
            instances,
            requests,
            errors,
            latency,
            in_flight,
            reloads,
            info,
        }
    }

    pub(crate) fn observe(&self, labels: &ModelLabels, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                model: labels.model.clone(),
                version: labels.version.clone(),
                status,
            })
            .inc();
        if !(200..300).contains(&status) {
            self.errors.get_or_create(labels).inc();
        }
        self.latency
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn instance_used(&self, labels: &ModelLabels, reused: bool) {
        self.instances
            .get_or_create(&InstanceLabels {
                model: labels.model.clone(),
                version: labels.version.clone(),
                instance: if reused { "reused" } else { "fresh" },
            })
            .inc();
    }

    pub(crate) fn batched(&self, labels: &ModelLabels, requests: usize) {
        self.batches.get_or_create(labels).inc();
        self.batched.get_or_create(labels).inc_by(requests as u64);
    }

    pub(crate) fn batch_failed(&self, labels: &ModelLabels) {
        self.batches_failed.get_or_create(labels).inc();
    }

    pub(crate) fn connection_refused(&self) {
        self.refused.inc();
    }

    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    pub(crate) fn reloaded(&self, labels: &ModelLabels, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                model: labels.model.clone(),
                version: labels.version.clone(),
                result: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// Records which file and hash now serve a version, dropping the previous one's series.
    pub(crate) fn set_info(
        &self,
        labels: &ModelLabels,
        sha256: &str,
        path: &str,
        old_sha: Option<&str>,
    ) {
        if let Some(old) = old_sha {
            self.info.remove(&InfoLabels {
                model: labels.model.clone(),
                version: labels.version.clone(),
                sha256: old.to_string(),
                path: path.to_string(),
            });
        }
        self.info
            .get_or_create(&InfoLabels {
                model: labels.model.clone(),
                version: labels.version.clone(),
                sha256: sha256.to_string(),
                path: path.to_string(),
            })
            .set(1);
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
