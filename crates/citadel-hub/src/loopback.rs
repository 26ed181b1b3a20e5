//! A real HTTPS hub on 127.0.0.1 for tests and benchmarks: the Hugging Face routes the client
//! uses, an LFS CDN on a second origin, a fresh CA, a log of every request and injectable faults.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION,
    RANGE,
};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::{git_blob_id, Sha256Hasher};

/// Body frames of 256 KiB: slices of the content, never copies.
const FRAME: usize = 256 << 10;
/// How long a cut connection lingers after its last bytes, so that they reach the client first.
const CUT_DELAY: Duration = Duration::from_millis(20);

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A file the loopback hub serves. `lfs: true` → served through a 302 to the CDN server, listed
/// with `lfs.sha256`; else served directly and listed with the git blob id.
#[derive(Debug, Clone)]
pub struct HubFile {
    pub path: String,
    pub content: Bytes,
    pub lfs: bool,
}

/// Faults to inject (set at any time; they apply to the next requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Serve other bytes for `path` than the listed content (same length): a wrong-hash attack.
    CorruptFile {
        path: String,
    },
    /// Answer X-Repo-Commit with another commit.
    WrongCommitHeader,
    /// Require `Authorization: Bearer {token}` on the API and resolve routes (401 otherwise).
    RequireToken(String),
    /// Redirect `path` to an http:// URL.
    RedirectToHttp {
        path: String,
    },
    /// Cut the connection after `after_bytes` of `path`'s body (counted in each response),
    /// `times` times; then serve normally, honouring Range.
    CutConnection {
        path: String,
        after_bytes: u64,
        times: u32,
    },
    /// Advertise a size for `path` one byte larger than the bytes served.
    WrongSize {
        path: String,
    },
}

/// A request either server saw.
#[derive(Debug, Clone)]
pub struct Request {
    /// `"hub"` or `"cdn"`.
    pub server: &'static str,
    pub method: String,
    pub path_and_query: String,
    /// The raw header value, so tests can check where a token went.
    pub authorization: Option<String>,
    pub range: Option<String>,
}

/// Two HTTPS servers on 127.0.0.1: the hub (`https://localhost:PORT`) and its LFS CDN
/// (`https://127.0.0.1:PORT2`, another origin). Dropping it stops both.
pub struct LoopbackHub {
    shared: Arc<Shared>,
    endpoint: String,
    ca_pem: String,
    servers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for LoopbackHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackHub")
            .field("endpoint", &self.endpoint)
            .field("cdn", &self.shared.cdn)
            .field("repo", &self.shared.repo)
            .field("commit", &self.shared.commit)
            .finish()
    }
}

impl Drop for LoopbackHub {
    fn drop(&mut self) {
        // Aborting an accept loop drops its JoinSet, which aborts its connections.
        for server in &self.servers {
            server.abort();
        }
    }
}

struct Shared {
    repo: String,
    commit: String,
    files: Vec<Listed>,
    /// `127.0.0.1:PORT2`
    cdn: String,
    fault: Mutex<Fault>,
    requests: Mutex<Vec<Request>>,
}

/// A served file with the digests the listing shows.
struct Listed {
    file: HubFile,
    /// The content's SHA-256 (LFS files only).
    sha256: Option<String>,
    /// The git blob id of the content, or of the LFS pointer.
    blob_id: String,
    pointer_size: usize,
}

impl Listed {
    fn new(file: HubFile) -> Self {
        if file.lfs {
            let sha256 = Sha256Hasher::digest_hex(&file.content);
            let pointer = format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {}\n",
                file.content.len()
            );
            Self {
                blob_id: git_blob_id(pointer.as_bytes()),
                pointer_size: pointer.len(),
                sha256: Some(sha256),
                file,
            }
        } else {
            Self {
                blob_id: git_blob_id(&file.content),
                pointer_size: 0,
                sha256: None,
                file,
            }
        }
    }
}

impl LoopbackHub {
    /// Starts the hub and its CDN on ephemeral ports, with one certificate (SANs `localhost` and
    /// `127.0.0.1`) signed by a fresh CA. `repo` is `owner/name`; `main` and the commit (derived
    /// from the contents) resolve to the files.
    pub async fn start(repo: &str, files: Vec<HubFile>) -> io::Result<Self> {
        if repo.split('/').count() != 2 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the loopback repo must be owner/name",
            ));
        }
        let (ca_pem, tls) = tls_config()?;
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let hub = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let cdn = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let hub_port = hub.local_addr()?.port();
        let cdn_port = cdn.local_addr()?.port();
        // Hashing a benchmark-sized file takes a while: keep it off the runtime's threads.
        let files = tokio::task::spawn_blocking(move || {
            files.into_iter().map(Listed::new).collect::<Vec<_>>()
        })
        .await
        .map_err(io::Error::other)?;
        let commit = derive_commit(repo, &files);
        let shared = Arc::new(Shared {
            repo: repo.to_owned(),
            commit,
            files,
            cdn: format!("127.0.0.1:{cdn_port}"),
            fault: Mutex::new(Fault::None),
            requests: Mutex::new(Vec::new()),
        });
        let servers = vec![
            tokio::spawn(accept_loop("hub", hub, acceptor.clone(), shared.clone())),
            tokio::spawn(accept_loop("cdn", cdn, acceptor, shared.clone())),
        ];
        Ok(Self {
            shared,
            endpoint: format!("https://localhost:{hub_port}"),
            ca_pem,
            servers,
        })
    }

    /// `https://localhost:PORT`
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The CA certificate both servers chain to, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    pub fn commit(&self) -> &str {
        &self.shared.commit
    }

    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.shared.fault) = fault;
    }

    /// Every request both servers saw, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }
}

/// A poisoned lock only means a handler panicked; the data is still usable for a test server.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A commit id that looks real and changes with the contents.
fn derive_commit(repo: &str, files: &[Listed]) -> String {
    let mut hasher = Sha256Hasher::default();
    hasher.update(repo.as_bytes());
    for listed in files {
        hasher.update(b"\n");
        hasher.update(listed.file.path.as_bytes());
        hasher.update(b"\0");
        hasher.update(listed.sha256.as_ref().unwrap_or(&listed.blob_id).as_bytes());
    }
    let mut commit = hasher.finish_hex();
    commit.truncate(40);
    commit
}

/// A fresh CA and a server certificate it signed, in PEM, for loopback servers and local
/// development (`citadel tls init`). The CA's key is dropped: nothing else can be signed by it.
#[derive(Clone)]
pub struct LocalCertificates {
    pub ca_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8 private key of the server certificate, in DER and PEM.
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

impl fmt::Debug for LocalCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCertificates")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl LocalCertificates {
    /// Issues a server certificate for `names` (DNS names or IP addresses) under a new CA.
    pub fn issue(ca_name: &str, names: &[&str]) -> io::Result<Self> {
        let ca_key = KeyPair::generate().map_err(io::Error::other)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        let ca_pem = ca.self_signed(&ca_key).map_err(io::Error::other)?.pem();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().map_err(io::Error::other)?;
        let sans = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut leaf = CertificateParams::new(sans).map_err(io::Error::other)?;
        leaf.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).map_err(io::Error::other)?;
        Ok(Self {
            ca_pem,
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn tls_config() -> io::Result<(String, rustls::ServerConfig)> {
    let certs = LocalCertificates::issue("Citadel loopback hub CA", &["localhost", "127.0.0.1"])?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(
        vec![certs.cert_der.into()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key_der)),
    )
    .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((certs.ca_pem, config))
}

async fn accept_loop(
    server: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(connection(server, tcp, acceptor.clone(), shared.clone()));
                }
                // Out of descriptors, most likely: let open connections finish first.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(
    server: &'static str,
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    // Failures below concern only this client (a refused handshake, a cut connection).
    let _ = tcp.set_nodelay(true);
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let service = hyper::service::service_fn(move |request| {
        let response = shared.respond(server, &request);
        async move { Ok::<_, Infallible>(response) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

impl Shared {
    fn respond(&self, server: &'static str, request: &hyper::Request<Incoming>) -> Response<Body> {
        let header = |name: HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let range = header(RANGE);
        let authorization = header(AUTHORIZATION);
        lock(&self.requests).push(Request {
            server,
            method: request.method().to_string(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), ToString::to_string),
            authorization: authorization.clone(),
            range: range.clone(),
        });
        if request.method() != Method::GET {
            return status(StatusCode::NOT_FOUND);
        }
        let segments: Vec<&str> = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .collect();
        match (server, segments.as_slice()) {
            ("hub", ["api", "models", owner, name, "revision", revision]) => self
                .refusal(authorization.as_deref(), owner, name, revision)
                .unwrap_or_else(|| self.listing()),
            ("hub", [owner, name, "resolve", revision, path @ ..]) if !path.is_empty() => self
                .refusal(authorization.as_deref(), owner, name, revision)
                .unwrap_or_else(|| self.resolve(path, range.as_deref())),
            ("cdn", ["lfs", sha256]) => {
                match self
                    .files
                    .iter()
                    .find(|f| f.sha256.as_deref() == Some(*sha256))
                {
                    Some(listed) => self.content(listed, range.as_deref()),
                    None => status(StatusCode::NOT_FOUND),
                }
            }
            _ => status(StatusCode::NOT_FOUND),
        }
    }

    /// The answer to a request the hub refuses: 401 without the required token (checked first,
    /// as the hub does), 404 for anything but this repository at `main` or at its commit.
    fn refusal(
        &self,
        authorization: Option<&str>,
        owner: &str,
        name: &str,
        revision: &str,
    ) -> Option<Response<Body>> {
        if let Fault::RequireToken(token) = &*lock(&self.fault) {
            if authorization != Some(format!("Bearer {token}").as_str()) {
                return Some(status(StatusCode::UNAUTHORIZED));
            }
        }
        let revision = percent_decode(revision);
        let known = format!("{owner}/{name}") == self.repo
            && matches!(revision.as_deref(), Some(r) if r == "main" || r == self.commit);
        (!known).then(|| status(StatusCode::NOT_FOUND))
    }

    fn listing(&self) -> Response<Body> {
        let wrong_size = match &*lock(&self.fault) {
            Fault::WrongSize { path } => Some(path.clone()),
            _ => None,
        };
        let siblings: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|listed| {
                let mut size = listed.file.content.len() as u64;
                if wrong_size.as_deref() == Some(listed.file.path.as_str()) {
                    size += 1;
                }
                let mut sibling = serde_json::json!({
                    "rfilename": listed.file.path,
                    "size": size,
                    "blobId": listed.blob_id,
                });
                if let Some(sha256) = &listed.sha256 {
                    sibling["lfs"] = serde_json::json!({
                        "sha256": sha256,
                        "size": size,
                        "pointerSize": listed.pointer_size,
                    });
                }
                sibling
            })
            .collect();
        let listing = serde_json::json!({
            "id": self.repo,
            "sha": self.commit,
            "private": false,
            "siblings": siblings,
        });
        let mut response = full(Bytes::from(listing.to_string()));
        set(&mut response, CONTENT_TYPE, "application/json");
        response
    }

    fn resolve(&self, segments: &[&str], range: Option<&str>) -> Response<Body> {
        let Some(path) = segments
            .iter()
            .map(|segment| percent_decode(segment))
            .collect::<Option<Vec<_>>>()
            .map(|decoded| decoded.join("/"))
        else {
            return status(StatusCode::NOT_FOUND);
        };
        let Some(listed) = self.files.iter().find(|f| f.file.path == path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let (commit, to_http) = match &*lock(&self.fault) {
            Fault::WrongCommitHeader => (other_commit(&self.commit), false),
            Fault::RedirectToHttp { path: target } => (self.commit.clone(), *target == path),
            _ => (self.commit.clone(), false),
        };
        let mut response = match (&listed.sha256, to_http) {
            (_, true) => redirect(&format!("http://{}/lfs/plain", self.cdn)),
            (Some(sha256), false) => redirect(&format!("https://{}/lfs/{sha256}", self.cdn)),
            (None, false) => self.content(listed, range),
        };
        set(
            &mut response,
            HeaderName::from_static("x-repo-commit"),
            &commit,
        );
        response
    }

    /// The file's bytes: whole, or from `bytes=N-`; corrupted or cut when a fault says so.
    fn content(&self, listed: &Listed, range: Option<&str>) -> Response<Body> {
        let path = &listed.file.path;
        let (content, cut_after) = {
            let mut fault = lock(&self.fault);
            match &mut *fault {
                Fault::CorruptFile { path: target } if target == path => {
                    (corrupt(&listed.file.content), None)
                }
                Fault::CutConnection {
                    path: target,
                    after_bytes,
                    times,
                } if target == path && *times > 0 => {
                    *times -= 1;
                    (listed.file.content.clone(), Some(*after_bytes))
                }
                _ => (listed.file.content.clone(), None),
            }
        };
        let len = content.len();
        let Some(start) = range.and_then(range_start) else {
            let mut response = streamed(content, cut_after);
            set(&mut response, CONTENT_LENGTH, &len.to_string());
            return response;
        };
        if start >= len {
            let mut response = status(StatusCode::RANGE_NOT_SATISFIABLE);
            set(&mut response, CONTENT_RANGE, &format!("bytes */{len}"));
            return response;
        }
        let mut response = streamed(content.slice(start..), cut_after);
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(&mut response, CONTENT_LENGTH, &(len - start).to_string());
        set(
            &mut response,
            CONTENT_RANGE,
            &format!("bytes {start}-{}/{len}", len - 1),
        );
        response
    }
}

/// Another commit that looks as real as `commit`.
fn other_commit(commit: &str) -> String {
    let mut other = Sha256Hasher::digest_hex(format!("not {commit}").as_bytes());
    other.truncate(40);
    other
}

/// The same length with one byte changed.
fn corrupt(content: &Bytes) -> Bytes {
    let mut bytes = content.to_vec();
    if let Some(byte) = bytes.get_mut(content.len() / 2) {
        *byte ^= 0x5a;
    }
    Bytes::from(bytes)
}

/// `bytes=N-` → N. Other forms are ignored (a server may serve the whole file instead).
fn range_start(value: &str) -> Option<usize> {
    value
        .trim()
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// The body in 256 KiB slices; with `cut_after`, only that many bytes and then a broken
/// connection.
fn streamed(content: Bytes, cut_after: Option<u64>) -> Response<Body> {
    let served = match cut_after {
        Some(after) => content.slice(
            ..usize::try_from(after)
                .unwrap_or(usize::MAX)
                .min(content.len()),
        ),
        None => content,
    };
    let len = served.len();
    let frames =
        futures::stream::iter((0..len).step_by(FRAME).map(move |at| {
            Ok::<_, io::Error>(Frame::data(served.slice(at..(at + FRAME).min(len))))
        }));
    let body = match cut_after {
        None => StreamBody::new(frames).boxed_unsync(),
        Some(_) => {
            let cut = futures::stream::once(async {
                tokio::time::sleep(CUT_DELAY).await;
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "fault: connection cut",
                ))
            });
            StreamBody::new(frames.chain(cut)).boxed_unsync()
        }
    };
    Response::new(body)
}

fn full(bytes: Bytes) -> Response<Body> {
    Response::new(
        Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = full(Bytes::new());
    *response.status_mut() = code;
    response
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = status(StatusCode::FOUND);
    set(&mut response, LOCATION, location);
    response
}

/// Sets a header; every value here is ASCII made by this module, so none is dropped.
fn set(response: &mut Response<Body>, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(byte);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn raw_client(hub: &LoopbackHub) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(reqwest::Certificate::from_pem(hub.ca_pem().as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    async fn hub() -> LoopbackHub {
        let files = vec![
            HubFile {
                path: "weights.bin".to_owned(),
                content: Bytes::from((0..700_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>()),
                lfs: true,
            },
            HubFile {
                path: "config.json".to_owned(),
                content: Bytes::from_static(b"{}"),
                lfs: false,
            },
        ];
        LoopbackHub::start("acme/tiny", files).await.unwrap()
    }

    #[tokio::test]
    async fn routes_ranges_and_unknown_paths() {
        let hub = hub().await;
        let http = raw_client(&hub);
        let base = hub.endpoint();
        let commit = hub.commit().to_owned();
        assert!(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()));

        let listing = http
            .get(format!(
                "{base}/api/models/acme/tiny/revision/main?blobs=true"
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let listing: serde_json::Value = serde_json::from_slice(&listing).unwrap();
        assert_eq!(listing["sha"], commit.as_str());
        assert_eq!(listing["siblings"][0]["lfs"]["size"], 700_000);
        assert_eq!(listing["siblings"][1]["blobId"], git_blob_id(b"{}"));

        // An LFS file redirects to the CDN, on another origin, naming the commit.
        let found = http
            .get(format!("{base}/acme/tiny/resolve/{commit}/weights.bin"))
            .send()
            .await
            .unwrap();
        assert_eq!(found.status(), StatusCode::FOUND);
        assert_eq!(found.headers()["x-repo-commit"], commit.as_str());
        let cdn = found.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(cdn.starts_with("https://127.0.0.1:"), "{cdn}");

        let partial = http
            .get(&cdn)
            .header(RANGE, "bytes=699990-")
            .send()
            .await
            .unwrap();
        assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            partial.headers()[CONTENT_RANGE],
            "bytes 699990-699999/700000"
        );
        assert!(partial.headers().get("x-repo-commit").is_none());
        let tail = partial.bytes().await.unwrap();
        assert_eq!(
            &tail[..],
            &(699_990..700_000u32)
                .map(|i| (i % 253) as u8)
                .collect::<Vec<_>>()[..]
        );

        let beyond = http
            .get(&cdn)
            .header(RANGE, "bytes=700000-")
            .send()
            .await
            .unwrap();
        assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);

        for unknown in [
            format!("{base}/nothing/here"),
            format!("{base}/acme/other/resolve/{commit}/config.json"),
            format!("{base}/acme/tiny/resolve/v2/config.json"),
            format!("{base}/acme/tiny/resolve/{commit}/missing.json"),
            format!("{cdn}x"),
        ] {
            let answer = http.get(&unknown).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{unknown}");
        }
        let log = hub.requests();
        assert_eq!(log.len(), 9);
        assert_eq!(log[2].server, "cdn");
        assert_eq!(log[2].range.as_deref(), Some("bytes=699990-"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%C3%BC").as_deref(), Some("ü"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
