//! [`InferenceLogWriter`]: queues inference records without ever blocking or awaiting, and a
//! background task stores them in batches (every `flush_interval_ms` or `max_batch_rows` rows,
//! whichever comes first), each batch in one transaction.
//!
//! When the queue is full a record is dropped and counted, never waited for: a slow database
//! must not slow responses. Sampling keeps a deterministic fraction of successful requests (by a
//! hash of the request id, so reruns and tests keep the same ones) and every other status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use citadel_store::Store;
use ring::digest::{digest, SHA256};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{InferenceRecord, InferenceStatus};
use crate::{Error, Result};

/// How the writer batches, buffers and samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceLogConfig {
    /// Fraction of `ok` requests kept, 0 to 1; other statuses are always kept.
    pub sample_rate: f64,
    /// A batch is written at the latest this long after its first record.
    pub flush_interval_ms: u64,
    /// A batch is written as soon as it holds this many records.
    pub max_batch_rows: usize,
    /// Records waiting to be batched; more are dropped (and counted).
    pub queue_capacity: usize,
}

impl Default for InferenceLogConfig {
    fn default() -> Self {
        Self {
            sample_rate: 1.0,
            flush_interval_ms: 200,
            max_batch_rows: 512,
            queue_capacity: 8192,
        }
    }
}

impl InferenceLogConfig {
    /// Checks every setting is in range.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(Error::InvalidInput(format!(
                "the inference log sample rate is a fraction from 0 to 1, not {}",
                self.sample_rate
            )));
        }
        if self.flush_interval_ms == 0 || self.max_batch_rows == 0 || self.queue_capacity == 0 {
            return Err(Error::InvalidInput(
                "the inference log's flush_interval_ms, max_batch_rows and queue_capacity must \
                 each be at least 1"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// What [`InferenceLogWriter::record`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Queued for the next batch.
    Queued,
    /// Left out by sampling (an `ok` request outside the sample).
    SampledOut,
    /// Dropped: the queue was full or the writer has shut down.
    Dropped,
}

/// The gateway's handle on the inference log: cheap to clone, shared by every request task.
///
/// [`record`](Self::record) never blocks or awaits. Call [`shutdown`](Self::shutdown) before the
/// process exits so queued records are stored; [`flush`](Self::flush) stores what was recorded
/// so far. The counters are for metrics.
#[derive(Debug, Clone)]
pub struct InferenceLogWriter {
    queue: mpsc::Sender<Message>,
    stopped: watch::Receiver<bool>,
    counters: Arc<Counters>,
    sample_rate: f64,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    sampled_out: AtomicU64,
}

#[derive(Debug)]
enum Message {
    Record(Box<InferenceRecord>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

impl InferenceLogWriter {
    /// Validates `config` and spawns the batching task on the current Tokio runtime.
    pub(crate) fn start(store: Store, config: InferenceLogConfig) -> Result<Self> {
        config.validate()?;
        let (queue, rx) = mpsc::channel(config.queue_capacity);
        let (stopped_tx, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let batcher = Batcher {
            store,
            rx,
            counters: counters.clone(),
            interval: Duration::from_millis(config.flush_interval_ms),
            max_rows: config.max_batch_rows,
            batch: Vec::with_capacity(config.max_batch_rows.min(4096)),
        };
        tokio::spawn(async move {
            batcher.run().await;
            stopped_tx.send_replace(true);
        });
        Ok(Self {
            queue,
            stopped,
            counters,
            sample_rate: config.sample_rate,
        })
    }

    /// Queues `record` for the next batch, or counts it as sampled out or dropped. Never blocks.
    pub fn record(&self, record: InferenceRecord) -> RecordOutcome {
        self.record_at_rate(record, self.sample_rate)
    }

    /// As [`record`](Self::record), sampling `ok` records at `sample_rate` (0 to 1) instead of
    /// the writer's rate: for an endpoint's own log policy.
    pub fn record_at_rate(&self, record: InferenceRecord, sample_rate: f64) -> RecordOutcome {
        if record.status == InferenceStatus::Ok && !sampled_in(&record.request_id, sample_rate) {
            self.counters.sampled_out.fetch_add(1, Ordering::Relaxed);
            return RecordOutcome::SampledOut;
        }
        match self.queue.try_send(Message::Record(Box::new(record))) {
            Ok(()) => RecordOutcome::Queued,
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                RecordOutcome::Dropped
            }
        }
    }

    /// Stores every record queued before this call (waiting for queue space if needed).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Message::Flush(ack)).await.is_ok() {
            // An error means the task ended, after storing what it had.
            let _ = done.await;
        } else {
            self.wait_stopped().await;
        }
    }

    /// Stops accepting records, stores every queued one, and ends the batching task. Later
    /// records are counted as dropped. Safe to call from several clones and more than once.
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Message::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
        self.wait_stopped().await;
    }

    /// Records stored so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Records lost: queue full, writer shut down, or their batch failed to store.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// `ok` records left out by sampling.
    pub fn sampled_out(&self) -> u64 {
        self.counters.sampled_out.load(Ordering::Relaxed)
    }

    async fn wait_stopped(&self) {
        let mut stopped = self.stopped.clone();
        // An error means the task's end was already signalled and its sender dropped.
        let _ = stopped.wait_for(|done| *done).await;
    }
}

/// Whether a request id falls inside a sample of `rate` (0 to 1): the first 53 bits of the
/// id's SHA-256 as a fraction, so the decision is the same in every process and every run.
pub(super) fn sampled_in(request_id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    let hash = digest(&SHA256, request_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    let fraction = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    fraction < rate
}

/// The background task: collects records into batches and stores them.
struct Batcher {
    store: Store,
    rx: mpsc::Receiver<Message>,
    counters: Arc<Counters>,
    interval: Duration,
    max_rows: usize,
    batch: Vec<InferenceRecord>,
}

impl Batcher {
    async fn run(mut self) {
        let mut deadline = Instant::now();
        loop {
            let message = if self.batch.is_empty() {
                self.rx.recv().await
            } else {
                tokio::select! {
                    message = self.rx.recv() => message,
                    () = tokio::time::sleep_until(deadline) => {
                        self.write().await;
                        continue;
                    }
                }
            };
            match message {
                Some(Message::Record(record)) => {
                    if self.batch.is_empty() {
                        deadline = Instant::now() + self.interval;
                    }
                    self.batch.push(*record);
                    if self.batch.len() >= self.max_rows {
                        self.write().await;
                    }
                }
                Some(Message::Flush(ack)) => {
                    self.write().await;
                    let _ = ack.send(());
                }
                Some(Message::Shutdown(ack)) => {
                    self.drain().await;
                    let _ = ack.send(());
                    return;
                }
                None => {
                    // Every handle was dropped: store what is left.
                    self.write().await;
                    return;
                }
            }
        }
    }

    /// Closes the queue and stores everything still in it, answering flushes on the way.
    async fn drain(&mut self) {
        self.rx.close();
        let mut acks = Vec::new();
        while let Some(message) = self.rx.recv().await {
            match message {
                Message::Record(record) => {
                    self.batch.push(*record);
                    if self.batch.len() >= self.max_rows {
                        self.write().await;
                    }
                }
                Message::Flush(ack) | Message::Shutdown(ack) => acks.push(ack),
            }
        }
        self.write().await;
        for ack in acks {
            let _ = ack.send(());
        }
    }

    /// Stores the current batch in one transaction. A failed batch is counted as dropped and
    /// logged (without its contents): the gateway keeps serving.
    async fn write(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let rows: Vec<_> = self.batch.drain(..).map(|r| r.to_store()).collect();
        let n = rows.len() as u64;
        match self.store.insert_inference_log(&rows).await {
            Ok(()) => {
                self.counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(err) => {
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
                // Display only: a database error's detail may quote row values (prompts).
                let cause = std::error::Error::source(&err)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::warn!(
                    error = %err,
                    cause,
                    rows = n,
                    "an inference log batch could not be stored"
                );
            }
        }
    }
}
