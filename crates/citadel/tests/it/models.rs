//! Model acquisition through the binary, against a real HTTPS hub on loopback (its own CA,
//! passed with --ca-file): pinned and hash-verified pulls, every refusal the policy and scanners
//! make, tokens that never cross hosts or reach logs, resumed downloads, tamper detection on
//! stored versions and signed exports.

use std::path::{Path, PathBuf};

use citadel_hub::loopback::{Fault, HubFile, LoopbackHub, Request};
use serde_json::Value;

use super::harness::*;

const REPO: &str = "acme/tiny";
const MODEL: &str = "dev.models.tiny";
const HUB_TOKEN: &str = "hf_loopbackSecretToken0123456789abcdef";

/// A loopback hub kept running on its own runtime while the binary talks to it.
struct Hub {
    hub: LoopbackHub,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    // Dropped last: the hub's tasks run on it.
    _runtime: tokio::runtime::Runtime,
}

impl Hub {
    fn start(files: Vec<HubFile>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let hub = runtime.block_on(LoopbackHub::start(REPO, files)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, hub.ca_pem()).unwrap();
        Self {
            hub,
            ca_file,
            _dir: dir,
            _runtime: runtime,
        }
    }

    /// `model pull hf://acme/tiny --as dev.models.tiny` against this hub, plus `extra`.
    fn pull(&self, home: &TestHome, extra: &[&str]) -> std::process::Output {
        let source = format!("hf://{REPO}");
        let endpoint = self.hub.endpoint();
        let mut args = vec![
            "model",
            "pull",
            source.as_str(),
            "--as",
            MODEL,
            "--endpoint",
            endpoint.as_str(),
            "--ca-file",
            self.ca_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        home.admin().args(args).output().unwrap()
    }

    fn requests(&self) -> Vec<Request> {
        self.hub.requests()
    }
}

/// A valid safetensors file of `n` f32 values.
fn safetensors(n: usize) -> Vec<u8> {
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
        n * 4
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend((0..n * 4).map(|i| (i % 251) as u8));
    out
}

fn file(path: &str, content: impl Into<Vec<u8>>, lfs: bool) -> HubFile {
    HubFile {
        path: path.to_owned(),
        content: content.into().into(),
        lfs,
    }
}

/// config, tokenizer, weights (LFS, through the CDN host) and a file the policy leaves out.
fn model_files() -> Vec<HubFile> {
    vec![
        file("config.json", br#"{"model_type":"llama"}"#.to_vec(), false),
        file("tokenizer.json", br#"{"version":"1.0"}"#.to_vec(), false),
        // GPT-2 style tokenizer files: merges.txt is text, not JSON.
        file("merges.txt", b"#version: 0.2\nh e\n".to_vec(), false),
        file("vocab.json", br#"{"h":0,"e":1}"#.to_vec(), false),
        file("model.safetensors", safetensors(50_000), true),
        file(
            ".gitattributes",
            b"*.safetensors filter=lfs\n".to_vec(),
            false,
        ),
    ]
}

/// `os.system("echo pwned")` as Python's pickle protocol 2 writes it.
const EVIL_PICKLE: &str =
    "800263706f7369780a73797374656d0a7100580a0000006563686f2070776e656471018571025271032e";

fn json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn code(output: &std::process::Output) -> Option<i32> {
    output.status.code()
}

/// Asserts that nothing was stored: no model, no artifact row, no blob.
fn assert_nothing_stored(home: &TestHome) {
    let artifacts: Value =
        serde_json::from_str(&home.admin_ok(&["artifact", "list", "--json"])).unwrap();
    assert_eq!(artifacts.as_array().unwrap().len(), 0, "{artifacts}");
    let blobs: Vec<_> = files_under(&home.path("artifacts"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("staging"))
        .collect();
    assert!(blobs.is_empty(), "{blobs:?}");
    let shown = home
        .admin()
        .args(["model", "show", MODEL])
        .output()
        .unwrap();
    assert!(!shown.status.success());
}

fn last_event(home: &TestHome, action: &str) -> Value {
    home.audit_events(&["--action", action])
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no {action} event"))
}

#[test]
fn pull_pins_the_commit_verifies_every_file_and_signs_the_version() {
    let hub = Hub::start(model_files());
    let home = TestHome::init();
    let report = json(&hub.pull(&home, &["--json"]));
    let version = &report["version"];
    assert_eq!(version["model"], MODEL);
    assert_eq!(version["version"], 1);
    assert_eq!(version["source"]["commit"], hub.hub.commit());
    assert_eq!(version["source"]["repo"], REPO);
    let files: Vec<&str> = version["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "config.json",
            "merges.txt",
            "model.safetensors",
            "tokenizer.json",
            "vocab.json"
        ]
    );
    assert_eq!(report["skipped"][0]["path"], ".gitattributes");

    // Every download named the pinned commit, never the branch.
    let resolves: Vec<Request> = hub
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/resolve/"))
        .collect();
    assert!(resolves
        .iter()
        .filter(|r| r.server == "hub")
        .all(|r| r.path_and_query.contains(hub.hub.commit())));

    let verified = home.admin_ok(&["model", "verify", &format!("{MODEL}@1")]);
    assert!(verified.starts_with("ok:"), "{verified}");
    let event = last_event(&home, "model.pull");
    assert_eq!(event["outcome"], "success", "{event}");
    assert_eq!(event["params"]["source"]["commit"], hub.hub.commit());

    // A second pull of the same commit is a new version sharing the stored bytes.
    let again = json(&hub.pull(&home, &["--json"]));
    assert_eq!(again["version"]["version"], 2);
    assert_eq!(again["version"]["root_digest"], version["root_digest"]);
    let versions: Value =
        serde_json::from_str(&home.admin_ok(&["model", "versions", MODEL, "--json"])).unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let table = home.admin_ok(&["model", "versions", MODEL]);
    assert!(
        table.contains(&format!("hf://{REPO}@{}", &hub.hub.commit()[..12])),
        "{table}"
    );
}

#[test]
fn a_wrong_hash_stores_nothing_and_names_the_file() {
    let hub = Hub::start(model_files());
    hub.hub.set_fault(Fault::CorruptFile {
        path: "model.safetensors".into(),
    });
    let home = TestHome::init();
    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("model.safetensors"),
        "{}",
        stderr(&out)
    );
    assert_nothing_stored(&home);
    let event = last_event(&home, "model.pull");
    assert_eq!(event["outcome"], "failed", "{event}");
}

#[test]
fn a_wrong_size_or_commit_is_refused() {
    let home = TestHome::init();
    let hub = Hub::start(model_files());
    hub.hub.set_fault(Fault::WrongCommitHeader);
    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(stderr(&out).contains("commit"), "{}", stderr(&out));

    hub.hub.set_fault(Fault::WrongSize {
        path: "tokenizer.json".into(),
    });
    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(stderr(&out).contains("tokenizer.json"), "{}", stderr(&out));
    assert_nothing_stored(&home);
}

#[test]
fn private_repos_need_a_vault_token_that_never_leaves_the_hub_host() {
    let hub = Hub::start(model_files());
    hub.hub.set_fault(Fault::RequireToken(HUB_TOKEN.into()));
    let home = TestHome::init();

    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--token-secret"), "{}", stderr(&out));

    home.admin_ok(&["secrets", "scope", "create", "dev.models.hub"]);
    run_ok(
        home.admin()
            .args(["secrets", "put", "dev.models.hub", "HF_TOKEN"])
            .write_stdin(format!("{HUB_TOKEN}\n")),
    );
    let out = hub.pull(
        &home,
        &["--token-secret", "dev.models.hub/HF_TOKEN", "--json"],
    );
    json(&out);

    let requests = hub.requests();
    let bearer = format!("Bearer {HUB_TOKEN}");
    let authorized_hub = requests
        .iter()
        .filter(|r| r.server == "hub" && r.authorization.as_deref() == Some(bearer.as_str()))
        .count();
    assert!(authorized_hub >= 2, "{requests:?}");
    let cdn: Vec<&Request> = requests.iter().filter(|r| r.server == "cdn").collect();
    assert!(
        !cdn.is_empty(),
        "the weights should come through the CDN host"
    );
    assert!(
        cdn.iter().all(|r| r.authorization.is_none()),
        "the token crossed to another host: {cdn:?}"
    );

    // The token appears nowhere: output, audit log, database.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(HUB_TOKEN));
    assert!(!stderr(&out).contains(HUB_TOKEN));
    let audit = home.admin_ok(&["audit", "query", "--json", "--limit", "10000"]);
    assert!(!audit.contains(HUB_TOKEN));
    let reads = home.audit_events(&["--action", "secret.read"]);
    assert!(!reads.is_empty(), "reading the token must be audited");
    let database = std::fs::read(home.path("citadel.db")).unwrap();
    assert!(!database
        .windows(HUB_TOKEN.len())
        .any(|w| w == HUB_TOKEN.as_bytes()));
}

#[test]
fn redirects_to_plain_http_are_refused() {
    let hub = Hub::start(model_files());
    hub.hub.set_fault(Fault::RedirectToHttp {
        path: "model.safetensors".into(),
    });
    let home = TestHome::init();
    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
    assert_nothing_stored(&home);
}

#[test]
fn a_cut_connection_resumes_with_a_range_request() {
    let hub = Hub::start(model_files());
    hub.hub.set_fault(Fault::CutConnection {
        path: "model.safetensors".into(),
        after_bytes: 70_000,
        times: 2,
    });
    let home = TestHome::init();
    json(&hub.pull(&home, &["--json"]));
    let ranges: Vec<String> = hub.requests().into_iter().filter_map(|r| r.range).collect();
    assert!(
        ranges.iter().any(|r| r.starts_with("bytes=70000-")),
        "{ranges:?}"
    );
    home.admin_ok(&["model", "verify", MODEL]);

    // Cut more often than the client retries: a clean failure, nothing stored.
    let home = TestHome::init();
    hub.hub.set_fault(Fault::CutConnection {
        path: "model.safetensors".into(),
        after_bytes: 1000,
        times: 50,
    });
    let out = hub.pull(&home, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("model.safetensors"),
        "{}",
        stderr(&out)
    );
    assert_nothing_stored(&home);
}

#[test]
fn pickles_are_skipped_by_default_and_dangerous_ones_refused_when_allowed() {
    let evil = hex::decode(EVIL_PICKLE).unwrap();
    let mut files = model_files();
    files.push(file("pytorch_model.bin", evil.clone(), true));
    let hub = Hub::start(files);
    let home = TestHome::init();
    let report = json(&hub.pull(&home, &["--json"]));
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("pytorch_model.bin"), "{skipped}");
    assert!(!hub
        .requests()
        .iter()
        .any(|r| r.path_and_query.ends_with("pytorch_model.bin")));

    let home = TestHome::init();
    let out = hub.pull(&home, &["--allow-pickle"]);
    assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("pytorch_model.bin") && err.contains("dangerous"),
        "{err}"
    );
    assert!(err.contains("posix.system"), "{err}");
    assert_nothing_stored(&home);

    // A model whose only weights are pickles says how to proceed.
    let hub = Hub::start(vec![
        file("config.json", br#"{"model_type":"gpt2"}"#.to_vec(), false),
        file("pytorch_model.bin", evil, true),
    ]);
    let out = hub.pull(&TestHome::init(), &[]);
    assert_eq!(code(&out), Some(EXIT_INVALID));
    assert!(stderr(&out).contains("--allow-pickle"), "{}", stderr(&out));
}

#[test]
fn code_remote_code_and_traversal_names_are_refused_before_weights_download() {
    let home = TestHome::init();
    for (bad, expect) in [
        (
            file("modeling_tiny.py", b"import os\n".to_vec(), false),
            "modeling_tiny.py",
        ),
        (file("../escape.json", b"{}".to_vec(), false), "traversal"),
        (
            file("Config.JSON", b"{}".to_vec(), false),
            "case-insensitive",
        ),
    ] {
        let mut files = model_files();
        files.push(bad);
        let hub = Hub::start(files);
        let out = hub.pull(&home, &[]);
        assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{expect}: {}", stderr(&out));
        assert!(hub
            .requests()
            .iter()
            .all(|r| !r.path_and_query.contains("/resolve/")));
    }

    let mut files = model_files();
    files[0] = file(
        "config.json",
        br#"{"model_type":"x","auto_map":{"AutoModel":"modeling_x.X"}}"#.to_vec(),
        false,
    );
    let hub = Hub::start(files);
    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
    assert!(stderr(&out).contains("remote code"), "{}", stderr(&out));
    assert!(!hub
        .requests()
        .iter()
        .any(|r| r.path_and_query.ends_with("model.safetensors")));
    assert_nothing_stored(&home);
}

#[test]
fn an_oversized_safetensors_header_is_dangerous() {
    let mut weights = (200_000_000u64).to_le_bytes().to_vec();
    weights.extend_from_slice(&[b' '; 64]);
    let mut files = model_files();
    *files
        .iter_mut()
        .find(|f| f.path == "model.safetensors")
        .unwrap() = file("model.safetensors", weights, true);
    let hub = Hub::start(files);
    let home = TestHome::init();
    let out = hub.pull(&home, &[]);
    assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("model.safetensors"),
        "{}",
        stderr(&out)
    );
    assert_nothing_stored(&home);
}

#[test]
fn pulling_needs_create_model_and_a_denied_caller_fetches_nothing() {
    let hub = Hub::start(model_files());
    let home = TestHome::init();
    let token = home.user_with_token("mallory");
    let source = format!("hf://{REPO}");
    let out = home
        .as_token(&token)
        .args([
            "model",
            "pull",
            &source,
            "--as",
            MODEL,
            "--endpoint",
            &hub.hub.endpoint(),
            "--ca-file",
            hub.ca_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(EXIT_PERMISSION_DENIED), "{}", stderr(&out));
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());
    let event = last_event(&home, "model.pull");
    assert_eq!(event["outcome"], "denied", "{event}");
}

fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../citadel-engine/tests/fixtures/tiny-llama")
}

/// The stored blob of the file `path` of `MODEL@1`.
fn stored_blob_of(home: &TestHome, path: &str) -> PathBuf {
    let shown: Value =
        serde_json::from_str(&home.admin_ok(&["model", "show", MODEL, "--json"])).unwrap();
    let sha = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    files_under(&home.path("artifacts"))
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == sha)
        .unwrap()
}

#[test]
fn tampered_bytes_or_manifests_fail_verification_and_name_the_culprit() {
    let home = TestHome::init();
    let model = fixture_model();
    home.admin_ok(&["model", "import", model.to_str().unwrap(), "--as", MODEL]);
    home.admin_ok(&["model", "verify", MODEL]);

    // One flipped byte in the stored (encrypted) weights.
    let blob = stored_blob_of(&home, "model.safetensors");
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    let out = home
        .admin()
        .args(["model", "verify", MODEL])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("model.safetensors"), "{printed}");
    assert!(!printed.contains("config.json:"), "{printed}");
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    home.admin_ok(&["model", "verify", MODEL]);
    let event = last_event(&home, "model.verify");
    assert_eq!(event["outcome"], "success");

    // An edited manifest: swap one digest inside the signed payload.
    sql(
        &home,
        &["UPDATE model_versions SET envelope = replace(envelope, '\"payload\":\"ey', '\"payload\":\"eY')"],
    );
    let out = home
        .admin()
        .args(["model", "verify", MODEL])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signed manifest"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let event = last_event(&home, "model.verify");
    assert_eq!(event["outcome"], "failed");
    // A tampered version is never exported.
    let dest = tempfile::tempdir().unwrap();
    let out = home
        .admin()
        .args([
            "model",
            "export",
            MODEL,
            dest.path().join("x").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
}

#[test]
fn exports_verify_offline_and_detect_edits() {
    let home = TestHome::init();
    let model = fixture_model();
    home.admin_ok(&["model", "import", model.to_str().unwrap(), "--as", MODEL]);
    let dest = tempfile::tempdir().unwrap();
    let folder = dest.path().join("export");
    home.admin_ok(&[
        "model",
        "export",
        &format!("{MODEL}@1"),
        folder.to_str().unwrap(),
    ]);
    let key = folder.join("model.pub.pem");
    let verify = |folder: &Path| {
        bare_command(&dest.path().join("no-home"))
            .args(["model", "verify", "--folder"])
            .arg(folder)
            .arg("--public-key")
            .arg(&key)
            .output()
            .unwrap()
    };
    let out = verify(&folder);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(folder.join("model.safetensors").exists());
    assert_eq!(
        std::fs::read(folder.join("config.json")).unwrap(),
        std::fs::read(model.join("config.json")).unwrap()
    );

    std::fs::write(folder.join("config.json"), br#"{"model_type":"evil"}"#).unwrap();
    let out = verify(&folder);
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    std::fs::write(
        folder.join("config.json"),
        std::fs::read(model.join("config.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(folder.join("extra.py"), b"import os").unwrap();
    let out = verify(&folder);
    assert_eq!(code(&out), Some(EXIT_INTEGRITY), "{}", stderr(&out));
    assert!(stderr(&out).contains("extra.py"), "{}", stderr(&out));
    let event = last_event(&home, "model.export");
    assert_eq!(event["outcome"], "success");
}

#[test]
fn import_refuses_symlinks_and_scan_flags_malicious_pickles() {
    let home = TestHome::init();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), br#"{"model_type":"llama"}"#).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), safetensors(16)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("tokenizer.json")).unwrap();
    let out = home
        .admin()
        .args([
            "model",
            "import",
            dir.path().to_str().unwrap(),
            "--as",
            MODEL,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic"), "{}", stderr(&out));
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();

    let clean = home.admin_ok(&["model", "scan", dir.path().to_str().unwrap(), "--json"]);
    let clean: Value = serde_json::from_str(&clean).unwrap();
    assert_eq!(clean["verdict"], "clean", "{clean}");

    std::fs::write(
        dir.path().join("pytorch_model.bin"),
        hex::decode(EVIL_PICKLE).unwrap(),
    )
    .unwrap();
    let out = home
        .admin()
        .args(["model", "scan", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("pytorch_model.bin") && table.contains("dangerous"),
        "{table}"
    );
    let event = last_event(&home, "model.scan");
    assert_eq!(event["outcome"], "failed");
    let out = home
        .admin()
        .args([
            "model",
            "import",
            dir.path().to_str().unwrap(),
            "--as",
            MODEL,
            "--allow-pickle",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(EXIT_INVALID), "{}", stderr(&out));
    assert_nothing_stored(&home);
}
