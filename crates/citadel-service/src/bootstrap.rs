//! `citadel init`: a new home with its keys, config, database, the default catalogs and schemas,
//! the bootstrap groups and their grants, and a first administrator with a token.

use std::path::PathBuf;

use citadel_audit::{Actor, EventDraft, Signer};
use citadel_core::{
    Effect, Principal, PrincipalId, PrincipalKind, Privilege, RequestId, SecurableId, SecurableKind,
};
use citadel_store::{NewSecurable, NewToken, Store, StoreOptions, WriteTx};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use crate::home::create_private_dir;
use crate::{pat, Config, Error, Home, Result};

/// The groups every home starts with.
pub const BOOTSTRAP_GROUPS: [&str; 5] = [
    "admins",
    "data_scientists",
    "ml_engineers",
    "approvers",
    "service_accounts",
];
/// The catalogs every home starts with.
pub const BOOTSTRAP_CATALOGS: [&str; 3] = ["dev", "staging", "prod"];
/// The schemas of every bootstrap catalog.
pub const BOOTSTRAP_SCHEMAS: [&str; 3] = ["data", "models", "endpoints"];

use Privilege::*;

/// Grants made by `init`, as `(group, securable full name or "" for the metastore, privileges)`.
/// Documented in docs/SECURITY.md; admins adjust them with `citadel grant` and `citadel revoke`.
const BOOTSTRAP_GRANTS: &[(&str, &str, &[Privilege])] = &[
    ("admins", "", &[Manage]),
    (
        "data_scientists",
        "dev",
        &[UseCatalog, UseSchema, CreateDataset, CreateModel],
    ),
    (
        "ml_engineers",
        "dev",
        &[UseCatalog, UseSchema, Select, CreateModel],
    ),
    (
        "ml_engineers",
        "staging",
        &[UseCatalog, UseSchema, CreateModel],
    ),
    ("ml_engineers", "prod", &[UseCatalog, UseSchema]),
    (
        "approvers",
        "staging",
        &[UseCatalog, UseSchema, Select, Approve],
    ),
    (
        "approvers",
        "prod",
        &[UseCatalog, UseSchema, Select, Approve],
    ),
    ("service_accounts", "prod", &[UseCatalog, UseSchema]),
    ("service_accounts", "prod.endpoints", &[Execute]),
];

/// What `init` needs to know.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Name of the first administrator.
    pub admin_name: String,
}

/// What `init` made. The token is shown once.
#[derive(Debug)]
pub struct InitReport {
    pub home: PathBuf,
    pub admin: Principal,
    pub admin_token: SecretString,
    pub token_expires_at: OffsetDateTime,
    /// The database, without credentials.
    pub database: String,
}

impl crate::Citadel {
    /// Creates a new home. Refuses, changing nothing, if anything of a home is already there
    /// (or the configured database already holds one). On failure, removes what it created.
    pub async fn init(home: &Home, options: InitOptions) -> Result<InitReport> {
        citadel_core::principal::validate_principal_name(&options.admin_name)?;
        if home.is_initialized() {
            return Err(Error::AlreadyInitialized(home.root().to_owned()));
        }
        let created_root = !home.root().exists();
        let result = create_home(home, &options).await;
        if result.is_err() {
            remove_partial_home(home, created_root);
        }
        result
    }
}

async fn create_home(home: &Home, options: &InitOptions) -> Result<InitReport> {
    create_private_dir(home.root()).map_err(|source| Error::Home {
        path: home.root().to_owned(),
        action: "create",
        source,
    })?;
    create_private_dir(&home.root().join("keys")).map_err(|source| Error::Home {
        path: home.root().join("keys"),
        action: "create",
        source,
    })?;
    let (key_provider, keys) = crate::keys::create_for_init(home)?;
    let pkcs8 = Signer::generate_pkcs8()?;
    home.write_private(&home.signing_key_path(), &pkcs8)?;
    let signer = std::sync::Arc::new(Signer::from_pkcs8(&pkcs8)?);

    let mut config = Config::default();
    if let Some(url) = crate::env::var(crate::env::DATABASE_URL) {
        config.database.url = url;
    }
    home.write_private(&home.config_path(), config.to_toml()?.as_bytes())?;
    let config = Config::load(home)?;

    let store = Store::open(
        StoreOptions::new(config.database_url(home))
            .signer(signer)
            .checkpoint_every(config.audit.checkpoint_every),
    )
    .await?;
    if store.metastore().await?.is_some() {
        store.close().await;
        return Err(Error::AlreadyInitialized(home.root().to_owned()));
    }
    let token = pat::generate()?;
    let expires_at =
        OffsetDateTime::now_utc() + time::Duration::days(i64::from(config.tokens.default_ttl_days));
    let kek = KekToRecord {
        id: keys.active().id(),
        provider: key_provider.kind(),
    };
    let admin = bootstrap(&store, &options.admin_name, &token, expires_at, kek).await;
    let admin = match admin {
        Ok(admin) => admin,
        Err(err) => {
            store.close().await;
            return Err(err);
        }
    };
    home.write_private(
        &home.credentials_path(),
        format!("{}\n", secrecy::ExposeSecret::expose_secret(&token)).as_bytes(),
    )?;
    store.checkpoint_now().await?;
    store.close().await;
    Ok(InitReport {
        home: home.root().to_owned(),
        admin,
        admin_token: token,
        token_expires_at: expires_at,
        database: redact_url(&config.database_url(home)),
    })
}

/// Everything in the database, in one audited transaction.
async fn bootstrap(
    store: &Store,
    admin_name: &str,
    token: &SecretString,
    expires_at: OffsetDateTime,
    kek: KekToRecord<'_>,
) -> Result<Principal> {
    let mut tx = store.begin_write().await?;
    tx.activate_kek(kek.id, kek.provider, None).await?;
    let mut groups = Vec::new();
    for name in BOOTSTRAP_GROUPS {
        groups.push((
            name,
            tx.create_principal(PrincipalKind::Group, name, None)
                .await?
                .id,
        ));
    }
    let group = |name: &str| {
        groups
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
            .ok_or_else(|| Error::InvalidInput(format!("no bootstrap group {name}")))
    };
    let admins = group("admins")?;
    let admin = tx
        .create_principal(PrincipalKind::User, admin_name, None)
        .await?;
    tx.add_group_member(admins, admin.id, None).await?;

    let metastore = create(&mut tx, SecurableKind::Metastore, None, "metastore", admins).await?;
    let mut securables: Vec<(String, SecurableId)> = vec![(String::new(), metastore)];
    for catalog in BOOTSTRAP_CATALOGS {
        let catalog_id = create(
            &mut tx,
            SecurableKind::Catalog,
            Some(metastore),
            catalog,
            admins,
        )
        .await?;
        securables.push((catalog.to_owned(), catalog_id));
        for schema in BOOTSTRAP_SCHEMAS {
            let schema_id = create(
                &mut tx,
                SecurableKind::Schema,
                Some(catalog_id),
                schema,
                admins,
            )
            .await?;
            securables.push((format!("{catalog}.{schema}"), schema_id));
        }
    }
    for (group_name, on, privileges) in BOOTSTRAP_GRANTS {
        let securable = securables
            .iter()
            .find(|(name, _)| name == on)
            .map(|(_, id)| *id)
            .ok_or_else(|| Error::InvalidInput(format!("no bootstrap securable {on:?}")))?;
        for privilege in *privileges {
            tx.grant(
                securable,
                group(group_name)?,
                *privilege,
                Effect::Allow,
                None,
            )
            .await?;
        }
    }
    let record = tx
        .create_token(&NewToken {
            principal_id: admin.id,
            name: "init".to_owned(),
            token_hash: pat::hash(token),
            scope: citadel_core::TokenScope::Control,
            expires_at,
        })
        .await?;
    let event = EventDraft::new(
        &Actor::principal(admin.id, &admin.name),
        RequestId::new(),
        "citadel.init",
    )
    .on("metastore:metastore")
    .with_params(json!({
        "admin": admin.name,
        "admin_token_id": record.id.to_string(),
        "catalogs": BOOTSTRAP_CATALOGS,
        "schemas": BOOTSTRAP_SCHEMAS,
        "groups": BOOTSTRAP_GROUPS,
        "kek_id": kek.id,
        "provider": kek.provider,
    }));
    tx.commit(event).await?;
    Ok(admin)
}

/// The key-encryption key a new home starts with (its id, never the key).
struct KekToRecord<'a> {
    id: &'a str,
    provider: &'static str,
}

async fn create(
    tx: &mut WriteTx,
    kind: SecurableKind,
    parent: Option<SecurableId>,
    name: &str,
    owner: PrincipalId,
) -> Result<SecurableId> {
    let securable = tx
        .create_securable(&NewSecurable {
            kind,
            parent_id: parent,
            name: name.to_owned(),
            owner_id: Some(owner),
            created_by: None,
            comment: None,
        })
        .await?;
    Ok(securable.id)
}

/// Removes what a failed `init` wrote: the whole folder if `init` created it, else its files.
fn remove_partial_home(home: &Home, created_root: bool) {
    if created_root {
        let _ = std::fs::remove_dir_all(home.root());
        return;
    }
    for path in [
        home.config_path(),
        home.kek_path(),
        home.signing_key_path(),
        home.credentials_path(),
        home.database_path(),
    ] {
        let _ = std::fs::remove_file(path);
    }
    for suffix in ["-wal", "-shm"] {
        let mut path = home.database_path().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir(home.root().join("keys"));
}

/// A database URL without its password, for printing.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("sqlite:///x/citadel.db"),
            "sqlite:///x/citadel.db"
        );
    }
}
