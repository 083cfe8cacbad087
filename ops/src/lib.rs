//! tract operators and NNEF forms edgeinfer adds: the `ai.onnx.ml` operators scikit-learn
//! (skl2onnx), LightGBM and XGBoost (onnxmltools) export and tract 0.23 does not read (or reads
//! too slowly), and NNEF forms for tract-core operators that tract 0.23.9 cannot write to NNEF.
//!
//! Two halves, split like tract's own `tract-onnx` / `tract-onnx-opl`:
//!
//! - **run time** (default features, built into the wasm guest), both added to an NNEF
//!   framework by [`register_nnef`]:
//!   - [`nnef`] (registry `edgeinfer_ml`): the few custom typed ops that cannot be written
//!     with tract's core ops (or not fast enough), with their NNEF form;
//!   - [`core_forms`] (registry `edgeinfer_core`): NNEF forms for tract-core ops whose form
//!     tract lacks (`GeluExact`, `Rem`, `QuantizeLinearU8`/`I8`, `DequantizeLinearF32`, and
//!     `IfThenElse`, the data-dependent ONNX `If`, its branches as NNEF fragments), so that
//!     models holding them can be packed;
//!   - [`repair_reloaded`]: works around two tract 0.23.9 bugs that make a model read back
//!     from NNEF fail to optimize (a Scan over a constant, a Downsample after a Reshape of its
//!     axis); the guest calls it between reading the NNEF and optimizing, and so does pack's
//!     round-trip check;
//!   - [`optimize()`]: tract's optimizer, then rewrites of nodes its plan still runs slowly (a
//!     softmax over an axis that is not the innermost); the guest, pack's round-trip check
//!     and the native baseline all build their plans with it.
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
//! | `TreeEnsembleRegressor` | [`nnef::TreeEnsemble`] (sum or average per target), add, post transform |
//! | `TreeEnsembleClassifier` (replaces tract-onnx's loader, whose binary labels are wrong) | [`nnef::TreeEnsemble`] (sum per class), base values, argmax or onnxruntime's binary rule, post transform |
//! | `SVMRegressor` | kernel (einsum + element-wise), einsum, add |
//! | `SVMClassifier` | kernel, einsum, votes (einsum), argmax, gather; with `prob_a`/`prob_b` also [`nnef::SvmMulticlassProbability`] |
//! | `LabelEncoder` (numbers) | [`nnef::LabelEncoder`] |
//! | `If` (default domain; replaces tract-onnx's loader) | the taken branch, inlined, when the condition is a constant once shapes and initializers are known (its branches may then disagree on ranks); else tract-core's `IfThenElse` (both branches, picked at run time) |
//!
//! Refused with an error naming the operator and why: string categories, labels and keys
//! (edgeinfer tensors carry numbers), `ZipMap` (a sequence of maps: export with
//! `zipmap=False`), tree `MIN`/`MAX` aggregates and `PROBIT`.

#![deny(unsafe_code)]
#![warn(unreachable_pub)]

pub mod core_forms;
pub mod nnef;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod optimize;
pub mod repair;

pub use optimize::optimize;
pub use repair::repair_reloaded;

#[cfg(feature = "onnx")]
pub use onnx::register_onnx;

/// Adds edgeinfer's run-time ops (registry `edgeinfer_ml`) and NNEF forms of tract-core ops
/// (registry `edgeinfer_core`) to an NNEF framework: the guest calls this where it builds its
/// framework, and so does pack when it writes NNEF.
pub fn register_nnef(nnef: &mut tract_nnef::framework::Nnef) {
    if !nnef.registries.iter().any(|r| r.id.0 == nnef::REGISTRY) {
        nnef.registries.push(nnef::registry());
    }
    if !nnef
        .registries
        .iter()
        .any(|r| r.id.0 == core_forms::REGISTRY)
    {
        nnef.registries.push(core_forms::registry());
    }
}
