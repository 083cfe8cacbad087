//! Dynamic batching (`--max-batch B --batch-window-ms T`), as Triton's dynamic batcher does
//! it. Infer requests to a model whose inputs and outputs all start with the same free dim
//! (the batch) wait up to T for others with the same remaining dims; a group runs as one call
//! whose rows are its requests' rows end to end (at most B), and each request gets its own
//! rows of every output back, encoded as it asked (JSON or binary, the outputs it named).
//!
//! Errors stay per request: one that cannot join (undecodable, a wrong name, dtype or shape,
//! more rows than a batch) runs alone at once and gets the component's own answer; a batch
//! whose call fails (trap, deadline, an answer that does not split) is run again request by
//! request, so the request that broke it fails alone and the others are answered (a 503,
//! the server busy or stopping, goes to all of them as it is).

use super::handler::{Reply, Target, encoded_reply, forward, full};
use crate::runtime::{Dim, Metadata};
use bytes::Bytes;
use edgeinfer_protocol::DType;
use edgeinfer_protocol::oip::{self, InferRequest, OipError, Tensor};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::http::request::Parts;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How requests are joined; `max_batch` 1 turns batching off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchPolicy {
    /// Rows (sum of the requests' first dims) in one call, at most.
    pub max_batch: u64,
    /// How long the first request of a batch waits for others.
    pub window: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_batch: 1,
            window: Duration::from_millis(2),
        }
    }
}

/// The other dims of every input, in model order: only requests that agree on them join.
type Shapes = Vec<Vec<u64>>;

/// One model version's batcher.
pub(crate) struct Batcher {
    policy: BatchPolicy,
    /// Each input's name, dtype and declared dims after the batch (`None`: free).
    inputs: Vec<(String, DType, Vec<Option<u64>>)>,
    queue: Arc<Mutex<Queue>>,
}

#[derive(Default)]
struct Queue {
    next_round: u64,
    waiting: HashMap<Shapes, Waiting>,
}

impl Queue {
    /// Adds a job to the batch of its shapes. Returns the batches now ready to run, and the
    /// round the window's timer must close when the job started a new batch that still waits.
    fn push(&mut self, job: Job, max: u64) -> (Vec<Vec<Job>>, Option<(Shapes, u64)>) {
        let shapes = job.joinable.shapes.clone();
        let mut ready = Vec::new();
        // No room left beside the ones waiting: they go now, this one starts the next.
        if let Some(waiting) = self.waiting.get(&shapes)
            && waiting.rows + job.joinable.rows > max
        {
            ready.extend(self.waiting.remove(&shapes).map(|w| w.jobs));
        }
        let mut timer = None;
        let next_round = &mut self.next_round;
        let waiting = self.waiting.entry(shapes.clone()).or_insert_with(|| {
            *next_round += 1;
            timer = Some((shapes.clone(), *next_round));
            Waiting {
                round: *next_round,
                rows: 0,
                jobs: Vec::new(),
            }
        });
        waiting.rows += job.joinable.rows;
        waiting.jobs.push(job);
        if waiting.rows >= max {
            ready.extend(self.waiting.remove(&shapes).map(|w| w.jobs));
            timer = None;
        }
        (ready, timer)
    }

    /// The batch the timer of `round` was started for, if it still waits.
    fn close(&mut self, shapes: &Shapes, round: u64) -> Option<Vec<Job>> {
        match self.waiting.get(shapes) {
            Some(w) if w.round == round => self.waiting.remove(shapes).map(|w| w.jobs),
            _ => None,
        }
    }
}

/// Requests that wait for the same batch; `round` tells the window's timer whether the batch
/// it was started for is still the one waiting.
struct Waiting {
    round: u64,
    rows: u64,
    jobs: Vec<Job>,
}

/// A request decoded and checked for joining.
pub(crate) struct Joinable {
    request: InferRequest,
    /// `request`'s inputs, in model order.
    inputs: Vec<Tensor>,
    rows: u64,
    shapes: Shapes,
}

/// A request waiting in a batch.
struct Job {
    /// The request as it came, to run it alone.
    parts: Parts,
    body: Bytes,
    joinable: Joinable,
    answer: oneshot::Sender<Result<Reply, OipError>>,
}

impl Job {
    /// Hands the reply to the waiting request (gone if its client hung up).
    fn answer(self, reply: Result<Reply, OipError>) {
        let _ = self.answer.send(reply);
    }
}

impl Batcher {
    /// A batcher for `model`, or why its inputs and outputs cannot be joined along a batch.
    pub(crate) fn for_model(model: &Metadata, policy: BatchPolicy) -> Result<Batcher, String> {
        let mut batch = None;
        for spec in model.inputs.iter().chain(&model.outputs) {
            match (spec.shape.first(), &batch) {
                (Some(Dim::Free(symbol)), None) => batch = Some(symbol.clone()),
                (Some(Dim::Free(symbol)), Some(b)) if symbol == b => {}
                _ => {
                    return Err(format!(
                        "`{}` {} does not start with the batch dim the other tensors share",
                        spec.name,
                        spec.shape_string()
                    ));
                }
            }
        }
        let inputs = model
            .inputs
            .iter()
            .map(|spec| {
                let rest = spec.shape[1..]
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => Some(*n),
                        Dim::Free(_) => None,
                    })
                    .collect();
                (spec.name.clone(), spec.dtype, rest)
            })
            .collect();
        Ok(Batcher {
            policy,
            inputs,
            queue: Default::default(),
        })
    }

    /// What joining needs of the request, or `None` when it must run alone: the component
    /// then answers it exactly as without batching, errors included.
    pub(crate) fn joinable(&self, parts: &Parts, body: &[u8]) -> Option<Joinable> {
        let mut request = oip::decode_request(body, json_len(&parts.headers).ok()?).ok()?;
        if request.inputs.len() != self.inputs.len() {
            return None;
        }
        let mut given = std::mem::take(&mut request.inputs);
        let mut inputs = Vec::with_capacity(self.inputs.len());
        let mut rows = None;
        for (name, dtype, rest) in &self.inputs {
            let at = given.iter().position(|t| &t.name == name)?;
            let tensor = given.swap_remove(at);
            let (&first, others) = tensor.shape.split_first()?;
            let fits = tensor.dtype == *dtype
                && others.len() == rest.len()
                && others
                    .iter()
                    .zip(rest)
                    .all(|(&n, d)| d.is_none_or(|d| d == n))
                && (1..=self.policy.max_batch).contains(&first)
                && rows.is_none_or(|r| r == first);
            if !fits {
                return None;
            }
            rows = Some(first);
            inputs.push(tensor);
        }
        let shapes = inputs.iter().map(|t| t.shape[1..].to_vec()).collect();
        Some(Joinable {
            request,
            inputs,
            rows: rows?,
            shapes,
        })
    }

    /// Queues the request for the next batch of its shapes and waits for its answer.
    pub(crate) async fn submit(
        &self,
        target: &Target,
        (parts, body): (Parts, Bytes),
        joinable: Joinable,
    ) -> Result<Reply, OipError> {
        let (sender, answer) = oneshot::channel();
        let job = Job {
            parts,
            body,
            joinable,
            answer: sender,
        };
        let (ready, timer) = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job, self.policy.max_batch);
        for jobs in ready {
            tokio::spawn(run(target.clone(), jobs));
        }
        if let Some((shapes, round)) = timer {
            let (queue, window, target) = (self.queue.clone(), self.policy.window, target.clone());
            tokio::spawn(async move {
                tokio::time::sleep(window).await;
                let jobs = queue
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .close(&shapes, round);
                if let Some(jobs) = jobs {
                    run(target, jobs).await;
                }
            });
        }
        answer
            .await
            .unwrap_or_else(|_| Err(OipError::new(500, "the batch this request joined was lost")))
    }
}

/// Runs a batch: one call when it holds several requests, then each its share of the rows.
async fn run(target: Target, jobs: Vec<Job>) {
    if jobs.len() == 1 {
        return run_alone(target, jobs.into_iter().next().expect("one job")).await;
    }
    match call_joined(&target, &jobs).await {
        Ok(split) => {
            target.server.metrics.batched(&target.labels, jobs.len());
            for (job, outputs) in jobs.into_iter().zip(split.shares) {
                let (model, version) = (&split.model_name, &split.model_version);
                let reply = oip::encode_response(model, version, &job.joinable.request, &outputs)
                    .map(encoded_reply);
                job.answer(reply);
            }
        }
        // Overloaded or shutting down: every request would get the same answer alone.
        Err(e) if e.status == 503 => {
            for job in jobs {
                job.answer(Err(e.clone()));
            }
        }
        Err(e) => {
            tracing::warn!(
                model = %target.labels.model,
                version = %target.labels.version,
                "a batch of {} requests failed ({}: {}); running them one by one",
                jobs.len(),
                e.status,
                e.message
            );
            target.server.metrics.batch_failed(&target.labels);
            let alone: Vec<_> = jobs
                .into_iter()
                .map(|job| tokio::spawn(run_alone(target.clone(), job)))
                .collect();
            for task in alone {
                let _ = task.await;
            }
        }
    }
}

async fn run_alone(target: Target, job: Job) {
    let Job {
        parts,
        body,
        answer,
        ..
    } = job;
    let reply = forward(&target, Request::from_parts(parts, full(body)), "/infer").await;
    let _ = answer.send(reply);
}

/// A joined call's answer: who answered, and each job's rows of every output, in job order.
struct Split {
    model_name: String,
    model_version: String,
    shares: Vec<Vec<Tensor>>,
}

/// `Inference-Header-Content-Length`: `Ok(None)` when absent, `Err` when not a number.
fn json_len(headers: &hyper::HeaderMap) -> Result<Option<usize>, ()> {
    match headers.get(oip::HEADER_CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => Ok(Some(v.to_str().map_err(drop)?.parse().map_err(drop)?)),
    }
}

/// One call with every job's rows, split back per job.
async fn call_joined(target: &Target, jobs: &[Job]) -> Result<Split, OipError> {
    let total: u64 = jobs.iter().map(|j| j.joinable.rows).sum();
    let inputs: Vec<Tensor> = (0..jobs[0].joinable.inputs.len())
        .map(|i| {
            let first = &jobs[0].joinable.inputs[i];
            let mut shape = first.shape.clone();
            shape[0] = total;
            let data = jobs
                .iter()
                .flat_map(|j| &j.joinable.inputs[i].data)
                .copied()
                .collect();
            Tensor {
                name: first.name.clone(),
                dtype: first.dtype,
                shape,
                data,
            }
        })
        .collect();
    let encoded = oip::encode_binary_request(&inputs);
    // wasi:http wants an authority: the first request's Host.
    let host = jobs[0].parts.headers.get(hyper::header::HOST).cloned();
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(
            hyper::header::HOST,
            host.unwrap_or(hyper::header::HeaderValue::from_static("localhost")),
        )
        .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
        .header(
            oip::HEADER_CONTENT_LENGTH,
            encoded.json_len.unwrap_or(0).to_string(),
        )
        .body(full(encoded.body.into()))
        .map_err(|e| OipError::new(500, format!("building the batch request: {e}")))?;
    let reply = forward(target, request, "/infer").await?;
    let status = reply.status().as_u16();
    let json_len = json_len(reply.headers()).map_err(|()| {
        OipError::new(
            502,
            "the batch's answer has a malformed Inference-Header-Content-Length",
        )
    })?;
    let body = reply
        .into_body()
        .collect()
        .await
        .map_err(|e| OipError::new(502, format!("reading the batch's answer: {e:?}")))?
        .to_bytes();
    if status != 200 {
        // The component's `{"error": message}`, passed on as the message, not as its JSON.
        let error: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let message = match error.as_ref().and_then(|e| e["error"].as_str()) {
            Some(message) => message.to_string(),
            None => String::from_utf8_lossy(&body).into_owned(),
        };
        return Err(OipError::new(status, message));
    }
    let response = oip::decode_response(&body, json_len)?;
    let mut shares: Vec<Vec<Tensor>> = jobs.iter().map(|_| Vec::new()).collect();
    for output in &response.outputs {
        if output.shape.first() != Some(&total) {
            return Err(OipError::new(
                502,
                format!(
                    "output `{}` has shape {:?}, not {total} rows as the batch",
                    output.name, output.shape
                ),
            ));
        }
        let row_bytes = output.data.len() / total as usize;
        let mut start = 0;
        for (job, share) in jobs.iter().zip(&mut shares) {
            let end = start + row_bytes * job.joinable.rows as usize;
            let mut shape = output.shape.clone();
            shape[0] = job.joinable.rows;
            share.push(Tensor {
                name: output.name.clone(),
                dtype: output.dtype,
                shape,
                data: output.data[start..end].to_vec(),
            });
            start = end;
        }
    }
    Ok(Split {
        model_name: response.model_name,
        model_version: response.model_version,
        shares,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(rows: u64, width: u64) -> Job {
        let (parts, ()) = Request::new(()).into_parts();
        Job {
            parts,
            body: Bytes::new(),
            joinable: Joinable {
                request: InferRequest {
                    id: None,
                    inputs: vec![],
                    outputs: vec![],
                    binary_output: false,
                },
                inputs: vec![],
                rows,
                shapes: vec![vec![width]],
            },
            answer: oneshot::channel().0,
        }
    }

    fn rows(batch: &[Job]) -> Vec<u64> {
        batch.iter().map(|j| j.joinable.rows).collect()
    }

    #[test]
    fn batches_fill_up_to_the_rows_and_never_mix_shapes() {
        let mut queue = Queue::default();
        let (ready, timer) = queue.push(job(3, 8), 8);
        assert!(ready.is_empty());
        let first_round = timer.expect("a new batch starts its window").1;
        let (ready, timer) = queue.push(job(3, 8), 8);
        assert!(ready.is_empty() && timer.is_none());
        // Another width waits in a batch of its own.
        let (ready, timer) = queue.push(job(1, 7), 8);
        assert!(ready.is_empty() && timer.is_some());
        // 3 more rows would make 9: the 6 waiting go, the 3 start the next batch.
        let (ready, timer) = queue.push(job(3, 8), 8);
        assert_eq!(
            ready.iter().map(|b| rows(b)).collect::<Vec<_>>(),
            [vec![3, 3]]
        );
        let (shapes, round) = timer.expect("the next batch has its own window");
        // The first batch's timer finds nothing; the second's closes its batch.
        assert!(queue.close(&shapes, first_round).is_none());
        // Exactly full: ready at once, no window.
        let (ready, timer) = queue.push(job(5, 8), 8);
        assert_eq!(
            ready.iter().map(|b| rows(b)).collect::<Vec<_>>(),
            [vec![3, 5]]
        );
        assert!(timer.is_none());
        assert!(queue.close(&shapes, round).is_none());
        assert_eq!(rows(&queue.close(&vec![vec![7]], 2).unwrap()), [1]);
        assert!(queue.waiting.is_empty());
    }
}
