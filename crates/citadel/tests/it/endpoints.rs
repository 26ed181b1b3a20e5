//! Serving endpoints through the binary: pinned versions from aliases, traffic splits and their
//! validation, updates and rollbacks as append-only revisions, the serving rules of prod
//! (approved, gated, same catalog), MANAGE/EXECUTE grants and DENY, deletion, the `--json`
//! shapes, and the audit events of each.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::harness::*;

fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../citadel-engine/tests/fixtures/tiny-llama")
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn import(home: &TestHome, name: &str) {
    let model = fixture_model();
    home.admin_ok(&["model", "import", model.to_str().unwrap(), "--as", name]);
}

fn show(home: &TestHome, name: &str) -> Value {
    json_of(&home.admin_ok(&["endpoint", "show", name, "--json"]))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

fn events(home: &TestHome, action: &str, outcome: &str) -> Vec<Value> {
    home.audit_events(&["--action", action])
        .into_iter()
        .filter(|e| e["outcome"] == outcome)
        .collect()
}

/// A user with APPROVE on `schema` (and the way in), to review versions the admin registered.
fn reviewer(home: &TestHome, schema: &str) -> String {
    let token = home.user_with_token("rita");
    let catalog = schema.split('.').next().unwrap();
    home.admin_ok(&[
        "grant",
        "USE_CATALOG",
        "ON",
        "catalog",
        catalog,
        "TO",
        "rita",
    ]);
    for privilege in ["USE_SCHEMA", "APPROVE"] {
        home.admin_ok(&["grant", privilege, "ON", "schema", schema, "TO", "rita"]);
    }
    token
}

fn write(home: &TestHome, name: &str, text: &str) -> String {
    let path = home.root.parent().unwrap().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn dev_endpoint_traffic_updates_and_rollbacks() {
    let home = TestHome::init();
    import(&home, "dev.models.bot");
    import(&home, "dev.models.bot");

    let created = json_of(&home.admin_ok(&[
        "endpoint",
        "create",
        "dev.endpoints.bot",
        "--model",
        "dev.models.bot@1",
        "--json",
    ]));
    assert_eq!(created["name"], "dev.endpoints.bot");
    assert_eq!(created["owner"], "admin");
    assert_eq!(created["revision"], 1);
    assert!(created["id"].as_str().unwrap().len() >= 32);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(created.get("history").is_none(), "{created}");
    let config = &created["config"];
    assert_eq!(config["model"], "dev.models.bot");
    assert_eq!(
        config["traffic"],
        serde_json::json!([{"version": 1, "weight": 100}])
    );
    assert_eq!(config["limits"]["per_principal_requests_per_minute"], 600);
    assert!(config["limits"]["endpoint_requests_per_minute"].is_null());
    assert_eq!(config["max_concurrency"], 4);
    assert_eq!(config["max_queue"], 64);
    assert_eq!(config["idle_unload_secs"], 900);
    assert_eq!(config["log"]["payloads"], "redacted");
    assert_eq!(config["log"]["sample_rate"], 1.0);
    assert_eq!(config["guardrails"]["injection"], "block");

    let err = run_fails(
        home.admin().args([
            "endpoint",
            "create",
            "dev.endpoints.bot",
            "--model",
            "dev.models.bot@1",
        ]),
        EXIT_INVALID,
    );
    assert!(err.contains("already exists"), "{err}");
    let err = run_fails(
        home.admin().args([
            "endpoint",
            "create",
            "dev.endpoints.x",
            "--model",
            "dev.models.bot",
        ]),
        EXIT_INVALID,
    );
    assert!(err.contains("name the version to serve"), "{err}");

    // Traffic splits are checked before anything is written.
    for (traffic, model, expected) in [
        ("1=90,2=20", "dev.models.bot", "the weights sum to 110"),
        ("1=50,1=50", "dev.models.bot", "version 1 is routed twice"),
        (
            "1=90,7=10",
            "dev.models.bot",
            "\"dev.models.bot@7\" does not exist",
        ),
        ("one=100", "dev.models.bot", "e.g. 3=90,4=10"),
        ("2=100", "dev.models.bot@1", "does not route"),
    ] {
        let err = run_fails(
            home.admin().args([
                "endpoint",
                "create",
                "dev.endpoints.split",
                "--model",
                model,
                "--traffic",
                traffic,
            ]),
            EXIT_INVALID,
        );
        assert!(err.contains(expected), "{traffic}: {err}");
    }
    let list = json_of(&home.admin_ok(&["endpoint", "list", "--json"]));
    assert_eq!(names(&list), ["dev.endpoints.bot"]);

    // Revision 2: a split; revision 3: other settings from a file, the split kept.
    let out = home.admin_ok(&[
        "endpoint",
        "update",
        "dev.endpoints.bot",
        "--traffic",
        "1=90,2=10",
    ]);
    assert!(out.contains("revision 2"), "{out}");
    let settings = write(
        &home,
        "settings.toml",
        "max_concurrency = 2\n[limits]\nendpoint_requests_per_minute = 1000\n\
         [guardrails]\noutput_pii = \"block\"\n",
    );
    home.admin_ok(&[
        "endpoint",
        "update",
        "dev.endpoints.bot",
        "--config",
        &settings,
    ]);
    let third = show(&home, "dev.endpoints.bot");
    assert_eq!(third["revision"], 3);
    assert_eq!(third["config"]["max_concurrency"], 2);
    assert_eq!(
        third["config"]["limits"]["endpoint_requests_per_minute"],
        1000
    );
    assert_eq!(
        third["config"]["limits"]["per_principal_requests_per_minute"],
        600
    );
    assert_eq!(third["config"]["guardrails"]["output_pii"], "block");
    assert_eq!(
        third["config"]["traffic"][1],
        serde_json::json!({"version": 2, "weight": 10})
    );

    let bad = write(&home, "bad.toml", "replicas = 3\n");
    let err = run_fails(
        home.admin()
            .args(["endpoint", "update", "dev.endpoints.bot", "--config", &bad]),
        EXIT_INVALID,
    );
    assert!(
        err.contains("bad.toml") && err.contains("replicas"),
        "{err}"
    );
    let err = run_fails(
        home.admin()
            .args(["endpoint", "update", "dev.endpoints.bot"]),
        EXIT_INVALID,
    );
    assert!(err.contains("nothing to change"), "{err}");
    let err = run_fails(
        home.admin().args([
            "endpoint",
            "update",
            "dev.endpoints.bot",
            "--traffic",
            "1=90,2=10",
        ]),
        EXIT_INVALID,
    );
    assert!(err.contains("already has this configuration"), "{err}");

    // A rollback restores the previous configuration as a new revision; a second one returns
    // to the newer configuration.
    let out = home.admin_ok(&["endpoint", "rollback", "dev.endpoints.bot"]);
    assert!(out.contains("revision 4"), "{out}");
    let fourth = show(&home, "dev.endpoints.bot");
    assert_eq!(fourth["config"], fourth["history"][1]["config"]);
    assert_eq!(fourth["config"]["max_concurrency"], 4);
    home.admin_ok(&["endpoint", "rollback", "dev.endpoints.bot"]);
    let fifth = show(&home, "dev.endpoints.bot");
    assert_eq!(fifth["revision"], 5);
    assert_eq!(fifth["config"], third["config"]);
    let history = fifth["history"].as_array().unwrap();
    let changes: Vec<(&str, &Value)> = history
        .iter()
        .map(|r| (r["change"].as_str().unwrap(), &r["restored"]))
        .collect();
    assert_eq!(
        changes,
        [
            ("create", &Value::Null),
            ("update", &Value::Null),
            ("update", &Value::Null),
            ("rollback", &serde_json::json!(2)),
            ("rollback", &serde_json::json!(3)),
        ]
    );
    assert!(history.iter().all(|r| r["created_by"] == "admin"));
    let table = home.admin_ok(&["endpoint", "show", "dev.endpoints.bot"]);
    assert!(
        table.contains("rollback to 3") && table.contains("v1 90%, v2 10%"),
        "{table}"
    );

    // A rejected version can never serve, by update or by rollback.
    let rita = reviewer(&home, "dev.models");
    run_ok(home.as_token(&rita).args([
        "model",
        "reject",
        "dev.models.bot@2",
        "--comment",
        "hallucinates",
    ]));
    let err = run_fails(
        home.admin().args([
            "endpoint",
            "update",
            "dev.endpoints.bot",
            "--traffic",
            "1=50,2=50",
        ]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("dev.models.bot@2 is rejected"), "{err}");
    let err = run_fails(
        home.admin()
            .args(["endpoint", "rollback", "dev.endpoints.bot"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("dev.models.bot@2 is rejected"), "{err}");
    home.admin_ok(&[
        "endpoint",
        "update",
        "dev.endpoints.bot",
        "--model",
        "dev.models.bot@1",
    ]);
    assert_eq!(show(&home, "dev.endpoints.bot")["revision"], 6);

    assert_eq!(events(&home, "endpoint.create", "success").len(), 1);
    assert_eq!(events(&home, "endpoint.update", "success").len(), 3);
    assert_eq!(events(&home, "endpoint.rollback", "success").len(), 2);
    let refused = events(&home, "endpoint.update", "denied");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["securable"], "endpoint:dev.endpoints.bot");
    assert_eq!(events(&home, "endpoint.rollback", "denied").len(), 1);
    let rolled = &events(&home, "endpoint.rollback", "success")[0];
    assert_eq!(rolled["params"]["restored"], 2);
    assert_eq!(rolled["params"]["traffic"], "1=90,2=10");

    home.admin_ok(&["endpoint", "delete", "dev.endpoints.bot"]);
    let list = json_of(&home.admin_ok(&["endpoint", "list", "--json"]));
    assert!(names(&list).is_empty());
    run_fails(
        home.admin().args(["endpoint", "show", "dev.endpoints.bot"]),
        EXIT_PERMISSION_DENIED,
    );
    assert_eq!(events(&home, "endpoint.delete", "success").len(), 1);
}

#[test]
fn prod_serves_only_approved_gated_versions_of_prod_models() {
    let home = TestHome::init();
    import(&home, "prod.models.bot");
    import(&home, "dev.models.bot");
    let create = |model: &str| {
        run_fails(
            home.admin()
                .args(["endpoint", "create", "prod.endpoints.bot", "--model", model]),
            EXIT_PERMISSION_DENIED,
        )
    };
    let err = create("prod.models.bot@1");
    assert!(
        err.contains("prod.models.bot@1 is pending_review")
            && err.contains("serves only approved versions"),
        "{err}"
    );
    let rita = reviewer(&home, "prod.models");
    run_ok(home.as_token(&rita).args([
        "model",
        "approve",
        "prod.models.bot@1",
        "--comment",
        "looks fine",
    ]));
    // Approved, but an imported version has no gate report: still not for prod.
    let err = create("prod.models.bot@1");
    assert!(err.contains("no passed quality gates"), "{err}");
    let err = create("dev.models.bot@1");
    assert!(
        err.contains("an endpoint in prod serves only models from prod")
            && err.contains("dev.models.bot is in dev"),
        "{err}"
    );
    import(&home, "prod.models.bot");
    run_ok(
        home.as_token(&rita)
            .args(["model", "reject", "prod.models.bot@2", "--comment", "no"]),
    );
    let err = create("prod.models.bot@2");
    assert!(err.contains("prod.models.bot@2 is rejected"), "{err}");

    let denied = events(&home, "endpoint.create", "denied");
    assert_eq!(denied.len(), 4);
    assert!(denied
        .iter()
        .all(|e| e["securable"] == "endpoint:prod.endpoints.bot"));
    assert!(denied[1]["reason"]
        .as_str()
        .unwrap()
        .contains("no passed quality gates"));
    assert!(events(&home, "endpoint.create", "success").is_empty());
    let list = json_of(&home.admin_ok(&["endpoint", "list", "--json"]));
    assert!(names(&list).is_empty());
}

#[test]
fn the_prod_champion_serves_behind_manage_execute_and_deny() {
    let (home, _) = TestHome::quickstart(None);
    // The quickstart deployed the champion already: start over.
    home.admin_ok(&["endpoint", "delete", "prod.endpoints.assistant"]);
    let champion =
        json_of(&home.admin_ok(&["model", "show", "prod.support.assistant@champion", "--json"]));
    let created = json_of(&home.admin_ok(&[
        "endpoint",
        "create",
        "prod.endpoints.assistant",
        "--model",
        "prod.support.assistant@champion",
        "--json",
    ]));
    assert_eq!(created["config"]["model"], "prod.support.assistant");
    assert_eq!(
        created["config"]["traffic"],
        serde_json::json!([{"version": champion["version"], "weight": 100}])
    );

    // dave needs MANAGE on the schema, then EXECUTE on the model (and the way to it); he owns
    // what he creates.
    let dave = home.user_with_token("dave");
    home.admin_ok(&[
        "grant",
        "USE_CATALOG",
        "ON",
        "catalog",
        "prod",
        "TO",
        "dave",
    ]);
    let create_as_dave = || {
        let mut cmd = home.as_token(&dave);
        cmd.args([
            "endpoint",
            "create",
            "prod.endpoints.dave",
            "--model",
            "prod.support.assistant@champion",
        ]);
        cmd
    };
    let err = run_fails(&mut create_as_dave(), EXIT_PERMISSION_DENIED);
    assert!(err.contains("MANAGE on prod.endpoints"), "{err}");
    home.admin_ok(&[
        "grant",
        "MANAGE",
        "ON",
        "schema",
        "prod.endpoints",
        "TO",
        "dave",
    ]);
    let err = run_fails(&mut create_as_dave(), EXIT_PERMISSION_DENIED);
    assert!(
        err.contains("EXECUTE on model prod.support.assistant"),
        "{err}"
    );
    let denied = events(&home, "endpoint.create", "denied");
    assert_eq!(
        denied.last().unwrap()["securable"],
        "model:prod.support.assistant"
    );
    home.admin_ok(&[
        "grant",
        "USE_SCHEMA",
        "ON",
        "schema",
        "prod.support",
        "TO",
        "dave",
    ]);
    home.admin_ok(&[
        "grant",
        "EXECUTE",
        "ON",
        "model",
        "prod.support.assistant",
        "TO",
        "dave",
    ]);
    run_ok(&mut create_as_dave());
    assert_eq!(show(&home, "prod.endpoints.dave")["owner"], "dave");
    // A DENY of MANAGE on his endpoint beats his ownership and the schema grant.
    home.admin_ok(&[
        "grant",
        "MANAGE",
        "ON",
        "endpoint",
        "prod.endpoints.dave",
        "TO",
        "dave",
        "--deny",
    ]);
    run_fails(
        home.as_token(&dave)
            .args(["endpoint", "delete", "prod.endpoints.dave"]),
        EXIT_PERMISSION_DENIED,
    );

    // A service account with an invoke token sees the endpoint through the bootstrap grant
    // (EXECUTE on prod.endpoints) but cannot manage it; a DENY of EXECUTE hides it.
    home.admin_ok(&["principal", "create", "service_principal", "helpdesk-bot"]);
    home.admin_ok(&["group", "add-member", "service_accounts", "helpdesk-bot"]);
    let invoke = home
        .admin_ok(&[
            "token",
            "create",
            "--principal",
            "helpdesk-bot",
            "--scope",
            "invoke",
            "--quiet",
        ])
        .trim()
        .to_owned();
    let list = json_of(&run_ok(
        home.as_token(&invoke).args(["endpoint", "list", "--json"]),
    ));
    assert_eq!(
        names(&list),
        ["prod.endpoints.assistant", "prod.endpoints.dave"]
    );
    run_ok(
        home.as_token(&invoke)
            .args(["endpoint", "show", "prod.endpoints.assistant"]),
    );
    run_fails(
        home.as_token(&invoke)
            .args(["endpoint", "rollback", "prod.endpoints.assistant"]),
        EXIT_PERMISSION_DENIED,
    );
    home.admin_ok(&[
        "grant",
        "EXECUTE",
        "ON",
        "endpoint",
        "prod.endpoints.assistant",
        "TO",
        "helpdesk-bot",
        "--deny",
    ]);
    let err = run_fails(
        home.as_token(&invoke)
            .args(["endpoint", "show", "prod.endpoints.assistant"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("explicitly denied"), "{err}");
    let list = json_of(&run_ok(
        home.as_token(&invoke).args(["endpoint", "list", "--json"]),
    ));
    assert_eq!(names(&list), ["prod.endpoints.dave"]);
    let read_denied = events(&home, "endpoint.read", "denied");
    assert_eq!(read_denied.len(), 1);
    assert_eq!(read_denied[0]["actor_name"], "helpdesk-bot");

    home.admin_ok(&["endpoint", "delete", "prod.endpoints.assistant"]);
    // Two deletions: the quickstart's deployment at the start, and this one.
    let deleted = events(&home, "endpoint.delete", "success");
    assert_eq!(deleted.len(), 2);
    assert!(deleted
        .iter()
        .all(|e| e["securable"] == "endpoint:prod.endpoints.assistant"));
}
