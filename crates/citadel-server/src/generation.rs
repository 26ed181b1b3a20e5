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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use citadel_engine::ChatMessage;

    use super::*;
    use crate::backend::{Backend, StubBackend};
    use crate::pool::{ModelPool, SlotKey, SlotLimits};

    /// The stub taking 20 ms per word.
    #[derive(Debug)]
    struct Slowed(StubBackend);

    impl Backend for Slowed {
        fn count_tokens(&self, text: &str) -> Result<usize, String> {
            self.0.count_tokens(text)
        }

        fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, String> {
            self.0.render_chat(messages)
        }

        fn generate(
            &self,
            request: &GenRequest,
            on_text: &mut dyn FnMut(&str) -> bool,
        ) -> Result<GenOutput, String> {
            self.0.generate(request, &mut |piece| {
                std::thread::sleep(Duration::from_millis(20));
                on_text(piece)
            })
        }
    }

    const ONE_AT_A_TIME: SlotLimits = SlotLimits {
        max_concurrency: 1,
        max_queue: 1,
    };

    async fn lease(pool: &ModelPool) -> Lease {
        let key = SlotKey {
            endpoint: "e".into(),
            version: 1,
        };
        let backend: Arc<dyn Backend> = Arc::new(Slowed(StubBackend {
            reply: vec!["word"; 500].join(" "),
        }));
        pool.acquire(&key, ONE_AT_A_TIME, || async { Ok(backend) })
            .await
            .unwrap()
    }

    fn request(max_tokens: usize) -> GenRequest {
        GenRequest {
            prompt: "hi".into(),
            max_tokens,
            temperature: 0.0,
            top_p: None,
            seed: 0,
            stop: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_dropped_generation_stops_within_a_word_and_frees_the_slot() {
        let pool = ModelPool::default();
        let pieces = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&pieces);
        let generation = Generation::start(lease(&pool).await, request(500), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(generation);
        // 500 words take 10 s; the slot is free again after at most one more.
        let waited = Instant::now();
        let mut next = Generation::start(lease(&pool).await, request(2), |_| true);
        assert!(waited.elapsed() < Duration::from_secs(1), "{waited:?}");
        assert!(pieces.load(Ordering::SeqCst) < 20);
        assert_eq!(next.output().await.unwrap().text, "word word ");
    }
}
