//! A writer killed with SIGKILL in the middle of a put leaves no visible artifact, and its staging file
//! is removed by the next open. The child is this test binary, re-run with an environment variable.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use citadel_blob::{BlobConfig, BlobStore, Kek};

const CHILD_ENV: &str = "CITADEL_BLOB_CRASH_CHILD_ROOT";

/// An endless, slow-enough plaintext source.
struct Endless;

impl tokio::io::AsyncRead for Endless {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = buf.remaining().min(64 * 1024);
        buf.put_slice(&vec![0x5a; n]);
        std::task::Poll::Ready(Ok(()))
    }
}

/// The child: puts an endless artifact until killed. Does nothing unless run by `killed_writer`.
#[tokio::test]
async fn crash_child() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = BlobStore::open(&BlobConfig::local(root), Arc::new(Kek::generate().unwrap()))
        .await
        .unwrap();
    let _ = store.put_reader(Endless).await;
}

#[tokio::test]
async fn killed_writer_leaves_no_artifact_and_staging_is_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::crash_child", "--nocapture"])
        .env(CHILD_ENV, &root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging = root.join("staging");
    let started = Instant::now();
    let staged_bytes = || -> u64 {
        std::fs::read_dir(&staging)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    while staged_bytes() < 32 * 1024 * 1024 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "child never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert!(staged_bytes() > 0, "the killed write left its staging file");
    assert!(!root.join("blobs").exists(), "nothing was published");
    let store = BlobStore::open(
        &BlobConfig::local(&root),
        Arc::new(Kek::generate().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    assert_eq!(store.cleanup_staging().await.unwrap(), 0);
}
