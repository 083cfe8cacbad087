//! Run-time half: the custom typed ops and their NNEF form (registry `edgeinfer_ml`).

use tract_nnef::internal::*;

mod label_encoder;
mod svm_probability;
pub mod tree_ensemble;

pub use label_encoder::LabelEncoder;
pub use svm_probability::SvmMulticlassProbability;
pub use tree_ensemble::TreeEnsemble;

/// The NNEF registry id, written as `extension tract_registry edgeinfer_ml` in `graph.nnef`.
pub const REGISTRY: &str = "edgeinfer_ml";

/// The registry holding every custom op of this crate (loader and dumper).
pub fn registry() -> Registry {
    let mut registry = Registry::new(REGISTRY)
        .with_doc("Extension `edgeinfer_ml`: ai.onnx.ml operators edgeinfer adds to tract.")
        .with_doc("")
        .with_doc("Add `extension tract_registry edgeinfer_ml` to `graph.nnef`");
    label_encoder::register(&mut registry);
    svm_probability::register(&mut registry);
    tree_ensemble::register(&mut registry);
    registry
}
