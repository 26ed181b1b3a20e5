//! Integration tests of the artifact store. Every backend test runs on a local folder, and on a real
//! S3-compatible server when `CITADEL_TEST_S3_ENDPOINT` is set (see `support.rs`).

// Helpers shared by test modules are not `#[test]` functions, so clippy's test exemption misses them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crash;
mod dedupe;
mod keys;
mod round_trip;
mod staging;
mod support;
mod tamper;
