//! The gateway's alert schedule: the rules evaluated every `alerts_interval_secs` as the system
//! (new and resolved alerts audited and notified by the service layer). A failed evaluation is
//! logged and retried at the next tick.

use std::sync::Arc;
use std::time::Duration;

use citadel_service::AlertSetup;
use time::OffsetDateTime;

use crate::Gateway;

/// Loads the configured rules and webhooks (a bad rules file or secret stops the start-up)
/// and starts the schedule; `None` when it is turned off.
pub fn spawn_scheduler(
    gateway: Arc<Gateway>,
) -> Result<Option<tokio::task::JoinHandle<()>>, citadel_service::Error> {
    let config = &gateway.config;
    if config.alerts_interval_secs == 0 {
        return Ok(None);
    }
    let setup: AlertSetup = gateway.citadel.alert_setup(
        config.alerts_rules.as_deref(),
        &config.alert_webhooks,
        config.alert_retry(),
    )?;
    let every = Duration::from_secs(config.alerts_interval_secs);
    Ok(Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let evaluated = gateway
                .citadel
                .evaluate_alerts_as_system(&setup, OffsetDateTime::now_utc())
                .await;
            match evaluated {
                Ok(report) if !(report.fired.is_empty() && report.resolved.is_empty()) => {
                    tracing::warn!(
                        fired = report.fired.len(),
                        resolved = report.resolved.len(),
                        "alerts changed; `citadel alerts list` shows them"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "cannot evaluate the alert rules"),
            }
        }
    })))
}
