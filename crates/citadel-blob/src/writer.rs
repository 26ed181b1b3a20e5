//! The write pipeline: plaintext in, framed ciphertext out to a staging object. SHA-256 of the plaintext
//! runs on one worker thread while AES-GCM runs on another; memory stays bounded by a few batches.

use bytes::{Bytes, BytesMut};
use ring::digest::{Context, SHA256};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::sync::mpsc;

use crate::address::Digest;
use crate::backend::StagingSink;
use crate::error::{Error, Result};
use crate::format::{write_batch_bytes, ChunkCipher};

/// Batches queued between pipeline stages.
const QUEUE_DEPTH: usize = 3;

/// What the pipeline learned about the plaintext it encrypted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encrypted {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

/// A plaintext batch for the encrypting thread.
struct PlainBatch {
    first_index: u64,
    data: Bytes,
    last: bool,
}

/// Encrypts everything `source` yields into `sink` (header first), hashing the plaintext on the way.
pub(crate) async fn encrypt_into<R>(
    mut source: R,
    cipher: ChunkCipher,
    sink: &mut StagingSink,
) -> Result<Encrypted>
where
    R: AsyncRead + Unpin + Send,
{
    let batch_bytes = write_batch_bytes(cipher.chunk_size());
    let chunks_per_batch = (batch_bytes / cipher.chunk_size() as usize) as u64;
    sink.write(cipher.sealed_header()?).await?;

    let (hash_queue, mut hash_input) = mpsc::channel::<Bytes>(QUEUE_DEPTH);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut context = Context::new(&SHA256);
        while let Some(data) = hash_input.blocking_recv() {
            context.update(&data);
        }
        context.finish()
    });
    let (plain_queue, mut plain_input) = mpsc::channel::<PlainBatch>(QUEUE_DEPTH);
    let (sealed_queue, mut sealed_output) = mpsc::channel::<Result<Bytes>>(QUEUE_DEPTH);
    let encryptor = tokio::task::spawn_blocking(move || {
        while let Some(batch) = plain_input.blocking_recv() {
            let sealed = cipher.seal_batch(batch.first_index, &batch.data, batch.last);
            let failed = sealed.is_err();
            if sealed_queue.blocking_send(sealed).is_err() || failed {
                break;
            }
        }
    });

    let produce = async move {
        let mut size = 0u64;
        let mut first_index = 0u64;
        let mut current = read_batch(&mut source, batch_bytes).await?;
        loop {
            let next = if current.len() == batch_bytes {
                read_batch(&mut source, batch_bytes).await?
            } else {
                Bytes::new()
            };
            let last = next.is_empty();
            size += current.len() as u64;
            hash_queue
                .send(current.clone())
                .await
                .map_err(|_| stopped("hashing"))?;
            let batch = PlainBatch {
                first_index,
                data: current,
                last,
            };
            plain_queue
                .send(batch)
                .await
                .map_err(|_| stopped("encryption"))?;
            if last {
                return Ok::<_, Error>(size);
            }
            first_index += chunks_per_batch;
            current = next;
        }
    };
    let consume = async {
        while let Some(sealed) = sealed_output.recv().await {
            sink.write(sealed?).await?;
        }
        Ok(())
    };
    let (size, ()) = tokio::try_join!(produce, consume)?;
    encryptor.await.map_err(|e| Error::Worker(e.to_string()))?;
    let digest = hasher.await.map_err(|e| Error::Worker(e.to_string()))?;
    Ok(Encrypted {
        digest: Digest::from_bytes(digest.as_ref())?,
        size,
    })
}

/// Reads `len` bytes, fewer only at the end of the source.
async fn read_batch<R: AsyncRead + Unpin>(source: &mut R, len: usize) -> Result<Bytes> {
    let mut buffer = BytesMut::with_capacity(len);
    let mut limited = source.take(len as u64);
    while buffer.len() < len {
        if limited.read_buf(&mut buffer).await.map_err(Error::Stream)? == 0 {
            break;
        }
    }
    Ok(buffer.freeze())
}

fn stopped(stage: &str) -> Error {
    Error::Worker(format!("the {stage} worker stopped"))
}
