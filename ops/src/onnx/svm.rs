//! `SVMRegressor` and `SVMClassifier` (libsvm models: what skl2onnx exports for SVR, NuSVR,
//! OneClassSVM, SVC and NuSVC), decomposed as onnxruntime's `svmregressor.cc` and
//! `svmclassifier.cc` compute them:
//!
//! - kernel `K = k(X, support_vectors)`, `[N, V]`: LINEAR `X·Sᵀ`, POLY `(γ X·Sᵀ + c₀)^d`,
//!   SIGMOID `tanh(γ X·Sᵀ + c₀)`, RBF `exp(-γ |X - S|²)` (with `|X|² + |S|² - 2 X·Sᵀ`, so no
//!   `[N, V, F]` intermediate);
//! - regressor: `K · coefficients + rho[0]` (`X · coefficients + rho[0]` without support
//!   vectors), `one_class` maps to ±1; onnxruntime ignores `post_transform`, so do we;
//! - classifier: the one-vs-one decision values `D = K · W + rho` (`W` spreads the dual
//!   coefficients of each pair of classes), votes (`D > 0` for the first class of the pair),
//!   label = the class with the most votes (the first on ties), scores = `D` (two classes:
//!   `[-D, D]`, `[σ(-D), σ(D)]` or `[1 - D, D]` by post transform, as onnxruntime writes them), or with
//!   `prob_a`/`prob_b` the coupled probabilities ([`crate::nnef::SvmMulticlassProbability`]).
//!
//! Refused: string class labels, the liblinear form of `SVMClassifier` (no support vectors;
//! skl2onnx exports LinearSVC as `LinearClassifier`), `PROBIT`.

use super::*;
use crate::nnef::SvmMulticlassProbability;
use tract_onnx::tract_hir::tract_core::ops::array::{Gather, TypedConcat};
use tract_onnx::tract_hir::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_hir::tract_core::ops::{logic, math, nn};

#[derive(Debug, Clone, Copy, PartialEq)]
enum KernelType {
    Linear,
    Poly,
    Rbf,
    Sigmoid,
}

#[derive(Debug, Clone, Copy)]
struct Kernel {
    kind: KernelType,
    gamma: f32,
    coef0: f32,
    degree: f32,
}

fn kernel(node: &NodeProto) -> TractResult<Kernel> {
    let kind = match node
        .get_attr_opt::<&str>("kernel_type")?
        .unwrap_or("LINEAR")
    {
        "LINEAR" => KernelType::Linear,
        "POLY" => KernelType::Poly,
        "RBF" => KernelType::Rbf,
        "SIGMOID" => KernelType::Sigmoid,
        other => return refuse(node, format!("unknown kernel_type {other:?}")),
    };
    let params: Vec<f32> = node.get_attr_opt_vec("kernel_params")?.unwrap_or_default();
    let p = |i: usize| params.get(i).copied().unwrap_or(0.0);
    Ok(Kernel {
        kind,
        gamma: p(0),
        coef0: p(1),
        degree: p(2),
    })
}

fn einsum(
    model: &mut TypedModel,
    name: String,
    expr: &str,
    a: OutletId,
    b: OutletId,
) -> TractResult<OutletId> {
    let axes: AxesMapping = expr.parse()?;
    Ok(model.wire_node(name, EinSum::new(axes, f32::datum_type()), &[a, b])?[0])
}

fn scalar_const(model: &mut TypedModel, name: String, v: f32) -> TractResult<OutletId> {
    model.add_const(name, tensor2(&[[v]]))
}

/// `[N, F]` inputs against `[V, F]` support vectors: `[N, V]`.
fn wire_kernel(
    model: &mut TypedModel,
    prefix: &str,
    x: OutletId,
    support_vectors: &Tensor,
    k: Kernel,
) -> TractResult<OutletId> {
    let sv = model.add_const(format!("{prefix}.support_vectors"), support_vectors.clone())?;
    let dot = einsum(model, format!("{prefix}.dot"), "nf,vf->nv", x, sv)?;
    let affine = |model: &mut TypedModel| -> TractResult<OutletId> {
        let gamma = scalar_const(model, format!("{prefix}.gamma"), k.gamma)?;
        let mut t = wire_bin(model, format!("{prefix}.scaled"), math::mul(), dot, gamma)?;
        if k.coef0 != 0.0 {
            let coef0 = scalar_const(model, format!("{prefix}.coef0"), k.coef0)?;
            t = wire_bin(model, format!("{prefix}.shifted"), math::add(), t, coef0)?;
        }
        Ok(t)
    };
    Ok(match k.kind {
        KernelType::Linear => dot,
        KernelType::Sigmoid => {
            let t = affine(model)?;
            model.wire_node(format!("{prefix}.tanh"), math::tanh(), &[t])?[0]
        }
        KernelType::Poly => {
            let t = affine(model)?;
            if k.degree == 2.0 {
                model.wire_node(format!("{prefix}.square"), math::square(), &[t])?[0]
            } else if k.degree == 3.0 {
                let sq = model.wire_node(format!("{prefix}.square"), math::square(), &[t])?[0];
                wire_bin(model, format!("{prefix}.cube"), math::mul(), sq, t)?
            } else {
                model.wire_node(format!("{prefix}.pow"), math::pow_const(k.degree), &[t])?[0]
            }
        }
        KernelType::Rbf => {
            // |x - s|² = |x|² + |s|² - 2 x·s, clamped at 0 against rounding.
            let x_sq = model.wire_node(format!("{prefix}.x_square"), math::square(), &[x])?[0];
            let x_norm = model.wire_node(
                format!("{prefix}.x_norm"),
                nn::Reduce::new(tvec!(1), nn::Reducer::Sum),
                &[x_sq],
            )?[0];
            let sv_view = support_vectors.to_plain_array_view::<f32>()?;
            let sv_norm: Vec<f32> = sv_view
                .outer_iter()
                .map(|row| row.iter().map(|v| v * v).sum())
                .collect();
            let sv_norm = row_const(model, format!("{prefix}.sv_norm"), tensor1(&sv_norm))?;
            let norms = wire_bin(
                model,
                format!("{prefix}.norms"),
                math::add(),
                x_norm,
                sv_norm,
            )?;
            let two = scalar_const(model, format!("{prefix}.two"), 2.0)?;
            let two_dot = wire_bin(model, format!("{prefix}.two_dot"), math::mul(), dot, two)?;
            let dist = wire_bin(model, format!("{prefix}.dist"), math::sub(), norms, two_dot)?;
            let zero = scalar_const(model, format!("{prefix}.zero"), 0.0)?;
            let dist = wire_bin(model, format!("{prefix}.dist_pos"), math::max(), dist, zero)?;
            let neg_gamma = scalar_const(model, format!("{prefix}.neg_gamma"), -k.gamma)?;
            let arg = wire_bin(model, format!("{prefix}.arg"), math::mul(), dist, neg_gamma)?;
            model.wire_node(format!("{prefix}.exp"), math::exp(), &[arg])?[0]
        }
    })
}

fn input_rows(model: &mut TypedModel, prefix: &str, x: OutletId) -> TractResult<OutletId> {
    let x = wire_cast(model, format!("{prefix}.to_f32"), x, f32::datum_type())?;
    wire_as_rows(model, format!("{prefix}.as_rows"), x)
}

// ---------------------------------------------------------------------------------------------
// SVMRegressor

#[derive(Debug, Clone)]
struct SvmRegressor {
    kernel: Kernel,
    /// `[V, F]`, or none: the linear form (`coefficients` are then per feature).
    support_vectors: Option<Tensor>,
    /// `[V or F, 1]`
    coefficients: Tensor,
    rho: f32,
    one_class: bool,
}

pub(super) fn load_regressor(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let kernel = kernel(node)?;
    let n_supports: i64 = node.get_attr_opt("n_supports")?.unwrap_or(0);
    let coefficients: Vec<f32> = node.get_attr_opt_vec("coefficients")?.unwrap_or_default();
    let rho: Vec<f32> = node.get_attr_opt_vec("rho")?.unwrap_or_default();
    let one_class = node.get_attr_opt::<i64>("one_class")?.unwrap_or(0) != 0;
    if coefficients.is_empty() || rho.is_empty() {
        return refuse(node, "coefficients and rho are required");
    }
    let support_vectors = if n_supports > 0 {
        let v = n_supports as usize;
        let sv: Vec<f32> = node
            .get_attr_opt_vec("support_vectors")?
            .unwrap_or_default();
        if sv.is_empty() || !sv.len().is_multiple_of(v) || coefficients.len() < v {
            return refuse(
                node,
                format!(
                    "{} support vector values and {} coefficients for {v} support vectors",
                    sv.len(),
                    coefficients.len()
                ),
            );
        }
        let f = sv.len() / v;
        Some(tensor1(&sv).into_shape(&[v, f])?)
    } else {
        None
    };
    let rows = support_vectors
        .as_ref()
        .map(|sv| sv.shape()[0])
        .unwrap_or(coefficients.len());
    let coefficients = tensor1(&coefficients[..rows]).into_shape(&[rows, 1])?;
    let op = SvmRegressor {
        kernel,
        support_vectors,
        coefficients,
        rho: rho[0],
        one_class,
    };
    Ok((expand(op), vec![]))
}

impl Expansion for SvmRegressor {
    fn name(&self) -> StaticName {
        "SVMRegressor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[1], 1.to_dim())?;
        rows_rule(s, &inputs[0], &outputs[0])
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = input_rows(model, prefix, inputs[0])?;
        let features = match &self.support_vectors {
            Some(sv) => wire_kernel(model, &format!("{prefix}.kernel"), x, sv, self.kernel)?,
            None => x,
        };
        let coefs = model.add_const(format!("{prefix}.coefficients"), self.coefficients.clone())?;
        let y = einsum(
            model,
            format!("{prefix}.weighted"),
            "nv,vk->nk",
            features,
            coefs,
        )?;
        let rho = scalar_const(model, format!("{prefix}.rho"), self.rho)?;
        let mut y = wire_bin(model, format!("{prefix}.add_rho"), math::add(), y, rho)?;
        if self.one_class {
            let zero = scalar_const(model, format!("{prefix}.zero"), 0.0)?;
            let inlier = wire_bin(
                model,
                format!("{prefix}.positive"),
                binary(logic::comp_gt()),
                y,
                zero,
            )?;
            let one = scalar_const(model, format!("{prefix}.one"), 1.0)?;
            let minus_one = scalar_const(model, format!("{prefix}.minus_one"), -1.0)?;
            y = model.wire_node(
                format!("{prefix}.sign"),
                logic::Iff,
                &[inlier, one, minus_one],
            )?[0];
        }
        Ok(tvec!(y))
    }
}

// ---------------------------------------------------------------------------------------------
// SVMClassifier

#[derive(Debug, Clone)]
struct SvmClassifier {
    kernel: Kernel,
    /// `[V, F]`
    support_vectors: Tensor,
    /// `[V, P]`: the dual coefficients of each pair's classifier (P = C(C-1)/2 pairs).
    weights: Tensor,
    /// `[1, P]`
    rho: Tensor,
    /// `[P, C]`: pair k votes for its first class when its decision value is positive...
    votes_first: Tensor,
    /// `[P, C]`: ...and for its second class otherwise.
    votes_second: Tensor,
    /// `[C]` i64
    labels: Tensor,
    /// `prob_a`, `prob_b`
    probability: Option<(Arc<Tensor>, Arc<Tensor>)>,
    post_transform: PostTransform,
}

impl SvmClassifier {
    fn n_classes(&self) -> usize {
        self.labels.len()
    }

    fn n_scores(&self) -> usize {
        let c = self.n_classes();
        if self.probability.is_some() {
            c
        } else if c == 2 {
            2
        } else {
            c * (c - 1) / 2
        }
    }
}

pub(super) fn load_classifier(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    if node
        .get_attr_opt_tvec::<&str>("classlabels_strings")?
        .is_some_and(|s| !s.is_empty())
    {
        return refuse_strings(node, "classlabels_strings");
    }
    let labels: Vec<i64> = node
        .get_attr_opt_vec("classlabels_ints")?
        .unwrap_or_default();
    let c = labels.len();
    if c < 2 {
        return refuse(node, "classlabels_ints must name at least two classes");
    }
    let kernel = kernel(node)?;
    let post_transform = post_transform(node)?;
    let per_class: Vec<i64> = node
        .get_attr_opt_vec("vectors_per_class")?
        .unwrap_or_default();
    let sv: Vec<f32> = node
        .get_attr_opt_vec("support_vectors")?
        .unwrap_or_default();
    if per_class.is_empty() || sv.is_empty() {
        return refuse(
            node,
            "the linear form (no support vectors) is not implemented; skl2onnx exports LinearSVC \
             as LinearClassifier, which tract reads",
        );
    }
    if per_class.len() != c || per_class.iter().any(|n| *n < 0) {
        return refuse(
            node,
            format!(
                "vectors_per_class has {} entries for {c} classes",
                per_class.len()
            ),
        );
    }
    let v: usize = per_class.iter().map(|n| *n as usize).sum();
    if v == 0 || !sv.len().is_multiple_of(v) {
        return refuse(
            node,
            format!("{} support vector values for {v} support vectors", sv.len()),
        );
    }
    let f = sv.len() / v;
    let coefficients: Vec<f32> = node.get_attr_opt_vec("coefficients")?.unwrap_or_default();
    let rho: Vec<f32> = node.get_attr_opt_vec("rho")?.unwrap_or_default();
    let pairs = c * (c - 1) / 2;
    if coefficients.len() < (c - 1) * v || rho.len() < pairs {
        return refuse(
            node,
            format!(
                "{} coefficients and {} rho for {c} classes and {v} support vectors (expected {} and {pairs})",
                coefficients.len(),
                rho.len(),
                (c - 1) * v
            ),
        );
    }
    let prob_a: Vec<f32> = node.get_attr_opt_vec("prob_a")?.unwrap_or_default();
    let prob_b: Vec<f32> = node.get_attr_opt_vec("prob_b")?.unwrap_or_default();
    let probability = match (prob_a.is_empty(), prob_b.is_empty()) {
        (true, true) => None,
        (false, false) if prob_a.len() >= pairs && prob_b.len() >= pairs => {
            Some((rctensor1(&prob_a[..pairs]), rctensor1(&prob_b[..pairs])))
        }
        _ => return refuse(node, format!("prob_a and prob_b need {pairs} values each")),
    };

    let start: Vec<usize> = per_class
        .iter()
        .scan(0usize, |acc, n| {
            let s = *acc;
            *acc += *n as usize;
            Some(s)
        })
        .collect();
    let mut weights = vec![0f32; v * pairs];
    let mut votes_first = vec![0f32; pairs * c];
    let mut votes_second = vec![0f32; pairs * c];
    let mut k = 0;
    for i in 0..c - 1 {
        for j in i + 1..c {
            for m in 0..per_class[i] as usize {
                let sv_ix = start[i] + m;
                weights[sv_ix * pairs + k] = coefficients[(j - 1) * v + sv_ix];
            }
            for m in 0..per_class[j] as usize {
                let sv_ix = start[j] + m;
                weights[sv_ix * pairs + k] = coefficients[i * v + sv_ix];
            }
            votes_first[k * c + i] = 1.0;
            votes_second[k * c + j] = 1.0;
            k += 1;
        }
    }
    let op = SvmClassifier {
        kernel,
        support_vectors: tensor1(&sv).into_shape(&[v, f])?,
        weights: tensor1(&weights).into_shape(&[v, pairs])?,
        rho: tensor1(&rho[..pairs]).into_shape(&[1, pairs])?,
        votes_first: tensor1(&votes_first).into_shape(&[pairs, c])?,
        votes_second: tensor1(&votes_second).into_shape(&[pairs, c])?,
        labels: tensor1(&labels),
        probability,
        post_transform,
    };
    Ok((expand(op), vec![]))
}

impl Expansion for SvmClassifier {
    fn name(&self) -> StaticName {
        "SVMClassifier".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        s.equals(&outputs[0].datum_type, i64::datum_type())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].datum_type, f32::datum_type())?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[1].shape[1], self.n_scores().to_dim())?;
        s.equals(&outputs[0].shape[0], &outputs[1].shape[0])?;
        rows_rule(s, &inputs[0], &outputs[1])
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = input_rows(model, prefix, inputs[0])?;
        let kernel = wire_kernel(
            model,
            &format!("{prefix}.kernel"),
            x,
            &self.support_vectors,
            self.kernel,
        )?;
        let weights = model.add_const(format!("{prefix}.pair_weights"), self.weights.clone())?;
        let decision = einsum(
            model,
            format!("{prefix}.pairs"),
            "nv,vp->np",
            kernel,
            weights,
        )?;
        let rho = model.add_const(format!("{prefix}.rho"), self.rho.clone())?;
        let decision = wire_bin(
            model,
            format!("{prefix}.decision"),
            math::add(),
            decision,
            rho,
        )?;

        // votes and label
        let zero = scalar_const(model, format!("{prefix}.zero"), 0.0)?;
        let first = wire_bin(
            model,
            format!("{prefix}.first_wins"),
            binary(logic::comp_gt()),
            decision,
            zero,
        )?;
        let first = wire_cast(
            model,
            format!("{prefix}.first_wins_f32"),
            first,
            f32::datum_type(),
        )?;
        let one = scalar_const(model, format!("{prefix}.one"), 1.0)?;
        let second = wire_bin(
            model,
            format!("{prefix}.second_wins"),
            math::sub(),
            one,
            first,
        )?;
        let votes_first =
            model.add_const(format!("{prefix}.votes_first"), self.votes_first.clone())?;
        let votes_second =
            model.add_const(format!("{prefix}.votes_second"), self.votes_second.clone())?;
        let v1 = einsum(
            model,
            format!("{prefix}.votes_1"),
            "np,pc->nc",
            first,
            votes_first,
        )?;
        let v2 = einsum(
            model,
            format!("{prefix}.votes_2"),
            "np,pc->nc",
            second,
            votes_second,
        )?;
        let votes = wire_bin(model, format!("{prefix}.votes"), math::add(), v1, v2)?;
        let winner = model.wire_node(
            format!("{prefix}.argmax"),
            nn::Reduce::new(tvec!(1), nn::Reducer::ArgMax(false)),
            &[votes],
        )?[0];
        let winner = model.wire_node(format!("{prefix}.winner"), AxisOp::Rm(1), &[winner])?[0];
        let labels = model.add_const(format!("{prefix}.labels"), self.labels.clone())?;
        let label =
            model.wire_node(format!("{prefix}.label"), Gather::new(0), &[labels, winner])?[0];

        // scores
        let scores = if let Some((a, b)) = &self.probability {
            let op = SvmMulticlassProbability::new(a.clone(), b.clone(), self.n_classes())?;
            let probs = model.wire_node(format!("{prefix}.probabilities"), op, &[decision])?[0];
            wire_post_transform(model, prefix, probs, self.post_transform)?
        } else if self.n_classes() == 2 {
            // onnxruntime 1.32 writes [-d, d], [sigmoid(-d), sigmoid(d)] for LOGISTIC, and
            // [1 - d, d] for the softmaxes.
            let (first, second) = match self.post_transform {
                PostTransform::None => (
                    model.wire_node(format!("{prefix}.negated"), math::neg(), &[decision])?[0],
                    decision,
                ),
                PostTransform::Logistic => {
                    let neg =
                        model.wire_node(format!("{prefix}.negated"), math::neg(), &[decision])?[0];
                    let a =
                        model.wire_node(format!("{prefix}.logistic_0"), nn::sigmoid(), &[neg])?[0];
                    let b = model.wire_node(
                        format!("{prefix}.logistic_1"),
                        nn::sigmoid(),
                        &[decision],
                    )?[0];
                    (a, b)
                }
                PostTransform::Softmax | PostTransform::SoftmaxZero => (
                    wire_bin(
                        model,
                        format!("{prefix}.complement"),
                        math::sub(),
                        one,
                        decision,
                    )?,
                    decision,
                ),
            };
            model.wire_node(
                format!("{prefix}.scores"),
                TypedConcat::new(1),
                &[first, second],
            )?[0]
        } else {
            wire_post_transform(model, prefix, decision, self.post_transform)?
        };
        Ok(tvec!(label, scores))
    }
}
