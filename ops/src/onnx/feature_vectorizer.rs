//! `FeatureVectorizer`: concatenates its inputs, as float, into `[N, sum(inputdimensions)]`.
//! Each input is read as rows (`[N, ...]` flattened after the first axis, a 1-D input as one
//! row); onnxruntime keeps the first `inputdimensions[i]` values of a row and pads a shorter
//! one with zeros: so do we.

use super::*;
use tract_onnx::tract_hir::tract_core::ops::array::{Pad, PadMode, Slice, TypedConcat};

#[derive(Debug, Clone)]
struct FeatureVectorizer {
    dims: Vec<usize>,
}

pub(super) fn load(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let dims: Vec<i64> = node
        .get_attr_opt_vec("inputdimensions")?
        .unwrap_or_default();
    if dims.len() != node.input.len() || dims.iter().any(|d| *d < 0) {
        return refuse(
            node,
            format!(
                "inputdimensions {dims:?} must give one size for each of the {} inputs",
                node.input.len()
            ),
        );
    }
    Ok((
        expand(FeatureVectorizer {
            dims: dims.iter().map(|d| *d as usize).collect(),
        }),
        vec![],
    ))
}

impl Expansion for FeatureVectorizer {
    fn name(&self) -> StaticName {
        "FeatureVectorizer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.dims.len())?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(
            &outputs[0].shape[1],
            self.dims.iter().sum::<usize>().to_dim(),
        )?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank == 1 {
                s.equals(&outputs[0].shape[0], 1.to_dim())
            } else {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])
            }
        })?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut parts = tvec![];
        for (ix, (&input, &want)) in inputs.iter().zip(&self.dims).enumerate() {
            let p = format!("{prefix}.input_{ix}");
            let mut x = wire_cast(model, format!("{p}.to_f32"), input, f32::datum_type())?;
            x = wire_as_rows(model, format!("{p}.as_row"), x)?;
            let shape = model.outlet_fact(x)?.shape.to_tvec();
            if shape.len() > 2 {
                let len: TDim = shape[1..].iter().product();
                x = model.wire_node(
                    format!("{p}.flatten"),
                    AxisOp::Reshape(1, shape[1..].into(), tvec!(len)),
                    &[x],
                )?[0];
            }
            let have = model.outlet_fact(x)?.shape[1].to_usize().with_context(|| {
                format!("FeatureVectorizer: input {ix} needs a known number of features")
            })?;
            if have > want {
                x = model.wire_node(format!("{p}.keep"), Slice::new(1, 0, want), &[x])?[0];
            } else if have < want {
                let pad = Pad {
                    pads: vec![(0, 0), (0, want - have)],
                    mode: PadMode::Constant(rctensor0(0f32)),
                };
                x = model.wire_node(format!("{p}.pad"), pad, &[x])?[0];
            }
            if want > 0 {
                parts.push(x);
            }
        }
        if parts.len() == 1 {
            return Ok(parts);
        }
        model.wire_node(format!("{prefix}.concat"), TypedConcat::new(1), &parts)
    }
}
