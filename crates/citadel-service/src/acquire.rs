//! Acquisition: `model pull` from a hub pinned to a commit and `model import` from a folder. Every
//! file passes the file policy, its hash check (pull) and the content scanners before anything is
//! registered; a failure stores nothing and is audited with its reason.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use citadel_blob::{ArtifactRef, IntegrityFailure};
use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_hub::client::{ClientConfig, Download, HubClient, RemoteFile, RepoRef, Snapshot};
use citadel_hub::files::{self, FileRole, PolicyOptions, Selection, MAX_CONFIG_SIZE};
use citadel_hub::local::{self, LocalFile};
use citadel_hub::manifest::Source;
use citadel_hub::scan::{self, FileFormat, FileScan, Finding, Severity, Verdict};
use citadel_hub::HubError;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};

use crate::models::{hex_digest, ModelVersionInfo, Registration, StoredFile, DIGEST_PREFIX};
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// Progress of an acquisition, for progress bars.
#[derive(Debug, Clone)]
pub enum AcquireEvent {
    /// What will be fetched or read.
    Planned { files: usize, bytes: u64 },
    /// A file starts.
    File { path: String, size: u64 },
    /// More bytes of the current file were read.
    Bytes(u64),
}

/// Receives [`AcquireEvent`]s.
pub type AcquireProgress = Arc<dyn Fn(AcquireEvent) + Send + Sync>;

/// Options of `model pull`.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `catalog.schema.scope/key` of a hub token in the vault, read at the moment of use.
    pub token_secret: Option<String>,
    /// The hub (default: config `hub.endpoint`, `$CITADEL_HUB_ENDPOINT`, then Hugging Face).
    pub endpoint: Option<String>,
    /// A PEM file of extra certificate authorities to trust for the hub.
    pub ca_file: Option<PathBuf>,
    /// Take pickle weights (each must scan clean).
    pub allow_pickle: bool,
}

/// A file the policy left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// What a pull or import stored.
#[derive(Debug, Clone, Serialize)]
pub struct AcquireReport {
    pub version: ModelVersionInfo,
    pub skipped: Vec<SkippedFile>,
    pub scans: Vec<FileScan>,
}

/// The outcome of `model scan`: content findings plus the file policy's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub verdict: Verdict,
    pub files: Vec<FileScan>,
}

impl Citadel {
    /// Pulls `repo` pinned to the commit its revision resolves to, checks every file's size and
    /// hash against the hub's listing, scans it, stores it encrypted, and registers it as the
    /// next version of `name` with a signed manifest.
    pub async fn pull_model(
        &self,
        ctx: &Context,
        repo: &RepoRef,
        name: &FullName,
        options: &PullOptions,
        progress: Option<AcquireProgress>,
    ) -> Result<AcquireReport> {
        const ACTION: &str = "model.pull";
        let target = SecurableRef::new(SecurableKind::Model, name.clone())?;
        let (privilege, on) = self
            .create_or_modify_privilege(&target, Privilege::CreateModel)
            .await?;
        // Check before any network work; the commit checks again under the audit lock.
        self.authorize_read(ctx, ACTION, privilege, &on).await?;
        let params = json!({
            "repo": repo.to_string(),
            "allow_pickle": options.allow_pickle,
            "token_secret": options.token_secret,
        });
        let outcome = self.pull_inner(ctx, repo, options, progress).await;
        self.finish_acquisition(ctx, ACTION, &target, params, outcome)
            .await
    }

    /// Imports a local folder with the same policy and scanners as a pull.
    pub async fn import_model(
        &self,
        ctx: &Context,
        dir: &Path,
        name: &FullName,
        allow_pickle: bool,
        progress: Option<AcquireProgress>,
    ) -> Result<AcquireReport> {
        const ACTION: &str = "model.import";
        let target = SecurableRef::new(SecurableKind::Model, name.clone())?;
        let (privilege, on) = self
            .create_or_modify_privilege(&target, Privilege::CreateModel)
            .await?;
        self.authorize_read(ctx, ACTION, privilege, &on).await?;
        let params = json!({ "path": dir.display().to_string(), "allow_pickle": allow_pickle });
        let outcome = self
            .import_inner(dir, PolicyOptions { allow_pickle }, progress)
            .await;
        self.finish_acquisition(ctx, ACTION, &target, params, outcome)
            .await
    }

    /// Scans a file or folder with the content scanners and the file policy. Any authenticated
    /// principal may scan local files; the verdict is audited.
    pub async fn scan_model_path(&self, ctx: &Context, path: &Path) -> Result<ScanReport> {
        const ACTION: &str = "model.scan";
        let owned = path.to_owned();
        let files = tokio::task::spawn_blocking(move || scan_local_path(&owned))
            .await
            .map_err(|e| Error::InvalidInput(format!("the scanner stopped: {e}")))?;
        let event = ctx
            .event(ACTION)
            .with_params(json!({ "path": path.display().to_string() }));
        let files = match files {
            Ok(files) => files,
            Err(err) => {
                self.store.audit(event.failed(err.to_string())).await?;
                return Err(err.into());
            }
        };
        let verdict = overall_verdict(&files);
        let event = event.with_params(json!({
            "path": path.display().to_string(),
            "files": files.len(),
            "verdict": verdict.as_str(),
        }));
        let event = if verdict.is_dangerous() {
            event.failed("dangerous content found".to_owned())
        } else {
            event
        };
        self.store.audit(event).await?;
        Ok(ScanReport { verdict, files })
    }

    /// Registers a successful acquisition, or discards its bytes and audits the failure.
    async fn finish_acquisition(
        &self,
        ctx: &Context,
        action: &'static str,
        target: &SecurableRef,
        params: Value,
        outcome: Result<(Source, Vec<StoredFile>, Vec<SkippedFile>), Failed>,
    ) -> Result<AcquireReport> {
        let (source, stored, skipped) = match outcome {
            Ok(acquired) => acquired,
            Err(failed) => {
                self.discard(&failed.stored).await;
                if !matches!(failed.error, Error::PermissionDenied { .. }) {
                    let event = ctx
                        .event(action)
                        .on(target.audit_label())
                        .with_params(params)
                        .failed(failed.error.to_string());
                    self.store.audit(event).await?;
                }
                return Err(failed.error);
            }
        };
        let scans: Vec<FileScan> = stored.iter().map(|f| f.scan.clone()).collect();
        let references: Vec<ArtifactRef> = stored.iter().map(|f| f.reference.clone()).collect();
        let mut params = params;
        if let (Value::Object(map), Ok(source)) = (&mut params, serde_json::to_value(&source)) {
            map.insert("source".into(), source);
        }
        match self
            .register_model_version(
                ctx,
                action,
                target,
                source,
                stored,
                params,
                Registration::default(),
            )
            .await
        {
            Ok(version) => Ok(AcquireReport {
                version,
                skipped,
                scans,
            }),
            Err(err) => {
                self.discard(&references.iter().collect::<Vec<_>>()).await;
                Err(err)
            }
        }
    }

    /// Deletes bytes an unfinished acquisition wrote, unless a committed row refers to them.
    async fn discard<R: std::borrow::Borrow<ArtifactRef>>(&self, references: &[R]) {
        for reference in references {
            let reference = reference.borrow();
            match self.store.artifact(&reference.digest).await {
                Ok(None) => {
                    if let Err(err) = self.blobs.delete(reference).await {
                        tracing::warn!(digest = %reference.digest, error = %err, "could not remove the bytes of a failed acquisition");
                    }
                }
                Ok(Some(_)) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "could not check a failed acquisition's bytes")
                }
            }
        }
    }

    async fn pull_inner(
        &self,
        ctx: &Context,
        repo: &RepoRef,
        options: &PullOptions,
        progress: Option<AcquireProgress>,
    ) -> Result<(Source, Vec<StoredFile>, Vec<SkippedFile>), Failed> {
        let (client, endpoint) = self.hub_client(ctx, options).await.map_err(Failed::from)?;
        let snapshot = client.resolve(repo).await.map_err(Failed::hub)?;
        let selection = files::select(
            snapshot.files.iter().map(|f| f.path.as_str()),
            PolicyOptions {
                allow_pickle: options.allow_pickle,
            },
        )
        .map_err(Failed::hub)?;
        let mut plan: Vec<(&RemoteFile, FileRole)> = Vec::new();
        for (path, role) in &selection.accepted {
            if let Some(file) = snapshot.files.iter().find(|f| &f.path == path) {
                if files::is_json(path) && file.size > MAX_CONFIG_SIZE {
                    return Err(Failed::hub(HubError::Refused {
                        path: path.clone(),
                        reason: format!("config files are limited to {MAX_CONFIG_SIZE} bytes"),
                    }));
                }
                plan.push((file, *role));
            }
        }
        // Configs first: a remote-code config refuses the model before any weight is fetched.
        plan.sort_by_key(|(file, _)| (!files::is_json(&file.path), file.path.clone()));
        if let Some(progress) = &progress {
            progress(AcquireEvent::Planned {
                files: plan.len(),
                bytes: plan.iter().map(|(f, _)| f.size).sum(),
            });
        }
        let staging = tempfile::Builder::new()
            .prefix("citadel-pull-")
            .tempdir()
            .map_err(|e| Failed::from(Error::InvalidInput(format!("cannot stage a pull: {e}"))))?;
        let mut stored = Vec::new();
        for (file, role) in plan {
            if let Some(progress) = &progress {
                progress(AcquireEvent::File {
                    path: file.path.clone(),
                    size: file.size,
                });
            }
            match self
                .pull_file(
                    &client,
                    &snapshot,
                    file,
                    role,
                    staging.path(),
                    progress.clone(),
                )
                .await
            {
                Ok(file) => stored.push(file),
                Err(error) => return Err(Failed { error, stored }),
            }
        }
        let source = Source::Hub {
            endpoint,
            repo: repo.repo_id(),
            revision: repo.revision.clone(),
            commit: snapshot.commit.clone(),
        };
        Ok((source, stored, skipped_files(selection)))
    }

    /// Builds the hub client (and says which endpoint), reading the token from the vault only
    /// now.
    async fn hub_client(
        &self,
        ctx: &Context,
        options: &PullOptions,
    ) -> Result<(HubClient, String)> {
        let token: Option<SecretString> = match &options.token_secret {
            Some(spec) => {
                let (scope, key) = spec.rsplit_once('/').ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "--token-secret {spec:?}: expected CATALOG.SCHEMA.SCOPE/KEY"
                    ))
                })?;
                let scope: FullName = scope.parse()?;
                Some(self.get_secret(ctx, &scope, key, None).await?.value)
            }
            None => None,
        };
        let ca_file = options
            .ca_file
            .clone()
            .or_else(|| self.config.hub.ca_file.clone());
        let extra_root_pem = match ca_file {
            Some(path) => Some(std::fs::read(&path).map_err(|source| Error::Home {
                path,
                action: "read the hub CA file",
                source,
            })?),
            None => None,
        };
        let endpoint = options
            .endpoint
            .clone()
            .unwrap_or_else(|| self.config.hub.endpoint.clone());
        let client = HubClient::new(ClientConfig {
            endpoint: endpoint.clone(),
            token,
            extra_root_pem,
            ..ClientConfig::default()
        })?;
        Ok((client, endpoint))
    }

    /// Fetches, checks, scans and stores one file.
    async fn pull_file(
        &self,
        client: &HubClient,
        snapshot: &Snapshot,
        file: &RemoteFile,
        role: FileRole,
        staging: &Path,
        progress: Option<AcquireProgress>,
    ) -> Result<StoredFile> {
        let bytes = progress.map(|progress| {
            Arc::new(move |n: u64| progress(AcquireEvent::Bytes(n)))
                as Arc<dyn Fn(u64) + Send + Sync>
        });
        let (reference, scan) = if role == FileRole::Weights {
            // Weights stream straight into the encrypted store; the header is captured on the
            // way for the safetensors checks, so a multi-gigabyte file is read once. The store's
            // content hash is the check against the hub's LFS digest (hashing once): it
            // publishes nothing unless they match.
            let download = client
                .open_for_consumer_check(snapshot, file, bytes)
                .await?;
            let tap = HeaderTap::new(download);
            let captured = tap.state();
            let stored = match &file.lfs_sha256 {
                Some(sha256) => {
                    let expected = format!("{DIGEST_PREFIX}{sha256}");
                    self.blobs.put_reader_expecting(tap, &expected).await
                }
                None => self.blobs.put_reader(tap).await,
            };
            let (prefix, failure) = captured.take();
            if let Some(failure) = failure {
                return Err(failure.into());
            }
            let reference = stored.map_err(|err| match err {
                citadel_blob::Error::Integrity {
                    what: IntegrityFailure::DigestMismatch { expected, actual },
                } => Error::from(HubError::Integrity {
                    path: file.path.clone(),
                    detail: format!("{actual} differs from the hub's listed {expected}"),
                }),
                other => other.into(),
            })?;
            let findings = scan::scan_safetensors_prefix(&prefix, file.size);
            let scan = FileScan {
                path: file.path.clone(),
                format: FileFormat::Safetensors,
                size: file.size,
                verdict: Verdict::from_findings(&findings),
                findings,
            };
            (reference, scan)
        } else {
            // Small files and pickles are staged, scanned whole, then stored.
            let mut download = client.open(snapshot, file, bytes).await?;
            let url = download.url().to_owned();
            let staged = staging.join(format!("file-{}", hex_name(&file.path)));
            let mut out = tokio::fs::File::create(&staged)
                .await
                .map_err(|e| HubError::from_io(e, &url))?;
            tokio::io::copy(&mut download, &mut out)
                .await
                .map_err(|e| HubError::from_io(e, &url))?;
            drop(out);
            self.check_and_store_local(&staged, &file.path).await?
        };
        if scan.verdict.is_dangerous() {
            self.discard(&[&reference]).await;
            return Err(dangerous(&scan).into());
        }
        if let Some(expected) = &file.lfs_sha256 {
            if hex_digest(&reference.digest) != expected {
                self.discard(&[&reference]).await;
                return Err(HubError::Integrity {
                    path: file.path.clone(),
                    detail: format!("stored sha256 {} differs from {expected}", reference.digest),
                }
                .into());
            }
        }
        Ok(StoredFile {
            path: file.path.clone(),
            reference,
            scan,
        })
    }

    /// Scans a local file, checks configs for remote code, and stores it.
    async fn check_and_store_local(
        &self,
        path: &Path,
        name: &str,
    ) -> Result<(ArtifactRef, FileScan)> {
        let owned = path.to_owned();
        let display = name.to_owned();
        let scan = tokio::task::spawn_blocking(move || scan::scan_file(&owned, &display))
            .await
            .map_err(|e| Error::InvalidInput(format!("the scanner stopped: {e}")))??;
        if scan.verdict.is_dangerous() {
            return Err(dangerous(&scan).into());
        }
        if files::is_json(name) {
            let bytes = std::fs::read(path).map_err(|source| Error::Home {
                path: path.to_owned(),
                action: "read",
                source,
            })?;
            files::check_json_config(name, &bytes)?;
        }
        Ok((self.blobs.put_file(path).await?, scan))
    }

    async fn import_inner(
        &self,
        dir: &Path,
        options: PolicyOptions,
        progress: Option<AcquireProgress>,
    ) -> Result<(Source, Vec<StoredFile>, Vec<SkippedFile>), Failed> {
        let listing = local::list_files(dir).map_err(Failed::hub)?;
        let selection = files::select(listing.iter().map(|f| f.relative.as_str()), options)
            .map_err(Failed::hub)?;
        let mut plan: Vec<&LocalFile> = selection
            .accepted
            .iter()
            .filter_map(|(path, _)| listing.iter().find(|f| &f.relative == path))
            .collect();
        plan.sort_by_key(|file| (!files::is_json(&file.relative), file.relative.clone()));
        if let Some(progress) = &progress {
            progress(AcquireEvent::Planned {
                files: plan.len(),
                bytes: plan.iter().map(|f| f.size).sum(),
            });
        }
        let mut stored = Vec::new();
        for file in plan {
            if let Some(progress) = &progress {
                progress(AcquireEvent::File {
                    path: file.relative.clone(),
                    size: file.size,
                });
            }
            if files::is_json(&file.relative) && file.size > MAX_CONFIG_SIZE {
                let error = HubError::Refused {
                    path: file.relative.clone(),
                    reason: format!("config files are limited to {MAX_CONFIG_SIZE} bytes"),
                };
                return Err(Failed {
                    error: error.into(),
                    stored,
                });
            }
            match self.check_and_store_local(&file.path, &file.relative).await {
                Ok((reference, scan)) => {
                    if let Some(progress) = &progress {
                        progress(AcquireEvent::Bytes(file.size));
                    }
                    stored.push(StoredFile {
                        path: file.relative.clone(),
                        reference,
                        scan,
                    });
                }
                Err(error) => return Err(Failed { error, stored }),
            }
        }
        let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let source = Source::Local {
            path: absolute.display().to_string(),
        };
        Ok((source, stored, skipped_files(selection)))
    }
}

/// A failed acquisition and the bytes it had stored, to discard.
struct Failed {
    error: Error,
    stored: Vec<StoredFile>,
}

impl Failed {
    fn hub(error: HubError) -> Self {
        Self::from(Error::from(error))
    }
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Self {
            error,
            stored: Vec::new(),
        }
    }
}

impl std::borrow::Borrow<ArtifactRef> for StoredFile {
    fn borrow(&self) -> &ArtifactRef {
        &self.reference
    }
}

fn skipped_files(selection: Selection) -> Vec<SkippedFile> {
    selection
        .skipped
        .into_iter()
        .map(|(path, reason)| SkippedFile { path, reason })
        .collect()
}

fn dangerous(scan: &FileScan) -> HubError {
    let worst = scan
        .findings
        .iter()
        .max_by_key(|f| f.severity)
        .map(|f| f.message.clone())
        .unwrap_or_else(|| "the scanner flagged it".to_owned());
    HubError::Dangerous {
        path: scan.path.clone(),
        detail: worst,
    }
}

/// A file name for staging that cannot escape the staging folder.
fn hex_name(path: &str) -> String {
    citadel_hub::Sha256Hasher::digest_hex(path.as_bytes())
}

/// The worst verdict of a scan.
fn overall_verdict(files: &[FileScan]) -> Verdict {
    let findings: Vec<Finding> = files.iter().flat_map(|f| f.findings.clone()).collect();
    Verdict::from_findings(&findings)
}

/// Scans a file or a folder: content scanners on every file, plus the file policy's refusals as
/// findings (so `model scan` says what `model import` would refuse).
fn scan_local_path(path: &Path) -> Result<Vec<FileScan>, HubError> {
    let metadata = std::fs::symlink_metadata(path).map_err(|e| HubError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    if !metadata.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![scan::scan_file(path, &name)?]);
    }
    let mut scans = Vec::new();
    for file in local::list_files(path)? {
        let mut scanned = scan::scan_file(&file.path, &file.relative)?;
        let policy = files::classify(&file.relative, PolicyOptions { allow_pickle: true });
        let refused = match policy {
            Err(err) => Some(err.to_string()),
            Ok(_) if files::is_json(&file.relative) && file.size <= MAX_CONFIG_SIZE => {
                std::fs::read(&file.path)
                    .ok()
                    .and_then(|bytes| files::check_json_config(&file.relative, &bytes).err())
                    .map(|e| e.to_string())
            }
            Ok(_) => None,
        };
        if let Some(message) = refused {
            scanned.findings.push(Finding {
                severity: Severity::High,
                rule: "policy.refused".into(),
                message,
                location: None,
            });
            scanned.verdict = Verdict::from_findings(&scanned.findings);
        }
        scans.push(scanned);
    }
    Ok(scans)
}

/// Shared state of a [`HeaderTap`].
#[derive(Default)]
struct TapState {
    prefix: Vec<u8>,
    wanted: Option<u64>,
    failure: Option<HubError>,
}

/// The header a tap captured and the download's own failure, if any.
#[derive(Clone, Default)]
struct TapHandle(Arc<Mutex<TapState>>);

impl TapHandle {
    fn take(&self) -> (Vec<u8>, Option<HubError>) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (std::mem::take(&mut state.prefix), state.failure.take())
    }
}

/// Passes a download through while keeping the safetensors header (the first 8 bytes say how
/// long it is) and the download's own error, which the store would otherwise flatten.
struct HeaderTap {
    inner: Download,
    state: TapHandle,
}

impl HeaderTap {
    fn new(inner: Download) -> Self {
        Self {
            inner,
            state: TapHandle::default(),
        }
    }

    fn state(&self) -> TapHandle {
        self.state.clone()
    }
}

impl AsyncRead for HeaderTap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let mut state = this.state.0.lock().unwrap_or_else(PoisonError::into_inner);
        match polled {
            Poll::Ready(Ok(())) => {
                capture(&mut state, &buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => {
                let url = this.inner.url().to_owned();
                let message = err.to_string();
                state.failure = Some(HubError::from_io(err, &url));
                Poll::Ready(Err(std::io::Error::other(message)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Appends the leading bytes of the stream to the tap's prefix: 8 bytes first, then as many as
/// they say the safetensors header takes.
fn capture(state: &mut TapState, mut new: &[u8]) {
    loop {
        let wanted = state.wanted.unwrap_or(8);
        let missing = wanted.saturating_sub(state.prefix.len() as u64);
        let take = usize::try_from(missing)
            .unwrap_or(usize::MAX)
            .min(new.len());
        state.prefix.extend_from_slice(&new[..take]);
        new = &new[take..];
        let first8 = <[u8; 8]>::try_from(state.prefix.get(..8).unwrap_or_default());
        match (state.wanted, first8) {
            (None, Ok(first8)) => state.wanted = Some(scan::safetensors_prefix_len(first8)),
            _ => return,
        }
    }
}
