//! Principals, nested group membership closure and cycle refusal.

use citadel_core::PrincipalKind;
use citadel_store::StoreError;

use crate::harness::{event, TestDb};
use crate::store_test;

store_test!(principals_are_created_listed_and_disabled);
async fn principals_are_created_listed_and_disabled(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let alice = tx
        .create_principal(PrincipalKind::User, "alice", None)
        .await
        .unwrap();
    let bot = tx
        .create_principal(PrincipalKind::ServicePrincipal, "bot", Some(alice.id))
        .await
        .unwrap();
    tx.create_principal(PrincipalKind::Group, "admins", Some(alice.id))
        .await
        .unwrap();
    tx.commit(event("principal.create")).await.unwrap();

    let mut tx = store.begin_write().await.unwrap();
    let err = tx
        .create_principal(PrincipalKind::Group, "alice", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "principal",
                ..
            }
        ),
        "{err}"
    );
    drop(tx);

    assert_eq!(
        store.principal_by_name("alice").await.unwrap().unwrap(),
        alice
    );
    assert_eq!(
        store.principal(bot.id).await.unwrap().unwrap().kind,
        PrincipalKind::ServicePrincipal
    );
    let names: Vec<String> = store
        .list_principals(None)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["admins", "alice", "bot"]);
    let groups = store
        .list_principals(Some(PrincipalKind::Group))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);

    let mut tx = store.begin_write().await.unwrap();
    assert!(tx.set_principal_disabled(alice.id, true).await.unwrap());
    tx.commit(event("principal.disable")).await.unwrap();
    assert!(store.principal(alice.id).await.unwrap().unwrap().disabled);
}

store_test!(nested_groups_close_transitively_and_cycles_are_refused);
async fn nested_groups_close_transitively_and_cycles_are_refused(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let alice = tx
        .create_principal(PrincipalKind::User, "alice", None)
        .await
        .unwrap();
    let team = tx
        .create_principal(PrincipalKind::Group, "team", None)
        .await
        .unwrap();
    let dept = tx
        .create_principal(PrincipalKind::Group, "dept", None)
        .await
        .unwrap();
    let org = tx
        .create_principal(PrincipalKind::Group, "org", None)
        .await
        .unwrap();
    let other = tx
        .create_principal(PrincipalKind::Group, "other", None)
        .await
        .unwrap();
    assert!(tx.add_group_member(team.id, alice.id, None).await.unwrap());
    assert!(!tx.add_group_member(team.id, alice.id, None).await.unwrap());
    assert!(tx.add_group_member(dept.id, team.id, None).await.unwrap());
    assert!(tx.add_group_member(org.id, dept.id, None).await.unwrap());
    assert!(tx.add_group_member(other.id, alice.id, None).await.unwrap());
    tx.commit(event("group.add_member")).await.unwrap();

    let mut closure = store.groups_of(alice.id).await.unwrap();
    closure.sort();
    let mut expected = vec![team.id, dept.id, org.id, other.id];
    expected.sort();
    assert_eq!(closure, expected);
    assert_eq!(store.groups_of(org.id).await.unwrap(), vec![]);
    let members: Vec<String> = store
        .group_members(team.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(members, ["alice"]);

    let mut tx = store.begin_write().await.unwrap();
    let err = tx
        .add_group_member(team.id, org.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MembershipCycle { .. }), "{err}");
    let err = tx
        .add_group_member(team.id, team.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MembershipCycle { .. }), "{err}");
    let err = tx
        .add_group_member(alice.id, team.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotAGroup { .. }), "{err}");
    let err = tx
        .add_group_member(team.id, citadel_core::PrincipalId::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(tx.remove_group_member(dept.id, team.id).await.unwrap());
    assert!(!tx.remove_group_member(dept.id, team.id).await.unwrap());
    // With team no longer in dept, team may now contain org.
    assert!(tx.add_group_member(team.id, org.id, None).await.unwrap());
    tx.commit(event("group.remove_member")).await.unwrap();
    let mut closure = store.groups_of(alice.id).await.unwrap();
    closure.sort();
    let mut expected = vec![team.id, other.id];
    expected.sort();
    assert_eq!(closure, expected);
    let mut closure = store.groups_of(dept.id).await.unwrap();
    closure.sort();
    let mut expected = vec![org.id, team.id];
    expected.sort();
    assert_eq!(closure, expected);
}
