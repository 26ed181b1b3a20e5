//! `citadel init`: the home's files and modes, refusal on an existing home, `whoami`.

use std::os::unix::fs::PermissionsExt;

use super::harness::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_creates_private_keys_and_credentials() {
    let home = TestHome::init();
    for secret in [
        "keys/kek.key",
        "keys/audit-signing.p8",
        "credentials",
        "citadel.toml",
    ] {
        assert_eq!(mode(&home.path(secret)), 0o600, "{secret}");
    }
    assert_eq!(mode(&home.root), 0o700);
    assert!(home.admin_token.starts_with("cit_pat_"));
    let credentials = std::fs::read_to_string(home.path("credentials")).unwrap();
    assert_eq!(credentials.trim(), home.admin_token);
}

#[test]
fn second_init_is_refused_and_changes_nothing() {
    let home = TestHome::init();
    let snapshot = |home: &TestHome| {
        [
            "citadel.toml",
            "keys/kek.key",
            "keys/audit-signing.p8",
            "credentials",
            "citadel.db",
        ]
        .map(|f| std::fs::read(home.path(f)).unwrap())
    };
    let before = snapshot(&home);
    let err = run_fails(home.admin().arg("init"), EXIT_INVALID);
    assert!(err.contains("already a Citadel home"), "{err}");
    assert_eq!(snapshot(&home), before);
}

#[test]
fn whoami_shows_the_admin() {
    let home = TestHome::init();
    let out = home.admin_ok(&["whoami", "--json"]);
    let me: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["name"], "admin");
    assert_eq!(me["kind"], "user");
    assert_eq!(me["groups"], serde_json::json!(["admins"]));
    assert_eq!(me["token"]["scope"], "control");
    assert!(
        !out.contains(&home.admin_token),
        "whoami must not print the token"
    );

    let table = home.admin_ok(&["whoami"]);
    assert!(
        table.contains("admin") && table.contains("admins"),
        "{table}"
    );
}

#[test]
fn bootstrap_catalogs_schemas_and_groups_exist() {
    let home = TestHome::init();
    let catalogs: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["catalog", "list", "--json"])).unwrap();
    let names: Vec<_> = catalogs
        .iter()
        .map(|c| c["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "prod", "staging"]);
    let schemas: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["schema", "list", "prod", "--json"])).unwrap();
    let names: Vec<_> = schemas
        .iter()
        .map(|c| c["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod.data", "prod.endpoints", "prod.models"]);
    let principals = home.admin_ok(&["principal", "list"]);
    for group in [
        "admins",
        "data_scientists",
        "ml_engineers",
        "approvers",
        "service_accounts",
    ] {
        assert!(
            principals.contains(group),
            "{group} missing from\n{principals}"
        );
    }
}

#[test]
fn group_or_world_readable_keys_stop_every_command() {
    let home = TestHome::init();
    for secret in ["keys/kek.key", "keys/audit-signing.p8", "credentials"] {
        let path = home.path(secret);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = run_fails(home.admin().arg("whoami"), EXIT_PERMISSION_DENIED);
        assert!(err.contains("chmod 600"), "{secret}: {err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    home.admin_ok(&["whoami"]);
}

#[test]
fn commands_outside_a_home_say_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_fails(
        bare_command(&dir.path().join("none")).arg("whoami"),
        EXIT_INVALID,
    );
    assert!(err.contains("citadel init"), "{err}");
}
