//! Key handling: a store with another KEK cannot read, wrapped keys are bound to their artifact, and
//! rotation re-wraps without rewriting the artifact.

use std::sync::Arc;

use citadel_blob::{ArtifactRef, Error, Kek, KeyRing};

use crate::support::{data, on_every_backend, Fixture};

async fn wrong_kek_cannot_read(fixture: &Fixture) {
    let reference = fixture.store.put_bytes(data(5000, 1)).await.unwrap();
    let other_kek = Arc::new(Kek::generate().unwrap());
    let other = fixture.reopen_with(other_kek.clone()).await;
    assert!(matches!(
        other.read_to_vec(&reference).await,
        Err(Error::KekMismatch { .. })
    ));
    // Claiming the other KEK's id does not help: the wrapped key does not open under it.
    let forged = ArtifactRef {
        kek_id: other_kek.id().to_string(),
        ..reference.clone()
    };
    assert!(matches!(
        other.read_to_vec(&forged).await,
        Err(Error::Unwrap)
    ));
}

async fn wrapped_key_is_bound_to_its_artifact(fixture: &Fixture) {
    let first = fixture.store.put_bytes(data(5000, 2)).await.unwrap();
    let second = fixture.store.put_bytes(data(5000, 3)).await.unwrap();
    let swapped = ArtifactRef {
        wrapped_key: second.wrapped_key.clone(),
        ..first.clone()
    };
    assert!(matches!(
        fixture.store.read_to_vec(&swapped).await,
        Err(Error::Unwrap)
    ));
}

async fn rewrap_rotates_without_rewriting(fixture: &Fixture) {
    let plain = data(200_000, 4);
    let reference = fixture.store.put_bytes(plain.clone()).await.unwrap();
    let stored_before = fixture.raw_get(&reference.location).await;
    let new_kek = Arc::new(Kek::generate().unwrap());
    let rotated = fixture.store.rewrap(&reference, &new_kek).await.unwrap();
    assert_eq!(rotated.kek_id, new_kek.id());
    assert_ne!(rotated.wrapped_key, reference.wrapped_key);
    assert_eq!(fixture.raw_get(&reference.location).await, stored_before);

    let new_store = fixture.reopen_with(new_kek.clone()).await;
    assert_eq!(new_store.read_to_vec(&rotated).await.unwrap(), plain);
    assert!(matches!(
        fixture.store.read_to_vec(&rotated).await,
        Err(Error::KekMismatch { .. })
    ));
    assert!(matches!(
        new_store.read_to_vec(&reference).await,
        Err(Error::KekMismatch { .. })
    ));
    // Rewrapping with the wrong old key fails without touching anything.
    assert!(rotated
        .rewrapped(&KeyRing::new(fixture.kek.clone()), &new_kek)
        .is_err());
    // A ring holding both keys reads either reference: the state in the middle of a rotation.
    let both = fixture
        .reopen_with_ring(KeyRing::new(new_kek.clone()).with_other(fixture.kek.clone()))
        .await;
    assert_eq!(both.read_to_vec(&reference).await.unwrap(), plain);
    assert_eq!(both.read_to_vec(&rotated).await.unwrap(), plain);
    // The store under the new KEK deduplicates against the rotated record.
    let again = new_store.put_bytes(plain).await.unwrap();
    assert_eq!(again, rotated);
}

async fn invalid_references_are_rejected(fixture: &Fixture) {
    let reference = fixture.store.put_bytes(data(10, 5)).await.unwrap();
    let bad = [
        ArtifactRef {
            location: "../../etc/passwd".into(),
            ..reference.clone()
        },
        ArtifactRef {
            location: "staging/x".into(),
            ..reference.clone()
        },
        ArtifactRef {
            digest: "md5:00".into(),
            ..reference.clone()
        },
        ArtifactRef {
            format_version: 99,
            ..reference.clone()
        },
        ArtifactRef {
            chunk_size: 0,
            ..reference.clone()
        },
        ArtifactRef {
            artifact_id: "zz".into(),
            ..reference.clone()
        },
    ];
    for bad in bad {
        assert!(
            matches!(
                fixture.store.read_to_vec(&bad).await,
                Err(Error::InvalidRef(_))
            ),
            "{bad:?} accepted"
        );
    }
}

on_every_backend!(
    wrong_kek_cannot_read,
    wrapped_key_is_bound_to_its_artifact,
    rewrap_rotates_without_rewriting,
    invalid_references_are_rejected,
);
