//! The `Citadel` handle: opening a home, authenticating tokens, and the authorization helpers
//! every operation uses.

use std::sync::Arc;

use citadel_audit::{Actor, EventDraft, PublicKey, Signer};
use citadel_blob::{BlobConfig, BlobStore, KeyRing};
use citadel_core::{decide, Decision, Privilege, RequestId};
use citadel_hub::manifest::SigningKey;
use citadel_store::{Store, StoreOptions, WriteTx};
use citadel_vault::KeyProvider;
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use crate::{pat, Config, Context, Error, Home, Result, SecurableRef, TokenInfo};

/// An open Citadel home: metadata store, artifact store and keys. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Citadel {
    pub(crate) store: Store,
    pub(crate) blobs: Arc<BlobStore>,
    pub(crate) public_key: PublicKey,
    pub(crate) config: Arc<Config>,
    /// The key-encryption keys, the database's active key first.
    pub(crate) keys: KeyRing,
    pub(crate) key_provider: Arc<dyn KeyProvider>,
    /// Signs model manifests.
    pub(crate) model_key: Arc<SigningKey>,
    blob_config: BlobConfig,
}

impl Citadel {
    /// Opens an initialized home: checks key and credential file permissions, loads the config,
    /// connects to the database (applying migrations) and the artifact store (cleaning staging
    /// leftovers of interrupted writes).
    pub async fn open(home: &Home) -> Result<Self> {
        if !home.config_path().exists() {
            return Err(Error::NotInitialized(home.root().to_owned()));
        }
        let config = Config::load(home)?;
        let credentials = home.credentials_path();
        if credentials.exists() {
            home.check_private(&credentials)?;
        }
        // One instance key signs audit checkpoints and model manifests (domain-separated: a
        // checkpoint message and a DSSE pre-authentication encoding never coincide).
        let instance_key = home.read_private(&home.signing_key_path())?;
        let signer = Arc::new(Signer::from_pkcs8(&instance_key)?);
        let model_key = Arc::new(SigningKey::from_pkcs8(&instance_key)?);
        let public_key = signer.public_key();
        let store = Store::open(
            StoreOptions::new(config.database_url(home))
                .signer(signer)
                .checkpoint_every(config.audit.checkpoint_every),
        )
        .await?;
        if store.metastore().await?.is_none() {
            return Err(Error::NotInitialized(home.root().to_owned()));
        }
        let key_provider = crate::keys::provider(home);
        let keys = crate::keys::open_keys(&store, key_provider.as_ref()).await?;
        let blob_config = config.artifacts(home);
        let blobs = Arc::new(BlobStore::open(&blob_config, keys.clone()).await?);
        Ok(Self {
            store,
            blobs,
            public_key,
            config: Arc::new(config),
            keys,
            key_provider,
            model_key,
            blob_config,
        })
    }

    /// Reopens the artifact store with the current keys (after a rotation).
    pub(crate) async fn reopen_blobs(&mut self) -> Result<()> {
        self.blobs = Arc::new(BlobStore::open(&self.blob_config, self.keys.clone()).await?);
        Ok(())
    }

    /// Signs a checkpoint if events were added since the last one, and closes the database.
    pub async fn close(&self) -> Result<()> {
        self.store.checkpoint_now().await?;
        self.store.close().await;
        Ok(())
    }

    /// The public key that verifies audit checkpoints.
    pub fn audit_public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Turns a token into a [`Context`]. A missing, malformed, unknown, revoked or expired token,
    /// or a disabled principal, is refused and audited.
    pub async fn authenticate(&self, token: Option<&SecretString>) -> Result<Context> {
        let request_id = RequestId::new();
        let refuse = |reason: &'static str, params: serde_json::Value| async move {
            let event = EventDraft::new(&Actor::anonymous(), request_id, "auth.authenticate")
                .with_params(params)
                .denied(reason);
            self.store.audit(event).await?;
            Err(Error::Unauthenticated(reason))
        };
        let Some(token) = token else {
            return refuse(
                "no token: pass --token, set CITADEL_TOKEN, or run `citadel init` for a new home",
                json!({}),
            )
            .await;
        };
        if !pat::is_well_formed(secrecy::ExposeSecret::expose_secret(token)) {
            return refuse(
                "malformed token: expected cit_pat_ followed by 43 letters and digits",
                json!({}),
            )
            .await;
        }
        let Some(record) = self.store.token_by_hash(&pat::hash(token)).await? else {
            return refuse("unknown token", json!({})).await;
        };
        let params = json!({ "token_id": record.id.to_string() });
        if record.revoked_at.is_some() {
            return refuse("the token was revoked; ask for a new one", params).await;
        }
        if OffsetDateTime::now_utc() >= record.expires_at {
            return refuse("the token expired; ask for a new one", params).await;
        }
        let Some(principal) = self.store.principal(record.principal_id).await? else {
            return refuse("the token's principal no longer exists", params).await;
        };
        if principal.disabled {
            return refuse("the principal is disabled", params).await;
        }
        let group_ids = self.store.groups_of(principal.id).await?;
        let mut group_names = Vec::with_capacity(group_ids.len());
        for id in &group_ids {
            if let Some(group) = self.store.principal(*id).await? {
                group_names.push(group.name);
            }
        }
        group_names.sort();
        let ctx = Context {
            token: Some(TokenInfo::from_record(&record, &principal.name)),
            principal,
            group_ids,
            group_names,
            request_id,
        };
        let mut tx = self.store.begin_write().await?;
        tx.touch_token(record.id).await?;
        tx.commit(ctx.event("auth.authenticate").with_params(params))
            .await?;
        Ok(ctx)
    }

    /// The decision for `privilege` on `target`, from the facts currently committed.
    async fn decision(
        &self,
        ctx: &Context,
        privilege: Privilege,
        target: &SecurableRef,
    ) -> Result<Decision> {
        let chain = self
            .store
            .policy_chain(&target.db_name(), &ctx.principal_ids())
            .await?;
        Ok(decide(&ctx.subject(), privilege, chain.as_deref()))
    }

    /// Whether any of `privileges` is allowed on `target` (nothing audited: for listings).
    pub(crate) async fn allowed_any(
        &self,
        ctx: &Context,
        privileges: &[Privilege],
        target: &SecurableRef,
    ) -> Result<bool> {
        let chain = self
            .store
            .policy_chain(&target.db_name(), &ctx.principal_ids())
            .await?;
        Ok(privileges
            .iter()
            .any(|p| decide(&ctx.subject(), *p, chain.as_deref()).is_allowed()))
    }

    /// Authorizes a read-only operation; a denial is audited in its own transaction.
    pub(crate) async fn authorize_read(
        &self,
        ctx: &Context,
        action: &'static str,
        privilege: Privilege,
        target: &SecurableRef,
    ) -> Result<()> {
        match self.decision(ctx, privilege, target).await? {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => {
                let event = ctx
                    .event(action)
                    .on(target.audit_label())
                    .denied(reason.to_string());
                self.store.audit(event).await?;
                Err(Error::PermissionDenied {
                    operation: action,
                    reason,
                })
            }
        }
    }

    /// Starts a write transaction and authorizes it. The transaction holds the audit-head lock,
    /// so no grant can change between this check and the commit. A denial is committed as the
    /// transaction's only effect: its audit event.
    pub(crate) async fn begin_authorized(
        &self,
        ctx: &Context,
        action: &'static str,
        privilege: Privilege,
        target: &SecurableRef,
        params: &serde_json::Value,
    ) -> Result<WriteTx> {
        let tx = self.store.begin_write().await?;
        match self.decision(ctx, privilege, target).await? {
            Decision::Allow => Ok(tx),
            Decision::Deny(reason) => {
                let event = ctx
                    .event(action)
                    .on(target.audit_label())
                    .with_params(params.clone())
                    .denied(reason.to_string());
                tx.commit(event).await?;
                Err(Error::PermissionDenied {
                    operation: action,
                    reason,
                })
            }
        }
    }
}
