//! `Binarizer`: `Y = X > threshold ? 1 : 0` in the input's type. onnxruntime fails on a NaN
//! input; here a NaN gives 0.

use super::*;
use tract_onnx::tract_hir::tract_core::ops::logic;

#[derive(Debug, Clone)]
struct Binarizer {
    threshold: f32,
}

pub(super) fn load(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let threshold = node.get_attr_opt("threshold")?.unwrap_or(0.0);
    Ok((expand(Binarizer { threshold }), vec![]))
}

impl Expansion for Binarizer {
    fn name(&self) -> StaticName {
        "Binarizer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let dt = model.outlet_fact(inputs[0])?.datum_type;
        let threshold = tensor0(self.threshold).cast_to_dt(dt)?.into_owned();
        let threshold = model.add_const(format!("{prefix}.threshold"), threshold)?;
        let above = wire_bin(
            model,
            format!("{prefix}.greater"),
            binary(logic::comp_gt()),
            inputs[0],
            threshold,
        )?;
        Ok(tvec!(wire_cast(
            model,
            format!("{prefix}.cast"),
            above,
            dt
        )?))
    }
}
