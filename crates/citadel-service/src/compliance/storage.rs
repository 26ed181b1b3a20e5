//! Encryption at rest and key management for the compliance report: every artifact's envelope
//! header checked in the store, every secret version's and dataset's data key unwrapped under a
//! held key, and the key-encryption key's age and rotations.

use citadel_core::SecurableKind;
use citadel_monitor::compliance::{Evidence, Finding, Section, SectionId};
use citadel_vault::{rewrap_secret_key, SecretCoordinates};
use time::OffsetDateTime;

use super::time_text;
use crate::artifacts::artifact_ref;
use crate::datasets::dataset_key;
use crate::doctor::KEY_ROTATION_DAYS;
use crate::{Citadel, Context, Result};

/// AES-GCM nonce and tag: the least a sealed secret value can be.
const SEALED_OVERHEAD: usize = 12 + 16;

/// What was found for one kind of encrypted thing.
#[derive(Default)]
struct Tally {
    total: usize,
    sealed: usize,
    under_active_key: usize,
    /// `subject: problem`, for the findings.
    problems: Vec<String>,
}

impl Tally {
    fn record(&mut self, subject: &str, kek_id: &str, active: &str, check: Result<()>) {
        self.total += 1;
        match check {
            Ok(()) => self.sealed += 1,
            Err(err) => self.problems.push(format!("{subject}: {err}")),
        }
        if kek_id == active {
            self.under_active_key += 1;
        }
    }

    fn findings(&self, kind: &str, out: &mut Vec<Finding>) {
        if !self.problems.is_empty() {
            out.push(Finding::fail(
                kind,
                format!(
                    "{} of {} are not sealed as stored: {}",
                    self.problems.len(),
                    self.total,
                    self.problems.join("; ")
                ),
                "restore the named objects from a backup; if the key that wrapped them is \
                 missing, restore that key (CITADEL_MASTER_KEY_PREVIOUS) and run `citadel keys \
                 rotate`",
            ));
        } else if self.under_active_key < self.total {
            out.push(Finding::attention(
                kind,
                format!(
                    "{} of {} are wrapped by a retired key-encryption key (all are sealed)",
                    self.total - self.under_active_key,
                    self.total
                ),
                "run `citadel keys rotate` to re-wrap every data key under a fresh key",
            ));
        } else {
            out.push(Finding::pass(
                kind,
                match self.total {
                    0 => "none stored".to_owned(),
                    1 => "the only one is sealed under the active key-encryption key".to_owned(),
                    n => format!("all {n} are sealed under the active key-encryption key"),
                },
            ));
        }
    }
}

impl Citadel {
    pub(super) async fn encryption_section(&self) -> Result<Section> {
        let active = self.keys.active().id().to_owned();
        let mut artifacts = Tally::default();
        for record in self.store.list_artifacts().await? {
            let check = match artifact_ref(&record) {
                Ok(reference) => self
                    .blobs
                    .check_sealed(&reference)
                    .await
                    .map_err(Into::into),
                Err(err) => Err(err),
            };
            artifacts.record(&short(&record.digest), &record.kek_id, &active, check);
        }
        let mut secrets = Tally::default();
        for scope in self
            .store
            .securables_of_kind(SecurableKind::SecretScope)
            .await?
        {
            for meta in self.store.list_secret_versions(scope.id).await? {
                let subject = format!("{}/{} v{}", scope.full_name, meta.name, meta.version);
                let check = self
                    .check_secret_sealed(&scope.full_name, &meta.name, meta.version, scope.id)
                    .await;
                secrets.record(&subject, &meta.kek_id, &active, check);
            }
        }
        let mut datasets = Tally::default();
        for securable in self
            .store
            .securables_of_kind(SecurableKind::Dataset)
            .await?
        {
            if let Some(record) = self.store.dataset(securable.id).await? {
                let check = dataset_key(&self.keys, &securable, &record).map(drop);
                datasets.record(&securable.full_name, &record.kek_id, &active, check);
            }
        }
        let mut findings = Vec::new();
        artifacts.findings(
            "artifacts (model files, dataset rows, checkpoints)",
            &mut findings,
        );
        secrets.findings("secret versions", &mut findings);
        datasets.findings("dataset keys", &mut findings);
        let mut evidence = Evidence::new(
            "What is encrypted, and how it was checked",
            ["kind", "count", "sealed", "under the active key", "check"],
        );
        for (kind, tally, check) in [
            (
                "artifacts",
                &artifacts,
                "stored envelope header authenticated under the artifact's own data key",
            ),
            (
                "secret versions",
                &secrets,
                "data key unwrapped for its scope, name and version; ciphertext present",
            ),
            (
                "dataset keys",
                &datasets,
                "dataset key unwrapped for its dataset",
            ),
        ] {
            evidence.row([
                kind.to_owned(),
                tally.total.to_string(),
                tally.sealed.to_string(),
                tally.under_active_key.to_string(),
                check.to_owned(),
            ]);
        }
        Ok(Section::new(
            SectionId::Encryption,
            findings,
            vec![evidence],
        ))
    }

    /// A secret version is sealed when its data key unwraps for exactly its coordinates (the
    /// unwrapped key is re-wrapped and dropped, the value is never decrypted) and a ciphertext
    /// with nonce and tag is stored.
    async fn check_secret_sealed(
        &self,
        scope: &str,
        name: &str,
        version: u32,
        scope_id: citadel_core::SecurableId,
    ) -> Result<()> {
        let Some(record) = self
            .store
            .secret_version(scope_id, name, Some(version))
            .await?
        else {
            return Err(crate::Error::NotFound {
                what: "secret version",
                name: format!("{scope}/{name} v{version}"),
            });
        };
        if record.ciphertext.len() < SEALED_OVERHEAD {
            return Err(crate::Error::InvalidInput(
                "the stored value is too short to be sealed".into(),
            ));
        }
        let wrapped = citadel_blob::WrappedKey::from_bytes(&record.wrapped_key)
            .map_err(citadel_vault::Error::from)?;
        let at = SecretCoordinates {
            scope,
            name,
            version,
        };
        rewrap_secret_key(
            &self.keys,
            &at,
            &record.meta.kek_id,
            &wrapped,
            self.keys.active(),
        )?;
        Ok(())
    }

    pub(super) async fn keys_section(&self, ctx: &Context, now: OffsetDateTime) -> Result<Section> {
        let status = self.key_status(ctx).await?;
        let rotations = status.history.len().saturating_sub(1);
        let last_rotation = status.history.iter().filter_map(|k| k.retired_at).max();
        let finding = match status.activated_at {
            Some(activated) if (now - activated).whole_days() > KEY_ROTATION_DAYS => {
                Finding::attention(
                    "key-encryption key",
                    format!(
                        "key {} is {} days old (rotate every {KEY_ROTATION_DAYS} days)",
                        status.kek_id,
                        (now - activated).whole_days()
                    ),
                    "run `citadel keys rotate` (re-wraps data keys, rewrites no artifact)",
                )
            }
            Some(activated) => Finding::pass(
                "key-encryption key",
                format!(
                    "key {} is {} days old, within the {KEY_ROTATION_DAYS}-day rotation period; {}",
                    status.kek_id,
                    (now - activated).whole_days(),
                    match last_rotation {
                        Some(t) => format!("last rotated {}", time_text(t)),
                        None => "never rotated since init".to_owned(),
                    }
                ),
            ),
            None => Finding::attention(
                "key-encryption key",
                format!(
                    "the activation time of key {} is not recorded",
                    status.kek_id
                ),
                "run `citadel keys rotate` so the active key has a recorded age",
            ),
        };
        let mut evidence = Evidence::new(
            format!(
                "Key-encryption keys ({}; {rotations} rotations)",
                status.provider
            ),
            ["key id", "provider", "activated", "activated by", "retired"],
        );
        for key in &status.history {
            evidence.row([
                key.kek_id.clone(),
                key.provider.clone(),
                time_text(key.activated_at),
                key.activated_by.clone(),
                key.retired_at
                    .map_or_else(|| "active".to_owned(), time_text),
            ]);
        }
        Ok(Section::new(SectionId::Keys, vec![finding], vec![evidence]))
    }
}

/// A digest shortened for a finding.
pub(super) fn short(digest: &str) -> String {
    digest.chars().take(16).collect()
}
