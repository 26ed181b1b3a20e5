//! Key management: choosing the key provider, reconciling it with the database at start-up, and
//! rotating the key-encryption key (every data key re-wrapped in one audited transaction, no
//! artifact rewritten).

use std::sync::Arc;

use citadel_audit::{Actor, EventDraft};
use citadel_blob::{ArtifactRef, KeyRing, WrappedKey};
use citadel_core::{Privilege, RequestId};
use citadel_store::{Store, WriteTx};
use citadel_vault::{
    rewrap_secret_key, EnvKeyProvider, FileKeyProvider, KeyProvider, SecretCoordinates,
};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{artifacts::artifact_ref, env, Citadel, Context, Error, Home, Result, SecurableRef};

/// The key provider for `home`: `$CITADEL_MASTER_KEY` when set, else the home's key file.
pub fn provider(home: &Home) -> Arc<dyn KeyProvider> {
    match env::var(env::MASTER_KEY) {
        Some(master) => Arc::new(EnvKeyProvider::new(
            env::MASTER_KEY,
            SecretString::from(master),
            env::var(env::MASTER_KEY_PREVIOUS).map(SecretString::from),
        )),
        None => Arc::new(FileKeyProvider::new(home.kek_path())),
    }
}

/// The key provider of a new home: `$CITADEL_MASTER_KEY` when set, else a new 0600 key file.
pub(crate) fn create_for_init(home: &Home) -> Result<(Arc<dyn KeyProvider>, KeyRing)> {
    if env::var(env::MASTER_KEY).is_none() {
        FileKeyProvider::new(home.kek_path()).create()?;
    }
    let provider = provider(home);
    let keys = provider.load()?;
    Ok((provider, keys))
}

/// Loads the keys at start-up: finishes or undoes a rotation a crash interrupted, records the key
/// of a home that has none recorded, and makes the key the database names active.
pub(crate) async fn open_keys(store: &Store, provider: &dyn KeyProvider) -> Result<KeyRing> {
    let Some(active_id) = store.active_kek_id().await? else {
        let keys = provider.load()?;
        let mut tx = store.begin_write().await?;
        tx.activate_kek(keys.active().id(), provider.kind(), None)
            .await?;
        let event = EventDraft::new(&Actor::system(), RequestId::new(), "keys.register")
            .on("metastore:metastore")
            .with_params(json!({ "kek_id": keys.active().id(), "provider": provider.kind() }));
        tx.commit(event).await?;
        return Ok(keys);
    };
    provider.recover(&active_id)?;
    let keys = provider.load()?;
    with_active(keys, &active_id).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the database's data keys are wrapped by key-encryption key {active_id}, which {} \
             does not hold; restore that key (or set {} to it)",
            provider.describe(),
            env::MASTER_KEY_PREVIOUS
        ))
    })
}

/// `keys` with `active_id` as the active key (the database decides which key wraps new data keys:
/// an operator who swapped an environment key has not rotated until `citadel keys rotate` ran).
fn with_active(keys: KeyRing, active_id: &str) -> Option<KeyRing> {
    let active = keys.get(active_id)?.clone();
    let ring = KeyRing::new(active);
    Some(
        keys.ids()
            .iter()
            .filter_map(|id| keys.get(id).cloned())
            .fold(ring, KeyRing::with_other),
    )
}

/// Fails when the key that wrapped a new data key is no longer the active one: another process
/// rotated meanwhile, and committing would leave a data key under a retired key.
pub(crate) async fn ensure_active_key(tx: &mut WriteTx, used_kek_id: &str) -> Result<()> {
    if tx.active_kek_id().await?.as_deref() == Some(used_kek_id) {
        Ok(())
    } else {
        Err(Error::KeyRotated)
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    pub previous_kek_id: String,
    pub kek_id: String,
    pub provider: String,
    pub artifacts_rewrapped: usize,
    pub secrets_rewrapped: usize,
    pub datasets_rewrapped: usize,
}

/// The key-encryption key in use and its history.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    pub provider: String,
    pub kek_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
    pub age_days: Option<i64>,
    pub history: Vec<KeyHistoryEntry>,
}

/// One key the home has used.
#[derive(Debug, Clone, Serialize)]
pub struct KeyHistoryEntry {
    pub kek_id: String,
    pub provider: String,
    #[serde(with = "time::serde::rfc3339")]
    pub activated_at: OffsetDateTime,
    pub activated_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

impl Citadel {
    /// The active key, who holds it and every key used before (`MANAGE` on the metastore).
    pub async fn key_status(&self, ctx: &Context) -> Result<KeyStatus> {
        self.authorize_read(
            ctx,
            "keys.status",
            Privilege::Manage,
            &SecurableRef::metastore(),
        )
        .await?;
        let mut history = Vec::new();
        for record in self.store.list_keks().await? {
            history.push(KeyHistoryEntry {
                activated_by: self.principal_label(record.activated_by).await?,
                kek_id: record.kek_id,
                provider: record.provider,
                activated_at: record.activated_at,
                retired_at: record.retired_at,
            });
        }
        let kek_id = self.keys.active().id().to_owned();
        let activated_at = history
            .iter()
            .find(|k| k.kek_id == kek_id)
            .map(|k| k.activated_at);
        Ok(KeyStatus {
            provider: self.key_provider.describe(),
            age_days: activated_at.map(|t| (OffsetDateTime::now_utc() - t).whole_days()),
            activated_at,
            kek_id,
            history,
        })
    }

    /// Rotates the key-encryption key (`MANAGE` on the metastore): a new key is made durable, every
    /// data key (artifacts and secret versions) is re-wrapped to it and the new key recorded as
    /// active in one audited transaction, then the old key is destroyed. Artifacts are not
    /// rewritten. A failure before the commit changes nothing; a crash after it is finished at the
    /// next start. This handle keeps working with the new key.
    pub async fn rotate_keys(&mut self, ctx: &Context) -> Result<RotationReport> {
        const ACTION: &str = "keys.rotate";
        let metastore = SecurableRef::metastore();
        self.authorize_read(ctx, ACTION, Privilege::Manage, &metastore)
            .await?;
        let next = self.key_provider.prepare_rotation()?;
        let next_id = next.active().id().to_owned();
        match self.rewrap_all(ctx, &next).await {
            Ok(report) => {
                self.key_provider.commit_rotation(&next_id)?;
                self.keys = KeyRing::new(next.active().clone());
                self.reopen_blobs().await?;
                Ok(report)
            }
            Err(err) => {
                self.key_provider.abort_rotation(&next_id)?;
                Err(err)
            }
        }
    }

    async fn rewrap_all(&self, ctx: &Context, next: &KeyRing) -> Result<RotationReport> {
        const ACTION: &str = "keys.rotate";
        let new = next.active();
        let previous_kek_id = self.keys.active().id().to_owned();
        let params = json!({ "kek_id": new.id(), "previous_kek_id": previous_kek_id });
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        let artifacts = tx.artifacts_not_wrapped_by(new.id()).await?;
        for record in &artifacts {
            let rewrapped: ArtifactRef = self
                .blobs
                .rewrap(&artifact_ref(record)?, new)
                .await
                .map_err(|e| {
                    Error::InvalidInput(format!(
                        "cannot re-wrap the data key of artifact {}: {e}; nothing was changed",
                        record.digest
                    ))
                })?;
            tx.rewrap_artifact_key(
                &record.digest,
                rewrapped.wrapped_key.as_bytes(),
                &rewrapped.kek_id,
            )
            .await?;
        }
        let secrets = tx.secrets_not_wrapped_by(new.id()).await?;
        for record in &secrets {
            let scope = self
                .store
                .securable(record.meta.scope_id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "secret scope",
                    name: record.meta.scope_id.to_string(),
                })?;
            let at = SecretCoordinates {
                scope: &scope.full_name,
                name: &record.meta.name,
                version: record.meta.version,
            };
            // A failure changes nothing: the transaction rolls back and the next key is dropped.
            let tampered = || {
                Error::Vault(citadel_vault::Error::Tampered {
                    name: format!("{}/{}", scope.full_name, record.meta.name),
                    version: record.meta.version,
                })
            };
            let wrapped = WrappedKey::from_bytes(&record.wrapped_key).map_err(|_| tampered())?;
            let rewrapped = rewrap_secret_key(next, &at, &record.meta.kek_id, &wrapped, new)
                .map_err(|e| match e {
                    citadel_vault::Error::Crypto(citadel_blob::Error::Unwrap) => tampered(),
                    other => Error::Vault(other),
                })?;
            tx.rewrap_secret_key(&record.meta, rewrapped.as_bytes(), new.id())
                .await?;
        }
        let datasets = tx.datasets_not_wrapped_by(new.id()).await?;
        for record in &datasets {
            let securable = self
                .store
                .securable(record.securable_id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "dataset",
                    name: record.securable_id.to_string(),
                })?;
            let wrapped = crate::datasets::rewrap_dataset_key(next, &securable, record, new)
                .map_err(|e| {
                    Error::InvalidInput(format!(
                        "cannot re-wrap the key of dataset {}: {e}; nothing was changed",
                        securable.full_name
                    ))
                })?;
            tx.rewrap_dataset_key(record.securable_id, wrapped.as_bytes(), new.id())
                .await?;
        }
        tx.activate_kek(new.id(), self.key_provider.kind(), Some(ctx.principal.id))
            .await?;
        let report = RotationReport {
            previous_kek_id,
            kek_id: new.id().to_owned(),
            provider: self.key_provider.describe(),
            artifacts_rewrapped: artifacts.len(),
            secrets_rewrapped: secrets.len(),
            datasets_rewrapped: datasets.len(),
        };
        tx.commit(ctx.event(ACTION).on(metastore_label()).with_params(json!({
            "kek_id": report.kek_id,
            "previous_kek_id": report.previous_kek_id,
            "provider": self.key_provider.kind(),
            "artifacts_rewrapped": report.artifacts_rewrapped,
            "secrets_rewrapped": report.secrets_rewrapped,
            "datasets_rewrapped": report.datasets_rewrapped,
        })))
        .await?;
        Ok(report)
    }
}

fn metastore_label() -> String {
    SecurableRef::metastore().audit_label()
}
