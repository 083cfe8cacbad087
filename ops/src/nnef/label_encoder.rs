//! `LabelEncoder` on numbers: a key -> value map with a default, as onnxruntime's
//! `LabelEncoder_2` / `LabelEncoder_4` do it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use tract_nnef::internal::*;

const NAME: &str = "edgeinfer_ml_label_encoder";

/// Maps each input element found among `keys` to the `values` entry at the same position, and
/// anything else to `default`. Keys and inputs are `i64`, `f32` or `f64` (the same type); values
/// are `i64`, `f32` or `f64`. Like onnxruntime: the first of duplicate keys wins, `-0.0` and
/// `0.0` are one key, and a NaN key matches NaN inputs only when `nan_is_key` (ai.onnx.ml
/// opset 4 and later; opset 2 never matches NaN).
#[derive(Clone, Debug)]
pub struct LabelEncoder {
    keys: Arc<Tensor>,
    values: Arc<Tensor>,
    default: Arc<Tensor>,
    nan_is_key: bool,
    index: HashMap<Key, usize>,
}

/// A key as onnxruntime compares them: integers by value, floats by value with one zero and
/// (when NaN is a key) one NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Float(u64),
    Nan,
}

fn float_key(v: f64, nan_is_key: bool) -> Option<Key> {
    if v.is_nan() {
        nan_is_key.then_some(Key::Nan)
    } else if v == 0.0 {
        Some(Key::Float(0f64.to_bits()))
    } else {
        Some(Key::Float(v.to_bits()))
    }
}

fn keys_of(t: &Tensor, nan_is_key: bool) -> TractResult<Vec<Option<Key>>> {
    let t = t.try_as_plain_ram()?;
    Ok(match t.datum_type() {
        DatumType::I64 => t
            .as_slice::<i64>()?
            .iter()
            .map(|k| Some(Key::Int(*k)))
            .collect(),
        DatumType::F32 => t
            .as_slice::<f32>()?
            .iter()
            .map(|k| float_key(*k as f64, nan_is_key))
            .collect(),
        DatumType::F64 => t
            .as_slice::<f64>()?
            .iter()
            .map(|k| float_key(*k, nan_is_key))
            .collect(),
        dt => bail!("{NAME}: keys and inputs must be i64, f32 or f64, not {dt:?}"),
    })
}

fn check_values_type(dt: DatumType) -> TractResult<()> {
    ensure!(
        matches!(dt, DatumType::I64 | DatumType::F32 | DatumType::F64),
        "{NAME}: values must be i64, f32 or f64, not {dt:?}"
    );
    Ok(())
}

impl LabelEncoder {
    pub fn new(
        keys: Arc<Tensor>,
        values: Arc<Tensor>,
        default: Arc<Tensor>,
        nan_is_key: bool,
    ) -> TractResult<LabelEncoder> {
        ensure!(
            keys.rank() == 1 && values.rank() == 1,
            "{NAME}: keys and values must be 1-D"
        );
        ensure!(
            keys.len() == values.len(),
            "{NAME}: {} keys but {} values",
            keys.len(),
            values.len()
        );
        ensure!(default.len() == 1, "{NAME}: the default must be one value");
        ensure!(
            default.datum_type() == values.datum_type(),
            "{NAME}: default is {:?}, values are {:?}",
            default.datum_type(),
            values.datum_type()
        );
        check_values_type(values.datum_type())?;
        let mut index = HashMap::new();
        for (ix, key) in keys_of(&keys, nan_is_key)?.into_iter().enumerate() {
            if let Some(key) = key {
                index.entry(key).or_insert(ix);
            }
        }
        let default = default
            .clone()
            .into_tensor()
            .into_shape(&[])?
            .into_arc_tensor();
        Ok(LabelEncoder {
            keys,
            values,
            default,
            nan_is_key,
            index,
        })
    }

    pub fn keys(&self) -> &Arc<Tensor> {
        &self.keys
    }

    pub fn values(&self) -> &Arc<Tensor> {
        &self.values
    }

    fn map<V: Datum + Copy>(
        &self,
        found: &[Option<usize>],
        shape: &[usize],
    ) -> TractResult<Tensor> {
        let values = self.values.try_as_plain_ram()?;
        let values = values.as_slice::<V>()?;
        let default = *self.default.try_as_plain_ram()?.to_scalar::<V>()?;
        let out: Vec<V> = found
            .iter()
            .map(|ix| ix.map(|ix| values[ix]).unwrap_or(default))
            .collect();
        tract_ndarray::ArrayD::from_shape_vec(shape, out)
            .map(|a| a.into_tensor())
            .map_err(|e| format_err!("{NAME}: {e}"))
    }
}

impl PartialEq for LabelEncoder {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
            && self.values == other.values
            && self.default == other.default
            && self.nan_is_key == other.nan_is_key
    }
}

impl Eq for LabelEncoder {}

impl Hash for LabelEncoder {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.keys.hash(state);
        self.values.hash(state);
        self.default.hash(state);
        self.nan_is_key.hash(state);
    }
}

impl Op for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} {:?} keys -> {:?}, nan is a key: {}",
            self.keys.len(),
            self.keys.datum_type(),
            self.values.datum_type(),
            self.nan_is_key
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for LabelEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        ensure!(
            input.datum_type() == self.keys.datum_type(),
            "{NAME}: input is {:?}, keys are {:?}",
            input.datum_type(),
            self.keys.datum_type()
        );
        let found: Vec<Option<usize>> = keys_of(&input, self.nan_is_key)?
            .into_iter()
            .map(|k| k.and_then(|k| self.index.get(&k).copied()))
            .collect();
        let out = match self.values.datum_type() {
            DatumType::I64 => self.map::<i64>(&found, input.shape())?,
            DatumType::F32 => self.map::<f32>(&found, input.shape())?,
            DatumType::F64 => self.map::<f64>(&found, input.shape())?,
            dt => bail!("{NAME}: values must be i64, f32 or f64, not {dt:?}"),
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for LabelEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == self.keys.datum_type(),
            "{NAME}: input is {:?}, keys are {:?}",
            inputs[0].datum_type,
            self.keys.datum_type()
        );
        Ok(tvec!(
            self.values.datum_type().fact(inputs[0].shape.clone())
        ))
    }

    fn axes_mapping(
        &self,
        inputs: &[&TypedFact],
        outputs: &[&TypedFact],
    ) -> TractResult<AxesMapping> {
        AxesMapping::natural(inputs, outputs)
    }

    fn change_axes(
        &self,
        model: &TypedModel,
        node: &TypedNode,
        _io: InOut,
        change: &AxisOp,
    ) -> TractResult<Option<AxisChangeConsequence>> {
        Ok(Some(AxisChangeConsequence::new(model, node, None, change)))
    }

    as_op!();
}

pub(super) fn register(registry: &mut Registry) {
    registry.register_primitive(
        NAME,
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Scalar.tensor().named("keys"),
            TypeName::Scalar.tensor().named("values"),
            TypeName::Scalar.tensor().named("default"),
            TypeName::Logical.named("nan_is_key"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        load,
    );
    registry.register_dumper(dump);
}

fn dump(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &LabelEncoder,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    let keys = ast.konst_variable(format!("{}.keys", node.name), &op.keys)?;
    let values = ast.konst_variable(format!("{}.values", node.name), &op.values)?;
    let default = op
        .default
        .clone()
        .into_tensor()
        .into_shape(&[1])?
        .into_arc_tensor();
    let default = ast.konst_variable(format!("{}.default", node.name), &default)?;
    Ok(Some(invocation(
        NAME,
        &[input, keys, values, default],
        &[("nan_is_key", logical(op.nan_is_key))],
    )))
}

fn load(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let input = invocation.named_arg_as(builder, "input")?;
    let keys: Arc<Tensor> = invocation.named_arg_as(builder, "keys")?;
    let values: Arc<Tensor> = invocation.named_arg_as(builder, "values")?;
    let default: Arc<Tensor> = invocation.named_arg_as(builder, "default")?;
    let nan_is_key: bool = invocation.named_arg_as(builder, "nan_is_key")?;
    builder.wire(
        LabelEncoder::new(keys, values, default, nan_is_key)?,
        &[input],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder(keys: Tensor, values: Tensor, default: Tensor, nan: bool) -> LabelEncoder {
        LabelEncoder::new(
            keys.into_arc_tensor(),
            values.into_arc_tensor(),
            default.into_arc_tensor(),
            nan,
        )
        .unwrap()
    }

    fn run(op: &LabelEncoder, input: Tensor) -> Tensor {
        op.eval(&EvalContext::out_of_plan(), tvec!(input.into_tvalue()))
            .unwrap()[0]
            .clone()
            .into_tensor()
    }

    #[test]
    fn maps_ints_with_default_and_first_duplicate() {
        let op = encoder(
            tensor1(&[3i64, 7, 3]),
            tensor1(&[30i64, 70, 99]),
            tensor0(-1i64),
            false,
        );
        assert_eq!(
            run(&op, tensor2(&[[3i64, 7], [5, 3]])),
            tensor2(&[[30i64, 70], [-1, 30]])
        );
    }

    #[test]
    fn floats_zero_and_nan() {
        let keys = tensor1(&[0f32, f32::NAN, 1.5]);
        let values = tensor1(&[1i64, 2, 3]);
        let op2 = encoder(keys.clone(), values.clone(), tensor0(-1i64), false);
        let op4 = encoder(keys, values, tensor0(-1i64), true);
        let input = tensor1(&[-0.0f32, f32::NAN, 1.5, 2.0]);
        assert_eq!(run(&op2, input.clone()), tensor1(&[1i64, -1, 3, -1]));
        assert_eq!(run(&op4, input), tensor1(&[1i64, 2, 3, -1]));
    }

    #[test]
    fn ints_to_floats() {
        let op = encoder(
            tensor1(&[1i64, 2]),
            tensor1(&[0.5f32, 1.5]),
            tensor0(-0.0f32),
            false,
        );
        assert_eq!(run(&op, tensor1(&[2i64, 9])), tensor1(&[1.5f32, -0.0]));
    }
}
