//! Citadel's gateway: TLS, the OpenAI-compatible inference API, OAuth client credentials, the
//! control API and Prometheus metrics, all thin front ends over the service layer, which
//! authorizes and audits every operation.
//!
//! [`routes::router`] builds the whole application from a [`state::Gateway`]; [`listener`]
//! serves it over TLS. Tests drive the router directly with `tower::ServiceExt::oneshot`.

pub mod alerts;
pub mod auth;
pub mod backend;
pub mod bench;
pub mod cache;
pub mod config;
pub mod control;
pub mod drift;
pub mod error;
pub mod extract;
pub mod generation;
pub mod invoke;
pub mod listener;
pub mod metrics;
pub mod oauth;
pub mod openai;
pub mod openapi;
pub mod pool;
pub mod routes;
pub mod state;
pub mod stream;
pub mod tls;

pub use config::ServerConfig;
pub use error::{ApiError, ErrorCode};
pub use routes::{all_routes, router, Access, RouteInfo};
pub use state::{Gateway, Loader};
