//! tract's optimizer, then edgeinfer's rewrites of the nodes tract's optimized plan still runs
//! slowly. [`optimize`] is what the guest, pack's round-trip check and the native baseline call
//! instead of `into_optimized`, so all three run the same plan.
//!
//! **A softmax over an axis that is not the innermost** (YOLOv8-11's distribution focal loss
//! head: `[1, 4, 16, anchors]`, softmax over the 16). tract-core 0.23.9's `Softmax` has a
//! fast path only for trailing axes; any other axis goes to a loop that builds an ndarray view
//! per softmax region and calls the scalar `exp` twice per element: 12 ms of a 120 ms YOLOv8n
//! call in wasm, 53 ms of 91 natively. [`SoftmaxAcrossRows`] computes the same softmax on the
//! contiguous rows beside the axis instead: a running max and sum as wide as a row, and
//! tract-linalg's SIMD `exp` over the whole region at once.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::nn::{Softmax, SoftmaxKind};
use tract_nnef::tract_core::tract_linalg::routines::Func;

/// `model.into_optimized()`, then the rewrites above.
pub fn optimize(model: TypedModel) -> TractResult<TypedModel> {
    let mut model = model.into_optimized()?;
    softmax_across_rows(&mut model)?;
    Ok(model)
}

/// Every f32 softmax over a contiguous run of axes that ends before the innermost becomes a
/// [`SoftmaxAcrossRows`]: same input, same output fact, so the node keeps its place.
fn softmax_across_rows(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        let Some(softmax) = model.node(id).op_as::<Softmax>() else {
            continue;
        };
        let input = model.outlet_fact(model.node(id).inputs[0])?;
        if let Some(op) = SoftmaxAcrossRows::replacing(softmax, input) {
            model.node_mut(id).op = Box::new(op);
        }
    }
    Ok(())
}

/// A softmax over the axes `first..first + count` of an f32 tensor, with at least one axis
/// after them. Seen as `[outer, n, inner]` (`n` the product of the softmax axes), each of the
/// `outer` blocks is `n` contiguous rows of `inner` values, and the softmax runs down the
/// columns. Made only by [`optimize`], in the plan, and never written to NNEF.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SoftmaxAcrossRows {
    pub first: usize,
    pub count: usize,
}

impl SoftmaxAcrossRows {
    fn replacing(softmax: &Softmax, input: &TypedFact) -> Option<SoftmaxAcrossRows> {
        if softmax.kind != SoftmaxKind::Softmax
            || softmax.quant_output_dt.is_some()
            || input.datum_type != f32::datum_type()
        {
            return None;
        }
        let mut axes = softmax.axes.clone();
        axes.sort_unstable();
        let (&first, &last) = (axes.first()?, axes.last()?);
        let contiguous = axes.iter().enumerate().all(|(i, &axis)| axis == first + i);
        (contiguous && last + 1 < input.rank()).then_some(SoftmaxAcrossRows {
            first,
            count: axes.len(),
        })
    }

    fn run(&self, data: &mut [f32], shape: &[usize]) -> TractResult<()> {
        let n: usize = shape[self.first..][..self.count].iter().product();
        let inner: usize = shape[self.first + self.count..].iter().product();
        if n == 0 || inner == 0 {
            return Ok(());
        }
        let exp = Func::Exp.ew_f32()?;
        // The column max, then the column sum, then its inverse: one row wide.
        let mut column = vec![0f32; inner];
        for block in data.chunks_exact_mut(n * inner) {
            column.copy_from_slice(&block[..inner]);
            for row in block.chunks_exact(inner).skip(1) {
                column.iter_mut().zip(row).for_each(|(m, &x)| *m = m.max(x));
            }
            for row in block.chunks_exact_mut(inner) {
                row.iter_mut().zip(&column).for_each(|(x, &m)| *x -= m);
            }
            exp.run(block)?;
            column.fill(0.0);
            for row in block.chunks_exact(inner) {
                column.iter_mut().zip(row).for_each(|(s, &x)| *s += x);
            }
            column.iter_mut().for_each(|s| *s = s.recip());
            for row in block.chunks_exact_mut(inner) {
                row.iter_mut().zip(&column).for_each(|(x, &r)| *x *= r);
            }
        }
        Ok(())
    }
}

impl Op for SoftmaxAcrossRows {
    fn name(&self) -> StaticName {
        "SoftmaxAcrossRows".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "Axes: {}..{}",
            self.first,
            self.first + self.count
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for SoftmaxAcrossRows {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut tensor = args_1!(inputs).into_tensor();
        let shape: TVec<usize> = tensor.shape().into();
        self.run(
            tensor.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
            &shape,
        )?;
        Ok(tvec!(tensor.into_tvalue()))
    }
}

impl TypedOp for SoftmaxAcrossRows {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn softmax_model(shape: &[usize], axes: &[usize]) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let softmax = Softmax::new(axes.into(), None, SoftmaxKind::Softmax);
        let y = model.wire_node("softmax", softmax, &[x]).unwrap();
        model.select_output_outlets(&y).unwrap();
        model
    }

    /// Values over a wide range, some equal, some far below the max, with a seeded LCG so
    /// a failure reproduces.
    fn input(shape: &[usize]) -> Tensor {
        let len: usize = shape.iter().product();
        let mut state = 0x2545_f491_u32;
        let values: Vec<f32> = (0..len)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match i % 7 {
                    0 => 3.0,
                    1 => -80.0,
                    _ => (state >> 8) as f32 / (1 << 24) as f32 * 40.0 - 20.0,
                }
            })
            .collect();
        tensor1(&values).into_shape(shape).unwrap()
    }

    fn run(model: TypedModel, x: &Tensor) -> Tensor {
        let plan = model.into_runnable().unwrap();
        plan.run(tvec!(x.clone().into_tvalue())).unwrap()[0]
            .clone()
            .into_tensor()
    }

    /// Against tract's own softmax (the unoptimized model runs its reference loop), on YOLOv8's head
    /// shape, a middle axis of a rank-3 tensor, two adjacent axes, and a one-wide row.
    #[test]
    fn computes_tract_softmax_on_non_trailing_axes() {
        for (shape, axes) in [
            (&[1, 4, 16, 525][..], &[2][..]),
            (&[2, 16, 4, 33][..], &[1][..]),
            (&[3, 5, 7][..], &[0][..]),
            (&[2, 3, 4, 5][..], &[1, 2][..]),
            (&[2, 6, 1][..], &[1][..]),
        ] {
            let x = input(shape);
            let want = run(softmax_model(shape, axes), &x);
            let optimized = optimize(softmax_model(shape, axes)).unwrap();
            assert!(
                optimized
                    .nodes()
                    .iter()
                    .any(|n| n.op_is::<SoftmaxAcrossRows>()),
                "{shape:?} {axes:?}: not rewritten"
            );
            let got = run(optimized, &x);
            assert_eq!(got.shape(), shape);
            // A polynomial exp against libm's: within 1e-6 absolute, 1e-5 relative.
            got.close_enough(&want, Approximation::Custom(1e-6, 1e-5, 0.0))
                .unwrap_or_else(|e| panic!("{shape:?} {axes:?}: {e}"));
            let sums = got
                .to_plain_array_view::<f32>()
                .unwrap()
                .sum_axis(tract_nnef::tract_core::ndarray::Axis(axes[0]));
            if axes.len() == 1 {
                assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
            }
        }
    }

    /// Trailing axes keep tract's fast path; other kinds and types keep tract's op.
    #[test]
    fn leaves_what_tract_runs_well() {
        for (shape, axes) in [(&[2, 3, 8][..], &[2][..]), (&[2, 3, 8][..], &[1, 2][..])] {
            let optimized = optimize(softmax_model(shape, axes)).unwrap();
            assert!(
                !optimized
                    .nodes()
                    .iter()
                    .any(|n| n.op_is::<SoftmaxAcrossRows>())
            );
        }
        let log = Softmax::new(tvec![1], None, SoftmaxKind::LogSoftmax);
        assert!(SoftmaxAcrossRows::replacing(&log, &f32::fact([2, 3, 8])).is_none());
        let softmax = Softmax::new(tvec![1], None, SoftmaxKind::Softmax);
        assert!(SoftmaxAcrossRows::replacing(&softmax, &f16::fact([2, 3, 8])).is_none());
        assert!(SoftmaxAcrossRows::replacing(&softmax, &f32::fact([2, 3, 8])).is_some());
    }
}
