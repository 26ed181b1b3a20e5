//! A small time-bounded cache for the gateway's hot path (credentials, endpoint decisions): one
//! load per key however many callers miss at once, and a refresh ahead of expiry by a single
//! caller while the others keep the current answer, so an expiring entry under load costs one
//! lookup and never a pause for everyone.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// One key's value once loaded, with when it was loaded.
#[derive(Debug)]
struct Slot<V> {
    value: OnceCell<(V, Instant)>,
    /// Set by the one caller refreshing this value ahead of its expiry.
    refreshing: AtomicBool,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self {
            value: OnceCell::new(),
            refreshing: AtomicBool::new(false),
        }
    }
}

/// Values by key for at most `ttl` each, refreshed from half their life on.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` keys; a zero `ttl` turns caching off.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The value of `key`, loading it with `load` when absent, expired or no longer `valid`.
    /// Concurrent misses share one load. From half the value's life on, the first caller loads
    /// it again while the others keep the current value; if that load fails, the key is
    /// forgotten and the failure returned, so a revocation shows at once. Failures are never
    /// cached.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        key: K,
        valid: impl Fn(&V) -> bool,
        load: F,
    ) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if self.ttl.is_zero() {
            return load().await;
        }
        let slot = self.slot(&key, &valid);
        if let Some((value, at)) = slot.value.get() {
            let ahead = at.elapsed() >= self.ttl / 2;
            if !ahead || slot.refreshing.swap(true, Ordering::AcqRel) {
                return Ok(value.clone());
            }
            return match load().await {
                Ok(fresh) => {
                    self.replace(key, &slot, fresh.clone());
                    Ok(fresh)
                }
                Err(err) => {
                    self.forget(&key, &slot);
                    Err(err)
                }
            };
        }
        let loaded = slot
            .value
            .get_or_try_init(|| async { load().await.map(|value| (value, Instant::now())) })
            .await;
        match loaded {
            Ok((value, _)) => Ok(value.clone()),
            Err(err) => {
                self.forget(&key, &slot);
                Err(err)
            }
        }
    }

    /// Forgets every value (the decisions they hold may have changed).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Keys held, loaded or loading.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Slot<V>>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn usable(&self, slot: &Slot<V>, valid: &impl Fn(&V) -> bool) -> bool {
        slot.value
            .get()
            .is_none_or(|(value, at)| at.elapsed() < self.ttl && valid(value))
    }

    /// The slot to read or fill for `key`: the current one while usable, else a new one.
    fn slot(&self, key: &K, valid: &impl Fn(&V) -> bool) -> Arc<Slot<V>> {
        let mut slots = self.lock();
        if let Some(slot) = slots.get(key) {
            if self.usable(slot, valid) {
                return Arc::clone(slot);
            }
        }
        if slots.len() >= self.capacity {
            // Expired values go first, then everything but loads under way.
            slots.retain(|_, slot| match slot.value.get() {
                Some((_, at)) => at.elapsed() < self.ttl,
                None => Arc::strong_count(slot) > 1,
            });
            if slots.len() >= self.capacity {
                slots.retain(|_, slot| slot.value.get().is_none());
            }
        }
        let slot = Arc::new(Slot::default());
        slots.insert(key.clone(), Arc::clone(&slot));
        slot
    }

    /// Puts a refreshed value in place of `old`, unless the key has moved on since.
    fn replace(&self, key: K, old: &Arc<Slot<V>>, value: V) {
        let fresh = Slot::default();
        let _ = fresh.value.set((value, Instant::now()));
        let mut slots = self.lock();
        if slots
            .get(&key)
            .is_some_and(|current| Arc::ptr_eq(current, old))
        {
            slots.insert(key, Arc::new(fresh));
        }
    }

    /// Drops `key` if it still holds `slot`.
    fn forget(&self, key: &K, slot: &Arc<Slot<V>>) {
        let mut slots = self.lock();
        if slots
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
        {
            slots.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    async fn load(
        count: &AtomicUsize,
        answer: Result<u32, &'static str>,
    ) -> Result<u32, &'static str> {
        count.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer
    }

    fn always(_: &u32) -> bool {
        true
    }

    #[tokio::test]
    async fn one_caller_refreshes_ahead_while_the_others_keep_the_value() {
        // Half-life at 500 ms, expiry at 1 s: the second round lands between them even on a
        // loaded machine.
        let cache = Arc::new(TtlCache::new(Duration::from_secs(1), 10));
        let loads = Arc::new(AtomicUsize::new(0));
        let first = cache.get_or_load(1, always, || load(&loads, Ok(1))).await;
        assert_eq!(first, Ok(1));
        tokio::time::sleep(Duration::from_millis(600)).await;

        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, loads) = (Arc::clone(&cache), Arc::clone(&loads));
            calls.spawn(async move {
                let started = Instant::now();
                let got = cache.get_or_load(1, always, || load(&loads, Ok(2))).await;
                (got, started.elapsed())
            });
        }
        let mut waited = 0;
        let mut answers = Vec::new();
        while let Some(joined) = calls.join_next().await {
            let (got, took) = joined.unwrap();
            answers.push(got.unwrap());
            if took >= Duration::from_millis(15) {
                waited += 1;
            }
        }
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one refresh for twenty callers"
        );
        assert_eq!(waited, 1, "only the refreshing caller waited");
        assert_eq!(answers.iter().filter(|a| **a == 2).count(), 1);
        // The refreshed value is served from now on, without another load.
        assert_eq!(
            cache.get_or_load(1, always, || load(&loads, Ok(3))).await,
            Ok(2)
        );
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_forgets_the_key_at_once() {
        let cache = TtlCache::new(Duration::from_millis(200), 10);
        let loads = AtomicUsize::new(0);
        cache
            .get_or_load(1, always, || load(&loads, Ok(1)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        let refused = cache
            .get_or_load(1, always, || load(&loads, Err("revoked")))
            .await;
        assert_eq!(refused, Err("revoked"));
        assert!(cache.is_empty(), "nobody is served the revoked value");
        let again = cache
            .get_or_load(1, always, || load(&loads, Err("revoked")))
            .await;
        assert_eq!(again, Err("revoked"));
    }

    #[tokio::test]
    async fn expired_or_invalid_values_are_loaded_again_and_clear_forgets_all() {
        let cache = TtlCache::new(Duration::from_millis(100), 10);
        let loads = AtomicUsize::new(0);
        cache
            .get_or_load(1, always, || load(&loads, Ok(1)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            cache.get_or_load(1, always, || load(&loads, Ok(2))).await,
            Ok(2)
        );
        assert_eq!(
            cache
                .get_or_load(1, |v| *v != 2, || load(&loads, Ok(3)))
                .await,
            Ok(3)
        );
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        cache.clear();
        assert!(cache.is_empty());
    }
}
