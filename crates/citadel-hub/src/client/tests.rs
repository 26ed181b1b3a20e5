//! The client against the loopback hub: pinning, verification, resumption, token scope, faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use tokio::io::AsyncReadExt;

use super::*;
use crate::loopback::{Fault, HubFile, LoopbackHub};
use crate::{git_blob_id, Sha256Hasher};

const LFS: &str = "model.safetensors";
const SMALL: &str = "config.json";
/// Not in LFS, large enough to cut, and with characters that need encoding.
const NESTED: &str = "tokenizer dir/vocab ü.txt";
const TOKEN: &str = "hf_loopbackSecretToken42";

fn pattern(len: usize, seed: u32) -> Bytes {
    Bytes::from(
        (0..len as u32)
            .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
            .collect::<Vec<_>>(),
    )
}

fn files() -> Vec<HubFile> {
    vec![
        HubFile {
            path: LFS.to_owned(),
            content: pattern(300_000, 1),
            lfs: true,
        },
        HubFile {
            path: SMALL.to_owned(),
            content: Bytes::from_static(b"{\"model_type\": \"llama\"}\n"),
            lfs: false,
        },
        HubFile {
            path: NESTED.to_owned(),
            content: pattern(120_000, 2),
            lfs: false,
        },
    ]
}

fn content(path: &str) -> Bytes {
    files()
        .into_iter()
        .find(|f| f.path == path)
        .unwrap()
        .content
}

fn repo() -> RepoRef {
    RepoRef::parse("hf://acme/tiny-llama").unwrap()
}

fn config(hub: &LoopbackHub) -> ClientConfig {
    ClientConfig {
        endpoint: hub.endpoint(),
        extra_root_pem: Some(hub.ca_pem().into_bytes()),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

async fn setup() -> (LoopbackHub, HubClient) {
    let hub = LoopbackHub::start("acme/tiny-llama", files())
        .await
        .unwrap();
    let client = HubClient::new(config(&hub)).unwrap();
    (hub, client)
}

/// Opens and reads a whole file, the way a consumer storing it would.
async fn fetch(client: &HubClient, snapshot: &Snapshot, path: &str) -> Result<(Vec<u8>, String)> {
    let file = snapshot.files.iter().find(|f| f.path == path).unwrap();
    let mut download = client.open(snapshot, file, None).await?;
    let mut bytes = Vec::new();
    download
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| HubError::from_io(e, download.url()))?;
    Ok((bytes, download.sha256().expect("a verified EOF")))
}

fn integrity_at(error: HubError) -> (String, String) {
    match error {
        HubError::Integrity { path, detail } => (path, detail),
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

/// What consumers rely on: a `Download` can be moved into a task and stored by `tokio::io`.
fn storable<T: tokio::io::AsyncRead + tokio::io::AsyncBufRead + Unpin + Send + 'static>() {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_pins_and_downloads_exact_verified_bytes() {
    storable::<Download>();
    let (hub, client) = setup().await;
    let snapshot = client.resolve(&repo()).await.unwrap();
    assert_eq!(snapshot.commit, hub.commit());
    assert_eq!(snapshot.repo, repo());
    let listed: Vec<_> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(listed, [LFS, SMALL, NESTED]);
    let lfs = &snapshot.files[0];
    assert_eq!(lfs.size, 300_000);
    assert_eq!(
        lfs.lfs_sha256,
        Some(Sha256Hasher::digest_hex(&content(LFS)))
    );
    let small = &snapshot.files[1];
    assert_eq!(small.blob_id, git_blob_id(&content(SMALL)));
    assert_eq!(small.lfs_sha256, None);

    for path in [LFS, SMALL, NESTED] {
        let (bytes, sha256) = fetch(&client, &snapshot, path).await.unwrap();
        assert_eq!(bytes, content(path), "{path}");
        assert_eq!(sha256, Sha256Hasher::digest_hex(&content(path)));
    }

    // Progress counts every byte once; `copy_buf` passes the received chunks on as they are.
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| {
        counter.fetch_add(n, Ordering::Relaxed);
    });
    let mut download = client.open(&snapshot, lfs, Some(progress)).await.unwrap();
    assert_eq!(download.sha256(), None);
    let mut stored = Vec::new();
    tokio::io::copy_buf(&mut download, &mut stored)
        .await
        .unwrap();
    assert_eq!(stored, content(LFS));
    assert_eq!(seen.load(Ordering::Relaxed), 300_000);
    assert_eq!(download.path(), LFS);
    assert_eq!(
        download.url(),
        format!(
            "{}/acme/tiny-llama/resolve/{}/model.safetensors",
            hub.endpoint(),
            hub.commit()
        )
    );
    assert_eq!(
        format!("{download:?}"),
        "Download { path: \"model.safetensors\", bytes: 300000 }"
    );

    let log = hub.requests();
    assert_eq!(
        log[0].path_and_query,
        "/api/models/acme/tiny-llama/revision/main?blobs=true"
    );
    // The nested path is encoded segment by segment and decoded back by the hub.
    let nested = format!(
        "/resolve/{}/tokenizer%20dir/vocab%20%C3%BC.txt",
        hub.commit()
    );
    assert!(log.iter().any(|r| r.path_and_query.ends_with(&nested)));
    // Without a token nothing carries an Authorization header.
    assert!(log.iter().all(|r| r.authorization.is_none()));
}

#[tokio::test]
async fn revisions_are_encoded_and_commits_pin() {
    let (hub, client) = setup().await;
    let at_commit = RepoRef::parse(&format!("hf://acme/tiny-llama@{}", hub.commit())).unwrap();
    assert_eq!(
        client.resolve(&at_commit).await.unwrap().commit,
        hub.commit()
    );

    let pr = RepoRef::parse("hf://acme/tiny-llama@refs/pr/1").unwrap();
    match client.resolve(&pr).await.unwrap_err() {
        HubError::Status { status, hint, .. } => {
            assert_eq!(status, 404);
            assert_eq!(
                hint,
                "; check the repository name, the revision and the file"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(hub.requests().iter().any(
        |r| r.path_and_query == "/api/models/acme/tiny-llama/revision/refs%2Fpr%2F1?blobs=true"
    ));

    let missing = RepoRef::parse("hf://acme/nothing").unwrap();
    assert!(matches!(
        client.resolve(&missing).await,
        Err(HubError::Status { status: 404, .. })
    ));
}

#[tokio::test]
async fn corrupted_bytes_end_the_stream_in_an_integrity_error() {
    let (hub, client) = setup().await;
    let snapshot = client.resolve(&repo()).await.unwrap();
    for (path, kind) in [(LFS, "sha256 is "), (NESTED, "git blob id is ")] {
        hub.set_fault(Fault::CorruptFile {
            path: path.to_owned(),
        });
        let (at, detail) = integrity_at(fetch(&client, &snapshot, path).await.unwrap_err());
        assert_eq!(at, path);
        assert!(
            detail.starts_with(kind) && detail.contains(", the hub promised "),
            "{detail}"
        );
    }
    // The other files are untouched by the fault.
    let (bytes, _) = fetch(&client, &snapshot, SMALL).await.unwrap();
    assert_eq!(bytes, content(SMALL));
}

#[tokio::test]
async fn another_commit_in_the_header_is_refused() {
    let (hub, client) = setup().await;
    let snapshot = client.resolve(&repo()).await.unwrap();
    hub.set_fault(Fault::WrongCommitHeader);
    for path in [LFS, SMALL] {
        let (at, detail) = integrity_at(fetch(&client, &snapshot, path).await.unwrap_err());
        assert_eq!(at, path);
        assert!(
            detail.starts_with("the hub served commit ")
                && detail.ends_with(&format!("not the pinned {}", hub.commit())),
            "{detail}"
        );
    }
    // The LFS redirect was refused before anything was asked of the CDN.
    assert!(hub.requests().iter().all(|r| r.server == "hub"));
}

#[tokio::test]
async fn private_repositories_need_the_token_and_it_never_leaves_the_hub() {
    let (hub, anonymous) = setup().await;
    hub.set_fault(Fault::RequireToken(TOKEN.to_owned()));
    match anonymous.resolve(&repo()).await.unwrap_err() {
        HubError::Status { status, hint, .. } => {
            assert_eq!(status, 401);
            assert_eq!(hint, "; the repository is private or gated: pass --token-secret SCOPE/KEY with a hub token that can read it");
        }
        other => panic!("{other:?}"),
    }

    let wrong_token = "hf_notTheRightOne";
    let wrong = HubClient::new(ClientConfig {
        token: Some(SecretString::from(wrong_token)),
        ..config(&hub)
    })
    .unwrap();
    let error = wrong.resolve(&repo()).await.unwrap_err();
    assert!(matches!(error, HubError::Status { status: 401, .. }));
    assert!(!format!("{error} {error:?}").contains(wrong_token));

    let before = hub.requests().len();
    let client = HubClient::new(ClientConfig {
        token: Some(SecretString::from(TOKEN)),
        ..config(&hub)
    })
    .unwrap();
    let snapshot = client.resolve(&repo()).await.unwrap();
    for path in [LFS, SMALL] {
        let (bytes, _) = fetch(&client, &snapshot, path).await.unwrap();
        assert_eq!(bytes, content(path));
    }
    let log = &hub.requests()[before..];
    let (hub_side, cdn_side): (Vec<_>, Vec<_>) = log.iter().partition(|r| r.server == "hub");
    assert_eq!(hub_side.len(), 3, "{log:?}");
    assert_eq!(cdn_side.len(), 1, "{log:?}");
    let bearer = format!("Bearer {TOKEN}");
    assert!(hub_side
        .iter()
        .all(|r| r.authorization.as_deref() == Some(bearer.as_str())));
    assert_eq!(cdn_side[0].authorization, None);
}

#[tokio::test]
async fn redirects_to_plain_http_are_refused() {
    let (hub, client) = setup().await;
    let snapshot = client.resolve(&repo()).await.unwrap();
    for path in [LFS, SMALL] {
        hub.set_fault(Fault::RedirectToHttp {
            path: path.to_owned(),
        });
        match fetch(&client, &snapshot, path).await.unwrap_err() {
            HubError::Redirect { to, reason, .. } => {
                assert_eq!(reason, "only https is allowed");
                assert!(to.starts_with("http://127.0.0.1:"), "{to}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(hub.requests().iter().all(|r| r.server == "hub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_connections_resume_from_the_first_missing_byte() {
    let (hub, client) = setup().await;
    let snapshot = client.resolve(&repo()).await.unwrap();
    for (path, server) in [(LFS, "cdn"), (NESTED, "hub")] {
        let before = hub.requests().len();
        hub.set_fault(Fault::CutConnection {
            path: path.to_owned(),
            after_bytes: 1000,
            times: 2,
        });
        let (bytes, sha256) = fetch(&client, &snapshot, path).await.unwrap();
        assert_eq!(bytes, content(path), "{path}");
        assert_eq!(sha256, Sha256Hasher::digest_hex(&content(path)));

        let log = &hub.requests()[before..];
        let served: Vec<_> = log
            .iter()
            .filter(|r| r.server == server)
            .map(|r| r.range.as_deref())
            .collect();
        assert_eq!(
            served,
            [None, Some("bytes=1000-"), Some("bytes=2000-")],
            "{path}"
        );
        // Each resumption went through the hub again, which re-stated the commit.
        let asked_hub = log
            .iter()
            .filter(|r| r.server == "hub" && r.range.is_some())
            .count();
        assert_eq!(asked_hub, 2, "{path}");
    }
}

#[tokio::test]
async fn a_connection_that_keeps_breaking_ends_in_a_clean_error() {
    let hub = LoopbackHub::start("acme/tiny-llama", files())
        .await
        .unwrap();
    let client = HubClient::new(ClientConfig {
        max_resume_attempts: 2,
        ..config(&hub)
    })
    .unwrap();
    let snapshot = client.resolve(&repo()).await.unwrap();
    hub.set_fault(Fault::CutConnection {
        path: LFS.to_owned(),
        after_bytes: 1000,
        times: 10,
    });
    match fetch(&client, &snapshot, LFS).await.unwrap_err() {
        HubError::Network { url, detail } => {
            assert!(url.ends_with("/model.safetensors"), "{url}");
            assert!(
                detail.contains("of 300000 and 2 resumptions did not finish the file"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    let cdn = hub.requests().iter().filter(|r| r.server == "cdn").count();
    assert_eq!(cdn, 3);
}

#[tokio::test]
async fn a_size_other_than_the_listed_one_is_refused() {
    let (hub, client) = setup().await;
    for path in [LFS, NESTED] {
        hub.set_fault(Fault::WrongSize {
            path: path.to_owned(),
        });
        let snapshot = client.resolve(&repo()).await.unwrap();
        let listed = snapshot.files.iter().find(|f| f.path == path).unwrap();
        assert_eq!(listed.size, content(path).len() as u64 + 1);
        let (at, detail) = integrity_at(fetch(&client, &snapshot, path).await.unwrap_err());
        assert_eq!(at, path);
        assert_eq!(
            detail,
            format!(
                "the hub serves {} bytes, it listed {}",
                listed.size - 1,
                listed.size
            )
        );
    }
}

#[tokio::test]
async fn only_https_endpoints_and_trusted_certificates() {
    for endpoint in ["http://localhost:8080", "ftp://hub.example", "not a url"] {
        let error = HubClient::new(ClientConfig {
            endpoint: endpoint.to_owned(),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(matches!(error, HubError::InvalidInput(_)), "{error:?}");
    }
    let error = HubClient::new(ClientConfig {
        endpoint: "http://localhost:8080".to_owned(),
        ..ClientConfig::default()
    })
    .unwrap_err();
    assert_eq!(error.to_string(), "the hub endpoint must use https");

    let error = HubClient::new(ClientConfig {
        endpoint: "https://user:hunter2@hub.example".to_owned(),
        ..ClientConfig::default()
    })
    .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");

    let error = HubClient::new(ClientConfig {
        extra_root_pem: Some(b"no certificate here".to_vec()),
        ..ClientConfig::default()
    })
    .unwrap_err();
    assert!(matches!(error, HubError::InvalidInput(_)), "{error:?}");

    // Without the loopback CA the hub's certificate is not trusted.
    let hub = LoopbackHub::start("acme/tiny-llama", files())
        .await
        .unwrap();
    let untrusting = HubClient::new(ClientConfig {
        extra_root_pem: None,
        ..config(&hub)
    })
    .unwrap();
    let error = untrusting.resolve(&repo()).await.unwrap_err();
    assert!(matches!(error, HubError::Network { .. }), "{error:?}");
}

#[test]
fn repo_refs_parse_and_refuse_bad_forms() {
    let plain = RepoRef::parse("hf://acme/tiny-llama").unwrap();
    assert_eq!(
        plain,
        RepoRef {
            owner: "acme".to_owned(),
            name: "tiny-llama".to_owned(),
            revision: "main".to_owned(),
        }
    );
    assert_eq!(plain.repo_id(), "acme/tiny-llama");
    assert_eq!(plain.to_string(), "hf://acme/tiny-llama@main");
    for good in [
        "hf://Org_1/model.v2-5@v1.0",
        "hf://acme/tiny@refs/pr/1",
        "hf://acme/tiny@0123456789abcdef0123456789abcdef01234567",
        "hf://a/b@release@2024",
    ] {
        let parsed = RepoRef::parse(good).unwrap();
        assert_eq!(parsed.to_string(), good);
        assert_eq!(RepoRef::parse(&parsed.to_string()).unwrap(), parsed);
    }

    let long_name = format!("hf://acme/{}", "x".repeat(97));
    let long_revision = format!("hf://acme/tiny@{}", "r".repeat(257));
    for bad in [
        "",
        "hf://",
        "acme/tiny",
        "https://huggingface.co/acme/tiny",
        "hf://acme",
        "hf://a/b/c",
        "hf://../x",
        "hf://acme/..",
        "hf://acme/a..b",
        "hf://.hidden/x",
        "hf://-x/y",
        "hf://acme/ti ny",
        "hf://acme/tiny/",
        "hf:///tiny",
        "hf://acme/tiny@",
        "hf://acme/tiny@../main",
        "hf://acme/tiny@refs/../../etc",
        "hf://acme/tiny@ma\nin",
        long_name.as_str(),
        long_revision.as_str(),
    ] {
        match RepoRef::parse(bad) {
            Err(HubError::InvalidInput(message)) => {
                assert!(message.contains("expected hf://OWNER/NAME"), "{message}")
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn debug_output_never_shows_the_token() {
    let config = ClientConfig {
        endpoint: "https://hub.example".to_owned(),
        token: Some(SecretString::from(TOKEN)),
        ..ClientConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(shown.contains("token: Some(\"***\")"), "{shown}");
    assert!(!shown.contains(TOKEN));
    let client = HubClient::new(config).unwrap();
    let shown = format!("{client:?}");
    assert!(shown.contains("token: Some(\"***\")"), "{shown}");
    assert!(!shown.contains(TOKEN));
    assert!(format!("{:?}", ClientConfig::default()).contains("token: None"));
}

#[test]
fn paths_are_encoded_segment_by_segment() {
    assert_eq!(percent_encode("refs/pr/1"), "refs%2Fpr%2F1");
    assert_eq!(percent_encode("a b~ü.txt"), "a%20b~%C3%BC.txt");
    let client = HubClient::new(ClientConfig::default()).unwrap();
    let snapshot = Snapshot {
        repo: RepoRef::parse("hf://acme/tiny").unwrap(),
        commit: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        files: Vec::new(),
    };
    let url = client.file_url(&snapshot, "sub dir/w.bin").unwrap();
    assert_eq!(
        url.as_str(),
        "https://huggingface.co/acme/tiny/resolve/0123456789abcdef0123456789abcdef01234567/sub%20dir/w.bin"
    );
    for path in ["../x", "a/./b", "/abs", "a//b", "", "a/.."] {
        assert!(
            matches!(
                client.file_url(&snapshot, path),
                Err(HubError::Refused { .. })
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn consumer_checked_downloads_leave_the_lfs_digest_to_the_consumer() {
    use tokio::io::AsyncReadExt as _;
    let (hub, client) = setup().await;
    let snapshot = client.resolve(&repo()).await.unwrap();
    let lfs = snapshot.files.iter().find(|f| f.path == LFS).unwrap();
    let mut download = client
        .open_for_consumer_check(&snapshot, lfs, None)
        .await
        .unwrap();
    let mut bytes = Vec::new();
    download.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes, content(LFS));
    assert_eq!(
        download.sha256(),
        None,
        "the stream did not check the digest"
    );

    // Corrupt bytes pass the stream (the consumer's hash catches them); files without an LFS
    // digest are still checked here.
    hub.set_fault(Fault::CorruptFile {
        path: LFS.to_owned(),
    });
    let mut download = client
        .open_for_consumer_check(&snapshot, lfs, None)
        .await
        .unwrap();
    let mut corrupt = Vec::new();
    download.read_to_end(&mut corrupt).await.unwrap();
    assert_ne!(corrupt, content(LFS));
    hub.set_fault(Fault::CorruptFile {
        path: NESTED.to_owned(),
    });
    let nested = snapshot.files.iter().find(|f| f.path == NESTED).unwrap();
    let mut download = client
        .open_for_consumer_check(&snapshot, nested, None)
        .await
        .unwrap();
    let err = download.read_to_end(&mut Vec::new()).await.unwrap_err();
    let (at, _) = integrity_at(HubError::from_io(err, "u"));
    assert_eq!(at, NESTED);
}
