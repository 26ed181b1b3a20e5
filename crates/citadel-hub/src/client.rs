//! The hub client: pins a revision to a commit, then streams each file of that commit through a
//! verifying reader that resumes broken connections and refuses bytes the hub did not promise.
//!
//! Only https is spoken, redirects are followed by hand (so the token never leaves the endpoint's
//! origin), and every error message names a URL without its query or credentials.

mod download;
#[cfg(test)]
mod tests;

use download::ContentCheck;
pub use download::Download;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, LOCATION, RANGE};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{HubError, Result};

/// The public Hugging Face hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

const REPO_FORM: &str = "expected hf://OWNER/NAME or hf://OWNER/NAME@REVISION";
const MAX_REDIRECTS: usize = 5;
/// Extra attempts for a request that failed before any byte of a body was used.
const REQUEST_RETRIES: u32 = 3;
/// A model listing is a few megabytes at most; more is not a listing.
const MAX_LISTING_BYTES: usize = 64 << 20;
const REPO_COMMIT: &str = "x-repo-commit";

/// A repository at a revision: `hf://OWNER/NAME[@REVISION]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
    pub revision: String,
}

impl RepoRef {
    /// Parses `hf://OWNER/NAME[@REVISION]`; the revision defaults to `main`.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = |why: &str| {
            let shown: String = s.chars().take(120).collect();
            HubError::InvalidInput(format!("{shown:?}: {why}; {REPO_FORM}"))
        };
        let rest = s
            .strip_prefix("hf://")
            .ok_or_else(|| invalid("the hf:// prefix is missing"))?;
        // Owner and name cannot hold '@', so the first one starts the revision.
        let (id, revision) = rest.split_once('@').unwrap_or((rest, "main"));
        let mut parts = id.split('/');
        let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("the repository must be OWNER/NAME"));
        };
        check_name(owner).map_err(invalid)?;
        check_name(name).map_err(invalid)?;
        check_revision(revision).map_err(invalid)?;
        Ok(Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// `owner/name`.
    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hf://{}/{}@{}", self.owner, self.name, self.revision)
    }
}

fn check_name(part: &str) -> std::result::Result<(), &'static str> {
    if part.is_empty() || part.len() > 96 {
        return Err("an owner or name must be 1 to 96 characters");
    }
    if !part
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("an owner or name may hold only letters, digits, '.', '_' and '-'");
    }
    if part.starts_with(['.', '-']) {
        return Err("an owner or name must not start with '.' or '-'");
    }
    if part.contains("..") {
        return Err("an owner or name must not contain '..'");
    }
    Ok(())
}

fn check_revision(revision: &str) -> std::result::Result<(), &'static str> {
    if revision.is_empty() {
        return Err("the revision after '@' is empty");
    }
    if revision.len() > 256 {
        return Err("the revision is longer than 256 characters");
    }
    if revision.chars().any(char::is_control) {
        return Err("the revision holds control characters");
    }
    if revision
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err("the revision must not hold '.' or '..' segments");
    }
    Ok(())
}

/// A file of a resolved commit, as the hub listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    /// The git blob id (for an LFS file: the id of its pointer).
    pub blob_id: String,
    /// The SHA-256 of an LFS file's content.
    pub lfs_sha256: Option<String>,
}

/// A revision pinned to its commit, with the files the hub lists there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub repo: RepoRef,
    pub commit: String,
    pub files: Vec<RemoteFile>,
}

/// How to reach a hub.
#[derive(Clone)]
pub struct ClientConfig {
    /// The hub's base URL (https only).
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` to the endpoint's own origin only.
    pub token: Option<SecretString>,
    /// PEM CA certificate(s) to trust besides the system roots.
    pub extra_root_pem: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    /// The longest wait for each read, not for a whole request.
    pub read_timeout: Duration,
    /// How many times one download may resume after its connection broke.
    pub max_resume_attempts: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            token: None,
            extra_root_pem: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            max_resume_attempts: 5,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field(
                "extra_root_pem",
                &self
                    .extra_root_pem
                    .as_ref()
                    .map(|pem| format!("{} bytes", pem.len())),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("max_resume_attempts", &self.max_resume_attempts)
            .finish()
    }
}

/// A client of one hub. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct HubClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The endpoint without its trailing '/'.
    base: String,
    origin: Origin,
    token: Option<SecretString>,
    max_resume_attempts: u32,
}

impl fmt::Debug for HubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubClient")
            .field("endpoint", &self.inner.base)
            .field("token", &self.inner.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Scheme, host and port: the only place the token may go.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: Option<String>,
    port: Option<u16>,
}

impl Origin {
    fn of(url: &Url) -> Self {
        Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str().map(str::to_owned),
            port: url.port_or_known_default(),
        }
    }
}

/// The commit a file request must be served from.
struct Pinned<'a> {
    path: &'a str,
    commit: &'a str,
}

impl Pinned<'_> {
    /// `Ok(true)` if the hub's response names the pinned commit, `Ok(false)` if it names none.
    fn check(&self, response: &reqwest::Response) -> Result<bool> {
        let Some(served) = response.headers().get(REPO_COMMIT) else {
            return Ok(false);
        };
        let served = served.to_str().unwrap_or("(not text)").trim();
        if served == self.commit {
            return Ok(true);
        }
        let shown: String = served.chars().take(64).collect();
        Err(integrity(
            self.path,
            format!(
                "the hub served commit {shown:?}, not the pinned {}",
                self.commit
            ),
        ))
    }

    fn missing(&self) -> HubError {
        integrity(self.path, "the hub did not say which commit it served")
    }
}

impl HubClient {
    /// A client for `config.endpoint`, which must be https.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let endpoint = Url::parse(config.endpoint.trim())
            .map_err(|e| HubError::InvalidInput(format!("the hub endpoint is not a URL: {e}")))?;
        if endpoint.scheme() != "https" {
            return Err(HubError::InvalidInput(
                "the hub endpoint must use https".to_owned(),
            ));
        }
        if endpoint.host_str().is_none_or(str::is_empty) {
            return Err(HubError::InvalidInput(
                "the hub endpoint has no host".to_owned(),
            ));
        }
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(HubError::InvalidInput(
                "the hub endpoint must not carry credentials: give a token instead".to_owned(),
            ));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(HubError::InvalidInput(
                "the hub endpoint must not have a query or a fragment".to_owned(),
            ));
        }
        if let Some(token) = &config.token {
            if token.expose_secret().trim().is_empty() {
                return Err(HubError::InvalidInput("the hub token is empty".to_owned()));
            }
            bearer(token)?;
        }

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(concat!("citadel-hub/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.extra_root_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                HubError::InvalidInput(format!("the extra CA certificates: {}", describe(e)))
            })?;
            if roots.is_empty() {
                return Err(HubError::InvalidInput(
                    "the extra CA certificates hold no PEM certificate".to_owned(),
                ));
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder.build().map_err(|e| {
            HubError::InvalidInput(format!("cannot set up the HTTPS client: {}", describe(e)))
        })?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: endpoint.as_str().trim_end_matches('/').to_owned(),
                origin: Origin::of(&endpoint),
                token: config.token,
                max_resume_attempts: config.max_resume_attempts,
            }),
        })
    }

    /// Pins `repo`'s revision to a commit and lists its files, checking the shape of every id.
    pub async fn resolve(&self, repo: &RepoRef) -> Result<Snapshot> {
        check_name(&repo.owner)
            .and(check_name(&repo.name))
            .and(check_revision(&repo.revision))
            .map_err(|why| HubError::InvalidInput(format!("{repo}: {why}; {REPO_FORM}")))?;
        let url = self.url(&format!(
            "api/models/{}/{}/revision/{}?blobs=true",
            repo.owner,
            repo.name,
            percent_encode(&repo.revision)
        ))?;
        let url = &url;
        let body = self
            .with_retries(|| async move {
                let response = self.get(url, None, None).await?;
                read_limited(response, url).await
            })
            .await?;
        parse_listing(repo, &body)
    }

    /// Starts downloading `file` of `snapshot`: sends the first request, follows redirects and
    /// checks the status and the commit header; the returned stream verifies as it goes.
    pub async fn open(
        &self,
        snapshot: &Snapshot,
        file: &RemoteFile,
        progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<Download> {
        self.open_checked(snapshot, file, progress, ContentCheck::Here)
            .await
    }

    /// Like [`HubClient::open`] for an LFS file whose SHA-256 the consumer computes anyway (an
    /// encrypting store addresses content by it): the stream checks commit and size but leaves
    /// the digest to the consumer, which MUST compare its own SHA-256 with `file.lfs_sha256`
    /// before trusting or publishing the bytes. Files without an LFS digest are checked here.
    pub async fn open_for_consumer_check(
        &self,
        snapshot: &Snapshot,
        file: &RemoteFile,
        progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<Download> {
        self.open_checked(snapshot, file, progress, ContentCheck::Consumer)
            .await
    }

    async fn open_checked(
        &self,
        snapshot: &Snapshot,
        file: &RemoteFile,
        progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
        check: ContentCheck,
    ) -> Result<Download> {
        let url = self.file_url(snapshot, &file.path)?;
        let pinned = Pinned {
            path: &file.path,
            commit: &snapshot.commit,
        };
        let (url_ref, pinned_ref) = (&url, &pinned);
        let response = self
            .with_retries(|| async move { self.get(url_ref, None, Some(pinned_ref)).await })
            .await?;
        if response.status() != StatusCode::OK {
            return Err(HubError::Status {
                url: display_url(&url),
                status: response.status().as_u16(),
                hint: "; expected 200 to a request without a range".to_owned(),
            });
        }
        check_length(&response, &file.path, file.size)?;
        Ok(download::start(
            self.clone(),
            url,
            snapshot.commit.clone(),
            file.clone(),
            response,
            progress,
            check,
        ))
    }

    fn url(&self, rest: &str) -> Result<Url> {
        Url::parse(&format!("{}/{rest}", self.inner.base))
            .map_err(|e| HubError::InvalidInput(format!("cannot form a hub URL: {e}")))
    }

    fn file_url(&self, snapshot: &Snapshot, path: &str) -> Result<Url> {
        let repo = &snapshot.repo;
        check_name(&repo.owner)
            .and(check_name(&repo.name))
            .map_err(|why| HubError::InvalidInput(format!("{repo}: {why}; {REPO_FORM}")))?;
        if !is_lower_hex(&snapshot.commit, 40) {
            return Err(HubError::InvalidInput(format!(
                "{repo}: the snapshot's commit is not a 40-hex commit id"
            )));
        }
        // Dot segments would be normalized away by URL parsing, even percent-encoded.
        let plain = !path.is_empty()
            && !path.chars().any(char::is_control)
            && path
                .split('/')
                .all(|segment| !matches!(segment, "" | "." | ".."));
        if !plain {
            return Err(HubError::Refused {
                path: path.to_owned(),
                reason: "not a plain relative path".to_owned(),
            });
        }
        let encoded: Vec<String> = path.split('/').map(percent_encode).collect();
        self.url(&format!(
            "{}/{}/resolve/{}/{}",
            repo.owner,
            repo.name,
            snapshot.commit,
            encoded.join("/")
        ))
    }

    fn max_resume_attempts(&self) -> u32 {
        self.inner.max_resume_attempts
    }

    /// Runs `attempt` again (with a short backoff) while it fails in a way worth retrying.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Err(error) if retries < REQUEST_RETRIES && is_transient(&error) => {
                    retries += 1;
                    tracing::debug!(%error, retries, "hub request failed; retrying");
                    tokio::time::sleep(backoff(retries)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// GETs `url` (from byte `range_from` on), following up to five https redirects. The token
    /// goes only to the endpoint's origin; with `pinned`, the hub's own responses must name the
    /// pinned commit. Returns a 2xx response.
    async fn get(
        &self,
        url: &Url,
        range_from: Option<u64>,
        pinned: Option<&Pinned<'_>>,
    ) -> Result<reqwest::Response> {
        let mut current = url.clone();
        let mut commit_confirmed = false;
        for _ in 0..=MAX_REDIRECTS {
            let on_hub = Origin::of(&current) == self.inner.origin;
            let mut request = self.inner.http.get(current.clone());
            if on_hub {
                if let Some(token) = &self.inner.token {
                    request = request.header(AUTHORIZATION, bearer(token)?);
                }
            }
            if let Some(from) = range_from {
                request = request.header(RANGE, format!("bytes={from}-"));
            }
            let response = request.send().await.map_err(|e| network(&current, e))?;
            let status = response.status();
            if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                if let (true, Some(pinned)) = (on_hub, pinned) {
                    commit_confirmed |= pinned.check(&response)?;
                }
                current = redirect_target(&current, &response)?;
                continue;
            }
            if !status.is_success() {
                return Err(status_error(&current, status));
            }
            if let Some(pinned) = pinned {
                if on_hub {
                    commit_confirmed |= pinned.check(&response)?;
                }
                if !commit_confirmed {
                    return Err(pinned.missing());
                }
            }
            return Ok(response);
        }
        Err(HubError::Redirect {
            from: display_url(url),
            to: display_url(&current),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

fn bearer(token: &SecretString) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret().trim()))
        .map_err(|_| {
            HubError::InvalidInput(
                "the hub token holds characters an HTTP header cannot carry".to_owned(),
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

fn redirect_target(current: &Url, response: &reqwest::Response) -> Result<Url> {
    let refuse = |to: String, reason: &str| HubError::Redirect {
        from: display_url(current),
        to,
        reason: reason.to_owned(),
    };
    let location = response
        .headers()
        .get(LOCATION)
        .ok_or_else(|| refuse(String::new(), "the redirect has no Location"))?
        .to_str()
        .map_err(|_| refuse(String::new(), "the Location is not text"))?;
    let target = current
        .join(location)
        .map_err(|e| refuse(String::new(), &format!("the Location is not a URL: {e}")))?;
    if target.scheme() != "https" {
        return Err(refuse(display_url(&target), "only https is allowed"));
    }
    Ok(target)
}

fn status_error(url: &Url, status: StatusCode) -> HubError {
    let hint = match status.as_u16() {
        401 => "; the repository is private or gated: pass --token-secret SCOPE/KEY with a hub token that can read it",
        403 => "; the token cannot read this repository",
        404 => "; check the repository name, the revision and the file",
        429 => "; the hub is limiting the request rate: try again later",
        _ => "",
    };
    HubError::Status {
        url: display_url(url),
        status: status.as_u16(),
        hint: hint.to_owned(),
    }
}

/// Failures a new attempt may cure: broken connections, rate limits and server errors.
fn is_transient(error: &HubError) -> bool {
    match error {
        HubError::Network { .. } => true,
        HubError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
        _ => false,
    }
}

/// 100 ms, 200 ms, 400 ms... capped at 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(2))
}

/// A 200 answer must carry the listed size (when it gives a length at all).
fn check_length(response: &reqwest::Response, path: &str, size: u64) -> Result<()> {
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match length {
        Some(length) if length != size => Err(integrity(
            path,
            format!("the hub serves {length} bytes, it listed {size}"),
        )),
        _ => Ok(()),
    }
}

async fn read_limited(mut response: reqwest::Response, url: &Url) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| network(url, e))? {
        if body.len() + chunk.len() > MAX_LISTING_BYTES {
            return Err(HubError::Integrity {
                path: display_url(url),
                detail: format!("the hub's answer is larger than {MAX_LISTING_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct Listing {
    sha: Option<String>,
    siblings: Option<Vec<Sibling>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    blob_id: Option<String>,
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    sha256: String,
    size: Option<u64>,
}

fn parse_listing(repo: &RepoRef, body: &[u8]) -> Result<Snapshot> {
    let at_repo = |detail: String| HubError::Integrity {
        path: repo.to_string(),
        detail,
    };
    let listing: Listing = serde_json::from_slice(body)
        .map_err(|e| at_repo(format!("the hub's answer is not a model listing: {e}")))?;
    let commit = listing
        .sha
        .ok_or_else(|| at_repo("the hub named no commit".to_owned()))?;
    if !is_lower_hex(&commit, 40) {
        return Err(at_repo(format!(
            "the hub named {:?}, not a 40-hex commit id",
            commit.chars().take(64).collect::<String>()
        )));
    }
    if is_lower_hex(&repo.revision.to_ascii_lowercase(), 40)
        && !repo.revision.eq_ignore_ascii_case(&commit)
    {
        return Err(at_repo(format!(
            "the hub resolved commit {} to another commit, {commit}",
            repo.revision
        )));
    }
    let siblings = listing
        .siblings
        .ok_or_else(|| at_repo("the hub listed no files".to_owned()))?;
    let files = siblings
        .into_iter()
        .map(remote_file)
        .collect::<Result<Vec<_>>>()?;
    Ok(Snapshot {
        repo: repo.clone(),
        commit,
        files,
    })
}

fn remote_file(sibling: Sibling) -> Result<RemoteFile> {
    let path = sibling.rfilename;
    let size = match (sibling.size, sibling.lfs.as_ref().and_then(|lfs| lfs.size)) {
        (Some(a), Some(b)) if a != b => {
            return Err(integrity(
                &path,
                format!("the hub lists two sizes, {a} and {b}"),
            ))
        }
        (Some(size), _) | (None, Some(size)) => size,
        (None, None) => return Err(integrity(&path, "the hub lists no size")),
    };
    let blob_id = sibling
        .blob_id
        .filter(|id| is_lower_hex(id, 40))
        .ok_or_else(|| integrity(&path, "the hub lists no 40-hex blob id"))?;
    let lfs_sha256 = match sibling.lfs {
        Some(lfs) if is_lower_hex(&lfs.sha256, 64) => Some(lfs.sha256),
        Some(_) => {
            return Err(integrity(
                &path,
                "the hub lists an LFS sha256 that is not 64 hex",
            ))
        }
        None => None,
    };
    Ok(RemoteFile {
        path,
        size,
        blob_id,
        lfs_sha256,
    })
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn integrity(path: &str, detail: impl Into<String>) -> HubError {
    HubError::Integrity {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

fn network(url: &Url, error: reqwest::Error) -> HubError {
    HubError::Network {
        url: display_url(url),
        detail: describe(error),
    }
}

/// The error and its causes on one line, without the URL (CDN URLs carry signed queries).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A URL fit for messages: no credentials, query or fragment.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Both fail only for URLs that cannot hold credentials, which then hold none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Percent-encodes everything but RFC 3986's unreserved characters (so '/' too).
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}
