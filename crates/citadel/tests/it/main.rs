//! Integration tests that drive the real `citadel` binary against a fresh home.

// Test helpers may fail loudly: clippy's test exemption covers `#[test]` functions only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alerts;
mod artifacts;
mod audit;
mod auth;
mod batch;
mod compliance;
mod control_api;
mod data;
mod doctor;
mod endpoints;
mod gateway;
mod gateway_cancel;
mod gateway_redis;
mod grants;
mod harness;
mod init;
mod keys;
mod models;
mod monitor_drift;
mod oauth;
mod openai_client;
mod pii;
mod postgres;
mod registry;
mod secrets;
mod supply_chain;
