//! `citadel sbom` and `citadel scan deps`: the binary's own bill of materials (its Cargo.lock,
//! embedded at build time) in CycloneDX 1.6 or SPDX 2.3, a model version's AI-BOM, and matching
//! components against an offline OSV database.

use std::path::PathBuf;

use anyhow::Context as _;
use citadel_scan::osv::{OsvDatabase, Severity, Vulnerability};
use citadel_scan::sbom::{
    cyclonedx, model_bom, parse_sbom_components, spdx, Component, Inventory, ModelBomInput,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{output, session, GlobalArgs};

/// The workspace's lock file, compiled in: the binary's dependency graph.
const CARGO_LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"));

/// Bill of materials formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormat {
    Cyclonedx,
    Spdx,
}

/// Print a software bill of materials: the Citadel binary's dependencies, or with --model a
/// model version's AI-BOM (CycloneDX `machine-learning-model`; SELECT on the model).
#[derive(Debug, clap::Args)]
pub struct SbomArgs {
    /// A stored model version, NAME@N, instead of the binary.
    #[arg(long, value_name = "NAME@V")]
    pub model: Option<String>,
    #[arg(long, value_enum, default_value = "cyclonedx")]
    pub format: SbomFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Match components against an offline OSV database: `DIR/<ecosystem>/all.zip` as osv-scanner
/// lays it out (https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip).
#[derive(Debug, clap::Args)]
pub struct ScanDepsArgs {
    /// A CycloneDX or SPDX JSON SBOM to check [default: this binary's own dependencies].
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
    /// The OSV database folder.
    #[arg(long, value_name = "DIR")]
    pub osv: PathBuf,
    /// Exit 1 when a vulnerability of this severity or worse is found.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub fail_on: Severity,
}

/// The binary's inventory, from the embedded lock file.
fn own_inventory() -> anyhow::Result<Inventory> {
    Ok(Inventory::from_cargo_lock(CARGO_LOCK, "citadel")?)
}

fn now() -> anyhow::Result<String> {
    Ok(OffsetDateTime::now_utc().format(&Rfc3339)?)
}

pub async fn run_sbom(global: &GlobalArgs, args: SbomArgs) -> anyhow::Result<()> {
    let serial = uuid::Uuid::new_v4().to_string();
    let document = match &args.model {
        None => {
            let inventory = own_inventory()?;
            match args.format {
                SbomFormat::Cyclonedx => cyclonedx(&inventory, &serial, &now()?),
                SbomFormat::Spdx => spdx(&inventory, &serial, &now()?),
            }
        }
        Some(spec) => {
            if args.format == SbomFormat::Spdx {
                anyhow::bail!("model AI-BOMs are CycloneDX only (SPDX 2.3 has no AI profile)");
            }
            let spec = spec.clone();
            let (version, stored) = session::with_context(global, |citadel, ctx| async move {
                let version = citadel.show_model_version(&ctx, &spec).await?;
                // Trained and promoted versions carry the BOM registered with them.
                let stored = match citadel.model_bom(&ctx, &spec).await {
                    Ok(bom) => Some(bom),
                    Err(citadel_service::Error::NotFound { .. }) => None,
                    Err(err) => return Err(err.into()),
                };
                Ok((version, stored))
            })
            .await?;
            if let Some(bom) = stored {
                return write_document(&args, &bom);
            }
            let input = ModelBomInput {
                name: version.model.clone(),
                version: version.version.to_string(),
                files: version
                    .files
                    .iter()
                    .map(|f| (f.path.clone(), f.sha256.clone(), f.size))
                    .collect(),
                source: version.source.clone(),
                architecture: None,
                datasets: Vec::new(),
                signed_by: Some(version.signed_by.clone()),
                citadel_version: env!("CARGO_PKG_VERSION").to_owned(),
                ..ModelBomInput::default()
            };
            model_bom(&input, &serial, &now()?)
        }
    };
    write_document(&args, &document)
}

/// Writes a document to `--output`, or prints it.
fn write_document(args: &SbomArgs, document: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(document)?;
    match &args.output {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => output::print_text(&text)?,
    }
    Ok(())
}

pub fn run_scan_deps(json: bool, args: ScanDepsArgs) -> anyhow::Result<()> {
    let components: Vec<Component> = match &args.sbom {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let document: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            parse_sbom_components(&document)?
        }
        None => {
            let inventory = own_inventory()?;
            std::iter::once(inventory.root)
                .chain(inventory.components)
                .collect()
        }
    };
    let database = OsvDatabase::load(&args.osv)?;
    let found: Vec<Vulnerability> = components
        .iter()
        .flat_map(|c| database.matches(c))
        .collect();
    let failing = found.iter().filter(|v| v.severity >= args.fail_on).count();
    if json {
        output::json(&json!({
            "components": components.len(),
            "advisories": database.advisories(),
            "withdrawn_skipped": database.withdrawn(),
            "vulnerabilities": found,
            "fail_on": args.fail_on,
            "failing": failing,
        }))?;
    } else {
        println!(
            "{} components checked against {} advisories ({} withdrawn skipped)",
            components.len(),
            database.advisories(),
            database.withdrawn()
        );
        output::table(
            [
                "id", "package", "version", "severity", "fixed in", "summary",
            ],
            found.iter().map(|v| {
                [
                    v.id.clone(),
                    v.package.clone(),
                    v.version.clone(),
                    match v.cvss_score {
                        Some(score) => format!("{} ({score:.1})", v.severity.as_str()),
                        None => v.severity.as_str().to_owned(),
                    },
                    v.fixed_in.join(", "),
                    v.summary.clone(),
                ]
            }),
        );
    }
    if failing > 0 {
        anyhow::bail!(
            "{failing} vulnerabilit{} at or above {}",
            if failing == 1 { "y" } else { "ies" },
            args.fail_on.as_str()
        );
    }
    Ok(())
}
