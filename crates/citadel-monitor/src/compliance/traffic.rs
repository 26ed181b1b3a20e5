//! Traffic over time for the report's charts: requests grouped into minute, hour or day buckets
//! (whichever gives a readable number of points over the span of the data), with refusals
//! counted and the latency percentiles of the answered requests.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// How a request ended, as far as the charts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Answered: its latency counts in the percentiles.
    Answered,
    /// Refused by a guardrail.
    Blocked,
    /// Refused by authentication or authorization.
    Denied,
    /// Any other refusal or failure (rate limits, timeouts, errors).
    Other,
}

/// One request from the inference log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub time: OffsetDateTime,
    pub latency_ms: u64,
    pub outcome: RequestOutcome,
}

/// The width of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketWidth {
    Minute,
    Hour,
    Day,
}

impl BucketWidth {
    /// The widest width that still shows a span this long as several points.
    fn for_span(span: Duration) -> Self {
        if span <= Duration::hours(3) {
            Self::Minute
        } else if span <= Duration::days(4) {
            Self::Hour
        } else {
            Self::Day
        }
    }

    fn start_of(self, t: OffsetDateTime) -> OffsetDateTime {
        let t = t.to_offset(time::UtcOffset::UTC);
        let hour = match self {
            Self::Day => 0,
            Self::Hour | Self::Minute => t.hour(),
        };
        let minute = match self {
            Self::Minute => t.minute(),
            Self::Hour | Self::Day => 0,
        };
        // Zeroing fields of a valid time always gives a valid time.
        t.replace_time(time::Time::from_hms(hour, minute, 0).unwrap_or(time::Time::MIDNIGHT))
    }
}

/// One bucket of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrafficPoint {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub requests: u64,
    pub blocked: u64,
    pub denied: u64,
    /// Median latency of the answered requests (`None` when none was answered).
    pub p50_ms: Option<u64>,
    /// 99th-percentile latency of the answered requests.
    pub p99_ms: Option<u64>,
}

/// Traffic over the report's period; buckets without requests are left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traffic {
    pub bucket: BucketWidth,
    pub points: Vec<TrafficPoint>,
}

impl Traffic {
    /// Buckets `requests` (in any order) by time.
    pub fn from_requests(mut requests: Vec<Request>) -> Self {
        requests.sort_by_key(|r| r.time);
        let span = match (requests.first(), requests.last()) {
            (Some(first), Some(last)) => last.time - first.time,
            _ => Duration::ZERO,
        };
        let bucket = BucketWidth::for_span(span);
        let mut points = Vec::new();
        let mut rest = requests.as_slice();
        while let Some(first) = rest.first() {
            let start = bucket.start_of(first.time);
            let len = rest
                .iter()
                .position(|r| bucket.start_of(r.time) != start)
                .unwrap_or(rest.len());
            let (these, after) = rest.split_at(len);
            points.push(point(start, these));
            rest = after;
        }
        Self { bucket, points }
    }
}

fn point(start: OffsetDateTime, requests: &[Request]) -> TrafficPoint {
    let count = |outcome| requests.iter().filter(|r| r.outcome == outcome).count() as u64;
    let mut latencies: Vec<u64> = requests
        .iter()
        .filter(|r| r.outcome == RequestOutcome::Answered)
        .map(|r| r.latency_ms)
        .collect();
    latencies.sort_unstable();
    TrafficPoint {
        start,
        requests: requests.len() as u64,
        blocked: count(RequestOutcome::Blocked),
        denied: count(RequestOutcome::Denied),
        p50_ms: percentile(&latencies, 50),
        p99_ms: percentile(&latencies, 99),
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn answered(time: OffsetDateTime, latency_ms: u64) -> Request {
        Request {
            time,
            latency_ms,
            outcome: RequestOutcome::Answered,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn a_short_span_is_bucketed_by_minute_and_refusals_are_counted_not_timed() {
        let t = datetime!(2026-12-01 10:00:10 UTC);
        let traffic = Traffic::from_requests(vec![
            answered(t + Duration::minutes(1), 30),
            answered(t, 10),
            answered(t + Duration::seconds(20), 20),
            Request {
                time: t + Duration::seconds(30),
                latency_ms: 1,
                outcome: RequestOutcome::Blocked,
            },
            Request {
                time: t + Duration::seconds(40),
                latency_ms: 1,
                outcome: RequestOutcome::Denied,
            },
        ]);
        assert_eq!(traffic.bucket, BucketWidth::Minute);
        assert_eq!(traffic.points.len(), 2);
        let first = &traffic.points[0];
        assert_eq!(first.start, datetime!(2026-12-01 10:00 UTC));
        assert_eq!((first.requests, first.blocked, first.denied), (4, 1, 1));
        assert_eq!((first.p50_ms, first.p99_ms), (Some(10), Some(20)));
        assert_eq!(traffic.points[1].p50_ms, Some(30));
    }

    #[test]
    fn long_spans_use_hours_then_days() {
        let t = datetime!(2026-12-01 10:30 UTC);
        let hours =
            Traffic::from_requests(vec![answered(t, 1), answered(t + Duration::days(2), 1)]);
        assert_eq!(hours.bucket, BucketWidth::Hour);
        assert_eq!(hours.points[0].start, datetime!(2026-12-01 10:00 UTC));
        let days = Traffic::from_requests(vec![answered(t, 1), answered(t + Duration::days(9), 1)]);
        assert_eq!(days.bucket, BucketWidth::Day);
        assert_eq!(days.points[0].start, datetime!(2026-12-01 0:00 UTC));
    }

    #[test]
    fn a_bucket_of_refusals_only_has_no_latency() {
        let traffic = Traffic::from_requests(vec![Request {
            time: datetime!(2026-12-01 10:00 UTC),
            latency_ms: 3,
            outcome: RequestOutcome::Denied,
        }]);
        assert_eq!(traffic.points[0].p50_ms, None);
        assert!(Traffic::from_requests(Vec::new()).points.is_empty());
    }
}
