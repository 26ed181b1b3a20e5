//! Load generation for `citadel bench gateway`: an open-loop run at a fixed request rate
//! (latency measured from each request's scheduled start, so a slow answer cannot hide the
//! requests queued behind it) and a closed-loop run at a fixed number of connections.

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

impl Target {
    async fn send(&self) -> Result<u16, String> {
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
        response.bytes().await.map_err(|e| e.to_string())?;
        Ok(status)
    }
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
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(
    mut latencies: Vec<f64>,
    statuses: BTreeMap<String, usize>,
    elapsed: Duration,
) -> LatencyReport {
    latencies.sort_by(f64::total_cmp);
    let requests = latencies.len();
    LatencyReport {
        requests,
        seconds: elapsed.as_secs_f64(),
        achieved_rps: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: percentile(&latencies, 50.0),
        p90_ms: percentile(&latencies, 90.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        statuses,
    }
}

fn status_key(result: &Result<u16, String>) -> String {
    match result {
        Ok(status) => status.to_string(),
        Err(_) => "transport_error".to_owned(),
    }
}

/// Sends `rate` requests a second for `duration`, each at its scheduled time whatever the
/// others are doing, and measures each from that time.
pub async fn open_loop(target: &Target, rate: u32, duration: Duration) -> LatencyReport {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < duration {
        let scheduled = ticker.tick().await.into_std();
        let target = target.clone();
        tasks.spawn(async move {
            let result = target.send().await;
            (scheduled.elapsed().as_secs_f64() * 1e3, status_key(&result))
        });
    }
    collect(tasks, started, Vec::new(), BTreeMap::new()).await
}

/// Sends `total` requests over `connections` concurrent workers as fast as they answer.
pub async fn closed_loop(target: &Target, total: usize, connections: usize) -> LatencyReport {
    let permits = Arc::new(Semaphore::new(connections.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut latencies = Vec::with_capacity(total);
    let mut statuses = BTreeMap::new();
    for _ in 0..total {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let target = target.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = target.send().await;
            drop(permit);
            (sent.elapsed().as_secs_f64() * 1e3, status_key(&result))
        });
        // Reap finished tasks as we go so memory stays flat over long runs.
        while let Some(joined) = tasks.try_join_next() {
            if let Ok((ms, status)) = joined {
                latencies.push(ms);
                *statuses.entry(status).or_insert(0) += 1;
            }
        }
    }
    collect(tasks, started, latencies, statuses).await
}

async fn collect(
    mut tasks: tokio::task::JoinSet<(f64, String)>,
    started: Instant,
    mut latencies: Vec<f64>,
    mut statuses: BTreeMap<String, usize>,
) -> LatencyReport {
    while let Some(joined) = tasks.join_next().await {
        if let Ok((ms, status)) = joined {
            latencies.push(ms);
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    report(latencies, statuses, started.elapsed())
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
    use super::percentile;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
