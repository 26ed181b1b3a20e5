//! Artifacts through the binary: round trip, tampering detected on read, and a SIGKILL in the
//! middle of a large write leaving no row and no leftovers after the next start.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::harness::*;

fn put(home: &TestHome, file: &Path) -> String {
    let out = home.admin_ok(&["artifact", "put", file.to_str().unwrap(), "--json"]);
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    info["digest"].as_str().unwrap().to_owned()
}

fn stored_blob(home: &TestHome) -> PathBuf {
    let blobs: Vec<_> = files_under(&home.path("artifacts"))
        .into_iter()
        .filter(|p| {
            !p.to_string_lossy().contains("staging") && !p.to_string_lossy().ends_with(".ref")
        })
        .collect();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    blobs[0].clone()
}

fn sample_file(dir: &Path, len: usize) -> PathBuf {
    let path = dir.join("sample.bin");
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn round_trip_and_plaintext_never_on_disk() {
    let home = TestHome::init();
    let scratch = tempfile::tempdir().unwrap();
    let file = sample_file(scratch.path(), 300_000);
    let digest = put(&home, &file);
    assert!(digest.starts_with("sha256:"));
    let blob = std::fs::read(stored_blob(&home)).unwrap();
    let original = std::fs::read(&file).unwrap();
    assert!(
        !blob.windows(64).any(|w| w == &original[1000..1064]),
        "plaintext visible at rest"
    );

    let out = scratch.path().join("out.bin");
    home.admin_ok(&["artifact", "get", &digest, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), original);
    let listed = home.admin_ok(&["artifact", "list"]);
    assert!(listed.contains(&digest));
    assert_eq!(home.audit_events(&["--action", "artifact.read"]).len(), 1);
}

fn assert_tamper_detected(tamper: impl Fn(&Path)) {
    let home = TestHome::init();
    let scratch = tempfile::tempdir().unwrap();
    let digest = put(&home, &sample_file(scratch.path(), 200_000));
    tamper(&stored_blob(&home));
    let out = scratch.path().join("out.bin");
    let err = run_fails(
        home.admin()
            .args(["artifact", "get", &digest, "--out", out.to_str().unwrap()]),
        EXIT_INTEGRITY,
    );
    assert!(err.to_lowercase().contains("integrity"), "{err}");
    assert!(!out.exists(), "unverified bytes reached the destination");
    let failed = home.audit_events(&["--action", "artifact.read", "--outcome", "failed"]);
    assert_eq!(failed.len(), 1);
}

#[test]
fn a_flipped_byte_is_detected() {
    assert_tamper_detected(|blob| {
        let mut bytes = std::fs::read(blob).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(blob, bytes).unwrap();
    });
}

#[test]
fn a_truncated_artifact_is_detected() {
    assert_tamper_detected(|blob| {
        let len = std::fs::metadata(blob).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(blob)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
    });
}

#[test]
fn a_dropped_chunk_is_detected() {
    assert_tamper_detected(|blob| {
        // Chunks are 64 KiB of ciphertext plus a tag after a small header: cut one out of the
        // middle by moving the tail over it.
        let bytes = std::fs::read(blob).unwrap();
        let chunk = 64 * 1024 + 16;
        let start = bytes.len() - 2 * chunk;
        let mut tampered = bytes[..start].to_vec();
        tampered.extend_from_slice(&bytes[start + chunk..]);
        std::fs::write(blob, tampered).unwrap();
    });
}

#[test]
fn sigkill_mid_write_leaves_no_row_and_no_leftovers() {
    let home = TestHome::init();
    let scratch = tempfile::tempdir().unwrap();
    // A sparse 4 GiB file: cheap to create, seconds to encrypt.
    let big = scratch.path().join("big.bin");
    let mut file = std::fs::File::create(&big).unwrap();
    file.seek(SeekFrom::Start(4 << 30)).unwrap();
    file.write_all(b"end").unwrap();
    drop(file);

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("citadel"))
        .arg("--home")
        .arg(&home.root)
        .args(["artifact", "put"])
        .arg(&big)
        .env_remove("CITADEL_TOKEN")
        .spawn()
        .unwrap();
    let staging = home.path("artifacts/staging");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged: u64 = files_under(&staging)
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if staged > 64 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the write never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the write finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !files_under(&staging).is_empty(),
        "the kill should leave a staged object behind"
    );

    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["artifact", "list", "--json"])).unwrap();
    assert!(
        listed.is_empty(),
        "a row without complete bytes: {listed:?}"
    );
    assert!(
        files_under(&staging).is_empty(),
        "staging leftovers survived the next start"
    );
    let published: Vec<_> = files_under(&home.path("artifacts"));
    assert!(
        published.is_empty(),
        "half-written artifact published: {published:?}"
    );
}
