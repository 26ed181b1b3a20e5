//! Bridges between the synchronous row code of `citadel-data` and the async, encrypting artifact
//! store: rows are produced or consumed on a blocking thread while the blob store encrypts or
//! decrypts on the runtime, through a bounded channel, so memory stays bounded at any size.

use std::io::{self, BufRead, BufReader, Write};
use std::sync::Arc;

use bytes::Bytes;
use citadel_blob::{ArtifactRef, BlobStore};
use citadel_data::{EncodeSummary, RowWriter, StoredRows};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::{Error, Result};

/// Bytes gathered before a chunk is handed to the blob store.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the row thread and the blob store.
const IN_FLIGHT: usize = 8;

/// Rows of a stored version, read on a blocking thread.
pub(crate) type StoredReader = StoredRows<Box<dyn BufRead + Send>>;

/// A `Write` that hands full chunks to the async side.
pub(crate) struct PipeWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<io::Result<Bytes>>,
}

impl PipeWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::other("the artifact store stopped reading"))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

/// Opens a reader over a stored version's plaintext for use on a blocking thread. Every chunk
/// is authenticated as it is decrypted; the digest is checked at the end of the stream.
pub(crate) async fn open_rows(blobs: &BlobStore, reference: &ArtifactRef) -> Result<StoredReader> {
    let reader = blobs.open_reader(reference).await?;
    let sync: Box<dyn BufRead + Send> =
        Box::new(BufReader::with_capacity(CHUNK, SyncIoBridge::new(reader)));
    Ok(StoredRows::new(sync))
}

/// Runs `produce` on a blocking thread, encrypting and storing what it writes as one artifact.
/// If `produce` fails, the artifact store sees a failed stream and stores nothing.
pub(crate) async fn write_rows<T, F>(
    blobs: &Arc<BlobStore>,
    produce: F,
) -> Result<(ArtifactRef, EncodeSummary, T)>
where
    T: Send + 'static,
    F: FnOnce(&mut RowWriter<PipeWriter>) -> Result<T> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
    let producer = tokio::task::spawn_blocking(move || {
        let abort = sender.clone();
        let mut writer = RowWriter::new(PipeWriter {
            buffer: Vec::with_capacity(CHUNK),
            sender,
        });
        let outcome = produce(&mut writer).and_then(|value| {
            let (mut pipe, summary) = writer.finish()?;
            pipe.flush()
                .map_err(|e| Error::InvalidInput(format!("cannot store the rows: {e}")))?;
            Ok((summary, value))
        });
        if outcome.is_err() {
            // Poison the stream so the half-written artifact is discarded, not published.
            let _ = abort.blocking_send(Err(io::Error::other("the row producer failed")));
        }
        outcome
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let stored = blobs.put_reader(StreamReader::new(Box::pin(stream))).await;
    let produced = producer
        .await
        .map_err(|e| Error::InvalidInput(format!("the row producer stopped: {e}")))?;
    let (summary, value) = produced?;
    Ok((stored?, summary, value))
}
