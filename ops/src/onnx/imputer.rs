//! `Imputer`: elements equal to `replaced_value_*` (or NaN, when that value is NaN) become
//! `imputed_value_*` (one value, or one per feature on the last axis). Same type out as in.

use super::*;
use tract_onnx::tract_hir::tract_core::ops::{logic, math};

#[derive(Debug, Clone)]
struct Imputer {
    /// One value or one per feature, in the input's type when wired.
    imputed: Tensor,
    /// `None`: replace NaN.
    replaced: Option<Tensor>,
}

pub(super) fn load(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let floats: Option<Vec<f32>> = node.get_attr_opt_vec("imputed_value_floats")?;
    let ints: Option<Vec<i64>> = node.get_attr_opt_vec("imputed_value_int64s")?;
    let (imputed, replaced) = match (floats, ints) {
        (Some(f), None) if !f.is_empty() => {
            let r: f32 = node.get_attr_opt("replaced_value_float")?.unwrap_or(0.0);
            (tensor1(&f), (!r.is_nan()).then(|| tensor0(r)))
        }
        (None, Some(i)) if !i.is_empty() => {
            let r: i64 = node.get_attr_opt("replaced_value_int64")?.unwrap_or(0);
            (tensor1(&i), Some(tensor0(r)))
        }
        _ => {
            return refuse(
                node,
                "expects exactly one non-empty imputed_value_floats or imputed_value_int64s",
            );
        }
    };
    Ok((expand(Imputer { imputed, replaced }), vec![]))
}

impl Expansion for Imputer {
    fn name(&self) -> StaticName {
        "Imputer".into()
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
        let fact = model.outlet_fact(inputs[0])?.clone();
        let rank = fact.rank().max(1);
        let x = inputs[0];
        let mask = match &self.replaced {
            None => model.wire_node(format!("{prefix}.is_nan"), math::is_nan(), &[x])?[0],
            Some(r) => {
                let r = r.cast_to_dt(fact.datum_type)?.into_owned();
                let r = model.add_const(format!("{prefix}.replaced"), r)?;
                wire_bin(
                    model,
                    format!("{prefix}.eq"),
                    binary(logic::comp_eq()),
                    x,
                    r,
                )?
            }
        };
        let mut shape = tvec![1; rank];
        *shape.last_mut().unwrap() = self.imputed.len();
        let imputed = self
            .imputed
            .cast_to_dt(fact.datum_type)?
            .into_owned()
            .into_shape(&shape)?;
        let imputed = model.add_const(format!("{prefix}.imputed"), imputed)?;
        model.wire_node(format!("{prefix}.where"), logic::Iff, &[mask, imputed, x])
    }
}
