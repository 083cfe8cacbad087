//! Issue 12 goal 0, natively: the plan a free-batch model gets with its dims symbolic, the
//! same graph with its symbols set before optimizing (what pack's specialized plan is), and
//! the model converted with its input shape fixed, at batch 1 and 8.
//! `cargo run --release -p edgeinfer-convert --example specialize -- model.onnx`; with `OPS=1`
//! it also lists the operators of the specialized and the fixed plans and the transposes
//! (MoveAxis) only the specialized one has.

use std::collections::HashMap;
use std::time::Instant;
use tract_nnef::internal::*;

fn load(path: &str, shapes: &edgeinfer_convert::ShapeRequest) -> anyhow::Result<TypedModel> {
    let converted = edgeinfer_convert::onnx_to_nnef(path.as_ref(), shapes)?;
    let mut typed = edgeinfer_convert::nnef().model_for_read(&mut &converted.nnef[..])?;
    edgeinfer_ops::repair_reloaded(&mut typed)?;
    Ok(typed)
}

fn median_ms(plan: &Arc<TypedSimplePlan>, input: &Tensor) -> anyhow::Result<f64> {
    plan.run(tvec![input.clone().into_tvalue()])?; // warm
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            plan.run(tvec![input.clone().into_tvalue()])
                .map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<TractResult<_>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: specialize model.onnx");
    let typed = load(&path, &Default::default())?;
    let fact = typed.input_fact(0)?.clone();
    let name = typed.node(typed.input_outlets()?[0].node).name.clone();
    let symbols: Vec<Symbol> = fact.shape.iter().flat_map(|d| d.symbols()).collect();
    println!("input {name} {fact:?}, symbols {symbols:?}");
    let symbolic = typed.clone().into_optimized()?.into_runnable()?;
    for n in [1i64, 8] {
        let mut values = SymbolValues::default();
        let mut subs = HashMap::new();
        for s in &symbols {
            values = values.with(s, n);
            subs.insert(s.clone(), TDim::Val(n));
        }
        let t = Instant::now();
        let mut s = typed.set_symbols(&subs)?;
        if std::env::var_os("PROP").is_some() {
            s.prop_consts()?;
            s.declutter()?;
            s.prop_consts()?;
        }
        let specialized = s.into_optimized()?.into_runnable()?;
        let specialize_ms = t.elapsed().as_secs_f64() * 1e3;
        let shape: Vec<usize> = fact
            .shape
            .iter()
            .map(|d| d.eval(&values).to_usize().unwrap_or(1))
            .collect();
        let fixed_request = edgeinfer_convert::ShapeRequest {
            input_shapes: vec![edgeinfer_convert::InputShape {
                name: name.clone(),
                dims: shape.iter().map(|d| d.to_string()).collect(),
            }],
            ..Default::default()
        };
        let fixed = load(&path, &fixed_request)
            .and_then(|m| m.into_optimized()?.into_runnable())
            .ok();
        if let Some(fixed) = fixed.as_ref().filter(|_| std::env::var_os("OPS").is_some()) {
            println!("specialized ops {:?}", ops(&specialized));
            println!("fixed ops       {:?}", ops(fixed));
            let model = specialized.model();
            for node in model.nodes().iter().filter(|n| n.op.name() == "MoveAxis") {
                let fact = model.outlet_fact(node.inputs[0])?;
                println!("  {} {:?} on {fact:?}", node.name, node.op);
            }
        }
        let input = Tensor::zero_dt(fact.datum_type, &shape)?;
        let sym_ms = median_ms(&symbolic, &input)?;
        let spec_ms = median_ms(&specialized, &input)?;
        let fixed_ms = fixed.map(|p| median_ms(&p, &input)).transpose()?;
        println!(
            "N={n} {shape:?}: symbolic {sym_ms:.2} ms, specialized {spec_ms:.2} ms \
             ({:.2}x faster, built in {specialize_ms:.0} ms), fixed at conversion {}",
            sym_ms / spec_ms,
            fixed_ms.map_or("n/a".into(), |f| format!(
                "{f:.2} ms (specialized / fixed {:.2}x)",
                spec_ms / f
            )),
        );
    }
    Ok(())
}

fn ops(plan: &Arc<TypedSimplePlan>) -> std::collections::BTreeMap<String, usize> {
    let mut count = std::collections::BTreeMap::new();
    for node in plan.model().nodes() {
        *count.entry(node.op.name().to_string()).or_insert(0) += 1;
    }
    count
}
