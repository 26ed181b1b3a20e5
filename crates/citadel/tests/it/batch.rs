//! `citadel batch predict` through the binary, on a quickstart home: predictions stored as new
//! versions with their model version and lineage, read back like any dataset, the caller's row
//! filters applied to what the model sees and carried to a new output, refusals without EXECUTE
//! on the model or SELECT on the input (audited), unreviewed or tampered versions refused, clear
//! column errors, and `--max-tokens`.

use serde_json::Value;

use super::harness::*;

const CHAMPION: &str = "prod.support.assistant@champion";
const INPUT: &str = "dev.support.prompts";
const OUTPUT: &str = "dev.support.predictions";

const PROMPTS: &str = r#"{"id":1,"region":"eu","prompt":"My invoice shows the wrong amount."}
{"id":2,"region":"us","prompt":"I cannot log in to my account."}
{"id":3,"region":"eu","prompt":"Please cancel my subscription."}
{"id":4,"region":"us","prompt":"The app crashes when I upload a file."}
"#;

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn ingest_prompts(home: &TestHome) {
    let path = home.root.parent().unwrap().join("prompts.jsonl");
    std::fs::write(&path, PROMPTS).unwrap();
    home.admin_ok(&["data", "ingest", path.to_str().unwrap(), "--as", INPUT]);
}

fn predict(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "batch", "predict", "--model", CHAMPION, "--input", INPUT, "--output", OUTPUT,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn read_rows(cmd: &mut assert_cmd::Command) -> Vec<Value> {
    run_ok(cmd).lines().map(json_of).collect()
}

fn batch_events(home: &TestHome) -> Vec<Value> {
    home.audit_events(&["--action", "batch.predict"])
}

#[test]
fn predictions_are_stored_as_new_versions_and_governed_like_any_data() {
    let (home, _) = TestHome::quickstart(None);
    ingest_prompts(&home);
    let champion = json_of(&home.admin_ok(&["model", "show", CHAMPION, "--json"]));
    let champion_version = champion["version"].as_u64().unwrap();

    // The admin predicts every row, greedily, with at most 6 tokens each.
    let report = json_of(&run_ok(home.admin().args(predict(&[
        "--max-tokens",
        "6",
        "--json",
    ]))));
    assert_eq!(report["model"], "prod.support.assistant");
    assert_eq!(report["model_version"], champion_version);
    assert_eq!(report["model_root_digest"], champion["root_digest"]);
    assert_eq!(report["input_version"], 1);
    assert_eq!(report["output"]["dataset"], OUTPUT);
    assert_eq!(report["output"]["version"], 1);
    assert_eq!(report["output"]["rows"], 4);
    assert_eq!(report["generation"]["rows"], 4);
    let source = &report["output"]["source"];
    assert_eq!(source["kind"], "batch_predict");
    assert_eq!(source["model"], "prod.support.assistant");
    assert_eq!(source["model_version"], champion_version);
    assert_eq!(source["input"], INPUT);
    assert_eq!(source["input_version"], 1);

    // Read back like any dataset: the input's columns plus the predictions.
    let rows = read_rows(home.admin().args(["data", "read", OUTPUT, "--json"]));
    assert_eq!(rows.len(), 4);
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    for row in &rows {
        assert!(row["prompt"].is_string(), "{row}");
        assert!(row["prediction"].is_string(), "{row}");
        assert_eq!(row["model"], "prod.support.assistant");
        assert_eq!(row["model_version"], champion_version);
        let at = row["predicted_at"].as_str().unwrap();
        assert!(
            at.len() >= 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "{at}"
        );
        assert!(row["prompt_tokens"].as_u64().unwrap() > 0, "{row}");
        let tokens = row["completion_tokens"].as_u64().unwrap();
        assert!((1..=6).contains(&tokens), "{row}");
        let finish = row["finish_reason"].as_str().unwrap();
        assert!(
            finish == "stop" || (finish == "length" && tokens == 6),
            "{row}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| !r["prediction"].as_str().unwrap().is_empty()),
        "the model said nothing at all: {rows:?}"
    );

    // --max-tokens caps every row, and greedy decoding is reproducible: the same prompts give
    // the same first tokens, so each shorter prediction begins the longer one.
    let second = json_of(&run_ok(home.admin().args(predict(&[
        "--max-tokens",
        "2",
        "--json",
    ]))));
    assert_eq!(
        second["output"]["version"], 2,
        "a new version, not a rewrite"
    );
    let short = read_rows(home.admin().args(["data", "read", &format!("{OUTPUT}@v2")]));
    assert_eq!(short.len(), 4);
    for (long, short) in rows.iter().zip(&short) {
        let tokens = short["completion_tokens"].as_u64().unwrap();
        assert!((1..=2).contains(&tokens), "{short}");
        if long["completion_tokens"].as_u64().unwrap() > 2 {
            assert_eq!(short["finish_reason"], "length", "{short}");
            assert_eq!(tokens, 2);
        }
        let (long, short) = (
            long["prediction"].as_str().unwrap(),
            short["prediction"].as_str().unwrap(),
        );
        assert!(
            long.trim_start().starts_with(short.trim()),
            "{short:?} does not begin {long:?}"
        );
    }

    // The version and its event commit together; the input was read (and audited) as a read.
    let events = batch_events(&home);
    let stored: Vec<&Value> = events
        .iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(stored.len(), 2, "{events:#?}");
    let params = &stored[0]["params"];
    assert_eq!(stored[0]["securable"], format!("dataset:{OUTPUT}"));
    assert_eq!(params["model"], "prod.support.assistant");
    assert_eq!(params["model_version"], champion_version);
    assert_eq!(params["input"], INPUT);
    assert_eq!(params["output"], OUTPUT);
    assert_eq!(params["rows"], 4);
    let reads = home.audit_events(&["--action", "dataset.read"]);
    assert!(reads
        .iter()
        .any(|e| e["securable"] == format!("dataset:{INPUT}")
            && e["outcome"] == "success"
            && e["params"]["rows_returned"] == 4));

    // A data scientist allowed to run the model sees only her rows, and the new output keeps
    // the input's row filter for its own readers.
    home.admin_ok(&[
        "grant",
        "USE_CATALOG",
        "ON",
        "catalog",
        "prod",
        "TO",
        "alice",
    ]);
    home.admin_ok(&[
        "grant",
        "USE_SCHEMA",
        "ON",
        "schema",
        "prod.support",
        "TO",
        "alice",
    ]);
    home.admin_ok(&[
        "grant",
        "EXECUTE",
        "ON",
        "model",
        "prod.support.assistant",
        "TO",
        "alice",
    ]);
    home.admin_ok(&["principal", "set-attribute", "alice", "regions", "eu"]);
    home.admin_ok(&[
        "data",
        "row-filter",
        "set",
        INPUT,
        "--where",
        "region IN viewer.regions",
    ]);
    let alice = home.token_for("alice");
    let theirs = json_of(&run_ok(home.as_token(&alice).args([
        "batch",
        "predict",
        "--model",
        CHAMPION,
        "--input",
        &format!("{INPUT}@v1"),
        "--output",
        "dev.support.eu_predictions",
        "--max-tokens",
        "2",
        "--json",
    ])));
    assert_eq!(theirs["generation"]["rows"], 2);
    assert_eq!(theirs["rows_filtered"], 2);
    let seen =
        read_rows(
            home.as_token(&alice)
                .args(["data", "read", "dev.support.eu_predictions"]),
        );
    let regions: Vec<&str> = seen.iter().map(|r| r["region"].as_str().unwrap()).collect();
    assert_eq!(regions, ["eu", "eu"]);
    let shown = json_of(&home.admin_ok(&["data", "show", "dev.support.eu_predictions", "--json"]));
    assert_eq!(
        shown["row_policy"]["filters"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
}

#[test]
fn refusals_are_clear_and_audited() {
    let (home, _) = TestHome::quickstart(None);
    ingest_prompts(&home);

    // alice may read dev.support and the prod model (SELECT), but not EXECUTE it.
    for args in [
        ["USE_CATALOG", "ON", "catalog", "prod"],
        ["USE_SCHEMA", "ON", "schema", "prod.support"],
        ["SELECT", "ON", "schema", "prod.support"],
    ] {
        let mut all = vec!["grant"];
        all.extend(args);
        all.extend(["TO", "alice"]);
        home.admin_ok(&all);
    }
    let alice = home.token_for("alice");
    let err = run_fails(
        home.as_token(&alice).args(predict(&["--max-tokens", "2"])),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("EXECUTE"), "{err}");
    assert!(err.contains("batch.predict"), "{err}");
    // bob may EXECUTE it but not SELECT the input.
    home.admin_ok(&[
        "grant",
        "EXECUTE",
        "ON",
        "model",
        "prod.support.assistant",
        "TO",
        "bob",
    ]);
    let bob = home.token_for("bob");
    let err = run_fails(
        home.as_token(&bob).args(predict(&["--max-tokens", "2"])),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("batch.predict"), "{err}");
    let denied: Vec<(String, String)> = batch_events(&home)
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .map(|e| {
            (
                e["actor_name"].as_str().unwrap().to_owned(),
                e["securable"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        denied.contains(&("alice".into(), "model:prod.support.assistant".into())),
        "{denied:?}"
    );
    assert!(
        denied.contains(&("bob".into(), format!("dataset:{INPUT}"))),
        "{denied:?}"
    );

    // A missing prompt column names the columns there are; a non-text one says so.
    let err = run_fails(
        home.admin()
            .args(predict(&["--column", "question", "--max-tokens", "2"])),
        EXIT_INVALID,
    );
    assert!(err.contains("no column `question`"), "{err}");
    for column in ["id", "region", "prompt"] {
        assert!(err.contains(column), "{column} missing: {err}");
    }
    let err = run_fails(
        home.admin()
            .args(predict(&["--column", "id", "--max-tokens", "2"])),
        EXIT_INVALID,
    );
    assert!(
        err.contains("column `id`") && err.contains("not text"),
        "{err}"
    );
    // A row without a text prompt stops the batch, naming the row and never its values.
    let gappy = home.root.parent().unwrap().join("gappy.jsonl");
    std::fs::write(
        &gappy,
        "{\"id\":1,\"prompt\":\"Where is my parcel?\"}\n{\"id\":2,\"prompt\":null}\n",
    )
    .unwrap();
    home.admin_ok(&[
        "data",
        "ingest",
        gappy.to_str().unwrap(),
        "--as",
        "dev.support.gappy",
    ]);
    let err = run_fails(
        home.admin().args([
            "batch",
            "predict",
            "--model",
            CHAMPION,
            "--input",
            "dev.support.gappy",
            "--output",
            OUTPUT,
            "--max-tokens",
            "2",
        ]),
        EXIT_INVALID,
    );
    assert!(err.contains("row 2") && err.contains("null"), "{err}");
    assert!(!err.contains("parcel"), "{err}");
    let last = batch_events(&home).pop().unwrap();
    assert_eq!(last["outcome"], "failed", "{last}");

    // In prod only approved versions run: an imported one waits for review.
    let folder = home.root.parent().unwrap().join("base");
    home.admin_ok(&[
        "model",
        "export",
        "dev.support.base@1",
        folder.to_str().unwrap(),
    ]);
    for signature in ["model.sig", "model.pub.pem"] {
        std::fs::remove_file(folder.join(signature)).unwrap();
    }
    home.admin_ok(&[
        "model",
        "import",
        folder.to_str().unwrap(),
        "--as",
        "prod.support.unreviewed",
    ]);
    let err = run_fails(
        home.admin().args([
            "batch",
            "predict",
            "--model",
            "prod.support.unreviewed@1",
            "--input",
            INPUT,
            "--output",
            OUTPUT,
        ]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("pending_review"), "{err}");

    // Weights that no longer match the signed manifest are never loaded.
    let shown = json_of(&home.admin_ok(&["model", "show", CHAMPION, "--json"]));
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
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    let err = run_fails(
        home.admin().args(predict(&["--max-tokens", "2"])),
        EXIT_INTEGRITY,
    );
    assert!(err.contains("model.safetensors"), "{err}");
    let events = batch_events(&home);
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "failed", "{last}");
    assert_eq!(last["params"]["model"], "prod.support.assistant");

    // Nothing was written by any of it.
    let err = run_fails(
        home.admin().args(["data", "show", OUTPUT]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("does not exist"), "{err}");
    assert!(batch_events(&home)
        .iter()
        .all(|e| e["outcome"] != "success"));
}
