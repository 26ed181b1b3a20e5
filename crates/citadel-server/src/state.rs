//! The gateway's shared state: the service layer, loaded models, caches of credentials,
//! endpoint decisions and guardrails, the rate limiter, the inference-table writer and metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use citadel_core::PrincipalId;
use citadel_guard::Guard;
use citadel_limits::{RateLimiter, RedisConfig, RedisUrl};
use citadel_service::endpoints::ServingEndpoint;
use citadel_service::inference_log::{InferenceLogConfig, InferenceLogWriter};
use citadel_service::{Citadel, Context};

use crate::auth::AuthCache;
use crate::backend::{Backend, EngineBackend, StubBackend};
use crate::cache::TtlCache;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::pool::{ModelPool, SlotKey};

/// Where models come from.
#[derive(Debug, Clone)]
pub enum Loader {
    /// Verified weights from the registry, run by the candle engine.
    Engine,
    /// A stub that answers at once, for the gateway benchmark.
    Stub(StubBackend),
    /// A backend built by the embedder (a stub with a pace of its own, another engine),
    /// shared by every endpoint and version.
    Backend(Arc<dyn Backend>),
}

type DecisionKey = (PrincipalId, String);

/// Most (caller, endpoint) decisions remembered at once.
const DECISIONS_CAPACITY: usize = 100_000;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Gateway {
    pub citadel: Citadel,
    pub config: ServerConfig,
    pub pool: ModelPool,
    pub metrics: Metrics,
    pub auth_cache: AuthCache,
    pub limiter: RateLimiter,
    pub log: InferenceLogWriter,
    loader: Loader,
    /// Endpoints the caller may execute, by principal and name, for `auth_cache_secs`; emptied
    /// whenever any endpoint changes.
    decisions: TtlCache<DecisionKey, Arc<ServingEndpoint>>,
    /// Compiled guardrails by endpoint id and revision.
    guards: Mutex<HashMap<(String, u32), Arc<Guard>>>,
    /// The endpoints' generation last seen by the refresher.
    generation: Mutex<Option<u64>>,
}

impl Gateway {
    /// Builds the gateway's state on an open home.
    pub async fn new(
        citadel: Citadel,
        config: ServerConfig,
        loader: Loader,
    ) -> Result<Arc<Self>, citadel_service::Error> {
        let limiter = match &config.redis_url {
            Some(url) => {
                let url = RedisUrl::parse(url)
                    .map_err(|e| citadel_service::Error::InvalidInput(e.to_string()))?;
                RateLimiter::redis(RedisConfig::new(url)).await
            }
            None => RateLimiter::in_process(),
        };
        let log = citadel.inference_log_writer(InferenceLogConfig::default())?;
        let cache_ttl = Duration::from_secs(config.auth_cache_secs);
        Ok(Arc::new(Self {
            auth_cache: AuthCache::new(cache_ttl),
            citadel,
            config,
            pool: ModelPool::default(),
            metrics: Metrics::default(),
            limiter,
            log,
            loader,
            decisions: TtlCache::new(cache_ttl, DECISIONS_CAPACITY),
            guards: Mutex::new(HashMap::new()),
            generation: Mutex::new(None),
        }))
    }

    /// The endpoint `name` if `ctx` may execute it (authorized by the service layer; the
    /// answer is cached like credentials).
    pub async fn endpoint(
        &self,
        ctx: &Context,
        name: &str,
    ) -> Result<Arc<ServingEndpoint>, ApiError> {
        self.decisions
            .get_or_load(
                (ctx.principal.id, name.to_owned()),
                |_| true,
                || async {
                    let endpoint = self.citadel.endpoint_for_invocation(ctx, name).await?;
                    Ok(Arc::new(endpoint))
                },
            )
            .await
    }

    /// The compiled guardrails of an endpoint's current revision.
    pub fn guard(&self, endpoint: &ServingEndpoint) -> Result<Arc<Guard>, ApiError> {
        let key = (endpoint.id.to_string(), endpoint.revision);
        let mut guards = self.guards.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(guard) = guards.get(&key) {
            return Ok(Arc::clone(guard));
        }
        let guard = Arc::new(Guard::new(&endpoint.config.guardrails).map_err(ApiError::internal)?);
        guards.retain(|(id, _), _| *id != key.0);
        guards.insert(key, Arc::clone(&guard));
        Ok(guard)
    }

    /// Loads `version` of `endpoint`'s model: weights verified against the signed manifest by
    /// the service layer, staged in a private temporary folder that is removed once loaded.
    pub async fn load(
        &self,
        endpoint: &ServingEndpoint,
        version: u32,
    ) -> Result<Arc<dyn Backend>, ApiError> {
        let backend: Arc<dyn Backend> = match &self.loader {
            Loader::Stub(stub) => Arc::new(stub.clone()),
            Loader::Backend(backend) => Arc::clone(backend),
            Loader::Engine => {
                let staging = tempfile::Builder::new()
                    .prefix("citadel-serve-")
                    .tempdir()
                    .map_err(ApiError::internal)?;
                let dir = staging.path().join("model");
                self.citadel
                    .stage_serving_model(endpoint, version, &dir)
                    .await?;
                let backend = tokio::task::spawn_blocking(move || {
                    let loaded = EngineBackend::load(&dir);
                    drop(staging);
                    loaded
                })
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
                Arc::new(backend)
            }
        };
        self.metrics.model_loads.inc();
        self.metrics
            .models_loaded
            .set(self.pool.loaded() as i64 + 1);
        Ok(backend)
    }

    /// Reloads endpoint configurations when they changed, forgets models of deleted endpoints
    /// or versions no longer routed, and unloads idle ones. Run every `refresh_secs`.
    pub async fn refresh(&self) -> Result<(), citadel_service::Error> {
        let generation = self.citadel.endpoints_generation().await?;
        let changed = {
            let mut last = self
                .generation
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let changed = *last != Some(generation);
            *last = Some(generation);
            changed
        };
        let endpoints = self.citadel.serving_endpoints().await?;
        if changed {
            self.decisions.clear();
            self.pool.retain_endpoints(|key| {
                endpoints.iter().any(|e| {
                    e.id.to_string() == key.endpoint
                        && e.config.traffic.iter().any(|r| r.version == key.version)
                })
            });
        }
        let unloaded = self.pool.unload_idle(|key: &SlotKey| {
            let endpoint = endpoints
                .iter()
                .find(|e| e.id.to_string() == key.endpoint)?;
            let secs = endpoint.config.idle_unload_secs;
            (secs > 0).then(|| Duration::from_secs(secs))
        });
        self.metrics.model_unloads.inc_by(unloaded as u64);
        self.metrics.models_loaded.set(self.pool.loaded() as i64);
        self.metrics
            .log_dropped
            .set(i64::try_from(self.log.dropped()).unwrap_or(i64::MAX));
        self.metrics
            .rate_limit_degraded
            .set(i64::from(self.limiter.status().degraded));
        Ok(())
    }
}
