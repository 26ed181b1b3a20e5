//! The grant lifecycle through the real binary: create principal → grant → allowed → revoke →
//! denied and audited; DENY beats group allows; inheritance; bad grants refused.

use super::harness::*;

#[test]
fn grant_allow_revoke_deny_is_audited() {
    let home = TestHome::init();
    let alice = home.user_with_token("alice");

    let err = run_fails(
        home.as_token(&alice)
            .args(["schema", "create", "dev.features"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("CREATE_SCHEMA"), "{err}");

    home.admin_ok(&[
        "grant",
        "USE_CATALOG",
        "ON",
        "catalog",
        "dev",
        "TO",
        "alice",
    ]);
    home.admin_ok(&[
        "grant",
        "CREATE_SCHEMA",
        "ON",
        "catalog",
        "dev",
        "TO",
        "alice",
    ]);
    run_ok(
        home.as_token(&alice)
            .args(["schema", "create", "dev.features"]),
    );
    let schemas = run_ok(home.as_token(&alice).args(["schema", "list", "dev"]));
    assert!(
        schemas.contains("dev.features"),
        "the owner sees its schema: {schemas}"
    );

    home.admin_ok(&[
        "revoke",
        "CREATE_SCHEMA",
        "ON",
        "catalog",
        "dev",
        "FROM",
        "alice",
    ]);
    run_fails(
        home.as_token(&alice).args(["schema", "create", "dev.more"]),
        EXIT_PERMISSION_DENIED,
    );

    let denied = home.audit_events(&["--actor", "alice", "--outcome", "denied"]);
    let actions: Vec<_> = denied
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["schema.create", "schema.create"], "{denied:#?}");
    assert!(denied.iter().all(|e| e["securable"] == "catalog:dev"));
    let created = home.audit_events(&[
        "--actor",
        "alice",
        "--action",
        "schema.create",
        "--outcome",
        "success",
    ]);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["securable"], "schema:dev.features");
    let grants = home.audit_events(&["--action", "grant.*"]);
    assert_eq!(grants.len(), 3, "two grants and one revoke");
}

#[test]
fn deny_beats_a_group_allow() {
    let home = TestHome::init();
    let bob = home.user_with_token("bob");
    home.admin_ok(&["group", "add-member", "data_scientists", "bob"]);
    run_ok(home.as_token(&bob).args(["schema", "list", "dev"]));

    home.admin_ok(&[
        "grant",
        "USE_CATALOG",
        "ON",
        "catalog",
        "dev",
        "TO",
        "bob",
        "--deny",
    ]);
    let err = run_fails(
        home.as_token(&bob).args(["schema", "list", "dev"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("explicitly denied"), "{err}");

    home.admin_ok(&[
        "revoke",
        "USE_CATALOG",
        "ON",
        "catalog",
        "dev",
        "FROM",
        "bob",
        "--deny",
    ]);
    run_ok(home.as_token(&bob).args(["schema", "list", "dev"]));
}

#[test]
fn only_managers_change_grants() {
    let home = TestHome::init();
    let carol = home.user_with_token("carol");
    let err = run_fails(
        home.as_token(&carol)
            .args(["grant", "SELECT", "ON", "catalog", "prod", "TO", "carol"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("MANAGE"), "{err}");
    run_fails(
        home.as_token(&carol)
            .args(["principal", "create", "user", "x"]),
        EXIT_PERMISSION_DENIED,
    );
    run_fails(
        home.as_token(&carol)
            .args(["grants", "show", "catalog", "prod"]),
        EXIT_PERMISSION_DENIED,
    );
    let denied = home.audit_events(&["--actor", "carol", "--outcome", "denied"]);
    assert_eq!(denied.len(), 3);
}

#[test]
fn grants_show_includes_inherited_grants() {
    let home = TestHome::init();
    let shown: Vec<serde_json::Value> = serde_json::from_str(&home.admin_ok(&[
        "grants",
        "show",
        "schema",
        "prod.endpoints",
        "--json",
    ]))
    .unwrap();
    let has = |principal: &str, privilege: &str, on: &str| {
        shown.iter().any(|g| {
            g["principal"] == principal && g["privilege"] == privilege && g["securable"] == on
        })
    };
    assert!(has("service_accounts", "EXECUTE", "prod.endpoints"));
    assert!(has("approvers", "APPROVE", "prod"));
    assert!(has("admins", "MANAGE", "metastore"));
}

#[test]
fn malformed_grants_are_refused_clearly() {
    let home = TestHome::init();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "grant",
                "SELECT",
                "ON",
                "endpoint",
                "prod.endpoints.x",
                "TO",
                "admin",
            ],
            "cannot be granted on a endpoint",
        ),
        (
            &["grant", "SELECT", "ON", "schema", "dev", "TO", "admin"],
            "CATALOG.SCHEMA",
        ),
        (
            &["grant", "SELECT", "ON", "schema", "../etc", "TO", "admin"],
            "invalid name",
        ),
        (
            &["grant", "SELECT", "ON", "schema", "dev.nope", "TO", "admin"],
            "does not exist",
        ),
        (
            &[
                "grant", "SELECT", "ON", "schema", "dev.data", "TO", "nobody",
            ],
            "does not exist",
        ),
        (
            &[
                "grant",
                "EVERYTHING",
                "ON",
                "schema",
                "dev.data",
                "TO",
                "admin",
            ],
            "privilege",
        ),
        (
            &["grant", "SELECT", "IN", "schema", "dev.data", "TO", "admin"],
            "ON",
        ),
    ];
    for (args, message) in cases {
        let output = home.admin().args(*args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        let err = stderr(&output);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
