//! Helpers shared by the end-to-end tests and the corpus runner (`src/bin/coverage.rs`).
#![warn(unreachable_pub)]

pub mod coverage;
