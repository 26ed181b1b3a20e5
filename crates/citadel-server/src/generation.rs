//! Generation on the blocking pool, stopped within one piece of text once nobody waits for it:
//! the request ran out of time, the client went away, or the handler was dropped mid-call. The
//! model's slot (its [`Lease`]) is released as soon as generation ends, so an abandoned call
//! never holds a place that a waiting one could use.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::backend::{GenOutput, GenRequest};
use crate::error::ApiError;
use crate::pool::Lease;

/// A generation under way; dropping it cancels it.
#[derive(Debug)]
pub struct Generation {
    cancelled: Arc<AtomicBool>,
    task: JoinHandle<Result<GenOutput, String>>,
}

impl Generation {
    /// Starts generating with `lease`'s model. `on_text` sees each piece of text and returns
    /// false to stop early; generation also stops at the first piece after [`Generation`] is
    /// dropped.
    pub fn start(
        lease: Lease,
        request: GenRequest,
        mut on_text: impl FnMut(&str) -> bool + Send + 'static,
    ) -> Self {
        let cancelled = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancelled);
        let task = tokio::task::spawn_blocking(move || {
            if stop.load(Ordering::Acquire) {
                return Err("cancelled before generation started".to_owned());
            }
            let output = lease.backend.generate(&request, &mut |piece| {
                !stop.load(Ordering::Acquire) && on_text(piece)
            });
            drop(lease);
            output
        });
        Self { cancelled, task }
    }

    /// Waits for the whole output. Cancel-safe: dropping the future leaves the generation as it
    /// was, and dropping the [`Generation`] stops it.
    pub async fn output(&mut self) -> Result<GenOutput, ApiError> {
        match (&mut self.task).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(engine)) => Err(ApiError::internal(engine)),
            Err(join) => Err(ApiError::internal(join)),
        }
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Release);
    }
}
