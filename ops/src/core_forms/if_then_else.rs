//! NNEF form of tract-core's `IfThenElse` (`ops::logic::ite`): an ONNX `If` whose condition
//! depends on the data (tract-onnx types it as this op, and runs the taken branch at run
//! time). tract-nnef 0.23.9 has no form for it.
//!
//! ```text
//! fragment edgeinfer_if_body_<hash>(x: tensor<scalar>, w: tensor<scalar>) -> (y: tensor<scalar>)
//! { ... the branch's graph, its own constants as `variable`s ... }
//!
//! y = edgeinfer_core_if_then_else(cond,
//!         then_body = "edgeinfer_if_body_<hash>", then_inputs = [x, w],
//!         else_body = "edgeinfer_if_body_<hash>", else_inputs = [x]);
//! ```
//!
//! Each branch is written as a whole NNEF document of its own (`tract_nnef::ser::to_proto_model`,
//! as tract writes a model, so its own rewrites apply), then turned into a fragment: its
//! parameters are the branch inputs, in order, bound to the outer values listed in
//! `then_inputs` / `else_inputs`; its results are the branch outputs. Unlike tract's
//! `to_fragment_def` (which `tract_core_scan` uses), this keeps what the branch's document
//! needs beyond its body, so branches may nest and hold scans: the fragments of the branch's
//! document (inner branches, `tract_core_scan` bodies) are hoisted to the top level, the
//! registries they use are declared by the outer document, and their constants join the outer
//! document's tensors (renamed on a clash) and are read back as constants of the branch.
//! Branch fragment ids hash their content, and the fragments tract names by a counter of their
//! own document (`scan_body_0`) get a hash of that document appended: ids made inside separate
//! documents cannot clash, and equal branches share one fragment.
//!
//! Loading builds each branch from its fragment as `tract_core_scan` builds its body (a
//! `ModelBuilder` on the same document), its inputs typed as the outer values (without their
//! value), and wires an `IfThenElse` whose inputs are the condition, then the outer values
//! of both branches (each once).
//!
//! tract 0.23.9's `IfThenElse` gives its outputs the then branch's output facts *with their
//! value*: a then branch that returns a constant makes the If look constant, and the graph
//! after it folds as if that branch were always taken. [`forget_output_values`] (applied at
//! pack time and at load time) clears the values of the branch outputs' facts.

use tract_nnef::ast::{
    Assignment, Document, FragmentDecl, FragmentDef, Identifier, LValue, Literal, RValue, Result_,
    Subscript, TypeName,
};
use tract_nnef::internal::*;
use tract_nnef::ser::array;
use tract_nnef::tract_core::ops::logic::IfThenElse;

const ID: &str = "edgeinfer_core_if_then_else";

pub(crate) fn register(registry: &mut Registry) {
    registry.register_dumper(dump);
    registry.register_primitive(
        ID,
        &[
            TypeName::Logical.tensor().named("cond"),
            TypeName::String.named("then_body"),
            TypeName::Scalar.tensor().array().named("then_inputs"),
            TypeName::String.named("else_body"),
            TypeName::Scalar.tensor().array().named("else_inputs"),
        ],
        &[("outputs", TypeName::Scalar.tensor().array())],
        load,
    );
}

fn dump(ast: &mut IntoAst, node: &TypedNode, op: &IfThenElse) -> TractResult<Option<Arc<RValue>>> {
    let cond = ast.mapping[&node.inputs[0]].clone();
    let then_body = fragment(ast, &op.then_body).context("writing the then branch")?;
    let else_body = fragment(ast, &op.else_body).context("writing the else branch")?;
    let outer = |ast: &IntoAst, mapping: &[usize]| {
        array(
            mapping
                .iter()
                .map(|&ix| ast.mapping[&node.inputs[ix]].as_ref().clone())
                .collect::<Vec<_>>(),
        )
    };
    let then_inputs = outer(ast, &op.then_input_mapping);
    let else_inputs = outer(ast, &op.else_input_mapping);
    Ok(Some(invocation(
        ID,
        &[cond],
        &[
            ("then_body", string(&then_body.0)),
            ("then_inputs", then_inputs),
            ("else_body", string(&else_body.0)),
            ("else_inputs", else_inputs),
        ],
    )))
}

/// Writes `body` as a fragment of the document `ast` builds; returns its id.
fn fragment(ast: &mut IntoAst, body: &TypedModel) -> TractResult<Identifier> {
    let proto = tract_nnef::ser::to_proto_model(ast.framework, body)?;
    if proto.quantization.as_ref().is_some_and(|q| !q.is_empty()) {
        bail!("quantized tensors in an If branch are not supported");
    }
    if !proto.resources.is_empty() {
        bail!("resources in an If branch are not supported");
    }
    for (key, value) in &proto.doc.extension {
        let id = Identifier(value.trim().to_string());
        if key.0 == "tract_registry" && !ast.registries.contains(&id) {
            ast.registries.push(id);
        }
    }
    // the branch's constants become the outer document's, under labels free there
    let mut labels: HashMap<String, String> = HashMap::default();
    let mut tensors: Vec<_> = proto.tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    for (label, tensor) in tensors {
        let mut free = label.clone();
        let mut n = 0;
        while ast.tensors.get(&free).is_some_and(|t| t != &tensor) {
            free = Identifier(format!("{}_{n}", label.0));
            n += 1;
        }
        ast.tensors.insert(free.clone(), tensor);
        labels.insert(label.0, free.0);
    }
    let mut doc = proto.doc;
    doc.fragments
        .retain(|f| f.decl.id.0 != "tract_core_properties");
    for_each_rvalue(&mut doc, |rv| relabel_variable(rv, &labels));
    // Fragments of the branch's document (`tract_core_scan` bodies, named by a counter of
    // that document alone: `scan_body_0`) get a suffix that hashes the document, so those of
    // different branches cannot clash once hoisted; ours are named by their content already.
    let suffix = fnv1a(&format!("{doc:?}"));
    let renames: HashMap<String, String> = doc
        .fragments
        .iter()
        .filter(|f| !f.decl.id.0.starts_with(FRAGMENT_PREFIX))
        .map(|f| {
            (
                f.decl.id.0.clone(),
                format!("{}_{suffix:016x}", f.decl.id.0),
            )
        })
        .collect();
    for_each_rvalue(&mut doc, |rv| match rv {
        RValue::Literal(Literal::String(s)) => {
            if let Some(new) = renames.get(s.as_str()) {
                *s = new.clone();
            }
        }
        RValue::Invocation(inv) => {
            if let Some(new) = renames.get(&inv.id.0) {
                inv.id = Identifier(new.clone());
            }
        }
        _ => (),
    });
    for mut inner in doc.fragments {
        if let Some(new) = renames.get(&inner.decl.id.0) {
            inner.decl.id = Identifier(new.clone());
        }
        hoist(ast, inner)?;
    }
    let graph = doc.graph_def;
    let body: Vec<Assignment> = graph
        .body
        .into_iter()
        // the branch inputs (`external`) are the fragment's parameters
        .filter(|a| !matches!(&a.left, LValue::Identifier(id) if graph.parameters.contains(id)))
        .collect();
    let mut def = FragmentDef {
        decl: FragmentDecl {
            id: Identifier(String::new()),
            generic_decl: None,
            parameters: graph
                .parameters
                .iter()
                .map(|p| TypeName::Scalar.tensor().named(&p.0))
                .collect(),
            results: graph
                .results
                .iter()
                .map(|r| Result_ {
                    id: r.clone(),
                    spec: TypeName::Scalar.tensor(),
                })
                .collect(),
        },
        body: Some(body),
    };
    def.decl.id = Identifier(format!(
        "{FRAGMENT_PREFIX}{:016x}",
        fnv1a(&format!("{def:?}"))
    ));
    let id = def.decl.id.clone();
    hoist(ast, def)?;
    Ok(id)
}

const FRAGMENT_PREFIX: &str = "edgeinfer_if_body_";

/// Adds a fragment to the outer document (once: the same id must be the same fragment).
fn hoist(ast: &mut IntoAst, fragment: FragmentDef) -> TractResult<()> {
    match ast.fragments.get(&fragment.decl.id) {
        Some(known) if known != &fragment => {
            bail!("two different NNEF fragments named {}", fragment.decl.id.0)
        }
        Some(_) => Ok(()),
        None => {
            ast.fragments.insert(fragment.decl.id.clone(), fragment);
            Ok(())
        }
    }
}

/// Calls `f` on every right-hand value of `doc` (graph and fragments), nested ones included.
fn for_each_rvalue(doc: &mut Document, mut f: impl FnMut(&mut RValue)) {
    fn walk(rv: &mut RValue, f: &mut dyn FnMut(&mut RValue)) {
        f(rv);
        match rv {
            RValue::Binary(a, _, b) => {
                walk(a, f);
                walk(b, f);
            }
            RValue::Unary(_, a) => walk(a, f),
            RValue::Tuple(items) | RValue::Array(items) => {
                items.iter_mut().for_each(|item| walk(item, f))
            }
            RValue::Subscript(a, sub) => {
                walk(a, f);
                match &mut **sub {
                    Subscript::Single(i) => walk(i, f),
                    Subscript::Range(from, to) => from
                        .iter_mut()
                        .chain(to.iter_mut())
                        .for_each(|i| walk(i, f)),
                }
            }
            RValue::Comprehension(c) => {
                c.loop_iters.iter_mut().for_each(|(_, i)| walk(i, f));
                c.filter.iter_mut().for_each(|i| walk(i, f));
                walk(&mut c.yields, f);
            }
            RValue::IfThenElse(ite) => {
                walk(&mut ite.cond, f);
                walk(&mut ite.then, f);
                walk(&mut ite.otherwise, f);
            }
            RValue::Invocation(inv) => inv
                .arguments
                .iter_mut()
                .for_each(|arg| walk(&mut arg.rvalue, f)),
            RValue::Identifier(_) | RValue::Literal(_) => (),
        }
    }
    let graph = doc.graph_def.body.iter_mut();
    let fragments = doc
        .fragments
        .iter_mut()
        .flat_map(|frag| frag.body.iter_mut().flatten());
    for assignment in graph.chain(fragments) {
        walk(&mut assignment.right, &mut f);
    }
}

/// `variable(label = "old", ...)` reads `labels[old]` instead.
fn relabel_variable(right: &mut RValue, labels: &HashMap<String, String>) {
    let RValue::Invocation(inv) = right else {
        return;
    };
    if inv.id.0 != "variable" {
        return;
    }
    for arg in &mut inv.arguments {
        if arg.id.as_ref().is_some_and(|id| id.0 == "label")
            && let RValue::Literal(Literal::String(label)) = &mut arg.rvalue
            && let Some(new) = labels.get(label.as_str())
        {
            *label = new.clone();
        }
    }
}

/// 64-bit FNV-1a: a stable hash for fragment ids.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn load(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let cond: OutletId = invocation.named_arg_as(builder, "cond")?;
    let mut inputs: TVec<OutletId> = tvec![cond];
    let mut branch = |builder: &mut ModelBuilder, which: &str| -> TractResult<_> {
        let name: String = invocation.named_arg_as(builder, &format!("{which}_body"))?;
        let outer: TVec<OutletId> = invocation.named_arg_as(builder, &format!("{which}_inputs"))?;
        let body = load_body(builder, &name, &outer)
            .with_context(|| format!("loading the {which} branch ({name})"))?;
        let mapping = outer
            .iter()
            .map(|o| match inputs.iter().position(|i| i == o) {
                Some(ix) => ix,
                None => {
                    inputs.push(*o);
                    inputs.len() - 1
                }
            })
            .collect();
        Ok((body, mapping))
    };
    let (then_body, then_input_mapping) = branch(builder, "then")?;
    let (else_body, else_input_mapping) = branch(builder, "else")?;
    let op = IfThenElse {
        then_body,
        then_input_mapping,
        else_body,
        else_input_mapping,
    };
    builder.wire(op, &inputs)
}

/// Works around tract's `IfThenElse` taking the then branch's output *values* for its own
/// output facts (see the module doc): a branch's output facts keep their type and shape only.
pub fn forget_output_values(body: &mut TypedModel) -> TractResult<()> {
    for outlet in body.outputs.clone() {
        let fact = body.outlet_fact(outlet)?.without_value();
        body.set_outlet_fact(outlet, fact)?;
    }
    Ok(())
}

/// The branch of fragment `name`, its inputs typed as the `outer` values.
fn load_body(builder: &ModelBuilder, name: &str, outer: &[OutletId]) -> TractResult<TypedModel> {
    let fragment = builder
        .proto_model
        .doc
        .fragments
        .iter()
        .find(|f| f.decl.id.0 == name)
        .with_context(|| format!("no fragment {name}"))?;
    ensure!(
        fragment.decl.parameters.len() == outer.len(),
        "fragment {name} has {} parameters, the invocation gives {} inputs",
        fragment.decl.parameters.len(),
        outer.len()
    );
    let template = TypedModel {
        symbols: builder.model.symbols.clone(),
        ..TypedModel::default()
    };
    let mut body = ModelBuilder::new(builder.framework, builder.proto_model, template);
    body.scopes.push(HashMap::default());
    body.naming_scopes.clone_from(&builder.naming_scopes);
    body.registries.clone_from(&builder.registries);
    for (param, wire) in fragment.decl.parameters.iter().zip(outer) {
        let fact = builder.model.outlet_fact(*wire)?.without_value();
        let source = body.model.add_source(param.id.0.clone(), fact)?;
        body.scopes
            .last_mut()
            .unwrap()
            .insert(param.id.clone(), Value::Wire(source));
    }
    body.wire_body(fragment.body.as_deref().context("fragment without body")?)?;
    let outputs = fragment
        .decl
        .results
        .iter()
        .map(|r| {
            let value = body.scopes.last().unwrap().get(&r.id).cloned();
            value
                .with_context(|| format!("no value for result {}", r.id.0))?
                .to::<OutletId>(&mut body)
        })
        .collect::<TractResult<TVec<_>>>()?;
    body.model.select_output_outlets(&outputs)?;
    forget_output_values(&mut body.model)?;
    Ok(body.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cond ? [1, 2] : x`
    fn constant_then_branch() -> (TypedModel, IfThenElse) {
        let mut then_body = TypedModel::default();
        let c = then_body.add_const("c", tensor1(&[1f32, 2.])).unwrap();
        then_body.select_output_outlets(&[c]).unwrap();
        let mut else_body = TypedModel::default();
        let x = else_body.add_source("x", f32::fact([2])).unwrap();
        else_body.select_output_outlets(&[x]).unwrap();
        let mut model = TypedModel::default();
        model.add_source("cond", bool::scalar_fact()).unwrap();
        model.add_source("x", f32::fact([2])).unwrap();
        let op = IfThenElse {
            then_body,
            then_input_mapping: vec![],
            else_body,
            else_input_mapping: vec![1],
        };
        (model, op)
    }

    /// Fails once tract's `IfThenElse` no longer passes the then branch's value on: then
    /// `forget_output_values` can go.
    #[test]
    fn tract_if_then_else_still_takes_the_then_value() {
        let (mut model, op) = constant_then_branch();
        let inputs = model.input_outlets().unwrap().to_vec();
        let y = model.wire_node("if", op, &inputs).unwrap();
        assert!(model.outlet_fact(y[0]).unwrap().konst.is_some());
    }

    #[test]
    fn forgotten_output_values_keep_the_if_open() {
        let (mut model, mut op) = constant_then_branch();
        forget_output_values(&mut op.then_body).unwrap();
        let inputs = model.input_outlets().unwrap().to_vec();
        let y = model.wire_node("if", op, &inputs).unwrap();
        model.select_output_outlets(&y).unwrap();
        assert!(model.outlet_fact(y[0]).unwrap().konst.is_none());
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        for (cond, want) in [(true, [1f32, 2.]), (false, [5., 6.])] {
            let got = plan
                .run(tvec!(tensor0(cond).into(), tensor1(&[5f32, 6.]).into()))
                .unwrap();
            assert_eq!(got[0].clone().into_tensor(), tensor1(&want));
        }
    }
}
