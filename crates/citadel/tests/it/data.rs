//! Datasets through the binary: masks and row filters per principal, the training guard and
//! waivers, time travel, retention, and erasure checked by decrypting every stored blob.

use std::path::PathBuf;

use super::harness::*;

const NAME: &str = "dev.data.people";

const PEOPLE: &str = r#"{"id":1,"name":"Ann Lee","email":"ann@example.com","region":"eu","note":"card 4111 1111 1111 1111"}
{"id":2,"name":"Bob Roe","email":"bob@example.com","region":"us","note":"nothing here"}
{"id":3,"name":"Cat Poe","email":"cat@example.com","region":"eu","note":"call +1 415 555 2671"}
"#;

fn write(home: &TestHome, file: &str, text: &str) -> PathBuf {
    let path = home.path(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn ingest(home: &TestHome, file: &str, text: &str) -> serde_json::Value {
    let path = write(home, file, text);
    let out = home.admin_ok(&[
        "data",
        "ingest",
        path.to_str().unwrap(),
        "--as",
        NAME,
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

fn read_rows(cmd: &mut assert_cmd::Command) -> Vec<serde_json::Value> {
    run_ok(cmd)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A user with USE on dev / dev.data and SELECT on the dataset.
fn reader(home: &TestHome, name: &str) -> String {
    let token = home.user_with_token(name);
    home.grant_use_dev_data(name);
    home.admin_ok(&["grant", "SELECT", "ON", "dataset", NAME, "TO", name]);
    token
}

#[test]
fn masks_and_row_filters_apply_per_principal() {
    let home = TestHome::init();
    let v1 = ingest(&home, "people.jsonl", PEOPLE);
    assert_eq!(v1["rows"], 3);
    assert_eq!(v1["version"], 1);
    let analyst = reader(&home, "analyst");
    let privileged = reader(&home, "privileged");
    home.admin_ok(&["principal", "create", "group", "pii_readers"]);
    home.admin_ok(&["group", "add-member", "pii_readers", "privileged"]);
    home.admin_ok(&["principal", "set-attribute", "analyst", "regions", "eu"]);
    home.admin_ok(&[
        "principal",
        "set-attribute",
        "privileged",
        "regions",
        "eu",
        "us",
    ]);
    home.admin_ok(&[
        "data",
        "mask",
        "set",
        NAME,
        "--column",
        "email",
        "--function",
        "mask_email",
        "--exempt-group",
        "pii_readers",
    ]);
    home.admin_ok(&[
        "data",
        "row-filter",
        "set",
        NAME,
        "--where",
        "region IN viewer.regions",
    ]);

    let seen = read_rows(home.as_token(&analyst).args(["data", "read", NAME]));
    let ids: Vec<i64> = seen.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1, 3], "only the analyst's region");
    assert_eq!(seen[0]["email"], "a***@example.com");
    let all = read_rows(home.as_token(&privileged).args(["data", "read", NAME]));
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0]["email"], "ann@example.com",
        "the exempt group sees the value"
    );
    // A principal with no attribute sees nothing (deny by default).
    let stranger = reader(&home, "stranger");
    assert!(read_rows(home.as_token(&stranger).args(["data", "read", NAME])).is_empty());
    // Without SELECT: refused, and the denial audited.
    let outsider = home.user_with_token("outsider");
    run_fails(
        home.as_token(&outsider).args(["data", "read", NAME]),
        EXIT_PERMISSION_DENIED,
    );
    let reads = home.audit_events(&["--action", "dataset.read"]);
    assert!(reads
        .iter()
        .any(|e| e["actor_name"] == "outsider" && e["outcome"] == "denied"));
    let analyst_read = reads.iter().find(|e| e["actor_name"] == "analyst").unwrap();
    assert_eq!(analyst_read["params"]["rows_returned"], 2);
    assert_eq!(analyst_read["params"]["rows_filtered"], 1);
    // Readers cannot change the rules.
    run_fails(
        home.as_token(&analyst)
            .args(["data", "mask", "drop", NAME, "--column", "email"]),
        EXIT_PERMISSION_DENIED,
    );
}

#[test]
fn versions_are_immutable_and_readable_back_in_time() {
    let home = TestHome::init();
    ingest(&home, "a.jsonl", PEOPLE);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let csv = write(
        &home,
        "b.csv",
        "id,name,email,region\n9,Dan Fox,dan@example.com,eu\n",
    );
    run_ok(
        home.admin()
            .args(["data", "ingest", csv.to_str().unwrap(), "--as", NAME]),
    );
    assert_eq!(
        read_rows(home.admin().args(["data", "read", NAME])).len(),
        1
    );
    assert_eq!(
        read_rows(home.admin().args(["data", "read", &format!("{NAME}@v1")])).len(),
        3
    );
    let at = format!("{NAME}@{between}");
    assert_eq!(read_rows(home.admin().args(["data", "read", &at])).len(), 3);
    let versions: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["data", "versions", NAME, "--json"])).unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["source"]["format"], "csv");
    let columns = versions[1]["schema"]["columns"].as_array().unwrap();
    let id = columns.iter().find(|c| c["name"] == "id").unwrap();
    assert_eq!(id["data_type"], "integer", "CSV values are typed");
    // Malformed input is refused with the line, and nothing is stored.
    let bad = write(&home, "bad.jsonl", "{\"id\":1}\nnot json\n");
    let err = run_fails(
        home.admin()
            .args(["data", "ingest", bad.to_str().unwrap(), "--as", NAME]),
        EXIT_INVALID,
    );
    assert!(err.contains("line 2"), "{err}");
    let after: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["data", "versions", NAME, "--json"])).unwrap();
    assert_eq!(after.len(), 2);
}

#[test]
fn the_training_guard_refuses_pii_until_a_waiver_is_approved() {
    let home = TestHome::init();
    ingest(&home, "people.jsonl", PEOPLE);
    let spec = format!("{NAME}@v1");
    // Not scanned yet: refused.
    let err = run_fails(
        home.admin().args(["data", "check-training", &spec]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("citadel data scan"), "{err}");
    let verdict: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["data", "scan", &spec, "--json"])).unwrap();
    assert_eq!(verdict["high_confidence_unredacted"], true);
    assert_eq!(verdict["columns"]["email"]["EMAIL_ADDRESS"], 3);
    let samples = verdict["samples"].to_string();
    assert!(
        !samples.contains("ann@example.com"),
        "samples are masked: {samples}"
    );
    run_fails(
        home.admin().args(["data", "check-training", &spec]),
        EXIT_PERMISSION_DENIED,
    );

    // The scientist requests a waiver; they cannot approve their own, the admin can.
    let scientist = reader(&home, "scientist");
    home.admin_ok(&["grant", "MANAGE", "ON", "dataset", NAME, "TO", "scientist"]);
    let waiver: serde_json::Value =
        serde_json::from_str(&run_ok(home.as_token(&scientist).args([
            "data",
            "waive",
            "request",
            &spec,
            "--justification",
            "synthetic test data",
            "--expires-in",
            "7d",
            "--json",
        ])))
        .unwrap();
    let id = waiver["id"].as_str().unwrap();
    run_fails(
        home.as_token(&scientist)
            .args(["data", "waive", "approve", id]),
        EXIT_PERMISSION_DENIED,
    );
    run_fails(
        home.as_token(&scientist)
            .args(["data", "check-training", &spec]),
        EXIT_PERMISSION_DENIED,
    );
    home.admin_ok(&["data", "waive", "approve", id]);
    let clearance: serde_json::Value =
        serde_json::from_str(&run_ok(home.as_token(&scientist).args([
            "data",
            "check-training",
            &spec,
            "--json",
        ])))
        .unwrap();
    assert_eq!(clearance["waiver"], id);
    let refusals =
        home.audit_events(&["--action", "dataset.training_check", "--outcome", "denied"]);
    assert_eq!(refusals.len(), 3);

    // An anonymized version scans clean of the replaced entities and needs no waiver.
    let policy = write(
        &home,
        "policy.toml",
        "default = \"replace\"\n[columns]\nname = { operator = \"redact\", whole = true }\n",
    );
    let v2: serde_json::Value = serde_json::from_str(&home.admin_ok(&[
        "data",
        "anonymize",
        &spec,
        "--policy",
        policy.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v2["source"]["kind"], "anonymize");
    assert_eq!(v2["source"]["from_version"], 1);
    let v2_spec = format!("{NAME}@v2");
    let clean: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["data", "scan", &v2_spec, "--json"])).unwrap();
    assert_eq!(clean["high_confidence_unredacted"], false, "{clean}");
    home.admin_ok(&["data", "check-training", &v2_spec]);
}

#[test]
fn retention_gc_deletes_bytes_and_keeps_tombstones() {
    let home = TestHome::init();
    for i in 0..3 {
        ingest(&home, &format!("v{i}.jsonl"), &format!("{{\"id\":{i}}}\n"));
    }
    let artifacts = || {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&home.admin_ok(&["artifact", "list", "--json"])).unwrap();
        list.len()
    };
    assert_eq!(artifacts(), 3);
    home.admin_ok(&["data", "retention", "set", NAME, "--keep-versions", "1"]);
    let reports: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["data", "gc", "--json"])).unwrap();
    assert_eq!(reports[0]["deleted_versions"], serde_json::json!([1, 2]));
    assert_eq!(artifacts(), 1);
    let versions: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["data", "versions", NAME, "--json"])).unwrap();
    assert_eq!(versions.len(), 3, "tombstones stay");
    assert!(!versions[0]["deleted_at"].is_null());
    assert!(versions[2]["deleted_at"].is_null());
    let err = run_fails(
        home.admin().args(["data", "read", &format!("{NAME}@v1")]),
        EXIT_INVALID,
    );
    assert!(err.contains("deleted"), "{err}");
    assert_eq!(
        home.audit_events(&["--action", "dataset.gc", "--outcome", "success"])
            .len(),
        1
    );
}

#[test]
fn erasure_leaves_no_trace_in_any_stored_version() {
    let home = TestHome::init();
    ingest(&home, "v1.jsonl", PEOPLE);
    ingest(
        &home,
        "v2.jsonl",
        &format!("{PEOPLE}{{\"id\":4,\"email\":\"ann@example.com\",\"region\":\"us\"}}\n"),
    );
    let report: serde_json::Value = serde_json::from_str(&home.admin_ok(&[
        "data",
        "erase",
        NAME,
        "--where",
        "email=ann@example.com",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["rows_erased"], 3);
    assert_eq!(report["versions_rewritten"], serde_json::json!([1, 2]));
    assert_eq!(report["new_version"], 3);
    assert_eq!(
        read_rows(home.admin().args(["data", "read", NAME])).len(),
        2
    );
    assert_eq!(
        read_rows(home.admin().args(["data", "read", &format!("{NAME}@v1")])).len(),
        2
    );

    // Decrypt every stored artifact: the value is gone from all of them.
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["artifact", "list", "--json"])).unwrap();
    assert!(!list.is_empty());
    for (i, artifact) in list.iter().enumerate() {
        let out = home.path(&format!("blob-{i}"));
        home.admin_ok(&[
            "artifact",
            "get",
            artifact["digest"].as_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            !text.contains("ann@example.com"),
            "artifact {i} still holds the value"
        );
        assert!(text.contains("bob@example.com"));
    }
    // Nor is it in the audit log, which records the erasure with a salted hash.
    let export = home.admin_ok(&["audit", "export", "--format", "jsonl"]);
    assert!(!export.contains("ann@example.com"));
    let erasures = home.audit_events(&["--action", "dataset.erase"]);
    assert_eq!(
        erasures[0]["params"]["value_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn finetune_trains_only_on_versions_the_guard_clears() {
    let home = TestHome::init();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../citadel-engine/tests/fixtures/tiny-llama");
    let rows: String = (0..8)
        .map(|i| format!("{{\"text\":\"the weather today is mild, item {i}\"}}\n"))
        .collect();
    let path = write(&home, "chat.jsonl", &rows);
    home.admin_ok(&[
        "data",
        "ingest",
        path.to_str().unwrap(),
        "--as",
        "dev.data.chat",
    ]);
    let out = home.path("adapter");
    let finetune = |home: &TestHome| {
        home.admin()
            .args([
                "finetune",
                "--model",
                model.to_str().unwrap(),
                "--dataset",
                "dev.data.chat@v1",
                "--out",
                out.to_str().unwrap(),
                "--max-steps",
                "1",
                "--batch",
                "2",
            ])
            .output()
            .unwrap()
    };
    let refused = finetune(&home);
    assert_eq!(
        refused.status.code(),
        Some(EXIT_PERMISSION_DENIED),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("citadel data scan"));
    assert!(!out.exists());
    home.admin_ok(&["data", "scan", "dev.data.chat@v1"]);
    let trained = finetune(&home);
    assert!(trained.status.success(), "{}", stderr(&trained));
    assert!(stderr(&trained).contains("8 row(s)"));
    assert!(out.join("adapter_model.safetensors").exists());
}
