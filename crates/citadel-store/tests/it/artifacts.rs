//! Artifact rows and the meta table.

use citadel_store::ArtifactRecord;
use time::OffsetDateTime;

use crate::harness::{event, TestDb};
use crate::store_test;

store_test!(artifacts_are_idempotent_and_rewrappable);
async fn artifacts_are_idempotent_and_rewrappable(db: &TestDb) {
    let store = &db.store;
    let record = ArtifactRecord {
        digest: "d".repeat(64),
        size: 5_000_000_000,
        artifact_id: "0123456789abcdef".into(),
        wrapped_key: vec![1, 2, 3, 0, 255],
        kek_id: "kek-1".into(),
        location: "artifacts/dd/dddd".into(),
        chunk_size: 65536,
        format_version: 1,
        created_at: OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap(),
        created_by: None,
    };
    let mut tx = store.begin_write().await.unwrap();
    assert!(tx.insert_artifact(&record).await.unwrap());
    assert!(!tx.insert_artifact(&record).await.unwrap());
    tx.set_meta("home_id", "abc").await.unwrap();
    tx.set_meta("home_id", "def").await.unwrap();
    tx.commit(event("artifact.write")).await.unwrap();
    assert_eq!(
        store.artifact(&record.digest).await.unwrap().unwrap(),
        record
    );
    assert!(!format!("{record:?}").contains("[1, 2, 3"));
    assert_eq!(store.meta("home_id").await.unwrap().as_deref(), Some("def"));
    assert_eq!(store.meta("nope").await.unwrap(), None);

    let mut tx = store.begin_write().await.unwrap();
    assert!(tx
        .rewrap_artifact_key(&record.digest, &[9, 9], "kek-2")
        .await
        .unwrap());
    tx.commit(event("artifact.rewrap")).await.unwrap();
    let rewrapped = store.artifact(&record.digest).await.unwrap().unwrap();
    assert_eq!(
        (rewrapped.wrapped_key, rewrapped.kek_id.as_str()),
        (vec![9, 9], "kek-2")
    );
    assert_eq!(store.list_artifacts().await.unwrap().len(), 1);
    assert!(store.artifact("e").await.unwrap().is_none());
}
