//! Citadel's service layer: the one place every operation is authenticated, authorized and
//! audited, shared by the CLI and (later) the HTTP server, which stay thin front ends over it.
//!
//! A front end opens a [`Citadel`] on a [`Home`], turns a token into a [`Context`] with
//! [`Citadel::authenticate`], and calls operations with it. Each operation checks its privilege
//! with [`citadel_core::decide`] and writes its audit event in the same database transaction as
//! its change; denied attempts are audited too.

pub mod acquire;
pub mod alerts;
pub mod artifacts;
pub mod audit;
pub mod batch;
pub mod bench;
pub mod bootstrap;
pub mod catalogs;
pub mod compliance;
pub mod config;
pub mod context;
pub mod dataset_lifecycle;
pub mod dataset_rules;
pub mod datasets;
pub mod doctor;
mod documents;
pub mod endpoints;
pub mod env;
pub mod error;
pub mod grants;
pub mod home;
pub mod identities;
pub mod inference_log;
pub mod keys;
pub mod models;
pub mod monitoring;
pub mod oauth;
pub mod pat;
pub mod pipeline;
mod promotion;
pub mod registry;
mod row_io;
pub mod runs;
pub mod secrets;
pub mod securable_ref;
pub mod service;
mod system;
pub mod tokens;
mod training;

pub use acquire::{
    AcquireEvent, AcquireProgress, AcquireReport, PullOptions, ScanReport, SkippedFile,
};
pub use alerts::{AlertInfo, AlertSetup, EvaluationReport, SilenceInfo};
pub use artifacts::ArtifactInfo;
pub use audit::{AuditFilter, AuditVerification, ExportFormat};
pub use batch::{BatchEvent, BatchProgress, BatchReport, BatchRequest, GenerationTotals};
pub use bootstrap::{InitOptions, InitReport, BOOTSTRAP_GROUPS};
pub use catalogs::SecurableInfo;
pub use config::Config;
pub use context::Context;
pub use dataset_lifecycle::{ErasureReport, GcReport};
pub use dataset_rules::{RuleChange, TrainingClearance, WaiverInfo};
pub use datasets::{DatasetInfo, DatasetVersionInfo, Progress, ReadOptions, ReadReport};
pub use endpoints::{
    EndpointChanges, EndpointConfig, EndpointInfo, EndpointRevisionInfo, EndpointSettings,
    InvocableEndpoint, LogPolicy, Payloads, RateLimits, ServingEndpoint, TrafficRoute,
};
pub use error::{Error, ErrorKind, Result};
pub use grants::{GrantInfo, GrantRequest};
pub use home::Home;
pub use identities::PrincipalSummary;
pub use inference_log::{
    ExportReport, InferenceLogConfig, InferenceLogWriter, InferenceRecord, InferenceRoute,
    InferenceStatus, LogFormat, RecordOutcome,
};
pub use keys::{KeyHistoryEntry, KeyStatus, RotationReport};
pub use models::{ModelFileInfo, ModelVerification, ModelVersionInfo};
pub use oauth::{ClientId, ClientInfo, IssuedToken, JwtInfo, SigningKeyInfo};
pub use pipeline::{EvalRow, PipelineEvent, PipelineReport, Stage, StageReport};
pub use registry::{Decision, ModelSummary, TagInfo};
pub use runs::{RunDetail, RunInfo};
pub use secrets::{SecretValue, SecretVersionInfo};
pub use securable_ref::SecurableRef;
pub use service::Citadel;
pub use tokens::{TokenInfo, TokenRequest};
