//! The securable tree (bootstrap layout), chains with owners, grants and the policy facts, fed
//! into `citadel_core::decide`.

use citadel_core::{
    decide, Effect, PrincipalId, PrincipalKind, Privilege, SecurableKind, Subject, TokenScope,
};
use citadel_store::{NewSecurable, Securable, StoreError, WriteTx, METASTORE_FULL_NAME};

use crate::harness::{event, TestDb};
use crate::store_test;

async fn create(
    tx: &mut WriteTx,
    kind: SecurableKind,
    parent: &Securable,
    name: &str,
    owner: Option<PrincipalId>,
) -> Securable {
    tx.create_securable(&NewSecurable {
        kind,
        parent_id: Some(parent.id),
        name: name.into(),
        owner_id: owner,
        created_by: owner,
        comment: None,
    })
    .await
    .unwrap()
}

store_test!(bootstrap_tree_and_chains);
async fn bootstrap_tree_and_chains(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let admin = tx
        .create_principal(PrincipalKind::User, "admin", None)
        .await
        .unwrap();
    let root = tx
        .create_securable(&NewSecurable {
            kind: SecurableKind::Metastore,
            parent_id: None,
            name: "metastore".into(),
            owner_id: Some(admin.id),
            created_by: None,
            comment: Some("root".into()),
        })
        .await
        .unwrap();
    for catalog in ["dev", "staging", "prod"] {
        let c = create(
            &mut tx,
            SecurableKind::Catalog,
            &root,
            catalog,
            Some(admin.id),
        )
        .await;
        for schema in ["data", "models", "endpoints"] {
            create(&mut tx, SecurableKind::Schema, &c, schema, Some(admin.id)).await;
        }
    }
    tx.commit(event("system.init")).await.unwrap();

    assert_eq!(store.metastore().await.unwrap().unwrap(), root);
    assert_eq!(root.full_name, METASTORE_FULL_NAME);
    assert_eq!(root.audit_name(), "metastore:metastore");
    let catalogs: Vec<String> = store
        .list_securables(root.id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.full_name)
        .collect();
    assert_eq!(catalogs, ["dev", "prod", "staging"]);
    let dev = store.securable_by_name("dev").await.unwrap().unwrap();
    let schemas: Vec<String> = store
        .list_securables(dev.id, Some(SecurableKind::Schema))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.full_name)
        .collect();
    assert_eq!(schemas, ["dev.data", "dev.endpoints", "dev.models"]);

    let mut tx = store.begin_write().await.unwrap();
    let models = tx.securable_by_name("dev.models").await.unwrap().unwrap();
    let bot = create(&mut tx, SecurableKind::Model, &models, "bot", None).await;
    assert_eq!(bot.full_name, "dev.models.bot");
    assert_eq!(bot.audit_name(), "model:dev.models.bot");
    let err = tx
        .create_securable(&NewSecurable {
            kind: SecurableKind::Model,
            parent_id: Some(dev.id),
            name: "x".into(),
            owner_id: None,
            created_by: None,
            comment: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidHierarchy {
                kind: "model",
                parent: "catalog"
            }
        ),
        "{err}"
    );
    let err = tx
        .create_securable(&NewSecurable {
            kind: SecurableKind::Dataset,
            parent_id: Some(models.id),
            name: "bot".into(),
            owner_id: None,
            created_by: None,
            comment: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    drop(tx);
    assert!(store
        .securable_by_name("dev.models.bot")
        .await
        .unwrap()
        .is_none());

    let chain: Vec<String> = store
        .securable_chain("dev.models")
        .await
        .unwrap()
        .unwrap()
        .iter()
        .map(|s| s.display_name().to_owned())
        .collect();
    assert_eq!(chain, ["metastore", "dev", "dev.models"]);
    assert!(store.securable_chain("dev.nope").await.unwrap().is_none());
}

store_test!(grants_feed_the_policy);
async fn grants_feed_the_policy(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let admin = tx
        .create_principal(PrincipalKind::User, "admin", None)
        .await
        .unwrap();
    let alice = tx
        .create_principal(PrincipalKind::User, "alice", None)
        .await
        .unwrap();
    let team = tx
        .create_principal(PrincipalKind::Group, "team", None)
        .await
        .unwrap();
    tx.add_group_member(team.id, alice.id, None).await.unwrap();
    let root = tx
        .create_securable(&NewSecurable {
            kind: SecurableKind::Metastore,
            parent_id: None,
            name: "metastore".into(),
            owner_id: Some(admin.id),
            created_by: None,
            comment: None,
        })
        .await
        .unwrap();
    let dev = create(
        &mut tx,
        SecurableKind::Catalog,
        &root,
        "dev",
        Some(admin.id),
    )
    .await;
    let models = create(
        &mut tx,
        SecurableKind::Schema,
        &dev,
        "models",
        Some(admin.id),
    )
    .await;
    let bot = create(
        &mut tx,
        SecurableKind::Model,
        &models,
        "bot",
        Some(admin.id),
    )
    .await;
    assert!(tx
        .grant(
            dev.id,
            team.id,
            Privilege::UseCatalog,
            Effect::Allow,
            Some(admin.id)
        )
        .await
        .unwrap());
    assert!(!tx
        .grant(
            dev.id,
            team.id,
            Privilege::UseCatalog,
            Effect::Allow,
            Some(admin.id)
        )
        .await
        .unwrap());
    assert!(tx
        .grant(
            models.id,
            team.id,
            Privilege::UseSchema,
            Effect::Allow,
            Some(admin.id)
        )
        .await
        .unwrap());
    assert!(tx
        .grant(
            models.id,
            alice.id,
            Privilege::Select,
            Effect::Allow,
            Some(admin.id)
        )
        .await
        .unwrap());
    assert!(tx
        .grant(
            bot.id,
            admin.id,
            Privilege::Select,
            Effect::Deny,
            Some(admin.id)
        )
        .await
        .unwrap());
    tx.commit(event("grant.create")).await.unwrap();

    let grants = store.grants_on(models.id).await.unwrap();
    assert_eq!(grants.len(), 2);
    assert_eq!(
        grants.iter().filter(|g| g.principal_id == alice.id).count(),
        1
    );
    assert_eq!(grants[0].granted_by, Some(admin.id));

    let mut principals = vec![alice.id];
    principals.extend(store.groups_of(alice.id).await.unwrap());
    let subject = Subject {
        principal: alice.id,
        groups: principals[1..].to_vec(),
        scope: TokenScope::Control,
    };
    let chain = store
        .policy_chain("dev.models.bot", &principals)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chain.len(), 4);
    assert_eq!(chain[3].name, "dev.models.bot");
    assert_eq!(chain[3].owner, Some(admin.id));
    assert!(
        chain[3].grants.is_empty(),
        "admin's DENY is not alice's business"
    );
    assert_eq!(chain[1].grants.len(), 1);
    assert!(decide(&subject, Privilege::Select, Some(&chain)).is_allowed());
    assert!(!decide(&subject, Privilege::Modify, Some(&chain)).is_allowed());
    assert!(store
        .policy_chain("dev.models.none", &principals)
        .await
        .unwrap()
        .is_none());

    let mut tx = store.begin_write().await.unwrap();
    assert!(tx
        .revoke(models.id, alice.id, Privilege::Select, Effect::Allow)
        .await
        .unwrap());
    assert!(!tx
        .revoke(models.id, alice.id, Privilege::Select, Effect::Allow)
        .await
        .unwrap());
    tx.commit(event("grant.revoke")).await.unwrap();
    let chain = store
        .policy_chain("dev.models.bot", &principals)
        .await
        .unwrap()
        .unwrap();
    assert!(!decide(&subject, Privilege::Select, Some(&chain)).is_allowed());

    let mut tx = store.begin_write().await.unwrap();
    assert!(tx.set_securable_owner(bot.id, alice.id).await.unwrap());
    tx.commit(event("securable.set_owner")).await.unwrap();
    let chain = store
        .policy_chain("dev.models.bot", &principals)
        .await
        .unwrap()
        .unwrap();
    assert!(decide(&subject, Privilege::Select, Some(&chain)).is_allowed());
}
