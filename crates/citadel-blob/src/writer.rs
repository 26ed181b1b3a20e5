//! The write pipeline: plaintext in, stored frames out to a staging object. A worker thread reads the
//! plaintext straight into its chunk slots; another hashes a batch while a third seals the previous one
//! in place, so each byte is copied only on its way in and out. Buffers are recycled; memory is bounded.

use std::collections::VecDeque;
use std::sync::mpsc as recycling;

use std::io::Read;

use bytes::{Bytes, BytesMut};
use ring::digest::{Context, SHA256};
use tokio::sync::mpsc;

use crate::address::Digest;
use crate::backend::StagingSink;
use crate::error::{Error, Result};
use crate::format::{write_batch_slots, ChunkCipher, FramedBatch, TAG_LEN};

/// Batches queued between pipeline stages.
const QUEUE_DEPTH: usize = 2;
/// Written batches watched for their sink to let go of them, so their buffers can be reused.
const RECYCLE_WATCH: usize = 8;

/// What the pipeline learned about the plaintext it encrypted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encrypted {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

/// Encrypts everything `source` yields into `sink` (header first), hashing the plaintext on the way.
/// The source is read on a blocking worker thread.
pub(crate) async fn encrypt_into<R>(
    mut source: R,
    cipher: ChunkCipher,
    sink: &mut StagingSink,
) -> Result<Encrypted>
where
    R: Read + Send + 'static,
{
    let chunk_size = cipher.chunk_size() as usize;
    let slots = write_batch_slots(cipher.chunk_size());
    sink.write(cipher.sealed_header()?).await?;

    let (recycle, recycled) = recycling::channel::<BytesMut>();
    let (hash_queue, mut hash_input) = mpsc::channel::<FramedBatch>(QUEUE_DEPTH);
    let reader = tokio::task::spawn_blocking(move || {
        let mut size = 0u64;
        let mut first_index = 0u64;
        let mut current = fill(&mut source, &recycled, chunk_size, slots)?;
        if current.batch.chunks == 0 {
            // An empty artifact is one empty final chunk.
            current.batch.chunks = 1;
            current.batch.last_len = 0;
        }
        loop {
            let next = if current.eof {
                None
            } else {
                Some(fill(&mut source, &recycled, chunk_size, slots)?)
                    .filter(|next| next.batch.chunks > 0)
            };
            let mut batch = current.batch;
            batch.first_index = first_index;
            batch.last = next.is_none();
            first_index += batch.chunks as u64;
            size += ((batch.chunks - 1) * chunk_size + batch.last_len) as u64;
            hash_queue
                .blocking_send(batch)
                .map_err(|_| stopped("hashing"))?;
            match next {
                Some(next) => current = next,
                None => return Ok::<_, Error>(size),
            }
        }
    });
    let (seal_queue, mut seal_input) = mpsc::channel::<FramedBatch>(QUEUE_DEPTH);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut context = Context::new(&SHA256);
        while let Some(batch) = hash_input.blocking_recv() {
            batch
                .plaintext(chunk_size)
                .for_each(|chunk| context.update(chunk));
            if seal_queue.blocking_send(batch).is_err() {
                break;
            }
        }
        context.finish()
    });
    let (sealed_queue, mut sealed_output) = mpsc::channel::<Result<Bytes>>(QUEUE_DEPTH);
    tokio::task::spawn_blocking(move || {
        while let Some(mut batch) = seal_input.blocking_recv() {
            let sealed = cipher
                .seal_batch(&mut batch)
                .map(|()| batch.buffer.freeze());
            let failed = sealed.is_err();
            if sealed_queue.blocking_send(sealed).is_err() || failed {
                break;
            }
        }
    });

    // Dropping the receiving end on an early return stops every worker in turn.
    let mut written = VecDeque::new();
    while let Some(sealed) = sealed_output.recv().await {
        let sealed = sealed?;
        sink.write(sealed.clone()).await?;
        written.push_back(sealed);
        while written.front().is_some_and(Bytes::is_unique) || written.len() > RECYCLE_WATCH {
            if let Some(Ok(buffer)) = written.pop_front().map(Bytes::try_into_mut) {
                // The reader may have finished; then the buffer is simply freed.
                let _ = recycle.send(buffer);
            }
        }
    }
    let size = reader.await.map_err(|e| Error::Worker(e.to_string()))??;
    let digest = hasher.await.map_err(|e| Error::Worker(e.to_string()))?;
    Ok(Encrypted {
        digest: Digest::from_bytes(digest.as_ref())?,
        size,
    })
}

/// A batch read from the source, and whether the source is exhausted.
struct Filled {
    batch: FramedBatch,
    eof: bool,
}

/// Reads plaintext into the chunk slots of a (recycled or new) buffer until it is full or the source
/// ends. The batch may hold zero chunks when the source ended exactly before it.
fn fill(
    source: &mut impl Read,
    recycled: &recycling::Receiver<BytesMut>,
    chunk_size: usize,
    slots: usize,
) -> Result<Filled> {
    let slot = chunk_size + TAG_LEN;
    let mut buffer = recycled
        .try_recv()
        .unwrap_or_else(|_| BytesMut::with_capacity(slots * slot));
    buffer.resize(slots * slot, 0);
    let mut batch = FramedBatch {
        first_index: 0,
        buffer,
        chunks: 0,
        last_len: chunk_size,
        last: false,
    };
    for j in 0..slots {
        let start = j * slot;
        let mut filled = 0;
        while filled < chunk_size {
            let n = match source.read(&mut batch.buffer[start + filled..start + chunk_size]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Stream(e)),
            };
            if n == 0 {
                if filled > 0 {
                    batch.chunks = j + 1;
                    batch.last_len = filled;
                }
                return Ok(Filled { batch, eof: true });
            }
            filled += n;
        }
        batch.chunks = j + 1;
    }
    Ok(Filled { batch, eof: false })
}

fn stopped(stage: &str) -> Error {
    Error::Worker(format!("the {stage} worker stopped"))
}
