//! Integration tests of the metadata store. Every test in the `store_test!` form runs against a
//! fresh SQLite file and, when `CITADEL_TEST_DATABASE_URL` is set, against a fresh PostgreSQL
//! database created for it and dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod harness;

mod alerts;
mod artifacts;
mod audit_chain;
mod concurrency;
mod inference_log;
mod migrations;
mod principals;
mod securables;
mod tamper;
mod tokens;
