//! Load generation for `citadel bench gateway`: an open-loop run at a fixed request rate (each
//! request timed from the moment the generator issues it, whatever the others are doing, so a
//! slow answer cannot hide the requests behind it) and a closed-loop run at a fixed number of
//! connections. Where the gateway sends `Server-Timing`, its own time is collected beside the
//! client's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

/// A request to repeat.
#[derive(Debug, Clone)]
pub struct Target {
    pub client: reqwest::Client,
    pub url: String,
    pub bearer: Option<String>,
    /// JSON body for a POST; GET when absent.
    pub body: Option<serde_json::Value>,
}

/// What one request answered: its status and the gateway's own time, when it said.
struct Answer {
    status: u16,
    server_ms: Option<f64>,
}

impl Target {
    async fn send(&self) -> Result<Answer, String> {
        let request = match &self.body {
            Some(body) => self.client.post(&self.url).json(body),
            None => self.client.get(&self.url),
        };
        let request = match &self.bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let server_ms = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .and_then(gateway_duration);
        response.bytes().await.map_err(|e| e.to_string())?;
        Ok(Answer { status, server_ms })
    }
}

/// The `dur` of the `gateway` metric in a `Server-Timing` header, in milliseconds.
fn gateway_duration(header: &str) -> Option<f64> {
    header
        .split(',')
        .map(str::trim)
        .find_map(|metric| metric.strip_prefix("gateway;"))?
        .split(';')
        .find_map(|param| param.trim().strip_prefix("dur="))?
        .parse()
        .ok()
}

/// Latency percentiles in milliseconds and what the requests answered.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub requests: usize,
    pub seconds: f64,
    pub achieved_rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub statuses: BTreeMap<String, usize>,
    /// The gateway's own time (`Server-Timing`), from request to response headers, when sent.
    pub server: Option<Percentiles>,
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(Self {
            p50_ms: percentile(&values, 50.0),
            p90_ms: percentile(&values, 90.0),
            p99_ms: percentile(&values, 99.0),
            max_ms: values[values.len() - 1],
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Every request's outcome as the run collects it.
#[derive(Default)]
struct Samples {
    client_ms: Vec<f64>,
    server_ms: Vec<f64>,
    statuses: BTreeMap<String, usize>,
}

impl Samples {
    fn add(&mut self, (client_ms, result): (f64, Result<Answer, String>)) {
        self.client_ms.push(client_ms);
        let key = match &result {
            Ok(answer) => answer.status.to_string(),
            Err(_) => "transport_error".to_owned(),
        };
        *self.statuses.entry(key).or_insert(0) += 1;
        if let Some(ms) = result.ok().and_then(|a| a.server_ms) {
            self.server_ms.push(ms);
        }
    }

    fn report(self, elapsed: Duration) -> LatencyReport {
        let requests = self.client_ms.len();
        let client = Percentiles::of(self.client_ms);
        LatencyReport {
            requests,
            seconds: elapsed.as_secs_f64(),
            achieved_rps: requests as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: client.map_or(0.0, |p| p.p50_ms),
            p90_ms: client.map_or(0.0, |p| p.p90_ms),
            p99_ms: client.map_or(0.0, |p| p.p99_ms),
            max_ms: client.map_or(0.0, |p| p.max_ms),
            statuses: self.statuses,
            server: Percentiles::of(self.server_ms),
        }
    }
}

type Timed = (f64, Result<Answer, String>);

/// Sends `rate` requests a second for `duration`. Tokio's timer wakes at most once a
/// millisecond, so each wake-up issues the requests due by then; each is timed from its issue.
pub async fn open_loop(target: &Target, rate: u32, duration: Duration) -> LatencyReport {
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut issued: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    let mut samples = Samples::default();
    while started.elapsed() < duration {
        ticker.tick().await;
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        while issued < due {
            issued += 1;
            let target = target.clone();
            let at = Instant::now();
            tasks.spawn(async move {
                let result = target.send().await;
                (at.elapsed().as_secs_f64() * 1e3, result)
            });
        }
        reap(&mut tasks, &mut samples);
    }
    collect(tasks, started, samples).await
}

/// Sends `total` requests over `connections` concurrent workers as fast as they answer.
pub async fn closed_loop(target: &Target, total: usize, connections: usize) -> LatencyReport {
    let permits = Arc::new(Semaphore::new(connections.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut samples = Samples::default();
    for _ in 0..total {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let target = target.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = target.send().await;
            drop(permit);
            (sent.elapsed().as_secs_f64() * 1e3, result)
        });
        reap(&mut tasks, &mut samples);
    }
    collect(tasks, started, samples).await
}

/// Takes in the requests that finished, so memory stays flat over long runs.
fn reap(tasks: &mut tokio::task::JoinSet<Timed>, samples: &mut Samples) {
    while let Some(joined) = tasks.try_join_next() {
        if let Ok(timed) = joined {
            samples.add(timed);
        }
    }
}

async fn collect(
    mut tasks: tokio::task::JoinSet<Timed>,
    started: Instant,
    mut samples: Samples,
) -> LatencyReport {
    while let Some(joined) = tasks.join_next().await {
        if let Ok(timed) = joined {
            samples.add(timed);
        }
    }
    samples.report(started.elapsed())
}

/// Resident memory of this process in bytes (Linux), for the bounded-memory check.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::{gateway_duration, percentile};

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }

    #[test]
    fn server_timing_is_read_from_the_gateway_metric() {
        assert_eq!(gateway_duration("gateway;dur=0.412"), Some(0.412));
        assert_eq!(
            gateway_duration("db;dur=3, gateway;desc=\"chain\";dur=1.5"),
            Some(1.5)
        );
        assert_eq!(gateway_duration("db;dur=3"), None);
        assert_eq!(gateway_duration("gateway;dur=fast"), None);
    }
}
