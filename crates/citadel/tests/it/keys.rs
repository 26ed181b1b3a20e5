//! Key providers and rotation through the binary, and the canary test: planted secret values
//! must not appear in any output, log, error or audit event of any command that touches them.

use std::path::Path;

use super::harness::*;

const SCOPE: &str = "dev.data.keys";

fn put_secret(cmd: &mut assert_cmd::Command, key: &str, value: &str) {
    run_ok(
        cmd.args(["secrets", "put", SCOPE, key])
            .write_stdin(value.to_owned()),
    );
}

fn get_secret(cmd: &mut assert_cmd::Command, key: &str) -> String {
    run_ok(cmd.args(["secrets", "get", SCOPE, key]))
}

fn store_artifact(home: &TestHome, cmd: &mut assert_cmd::Command, bytes: &[u8]) -> String {
    let file = home.path("artifact.bin");
    std::fs::write(&file, bytes).unwrap();
    let out = run_ok(cmd.args(["artifact", "put", file.to_str().unwrap(), "--json"]));
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    info["digest"].as_str().unwrap().to_owned()
}

fn fetch_artifact(
    home: &TestHome,
    cmd: &mut assert_cmd::Command,
    digest: &str,
    name: &str,
) -> Vec<u8> {
    let dest = home.path(name);
    run_ok(cmd.args(["artifact", "get", digest, "--out", dest.to_str().unwrap()]));
    std::fs::read(dest).unwrap()
}

fn key_file(home: &TestHome) -> String {
    std::fs::read_to_string(home.path("keys/kek.key")).unwrap()
}

#[test]
fn rotation_rewraps_everything_and_the_old_key_is_gone() {
    let home = TestHome::init();
    home.admin_ok(&["secrets", "scope", "create", SCOPE]);
    put_secret(&mut home.admin(), "one", "rotation-secret-1");
    put_secret(&mut home.admin(), "two", "rotation-secret-2");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = store_artifact(&home, &mut home.admin(), &payload);
    let old_key = key_file(&home);
    let artifacts_before = std::fs::read_dir(home.path("artifacts")).unwrap().count();

    let report: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["keys", "rotate", "--json"])).unwrap();
    assert_eq!(report["artifacts_rewrapped"], 1);
    assert_eq!(report["secrets_rewrapped"], 2);
    assert_ne!(report["kek_id"], report["previous_kek_id"]);

    // The key file holds a new key, nothing else holds the old one, and it is not needed.
    let new_key = key_file(&home);
    assert_ne!(new_key, old_key);
    assert!(!home.path("keys/kek.key.next").exists());
    for entry in walk(home.root.as_path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(old_key.trim()),
            "{} still holds the old key",
            entry.display()
        );
    }
    assert_eq!(get_secret(&mut home.admin(), "one"), "rotation-secret-1");
    assert_eq!(get_secret(&mut home.admin(), "two"), "rotation-secret-2");
    assert_eq!(
        fetch_artifact(&home, &mut home.admin(), &digest, "out.bin"),
        payload
    );
    // No artifact was rewritten.
    assert_eq!(
        std::fs::read_dir(home.path("artifacts")).unwrap().count(),
        artifacts_before
    );

    // The history shows the retired key; the rotation is audited.
    let status: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["keys", "status", "--json"])).unwrap();
    assert_eq!(status["kek_id"], report["kek_id"]);
    let history = status["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history
        .iter()
        .any(|k| k["kek_id"] == report["previous_kek_id"] && !k["retired_at"].is_null()));
    let rotations = home.audit_events(&["--action", "keys.rotate"]);
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0]["params"]["secrets_rewrapped"], 2);
    run_ok(home.admin().args(["audit", "verify"]));

    // A non-admin cannot rotate.
    let alice = home.user_with_token("alice");
    run_fails(
        home.as_token(&alice).args(["keys", "rotate"]),
        EXIT_PERMISSION_DENIED,
    );
}

#[test]
fn a_rotation_interrupted_after_its_commit_is_finished_at_the_next_start() {
    let home = TestHome::init();
    home.admin_ok(&["secrets", "scope", "create", SCOPE]);
    put_secret(&mut home.admin(), "k", "crash-secret-77");
    let old_key = key_file(&home);
    home.admin_ok(&["keys", "rotate"]);
    let new_key = key_file(&home);
    // Simulate the crash between commit and swap: the old key back in place, the new one beside it.
    std::fs::rename(home.path("keys/kek.key"), home.path("keys/kek.key.next")).unwrap();
    write_private(&home.path("keys/kek.key"), &old_key);
    assert_eq!(get_secret(&mut home.admin(), "k"), "crash-secret-77");
    assert_eq!(key_file(&home), new_key);
    assert!(!home.path("keys/kek.key.next").exists());

    // A next key left by a rotation that never committed is discarded.
    write_private(&home.path("keys/kek.key.next"), &old_key);
    assert_eq!(get_secret(&mut home.admin(), "k"), "crash-secret-77");
    assert!(!home.path("keys/kek.key.next").exists());
    assert_eq!(key_file(&home), new_key);
}

#[test]
fn the_master_key_can_come_from_the_environment_and_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let first = run_ok(bare_command(&root).args(["keys", "generate"]));
    let second = run_ok(bare_command(&root).args(["keys", "generate"]));
    assert_ne!(first, second);
    let with_key = |key: &str, previous: Option<&str>| {
        let mut cmd = bare_command(&root);
        cmd.env("CITADEL_MASTER_KEY", key.trim());
        if let Some(previous) = previous {
            cmd.env("CITADEL_MASTER_KEY_PREVIOUS", previous.trim());
        }
        cmd
    };
    run_ok(with_key(&first, None).args(["init"]));
    assert!(
        !root.join("keys/kek.key").exists(),
        "no key file with an environment key"
    );
    run_ok(with_key(&first, None).args(["secrets", "scope", "create", SCOPE]));
    put_secret(&mut with_key(&first, None), "k", "env-secret-31");

    // Without the key nothing opens; with a wrong one the error says what to do.
    let missing = run_fails(bare_command(&root).args(["whoami"]), 1);
    assert!(missing.contains("kek.key"), "{missing}");
    let wrong = with_key(&second, None).args(["whoami"]).output().unwrap();
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("CITADEL_MASTER_KEY_PREVIOUS"),
        "{}",
        stderr(&wrong)
    );

    // Rotating needs the previous key alongside the new one; afterwards the new key alone works.
    let refused = with_key(&first, None)
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(EXIT_INVALID),
        "{}",
        stderr(&refused)
    );
    run_ok(with_key(&second, Some(&first)).args(["keys", "rotate"]));
    assert_eq!(
        get_secret(&mut with_key(&second, None), "k"),
        "env-secret-31"
    );
    let stale = with_key(&first, None).args(["whoami"]).output().unwrap();
    assert!(!stale.status.success());
}

/// Runs `citadel ARGS` in `home` with full logging, as `token` (admin when `None`), feeding
/// `stdin`; returns the output.
fn traced(
    home: &TestHome,
    token: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut cmd = match token {
        Some(token) => home.as_token(token),
        None => home.admin(),
    };
    cmd.env("CITADEL_LOG", "trace").args(args);
    if let Some(stdin) = stdin {
        cmd.write_stdin(stdin.to_owned());
    }
    cmd.output().unwrap()
}

#[test]
fn canary_values_never_leak() {
    const CANARIES: [&str; 3] = [
        "CANARY-7c1d0e5b-value",
        "hf_CanaryCanaryCanaryCanaryCanary12",
        "canary pass phrase 4f2a",
    ];
    let home = TestHome::init();
    let mut transcript = String::new();
    let mut keep = |out: &std::process::Output, with_stdout: bool| {
        transcript.push_str(&String::from_utf8_lossy(&out.stderr));
        if with_stdout {
            transcript.push_str(&String::from_utf8_lossy(&out.stdout));
        }
    };
    keep(
        &traced(&home, None, &["secrets", "scope", "create", SCOPE], None),
        true,
    );
    let reader = home.user_with_token("reader");
    let outsider = home.user_with_token("outsider");
    for name in ["reader", "outsider"] {
        home.grant_use_dev_data(name);
    }
    home.admin_ok(&[
        "grant",
        "READ_SECRET",
        "ON",
        "secret_scope",
        SCOPE,
        "TO",
        "reader",
    ]);
    for (i, canary) in CANARIES.iter().enumerate() {
        let key = format!("k{i}");
        let out = traced(&home, None, &["secrets", "put", SCOPE, &key], Some(canary));
        assert!(out.status.success(), "{}", stderr(&out));
        keep(&out, true);
        // The one place a value may appear: the stdout of an authorized `get`.
        let got = traced(&home, Some(&reader), &["secrets", "get", SCOPE, &key], None);
        assert_eq!(String::from_utf8_lossy(&got.stdout), *canary);
        keep(&got, false);
        // Every other path, failing ones included.
        let cases: [(Option<&str>, Vec<&str>, Option<&str>); 9] = [
            (Some(&outsider), vec!["secrets", "get", SCOPE, &key], None),
            (
                Some(&reader),
                vec!["secrets", "put", SCOPE, &key],
                Some(canary),
            ),
            (
                None,
                vec!["secrets", "put", "dev.data.missing", &key],
                Some(canary),
            ),
            (
                None,
                vec!["secrets", "put", SCOPE, "bad/name"],
                Some(canary),
            ),
            (None, vec!["secrets", "list", SCOPE], None),
            (None, vec!["secrets", "list", SCOPE, "--json"], None),
            (
                None,
                vec!["secrets", "get", SCOPE, &key, "--version", "9"],
                None,
            ),
            (Some(canary), vec!["whoami"], None),
            (
                None,
                vec!["--token", canary, "secrets", "get", SCOPE, &key],
                None,
            ),
        ];
        for (token, args, stdin) in cases {
            let out = traced(&home, token, &args, stdin);
            assert!(
                !args.contains(&"list") || out.status.success(),
                "{}",
                stderr(&out)
            );
            keep(&out, true);
        }
    }
    let rotated = traced(&home, None, &["keys", "rotate"], None);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    keep(&rotated, true);
    // A tampered row: the decryption failure path, and a rotation that refuses to go on.
    sql(
        &home,
        &["UPDATE secret_versions SET name = 'k9' WHERE name = 'k0'"],
    );
    let tampered = traced(&home, Some(&reader), &["secrets", "get", SCOPE, "k9"], None);
    assert_eq!(tampered.status.code(), Some(EXIT_INTEGRITY));
    keep(&tampered, true);
    let refused = traced(&home, None, &["keys", "rotate"], None);
    assert_eq!(
        refused.status.code(),
        Some(EXIT_INTEGRITY),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("k9"), "{}", stderr(&refused));
    keep(&refused, true);
    for args in [
        &["audit", "export", "--format", "jsonl"][..],
        &["audit", "export", "--format", "ocsf"],
        &["audit", "query", "--limit", "10000"],
    ] {
        let out = traced(&home, None, args, None);
        assert!(out.status.success(), "{}", stderr(&out));
        keep(&out, true);
    }

    assert!(
        transcript.contains("secret.read"),
        "the audit export is in the transcript"
    );
    for canary in CANARIES {
        assert!(
            !transcript.contains(canary),
            "{canary:?} leaked:\n{transcript}"
        );
    }
    // At rest, too: no file of the home holds a value in clear.
    for file in walk(home.root.as_path()) {
        let bytes = std::fs::read(&file).unwrap();
        for canary in CANARIES {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary:?} stored in clear in {}",
                file.display()
            );
        }
    }
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Every file under `root`.
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
