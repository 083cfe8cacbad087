//! `LabelEncoder` on numbers (ai.onnx.ml opset 2 attributes `keys_*`/`values_*`/`default_*`,
//! opset 4 `*_tensor`): int64 -> int64, float -> int64, int64 -> float, float -> float,
//! doubles from tensors. Becomes [`crate::nnef::LabelEncoder`]. Strings (every opset-1
//! encoder, and `*_strings` keys or values) are refused.

use super::*;
use crate::nnef::LabelEncoder as LabelEncoderOp;

#[derive(Debug, Clone)]
struct LabelEncoder {
    keys: Arc<Tensor>,
    values: Arc<Tensor>,
    default: Arc<Tensor>,
    nan_is_key: bool,
}

/// `<prefix>_int64s`, `<prefix>_floats` or `<prefix>_tensor`.
fn numbers(ctx: &ParsingContext, node: &NodeProto, prefix: &str) -> TractResult<Option<Tensor>> {
    if node
        .get_attr_opt_tvec::<&str>(&format!("{prefix}_strings"))?
        .is_some()
    {
        return refuse_strings(node, &format!("{prefix}_strings"));
    }
    if let Some(v) = node.get_attr_opt_vec::<i64>(&format!("{prefix}_int64s"))? {
        return Ok(Some(tensor1(&v)));
    }
    if let Some(v) = node.get_attr_opt_vec::<f32>(&format!("{prefix}_floats"))? {
        return Ok(Some(tensor1(&v)));
    }
    if let Some(proto) =
        node.get_attr_opt::<&tract_onnx::pb::TensorProto>(&format!("{prefix}_tensor"))?
    {
        let t = ctx.load_tensor(proto)?;
        if t.datum_type() == String::datum_type() {
            return refuse_strings(node, &format!("{prefix}_tensor"));
        }
        let len = t.len();
        return Ok(Some(t.into_shape(&[len])?));
    }
    Ok(None)
}

pub(super) fn load(ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    if node.get_attr_opt_tvec::<&str>("classes_strings")?.is_some() {
        return refuse_strings(node, "classes_strings");
    }
    let Some(keys) = numbers(ctx, node, "keys")? else {
        return refuse(node, "no keys_int64s, keys_floats or keys_tensor");
    };
    let Some(values) = numbers(ctx, node, "values")? else {
        return refuse(node, "no values_int64s, values_floats or values_tensor");
    };
    let default =
        if let Some(proto) = node.get_attr_opt::<&tract_onnx::pb::TensorProto>("default_tensor")? {
            ctx.load_tensor(proto)?
                .cast_to_dt(values.datum_type())?
                .into_owned()
        } else if values.datum_type() == i64::datum_type() {
            tensor0(node.get_attr_opt::<i64>("default_int64")?.unwrap_or(-1))
        } else {
            tensor0(node.get_attr_opt::<f32>("default_float")?.unwrap_or(-0.0))
                .cast_to_dt(values.datum_type())?
                .into_owned()
        };
    let default = default.into_shape(&[])?;
    let op = LabelEncoder {
        keys: keys.into_arc_tensor(),
        values: values.into_arc_tensor(),
        default: default.into_arc_tensor(),
        // onnxruntime's LabelEncoder_4 (opset >= 4) matches NaN keys; LabelEncoder_2 does not.
        nan_is_key: ml_opset(ctx) >= 4,
    };
    // Fail now, naming the node, rather than when typing the model.
    LabelEncoderOp::new(
        op.keys.clone(),
        op.values.clone(),
        op.default.clone(),
        op.nan_is_key,
    )
    .or_else(|e| refuse(node, e))?;
    Ok((expand(op), vec![]))
}

impl Expansion for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, self.values.datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let op = LabelEncoderOp::new(
            self.keys.clone(),
            self.values.clone(),
            self.default.clone(),
            self.nan_is_key,
        )?;
        // onnxruntime types the input as the keys; a narrower integer input is widened.
        let x = wire_cast(
            model,
            format!("{prefix}.cast"),
            inputs[0],
            self.keys.datum_type(),
        )?;
        model.wire_node(prefix, op, &[x])
    }
}
