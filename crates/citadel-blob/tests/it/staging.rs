//! Staging leftovers of crashed writes are removed when a store opens; live writes are left alone.

use citadel_blob::BlobStore;

use crate::support::{data, on_every_backend, Fixture};

async fn leftovers_are_removed_on_open(fixture: &Fixture) {
    fixture
        .raw_put("staging/0123456789abcdef0123456789abcdef", data(1000, 1))
        .await;
    fixture
        .raw_put("staging/fedcba9876543210fedcba9876543210", Vec::new())
        .await;
    assert_eq!(fixture.raw_list("staging").await.len(), 2);
    let reopened = BlobStore::open(&fixture.config, fixture.kek.clone())
        .await
        .unwrap();
    assert!(fixture.raw_list("staging").await.is_empty());
    assert_eq!(reopened.cleanup_staging().await.unwrap(), 0);
    assert!(
        fixture.raw_list("blobs").await.is_empty(),
        "nothing was published"
    );
}

on_every_backend!(leftovers_are_removed_on_open);

/// A staging file whose writer is alive (holds its lock) survives cleanup; once released it goes.
#[tokio::test]
async fn locked_staging_file_survives_cleanup() {
    let fixture = Fixture::local().await;
    let root = fixture.dir.as_ref().unwrap().path().join("blobs");
    let path = root.join("staging/00000000000000000000000000000001");
    let file = std::fs::File::create(&path).unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
    assert_eq!(fixture.store.cleanup_staging().await.unwrap(), 0);
    assert!(path.exists());
    drop(file);
    assert_eq!(fixture.store.cleanup_staging().await.unwrap(), 1);
    assert!(!path.exists());
}
