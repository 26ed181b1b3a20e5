//! Integration tests of citadel-limits: many tasks on the in-process buckets, and the Redis
//! backend against a real server (`CITADEL_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`;
//! `skip` to run without one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod local;
mod proxy;
mod redis;
