//! Content addressing: the same content is stored once and every put returns the published object's
//! reference; content already stored under a KEK this store cannot use gets its own location.

use std::sync::Arc;

use citadel_blob::Kek;

use crate::support::{data, on_every_backend, Fixture};

async fn same_content_is_stored_once(fixture: &Fixture) {
    let plain = data(300_000, 11);
    let first = fixture.store.put_bytes(plain.clone()).await.unwrap();
    let second = fixture.store.put_bytes(plain.clone()).await.unwrap();
    assert_eq!(
        first, second,
        "the second put returns the published object's reference"
    );
    let blobs = fixture.raw_list("blobs").await;
    assert_eq!(
        blobs,
        vec![first.location.clone(), format!("{}.ref", first.location)]
    );
    assert!(fixture.raw_list("staging").await.is_empty());
    assert_eq!(fixture.store.read_to_vec(&second).await.unwrap(), plain);
}

async fn concurrent_puts_of_same_content_agree(fixture: &Fixture) {
    let plain = data(1_000_000, 12);
    let (a, b) = tokio::join!(
        fixture.store.put_bytes(plain.clone()),
        fixture.store.put_bytes(plain.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "both puts return the one published object");
    assert_eq!(fixture.store.read_to_vec(&a).await.unwrap(), plain);
}

async fn content_under_another_kek_gets_its_own_location(fixture: &Fixture) {
    let plain = data(70_000, 13);
    let first = fixture.store.put_bytes(plain.clone()).await.unwrap();
    let other = fixture
        .reopen_with(Arc::new(Kek::generate().unwrap()))
        .await;
    let second = other.put_bytes(plain.clone()).await.unwrap();
    assert_eq!(second.digest, first.digest);
    assert_eq!(
        second.location,
        format!("{}-{}", first.location, second.artifact_id)
    );
    assert_eq!(other.read_to_vec(&second).await.unwrap(), plain);
    assert_eq!(fixture.store.read_to_vec(&first).await.unwrap(), plain);
}

on_every_backend!(
    same_content_is_stored_once,
    concurrent_puts_of_same_content_agree,
    content_under_another_kek_gets_its_own_location,
);
