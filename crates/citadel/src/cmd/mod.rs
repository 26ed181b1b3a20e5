//! Command definitions and dispatch. Each command group lives in its own module; this one parses
//! the global options, runs the command and maps failures to documented exit codes.

pub mod alerts;
pub mod artifact;
pub mod audit;
pub mod batch;
pub mod bench_engine;
pub mod bench_gateway;
pub mod bench_pii;
pub mod bench_store;
pub mod catalog;
pub mod compliance;
pub mod data;
pub mod doctor;
pub mod endpoint;
pub mod endpoint_logs;
pub mod finetune;
pub mod generate;
pub mod grant;
pub mod init;
pub mod keys;
pub mod logging;
pub mod malloc;
pub mod model;
pub mod monitor;
pub mod monitor_drift;
pub mod oauth;
pub mod output;
pub mod pipeline;
pub mod principal;
pub mod quickstart;
pub mod registry;
pub mod run;
pub mod sbom;
pub mod scan;
pub mod scan_secrets;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod token;
pub mod whoami;

use std::path::PathBuf;
use std::process::ExitCode;

use citadel_service::ErrorKind;
use clap::{Args, Parser, Subcommand};

/// Citadel: a secure, self-hosted pipeline for fine-tuning and serving large language models.
///
/// Every command runs as the principal of a personal access token taken from `--token`,
/// `$CITADEL_TOKEN` or the home's credentials file, except those that touch no home: `init`,
/// `keys generate`, `scan deps`, `scan secrets`, `sbom` (of the binary) and `model verify
/// --folder`, which read only the files they are given (so CI can run them).
///
/// Exit codes: 0 success, 1 failure, 2 not authenticated, 3 permission denied, 4 invalid input
/// or not found, 5 integrity failure (tampered artifact or audit log).
#[derive(Debug, Parser)]
#[command(name = "citadel", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The Citadel home folder [default: $CITADEL_HOME, else ./.citadel].
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The personal access token to act with [default: $CITADEL_TOKEN, else the home's
    /// credentials file]. Prefer the environment: arguments show in process lists.
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new Citadel home: config, keys, database, catalogs, groups and an admin.
    Init(init::InitArgs),
    /// Show who the current token belongs to.
    Whoami,
    /// Create and list users, groups and service principals.
    #[command(subcommand)]
    Principal(principal::PrincipalCommand),
    /// Manage group membership.
    #[command(subcommand)]
    Group(principal::GroupCommand),
    /// Create, list and revoke personal access tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// OAuth client credentials for service principals, access tokens (JWTs) from them, and
    /// the rotation of their signing key.
    #[command(subcommand)]
    Oauth(oauth::OAuthCommand),
    /// Grant a privilege: `citadel grant SELECT ON schema dev.data TO alice`.
    Grant(grant::GrantArgs),
    /// Revoke a privilege: `citadel revoke SELECT ON schema dev.data FROM alice`.
    Revoke(grant::RevokeArgs),
    /// Show grants on a securable.
    #[command(subcommand)]
    Grants(grant::GrantsCommand),
    /// Create and list catalogs.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Create and list schemas.
    #[command(subcommand)]
    Schema(catalog::SchemaCommand),
    /// Store, fetch and list encrypted artifacts (admins).
    #[command(subcommand)]
    Artifact(artifact::ArtifactCommand),
    /// Datasets: versioned and encrypted, PII-scanned, masked on read, retained and erased.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Models: pull from a hub (pinned, hash-verified), import, scan, show, verify and export.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Serving endpoints: pinned model versions, traffic splits, guardrails and limits, with
    /// every revision kept for rollback.
    #[command(subcommand)]
    Endpoint(endpoint::EndpointCommand),
    /// Secret scopes and versioned, encrypted secrets (values never on the command line).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// The key-encryption key: status, rotation, and new keys for CITADEL_MASTER_KEY.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Alerts from the alert rules (brute force, errors, latency, drift, dangerous models,
    /// denied access): list, acknowledge, silence, show the rules, evaluate now.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Query, verify and export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The compliance report: controls checked against the home's state and activity, as
    /// Markdown, HTML with charts, or JSON.
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Monitors over endpoint traffic: drift against a baseline.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
    /// Generate text with a local model folder (and optionally a PEFT adapter).
    Generate(generate::GenerateArgs),
    /// Fine-tune a local model folder with LoRA on a JSONL dataset.
    Finetune(finetune::FinetuneArgs),
    /// Scan files for personal data and secrets.
    #[command(subcommand)]
    Scan(scan::ScanCommand),
    /// Check the runtime posture (root, key and credential file modes, key age, tokens near
    /// expiry, audit chain) and say how to fix each finding. Exits 1 when something fails.
    Doctor,
    /// Software bill of materials: this binary's (CycloneDX 1.6 or SPDX 2.3) or a model
    /// version's AI-BOM.
    Sbom(sbom::SbomArgs),
    /// Tracked training runs: list, show (with loss curves), compare.
    #[command(subcommand)]
    Run(run::RunCommand),
    /// Run a fine-tuning pipeline file: base model → datasets → training → evaluation → gates →
    /// registration → alias.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Offline batch inference: a registered model over a dataset's rows, stored with the
    /// predictions as a new dataset version.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Print a version's lineage: datasets → run → version → promoted copies → aliases.
    Lineage {
        /// NAME@VERSION or NAME@ALIAS.
        spec: String,
    },
    /// The whole governed story, offline, in a fresh home: people and grants, a vaulted hub
    /// token, a verified base model, PII scanned and anonymized, LoRA fine-tuning with gates,
    /// registration, separation of duties, promotion to prod, the audit log verified.
    Quickstart(quickstart::QuickstartArgs),
    /// Serve the OpenAI-compatible gateway and the control API over TLS.
    Serve(serve::ServeArgs),
    /// Check that a running gateway answers /healthz over TLS (for container health checks).
    Health(serve::HealthArgs),
    /// Local TLS material for development: `citadel tls init`.
    #[command(subcommand)]
    Tls(serve::TlsCommand),
    /// Benchmarks that print their figures.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Artifact write/read throughput and audit append rate.
    Store(bench_store::BenchStoreArgs),
    /// Training and generation throughput of the engine.
    Engine(bench_engine::BenchEngineArgs),
    /// Latency the gateway adds at a fixed rate over TLS, and errors and memory under load.
    Gateway(bench_gateway::BenchGatewayArgs),
    /// PII analyzer throughput, and precision and recall on a generated labeled corpus.
    Pii(bench_pii::BenchPiiArgs),
    /// Secret-scan throughput on a synthetic source tree.
    Scan(scan_secrets::BenchScanArgs),
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let Cli { global, command } = cli;
    if matches!(
        command,
        Command::Finetune(_)
            | Command::Pipeline(_)
            | Command::Quickstart(_)
            | Command::Bench(BenchCommand::Engine(_))
    ) {
        if let Err(err) = malloc::relaunch_for_training() {
            eprintln!("error: {}", output::one_line(&err));
            return ExitCode::FAILURE;
        }
    }
    let result = match command {
        Command::Generate(args) => session::authenticated_sync(&global, |_| generate::run(args)),
        Command::Finetune(args) => finetune::run(&global, args),
        Command::Bench(BenchCommand::Engine(args)) => {
            session::authenticated_sync(&global, |_| bench_engine::run(args))
        }
        Command::Scan(scan::ScanCommand::Pii(args)) => {
            session::authenticated_sync(&global, |_| scan::run(global.json, args))
        }
        Command::Scan(scan::ScanCommand::Deps(args)) => sbom::run_scan_deps(global.json, args),
        Command::Scan(scan::ScanCommand::Secrets(args)) => scan_secrets::run(global.json, args),
        Command::Bench(BenchCommand::Scan(args)) => scan_secrets::run_bench(global.json, args),
        Command::Tls(cmd) => serve::run_tls(&global, cmd),
        Command::Bench(BenchCommand::Pii(args)) => {
            session::authenticated_sync(&global, |_| bench_pii::run(global.json, args))
        }
        command => session::block_on(dispatch(global, command)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let kind = err
                .downcast_ref::<citadel_service::Error>()
                .map(|e| e.kind());
            eprintln!("error: {}", output::one_line(&err));
            ExitCode::from(exit_code(kind))
        }
    }
}

async fn dispatch(global: GlobalArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => init::run(&global, args).await,
        Command::Whoami => whoami::run(&global).await,
        Command::Principal(cmd) => principal::run(&global, cmd).await,
        Command::Group(cmd) => principal::run_group(&global, cmd).await,
        Command::Token(cmd) => token::run(&global, cmd).await,
        Command::Oauth(cmd) => oauth::run(&global, cmd).await,
        Command::Grant(args) => grant::run_grant(&global, args).await,
        Command::Revoke(args) => grant::run_revoke(&global, args).await,
        Command::Grants(cmd) => grant::run_grants(&global, cmd).await,
        Command::Catalog(cmd) => catalog::run_catalog(&global, cmd).await,
        Command::Schema(cmd) => catalog::run_schema(&global, cmd).await,
        Command::Artifact(cmd) => artifact::run(&global, cmd).await,
        Command::Alerts(cmd) => alerts::run(&global, cmd).await,
        Command::Audit(cmd) => audit::run(&global, cmd).await,
        Command::Compliance(cmd) => compliance::run(&global, cmd).await,
        Command::Monitor(cmd) => monitor::run(&global, cmd).await,
        Command::Secrets(cmd) => secrets::run(&global, cmd).await,
        Command::Data(cmd) => data::run(&global, cmd).await,
        Command::Model(cmd) => model::run(&global, cmd).await,
        Command::Endpoint(cmd) => endpoint::run(&global, cmd).await,
        Command::Doctor => doctor::run(&global).await,
        Command::Sbom(args) => sbom::run_sbom(&global, args).await,
        Command::Keys(cmd) => keys::run(&global, cmd).await,
        Command::Bench(BenchCommand::Store(args)) => bench_store::run(&global, args).await,
        Command::Bench(BenchCommand::Gateway(args)) => bench_gateway::run(&global, args).await,
        Command::Run(cmd) => {
            let json = global.json;
            session::with_context(&global, |citadel, ctx| async move {
                run::run(&citadel, &ctx, json, cmd).await
            })
            .await
        }
        Command::Pipeline(cmd) => {
            let json = global.json;
            session::with_context(&global, |citadel, ctx| async move {
                pipeline::run(&citadel, &ctx, json, cmd).await
            })
            .await
        }
        Command::Batch(cmd) => batch::run(&global, cmd).await,
        Command::Quickstart(args) => quickstart::run(&global, args).await,
        Command::Serve(args) => serve::run(&global, args).await,
        Command::Health(args) => serve::run_health(&global, args).await,
        Command::Lineage { spec } => {
            let json = global.json;
            session::with_context(&global, |citadel, ctx| async move {
                registry::run_lineage(&citadel, &ctx, json, &spec).await
            })
            .await
        }
        Command::Generate(_)
        | Command::Finetune(_)
        | Command::Tls(_)
        | Command::Scan(_)
        | Command::Bench(BenchCommand::Engine(_) | BenchCommand::Pii(_) | BenchCommand::Scan(_)) => {
            unreachable_sync_command()
        }
    }
}

/// The engine commands are synchronous and dispatched before the runtime starts.
fn unreachable_sync_command() -> anyhow::Result<()> {
    anyhow::bail!("internal error: a synchronous command reached the async dispatcher")
}

/// The documented exit codes (see `citadel --help`).
fn exit_code(kind: Option<ErrorKind>) -> u8 {
    match kind {
        Some(ErrorKind::Unauthenticated) => 2,
        Some(ErrorKind::PermissionDenied) => 3,
        Some(ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::AlreadyExists) => 4,
        Some(ErrorKind::Integrity) => 5,
        Some(ErrorKind::Internal) | None => 1,
    }
}
