//! The gateway's periodic drift checks without re-reading the log: each serving endpoint's
//! observations over its baseline and window kept in memory (no text), topped up at each check
//! with the rows written since the last one and trimmed to the spans. A check then costs the
//! new rows, not the week of traffic behind them.

use std::collections::HashMap;
use std::sync::Mutex;

use citadel_core::SecurableId;
use citadel_monitor::drift::{Observation, Span};
use citadel_store::InferenceCursor;
use time::{Duration, OffsetDateTime};

use super::{observation, MAX_SPAN_ROWS, READ_PAGE_ROWS};
use crate::{Citadel, Error, Result};

/// How long after its request began a row may still be written (the request timeout is far
/// shorter): incremental reads look back this far, so no late row is missed.
const LATE_ROWS: Duration = Duration::minutes(15);

/// Entries not checked for this long are dropped (the endpoint stopped serving, or a rule
/// changed its window).
const IDLE_ENTRY: Duration = Duration::hours(1);

/// Which check an entry serves: an endpoint with one window and baseline.
type Key = (SecurableId, Duration, Duration);

/// One endpoint's observations over its spans, by the time their request arrived.
#[derive(Debug, Default)]
struct Tracked {
    rows: Vec<(OffsetDateTime, Observation)>,
    /// The last row read (its write order).
    last_seq: u64,
    /// When the last check read the log; `None` before the first.
    checked: Option<OffsetDateTime>,
}

/// Every tracked endpoint; shared by the clones of a [`Citadel`].
#[derive(Debug, Default)]
pub(crate) struct DriftTracker {
    entries: Mutex<HashMap<Key, Tracked>>,
}

impl DriftTracker {
    fn take(&self, key: &Key, now: OffsetDateTime) -> Tracked {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, t| t.checked.is_some_and(|at| now - at < IDLE_ENTRY));
        entries.remove(key).unwrap_or_default()
    }

    fn put(&self, key: Key, tracked: Tracked) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, tracked);
    }
}

impl Citadel {
    /// The endpoint's observations in the baseline and window spans at `now`, from memory and
    /// the rows written since the last check. Rows are found by their write order (`seq`); with
    /// several replicas writing to PostgreSQL, a row committed after a higher-numbered one may be
    /// missed, which a statistic over thousands of requests does not feel. While one check
    /// reads, a concurrent one for the same key starts from the log again (both are correct;
    /// neither blocks the other).
    pub(super) async fn tracked_observations(
        &self,
        endpoint_id: SecurableId,
        spans: (Span, Span),
        window: Duration,
        baseline: Duration,
    ) -> Result<(Vec<Observation>, Vec<Observation>)> {
        let (window_span, baseline_span) = spans;
        let now = window_span.end;
        let key = (endpoint_id, window, baseline);
        let mut tracked = self.drift_tracker.take(&key, now);
        match tracked.checked {
            None => {
                let (rows, last_seq) = self.span_rows(endpoint_id, baseline_span.start).await?;
                tracked.rows = rows;
                tracked.last_seq = last_seq;
            }
            Some(at) => {
                let since = (at - LATE_ROWS).max(baseline_span.start);
                self.read_new_rows(endpoint_id, since, &mut tracked).await?;
            }
        }
        tracked
            .rows
            .retain(|(time, _)| *time >= baseline_span.start);
        tracked.checked = Some(now);
        let in_span = |span: Span, time: OffsetDateTime| span.start <= time && time < span.end;
        let pick = |span: Span| -> Vec<Observation> {
            tracked
                .rows
                .iter()
                .filter(|(time, _)| in_span(span, *time))
                .map(|(_, o)| o.clone())
                .collect()
        };
        let observed = (pick(baseline_span), pick(window_span));
        self.drift_tracker.put(key, tracked);
        Ok(observed)
    }

    /// Every row from `start` on, in time order, and the highest `seq` among them.
    async fn span_rows(
        &self,
        endpoint_id: SecurableId,
        start: OffsetDateTime,
    ) -> Result<(Vec<(OffsetDateTime, Observation)>, u64)> {
        let mut rows = Vec::new();
        let mut last_seq = 0;
        let mut after: Option<InferenceCursor> = None;
        loop {
            let page = self
                .store
                .inference_log_page(endpoint_id, Some(start), None, after, READ_PAGE_ROWS)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.cursor());
            for stored in &page {
                last_seq = last_seq.max(stored.seq);
                rows.push((stored.record.time, observation(&stored.record)));
            }
            check_size(rows.len())?;
        }
        Ok((rows, last_seq))
    }

    /// Adds the rows written after `tracked.last_seq` (and begun at `since` or later).
    async fn read_new_rows(
        &self,
        endpoint_id: SecurableId,
        since: OffsetDateTime,
        tracked: &mut Tracked,
    ) -> Result<()> {
        loop {
            let page = self
                .store
                .inference_log_written_after(endpoint_id, since, tracked.last_seq, READ_PAGE_ROWS)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            tracked.last_seq = last.seq;
            tracked.rows.extend(
                page.iter()
                    .map(|stored| (stored.record.time, observation(&stored.record))),
            );
            check_size(tracked.rows.len())?;
        }
    }
}

/// Refuses spans too large to hold.
fn check_size(rows: usize) -> Result<()> {
    if rows > 2 * MAX_SPAN_ROWS {
        return Err(Error::InvalidInput(format!(
            "the endpoint's drift spans cover more than {} requests; shorten the window or the \
             baseline",
            2 * MAX_SPAN_ROWS
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::{Duration, OffsetDateTime};

    use crate::inference_log::tests::{fixture, record, write_records, Fixture};
    use crate::monitoring::{DriftReport, Span};
    use crate::{InferenceRecord, InferenceStatus};

    const WINDOW: Duration = Duration::minutes(5);
    const BASELINE: Duration = Duration::hours(1);

    /// `n` answered requests from `start`, a millisecond apart, lengths growing with `scale`.
    fn rows(fx: &Fixture, start: OffsetDateTime, n: u64, scale: u64) -> Vec<InferenceRecord> {
        (0..n)
            .map(|i| {
                let mut r = record(fx, i, InferenceStatus::Ok);
                r.time = start + Duration::milliseconds(i64::try_from(i).unwrap());
                r.latency_ms = scale * (5 + i);
                r.tokens_out = scale * (2 + i);
                r
            })
            .collect()
    }

    async fn tracked(fx: &Fixture, now: OffsetDateTime) -> DriftReport {
        let name = fx.endpoint.to_string();
        fx.citadel
            .serving_drift(fx.endpoint_id, &name, now, WINDOW, BASELINE)
            .await
            .unwrap()
    }

    async fn fresh(fx: &Fixture, now: OffsetDateTime) -> DriftReport {
        let name = fx.endpoint.to_string();
        fx.citadel
            .drift_of(fx.endpoint_id, &name, now, WINDOW, BASELINE)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn tracked_checks_match_a_full_read_as_rows_arrive_and_age_out() {
        let fx = fixture().await;
        let base = OffsetDateTime::now_utc() - Duration::hours(3);
        let base = base.replace_nanosecond(0).unwrap();
        write_records(&fx, &rows(&fx, base, 60, 1)).await;

        // Everything in the baseline; the window is empty.
        let first_check = base + Duration::minutes(10);
        let first = tracked(&fx, first_check).await;
        assert_eq!(first, fresh(&fx, first_check).await);

        // Slower traffic lands in the window after the first check: read incrementally.
        write_records(&fx, &rows(&fx, base + Duration::minutes(8), 60, 40)).await;
        let second = tracked(&fx, first_check).await;
        assert_ne!(second, first, "the new rows were not read");
        assert_eq!(second, fresh(&fx, first_check).await);

        // An hour later the first rows have left the baseline and the second form it.
        let later = base + Duration::minutes(70);
        let third = tracked(&fx, later).await;
        assert_eq!(third, fresh(&fx, later).await);
        assert_eq!(
            third.baseline,
            Span {
                start: later - WINDOW - BASELINE,
                end: later - WINDOW
            }
        );
    }

    #[tokio::test]
    async fn rows_written_late_for_an_earlier_time_are_still_counted() {
        let fx = fixture().await;
        let base = OffsetDateTime::now_utc() - Duration::hours(2);
        let base = base.replace_nanosecond(0).unwrap();
        let check = base + Duration::minutes(10);
        write_records(&fx, &rows(&fx, base + Duration::minutes(7), 50, 1)).await;
        let before = tracked(&fx, check).await;
        // A long request that began before the rows already read, logged after the check.
        write_records(&fx, &rows(&fx, base + Duration::minutes(6), 50, 30)).await;
        let after = tracked(&fx, check).await;
        assert_ne!(after, before);
        assert_eq!(after, fresh(&fx, check).await);
    }
}
