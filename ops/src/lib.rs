//! tract operators edgeinfer adds for `ai.onnx.ml`: what scikit-learn (skl2onnx), LightGBM
//! and XGBoost (onnxmltools) export and tract 0.23 does not read.
//!
//! Two halves, split like tract's own `tract-onnx` / `tract-onnx-opl`:
//!
//! - **run time** (default features, built into the wasm guest): the few custom typed ops that
//!   cannot be written with tract's core ops, with their NNEF form. [`register_nnef`] adds them
//!   to an NNEF framework.
//! - **pack time** (feature `onnx`, host only): the ONNX loaders. [`register_onnx`] adds them to
//!   a `tract_onnx::Onnx`. Most operators decompose at load time into tract core ops (so they
//!   need nothing new in the guest and serialize to NNEF as they are):
//!
//! | ONNX operator | becomes |
//! |---|---|
//! | `Scaler` | cast, sub, mul |
//! | `Binarizer` | greater, cast |
//! | `Imputer` | eq / is_nan, where |
//! | `OneHotEncoder` (integer categories) | eq against the categories, cast |
//! | `ArrayFeatureExtractor` | gather on the last axis |
//! | `FeatureVectorizer` | cast, slice / pad, concat |
//! | `TreeEnsembleRegressor` | tract-onnx-opl's tree ensemble (targets as classes), add, div, post transform |
//! | `TreeEnsembleClassifier` (replaces tract-onnx's loader, whose binary labels are wrong) | the same ensemble, base values, argmax or onnxruntime's binary rule, post transform |
//! | `SVMRegressor` | kernel (einsum + element-wise), einsum, add |
//! | `SVMClassifier` | kernel, einsum, votes (einsum), argmax, gather; with `prob_a`/`prob_b` also [`nnef::SvmMulticlassProbability`] |
//! | `LabelEncoder` (numbers) | [`nnef::LabelEncoder`] |
//!
//! Refused with an error naming the operator and why: string categories, labels and keys
//! (edgeinfer tensors carry numbers), `ZipMap` (a sequence of maps: export with
//! `zipmap=False`), tree `MIN`/`MAX` aggregates and `PROBIT`.

#![deny(unsafe_code)]
#![warn(unreachable_pub)]

pub mod nnef;
#[cfg(feature = "onnx")]
pub mod onnx;

#[cfg(feature = "onnx")]
pub use onnx::register_onnx;

/// Adds edgeinfer's `ai.onnx.ml` run-time ops (registry `edgeinfer_ml`) to an NNEF framework:
/// the guest calls this where it builds its framework, and so does pack when it writes NNEF.
pub fn register_nnef(nnef: &mut tract_nnef::framework::Nnef) {
    if !nnef.registries.iter().any(|r| r.id.0 == nnef::REGISTRY) {
        nnef.registries.push(nnef::registry());
    }
}
