//! Integration tests that drive the real `citadel` binary against a fresh home.

mod artifacts;
mod audit;
mod auth;
mod grants;
mod harness;
mod init;
mod postgres;
