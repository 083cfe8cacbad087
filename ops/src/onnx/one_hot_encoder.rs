//! `OneHotEncoder` with integer categories: `[...]` to `[..., n_categories]` floats, one 1 at
//! the category's position. Float inputs are truncated to integers first, as onnxruntime does.
//! A value outside the categories gives all zeros; onnxruntime fails instead when `zeros` is 0.

use super::*;
use tract_onnx::tract_hir::tract_core::ops::logic;

#[derive(Debug, Clone)]
struct OneHotEncoder {
    categories: Vec<i64>,
}

pub(super) fn load(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    if node
        .get_attr_opt_tvec::<&str>("cats_strings")?
        .is_some_and(|s| !s.is_empty())
    {
        return refuse_strings(node, "cats_strings");
    }
    let categories: Vec<i64> = node.get_attr_opt_vec("cats_int64s")?.unwrap_or_default();
    if categories.is_empty() {
        return refuse(node, "cats_int64s is missing or empty");
    }
    Ok((expand(OneHotEncoder { categories }), vec![]))
}

impl Expansion for OneHotEncoder {
    fn name(&self) -> StaticName {
        "OneHotEncoder".into()
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
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            for ax in 0..rank {
                s.equals(&outputs[0].shape[ax], &inputs[0].shape[ax])?;
            }
            s.equals(&outputs[0].shape[rank], self.categories.len().to_dim())
        })?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let rank = model.outlet_fact(inputs[0])?.rank();
        let x = wire_cast(
            model,
            format!("{prefix}.to_i64"),
            inputs[0],
            i64::datum_type(),
        )?;
        let x = model.wire_node(format!("{prefix}.add_axis"), AxisOp::Add(rank), &[x])?[0];
        let mut shape = tvec![1; rank + 1];
        shape[rank] = self.categories.len();
        let cats = tensor1(&self.categories).into_shape(&shape)?;
        let cats = model.add_const(format!("{prefix}.categories"), cats)?;
        let hot = wire_bin(
            model,
            format!("{prefix}.eq"),
            binary(logic::comp_eq()),
            x,
            cats,
        )?;
        Ok(tvec!(wire_cast(
            model,
            format!("{prefix}.cast"),
            hot,
            f32::datum_type()
        )?))
    }
}
