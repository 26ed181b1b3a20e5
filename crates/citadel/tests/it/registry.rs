//! The registry and pipeline through the binary, on homes the quickstart builds: separation of
//! duties, failed gates that reject a version for good, alias protection, promotion that
//! re-verifies bytes, resume after SIGKILL, budgets, the ML-BOM against the CycloneDX 1.6 schema,
//! and lineage across promotions.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::*;

const DEV: &str = "dev.support.assistant@1";
const PROD_CHAMPION: &str = "prod.support.assistant@champion";

fn example_pipeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipeline.toml")
}

/// The example pipeline with `edit` applied, written into the home's folder.
fn pipeline_file(home: &TestHome, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = edit(std::fs::read_to_string(example_pipeline()).unwrap());
    let path = home.root.parent().unwrap().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn version(home: &TestHome, spec: &str) -> Value {
    json_of(&home.admin_ok(&["model", "show", spec, "--json"]))
}

fn denied(home: &TestHome, action: &str) -> Vec<Value> {
    home.audit_events(&["--action", action])
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect()
}

#[test]
fn quickstart_tells_the_whole_story_and_leaves_a_verifiable_home() {
    let (home, printed) = TestHome::quickstart(None);
    for expected in [
        "separation of duties",
        "champion in staging needs an approved version",
        "cleared for training",
        "chain intact",
    ] {
        assert!(
            printed.contains(expected),
            "{expected:?} missing:\n{printed}"
        );
    }
    let prod = version(&home, PROD_CHAMPION);
    assert_eq!(prod["status"], "approved");
    assert_eq!(prod["promoted_from"], "staging.support.assistant@1");
    assert_eq!(prod["gates_passed"], true);
    assert!(prod["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "adapter/adapter_model.safetensors"));
    home.admin_ok(&["model", "verify", PROD_CHAMPION]);

    // The card carries the decision and who made it; its front matter says approved.
    let card = home.admin_ok(&["model", "card", PROD_CHAMPION]);
    assert!(card.starts_with("---\n"), "{card}");
    assert!(card.contains("status: approved"), "{card}");
    assert!(card.contains("bob"), "{card}");
    assert!(card.contains("dev.support.tickets@v2"), "{card}");

    // The run is tracked: metrics for every step, the system figures, lineage, code version.
    let runs = json_of(&home.admin_ok(&["run", "list", "--json"]));
    let run = &runs[0];
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["steps_done"], 100);
    assert!(run["code_version"]
        .as_str()
        .unwrap()
        .starts_with("citadel "));
    assert!(run["summary"]["peak_rss_mib"].as_u64().unwrap() > 0);
    assert!(run["summary"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    let id = run["id"].as_str().unwrap();
    let svg = home.root.parent().unwrap().join("loss.svg");
    let shown = home.admin_ok(&["run", "show", id, "--svg", svg.to_str().unwrap()]);
    assert!(shown.contains("loss"), "{shown}");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let detail = json_of(&home.admin_ok(&["run", "show", id, "--json"]));
    assert_eq!(detail["metrics"]["loss"].as_array().unwrap().len(), 100);
    assert!(detail["metrics"]["eval_loss"].as_array().is_some());
    // Checkpoints beyond the last two are gone, their artifacts with them.
    assert_eq!(
        detail["checkpoints"].as_array().unwrap().len(),
        2,
        "{detail}"
    );
}

#[test]
fn lineage_and_bom_of_a_promoted_version() {
    let (home, _) = TestHome::quickstart(None);
    let lineage = json_of(&home.admin_ok(&["lineage", PROD_CHAMPION, "--json"]));
    let versions: Vec<&str> = lineage["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        [
            DEV,
            "staging.support.assistant@1",
            "prod.support.assistant@1"
        ]
    );
    let inputs: Vec<&str> = lineage["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        [
            "dev.support.tickets@v2",
            "dev.support.tickets_eval@v2",
            "dev.support.base@1"
        ]
    );
    assert!(lineage["run"]["name"].is_string());
    // The quickstart's endpoint serves the champion: its revision and share of traffic.
    assert_eq!(
        lineage["endpoints"],
        serde_json::json!([[
            "prod.support.assistant@1",
            {
                "kind": "endpoint",
                "name": "prod.endpoints.assistant",
                "detail": "revision 1, 100% of traffic"
            }
        ]])
    );
    let rendered = home.admin_ok(&["lineage", PROD_CHAMPION]);
    assert!(rendered.contains("champion"), "{rendered}");
    assert!(
        rendered.contains("▶ served by prod.endpoints.assistant (revision 1, 100% of traffic)"),
        "{rendered}"
    );
    // Someone who may read the model but not see the endpoint is not told it exists.
    let reader = home.user_with_token("lineage-reader");
    for (privilege, kind, name) in [
        ("USE_CATALOG", "catalog", "prod"),
        ("USE_SCHEMA", "schema", "prod.support"),
        ("SELECT", "schema", "prod.support"),
    ] {
        home.admin_ok(&["grant", privilege, "ON", kind, name, "TO", "lineage-reader"]);
    }
    let theirs = json_of(&run_ok(home.as_token(&reader).args([
        "lineage",
        PROD_CHAMPION,
        "--json",
    ])));
    assert_eq!(theirs["versions"], lineage["versions"]);
    assert_eq!(theirs["endpoints"], serde_json::json!([]));

    // The ML-BOM validates against the official CycloneDX 1.6 schema and names its parts.
    let bom = json_of(&home.admin_ok(&["model", "bom", PROD_CHAMPION]));
    let schemas =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../citadel-scan/tests/fixtures/schemas");
    let schema = json_of(&std::fs::read_to_string(schemas.join("bom-1.6.schema.json")).unwrap());
    let validator = jsonschema::options()
        .with_retriever(Schemas(schemas))
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator.iter_errors(&bom).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        bom["metadata"]["component"]["type"],
        "machine-learning-model"
    );
    assert_eq!(
        bom["metadata"]["component"]["name"],
        "prod.support.assistant"
    );
    let types: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"data"), "{types:?}");
    assert!(types.contains(&"machine-learning-model"), "{types:?}");
    assert!(types.contains(&"application"), "{types:?}");
    assert!(bom["metadata"]["component"]["modelCard"]["quantitativeAnalysis"].is_object());
}

/// Serves the schemas the CycloneDX schema references from the vendored folder.
struct Schemas(PathBuf);

impl jsonschema::Retrieve for Schemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        let name = name.split('#').next().unwrap_or_default();
        Ok(serde_json::from_str(&std::fs::read_to_string(
            self.0.join(name),
        )?)?)
    }
}

#[test]
fn separation_of_duties_alias_protection_and_reruns() {
    let (home, _) = TestHome::quickstart(None);
    let alice = home.token_for("alice");
    let bob = home.token_for("bob");
    let carol = home.token_for("carol");
    let file = pipeline_file(&home, "pipeline.toml", |t| t);
    let first =
        run_ok(
            home.as_token(&alice)
                .args(["pipeline", "run", file.to_str().unwrap(), "--json"]),
        );
    let report = json_of(&first);
    assert_eq!(report["version"]["version"], 2);
    assert_eq!(report["version"]["status"], "pending_review");
    assert_eq!(
        report["version"]["aliases"],
        serde_json::json!(["challenger"])
    );

    // Unchanged inputs: the run and the registration are reused, nothing retrains.
    let again = json_of(&run_ok(home.as_token(&alice).args([
        "pipeline",
        "run",
        file.to_str().unwrap(),
        "--json",
    ])));
    assert_eq!(again["run_id"], report["run_id"]);
    assert_eq!(again["version"]["version"], 2);
    let outcomes: Vec<&str> = again["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| ["train", "register"].contains(&s["stage"].as_str().unwrap()))
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["skipped", "skipped"]);

    // alice registered it: she holds APPROVE in dev.support, yet may not approve her own work.
    let spec = "dev.support.assistant@2";
    let err = run_fails(
        home.as_token(&alice)
            .args(["model", "approve", spec, "--comment", "mine, looks fine"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("separation of duties"), "{err}");
    assert!(denied(&home, "model.approve").iter().any(|e| e["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("separation of duties")));
    // carol holds no APPROVE at all.
    run_fails(
        home.as_token(&carol)
            .args(["model", "approve", spec, "--comment", "ok"]),
        EXIT_PERMISSION_DENIED,
    );
    // No comment, no decision.
    run_fails(
        home.as_token(&bob)
            .args(["model", "approve", spec, "--comment", " "]),
        EXIT_INVALID,
    );

    // champion in staging: only approved, gated, verified versions.
    run_ok(home.as_token(&carol).args([
        "model",
        "promote",
        spec,
        "--to",
        "staging.support.assistant",
    ]));
    let staged = "staging.support.assistant@2";
    let err = run_fails(
        home.as_token(&carol)
            .args(["model", "alias", "set", staged, "champion"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("needs an approved version"), "{err}");
    run_ok(
        home.as_token(&bob)
            .args(["model", "approve", staged, "--comment", "ok"]),
    );
    run_ok(
        home.as_token(&carol)
            .args(["model", "alias", "set", staged, "champion"]),
    );
    assert_eq!(
        version(&home, "staging.support.assistant@champion")["version"],
        2
    );
    // Only MANAGE moves aliases: bob may approve but not point champion.
    run_fails(
        home.as_token(&bob).args([
            "model",
            "alias",
            "set",
            "staging.support.assistant@1",
            "champion",
        ]),
        EXIT_PERMISSION_DENIED,
    );
    // Straight from dev to prod is refused: prod takes versions approved in staging.
    let err = run_fails(
        home.as_token(&carol)
            .args(["model", "promote", spec, "--to", "prod.support.assistant"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("approved in staging"), "{err}");
}

#[test]
fn failed_gates_reject_the_version_for_good() {
    let (home, _) = TestHome::quickstart(None);
    let alice = home.token_for("alice");
    let bob = home.token_for("bob");
    let carol = home.token_for("carol");
    let file = pipeline_file(&home, "strict.toml", |t| {
        t.replace("max_eval_loss = 1.5", "max_eval_loss = 0.05")
    });
    let report = json_of(&run_ok(home.as_token(&alice).args([
        "pipeline",
        "run",
        file.to_str().unwrap(),
        "--json",
    ])));
    let spec = "dev.support.assistant@2";
    assert_eq!(report["version"]["status"], "rejected");
    assert_eq!(report["version"]["gates_passed"], false);
    assert!(report["version"]["aliases"].as_array().unwrap().is_empty());
    let reason = report["version"]["status_reason"].as_str().unwrap();
    assert!(reason.contains("evaluation loss"), "{reason}");

    let err = run_fails(
        home.as_token(&bob)
            .args(["model", "approve", spec, "--comment", "please"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("gates"), "{err}");
    run_fails(
        home.admin()
            .args(["model", "alias", "set", spec, "champion"]),
        EXIT_PERMISSION_DENIED,
    );
    run_fails(
        home.as_token(&carol).args([
            "model",
            "promote",
            spec,
            "--to",
            "staging.support.assistant",
        ]),
        EXIT_PERMISSION_DENIED,
    );
    // The card says why.
    let card = home.admin_ok(&["model", "card", spec]);
    assert!(card.contains("❌"), "{card}");
}

#[test]
fn promotion_reverifies_every_byte() {
    let (home, _) = TestHome::quickstart(None);
    let shown = version(&home, DEV);
    let sha = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = files_under(&home.path("artifacts"))
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == sha)
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&blob, &bytes).unwrap();
    let carol = home.token_for("carol");
    let err = run_fails(
        home.as_token(&carol)
            .args(["model", "promote", DEV, "--to", "staging.support.copy"]),
        EXIT_INTEGRITY,
    );
    assert!(err.contains("model.safetensors"), "{err}");
    let failed: Vec<Value> = home
        .audit_events(&["--action", "model.promote"])
        .into_iter()
        .filter(|e| e["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    // Nothing was registered (asking for a model that does not exist is refused like one you
    // may not see).
    run_fails(
        home.admin().args(["model", "show", "staging.support.copy"]),
        EXIT_PERMISSION_DENIED,
    );
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let (home, _) = TestHome::quickstart(None);
    let alice = home.token_for("alice");
    let file = pipeline_file(&home, "long.toml", |t| {
        t.replace("max_steps = 100 ", "max_steps = 400 ")
            .replace("checkpoint_every = 20", "checkpoint_every = 10")
            .replace("max_steps = 200\n", "max_steps = 1000\n")
            .replace("max_tokens = 1_000_000", "max_tokens = 10_000_000")
    });
    let mut child = Reaped(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("citadel"))
            .args([
                "--home",
                home.root.to_str().unwrap(),
                "pipeline",
                "run",
                file.to_str().unwrap(),
            ])
            .env("CITADEL_TOKEN", &alice)
            .env_remove("CITADEL_HOME")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait for a checkpoint past step 20, then kill -9 mid-training.
    let deadline = Instant::now() + Duration::from_secs(240);
    let killed_at = loop {
        assert!(Instant::now() < deadline, "no checkpoint within 240 s");
        let runs = json_of(&home.admin_ok(&["run", "list", "--json"]));
        let steps = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "running")
            .map_or(0, |r| r["steps_done"].as_u64().unwrap());
        if steps >= 20 {
            child.kill();
            break steps;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let runs = json_of(&home.admin_ok(&["run", "list", "--json"]));
    assert_eq!(
        runs[0]["status"], "running",
        "the dead run still says running"
    );
    assert!(
        runs[0]["steps_done"].as_u64().unwrap() < 400,
        "killed before the end"
    );

    let report = json_of(&run_ok(home.as_token(&alice).args([
        "pipeline",
        "run",
        file.to_str().unwrap(),
        "--json",
    ])));
    let train = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "train")
        .unwrap();
    assert_eq!(train["outcome"], "resumed", "{train}");
    assert!(
        train["detail"]
            .as_str()
            .unwrap()
            .contains("resumed from step"),
        "{train}"
    );
    let detail =
        json_of(&home.admin_ok(&["run", "show", report["run_id"].as_str().unwrap(), "--json"]));
    assert_eq!(detail["run"]["status"], "succeeded");
    assert_eq!(detail["run"]["attempts"], 2);
    assert_eq!(detail["run"]["steps_done"], 400);
    let resumed_from = detail["run"]["summary"]["resumed_from_step"]
        .as_u64()
        .unwrap();
    assert!(
        resumed_from >= 10 && resumed_from <= killed_at,
        "{resumed_from} vs {killed_at}"
    );
    assert_eq!(detail["metrics"]["loss"].as_array().unwrap().len(), 400);
    assert_eq!(report["version"]["status"], "pending_review");
    assert_eq!(
        home.audit_events(&["--action", "run.resume"]).len(),
        1,
        "the takeover is audited"
    );
}

/// A child process killed with SIGKILL and reaped, at the latest when the test ends.
struct Reaped(std::process::Child);

impl Reaped {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn budgets_warn_at_80_percent_and_refuse_beyond() {
    let (home, _) = TestHome::quickstart(None);
    let alice = home.token_for("alice");
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    // A run may take its wall-time limit (36 s here) on every core: 0.01 CPU-hours per core.
    let file = pipeline_file(&home, "budget.toml", |t| {
        t.replace("max_wall_seconds = 3600", "max_wall_seconds = 36")
    });
    let config = home.path("citadel.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let requested = 0.01 * cores;
    let already = json_of(&home.admin_ok(&["run", "list", "--json"]))[0]["cpu_seconds"]
        .as_f64()
        .unwrap()
        / 3600.0;
    std::fs::write(
        &config,
        format!(
            "{original}\n[budgets.\"dev\"]\ncpu_hours = {}\nprice_per_hour = 0.5\n",
            (already + requested) / 0.9
        ),
    )
    .unwrap();
    run_ok(
        home.as_token(&alice)
            .args(["pipeline", "run", file.to_str().unwrap()]),
    );
    let warnings = home.audit_events(&["--action", "budget.warning"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    std::fs::write(
        &config,
        format!("{original}\n[budgets.\"dev.support\"]\ncpu_hours = 0.001\n"),
    )
    .unwrap();
    let other = pipeline_file(&home, "budget2.toml", |t| {
        t.replace("max_wall_seconds = 3600", "max_wall_seconds = 36")
            .replace("seed = 1 ", "seed = 2 ")
    });
    let err = run_fails(
        home.as_token(&alice)
            .args(["pipeline", "run", other.to_str().unwrap()]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("budget"), "{err}");
    assert_eq!(denied(&home, "run.start").len(), 1);
}
