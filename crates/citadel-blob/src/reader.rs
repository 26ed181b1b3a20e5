//! The read pipeline: stored bytes in, verified plaintext out. A task reads whole frames, a worker thread
//! authenticates and decrypts them, another hashes the plaintext; the reader errors at the end if the
//! SHA-256 differs from the reference, so a consumer never sees a clean end of unverified content.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use ring::digest::{Context as HashContext, SHA256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::address::Digest;
use crate::backend::CipherSource;
use crate::error::{Error, IntegrityFailure, Result};
use crate::format::{ChunkCipher, Layout, HEADER_LEN};

/// Batches queued between pipeline stages.
const QUEUE_DEPTH: usize = 3;

/// Streams the verified plaintext of one artifact, as a [`Stream`] of byte chunks or as an [`AsyncRead`].
///
/// Every chunk is authenticated before it is yielded; the end of the stream is reported only after the
/// whole plaintext matched the reference's digest, otherwise the last item is an integrity error.
#[derive(Debug)]
pub struct ArtifactReader {
    plaintext: mpsc::Receiver<Result<Vec<Bytes>>>,
    pending: VecDeque<Bytes>,
    hasher: Option<JoinHandle<ring::digest::Digest>>,
    expected: Digest,
    finished: bool,
}

/// Starts the read pipeline over `source`.
pub(crate) fn spawn(
    source: CipherSource,
    cipher: ChunkCipher,
    layout: Layout,
    expected: Digest,
) -> ArtifactReader {
    let cipher = Arc::new(cipher);
    let (frame_queue, mut frames) = mpsc::channel::<Result<(u64, BytesMut)>>(QUEUE_DEPTH);
    tokio::spawn(read_frames(
        source,
        Arc::clone(&cipher),
        layout,
        frame_queue,
    ));

    let (hash_queue, mut hash_input) = mpsc::channel::<Vec<Bytes>>(QUEUE_DEPTH);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut context = HashContext::new(&SHA256);
        while let Some(batch) = hash_input.blocking_recv() {
            batch.iter().for_each(|chunk| context.update(chunk));
        }
        context.finish()
    });

    let (plain_queue, plaintext) = mpsc::channel(QUEUE_DEPTH);
    tokio::task::spawn_blocking(move || {
        while let Some(item) = frames.blocking_recv() {
            let opened = item.and_then(|(first_index, data)| {
                cipher
                    .open_batch(&layout, first_index, data)
                    .map_err(Error::from)
            });
            let batch = match opened {
                Ok(batch) => batch,
                Err(e) => {
                    // If the reader is gone, nobody is left to tell.
                    let _ = plain_queue.blocking_send(Err(e));
                    break;
                }
            };
            if hash_queue.blocking_send(batch.clone()).is_err()
                || plain_queue.blocking_send(Ok(batch)).is_err()
            {
                break;
            }
        }
    });

    ArtifactReader {
        plaintext,
        pending: VecDeque::new(),
        hasher: Some(hasher),
        expected,
        finished: false,
    }
}

/// Feeds whole frames to the decrypting thread; any failure is sent down the pipeline in order.
async fn read_frames(
    mut source: CipherSource,
    cipher: Arc<ChunkCipher>,
    layout: Layout,
    queue: mpsc::Sender<Result<(u64, BytesMut)>>,
) {
    if let Err(e) = send_frames(&mut source, &cipher, &layout, &queue).await {
        // If the reader is gone, nobody is left to tell.
        let _ = queue.send(Err(e)).await;
    }
}

async fn send_frames(
    source: &mut CipherSource,
    cipher: &ChunkCipher,
    layout: &Layout,
    queue: &mpsc::Sender<Result<(u64, BytesMut)>>,
) -> Result<()> {
    let truncated = |got: u64| IntegrityFailure::Truncated {
        got,
        expected: layout.stored_len(),
    };
    let header = source.read_up_to(HEADER_LEN).await?;
    let mut consumed = header.len() as u64;
    if header.len() < HEADER_LEN {
        return Err(truncated(consumed).into());
    }
    cipher.check_header(&header)?;
    let mut index = 0;
    while index < layout.chunk_count() {
        let (count, len) = layout.batch(index);
        let mut data = source.read_up_to(len as usize).await?;
        consumed += data.len() as u64;
        if (data.len() as u64) < len {
            // Authenticate the whole frames that did arrive first: a dropped chunk then shows where.
            let whole = layout.whole_frames_len(index, data.len() as u64) as usize;
            let frames = data.split_to(whole);
            if !frames.is_empty() && queue.send(Ok((index, frames))).await.is_err() {
                return Ok(());
            }
            return Err(truncated(consumed).into());
        }
        if queue.send(Ok((index, data))).await.is_err() {
            return Ok(()); // The reader was dropped.
        }
        index += count;
    }
    if !source.read_up_to(1).await?.is_empty() {
        return Err(IntegrityFailure::TrailingData.into());
    }
    Ok(())
}

impl ArtifactReader {
    /// Compares the hash of everything decrypted with the expected digest.
    fn verify(&self, computed: ring::digest::Digest) -> Result<()> {
        let actual = Digest::from_bytes(computed.as_ref())?;
        if actual == self.expected {
            Ok(())
        } else {
            Err(IntegrityFailure::DigestMismatch {
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            }
            .into())
        }
    }
}

impl Stream for ArtifactReader {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match ready!(this.plaintext.poll_recv(cx)) {
                Some(Ok(batch)) => this
                    .pending
                    .extend(batch.into_iter().filter(|chunk| !chunk.is_empty())),
                Some(Err(e)) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let Some(hasher) = this.hasher.as_mut() else {
                        this.finished = true;
                        continue;
                    };
                    let joined = ready!(Pin::new(hasher).poll(cx));
                    this.hasher = None;
                    this.finished = true;
                    let verified = joined
                        .map_err(|e| Error::Worker(e.to_string()))
                        .and_then(|computed| this.verify(computed));
                    if let Err(e) = verified {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
        }
    }
}

impl AsyncRead for ArtifactReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.pending.is_empty() {
            match ready!(Pin::new(&mut *this).poll_next(cx)) {
                Some(Ok(chunk)) => this.pending.push_front(chunk),
                Some(Err(e)) => return Poll::Ready(Err(e.into_io())),
                None => return Poll::Ready(Ok(())),
            }
        }
        if let Some(front) = this.pending.front_mut() {
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front.split_to(n));
            if front.is_empty() {
                this.pending.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}
