//! `If` (default domain): replaces tract-onnx's loader so that an `If` whose condition is known
//! once the input shapes (or a baked-in configuration input) are fixed packs whatever its
//! untaken branch holds.
//!
//! Re-implemented from tract-onnx 0.23.9 (`src/ops/logic.rs`: the `_if` builder and the `If`
//! inference op, Apache-2.0 / MIT, by Sonos), whose fields are private. Parsing and inference
//! rules are tract's (but for one thing: once the condition is known, the untaken branch is
//! no longer analysed), and the change that matters is in [`If::to_typed`]:
//!
//! - the condition is a constant of the typed model (its value was inferred: `Shape` of a
//!   fixed input, an initializer): the taken branch is translated and its nodes are wired in
//!   place of the `If`, so the other branch never has to agree with it. tract builds
//!   `IfThenElse` from both bodies there, which demands identical output facts ("Condition
//!   failed: then_body.output_fact(i) == else_body.output_fact(i)") even though its own
//!   declutter would then inline the taken branch. PyTorch's exports branch like this on
//!   ranks (silero-vad: `1,128` vs `1,128,1`).
//! - the condition depends on the data: tract-core's `IfThenElse` with both bodies, as tract
//!   builds it (it picks the branch at run time; its NNEF form is
//!   `crate::core_forms::if_then_else`). When the branches disagree on their outputs, the
//!   error says which outputs and what fixes the condition.

use super::*;
use tract_onnx::model::ParseResult;
use tract_onnx::tract_hir::tract_core::ops::logic::IfThenElse;
use tract_onnx::tract_hir::tract_core::ops::source::TypedSource;

pub(super) fn load(ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let graph_then = node.get_attr("then_branch")?;
    let graph_else = node.get_attr("else_branch")?;
    let ParseResult {
        model: then_body,
        unresolved_inputs: unresolved_then,
        ..
    } = ctx.parse_graph(graph_then)?;
    let ParseResult {
        model: else_body,
        unresolved_inputs: unresolved_else,
        ..
    } = ctx.parse_graph(graph_else)?;
    // the outer values either branch reads: inputs 1.. of the node (0 is the condition)
    let mut unresolved: Vec<String> = unresolved_then
        .iter()
        .chain(unresolved_else.iter())
        .cloned()
        .collect();
    unresolved.sort();
    unresolved.dedup();
    let position = |name: &String| unresolved.iter().position(|s| s == name).unwrap() + 1;
    let then_input_mapping = unresolved_then.iter().map(position).collect();
    let else_input_mapping = unresolved_else.iter().map(position).collect();
    Ok((
        Box::new(If {
            then_body,
            then_input_mapping,
            else_body,
            else_input_mapping,
        }),
        unresolved,
    ))
}

/// ONNX `If` as an inference op: tract-onnx's, with the taken branch inlined when the
/// condition is a constant.
#[derive(Debug, Clone)]
pub(crate) struct If {
    then_body: InferenceModel,
    then_input_mapping: Vec<usize>,
    else_body: InferenceModel,
    else_input_mapping: Vec<usize>,
}

impl PartialEq for If {
    fn eq(&self, _: &Self) -> bool {
        false
    }
}
impl Eq for If {}

impl If {
    fn branch(&self, cond: bool) -> (&InferenceModel, &[usize]) {
        if cond {
            (&self.then_body, &self.then_input_mapping)
        } else {
            (&self.else_body, &self.else_input_mapping)
        }
    }
}

impl Op for If {
    fn name(&self) -> StaticName {
        "If".into()
    }

    not_a_typed_op!();
}

impl EvalOp for If {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let cond = inputs[0].cast_to_scalar::<bool>()?;
        let (body, input_mapping) = self.branch(cond);
        let inputs: TVec<TValue> = input_mapping.iter().map(|&ix| inputs[ix].clone()).collect();
        body.clone().into_runnable()?.run(inputs)
    }
}

impl InferenceOp for If {
    fn infer_facts(
        &mut self,
        inputs: TVec<&InferenceFact>,
        outputs: TVec<&InferenceFact>,
        observed: TVec<&InferenceFact>,
    ) -> TractResult<(
        TVec<InferenceFact>,
        TVec<InferenceFact>,
        TVec<InferenceFact>,
    )> {
        let mut inputs: TVec<InferenceFact> = inputs.into_iter().cloned().collect();
        let mut outputs: TVec<InferenceFact> = outputs.into_iter().cloned().collect();
        loop {
            let mut changed = inputs[0]
                .datum_type
                .unify_with(&bool::datum_type().into())?;
            for (body_ix, outer_ix) in self.then_input_mapping.iter().enumerate() {
                changed |= self
                    .then_body
                    .input_fact_mut(body_ix)?
                    .unify_with_mut(&mut inputs[*outer_ix])?;
            }
            for (body_ix, outer_ix) in self.else_input_mapping.iter().enumerate() {
                changed |= self
                    .else_body
                    .input_fact_mut(body_ix)?
                    .unify_with_mut(&mut inputs[*outer_ix])?;
            }
            if let Some(cond) = inputs[0].value.concretize() {
                // the taken branch alone says what the outputs are; the other one is not
                // analysed (tract's is), as it may not even make sense for these inputs
                // (silero-vad's 8 kHz branch squeezes an axis that is not 1 at 16 kHz)
                let body = if cond.cast_to_scalar::<bool>()? {
                    &mut self.then_body
                } else {
                    &mut self.else_body
                };
                for (ix, output) in outputs.iter_mut().enumerate() {
                    changed |= body.output_fact_mut(ix)?.unify_with_mut(output)?;
                }
                changed |= body.analyse(false)?;
            } else {
                for (ix, output) in outputs.iter_mut().enumerate() {
                    for body in [&mut self.then_body, &mut self.else_body] {
                        let fact = body.output_fact_mut(ix)?;
                        changed |= fact.shape.unify_with_mut(&mut output.shape)?;
                        changed |= fact.datum_type.unify_with_mut(&mut output.datum_type)?;
                    }
                }
                changed |= self.then_body.analyse(false)?;
                changed |= self.else_body.analyse(false)?;
            }
            if !changed {
                return Ok((inputs, outputs, observed.into_iter().cloned().collect()));
            }
        }
    }

    fn nboutputs(&self) -> TractResult<usize> {
        let then_outputs = self.then_body.outputs.len();
        let else_outputs = self.else_body.outputs.len();
        ensure!(
            then_outputs == else_outputs,
            "If Operators expect the `then_branch` {then_outputs} and `else_branch` \
             {else_outputs} to produce the same number of outputs"
        );
        Ok(then_outputs)
    }

    fn to_typed(
        &self,
        _source: &InferenceModel,
        node: &InferenceNode,
        target: &mut TypedModel,
        mapping: &HashMap<OutletId, OutletId>,
    ) -> TractResult<TVec<OutletId>> {
        let inputs: TVec<OutletId> = node.inputs.iter().map(|o| mapping[o]).collect();
        if let Some(cond) = target.outlet_fact(inputs[0])?.konst.clone() {
            let cond = cond
                .cast_to_scalar::<bool>()
                .with_context(|| format!("If `{}`: reading the condition", node.name))?;
            let (body, input_mapping) = self.branch(cond);
            let body = body
                .clone()
                .into_typed()
                .with_context(|| format!("If `{}`: typing the {cond} branch (taken)", node.name))?;
            let branch = if cond { "then" } else { "else" };
            return inline(target, &format!("{}.{branch}", node.name), &body, |slot| {
                inputs[input_mapping[slot]]
            });
        }
        let (then_body, then_input_mapping) =
            typed_branch(&self.then_body, &self.then_input_mapping)
                .with_context(|| format!("If `{}`: the then branch", node.name))?;
        let (else_body, else_input_mapping) =
            typed_branch(&self.else_body, &self.else_input_mapping)
                .with_context(|| format!("If `{}`: the else branch", node.name))?;
        check_branches_agree(&node.name, &then_body, &else_body)?;
        // the condition, then the outer values a branch still reads
        let mut used: Vec<usize> = then_input_mapping
            .iter()
            .chain(&else_input_mapping)
            .copied()
            .collect();
        used.sort();
        used.dedup();
        let slot = |ix: &usize| used.iter().position(|u| u == ix).unwrap() + 1;
        let op = IfThenElse {
            then_input_mapping: then_input_mapping.iter().map(slot).collect(),
            else_input_mapping: else_input_mapping.iter().map(slot).collect(),
            then_body,
            else_body,
        };
        let inputs: TVec<OutletId> = std::iter::once(inputs[0])
            .chain(used.iter().map(|&ix| inputs[ix]))
            .collect();
        target.wire_node(&*node.name, op, &inputs)
    }

    as_op!();
}

/// Wires the nodes of `body` into `target` (names prefixed with `prefix`), its input `slot`
/// being `outer(slot)`; returns its outputs.
fn inline(
    target: &mut TypedModel,
    prefix: &str,
    body: &TypedModel,
    outer: impl Fn(usize) -> OutletId,
) -> TractResult<TVec<OutletId>> {
    let mut wires: HashMap<OutletId, OutletId> = HashMap::default();
    for (slot, input) in body.input_outlets()?.iter().enumerate() {
        wires.insert(*input, outer(slot));
    }
    for id in body.eval_order()? {
        let node = body.node(id);
        if node.op_is::<TypedSource>() {
            continue;
        }
        let inputs: TVec<OutletId> = node.inputs.iter().map(|o| wires[o]).collect();
        let name = target
            .unique_name(format!("{prefix}.{}", node.name))
            .into_owned();
        let outputs = target.wire_node(name, node.op.clone(), &inputs)?;
        for (slot, outlet) in outputs.into_iter().enumerate() {
            wires.insert(OutletId::new(id, slot), outlet);
        }
    }
    Ok(body.outputs.iter().map(|o| wires[o]).collect())
}

/// A branch of an `IfThenElse`: typed, outer constants absorbed, decluttered (tract leaves an
/// `IfThenElse`'s branches as they are, and typed ops such as `StridedSlice` have no NNEF form
/// before declutter), its output facts without values. Returns it with its input mapping.
fn typed_branch(body: &InferenceModel, mapping: &[usize]) -> TractResult<(TypedModel, Vec<usize>)> {
    let (body, mapping) = absorb_constants(&body.clone().into_typed()?, mapping)?;
    let mut body = body.into_decluttered()?;
    crate::core_forms::if_then_else::forget_output_values(&mut body)?;
    Ok((body, mapping))
}

/// A branch reads outer constants (weights, often) through inputs whose fact holds the value:
/// they become constants of the branch, and its inputs no more. The outer constant then has
/// no consumer left and declutter drops it; otherwise it would be written to NNEF twice, once
/// beside the If and once folded into the branch by tract-nnef's rewrites.
fn absorb_constants(body: &TypedModel, mapping: &[usize]) -> TractResult<(TypedModel, Vec<usize>)> {
    let mut absorbed = TypedModel {
        symbols: body.symbols.clone(),
        ..TypedModel::default()
    };
    let mut wires: HashMap<OutletId, OutletId> = HashMap::default();
    let mut kept = vec![];
    for (slot, input) in body.input_outlets()?.iter().enumerate() {
        let name = &body.node(input.node).name;
        let fact = body.outlet_fact(*input)?;
        let wire = if let Some(value) = &fact.konst {
            absorbed.add_const(name, value.clone())?
        } else {
            kept.push(mapping[slot]);
            absorbed.add_source(name, fact.clone())?
        };
        wires.insert(*input, wire);
    }
    for id in body.eval_order()? {
        let node = body.node(id);
        if node.op_is::<TypedSource>() {
            continue;
        }
        let inputs: TVec<OutletId> = node.inputs.iter().map(|o| wires[o]).collect();
        let outputs = absorbed.wire_node(&node.name, node.op.clone(), &inputs)?;
        for (slot, outlet) in outputs.into_iter().enumerate() {
            wires.insert(OutletId::new(id, slot), outlet);
        }
    }
    let outputs: TVec<OutletId> = body.outputs.iter().map(|o| wires[o]).collect();
    absorbed.select_output_outlets(&outputs)?;
    for (old, new) in body.outputs.iter().zip(&outputs) {
        if let Some(label) = body.outlet_label(*old) {
            absorbed.set_outlet_label(*new, label.to_string())?;
        }
    }
    Ok((absorbed, kept))
}

/// `IfThenElse` needs both branches to give the same facts; say which do not, and why that
/// matters, rather than tract's bare "Condition failed".
fn check_branches_agree(
    name: &str,
    then_body: &TypedModel,
    else_body: &TypedModel,
) -> TractResult<()> {
    let mut differ = vec![];
    for ix in 0..then_body.outputs.len() {
        let then_fact = then_body.output_fact(ix)?.without_value();
        let else_fact = else_body.output_fact(ix)?.without_value();
        if then_fact != else_fact {
            differ.push(format!("output {ix}: {then_fact:?} vs {else_fact:?}"));
        }
    }
    if !differ.is_empty() {
        bail!(
            "If `{name}`: its condition is not known before run time, and its branches give \
             different outputs ({}), which tract cannot run; fix the input dims (or bake the \
             configuration inputs) the condition depends on, so that it becomes a constant",
            differ.join("; ")
        );
    }
    Ok(())
}
