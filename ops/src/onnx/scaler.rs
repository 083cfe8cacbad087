//! `Scaler`: `Y = (X - offset) * scale`, float output. onnxruntime computes in the input's type
//! (double stays double until the final cast), with `offset`/`scale` of length 1 or one per
//! feature (last axis).

use super::*;
use tract_onnx::tract_hir::tract_core::ops::math;

#[derive(Debug, Clone)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

pub(super) fn load(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let offset: Vec<f32> = node
        .get_attr_opt_vec("offset")?
        .unwrap_or_else(|| vec![0.0]);
    let scale: Vec<f32> = node.get_attr_opt_vec("scale")?.unwrap_or_else(|| vec![1.0]);
    if offset.len() != scale.len() || offset.is_empty() {
        return refuse(
            node,
            format!(
                "offset ({}) and scale ({}) must have the same non-zero length",
                offset.len(),
                scale.len()
            ),
        );
    }
    Ok((expand(Scaler { offset, scale }), vec![]))
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
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
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        let dt = if fact.datum_type == f64::datum_type() {
            f64::datum_type()
        } else {
            f32::datum_type()
        };
        let x = wire_cast(model, format!("{prefix}.cast"), inputs[0], dt)?;
        let mut shape = tvec![1; fact.rank().max(1)];
        *shape.last_mut().unwrap() = self.offset.len();
        let offset = tensor1(&self.offset)
            .cast_to_dt(dt)?
            .into_owned()
            .into_shape(&shape)?;
        let scale = tensor1(&self.scale)
            .cast_to_dt(dt)?
            .into_owned()
            .into_shape(&shape)?;
        let offset = model.add_const(format!("{prefix}.offset"), offset)?;
        let scale = model.add_const(format!("{prefix}.scale"), scale)?;
        let centered = wire_bin(model, format!("{prefix}.sub"), math::sub(), x, offset)?;
        let scaled = wire_bin(model, format!("{prefix}.mul"), math::mul(), centered, scale)?;
        Ok(tvec!(wire_cast(
            model,
            format!("{prefix}.to_f32"),
            scaled,
            f32::datum_type()
        )?))
    }
}
