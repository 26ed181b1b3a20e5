//! `citadel model …`: acquire models (pull from a hub pinned to a commit, import a folder), scan
//! model files, and show, verify and export stored versions with their signed manifests; the
//! registry's workflow is in [`super::registry`].

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use citadel_core::FullName;
use citadel_hub::client::RepoRef;
use citadel_hub::manifest::{verify_folder, VerifyingKey};
use citadel_hub::scan::FileScan;
use citadel_service::{
    AcquireEvent, AcquireProgress, AcquireReport, ModelVerification, ModelVersionInfo, PullOptions,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::registry::{self, RegistryCommand};
use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Pull a model from a hub, pinned to the commit its revision resolves to, checking every
    /// file's size and hash: `citadel model pull hf://HuggingFaceTB/SmolLM2-135M@main --as
    /// dev.models.smollm2` (CREATE_MODEL on the schema for a new model, MODIFY for a new version).
    Pull {
        /// hf://OWNER/NAME[@REVISION] (revision: a branch, tag or commit; default main).
        source: String,
        /// CATALOG.SCHEMA.NAME
        #[arg(long = "as", value_name = "NAME")]
        name: FullName,
        /// A hub token in the vault, CATALOG.SCHEMA.SCOPE/KEY (READ_SECRET; read at the moment
        /// of use, never stored elsewhere).
        #[arg(long, value_name = "SCOPE/KEY")]
        token_secret: Option<String>,
        /// The hub's https URL [default: config hub.endpoint, $CITADEL_HUB_ENDPOINT, else
        /// https://huggingface.co].
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// A PEM file of extra certificate authorities to trust for the hub [default: config
        /// hub.ca_file, $CITADEL_HUB_CA_FILE].
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Take pickle weights (*.bin, *.pt…) when the scanner finds them clean.
        #[arg(long)]
        allow_pickle: bool,
    },
    /// Import a local model folder with the same policy and scanners as a pull.
    Import {
        dir: PathBuf,
        /// CATALOG.SCHEMA.NAME
        #[arg(long = "as", value_name = "NAME")]
        name: FullName,
        /// Take pickle weights when the scanner finds them clean.
        #[arg(long)]
        allow_pickle: bool,
    },
    /// Scan a model file or folder: safetensors headers, pickle imports (also inside PyTorch zip
    /// files), code and remote-code configs. Exits non-zero when something is dangerous.
    Scan { path: PathBuf },
    /// Show a stored version: NAME (latest) or NAME@N (SELECT).
    Show { spec: String },
    /// List a model's versions, oldest first (SELECT).
    Versions { name: FullName },
    /// Re-hash every stored byte of a version and check its signed manifest (SELECT); or, with
    /// --folder, check an exported folder against a public key (no home needed).
    Verify {
        /// NAME or NAME@N.
        #[arg(required_unless_present = "folder")]
        spec: Option<String>,
        /// An exported folder to verify instead (its model.sig).
        #[arg(
            long,
            value_name = "DIR",
            requires = "public_key",
            conflicts_with = "spec"
        )]
        folder: Option<PathBuf>,
        /// The PEM public key that must have signed the folder (obtained from its publisher,
        /// not from the folder itself).
        #[arg(long, value_name = "PEM")]
        public_key: Option<PathBuf>,
    },
    /// Write a verified version to a new folder with model.sig and model.pub.pem, for a third
    /// party to verify (SELECT).
    Export { spec: String, dir: PathBuf },
    #[command(flatten)]
    Registry(RegistryCommand),
}

pub async fn run(global: &GlobalArgs, command: ModelCommand) -> anyhow::Result<()> {
    if let ModelCommand::Verify {
        folder: Some(folder),
        public_key: Some(public_key),
        ..
    } = &command
    {
        return verify_exported(global.json, folder, public_key);
    }
    let json = global.json;
    session::with_context(global, |citadel, ctx| async move {
        match command {
            ModelCommand::Registry(command) => registry::run(&citadel, &ctx, json, command).await,
            ModelCommand::Pull {
                source,
                name,
                token_secret,
                endpoint,
                ca_file,
                allow_pickle,
            } => {
                let repo = RepoRef::parse(&source)?;
                let options = PullOptions {
                    token_secret,
                    endpoint,
                    ca_file,
                    allow_pickle,
                };
                let (bar, progress) = progress_bar(json);
                let report = citadel
                    .pull_model(&ctx, &repo, &name, &options, Some(progress))
                    .await;
                bar.finish_and_clear();
                print_acquired(json, &report?)
            }
            ModelCommand::Import {
                dir,
                name,
                allow_pickle,
            } => {
                let (bar, progress) = progress_bar(json);
                let report = citadel
                    .import_model(&ctx, &dir, &name, allow_pickle, Some(progress))
                    .await;
                bar.finish_and_clear();
                print_acquired(json, &report?)
            }
            ModelCommand::Scan { path } => {
                let report = citadel.scan_model_path(&ctx, &path).await?;
                if json {
                    output::json(&report)?;
                } else {
                    print_scans(&report.files);
                }
                let dangerous = report
                    .files
                    .iter()
                    .filter(|f| f.verdict.is_dangerous())
                    .count();
                if dangerous > 0 {
                    anyhow::bail!("{dangerous} dangerous file(s) in {}", path.display());
                }
                Ok(())
            }
            ModelCommand::Show { spec } => {
                let version = citadel.show_model_version(&ctx, &spec).await?;
                if json {
                    return output::json(&version);
                }
                print_version(&version);
                Ok(())
            }
            ModelCommand::Versions { name } => {
                let versions = citadel.list_model_versions(&ctx, &name).await?;
                if json {
                    return output::json(&versions);
                }
                output::table(
                    [
                        "version", "status", "aliases", "files", "size", "source", "scan",
                        "created", "by",
                    ],
                    versions.iter().map(|v| {
                        [
                            v.version.to_string(),
                            v.status.clone(),
                            v.aliases.join(", "),
                            v.files.len().to_string(),
                            human_bytes(v.size),
                            source_label(&v.source),
                            v.scan_verdict.clone(),
                            output::time(v.created_at),
                            v.created_by.clone(),
                        ]
                    }),
                );
                Ok(())
            }
            ModelCommand::Verify { spec, .. } => {
                let spec = spec.context("name a version to verify: NAME@N")?;
                let report = citadel.verify_model(&ctx, &spec).await?;
                print_verification(json, &report)?;
                if !report.ok() {
                    return Err(citadel_service::Error::ModelTampered {
                        model: format!("{}@{}", report.model, report.version),
                        problems: report.problems.join("; "),
                    }
                    .into());
                }
                Ok(())
            }
            ModelCommand::Export { spec, dir } => {
                let version = citadel.export_model(&ctx, &spec, &dir).await?;
                if json {
                    return output::json(&json!({ "exported": version, "dir": dir }));
                }
                println!(
                    "exported {}@{} ({} files, {}) to {}",
                    version.model,
                    version.version,
                    version.files.len(),
                    human_bytes(version.size),
                    dir.display()
                );
                println!(
                    "verify it with: citadel model verify --folder {} --public-key {}/model.pub.pem",
                    dir.display(),
                    dir.display()
                );
                Ok(())
            }
        }
    })
    .await
}

/// Verifies an exported folder against a public key, without a home.
fn verify_exported(
    json: bool,
    folder: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(key)
        .with_context(|| format!("cannot read the public key {}", key.display()))?;
    let key = VerifyingKey::from_pem(&pem)?;
    let manifest = verify_folder(folder, &key).map_err(citadel_service::Error::from)?;
    if json {
        return output::json(&json!({
            "ok": true,
            "model": manifest.model,
            "key_id": key.key_id(),
            "files": manifest.files,
            "source": manifest.source,
        }));
    }
    println!(
        "ok: {} files of {} match the manifest signed by key {}",
        manifest.files.len(),
        manifest.model,
        key.key_id()
    );
    Ok(())
}

fn progress_bar(hidden: bool) -> (ProgressBar, AcquireProgress) {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {msg:24!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let handle = bar.clone();
    let progress: AcquireProgress = Arc::new(move |event| match event {
        AcquireEvent::Planned { bytes, .. } => handle.set_length(bytes),
        AcquireEvent::File { path, .. } => handle.set_message(path),
        AcquireEvent::Bytes(n) => handle.inc(n),
    });
    (bar, progress)
}

fn print_acquired(json: bool, report: &AcquireReport) -> anyhow::Result<()> {
    if json {
        return output::json(report);
    }
    print_version(&report.version);
    if !report.skipped.is_empty() {
        println!("left out:");
        output::table(
            ["file", "why"],
            report
                .skipped
                .iter()
                .map(|s| [s.path.clone(), s.reason.clone()]),
        );
    }
    Ok(())
}

fn print_version(version: &ModelVersionInfo) {
    println!(
        "{}@{}: {} files, {}, scan {}, signed by {}",
        version.model,
        version.version,
        version.files.len(),
        human_bytes(version.size),
        version.scan_verdict,
        version.signed_by
    );
    println!("source: {}", source_label(&version.source));
    println!(
        "status: {}{}",
        version.status,
        version
            .status_reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    if !version.aliases.is_empty() {
        println!("aliases: {}", version.aliases.join(", "));
    }
    println!("manifest digest: sha256:{}", version.root_digest);
    output::table(
        ["file", "size", "sha256"],
        version
            .files
            .iter()
            .map(|f| [f.path.clone(), human_bytes(f.size), f.sha256.clone()]),
    );
}

fn print_scans(files: &[FileScan]) {
    output::table(
        ["file", "format", "verdict", "findings"],
        files.iter().map(|f| {
            let findings = f
                .findings
                .iter()
                .map(|finding| {
                    format!(
                        "{:?} {}: {}",
                        finding.severity, finding.rule, finding.message
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            [
                f.path.clone(),
                format!("{:?}", f.format),
                f.verdict.as_str().to_owned(),
                if findings.is_empty() {
                    "-".to_owned()
                } else {
                    findings
                },
            ]
        }),
    );
}

fn print_verification(json: bool, report: &ModelVerification) -> anyhow::Result<()> {
    if json {
        return output::json(&json!({ "ok": report.ok(), "report": report }));
    }
    if report.ok() {
        println!(
            "ok: {}@{}: signature by key {} valid, {} files ({}) re-hashed and match",
            report.model,
            report.version,
            report.key_id,
            report.files_checked,
            human_bytes(report.bytes_checked)
        );
    } else {
        println!("FAILED: {}@{}", report.model, report.version);
        for problem in &report.problems {
            println!("  - {problem}");
        }
    }
    Ok(())
}

/// `hf://repo@commit12` or the local path a version came from.
fn source_label(source: &serde_json::Value) -> String {
    let text = |key: &str| source.get(key).and_then(|v| v.as_str()).unwrap_or("");
    match text("kind") {
        "hub" => format!(
            "hf://{}@{}",
            text("repo"),
            text("commit").get(..12).unwrap_or("")
        ),
        "training" => format!("run {} on {}", text("run"), text("base")),
        "promotion" => format!("promoted from {}", text("from")),
        _ => text("path").to_owned(),
    }
}

fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
