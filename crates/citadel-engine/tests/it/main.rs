//! Integration tests of citadel-engine, one module per area.

// Helpers shared by test modules are not `#[test]` functions, so clippy's test exemption misses them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod exactness;
mod finetune_demo;
mod generation;
mod lora;
mod training;

use std::path::PathBuf;

/// A fixture folder copied from the reference fixtures.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
