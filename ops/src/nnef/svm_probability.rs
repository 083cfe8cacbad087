//! The probability estimates of a libsvm classifier (`SVMClassifier` with `prob_a`/`prob_b`):
//! Platt scaling of each one-vs-one decision value, then Wu, Lin and Weng's pairwise coupling
//! (<https://www.csie.ntu.edu.tw/~cjlin/papers/svmprob/svmprob.pdf>), an iterative solve that
//! stops on a tolerance: a data-dependent loop, so one op rather than a graph of core ops.
//! The arithmetic follows onnxruntime's `sigmoid_probability` and `multiclass_probability`
//! (`onnxruntime/core/providers/cpu/ml/ml_common.h`) step by step, in `f32`, so the results
//! agree with it, not only with the method.

use tract_nnef::internal::*;

const NAME: &str = "edgeinfer_ml_svm_multiclass_probability";

/// `[N, n_classes * (n_classes - 1) / 2]` one-vs-one decision values (pairs (0,1), (0,2), ...,
/// (1,2), ...) to `[N, n_classes]` class probabilities.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SvmMulticlassProbability {
    /// `f32`, one per pair.
    pub prob_a: Arc<Tensor>,
    /// `f32`, one per pair.
    pub prob_b: Arc<Tensor>,
    pub n_classes: usize,
}

impl SvmMulticlassProbability {
    pub fn new(
        prob_a: Arc<Tensor>,
        prob_b: Arc<Tensor>,
        n_classes: usize,
    ) -> TractResult<SvmMulticlassProbability> {
        let pairs = n_classes * n_classes.saturating_sub(1) / 2;
        ensure!(n_classes >= 2, "{NAME}: needs at least two classes");
        ensure!(
            prob_a.datum_type() == f32::datum_type() && prob_b.datum_type() == f32::datum_type(),
            "{NAME}: prob_a and prob_b must be f32"
        );
        ensure!(
            prob_a.len() >= pairs && prob_b.len() >= pairs,
            "{NAME}: {n_classes} classes need {pairs} prob_a and prob_b values, got {} and {}",
            prob_a.len(),
            prob_b.len()
        );
        Ok(SvmMulticlassProbability {
            prob_a,
            prob_b,
            n_classes,
        })
    }

    fn pairs(&self) -> usize {
        self.n_classes * (self.n_classes - 1) / 2
    }
}

/// onnxruntime's `ComputeLogistic`.
fn logistic(val: f32) -> f32 {
    let v = 1.0 / (1.0 + (-val.abs()).exp());
    if val < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's `multiclass_probability`: `r` is the `k * k` matrix of pairwise
/// probabilities, `p` receives the `k` class probabilities.
fn multiclass_probability(k: usize, r: &[f32], p: &mut [f32]) {
    let mut q = vec![0f32; k * k];
    let mut qp = vec![0f32; k];
    let eps = 0.005f32 / k as f32;
    for i in 0..k {
        p[i] = 1.0 / k as f32;
        for j in 0..i {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = q[j * k + i];
        }
        for j in i + 1..k {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for _ in 0..100 {
        let mut pqp = 0f32;
        for i in 0..k {
            qp[i] = 0.0;
            for j in 0..k {
                qp[i] += q[i * k + j] * p[j];
            }
            pqp += p[i] * qp[i];
        }
        let mut max_error = 0f32;
        for &qpi in &qp {
            let error = (qpi - pqp).abs();
            if error > max_error {
                max_error = error;
            }
        }
        if max_error < eps {
            break;
        }
        for i in 0..k {
            let diff = (-qp[i] + pqp) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
}

impl Op for SvmMulticlassProbability {
    fn name(&self) -> StaticName {
        "SvmMulticlassProbability".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{} classes", self.n_classes)])
    }

    op_as_typed_op!();
}

impl EvalOp for SvmMulticlassProbability {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let scores = args_1!(inputs);
        let scores = scores.to_plain_array_view::<f32>()?;
        let scores = scores.into_dimensionality::<tract_ndarray::Ix2>()?;
        let (n, pairs, k) = (scores.shape()[0], self.pairs(), self.n_classes);
        ensure!(
            scores.shape()[1] == pairs,
            "{NAME}: expected {pairs} decision values per row"
        );
        let prob_a = self.prob_a.try_as_plain_ram()?;
        let prob_a = prob_a.as_slice::<f32>()?;
        let prob_b = self.prob_b.try_as_plain_ram()?;
        let prob_b = prob_b.as_slice::<f32>()?;
        let mut out = tract_ndarray::Array2::<f32>::zeros((n, k));
        let mut r = vec![0f32; k * k];
        for (row, mut p) in scores.outer_iter().zip(out.outer_iter_mut()) {
            let mut index = 0;
            for i in 0..k - 1 {
                for j in i + 1..k {
                    let val1 = 1.0 - logistic(row[index] * prob_a[index] + prob_b[index]);
                    let val2 = val1.clamp(1.0e-7, 1.0 - 1.0e-7);
                    r[i * k + j] = val2;
                    r[j * k + i] = 1.0 - val2;
                    index += 1;
                }
            }
            multiclass_probability(k, &r, p.as_slice_mut().context("contiguous output")?);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for SvmMulticlassProbability {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].rank() == 2,
            "{NAME}: expects [N, pairs] decision values"
        );
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "{NAME}: expects f32 decision values"
        );
        Ok(tvec!(f32::fact([
            inputs[0].shape[0].clone(),
            self.n_classes.to_dim()
        ])))
    }

    as_op!();
}

pub(super) fn register(registry: &mut Registry) {
    registry.register_primitive(
        NAME,
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Scalar.tensor().named("prob_a"),
            TypeName::Scalar.tensor().named("prob_b"),
            TypeName::Integer.named("n_classes"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        load,
    );
    registry.register_dumper(dump);
}

fn dump(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &SvmMulticlassProbability,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    let prob_a = ast.konst_variable(format!("{}.prob_a", node.name), &op.prob_a)?;
    let prob_b = ast.konst_variable(format!("{}.prob_b", node.name), &op.prob_b)?;
    Ok(Some(invocation(
        NAME,
        &[input, prob_a, prob_b],
        &[("n_classes", numeric(op.n_classes))],
    )))
}

fn load(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let input = invocation.named_arg_as(builder, "input")?;
    let prob_a = invocation.named_arg_as(builder, "prob_a")?;
    let prob_b = invocation.named_arg_as(builder, "prob_b")?;
    let n_classes: usize = invocation.named_arg_as(builder, "n_classes")?;
    builder.wire(
        SvmMulticlassProbability::new(prob_a, prob_b, n_classes)?,
        &[input],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_classes_sum_to_one() {
        let op =
            SvmMulticlassProbability::new(rctensor1(&[-2.0f32]), rctensor1(&[0.1f32]), 2).unwrap();
        let out = op
            .eval(
                &EvalContext::out_of_plan(),
                tvec!(tensor2(&[[0.7f32], [-1.3]]).into_tvalue()),
            )
            .unwrap();
        let out = out[0].to_plain_array_view::<f32>().unwrap();
        for row in out.outer_iter() {
            assert!((row.sum() - 1.0).abs() < 1e-5, "{row:?}");
        }
        // a positive decision value favours the first class of the pair
        assert!(out[[0, 0]] > out[[0, 1]]);
    }
}
