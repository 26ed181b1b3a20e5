//! Drift over the report's period for the charts: each endpoint's drift score at the end of
//! successive windows, each window against the baseline before it, computed the way the
//! gateway's periodic check computes it ([`Citadel::serving_drift`]: aggregate statistics
//! only, no request text leaves the function). The report itself is what is audited.

use citadel_monitor::compliance::{DriftPoint, DriftSeries, Period};
use time::Duration;

use crate::monitoring::DEFAULT_BASELINE;
use crate::{Citadel, Error, Result};

/// Windows the period is cut into.
const WINDOWS: i32 = 12;
/// The shortest window drift accepts.
const MIN_WINDOW: Duration = Duration::minutes(1);
/// The longest window drift accepts.
const MAX_WINDOW: Duration = Duration::days(30);

impl Citadel {
    /// Every endpoint's drift series, and notes on what could not be computed.
    pub(super) async fn drift_series(
        &self,
        period: Period,
    ) -> Result<(Vec<DriftSeries>, Vec<String>)> {
        let window = ((period.until - period.since) / WINDOWS).clamp(MIN_WINDOW, MAX_WINDOW);
        let mut series = Vec::new();
        let mut notes = Vec::new();
        for endpoint in self.store.endpoints().await? {
            let mut points = Vec::new();
            let mut end = period.until;
            while end > period.since && points.len() < WINDOWS as usize {
                let drift = self
                    .serving_drift(
                        endpoint.id,
                        &endpoint.full_name,
                        end,
                        window,
                        DEFAULT_BASELINE,
                    )
                    .await;
                match drift {
                    Ok(report) => points.push(DriftPoint {
                        time: end,
                        score: report.score,
                    }),
                    // Too much traffic in a span to compare in memory: say so, chart the rest.
                    Err(Error::InvalidInput(reason)) => {
                        notes.push(format!(
                            "Drift of {} is not charted: {reason}",
                            endpoint.full_name
                        ));
                        points.clear();
                        break;
                    }
                    Err(err) => return Err(err),
                }
                end -= window;
            }
            points.reverse();
            series.push(DriftSeries {
                endpoint: endpoint.full_name,
                points,
            });
        }
        if !series
            .iter()
            .any(|s| s.points.iter().any(|p| p.score.is_some()))
        {
            notes.push(
                "Drift is not charted: no endpoint had enough requests in a window and in the \
                 baseline before it to compare."
                    .to_owned(),
            );
        }
        Ok((series, notes))
    }
}
