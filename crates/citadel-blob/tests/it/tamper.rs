//! Tampering with a stored artifact is detected on read, with the check that failed named, and
//! `read_to_path` leaves nothing at its destination.

use citadel_blob::{ArtifactRef, IntegrityFailure};

use crate::support::{data, integrity, on_every_backend, Fixture, CHUNK, FRAME, HEADER};

/// A four-chunk artifact (the last one partial).
async fn four_chunks(fixture: &Fixture) -> ArtifactRef {
    fixture
        .store
        .put_bytes(data(3 * CHUNK + 1000, 7))
        .await
        .unwrap()
}

/// Reads `reference` every way; all must fail with the same integrity failure, leaving no file.
async fn assert_detected(fixture: &Fixture, reference: &ArtifactRef) -> IntegrityFailure {
    let failure = integrity(fixture.store.read_to_vec(reference).await);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("artifact.bin");
    let again = integrity(fixture.store.read_to_path(reference, &dest).await);
    assert_eq!(again, failure);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "read_to_path left a file behind"
    );
    failure
}

async fn flipped_header_byte(fixture: &Fixture) {
    let reference = four_chunks(fixture).await;
    fixture.store.check_sealed(&reference).await.unwrap();
    for position in [0, 9, 13, 20, 40] {
        fixture.tamper(&reference, |b| b[position] ^= 0x01).await;
        let failure = assert_detected(fixture, &reference).await;
        assert!(
            matches!(failure, IntegrityFailure::HeaderInvalid(_)),
            "{failure}"
        );
        assert_eq!(
            integrity(fixture.store.check_sealed(&reference).await),
            failure
        );
        fixture.tamper(&reference, |b| b[position] ^= 0x01).await;
    }
    fixture.store.read_to_vec(&reference).await.unwrap();
    fixture.store.check_sealed(&reference).await.unwrap();
}

async fn flipped_chunk_or_tag_byte(fixture: &Fixture) {
    let reference = four_chunks(fixture).await;
    for (position, index) in [
        (HEADER + 5, 0),
        (HEADER + FRAME + CHUNK, 1), // first byte of chunk 1's tag
        (HEADER + 2 * FRAME - 1, 1), // last byte of chunk 1's tag
        (HEADER + 3 * FRAME + 3, 3), // inside the final, partial chunk
    ] {
        fixture.tamper(&reference, |b| b[position] ^= 0x80).await;
        let failure = assert_detected(fixture, &reference).await;
        assert_eq!(failure, IntegrityFailure::ChunkAuthentication { index });
        fixture.tamper(&reference, |b| b[position] ^= 0x80).await;
    }
}

async fn dropped_reordered_duplicated_chunks(fixture: &Fixture) {
    let reference = four_chunks(fixture).await;
    let original = fixture.raw_get(&reference.location).await;
    let frame = |i: usize| HEADER + i * FRAME..HEADER + (i + 1) * FRAME;

    fixture
        .tamper(&reference, |b| drop(b.drain(frame(1))))
        .await;
    let failure = assert_detected(fixture, &reference).await;
    assert_eq!(failure, IntegrityFailure::ChunkAuthentication { index: 1 });

    fixture.raw_put(&reference.location, original.clone()).await;
    fixture
        .tamper(&reference, |b| {
            let chunk0 = b[frame(0)].to_vec();
            let chunk1 = b[frame(1)].to_vec();
            b[frame(0)].copy_from_slice(&chunk1);
            b[frame(1)].copy_from_slice(&chunk0);
        })
        .await;
    let failure = assert_detected(fixture, &reference).await;
    assert_eq!(failure, IntegrityFailure::ChunkAuthentication { index: 0 });

    fixture.raw_put(&reference.location, original.clone()).await;
    fixture
        .tamper(&reference, |b| {
            let chunk1 = b[frame(1)].to_vec();
            let at = frame(2).start;
            b.splice(at..at, chunk1);
        })
        .await;
    let failure = assert_detected(fixture, &reference).await;
    assert_eq!(failure, IntegrityFailure::ChunkAuthentication { index: 2 });
}

async fn truncated_or_extended(fixture: &Fixture) {
    let reference = four_chunks(fixture).await;
    let original = fixture.raw_get(&reference.location).await;
    let full = original.len() as u64;
    for keep in [
        0,
        HEADER - 1,
        HEADER,
        HEADER + 2 * FRAME,
        HEADER + 2 * FRAME + 100,
        original.len() - 1,
    ] {
        fixture
            .raw_put(&reference.location, original[..keep].to_vec())
            .await;
        let failure = assert_detected(fixture, &reference).await;
        assert_eq!(
            failure,
            IntegrityFailure::Truncated {
                got: keep as u64,
                expected: full
            },
            "kept {keep} bytes"
        );
    }
    let mut extended = original.clone();
    extended.extend_from_slice(b"garbage");
    fixture.raw_put(&reference.location, extended).await;
    assert_eq!(
        assert_detected(fixture, &reference).await,
        IntegrityFailure::TrailingData
    );
}

async fn digest_mismatch(fixture: &Fixture) {
    let reference = four_chunks(fixture).await;
    // An authentic object presented under another content address: every chunk opens, the digest fails.
    let other = fixture.store.put_bytes(data(10, 8)).await.unwrap();
    fixture.store.delete(&other).await.unwrap();
    let moved = ArtifactRef {
        digest: other.digest.clone(),
        location: other.location.clone(),
        ..reference.clone()
    };
    let stored = fixture.raw_get(&reference.location).await;
    fixture.raw_put(&moved.location, stored).await;
    let failure = assert_detected(fixture, &moved).await;
    assert!(
        matches!(failure, IntegrityFailure::DigestMismatch { .. }),
        "{failure}"
    );
    // The reader yields the data, then fails at the end instead of ending cleanly.
    let mut reader = fixture.store.open_reader(&moved).await.unwrap();
    let mut sink = Vec::new();
    let error = tokio::io::copy(&mut reader, &mut sink).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("digest mismatch"), "{error}");
}

async fn wrong_size_in_reference(fixture: &Fixture) {
    let reference = four_chunks(fixture).await;
    let shorter = ArtifactRef {
        size: 3 * CHUNK as u64,
        ..reference.clone()
    };
    let failure = assert_detected(fixture, &shorter).await;
    assert_eq!(failure, IntegrityFailure::ChunkAuthentication { index: 2 });
}

on_every_backend!(
    flipped_header_byte,
    flipped_chunk_or_tag_byte,
    dropped_reordered_duplicated_chunks,
    truncated_or_extended,
    digest_mismatch,
    wrong_size_in_reference,
);
