//! Activity in the report's period: secret reads, and failed authentications by credential owner
//! (and, for the gateway, client address), from the audit log; the gateway's requests from the
//! inference log, for the charts.

use std::collections::BTreeMap;

use citadel_audit::{AuditEvent, Outcome};
use citadel_monitor::compliance::{
    Evidence, Finding, Period, Request, RequestOutcome, Section, SectionId, Traffic,
};
use citadel_store::{AuditFilter, InferenceLogRecord};

use super::count;
use crate::{Citadel, Result};

/// Failed authentications from one source within the period that make a burst (a guessing or
/// credential-stuffing attempt, or a client stuck on a revoked token).
pub const AUTH_FAILURE_BURST: u64 = 10;

/// Inference rows read per page.
const PAGE_ROWS: u32 = 5_000;

/// What the inference log says about the period.
pub(super) struct InferenceActivity {
    pub requests: Vec<Request>,
}

/// Counts of one principal's secret reads.
#[derive(Default)]
struct Reads {
    succeeded: u64,
    refused: u64,
    scopes: Vec<String>,
}

impl Citadel {
    async fn audit_events(&self, action: &str, period: Period) -> Result<Vec<AuditEvent>> {
        Ok(self
            .store
            .audit_query(&AuditFilter {
                action: Some(action.to_owned()),
                since: Some(period.since),
                until: Some(period.until),
                ..AuditFilter::default()
            })
            .await?)
    }

    pub(super) async fn secret_reads_section(&self, period: Period) -> Result<Section> {
        let mut by_principal: BTreeMap<String, Reads> = BTreeMap::new();
        for event in self.audit_events("secret.read", period).await? {
            let reads = by_principal.entry(event.actor_name).or_default();
            match event.outcome {
                Outcome::Success => reads.succeeded += 1,
                Outcome::Denied | Outcome::Failed => reads.refused += 1,
            }
            if let Some(scope) = event.securable {
                let scope = scope.trim_start_matches("secret_scope:").to_owned();
                if !reads.scopes.contains(&scope) {
                    reads.scopes.push(scope);
                }
            }
        }
        let total: u64 = by_principal.values().map(|r| r.succeeded + r.refused).sum();
        let refused: Vec<String> = by_principal
            .iter()
            .filter(|(_, r)| r.refused > 0)
            .map(|(who, r)| format!("{who} ({})", r.refused))
            .collect();
        let finding = if total == 0 {
            Finding::pass("secret reads", "no secret was read in the period")
        } else if refused.is_empty() {
            Finding::pass(
                "secret reads",
                format!(
                    "{} by {}, each allowed by a grant and audited with the version read",
                    count(total, "read", "reads"),
                    count(by_principal.len() as u64, "principal", "principals")
                ),
            )
        } else {
            Finding::attention(
                "secret reads",
                format!(
                    "{} of {total} reads were refused or failed: {}",
                    by_principal.values().map(|r| r.refused).sum::<u64>(),
                    refused.join(", ")
                ),
                "check who tried and why: `citadel audit query --action secret.read --outcome \
                 denied`; revoke the grant or token if the attempt was not expected",
            )
        };
        let mut evidence = Evidence::new(
            "Secret reads by principal",
            ["principal", "reads", "refused or failed", "scopes"],
        );
        for (who, reads) in by_principal {
            evidence.row([
                who,
                reads.succeeded.to_string(),
                reads.refused.to_string(),
                reads.scopes.join(", "),
            ]);
        }
        Ok(Section::new(
            SectionId::SecretReads,
            vec![finding],
            vec![evidence],
        ))
    }

    pub(super) async fn authentication_section(&self, period: Period) -> Result<Section> {
        // (plane, source) → (count, the reasons given)
        let mut by_source: BTreeMap<(&str, String), (u64, Vec<String>)> = BTreeMap::new();
        for event in self.audit_events("auth.authenticate", period).await? {
            if event.outcome != Outcome::Denied {
                continue;
            }
            let owner = self.credential_owner(&event).await?;
            // The gateway records the client's address with each refusal it audits.
            let key = match event.params.get("client_addr").and_then(|a| a.as_str()) {
                Some(address) => ("gateway", format!("{owner} from {address}")),
                None => ("control", owner),
            };
            let entry = by_source.entry(key).or_default();
            entry.0 += 1;
            if let Some(reason) = event.reason {
                if !entry.1.contains(&reason) {
                    entry.1.push(reason);
                }
            }
        }
        let total: u64 = by_source.values().map(|(n, _)| n).sum();
        let mut findings: Vec<Finding> = by_source
            .iter()
            .filter(|(_, (count, _))| *count >= AUTH_FAILURE_BURST)
            .map(|((plane, source), (count, _))| {
                Finding::fail(
                    source.clone(),
                    format!(
                        "{count} failed authentications on the {plane} plane in the period: a \
                         burst (≥ {AUTH_FAILURE_BURST}) suggests guessing or a leaked, revoked \
                         credential still in use"
                    ),
                    "find the client (`citadel audit query --action auth.authenticate \
                     --outcome denied`), revoke any exposed token (`citadel token revoke`) and \
                     block the source if it is not yours",
                )
            })
            .collect();
        if findings.is_empty() {
            findings.push(if total == 0 {
                Finding::pass("authentication", "no authentication failed in the period")
            } else {
                Finding::attention(
                    "authentication",
                    format!(
                        "{} from {}, none a burst (≥ {AUTH_FAILURE_BURST} from one source)",
                        count(total, "failed authentication", "failed authentications"),
                        count(by_source.len() as u64, "source", "sources")
                    ),
                    "check the sources below are known clients with expired or mistyped tokens",
                )
            });
        }
        let mut evidence = Evidence::new(
            "Failed authentications by source",
            ["plane", "source", "failures", "reasons"],
        );
        for ((plane, source), (count, reasons)) in by_source {
            evidence.row([
                plane.to_owned(),
                source,
                count.to_string(),
                reasons.join("; "),
            ]);
        }
        Ok(Section::new(
            SectionId::Authentication,
            findings,
            vec![evidence],
        ))
    }

    /// Whose credential a refused authentication presented: the token's principal when the
    /// token is known (revoked, expired), else that the credential was unknown.
    async fn credential_owner(&self, event: &AuditEvent) -> Result<String> {
        let token_id = event
            .params
            .get("token_id")
            .and_then(|v| v.as_str())
            .and_then(|id| id.parse::<citadel_core::TokenId>().ok());
        let Some(token_id) = token_id else {
            return Ok("unknown or malformed credential".to_owned());
        };
        Ok(match self.store.token(token_id).await? {
            Some(token) => format!(
                "token {token_id} of {}",
                self.principal_label(Some(token.principal_id)).await?
            ),
            None => format!("token {token_id}"),
        })
    }

    /// Every inference row of the period, one page at a time, reduced to what the report needs.
    pub(super) async fn inference_activity(&self, period: Period) -> Result<InferenceActivity> {
        let mut activity = InferenceActivity {
            requests: Vec::new(),
        };
        for endpoint in self.store.endpoints().await? {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .inference_log_page(
                        endpoint.id,
                        Some(period.since),
                        Some(period.until),
                        after,
                        PAGE_ROWS,
                    )
                    .await?;
                for row in &page {
                    activity.add(&row.record);
                }
                match page.last() {
                    Some(last) if page.len() == PAGE_ROWS as usize => after = Some(last.cursor()),
                    _ => break,
                }
            }
        }
        Ok(activity)
    }
}

impl InferenceActivity {
    fn add(&mut self, record: &InferenceLogRecord) {
        let outcome = match record.status.as_str() {
            "ok" => RequestOutcome::Answered,
            "blocked" => RequestOutcome::Blocked,
            "denied" => RequestOutcome::Denied,
            _ => RequestOutcome::Other,
        };
        self.requests.push(Request {
            time: record.time,
            latency_ms: record.latency_ms,
            outcome,
        });
    }

    /// The charts' traffic, and a note when there was none.
    pub fn into_traffic(self) -> (Traffic, Vec<String>) {
        let notes = if self.requests.is_empty() {
            vec!["No endpoint received a request in this period.".to_owned()]
        } else {
            Vec::new()
        };
        (Traffic::from_requests(self.requests), notes)
    }
}
