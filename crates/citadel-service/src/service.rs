//! The `Citadel` handle: opening a home, authenticating tokens, and the authorization helpers
//! every operation uses.

use std::net::IpAddr;
use std::sync::Arc;

use citadel_audit::{Actor, EventDraft, PublicKey, Signer};
use citadel_blob::{BlobConfig, BlobStore, KeyRing};
use citadel_core::{decide, Decision, Principal, Privilege, RequestId};
use citadel_hub::manifest::SigningKey;
use citadel_store::{Store, StoreOptions, TokenRecord, WriteTx};
use citadel_vault::KeyProvider;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use crate::{pat, Config, Context, Error, Home, JwtInfo, Result, SecurableRef, TokenInfo};

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
    /// The home's folder, for files the configuration names relative to it.
    pub(crate) home: Home,
    /// Serving endpoints' recent traffic, for the gateway's drift checks.
    pub(crate) drift_tracker: Arc<crate::monitoring::DriftTracker>,
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
            home: home.clone(),
            drift_tracker: Arc::default(),
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

    /// Turns a bearer into a [`Context`] for the control plane: a personal access token
    /// (`cit_pat_…`) or an OAuth access token (a JWT from [`Citadel::issue_client_token`]). A
    /// missing, malformed, unknown, revoked or expired credential, or a disabled principal, is
    /// refused and audited; a success is audited too (and a token's last use recorded).
    pub async fn authenticate(&self, token: Option<&SecretString>) -> Result<Context> {
        self.authenticate_on(token, Plane::Control, None).await
    }

    /// [`Citadel::authenticate`] for the gateway's inference hot path: the same checks and the
    /// same refusals (each audited), but a success writes nothing, neither an audit event nor a
    /// token's last use. Every call that gets through is recorded in the inference table with
    /// its principal and request id, so a per-request audit event would only duplicate it, and
    /// a database write (which takes the audit chain's lock) per inference would serialize the
    /// gateway behind the metadata store.
    pub async fn authenticate_data_plane(&self, token: Option<&SecretString>) -> Result<Context> {
        self.authenticate_on(token, Plane::Data, None).await
    }

    /// [`Citadel::authenticate_data_plane`] for a caller at `client`: a refusal's audit event
    /// records the address (`client_addr`), which the failed-authentication alert groups by.
    pub async fn authenticate_data_plane_from(
        &self,
        token: Option<&SecretString>,
        client: Option<IpAddr>,
    ) -> Result<Context> {
        self.authenticate_on(token, Plane::Data, client).await
    }

    /// The one place a credential becomes a [`Context`].
    async fn authenticate_on(
        &self,
        token: Option<&SecretString>,
        plane: Plane,
        client: Option<IpAddr>,
    ) -> Result<Context> {
        let request_id = RequestId::new();
        let Some(token) = token else {
            return self
                .refuse_authentication(
                    request_id,
                    client,
                    Refusal::new(
                        "no token: pass --token, set CITADEL_TOKEN, or run `citadel init` for a \
                         new home",
                    ),
                )
                .await;
        };
        let text = token.expose_secret();
        let verified = if pat::is_well_formed(text) {
            self.verify_pat(token).await?
        } else if crate::oauth::looks_like_jwt(text) {
            self.verify_jwt(text).await?.map(|jwt| Verified {
                principal: jwt.principal,
                credential: Credential::Jwt(jwt.info),
                params: jwt.params,
            })
        } else {
            Err(Refusal::new(
                "malformed token: expected cit_pat_ followed by 43 letters and digits, or a JWT \
                 from the OAuth token endpoint",
            ))
        };
        let verified = match verified {
            Ok(verified) => verified,
            Err(refusal) => {
                return self
                    .refuse_authentication(request_id, client, refusal)
                    .await
            }
        };
        let group_ids = self.store.groups_of(verified.principal.id).await?;
        let mut group_names = Vec::with_capacity(group_ids.len());
        for id in &group_ids {
            if let Some(group) = self.store.principal(*id).await? {
                group_names.push(group.name);
            }
        }
        group_names.sort();
        let (token, jwt) = match verified.credential {
            Credential::Pat(record) => (
                Some(TokenInfo::from_record(&record, &verified.principal.name)),
                None,
            ),
            Credential::Jwt(info) => (None, Some(info)),
        };
        let ctx = Context {
            token,
            jwt,
            principal: verified.principal,
            group_ids,
            group_names,
            request_id,
        };
        if plane == Plane::Control {
            let mut tx = self.store.begin_write().await?;
            if let Some(token) = &ctx.token {
                tx.touch_token(token.id).await?;
            }
            tx.commit(ctx.event("auth.authenticate").with_params(verified.params))
                .await?;
        }
        Ok(ctx)
    }

    /// Checks a well-formed personal access token.
    async fn verify_pat(
        &self,
        token: &SecretString,
    ) -> Result<std::result::Result<Verified, Refusal>> {
        let Some(record) = self.store.token_by_hash(&pat::hash(token)).await? else {
            return Ok(Err(Refusal::new("unknown token")));
        };
        let params = json!({ "token_id": record.id.to_string() });
        let refuse = |reason| {
            Ok(Err(Refusal {
                reason,
                params: params.clone(),
            }))
        };
        if record.revoked_at.is_some() {
            return refuse("the token was revoked; ask for a new one");
        }
        if OffsetDateTime::now_utc() >= record.expires_at {
            return refuse("the token expired; ask for a new one");
        }
        let Some(principal) = self.store.principal(record.principal_id).await? else {
            return refuse("the token's principal no longer exists");
        };
        if principal.disabled {
            return refuse("the principal is disabled");
        }
        Ok(Ok(Verified {
            principal,
            credential: Credential::Pat(record),
            params,
        }))
    }

    /// Audits a refused authentication (with the client's address when known) and returns its
    /// error.
    async fn refuse_authentication<T>(
        &self,
        request_id: RequestId,
        client: Option<IpAddr>,
        refusal: Refusal,
    ) -> Result<T> {
        let mut params = refusal.params;
        if let (Some(client), Some(fields)) = (client, params.as_object_mut()) {
            fields.insert("client_addr".to_owned(), json!(client.to_string()));
        }
        let event = EventDraft::new(&Actor::anonymous(), request_id, "auth.authenticate")
            .with_params(params)
            .denied(refusal.reason);
        self.store.audit(event).await?;
        Err(Error::Unauthenticated(refusal.reason))
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

/// Which plane an authentication is for (see [`Citadel::authenticate_data_plane`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plane {
    Control,
    Data,
}

/// Why a credential was refused, with what the audit event may say about it (never the
/// credential).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub reason: &'static str,
    pub params: serde_json::Value,
}

impl Refusal {
    fn new(reason: &'static str) -> Self {
        Self {
            reason,
            params: json!({}),
        }
    }
}

/// The credential a caller presented, once checked.
enum Credential {
    Pat(TokenRecord),
    Jwt(JwtInfo),
}

/// A checked credential and its principal.
struct Verified {
    principal: Principal,
    credential: Credential,
    params: serde_json::Value,
}
