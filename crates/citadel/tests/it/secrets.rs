//! The vault through the binary: secret scopes, versions, privileges, audit, tamper detection.

use super::harness::*;

const SCOPE: &str = "dev.data.hub";

/// A home with a scope, a writer (WRITE_SECRET), a reader (READ_SECRET) and an outsider.
struct Vault {
    home: TestHome,
    writer: String,
    reader: String,
    outsider: String,
}

fn vault() -> Vault {
    let home = TestHome::init();
    home.admin_ok(&["secrets", "scope", "create", SCOPE]);
    let mut tokens = Vec::new();
    for (name, privilege) in [
        ("writer", Some("WRITE_SECRET")),
        ("reader", Some("READ_SECRET")),
        ("outsider", None),
    ] {
        let token = home.user_with_token(name);
        home.grant_use_dev_data(name);
        if let Some(privilege) = privilege {
            home.admin_ok(&["grant", privilege, "ON", "secret_scope", SCOPE, "TO", name]);
        }
        tokens.push(token);
    }
    let [writer, reader, outsider] = tokens.try_into().unwrap();
    Vault {
        home,
        writer,
        reader,
        outsider,
    }
}

fn put(home: &TestHome, token: &str, key: &str, value: &str) -> std::process::Output {
    home.as_token(token)
        .args(["secrets", "put", SCOPE, key])
        .write_stdin(format!("{value}\n"))
        .output()
        .unwrap()
}

fn get(home: &TestHome, token: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["secrets", "get", SCOPE];
    all.extend_from_slice(args);
    home.as_token(token).args(all).output().unwrap()
}

#[test]
fn put_and_get_round_trip_per_privilege() {
    let v = vault();
    let stored = put(&v.home, &v.writer, "HF_TOKEN", "first-value-1234");
    assert!(stored.status.success(), "{}", stderr(&stored));
    assert!(put(&v.home, &v.writer, "HF_TOKEN", "second-value-5678")
        .status
        .success());

    // The reader gets the latest unless it names a version; the output is the value exactly.
    let latest = get(&v.home, &v.reader, &["HF_TOKEN"]);
    assert!(latest.status.success(), "{}", stderr(&latest));
    assert_eq!(latest.stdout, b"second-value-5678");
    let first = get(&v.home, &v.reader, &["HF_TOKEN", "--version", "1"]);
    assert_eq!(first.stdout, b"first-value-1234");
    let json: serde_json::Value =
        serde_json::from_slice(&get(&v.home, &v.reader, &["HF_TOKEN", "--json"]).stdout).unwrap();
    assert_eq!(json["version"], 2);

    // Writers cannot read; readers cannot write; outsiders can do neither.
    for token in [&v.writer, &v.outsider] {
        let denied = get(&v.home, token, &["HF_TOKEN"]);
        assert_eq!(denied.status.code(), Some(EXIT_PERMISSION_DENIED));
        assert!(denied.stdout.is_empty());
    }
    for token in [&v.reader, &v.outsider] {
        let denied = put(&v.home, token, "HF_TOKEN", "intruder-value");
        assert_eq!(denied.status.code(), Some(EXIT_PERMISSION_DENIED));
    }

    // Listing shows names and versions, never values; the outsider may not list.
    let list = run_ok(
        v.home
            .as_token(&v.writer)
            .args(["secrets", "list", SCOPE, "--json"]),
    );
    let versions: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["created_by"], "writer");
    assert!(!list.contains("value-"));
    run_fails(
        v.home
            .as_token(&v.outsider)
            .args(["secrets", "list", SCOPE]),
        EXIT_PERMISSION_DENIED,
    );

    // Deleting one version leaves the other; a missing secret is a clear not-found.
    run_ok(v.home.as_token(&v.writer).args([
        "secrets",
        "delete",
        SCOPE,
        "HF_TOKEN",
        "--version",
        "2",
    ]));
    assert_eq!(
        get(&v.home, &v.reader, &["HF_TOKEN"]).stdout,
        b"first-value-1234"
    );
    run_ok(
        v.home
            .as_token(&v.writer)
            .args(["secrets", "delete", SCOPE, "HF_TOKEN"]),
    );
    let err = run_fails(
        v.home
            .as_token(&v.reader)
            .args(["secrets", "get", SCOPE, "HF_TOKEN"]),
        EXIT_INVALID,
    );
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn reads_and_denials_are_audited_without_values() {
    let v = vault();
    assert!(put(&v.home, &v.writer, "db_password", "audited-value-42")
        .status
        .success());
    assert!(get(&v.home, &v.reader, &["db_password"]).status.success());
    assert!(!get(&v.home, &v.outsider, &["db_password"]).status.success());

    let reads = v.home.audit_events(&["--action", "secret.read"]);
    let outcome = |actor: &str| {
        reads
            .iter()
            .find(|e| e["actor_name"] == actor)
            .map(|e| e["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome("reader").as_deref(), Some("success"));
    assert_eq!(outcome("outsider").as_deref(), Some("denied"));
    let read = reads.iter().find(|e| e["actor_name"] == "reader").unwrap();
    assert_eq!(read["params"]["name"], "db_password");
    assert_eq!(read["params"]["version"], 1);
    assert_eq!(read["securable"], format!("secret_scope:{SCOPE}"));
    let export = v.home.admin_ok(&["audit", "export", "--format", "jsonl"]);
    assert!(!export.contains("audited-value-42"));
}

#[test]
fn a_value_moved_to_another_name_fails_to_decrypt() {
    let v = vault();
    assert!(put(&v.home, &v.writer, "a_key", "moved-value-9876")
        .status
        .success());
    assert!(put(&v.home, &v.writer, "b_key", "other-value-5432")
        .status
        .success());
    // An attacker with database access copies a_key's sealed value over b_key's.
    sql(
        &v.home,
        &["UPDATE secret_versions SET \
           ciphertext = (SELECT ciphertext FROM secret_versions WHERE name = 'a_key'), \
           wrapped_key = (SELECT wrapped_key FROM secret_versions WHERE name = 'a_key') \
           WHERE name = 'b_key'"],
    );
    let moved = get(&v.home, &v.reader, &["b_key"]);
    assert_eq!(
        moved.status.code(),
        Some(EXIT_INTEGRITY),
        "{}",
        stderr(&moved)
    );
    assert!(moved.stdout.is_empty());
    assert!(stderr(&moved).contains("failed to decrypt"));
    let failed = v
        .home
        .audit_events(&["--action", "secret.read", "--outcome", "failed"]);
    assert_eq!(failed.len(), 1);
    // The untouched secret still reads.
    assert_eq!(
        get(&v.home, &v.reader, &["a_key"]).stdout,
        b"moved-value-9876"
    );
}

#[test]
fn values_never_come_from_arguments_and_bad_input_is_refused() {
    let v = vault();
    // There is no way to pass the value as an argument.
    let extra = v
        .home
        .as_token(&v.writer)
        .args(["secrets", "put", SCOPE, "k", "value-on-command-line"])
        .output()
        .unwrap();
    assert!(!extra.status.success());
    for bad in ["../escape", "a/b", "-flag-like"] {
        let out = v
            .home
            .as_token(&v.writer)
            .args(["secrets", "put", SCOPE, "--", bad])
            .write_stdin("value-123456")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(EXIT_INVALID),
            "{bad}: {}",
            stderr(&out)
        );
    }
    let empty = v
        .home
        .as_token(&v.writer)
        .args(["secrets", "put", SCOPE, "k"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(EXIT_INVALID));
    let huge = v
        .home
        .as_token(&v.writer)
        .args(["secrets", "put", SCOPE, "k"])
        .write_stdin("x".repeat(70_000))
        .output()
        .unwrap();
    assert_eq!(huge.status.code(), Some(EXIT_INVALID));
    // --from-file reads the value from a file.
    let file = v.home.path("value.txt");
    std::fs::write(&file, "from-file-value\n").unwrap();
    run_ok(v.home.as_token(&v.writer).args([
        "secrets",
        "put",
        SCOPE,
        "filed",
        "--from-file",
        file.to_str().unwrap(),
    ]));
    assert_eq!(
        get(&v.home, &v.reader, &["filed"]).stdout,
        b"from-file-value"
    );
}

#[test]
fn scopes_are_listed_by_access_and_deleted_with_their_secrets() {
    let v = vault();
    v.home
        .admin_ok(&["secrets", "scope", "create", "dev.data.other"]);
    assert!(put(&v.home, &v.writer, "k1", "scoped-value-1")
        .status
        .success());
    let listed = run_ok(
        v.home
            .as_token(&v.reader)
            .args(["secrets", "scope", "list", "dev.data", "--json"]),
    );
    let scopes: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = scopes
        .iter()
        .map(|s| s["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![SCOPE],
        "the reader sees only the scope it was granted"
    );
    run_fails(
        v.home
            .as_token(&v.writer)
            .args(["secrets", "scope", "delete", SCOPE]),
        EXIT_PERMISSION_DENIED,
    );
    run_fails(
        v.home
            .as_token(&v.writer)
            .args(["secrets", "scope", "create", "dev.data.mine"]),
        EXIT_PERMISSION_DENIED,
    );
    v.home.admin_ok(&["secrets", "scope", "delete", SCOPE]);
    run_fails(
        v.home
            .as_token(&v.reader)
            .args(["secrets", "get", SCOPE, "k1"]),
        EXIT_PERMISSION_DENIED,
    );
    let deleted = v
        .home
        .audit_events(&["--action", "secret_scope.delete", "--outcome", "success"]);
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["params"]["versions_deleted"], 1);
}

#[test]
fn service_principals_read_through_the_same_checks() {
    let v = vault();
    assert!(put(&v.home, &v.writer, "deploy_key", "service-value-2468")
        .status
        .success());
    v.home
        .admin_ok(&["principal", "create", "service-principal", "pipeline"]);
    let token = v
        .home
        .admin_ok(&["token", "create", "--principal", "pipeline", "--quiet"])
        .trim()
        .to_owned();
    let denied = get(&v.home, &token, &["deploy_key"]);
    assert_eq!(denied.status.code(), Some(EXIT_PERMISSION_DENIED));
    for (privilege, kind, on) in [
        ("USE_CATALOG", "catalog", "dev"),
        ("USE_SCHEMA", "schema", "dev.data"),
        ("READ_SECRET", "secret_scope", SCOPE),
    ] {
        v.home
            .admin_ok(&["grant", privilege, "ON", kind, on, "TO", "pipeline"]);
    }
    assert_eq!(
        get(&v.home, &token, &["deploy_key"]).stdout,
        b"service-value-2468"
    );
    let reads = v
        .home
        .audit_events(&["--action", "secret.read", "--actor", "pipeline"]);
    assert_eq!(reads.len(), 2);
}
