//! The verifying download stream. A background task receives the body, hashes it, resumes broken
//! connections with `Range` and sends the chunks through a small bounded channel; `Download` hands
//! them out as `AsyncRead`/`AsyncBufRead`, and ends in an error instead of EOF when the size or
//! digest is not what the hub listed.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use reqwest::header::CONTENT_RANGE;
use reqwest::{StatusCode, Url};
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

use super::{backoff, check_length, describe, display_url, integrity, is_transient};
use super::{HubClient, Pinned, RemoteFile};
use crate::{GitBlobHasher, HubError, Result, Sha256Hasher};

/// Chunks in flight between the task and the reader: enough to keep both busy, little memory.
const CHANNEL_CHUNKS: usize = 8;

type Progress = Arc<dyn Fn(u64) + Send + Sync>;

enum Message {
    Data(Bytes),
    /// Every byte arrived and matched; the SHA-256 of the file (`None` when the consumer
    /// checks the digest).
    Verified(Option<String>),
    Failed(HubError),
}

/// A file being downloaded from the hub: an `AsyncRead` that checks size and digest, and
/// resumes broken connections. Dropping it stops the download.
pub struct Download {
    path: String,
    url: String,
    chunks: mpsc::Receiver<Message>,
    /// The part of the current chunk not yet read.
    chunk: Bytes,
    delivered: u64,
    state: State,
    task: AbortHandle,
}

enum State {
    Streaming,
    Verified(Option<String>),
    Failed,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("path", &self.path)
            .field("bytes", &self.delivered)
            .finish()
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Download {
    /// The file's SHA-256 (lower-case hex), once the stream ended with every byte verified here
    /// (`None` for [`super::HubClient::open_for_consumer_check`] downloads).
    pub fn sha256(&self) -> Option<String> {
        match &self.state {
            State::Verified(sha256) => sha256.clone(),
            State::Streaming | State::Failed => None,
        }
    }

    /// The file's path in the repository.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The hub URL of the file (it never carries credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes `self.chunk` non-empty, or reports the end (verified) or the failure.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.chunk.is_empty() {
            match self.state {
                State::Verified(_) => return Poll::Ready(Ok(())),
                State::Failed => {
                    return Poll::Ready(Err(self.stopped("the download already failed")))
                }
                State::Streaming => {}
            }
            match ready!(self.chunks.poll_recv(cx)) {
                Some(Message::Data(bytes)) => self.chunk = bytes,
                Some(Message::Verified(sha256)) => self.state = State::Verified(sha256),
                Some(Message::Failed(error)) => {
                    self.state = State::Failed;
                    return Poll::Ready(Err(error.into_io()));
                }
                None => {
                    self.state = State::Failed;
                    return Poll::Ready(Err(self.stopped("the download task stopped")));
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn stopped(&self, detail: &str) -> io::Error {
        HubError::Network {
            url: self.url.clone(),
            detail: detail.to_owned(),
        }
        .into_io()
    }

    fn advance(&mut self, n: usize) {
        self.chunk.advance(n);
        self.delivered += n as u64;
    }
}

impl AsyncRead for Download {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_chunk(cx))?;
        let n = buf.remaining().min(this.chunk.len());
        buf.put_slice(&this.chunk[..n]);
        this.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Lets `tokio::io::copy_buf` write the received chunks without another copy.
impl AsyncBufRead for Download {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        ready!(this.poll_chunk(cx))?;
        Poll::Ready(Ok(&this.chunk))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let n = amt.min(this.chunk.len());
        this.advance(n);
    }
}

/// Starts the task that carries `response` (the answer to the first request) and any resumption.
pub(super) fn start(
    client: HubClient,
    url: Url,
    commit: String,
    file: RemoteFile,
    response: reqwest::Response,
    progress: Option<Progress>,
    check: ContentCheck,
) -> Download {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let shown = display_url(&url);
    let path = file.path.clone();
    let transfer = Transfer {
        client,
        url,
        commit,
        verifier: Verifier {
            path: file.path.clone(),
            size: file.size,
            received: 0,
        },
        progress,
        tx,
    };
    let hasher = Hasher::start(Digests::new(&file, check));
    let task = tokio::spawn(transfer.run(response, hasher)).abort_handle();
    Download {
        path,
        url: shown,
        chunks: rx,
        chunk: Bytes::new(),
        delivered: 0,
        state: State::Streaming,
        task,
    }
}

struct Transfer {
    client: HubClient,
    url: Url,
    commit: String,
    verifier: Verifier,
    progress: Option<Progress>,
    tx: mpsc::Sender<Message>,
}

/// Why the transfer ended early.
enum Stop {
    /// The `Download` was dropped: nobody is listening.
    ReaderGone,
    Failed(HubError),
}

impl From<HubError> for Stop {
    fn from(error: HubError) -> Self {
        Self::Failed(error)
    }
}

impl Transfer {
    async fn run(mut self, first: reqwest::Response, hasher: Hasher) {
        let message = match self.transfer(first, hasher).await {
            Ok(sha256) => Message::Verified(sha256),
            Err(Stop::Failed(error)) => Message::Failed(error),
            Err(Stop::ReaderGone) => return,
        };
        // A send fails only when the reader is gone, and then nobody needs the outcome.
        let _ = self.tx.send(message).await;
    }

    async fn transfer(
        &mut self,
        mut response: reqwest::Response,
        hasher: Hasher,
    ) -> Result<Option<String>, Stop> {
        let mut skip = 0;
        let mut resumes = 0;
        loop {
            let broke = self.pump(&mut response, &mut skip, &hasher).await?;
            // Complete even if the connection broke after the last byte: the digest decides.
            if self.verifier.received == self.verifier.size {
                let digests = hasher.finish(&self.url).await?;
                return Ok(digests.verdict(&self.verifier.path)?);
            }
            let mut reason = broke.unwrap_or_else(|| "the body ended early".to_owned());
            (response, skip) = loop {
                if resumes >= self.client.max_resume_attempts() {
                    return Err(Stop::Failed(HubError::Network {
                        url: display_url(&self.url),
                        detail: format!(
                            "the connection broke at byte {} of {} and {resumes} {} did not \
                             finish the file: {reason}",
                            self.verifier.received,
                            self.verifier.size,
                            if resumes == 1 {
                                "resumption"
                            } else {
                                "resumptions"
                            }
                        ),
                    }));
                }
                resumes += 1;
                tracing::warn!(
                    path = %self.verifier.path,
                    received = self.verifier.received,
                    resumes,
                    %reason,
                    "download interrupted; resuming"
                );
                tokio::time::sleep(backoff(resumes)).await;
                match self.resume().await {
                    Ok(resumed) => break resumed,
                    Err(error) if is_transient(&error) => reason = error.to_string(),
                    Err(error) => return Err(error.into()),
                }
            };
        }
    }

    /// Moves the body of `response` to the reader, hashing it. Returns why the connection broke,
    /// or `None` if the body ended cleanly.
    async fn pump(
        &mut self,
        response: &mut reqwest::Response,
        skip: &mut u64,
        hasher: &Hasher,
    ) -> Result<Option<String>, Stop> {
        loop {
            let mut chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(None),
                Err(error) => return Ok(Some(describe(error))),
            };
            skip_prefix(&mut chunk, skip);
            if chunk.is_empty() {
                continue;
            }
            self.verifier.count(&chunk)?;
            hasher.update(chunk.clone(), &self.url).await?;
            if let Some(progress) = &self.progress {
                progress(chunk.len() as u64);
            }
            self.tx
                .send(Message::Data(chunk))
                .await
                .map_err(|_| Stop::ReaderGone)?;
        }
    }

    /// Asks again from the first missing byte (re-following redirects and re-checking the
    /// commit); returns the response and how many of its first bytes we already hold.
    async fn resume(&self) -> Result<(reqwest::Response, u64)> {
        let received = self.verifier.received;
        let pinned = Pinned {
            path: &self.verifier.path,
            commit: &self.commit,
        };
        let response = match self
            .client
            .get(&self.url, Some(received), Some(&pinned))
            .await
        {
            Err(HubError::Status { status: 416, .. }) => {
                return Err(integrity(
                    &self.verifier.path,
                    format!(
                        "the hub holds fewer bytes than the {} it listed",
                        self.verifier.size
                    ),
                ))
            }
            other => other?,
        };
        let skip = match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let range = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(parse_content_range);
                self.check_range(range)?;
                0
            }
            // The server ignored the range and sends the whole file: drop what we already hold.
            StatusCode::OK => {
                check_length(&response, &self.verifier.path, self.verifier.size)?;
                received
            }
            other => {
                return Err(HubError::Status {
                    url: display_url(&self.url),
                    status: other.as_u16(),
                    hint: "; expected 206 or 200 to a range request".to_owned(),
                })
            }
        };
        Ok((response, skip))
    }

    fn check_range(&self, range: Option<(u64, Option<u64>)>) -> Result<()> {
        let (received, size) = (self.verifier.received, self.verifier.size);
        let detail = match range {
            None => "the hub answered a range request without a usable Content-Range".to_owned(),
            Some((_, Some(total))) if total != size => {
                format!("the hub now serves {total} bytes, it listed {size}")
            }
            Some((start, _)) if start != received => {
                format!("the hub resumed at byte {start}, not at {received}")
            }
            Some(_) => return Ok(()),
        };
        Err(integrity(&self.verifier.path, detail))
    }
}

/// Drops the first `*skip` bytes of the stream, across chunks.
fn skip_prefix(chunk: &mut Bytes, skip: &mut u64) {
    let n = usize::try_from(*skip)
        .unwrap_or(usize::MAX)
        .min(chunk.len());
    chunk.advance(n);
    *skip -= n as u64;
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) → (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

/// Counts the bytes of one file against the listed size.
struct Verifier {
    path: String,
    size: u64,
    received: u64,
}

impl Verifier {
    fn count(&mut self, chunk: &[u8]) -> Result<()> {
        if chunk.len() as u64 > self.size - self.received {
            return Err(integrity(
                &self.path,
                format!("the hub sent more than the {} bytes it listed", self.size),
            ));
        }
        self.received += chunk.len() as u64;
        Ok(())
    }
}

/// Who checks a download's content digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentCheck {
    /// The stream, before it reports the end.
    Here,
    /// The consumer, with its own SHA-256 (LFS files only; others are checked here).
    Consumer,
}

/// The hashes of one file and the digest the hub listed for it.
struct Digests {
    sha256: Option<Sha256Hasher>,
    check: Check,
}

enum Check {
    /// LFS files: the SHA-256 of the content.
    Sha256(String),
    /// Other files: the git blob id, hashed alongside.
    GitBlob(String, Box<GitBlobHasher>),
    /// LFS files whose consumer compares its own SHA-256 with the listing.
    Consumer,
}

impl Digests {
    fn new(file: &RemoteFile, check: ContentCheck) -> Self {
        let (check, sha256) = match (&file.lfs_sha256, check) {
            (Some(_), ContentCheck::Consumer) => (Check::Consumer, None),
            (Some(sha256), ContentCheck::Here) => {
                (Check::Sha256(sha256.clone()), Some(Sha256Hasher::default()))
            }
            (None, _) => (
                Check::GitBlob(
                    file.blob_id.clone(),
                    Box::new(GitBlobHasher::new(file.size)),
                ),
                Some(Sha256Hasher::default()),
            ),
        };
        Self { sha256, check }
    }

    fn update(&mut self, chunk: &[u8]) {
        if let Some(sha256) = &mut self.sha256 {
            sha256.update(chunk);
        }
        if let Check::GitBlob(_, git_blob) = &mut self.check {
            git_blob.update(chunk);
        }
    }

    /// The SHA-256 if the listed digest matches (`None` when the consumer checks it).
    fn verdict(self, path: &str) -> Result<Option<String>> {
        let Some(sha256) = self.sha256.map(Sha256Hasher::finish_hex) else {
            return Ok(None);
        };
        let (kind, got, promised) = match self.check {
            Check::Sha256(promised) => ("sha256", sha256.clone(), promised),
            Check::GitBlob(promised, git_blob) => ("git blob id", git_blob.finish_hex(), promised),
            Check::Consumer => return Ok(None),
        };
        if got != promised {
            return Err(integrity(
                path,
                format!("{kind} is {got}, the hub promised {promised}"),
            ));
        }
        Ok(Some(sha256))
    }
}

/// Hashes on a blocking thread, so that hashing (the costliest step) overlaps receiving and
/// the consumer's own work instead of sharing a runtime worker with them.
struct Hasher {
    chunks: mpsc::Sender<Bytes>,
    digests: JoinHandle<Digests>,
}

impl Hasher {
    fn start(mut digests: Digests) -> Self {
        let (chunks, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
        let digests = tokio::task::spawn_blocking(move || {
            // Ends when the sender is dropped: at the end, or when the download is dropped.
            while let Some(chunk) = rx.blocking_recv() {
                digests.update(&chunk);
            }
            digests
        });
        Self { chunks, digests }
    }

    async fn update(&self, chunk: Bytes, url: &Url) -> Result<()> {
        self.chunks
            .send(chunk)
            .await
            .map_err(|_| hashing_stopped(url))
    }

    async fn finish(self, url: &Url) -> Result<Digests> {
        drop(self.chunks);
        self.digests.await.map_err(|_| hashing_stopped(url))
    }
}

fn hashing_stopped(url: &Url) -> HubError {
    HubError::Network {
        url: display_url(url),
        detail: "the hashing thread stopped".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::git_blob_id;

    fn file(content: &[u8], lfs: bool) -> RemoteFile {
        RemoteFile {
            path: "w.bin".to_owned(),
            size: content.len() as u64,
            blob_id: git_blob_id(content),
            lfs_sha256: lfs.then(|| Sha256Hasher::digest_hex(content)),
        }
    }

    fn verifier(size: usize) -> Verifier {
        Verifier {
            path: "w.bin".to_owned(),
            size: size as u64,
            received: 0,
        }
    }

    /// A server that ignores `Range` resends the whole file: the prefix we hold is skipped
    /// and the digest still covers each byte exactly once.
    #[test]
    fn a_full_answer_to_a_range_request_skips_what_was_received() {
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for lfs in [true, false] {
            let mut verifier = verifier(content.len());
            let mut digests = Digests::new(&file(&content, lfs), ContentCheck::Here);
            let mut out = Vec::new();
            verifier.count(&content[..3000]).unwrap();
            digests.update(&content[..3000]);
            out.extend_from_slice(&content[..3000]);
            // The second answer starts over, in chunks that straddle the skipped prefix.
            let mut skip = verifier.received;
            for piece in content.chunks(1024) {
                let mut chunk = Bytes::copy_from_slice(piece);
                skip_prefix(&mut chunk, &mut skip);
                verifier.count(&chunk).unwrap();
                digests.update(&chunk);
                out.extend_from_slice(&chunk);
            }
            assert_eq!(out, content);
            assert_eq!(verifier.received, 10_000);
            assert_eq!(
                digests.verdict("w.bin").unwrap(),
                Some(Sha256Hasher::digest_hex(&content))
            );
        }
    }

    #[test]
    fn extra_bytes_and_wrong_digests_are_refused() {
        let content = b"0123456789";
        let mut verifier = verifier(content.len());
        verifier.count(b"01234").unwrap();
        let error = verifier.count(b"5678901").unwrap_err();
        assert!(
            error.to_string().contains("more than the 10 bytes"),
            "{error}"
        );

        for lfs in [true, false] {
            let mut digests = Digests::new(&file(content, lfs), ContentCheck::Here);
            digests.update(b"0123456780");
            let (path, detail) = match digests.verdict("w.bin").unwrap_err() {
                HubError::Integrity { path, detail } => (path, detail),
                other => panic!("{other:?}"),
            };
            let kind = if lfs { "sha256 is " } else { "git blob id is " };
            assert_eq!(path, "w.bin");
            assert!(
                detail.starts_with(kind) && detail.contains(", the hub promised "),
                "{detail}"
            );
        }
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 1000-2999/3000"),
            Some((1000, Some(3000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */3000"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
