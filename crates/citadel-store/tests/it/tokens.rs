//! Token storage: lookup by hash, last use, revocation, expiry, listing.

use citadel_core::{PrincipalKind, TokenScope};
use citadel_store::{NewToken, StoreError};
use time::{Duration, OffsetDateTime};

use crate::harness::{event, TestDb};
use crate::store_test;

store_test!(tokens_are_found_by_hash_touched_and_revoked);
async fn tokens_are_found_by_hash_touched_and_revoked(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let alice = tx
        .create_principal(PrincipalKind::User, "alice", None)
        .await
        .unwrap();
    let new = NewToken {
        principal_id: alice.id,
        name: "laptop".into(),
        token_hash: "a".repeat(64),
        scope: TokenScope::Control,
        expires_at: OffsetDateTime::now_utc() + Duration::days(90),
    };
    let token = tx.create_token(&new).await.unwrap();
    let serving = tx
        .create_token(&NewToken {
            name: "serving".into(),
            token_hash: "b".repeat(64),
            scope: TokenScope::Invoke,
            ..new.clone()
        })
        .await
        .unwrap();
    tx.commit(event("token.create")).await.unwrap();
    assert!(!format!("{new:?}").contains(&"a".repeat(64)));

    let found = store.token_by_hash(&"a".repeat(64)).await.unwrap().unwrap();
    assert_eq!(found, token);
    assert_eq!(found.principal_id, alice.id);
    assert!(found.is_active(OffsetDateTime::now_utc()));
    assert!(!found.is_active(OffsetDateTime::now_utc() + Duration::days(91)));
    assert!(found.last_used_at.is_none());
    assert!(store
        .token_by_hash(&"c".repeat(64))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.token(serving.id).await.unwrap().unwrap().scope,
        TokenScope::Invoke
    );

    let mut tx = store.begin_write().await.unwrap();
    tx.touch_token(token.id).await.unwrap();
    tx.commit(event("auth.authenticate")).await.unwrap();
    assert!(store
        .token(token.id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .is_some());

    let mut tx = store.begin_write().await.unwrap();
    assert!(tx.revoke_token(token.id).await.unwrap());
    assert!(!tx.revoke_token(token.id).await.unwrap());
    tx.commit(event("token.revoke")).await.unwrap();
    let revoked = store.token_by_hash(&"a".repeat(64)).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(!revoked.is_active(OffsetDateTime::now_utc()));

    let listed: Vec<String> = store
        .list_tokens(Some(alice.id))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(listed, ["laptop", "serving"]);
    assert_eq!(store.list_tokens(None).await.unwrap().len(), 2);

    let mut tx = store.begin_write().await.unwrap();
    let err = tx.create_token(&new).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { what: "token", .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(&"a".repeat(64)));
}
