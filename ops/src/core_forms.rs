//! NNEF forms for tract-core operators that tract 0.23.9's NNEF registries do not serialize
//! (registry `edgeinfer_core`): without them, a model whose decluttered graph holds one cannot
//! be written to NNEF ("No serializer found for node ..."), so it cannot be packed. Each is the
//! tract-core op as it is, under a name of ours; loading wires the same op back.
//!
//! | tract-core op | produced by | NNEF form |
//! |---|---|---|
//! | `GeluExact` (`ops::nn::gelu_exact`) | declutter, fusing `0.5 * x * (1 + erf(x / √2))` (ONNX `Gelu`, `BiasGelu`, PyTorch's erf GELU) | `edgeinfer_core_gelu_exact(x)` |
//! | `Rem` (`ops::math::rem`) | ONNX `Mod` (both `fmod` modes wire it) | `edgeinfer_core_rem(a, b)` |
//!
//! tract-nnef tries its own registries first, so if a later tract serializes one of these,
//! its form wins when writing, and files written with ours still load.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::math::Rem;
use tract_nnef::tract_core::ops::nn::GeluExact;

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
    registry
}
