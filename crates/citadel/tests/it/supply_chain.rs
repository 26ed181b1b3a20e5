//! Supply-chain commands through the binary: the binary's own SBOM in both formats, a model
//! version's AI-BOM, and dependency matching against an offline OSV folder.

use std::path::Path;

use serde_json::Value;

use super::harness::*;

fn no_home() -> assert_cmd::Command {
    bare_command(Path::new("/nonexistent-citadel-home"))
}

fn json_of(cmd: &mut assert_cmd::Command) -> Value {
    serde_json::from_str(&run_ok(cmd)).unwrap()
}

#[test]
fn the_binary_describes_its_own_dependencies_without_a_home() {
    let bom = json_of(no_home().args(["sbom"]));
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["metadata"]["component"]["name"], "citadel");
    let purls: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    for expected in [
        "pkg:cargo/ring@",
        "pkg:cargo/candle-core@",
        "pkg:cargo/sqlx@",
    ] {
        assert!(purls.iter().any(|p| p.starts_with(expected)), "{expected}");
    }
    let spdx = json_of(no_home().args(["sbom", "--format", "spdx"]));
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(
        spdx["packages"].as_array().unwrap().len(),
        purls.len() + 1,
        "one SPDX package per component plus the root"
    );
}

#[test]
fn a_model_version_gets_an_ai_bom() {
    let home = TestHome::init();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../citadel-engine/tests/fixtures/tiny-gpt2");
    home.admin_ok(&[
        "model",
        "import",
        fixture.to_str().unwrap(),
        "--as",
        "dev.models.tiny",
    ]);
    let bom: Value =
        serde_json::from_str(&home.admin_ok(&["sbom", "--model", "dev.models.tiny@1"])).unwrap();
    let model = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&bom["metadata"]["component"]))
        .find(|c| c["type"] == "machine-learning-model")
        .unwrap_or_else(|| panic!("no machine-learning-model component: {bom}"));
    assert_eq!(model["name"], "dev.models.tiny");
    assert!(bom.to_string().contains("model.safetensors"));

    let outsider = home.user_with_token("eve");
    let out = home
        .as_token(&outsider)
        .args(["sbom", "--model", "dev.models.tiny@1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_PERMISSION_DENIED));
}

fn advisory(dir: &Path, id: &str, package: &str, events: &str, vector: &str, withdrawn: bool) {
    let withdrawn = if withdrawn {
        r#""withdrawn":"2026-01-02T00:00:00Z","#
    } else {
        ""
    };
    std::fs::write(
        dir.join(format!("{id}.json")),
        format!(
            r#"{{"id":"{id}",{withdrawn}"modified":"2026-01-01T00:00:00Z","summary":"{id} summary","affected":[{{"package":{{"ecosystem":"crates.io","name":"{package}"}},"ranges":[{{"type":"SEMVER","events":{events}}}]}}],"severity":[{{"type":"CVSS_V3","score":"{vector}"}}]}}"#
        ),
    )
    .unwrap();
}

#[test]
fn dependencies_are_matched_against_an_offline_osv_folder() {
    let osv = tempfile::tempdir().unwrap();
    let crates = osv.path().join("crates.io");
    std::fs::create_dir_all(&crates).unwrap();
    let critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    let low = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N";
    // ring 0.17.x is in the lock file: affected below 99.0.0, fixed long ago, withdrawn.
    advisory(
        &crates,
        "TEST-AFFECTED",
        "ring",
        r#"[{"introduced":"0.17.0"},{"fixed":"99.0.0"}]"#,
        low,
        false,
    );
    advisory(
        &crates,
        "TEST-FIXED",
        "ring",
        r#"[{"introduced":"0"},{"fixed":"0.1.0"}]"#,
        critical,
        false,
    );
    advisory(
        &crates,
        "TEST-WITHDRAWN",
        "ring",
        r#"[{"introduced":"0"}]"#,
        critical,
        true,
    );
    let osv_dir = osv.path().to_str().unwrap();

    let report = json_of(no_home().args(["scan", "deps", "--osv", osv_dir, "--json"]));
    let ids: Vec<&str> = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["TEST-AFFECTED"], "{report}");
    assert_eq!(report["withdrawn_skipped"], 1);
    assert_eq!(report["vulnerabilities"][0]["severity"], "low");

    let out = no_home()
        .args(["scan", "deps", "--osv", osv_dir, "--fail-on", "low"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("at or above low"));

    // An SBOM file instead of the binary's own inventory.
    let sbom = osv.path().join("bom.json");
    run_ok(no_home().args([
        "sbom",
        "--format",
        "spdx",
        "--output",
        sbom.to_str().unwrap(),
    ]));
    let from_file = json_of(no_home().args([
        "scan",
        "deps",
        "--sbom",
        sbom.to_str().unwrap(),
        "--osv",
        osv_dir,
        "--json",
    ]));
    assert_eq!(from_file["vulnerabilities"], report["vulnerabilities"]);
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn secret_scans_find_deleted_secrets_in_history_and_guard_commits() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    // A fake Hugging Face token, assembled so this file holds no token-shaped string.
    let token = format!("hf_{}", "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh");
    std::fs::write(dir.join("train.py"), format!("HF_TOKEN = \"{token}\"\n")).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "add training script"]);
    std::fs::write(
        dir.join("train.py"),
        "HF_TOKEN = os.environ[\"HF_TOKEN\"]\n",
    )
    .unwrap();
    git(
        dir,
        &["commit", "-qam", "read the token from the environment"],
    );
    let root = dir.to_str().unwrap();

    run_ok(no_home().args(["scan", "secrets", root]));
    let out = no_home()
        .args(["scan", "secrets", root, "--git", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(finding["rule_id"], "huggingface-access-token", "{report}");
    assert_eq!(finding["path"], "train.py");
    assert!(finding["commit"].as_str().unwrap().len() >= 40);
    assert!(
        !report.to_string().contains(&token),
        "the secret itself is never printed"
    );

    let sarif = no_home()
        .args(["scan", "secrets", root, "--git", "--sarif"])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);

    // The hook refuses a commit that adds a secret.
    run_ok(no_home().args(["scan", "secrets", root, "--install-hook"]));
    std::fs::write(dir.join("leak.env"), format!("TOKEN={token}\n")).unwrap();
    git(dir, &["add", "leak.env"]);
    let binary = assert_cmd::cargo::cargo_bin("citadel");
    let commit = std::process::Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["commit", "-qm", "leak"])
        .env("CITADEL", &binary)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        !commit.status.success(),
        "the pre-commit hook let a secret through"
    );
}
