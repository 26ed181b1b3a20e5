//! Datasets for the compliance report: every live version's PII verdict and the waivers that
//! allow training on unredacted PII (each checked for separation of duties), and the retention
//! policies of datasets and of the logs.

use citadel_core::SecurableKind;
use citadel_data::{PiiVerdict, RetentionPolicy};
use citadel_monitor::compliance::{Evidence, Finding, Section, SectionId};
use citadel_store::{DatasetVersionRecord, WaiverRecord};
use time::OffsetDateTime;

use super::time_text;
use crate::datasets::json_error;
use crate::{Citadel, Result};

/// What a version's verdict says, for the evidence table.
fn verdict_text(version: &DatasetVersionRecord) -> Result<(String, Option<PiiVerdict>)> {
    if version.deleted_at.is_some() {
        return Ok(("deleted by retention".to_owned(), None));
    }
    let Some(text) = &version.pii_verdict else {
        return Ok(("not scanned".to_owned(), None));
    };
    let verdict: PiiVerdict = serde_json::from_str(text).map_err(json_error)?;
    let found: u64 = verdict.columns.values().flat_map(|c| c.values()).sum();
    let text = if verdict.high_confidence_unredacted {
        format!("{found} findings, high-confidence PII unredacted")
    } else if found == 0 {
        "clean".to_owned()
    } else {
        format!("{found} low-confidence findings")
    };
    Ok((text, Some(verdict)))
}

fn waiver_text(waiver: Option<&WaiverRecord>, now: OffsetDateTime) -> String {
    match waiver {
        None => "-".to_owned(),
        Some(w) if w.approved_by.is_none() => "requested, not approved".to_owned(),
        Some(w) if w.expires_at <= now => format!("expired {}", time_text(w.expires_at)),
        Some(w) => format!("approved until {}", time_text(w.expires_at)),
    }
}

impl Citadel {
    pub(super) async fn datasets_section(&self, now: OffsetDateTime) -> Result<Section> {
        let mut findings = Vec::new();
        let mut evidence = Evidence::new(
            "Dataset versions",
            ["version", "rows", "PII verdict", "waiver"],
        );
        let mut live_versions = 0usize;
        for securable in self
            .store
            .securables_of_kind(SecurableKind::Dataset)
            .await?
        {
            let name = &securable.full_name;
            let waivers = self.store.waivers(securable.id).await?;
            for w in waivers
                .iter()
                .filter(|w| w.approved_by == Some(w.requested_by))
            {
                findings.push(Finding::fail(
                    format!("{name}@{}", w.version),
                    format!(
                        "separation of duties breached: waiver {} was approved by its own \
                         requester {}",
                        w.id,
                        self.principal_label(Some(w.requested_by)).await?
                    ),
                    "stop training on the version, have another approver review the waiver, and \
                     check how the rule was bypassed",
                ));
            }
            let mut unscanned = Vec::new();
            let mut unwaived = Vec::new();
            for version in self.store.dataset_versions(securable.id).await? {
                let label = format!("{name}@{}", version.version);
                let (text, verdict) = verdict_text(&version)?;
                let live_waiver = waivers.iter().find(|w| {
                    w.version == version.version && w.approved_by.is_some() && w.expires_at > now
                });
                let shown_waiver = live_waiver
                    .or_else(|| waivers.iter().rev().find(|w| w.version == version.version));
                if version.deleted_at.is_none() {
                    live_versions += 1;
                    match &verdict {
                        None => unscanned.push(version.version),
                        Some(v) if v.high_confidence_unredacted && live_waiver.is_none() => {
                            unwaived.push(version.version)
                        }
                        Some(_) => {}
                    }
                }
                evidence.row([
                    label,
                    version.row_count.to_string(),
                    text,
                    waiver_text(shown_waiver, now),
                ]);
            }
            if !unscanned.is_empty() {
                findings.push(Finding::attention(
                    name.clone(),
                    format!(
                        "{} never scanned for PII",
                        versions(&unscanned, "was", "were")
                    ),
                    format!("run `citadel data scan {name}@VERSION` for each"),
                ));
            }
            if !unwaived.is_empty() {
                findings.push(Finding::attention(
                    name.clone(),
                    format!(
                        "{} unredacted high-confidence PII and no approved waiver (training \
                         refuses it)",
                        versions(&unwaived, "holds", "hold")
                    ),
                    format!(
                        "anonymize it (`citadel data anonymize {name}@VERSION`), or if an \
                         anonymized version replaces it, let retention delete the raw one \
                         (`citadel data retention set` and `citadel data gc`); a waiver needs \
                         a second person's approval"
                    ),
                ));
            }
        }
        if findings.is_empty() {
            findings.push(Finding::pass(
                "datasets",
                format!(
                    "{live_versions} live versions, each scanned, with unredacted PII only \
                     under an approved waiver"
                ),
            ));
        }
        Ok(Section::new(SectionId::Datasets, findings, vec![evidence]))
    }

    pub(super) async fn retention_section(&self) -> Result<Section> {
        let mut findings = Vec::new();
        let mut evidence = Evidence::new("Retention by store", ["what", "policy"]);
        let mut without = Vec::new();
        for securable in self
            .store
            .securables_of_kind(SecurableKind::Dataset)
            .await?
        {
            let policy = match self.store.dataset(securable.id).await? {
                Some(record) => record.retention,
                None => None,
            };
            let shown = match policy {
                Some(text) => serde_json::from_str::<RetentionPolicy>(&text)
                    .map_err(json_error)?
                    .to_string(),
                None => {
                    without.push(securable.full_name.clone());
                    "no retention policy configured".to_owned()
                }
            };
            evidence.row([format!("dataset {}", securable.full_name), shown]);
        }
        if without.is_empty() {
            findings.push(Finding::pass(
                "datasets",
                "every dataset has a retention policy",
            ));
        } else {
            findings.push(Finding::attention(
                "datasets",
                format!(
                    "no retention policy configured for {}: their versions are kept forever",
                    without.join(", ")
                ),
                "set one per dataset (`citadel data retention set NAME --keep-versions 5 \
                 --max-age 365d`) and schedule `citadel data gc`",
            ));
        }
        findings.push(Finding::attention(
            "inference log",
            "no retention policy configured: request rows (with prompts and completions as each \
             endpoint's log policy stores them) are kept until deleted by hand",
            "export and prune old rows on a schedule, or have endpoints omit payloads \
             (`payloads = \"none\"` in the [log] table of `citadel endpoint update NAME \
             --config FILE`)",
        ));
        evidence.row([
            "inference log".to_owned(),
            "no retention policy configured".to_owned(),
        ]);
        findings.push(Finding::pass(
            "audit log",
            "kept in full by design: an append-only, hash-chained record is the evidence this \
             report rests on",
        ));
        evidence.row(["audit log".to_owned(), "kept in full".to_owned()]);
        Ok(Section::new(SectionId::Retention, findings, vec![evidence]))
    }
}

/// `version 1 holds` or `versions 1, 2 hold`.
fn versions(numbers: &[u32], one: &str, many: &str) -> String {
    let list: Vec<String> = numbers.iter().map(u32::to_string).collect();
    match numbers {
        [single] => format!("version {single} {one}"),
        _ => format!("versions {} {many}", list.join(", ")),
    }
}
