//! Round trips through every read API, at sizes around the chunk and batch boundaries.

use crate::support::{data, on_every_backend, Fixture, CHUNK};
use citadel_blob::ArtifactRef;
use futures::TryStreamExt as _;
use tokio::io::AsyncReadExt as _;

const SIZES: &[usize] = &[
    0,
    1,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    4 * 1024 * 1024,
    4 * 1024 * 1024 + 1,
    5 * 1024 * 1024 + 3,
];

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

async fn round_trip_sizes(fixture: &Fixture) {
    for (seed, &size) in SIZES.iter().enumerate() {
        let plain = data(size, seed as u64);
        let reference = fixture.store.put_bytes(plain.clone()).await.unwrap();
        assert_eq!(reference.size, size as u64);
        assert_eq!(reference.digest, sha256(&plain));
        assert_eq!(reference.kek_id, fixture.kek.id());
        assert!(fixture.store.exists(&reference).await.unwrap());
        assert_eq!(
            fixture.store.read_to_vec(&reference).await.unwrap(),
            plain,
            "size {size}"
        );

        let chunks: Vec<_> = fixture
            .store
            .open_reader(&reference)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.concat(), plain, "stream of size {size}");

        let mut via_read = Vec::new();
        let mut reader = fixture.store.open_reader(&reference).await.unwrap();
        reader.read_to_end(&mut via_read).await.unwrap();
        assert_eq!(via_read, plain, "AsyncRead of size {size}");
    }
}

async fn put_file_and_read_to_path(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("model.safetensors");
    let plain = data(3 * CHUNK + 17, 99);
    std::fs::write(&source, &plain).unwrap();
    let reference = fixture.store.put_file(&source).await.unwrap();
    let dest = dir.path().join("out.bin");
    fixture.store.read_to_path(&reference, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), plain);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary files left"
    );
}

async fn reference_serializes_and_delete_removes(fixture: &Fixture) {
    let reference = fixture.store.put_bytes(data(1000, 5)).await.unwrap();
    let json = serde_json::to_string(&reference).unwrap();
    let back: ArtifactRef = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reference);
    assert!(reference.location.starts_with("blobs/sha256/"));
    fixture.store.delete(&reference).await.unwrap();
    assert!(!fixture.store.exists(&reference).await.unwrap());
    assert!(matches!(
        fixture.store.read_to_vec(&reference).await,
        Err(citadel_blob::Error::NotFound { .. })
    ));
}

on_every_backend!(
    round_trip_sizes,
    put_file_and_read_to_path,
    reference_serializes_and_delete_removes
);

#[tokio::test]
async fn put_reader_expecting_publishes_only_the_promised_content() {
    let fixture = Fixture::local().await;
    let plain = data(3 * CHUNK + 5, 7);
    let expected = sha256(&plain);
    let reference = fixture
        .store
        .put_reader_expecting(std::io::Cursor::new(plain.clone()), &expected)
        .await
        .unwrap();
    assert_eq!(reference.digest, expected);
    assert_eq!(fixture.store.read_to_vec(&reference).await.unwrap(), plain);

    let other = data(3 * CHUNK + 5, 8);
    let before = fixture.raw_list("").await;
    let failure = crate::support::integrity(
        fixture
            .store
            .put_reader_expecting(std::io::Cursor::new(other.clone()), &expected)
            .await,
    );
    assert!(
        matches!(
            failure,
            citadel_blob::IntegrityFailure::DigestMismatch { .. }
        ),
        "{failure:?}"
    );
    // Nothing new was published, and nothing is left in staging.
    assert_eq!(fixture.raw_list("").await, before);
}
