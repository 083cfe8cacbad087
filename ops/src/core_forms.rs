//! NNEF forms for tract-core operators that tract 0.23.9's NNEF registries do not serialize
//! (registry `edgeinfer_core`): without them, a model whose decluttered graph holds one cannot
//! be written to NNEF ("No serializer found for node ..."), so it cannot be packed. Each is the
//! tract-core op as it is, under a name of ours; loading wires the same op back.
//!
//! | tract-core op | produced by | NNEF form |
//! |---|---|---|
//! | `GeluExact` (`ops::nn::gelu_exact`) | declutter, fusing `0.5 * x * (1 + erf(x / √2))` (ONNX `Gelu`, `BiasGelu`, PyTorch's erf GELU) | `edgeinfer_core_gelu_exact(x)` |
//! | `Rem` (`ops::math::rem`) | ONNX `Mod` (both `fmod` modes wire it) | `edgeinfer_core_rem(a, b)` |
//! | `QuantizeLinearU8`, `QuantizeLinearI8` (`ops::quant`) | ONNX `QuantizeLinear` with one scale and zero point, left where declutter cannot fold it (QDQ models: an activation quantized, then dequantized) | `edgeinfer_core_quantize_linear_u8(x, scale, zero_point)`, `..._i8` (`scale` is tract's, the reciprocal of ONNX's) |
//! | `DequantizeLinearF32` (`ops::quant`) | ONNX `DequantizeLinear` with one scale and zero point, likewise | `edgeinfer_core_dequantize_linear_f32(x, scale, zero_point)` |
//! | `IfThenElse` (`ops::logic`) | ONNX `If` whose condition depends on the data | `edgeinfer_core_if_then_else(cond, then_body, then_inputs, else_body, else_inputs)`, each branch a fragment (see [`if_then_else`]) |
//!
//! tract-nnef tries its own registries first, so if a later tract serializes one of these,
//! its form wins when writing, and files written with ours still load.

use std::any::TypeId;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::element_wise::ElementWiseOp;
use tract_nnef::tract_core::ops::math::Rem;
use tract_nnef::tract_core::ops::nn::GeluExact;
use tract_nnef::tract_core::ops::quant::{
    DequantizeLinearF32, QuantizeLinearI8, QuantizeLinearU8, quantize_linear_i8, quantize_linear_u8,
};

pub mod if_then_else;

/// The NNEF registry id, written as `extension tract_registry edgeinfer_core` in `graph.nnef`.
pub const REGISTRY: &str = "edgeinfer_core";

/// The registry of these NNEF forms.
pub fn registry() -> Registry {
    let mut registry = Registry::new(REGISTRY)
        .with_doc("Extension `edgeinfer_core`: NNEF forms edgeinfer adds for tract-core ops.")
        .with_doc("")
        .with_doc("Add `extension tract_registry edgeinfer_core` to `graph.nnef`");
    registry.register_unit_element_wise("edgeinfer_core_gelu_exact", &GeluExact {});
    registry.register_binary("edgeinfer_core_rem", &Rem);
    registry.register_element_wise(
        "edgeinfer_core_quantize_linear_u8",
        TypeId::of::<QuantizeLinearU8>(),
        Box::new(dump_quantize_u8),
        quantize_parameters(),
        load_quantize_u8,
    );
    registry.register_element_wise(
        "edgeinfer_core_quantize_linear_i8",
        TypeId::of::<QuantizeLinearI8>(),
        Box::new(dump_quantize_i8),
        quantize_parameters(),
        load_quantize_i8,
    );
    registry.register_primitive(
        "edgeinfer_core_dequantize_linear_f32",
        &quantize_parameters(),
        &[("output", TypeName::Scalar.tensor())],
        load_dequantize,
    );
    registry.register_dumper(dump_dequantize);
    if_then_else::register(&mut registry);
    registry
}

fn quantize_parameters() -> Vec<Parameter> {
    vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.named("scale"),
        TypeName::Integer.named("zero_point"),
    ]
}

fn mini_op<T: ElementWiseMiniOp>(node: &TypedNode) -> TractResult<&T> {
    node.op_as::<ElementWiseOp>()
        .and_then(|ew| ew.0.downcast_ref::<T>())
        .with_context(|| format!("{} is not a {}", node.name, std::any::type_name::<T>()))
}

fn quantize_invocation(
    ast: &mut IntoAst,
    node: &TypedNode,
    id: &str,
    scale: f32,
    zero_point: i64,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(
        id,
        &[input],
        &[
            ("scale", numeric(scale)),
            ("zero_point", numeric(zero_point)),
        ],
    )))
}

fn dump_quantize_u8(ast: &mut IntoAst, node: &TypedNode) -> TractResult<Option<Arc<RValue>>> {
    let op = mini_op::<QuantizeLinearU8>(node)?;
    let id = "edgeinfer_core_quantize_linear_u8";
    quantize_invocation(ast, node, id, op.scale, op.zero_point as i64)
}

fn dump_quantize_i8(ast: &mut IntoAst, node: &TypedNode) -> TractResult<Option<Arc<RValue>>> {
    let op = mini_op::<QuantizeLinearI8>(node)?;
    let id = "edgeinfer_core_quantize_linear_i8";
    quantize_invocation(ast, node, id, op.scale, op.zero_point as i64)
}

fn dump_dequantize(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &DequantizeLinearF32,
) -> TractResult<Option<Arc<RValue>>> {
    let id = "edgeinfer_core_dequantize_linear_f32";
    quantize_invocation(ast, node, id, op.scale, op.zero_point as i64)
}

/// `scale` and a zero point that fits `T`.
fn quantize_args<T: TryFrom<i64>>(
    builder: &mut ModelBuilder,
    invocation: &ResolvedInvocation,
) -> TractResult<(OutletId, f32, T)> {
    let input = invocation.named_arg_as(builder, "input")?;
    let scale: f32 = invocation.named_arg_as(builder, "scale")?;
    let zero_point: i64 = invocation.named_arg_as(builder, "zero_point")?;
    let zero_point =
        T::try_from(zero_point).map_err(|_| format_err!("zero point {zero_point} out of range"))?;
    Ok((input, scale, zero_point))
}

fn load_quantize_u8(
    builder: &mut ModelBuilder,
    invocation: &ResolvedInvocation,
) -> TractResult<Value> {
    let (input, scale, zero_point) = quantize_args::<u8>(builder, invocation)?;
    builder.wire(quantize_linear_u8(scale, zero_point), &[input])
}

fn load_quantize_i8(
    builder: &mut ModelBuilder,
    invocation: &ResolvedInvocation,
) -> TractResult<Value> {
    let (input, scale, zero_point) = quantize_args::<i8>(builder, invocation)?;
    builder.wire(quantize_linear_i8(scale, zero_point), &[input])
}

fn load_dequantize(
    builder: &mut ModelBuilder,
    invocation: &ResolvedInvocation,
) -> TractResult<Value> {
    let (input, scale, zero_point) = quantize_args::<i32>(builder, invocation)?;
    builder.wire(DequantizeLinearF32::new(scale, zero_point), &[input])
}
