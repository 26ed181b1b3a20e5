//! Software bills of materials: the Citadel binary's dependency inventory (from the Cargo.lock it
//! was built with) as CycloneDX 1.6 or SPDX 2.3 JSON, a model version's AI-BOM (CycloneDX 1.6
//! `machine-learning-model`), and reading components back from either format for `scan deps`.
//!
//! Documents are built as `serde_json::Value`s; the caller chooses the serial number or namespace
//! UUID and the timestamp, so the same inputs always give the same document.

mod cargo_lock;
mod cyclonedx;
mod model;
mod parse;
mod purl;
mod spdx;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use cyclonedx::cyclonedx;
pub use model::model_bom;
pub use parse::parse_sbom_components;
pub use spdx::spdx;

/// One package of an inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// The package's name in its ecosystem (PyPI names as written in the purl, Maven names as
    /// `group:artifact`, npm scoped names as `@scope/name`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its OSV ecosystem (`crates.io`, `PyPI`, `npm`…).
    pub ecosystem: String,
    /// Its package URL (`pkg:cargo/name@version`), the component's identity in documents.
    pub purl: String,
    /// Its license as an SPDX expression, when known (a Cargo.lock does not record licenses).
    pub license: Option<String>,
    /// Where it came from: for Cargo packages the registry's index URL
    /// (`https://github.com/rust-lang/crates.io-index`, `sparse+https://…`) or the git source
    /// (`git+https://…#commit`); `None` for path and workspace packages (a Cargo.lock records no
    /// path).
    pub source: Option<String>,
    /// The SHA-256 of its distribution (a `.crate` file), lowercase hex, when known.
    pub checksum_sha256: Option<String>,
    /// The purls of its direct dependencies, sorted.
    pub dependencies: Vec<String>,
}

/// A root package and everything it depends on, directly or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The package the document describes (for Citadel's own SBOM: the `citadel` binary).
    pub root: Component,
    /// Every other reachable package, sorted by name then version.
    pub components: Vec<Component>,
}

/// What the registry knows about a model version, for its AI-BOM.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelBomInput {
    /// The model's full name.
    pub name: String,
    /// The model version.
    pub version: String,
    /// Its files: path, SHA-256 (hex), size in bytes.
    pub files: Vec<(String, String, u64)>,
    /// Where it came from (e.g. a hub repository and commit); recorded as properties. A `task`
    /// or `pipeline_tag` string in it becomes the model card's task.
    pub source: serde_json::Value,
    /// The architecture family (`llama`, `gpt2`…).
    pub architecture: Option<String>,
    /// The datasets it was trained or fine-tuned on.
    pub datasets: Vec<DatasetRef>,
    /// Who signed the version, when it is signed.
    pub signed_by: Option<String>,
    /// The version of Citadel writing the document.
    pub citadel_version: String,
    /// The registered model it was fine-tuned from.
    #[serde(default)]
    pub base_model: Option<BaseModelRef>,
    /// Its tokenizer file: path and SHA-256 (hex).
    #[serde(default)]
    pub tokenizer: Option<(String, String)>,
    /// Held-out evaluation results.
    #[serde(default)]
    pub metrics: Vec<BomMetric>,
    /// What the model is for.
    #[serde(default)]
    pub intended_use: Option<String>,
    /// What it should not be trusted with.
    #[serde(default)]
    pub limitations: Vec<String>,
}

/// The registered model a version was fine-tuned from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaseModelRef {
    /// The base model's full name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it came from (`hf://org/repo@commit`, `folder /path`).
    pub source: String,
    /// The SHA-256 root digest of its files (hex), when known.
    #[serde(default)]
    pub root_digest: Option<String>,
}

/// One evaluation result of a model version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BomMetric {
    /// What was measured (`loss`, `perplexity`…).
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// The data it was measured on (e.g. a dataset version), when not the whole evaluation set.
    #[serde(default)]
    pub slice: Option<String>,
}

/// A dataset version a model was trained on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DatasetRef {
    /// The dataset's full name.
    pub name: String,
    /// The dataset version.
    pub version: String,
    /// The SHA-256 of its stored rows, when known.
    pub sha256: Option<String>,
    /// How personal data in it was handled (e.g. "scanned; emails masked").
    pub pii_handling: Option<String>,
}

/// Where a Cargo package came from, from its [`Component::source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source<'a> {
    /// crates.io, through either index protocol.
    CratesIo,
    /// Another registry, by its index URL.
    Registry(&'a str),
    /// A git repository (`git+https://…?rev#commit`).
    Git(&'a str),
    /// A path or workspace package, or an unknown source.
    Local,
}

/// The crates.io index, as Cargo.lock files name it (the `registry+` prefix removed).
const CRATES_IO_GIT_INDEX: &str = "https://github.com/rust-lang/crates.io-index";
/// The crates.io sparse index.
const CRATES_IO_SPARSE_INDEX: &str = "sparse+https://index.crates.io/";

impl<'a> Source<'a> {
    fn of(source: Option<&'a str>) -> Self {
        match source {
            None => Self::Local,
            Some(CRATES_IO_GIT_INDEX | CRATES_IO_SPARSE_INDEX) => Self::CratesIo,
            Some(git) if git.starts_with("git+") => Self::Git(git),
            Some(registry) if registry.contains("://") => Self::Registry(registry),
            Some(_) => Self::Local,
        }
    }
}

/// A lowercase SHA-256 hex digest, or `None` when `value` is not one (documents only carry
/// well-formed hashes).
fn sha256_hex(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

/// A license as an SPDX expression: Cargo's legacy `MIT/Apache-2.0` becomes `MIT OR Apache-2.0`.
fn license_expression(license: &str) -> String {
    if license.contains('/') {
        license
            .split('/')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" OR ")
    } else {
        license.trim().to_owned()
    }
}

/// The crates.io download URL of a crate version.
fn crates_io_download(name: &str, version: &str) -> String {
    format!(
        "https://crates.io/api/v1/crates/{}/{}/download",
        purl::encode(name),
        purl::encode(version)
    )
}
