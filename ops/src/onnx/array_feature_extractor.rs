//! `ArrayFeatureExtractor`: selects `Y` (indices, read flat) along the last axis of `X`:
//! a gather. A 1-D `X` gives `[1, len(Y)]`, as in onnxruntime.

use super::*;
use tract_onnx::tract_hir::tract_core::ops::array::Gather;

#[derive(Debug, Clone)]
struct ArrayFeatureExtractor;

pub(super) fn load(_ctx: &ParsingContext, _node: &NodeProto) -> Loaded {
    Ok((expand(ArrayFeatureExtractor), vec![]))
}

impl Expansion for ArrayFeatureExtractor {
    fn name(&self) -> StaticName {
        "ArrayFeatureExtractor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            s.equals(&outputs[0].rank, rank.max(2) as i64)?;
            for ax in 0..rank.saturating_sub(1) {
                s.equals(&outputs[0].shape[ax], &inputs[0].shape[ax])?;
            }
            if rank == 1 {
                s.equals(&outputs[0].shape[0], 1.to_dim())?;
            }
            Ok(())
        })?;
        s.given(&inputs[1].shape, move |s, shape| {
            let len: TDim = shape.iter().product();
            s.given(&outputs[0].rank, move |s, rank| {
                s.equals(&outputs[0].shape[rank as usize - 1], len.clone())
            })
        })?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x_fact = model.outlet_fact(inputs[0])?.clone();
        let y_fact = model.outlet_fact(inputs[1])?.clone();
        let indices = if let Some(k) = &y_fact.konst {
            let flat = k.clone().into_tensor().into_shape(&[k.len()])?;
            let flat = flat.cast_to::<i64>()?.into_owned();
            model.add_const(format!("{prefix}.indices"), flat)?
        } else if y_fact.rank() == 1 {
            inputs[1]
        } else {
            let shape = y_fact.shape.to_tvec();
            let len: TDim = shape.iter().product();
            model.wire_node(
                format!("{prefix}.flatten_indices"),
                AxisOp::Reshape(0, shape, tvec!(len)),
                &[inputs[1]],
            )?[0]
        };
        let axis = x_fact.rank() - 1;
        let mut out = model.wire_node(
            format!("{prefix}.gather"),
            Gather::new(axis),
            &[inputs[0], indices],
        )?[0];
        if x_fact.rank() == 1 {
            out = model.wire_node(format!("{prefix}.as_row"), AxisOp::Add(0), &[out])?[0];
        }
        Ok(tvec!(out))
    }
}
