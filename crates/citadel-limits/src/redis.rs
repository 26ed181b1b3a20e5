//! The Redis backend: buckets shared by every gateway replica that uses the same server and key
//! prefix, one atomic Lua script per decision timed by the server's own clock, with a circuit
//! breaker that falls back to in-process buckets while the server does not answer.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo};

use crate::{Limit, LimitError, Outcome, MAX_DEBT_MINUTES};

/// One bucket per key, as a hash `{level, last}`: `level` in microsecond ticks (one unit is
/// 60,000,000 ticks, a limit of `capacity` per minute adds `capacity` ticks per microsecond),
/// `last` the server's `TIME` in microseconds. The arithmetic mirrors the in-process backend;
/// every number stays an integer below 2^53 (see `MAX_CAPACITY`), so doubles are exact, and the
/// divisions are corrected to exact floors and ceilings. A full bucket is deleted (it equals a
/// fresh one); any other expires once it would be full. A server clock that steps back adds
/// nothing rather than removing units.
const SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local function floor_div(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function ceil_div(a, b)
  local q = math.ceil(a / b)
  if q * b < a then q = q + 1 elseif (q - 1) * b >= a then q = q - 1 end
  return q
end
local ticks = 60000000
local cap = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local full = cap * ticks
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local level = full
local last = now
local saved = redis.call('HMGET', KEYS[1], 'level', 'last')
local saved_level = tonumber(saved[1])
local saved_last = tonumber(saved[2])
if saved_level and saved_last then
  level = math.min(saved_level, full)
  last = saved_last
  if now > last then
    local elapsed = math.min(now - last, ceil_div(full - level, cap))
    level = math.min(full, level + elapsed * cap)
    last = now
  end
end
local result
if ARGV[3] == 'charge' then
  level = math.max(level - cost * ticks, -full * tonumber(ARGV[4]))
  result = {1, 0}
else
  local need = math.max(cost, 1) * ticks
  if level < need then
    return {0, ceil_div(need - level, cap)}
  end
  level = level - cost * ticks
  result = {1, floor_div(level, ticks)}
end
if level >= full then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'level', string.format('%.0f', level), 'last', string.format('%.0f', last))
  redis.call('PEXPIRE', KEYS[1], ceil_div(ceil_div(full - level, cap), 1000) + 1000)
end
return result
";

/// A Redis connection URL. Its `Debug` and [`RedisUrl::redacted`] forms never show a password.
#[derive(Clone)]
pub struct RedisUrl {
    client: redis::Client,
    redacted: String,
}

impl RedisUrl {
    /// Parses `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS, certificates
    /// verified against the system's roots) or `redis+unix:///path[?db=N&pass=…]`.
    pub fn parse(url: &str) -> Result<Self, LimitError> {
        let client = redis::Client::open(url).map_err(|err| LimitError::InvalidRedisUrl {
            url: mask_raw(url),
            reason: citadel_redact::redact(&err.to_string()).into_owned(),
        })?;
        let info = client.get_connection_info();
        if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr {
            return Err(LimitError::InvalidRedisUrl {
                url: mask_raw(url),
                reason:
                    "#insecure turns off certificate verification, which Citadel does not allow"
                        .into(),
            });
        }
        if let Some(password) = &info.redis.password {
            citadel_redact::register_secret(password);
        }
        let redacted = redact_info(info);
        Ok(Self { client, redacted })
    }

    /// The URL with any password replaced by `[REDACTED]`, for logs and errors.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// A URL that did not parse, with everything that could be a credential masked: the user
/// information and the query string.
fn mask_raw(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let rest = match rest.rsplit_once('@') {
        Some((_, host)) => format!("[REDACTED]@{host}"),
        None => rest.to_owned(),
    };
    let rest = match rest.split_once('?') {
        Some((path, _)) => format!("{path}?[REDACTED]"),
        None => rest,
    };
    let masked = match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest,
    };
    citadel_redact::redact(&masked).into_owned()
}

/// A parsed URL written back without its password.
fn redact_info(info: &ConnectionInfo) -> String {
    let user = match (&info.redis.username, &info.redis.password) {
        (Some(user), Some(_)) => format!("{user}:[REDACTED]@"),
        (None, Some(_)) => ":[REDACTED]@".to_owned(),
        (Some(user), None) => format!("{user}@"),
        (None, None) => String::new(),
    };
    let db = info.redis.db;
    match &info.addr {
        ConnectionAddr::Tcp(host, port) => format!("redis://{user}{host}:{port}/{db}"),
        ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{user}{host}:{port}/{db}"),
        ConnectionAddr::Unix(path) => {
            let credentials = match (&info.redis.username, &info.redis.password) {
                (_, Some(_)) => "&pass=[REDACTED]",
                _ => "",
            };
            format!("redis+unix://{}?db={db}{credentials}", path.display())
        }
    }
}

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// The server.
    pub url: RedisUrl,
    /// Prepended to every key; limiters share buckets exactly when server and prefix match.
    pub key_prefix: String,
    /// The longest a decision waits for Redis (connecting included) before it is made in
    /// process instead.
    pub timeout: Duration,
    /// While Redis is down, how often one request tries it again; the others go straight to the
    /// in-process buckets.
    pub retry_interval: Duration,
}

impl RedisConfig {
    /// Defaults: key prefix `citadel:ratelimit:`, a 250 ms timeout, a retry every second.
    pub fn new(url: RedisUrl) -> Self {
        Self {
            url,
            key_prefix: "citadel:ratelimit:".to_owned(),
            timeout: Duration::from_millis(250),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Why one Redis round trip failed, already redacted.
struct Failure(String);

/// The Redis backend with its circuit breaker. While not degraded, every decision goes to
/// Redis; the first failure marks it degraded (logged once per outage) and from then on only
/// one request per `retry_interval` tries Redis again, until one succeeds.
pub(crate) struct RedisBackend {
    config: RedisConfig,
    client: redis::Client,
    script: redis::Script,
    connection: Mutex<Option<ConnectionManager>>,
    origin: Instant,
    degraded: AtomicBool,
    probing: AtomicBool,
    retry_at_ms: AtomicU64,
    fallbacks: AtomicU64,
    outages: AtomicU64,
}

/// Clears the probing flag however the probe ends, including by cancellation.
struct ProbeGuard<'a>(&'a AtomicBool);

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl RedisBackend {
    pub(crate) async fn connect(config: RedisConfig) -> Self {
        let backend = Self {
            client: config.url.client.clone(),
            script: redis::Script::new(SCRIPT),
            connection: Mutex::new(None),
            origin: Instant::now(),
            degraded: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            config,
        };
        match backend.connection().await {
            Ok(_) => {
                tracing::info!(redis = %backend.config.url, "rate limits shared through Redis")
            }
            Err(failure) => backend.mark_down(&failure),
        }
        backend
    }

    pub(crate) async fn acquire(&self, key: &str, limit: Limit, cost: u64) -> Option<Outcome> {
        let (allowed, value) = self.eval(key, limit, cost, "acquire").await?;
        let value = u64::try_from(value).unwrap_or(0);
        Some(if allowed == 1 {
            Outcome::Allowed { remaining: value }
        } else {
            Outcome::Limited {
                retry_after: Duration::from_micros(value),
            }
        })
    }

    /// Whether Redis took the charge (otherwise the caller charges in process).
    pub(crate) async fn charge(&self, key: &str, limit: Limit, cost: u64) -> bool {
        self.eval(key, limit, cost, "charge").await.is_some()
    }

    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    pub(crate) fn fallback_decisions(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub(crate) fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs the script, or returns `None` (counted as a fallback) when Redis is not to be asked
    /// or did not answer in time.
    async fn eval(&self, key: &str, limit: Limit, cost: u64, op: &str) -> Option<(i64, i64)> {
        // Only a probe may declare Redis back: a request that set out before an outage and
        // answered late must not flip the state back and forth (and the log with it).
        let probe = if self.is_degraded() {
            if self.now_ms() < self.retry_at_ms.load(Ordering::Acquire)
                || self.probing.swap(true, Ordering::AcqRel)
            {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Some(ProbeGuard(&self.probing))
        } else {
            None
        };
        let outcome = match self.round_trip(key, limit, cost, op).await {
            Ok(result) => {
                if probe.is_some() && self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!(redis = %self.config.url, "Redis answers again: rate limits are shared again");
                }
                Some(result)
            }
            Err(failure) => {
                self.mark_down(&failure);
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        drop(probe);
        outcome
    }

    fn mark_down(&self, failure: &Failure) {
        let retry_interval =
            u64::try_from(self.config.retry_interval.as_millis()).unwrap_or(u64::MAX);
        self.retry_at_ms.store(
            self.now_ms().saturating_add(retry_interval),
            Ordering::Release,
        );
        if !self.degraded.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                redis = %self.config.url,
                error = %failure.0,
                "Redis does not answer: rate limits fall back to this process's own buckets (each replica now enforces them alone) until it does"
            );
        }
    }

    async fn round_trip(
        &self,
        key: &str,
        limit: Limit,
        cost: u64,
        op: &str,
    ) -> Result<(i64, i64), Failure> {
        let mut connection = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{}{key}", self.config.key_prefix))
            .arg(limit.capacity())
            .arg(cost)
            .arg(op)
            .arg(MAX_DEBT_MINUTES);
        match tokio::time::timeout(
            self.config.timeout,
            invocation.invoke_async(&mut connection),
        )
        .await
        {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(err)) => Err(Failure(
                citadel_redact::redact(&err.to_string()).into_owned(),
            )),
            Err(_) => Err(Failure(format!(
                "no answer within {:?}",
                self.config.timeout
            ))),
        }
    }

    /// The shared connection, made on first use (it reconnects by itself after that).
    async fn connection(&self) -> Result<ConnectionManager, Failure> {
        if let Some(connection) = self.connection.lock().clone() {
            return Ok(connection);
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.config.timeout)
            .set_response_timeout(self.config.timeout)
            .set_number_of_retries(1)
            .set_max_delay(1_000);
        let connecting = ConnectionManager::new_with_config(self.client.clone(), manager_config);
        let connection = match tokio::time::timeout(self.config.timeout, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(err)) => {
                return Err(Failure(
                    citadel_redact::redact(&err.to_string()).into_owned(),
                ))
            }
            Err(_) => {
                return Err(Failure(format!(
                    "no connection within {:?}",
                    self.config.timeout
                )))
            }
        };
        *self.connection.lock() = Some(connection.clone());
        Ok(connection)
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.config.url)
            .field("key_prefix", &self.config.key_prefix)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_the_redacted_url_or_debug() {
        let url =
            RedisUrl::parse("redis://limiter:s3cret-redis-pass@cache.internal:6380/2").unwrap();
        assert_eq!(
            url.redacted(),
            "redis://limiter:[REDACTED]@cache.internal:6380/2"
        );
        assert_eq!(url.to_string(), url.redacted());
        assert!(!format!("{url:?}").contains("s3cret"));
        let config = RedisConfig::new(url);
        assert!(!format!("{config:?}").contains("s3cret"));
        // The password is registered, so a library error echoing it is masked too.
        assert!(!citadel_redact::redact("AUTH s3cret-redis-pass failed").contains("s3cret"));

        let bare = RedisUrl::parse("redis://:only-a-password-77@127.0.0.1").unwrap();
        assert_eq!(bare.redacted(), "redis://:[REDACTED]@127.0.0.1:6379/0");
        let unix =
            RedisUrl::parse("redis+unix:///run/redis.sock?db=3&pass=unix-pass-123456").unwrap();
        assert_eq!(
            unix.redacted(),
            "redis+unix:///run/redis.sock?db=3&pass=[REDACTED]"
        );
        let plain = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(plain.redacted(), "redis://127.0.0.1:6379/0");
    }

    #[test]
    fn bad_urls_are_refused_without_their_credentials() {
        let err = RedisUrl::parse("http://user:hunter2-hunter2@example.com/").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("invalid Redis URL http://[REDACTED]@example.com/"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("expected redis://"), "{message}");

        let err = RedisUrl::parse("rediss://:tls-pass-98765@cache.internal/#insecure").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("certificate verification"), "{message}");
        assert!(!message.contains("tls-pass"), "{message}");
    }
}
