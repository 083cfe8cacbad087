//! Workarounds for two tract 0.23.9 bugs that a model read back from NNEF triggers when it is
//! optimized (`into_optimized` fails in declutter), applied by [`repair_reloaded`] between
//! `model_for_read` and `into_optimized`. Each is a no-op on graphs the bug cannot hit, and
//! both can go once tract is fixed.
//!
//! 1. **Scan over a constant** (skl2onnx's `cdist`, in every nearest-neighbours model):
//!    tract-nnef's `tract_core_scan` loader (`de_scan`, `ops/core/scan.rs`) gives the body's
//!    source for a scanned input the outer input's fact with only the scanned axis resized,
//!    so it keeps the outer `konst`: a `[1, 6]` body input holding the whole `[1000, 6]`
//!    constant. Declutter's `PropConst` in the body then folds its consumer into a
//!    `[1000, 6]` value and fails: "Trying to substitute a 1,6,F32 by 1000,6,F32". (State
//!    inputs get a fresh fact there; scanned ones should too.) Repair: scanned body sources
//!    lose their value.
//! 2. **Downsample after a Reshape of its axis** (strided 1x1 convolutions after a
//!    convolution written as an einsum: opennsfw's ResNet): `Downsample::declutter` pulls the
//!    op over a preceding `AxisOp`, and when the downsampled axis is one the `AxisOp` reshapes,
//!    `pull_downsample_over_axis_op` (`ops/downsample/array.rs`) errors ("Invalid axis")
//!    instead of declining. Pack's declutter left the graph in that shape; the reload's
//!    declutter runs the rule on it, on a Downsample that was there or on one it pulled up
//!    from further down (silero-vad v4's strided convolutions after an If was inlined).
//!    Repair: every Downsample becomes [`SettledDownsample`], the same computation, whose
//!    declutter is tract's but declines where tract's fails (and whose rewrites make
//!    `SettledDownsample`s again).

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::downsample::Downsample;
use tract_nnef::tract_core::ops::scan::{InputMapping, Scan};
use tract_nnef::tract_core::ops::source::TypedSource;

/// Works around the tract bugs above in a model read from NNEF; call it before optimizing.
pub fn repair_reloaded(model: &mut TypedModel) -> TractResult<()> {
    forget_scanned_constants(model)?;
    settle_downsamples(model)
}

/// Bug 1: scanned body inputs carry no value (recursively, in nested scans).
fn forget_scanned_constants(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        let Some(scan) = model.node_mut(id).op_as_mut::<Scan>() else {
            continue;
        };
        for (slot, mapping) in scan.input_mapping.clone().iter().enumerate() {
            if !matches!(mapping, InputMapping::Scan(_)) {
                continue;
            }
            let outlet = scan.body.inputs[slot];
            let fact = scan.body.outlet_fact(outlet)?.without_value();
            if let Some(source) = scan.body.node_mut(outlet.node).op_as_mut::<TypedSource>() {
                source.fact = fact.clone();
            }
            scan.body.set_outlet_fact(outlet, fact)?;
        }
        forget_scanned_constants(&mut scan.body)?;
    }
    Ok(())
}

/// Bug 2: every Downsample declines the rewrites that tract's fails on.
fn settle_downsamples(model: &mut TypedModel) -> TractResult<()> {
    settle(model);
    Ok(())
}

fn settle(model: &mut TypedModel) {
    for id in 0..model.nodes().len() {
        if let Some(down) = model.node(id).op_as::<Downsample>() {
            let op = SettledDownsample(down.clone());
            model.node_mut(id).op = Box::new(op);
        }
    }
}

/// tract-core's `Downsample`, whose declutter (pulling it towards the input) declines where
/// tract's errors (see the module doc). Made only by [`repair_reloaded`], in the guest, and
/// never written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SettledDownsample(pub Downsample);

impl Op for SettledDownsample {
    fn name(&self) -> StaticName {
        "SettledDownsample".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        self.0.info()
    }

    op_as_typed_op!();
}

impl EvalOp for SettledDownsample {
    op_out_of_plan!();

    fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(ctx, inputs)
    }
}

impl TypedOp for SettledDownsample {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    fn declutter(
        &self,
        model: &TypedModel,
        node: &TypedNode,
    ) -> TractResult<Option<TypedModelPatch>> {
        // tract's rule looks its op up on the node
        let mut as_tract = node.clone();
        as_tract.op = Box::new(self.0.clone());
        match self.0.declutter(model, &as_tract) {
            Ok(Some(mut patch)) => {
                settle(&mut patch.model);
                Ok(Some(patch))
            }
            Ok(None) | Err(_) => Ok(None),
        }
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[1, 2, 16]` -> split the last axis into `4 x 4` -> keep every other row.
    fn reshape_then_downsample() -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 2, 16])).unwrap();
        let split = AxisOp::Reshape(2, tvec!(16.to_dim()), tvec!(4.to_dim(), 4.to_dim()));
        let y = model.wire_node("split", split, &[x]).unwrap();
        let down = Downsample::new(2, 2, 0);
        let y = model.wire_node("down", down, &y).unwrap();
        model.select_output_outlets(&y).unwrap();
        model
    }

    fn run(model: TypedModel) -> Tensor {
        let x = tensor1(&(0..32).map(|i| i as f32).collect::<Vec<_>>())
            .into_shape(&[1, 2, 16])
            .unwrap();
        let plan = model.into_runnable().unwrap();
        plan.run(tvec!(x.into_tvalue())).unwrap()[0]
            .clone()
            .into_tensor()
    }

    /// Fails once tract declines the rewrite: then `settle_downsamples` can go.
    #[test]
    fn tract_still_fails_to_declutter_a_downsample_after_a_reshape_of_its_axis() {
        let err = reshape_then_downsample().into_decluttered().unwrap_err();
        assert!(format!("{err:#}").contains("Invalid axis"), "{err:#}");
    }

    #[test]
    fn settled_downsample_optimizes_and_computes_the_same() {
        let want = run(reshape_then_downsample());
        let mut model = reshape_then_downsample();
        repair_reloaded(&mut model).unwrap();
        assert!(model.nodes().iter().any(|n| n.op_is::<SettledDownsample>()));
        let got = run(model.into_optimized().unwrap());
        assert_eq!(got, want);
        assert_eq!(got.shape(), &[1, 2, 2, 4]);
    }
}
