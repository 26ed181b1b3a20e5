//! Model versions: registering what acquisition stored (signed manifest, files, artifacts) in one
//! audited transaction, and showing, verifying and exporting versions. Acquisition itself (pull
//! and import) is in [`crate::acquire`].

use std::path::Path;

use citadel_blob::ArtifactRef;
use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_data::{select, split_name_selector, VersionInfo, VersionSelector};
use citadel_hub::manifest::{
    bundle, Envelope, Manifest, ManifestFile, Source, PUBLIC_KEY_FILE, SIGNATURE_FILE,
};
use citadel_hub::scan::{FileScan, Verdict};
use citadel_store::{ModelFileRecord, ModelVersionRecord, Securable, VersionRegistry};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::datasets::json_error;
use crate::securable_ref::create_in_schema;
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// One file of a model version.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelFileInfo {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A model version as shown to people and programs.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelVersionInfo {
    pub model: String,
    pub version: u32,
    /// Where the files came from (hub repository and commit, or local folder).
    pub source: Value,
    /// The signed manifest's subject digest: SHA-256 over the files' digests.
    pub root_digest: String,
    pub size: u64,
    pub files: Vec<ModelFileInfo>,
    /// `clean`, or `suspicious` when a scanner raised a medium finding.
    pub scan_verdict: String,
    /// The key id of the signature on the manifest.
    pub signed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    /// `pending_review`, `approved`, `rejected` or `archived`.
    pub status: String,
    /// Why it has that status (a rejection's reasons).
    pub status_reason: Option<String>,
    /// Whether its evaluation gates passed (none for acquired versions).
    pub gates_passed: Option<bool>,
    /// The training run that produced it.
    pub run_id: Option<String>,
    /// The version it was promoted from.
    pub promoted_from: Option<String>,
    /// Aliases naming this version.
    pub aliases: Vec<String>,
}

/// What `model verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct ModelVerification {
    pub model: String,
    pub version: u32,
    /// Whether the manifest's signature verified with this instance's key.
    pub signature_valid: bool,
    pub key_id: String,
    pub files_checked: usize,
    pub bytes_checked: u64,
    /// One line per problem, naming the file.
    pub problems: Vec<String>,
}

impl ModelVerification {
    /// Whether everything checked.
    pub fn ok(&self) -> bool {
        self.signature_valid && self.problems.is_empty()
    }
}

/// What registration records besides the files: the registry state, and a function that writes
/// the model card and ML-BOM once the version number and manifest are known.
#[derive(Default)]
pub(crate) struct Registration<'a> {
    pub(crate) registry: VersionRegistry,
    pub(crate) documents: Option<&'a DocumentWriter<'a>>,
}

/// Writes `(card, bom)` for a version number and its manifest.
pub(crate) type DocumentWriter<'a> =
    dyn Fn(u32, &Manifest) -> Result<(String, String)> + Send + Sync + 'a;

/// A file acquisition stored, ready to register.
#[derive(Debug)]
pub(crate) struct StoredFile {
    pub(crate) path: String,
    pub(crate) reference: ArtifactRef,
    pub(crate) scan: FileScan,
}

/// Lets the version selector of `citadel-data` pick model versions.
struct Pickable<'a>(&'a ModelVersionRecord);

impl VersionInfo for Pickable<'_> {
    fn number(&self) -> u32 {
        self.0.version
    }
    fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    fn deleted_at(&self) -> Option<OffsetDateTime> {
        None
    }
}

/// Which version of a model a reference names: a number, `latest`, a time, or an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelSelector {
    Version(VersionSelector),
    Alias(String),
}

/// Parses `catalog.schema.model[@version|@alias]`.
pub(crate) fn parse_model_spec(spec: &str) -> Result<(SecurableRef, ModelSelector)> {
    let (name, selector) = match spec.split_once('@') {
        Some((name, alias)) if is_alias_name(alias) && alias != "latest" => {
            (name, ModelSelector::Alias(alias.to_owned()))
        }
        _ => {
            let (name, selector) = split_name_selector(spec)?;
            (name, ModelSelector::Version(selector))
        }
    };
    let name: FullName = name.parse()?;
    Ok((SecurableRef::new(SecurableKind::Model, name)?, selector))
}

/// Whether `text` can name an alias: a letter, then letters, digits, `_` or `-` (64 at most).
/// Version numbers (`3`, `v3`) cannot be aliases.
pub(crate) fn is_alias_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !(text.starts_with(['v', 'V']) && text[1..].bytes().all(|b| b.is_ascii_digit()))
}

impl Citadel {
    /// Registers stored files as the next version of `target`: artifact rows, the signed
    /// manifest, the version and its files, and the audit event, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn register_model_version(
        &self,
        ctx: &Context,
        action: &'static str,
        target: &SecurableRef,
        source: Source,
        files: Vec<StoredFile>,
        params: Value,
        registration: Registration<'_>,
    ) -> Result<ModelVersionInfo> {
        let (privilege, on) = self
            .create_or_modify_privilege(target, Privilege::CreateModel)
            .await?;
        let mut tx = self
            .begin_authorized(ctx, action, privilege, &on, &params)
            .await?;
        let model = match tx.securable_by_name(&target.db_name()).await? {
            Some(existing) if existing.kind == SecurableKind::Model => existing,
            Some(_) => {
                return Err(Error::AlreadyExists {
                    what: "securable",
                    name: target.label(),
                })
            }
            None => create_in_schema(&mut tx, ctx, target).await?,
        };
        for file in &files {
            self.record_artifact(&mut tx, ctx, &file.reference).await?;
        }
        let version = tx.next_model_version(model.id).await?;
        let created_at = OffsetDateTime::now_utc();
        let manifest = Manifest::new(
            format!("{}@{version}", model.full_name),
            files
                .iter()
                .map(|f| ManifestFile {
                    path: f.path.clone(),
                    sha256: hex_digest(&f.reference.digest).to_owned(),
                    size: f.reference.size,
                })
                .collect(),
            source.clone(),
            created_at
                .format(&Rfc3339)
                .map_err(|_| Error::InvalidInput("cannot format the time".into()))?,
            files.iter().map(|f| f.scan.clone()).collect(),
        );
        let envelope = self.model_key.sign(&manifest)?;
        let verdict = if files.iter().any(|f| f.scan.verdict == Verdict::Suspicious) {
            Verdict::Suspicious
        } else {
            Verdict::Clean
        };
        let record = ModelVersionRecord {
            model_id: model.id,
            version,
            source: serde_json::to_string(&source).map_err(json_error)?,
            envelope: serde_json::to_string(&envelope).map_err(json_error)?,
            root_digest: manifest.root_digest()?,
            size: manifest.files.iter().map(|f| f.size).sum(),
            file_count: u32::try_from(files.len())
                .map_err(|_| Error::InvalidInput("too many files".into()))?,
            scan_verdict: verdict.as_str().to_owned(),
            created_at,
            created_by: Some(ctx.principal.id),
            registry: registration.registry,
        };
        let mut record = record;
        if let Some(documents) = registration.documents {
            let (card, bom) = documents(version, &manifest)?;
            record.registry.card = Some(card).filter(|c| !c.is_empty());
            record.registry.bom = Some(bom).filter(|b| !b.is_empty());
        }
        let rows: Vec<ModelFileRecord> = manifest
            .files
            .iter()
            .map(|f| ModelFileRecord {
                path: f.path.clone(),
                digest: format!("{DIGEST_PREFIX}{}", f.sha256),
                size: f.size,
            })
            .collect();
        tx.insert_model_version(&record, &rows).await?;
        let mut params = params;
        if let Value::Object(map) = &mut params {
            map.insert("version".into(), json!(version));
            map.insert("root_digest".into(), json!(record.root_digest));
            map.insert("files".into(), json!(rows.len()));
            map.insert("size".into(), json!(record.size));
            map.insert("status".into(), json!(record.registry.status));
        }
        tx.commit(
            ctx.event(action)
                .on(target.audit_label())
                .with_params(params),
        )
        .await?;
        self.model_version_info(&model, &record, &rows).await
    }

    /// A model version with its files (`SELECT` on the model).
    pub async fn show_model_version(&self, ctx: &Context, spec: &str) -> Result<ModelVersionInfo> {
        let (target, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, "model.read", Privilege::Select, &target)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        let files = self.store.model_files(model.id, record.version).await?;
        self.model_version_info(&model, &record, &files).await
    }

    /// Every version of a model, oldest first (`SELECT` on the model).
    pub async fn list_model_versions(
        &self,
        ctx: &Context,
        name: &FullName,
    ) -> Result<Vec<ModelVersionInfo>> {
        let target = SecurableRef::new(SecurableKind::Model, name.clone())?;
        self.authorize_read(ctx, "model.read", Privilege::Select, &target)
            .await?;
        let model = self.securable_named(&target).await?;
        let mut out = Vec::new();
        for record in self.store.model_versions(model.id).await? {
            let files = self.store.model_files(model.id, record.version).await?;
            out.push(self.model_version_info(&model, &record, &files).await?);
        }
        Ok(out)
    }

    /// Re-hashes every stored byte of a version and checks the manifest's signature and its
    /// agreement with the stored files (`SELECT` on the model). The outcome is audited.
    pub async fn verify_model(&self, ctx: &Context, spec: &str) -> Result<ModelVerification> {
        const ACTION: &str = "model.verify";
        let (target, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, ACTION, Privilege::Select, &target)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        let report = self.check_model_version(&model, &record).await?;
        let event = ctx
            .event(ACTION)
            .on(target.audit_label())
            .with_params(json!({
                "version": record.version,
                "files": report.files_checked,
                "bytes": report.bytes_checked,
                "signature_valid": report.signature_valid,
            }));
        let event = if report.ok() {
            event
        } else {
            event.failed(report.problems.join("; "))
        };
        self.store.audit(event).await?;
        Ok(report)
    }

    /// Writes a verified version to `dest` (a new or empty folder) with `model.sig` (a Sigstore
    /// bundle around the signed manifest) and `model.pub.pem`, so a third party can verify it
    /// (`citadel model verify --folder`). Needs `SELECT` on the model; audited.
    pub async fn export_model(
        &self,
        ctx: &Context,
        spec: &str,
        dest: &Path,
    ) -> Result<ModelVersionInfo> {
        const ACTION: &str = "model.export";
        let (target, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, ACTION, Privilege::Select, &target)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        let params = json!({ "version": record.version, "dest": dest.display().to_string() });
        let outcome = self.export_version(&model, &record, dest).await;
        let event = ctx
            .event(ACTION)
            .on(target.audit_label())
            .with_params(params);
        let event = match &outcome {
            Ok(_) => event,
            Err(err) => event.failed(err.to_string()),
        };
        self.store.audit(event).await?;
        outcome
    }

    pub(crate) async fn export_version(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
        dest: &Path,
    ) -> Result<ModelVersionInfo> {
        let home_error = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Home {
                path,
                action,
                source,
            }
        };
        if dest.exists()
            && std::fs::read_dir(dest)
                .map_err(home_error("read", dest))?
                .next()
                .is_some()
        {
            return Err(Error::InvalidInput(format!(
                "{} is not empty; choose a new folder",
                dest.display()
            )));
        }
        let check = self.check_model_version(model, record).await?;
        if !check.ok() {
            return Err(Error::ModelTampered {
                model: format!("{}@{}", model.full_name, record.version),
                problems: check.problems.join("; "),
            });
        }
        std::fs::create_dir_all(dest).map_err(home_error("create", dest))?;
        let files = self.store.model_files(model.id, record.version).await?;
        for file in &files {
            // Paths were checked by the file policy on the way in; check again on the way out.
            citadel_hub::files::check_path(&file.path)?;
            let target = dest.join(&file.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(home_error("create", parent))?;
            }
            let reference = self.artifact_reference(&file.digest).await?;
            self.blobs.read_to_path(&reference, &target).await?;
        }
        let envelope: Envelope = serde_json::from_str(&record.envelope).map_err(json_error)?;
        let signature = serde_json::to_vec_pretty(&bundle(&envelope)?).map_err(json_error)?;
        let sig_path = dest.join(SIGNATURE_FILE);
        std::fs::write(&sig_path, signature).map_err(home_error("write", &sig_path))?;
        let key_path = dest.join(PUBLIC_KEY_FILE);
        std::fs::write(&key_path, self.model_key.verifying_key().to_pem())
            .map_err(home_error("write", &key_path))?;
        self.model_version_info(model, record, &files).await
    }

    /// Checks a version's signature, manifest and every stored byte.
    pub(crate) async fn check_model_version(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
    ) -> Result<ModelVerification> {
        let key = self.model_key.verifying_key();
        let mut report = ModelVerification {
            model: model.full_name.clone(),
            version: record.version,
            signature_valid: false,
            key_id: key.key_id(),
            files_checked: 0,
            bytes_checked: 0,
            problems: Vec::new(),
        };
        let rows = self.store.model_files(model.id, record.version).await?;
        let manifest = serde_json::from_str::<Envelope>(&record.envelope)
            .map_err(|e| citadel_hub::HubError::Signature(format!("the envelope: {e}")))
            .and_then(|envelope| key.verify(&envelope));
        match manifest {
            Ok(manifest) => {
                report.signature_valid = true;
                let expected_name = format!("{}@{}", model.full_name, record.version);
                if manifest.model != expected_name {
                    report.problems.push(format!(
                        "the signed manifest is for {}, not {expected_name}",
                        manifest.model
                    ));
                }
                let signed: Vec<(&str, &str, u64)> = manifest
                    .files
                    .iter()
                    .map(|f| (f.path.as_str(), f.sha256.as_str(), f.size))
                    .collect();
                let stored: Vec<(&str, &str, u64)> = rows
                    .iter()
                    .map(|f| (f.path.as_str(), hex_digest(&f.digest), f.size))
                    .collect();
                for file in signed.iter().filter(|f| !stored.contains(f)) {
                    report.problems.push(format!(
                        "{}: the signed manifest lists sha256 {} ({} bytes), the store does not",
                        file.0, file.1, file.2
                    ));
                }
                for file in stored.iter().filter(|f| !signed.contains(f)) {
                    report.problems.push(format!(
                        "{}: stored with sha256 {} but not in the signed manifest",
                        file.0, file.1
                    ));
                }
            }
            Err(err) => report.problems.push(format!("signed manifest: {err}")),
        }
        for file in &rows {
            let checked = async {
                let reference = self.artifact_reference(&file.digest).await?;
                Ok::<_, Error>(
                    self.blobs
                        .copy_to_writer(&reference, &mut tokio::io::sink())
                        .await?,
                )
            }
            .await;
            match checked {
                Ok(bytes) => {
                    report.files_checked += 1;
                    report.bytes_checked += bytes;
                }
                Err(err) => report.problems.push(format!("{}: {err}", file.path)),
            }
        }
        Ok(report)
    }

    pub(crate) async fn load_model_version(
        &self,
        target: &SecurableRef,
        selector: &ModelSelector,
    ) -> Result<(Securable, ModelVersionRecord)> {
        let model = self.securable_named(target).await?;
        let versions = self.store.model_versions(model.id).await?;
        let record = match selector {
            ModelSelector::Version(selector) => {
                let pickable: Vec<Pickable<'_>> = versions.iter().map(Pickable).collect();
                select(&pickable, selector)?.0.clone()
            }
            ModelSelector::Alias(alias) => {
                let aliases = self.store.aliases(model.id).await?;
                let number = aliases
                    .iter()
                    .find(|a| &a.alias == alias)
                    .map(|a| a.version)
                    .ok_or_else(|| Error::NotFound {
                        what: "alias",
                        name: format!("{}@{alias}", target.label()),
                    })?;
                versions
                    .into_iter()
                    .find(|v| v.version == number)
                    .ok_or_else(|| Error::NotFound {
                        what: "model version",
                        name: format!("{}@{number}", target.label()),
                    })?
            }
        };
        Ok((model, record))
    }

    pub(crate) async fn model_version_info(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
        files: &[ModelFileRecord],
    ) -> Result<ModelVersionInfo> {
        let envelope: Envelope = serde_json::from_str(&record.envelope).map_err(json_error)?;
        Ok(ModelVersionInfo {
            model: model.full_name.clone(),
            version: record.version,
            source: serde_json::from_str(&record.source).map_err(json_error)?,
            root_digest: record.root_digest.clone(),
            size: record.size,
            files: files
                .iter()
                .map(|f| ModelFileInfo {
                    path: f.path.clone(),
                    size: f.size,
                    sha256: hex_digest(&f.digest).to_owned(),
                })
                .collect(),
            scan_verdict: record.scan_verdict.clone(),
            signed_by: envelope
                .signatures
                .first()
                .map(|s| s.keyid.clone())
                .unwrap_or_default(),
            created_at: record.created_at,
            created_by: self.principal_label(record.created_by).await?,
            status: record.registry.status.clone(),
            status_reason: record.registry.status_reason.clone(),
            gates_passed: record.registry.gates_passed,
            run_id: record.registry.run_id.clone(),
            promoted_from: record.registry.promoted_from.clone(),
            aliases: self
                .store
                .aliases(model.id)
                .await?
                .into_iter()
                .filter(|a| a.version == record.version)
                .map(|a| a.alias)
                .collect(),
        })
    }
}

/// How artifact digests are written: `sha256:<hex>`.
pub(crate) const DIGEST_PREFIX: &str = "sha256:";

/// The hex part of an artifact digest (manifests list bare hex, as model-signing does).
pub(crate) fn hex_digest(digest: &str) -> &str {
    digest.strip_prefix(DIGEST_PREFIX).unwrap_or(digest)
}
