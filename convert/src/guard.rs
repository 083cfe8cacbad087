//! Panics of the libraries pack drives, turned into errors. tract panics on some hostile
//! models (a constant of 10^12 elements fails to allocate while it is folded) and
//! wasmtime-wizer unwraps the errors of its calls into the guest; nothing a user feeds may
//! panic the CLI, so those stages run here and a panic becomes an error naming the stage.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it becomes `Err("{stage} failed: {message}")`, and the panic
/// hook stays quiet about it (the error says it all). Other panics print as before.
pub fn guarded<T>(stage: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    install_quiet_hook();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    match result {
        Ok(result) => result,
        Err(panic) => Err(anyhow::anyhow!("{stage} failed: {}", message(&*panic))),
    }
}

fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error() {
        let err = guarded("folding", || -> anyhow::Result<()> {
            panic!("failed to allocate")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "folding failed: failed to allocate");
        assert_eq!(guarded("x", || Ok(3)).unwrap(), 3);
    }
}
