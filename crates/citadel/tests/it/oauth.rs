//! OAuth client credentials through the binary: a service principal's client gets a JWT that
//! `whoami` accepts; revoked clients, users, wrong secrets and wide scopes are refused; secrets
//! stay out of listings and the audit log; a key rotation keeps earlier tokens valid.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::harness::*;
use super::postgres::FreshDatabase;

/// `oauth client create PRINCIPAL --json` as the admin: (client id, secret).
fn create_client(home: &TestHome, principal: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["oauth", "client", "create", principal, "--json"];
    args.extend_from_slice(extra);
    let out: serde_json::Value = serde_json::from_str(&home.admin_ok(&args)).unwrap();
    (
        out["client_id"].as_str().unwrap().to_owned(),
        out["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// `oauth token` with the secret on stdin; the process output.
fn request_token(
    home: &TestHome,
    client_id: &str,
    secret: &str,
    extra: &[&str],
) -> std::process::Output {
    bare_command(&home.root)
        .args([
            "oauth",
            "token",
            "--client-id",
            client_id,
            "--client-secret-stdin",
        ])
        .args(extra)
        .write_stdin(secret)
        .output()
        .unwrap()
}

/// A token that must be issued.
fn token(home: &TestHome, client_id: &str, secret: &str, extra: &[&str]) -> String {
    let output = request_token(home, client_id, secret, extra);
    assert!(output.status.success(), "oauth token: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn jwt_part(token: &str, index: usize) -> serde_json::Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn whoami(home: &TestHome, token: &str) -> serde_json::Value {
    serde_json::from_str(&run_ok(home.as_token(token).args(["whoami", "--json"]))).unwrap()
}

#[test]
fn a_service_principal_authenticates_with_a_jwt_from_its_client() {
    let home = TestHome::init();
    home.admin_ok(&["principal", "create", "service-principal", "ci-bot"]);
    let (client_id, secret) = create_client(&home, "ci-bot", &["--scope", "invoke"]);
    assert!(secret.starts_with("cit_cs_"), "{secret}");

    let jwt = token(&home, &client_id, &secret, &[]);
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    assert_eq!(jwt_part(&jwt, 0)["alg"], "EdDSA");
    assert_eq!(jwt_part(&jwt, 1)["scope"], "invoke");
    let me = whoami(&home, &jwt);
    assert_eq!(me["name"], "ci-bot");
    assert_eq!(me["kind"], "service_principal");

    // An invoke token cannot use the control plane.
    run_fails(
        home.as_token(&jwt).args(["principal", "list"]),
        EXIT_PERMISSION_DENIED,
    );

    // The JSON token response, as the HTTP endpoint will return it.
    let output = request_token(&home, &client_id, &secret, &["--json"]);
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["token_type"], "Bearer");
    assert_eq!(response["expires_in"], 600);
    assert_eq!(response["scope"], "invoke");

    // Neither the secret nor a token is in the listing or the audit log.
    let listing = home.admin_ok(&["oauth", "client", "list"]);
    assert!(listing.contains(&client_id), "{listing}");
    let json_listing = home.admin_ok(&["oauth", "client", "list", "--json"]);
    let everything = serde_json::to_string(&home.audit_events(&[])).unwrap();
    for text in [&listing, &json_listing, &everything] {
        assert!(!text.contains(&secret), "the client secret leaked");
        assert!(!text.contains(&jwt), "an access token leaked");
    }
    let issued = home.audit_events(&["--action", "oauth.token.issue"]);
    assert_eq!(issued.len(), 2);
    assert!(issued.iter().all(|e| e["actor_name"] == "ci-bot"));
    let logins = home.audit_events(&["--action", "auth.authenticate", "--actor", "ci-bot"]);
    assert!(logins
        .iter()
        .any(|e| e["params"]["client_id"] == client_id.as_str()));
}

#[test]
fn revoked_clients_wrong_secrets_users_and_wider_scopes_are_refused() {
    let home = TestHome::init();
    home.admin_ok(&["principal", "create", "service-principal", "ci-bot"]);
    home.admin_ok(&["principal", "create", "user", "alice"]);

    let err = run_fails(
        home.admin().args(["oauth", "client", "create", "alice"]),
        EXIT_INVALID,
    );
    assert!(err.contains("service principal"), "{err}");

    let (client_id, secret) = create_client(&home, "ci-bot", &[]);
    let wrong = format!("cit_cs_{}", "A".repeat(43));
    let output = request_token(&home, &client_id, &wrong, &[]);
    assert_eq!(output.status.code(), Some(EXIT_UNAUTHENTICATED));
    assert!(stderr(&output).contains("invalid client credentials"));

    let output = request_token(&home, &client_id, &secret, &["--scope", "control"]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_INVALID),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("only narrow"),
        "{}",
        stderr(&output)
    );

    // A token for another audience is not accepted by Citadel itself.
    let foreign = token(&home, &client_id, &secret, &["--audience", "billing"]);
    let err = run_fails(home.as_token(&foreign).arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("audience"), "{err}");

    let jwt = token(&home, &client_id, &secret, &[]);
    whoami(&home, &jwt);
    home.admin_ok(&["oauth", "client", "revoke", &client_id]);
    let err = run_fails(home.as_token(&jwt).arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("revoked"), "{err}");
    let output = request_token(&home, &client_id, &secret, &[]);
    assert_eq!(output.status.code(), Some(EXIT_UNAUTHENTICATED));
    assert!(stderr(&output).contains("revoked"), "{}", stderr(&output));

    let denied = home.audit_events(&["--action", "oauth.token.issue", "--outcome", "denied"]);
    assert_eq!(denied.len(), 3, "{denied:#?}");
    let everything = serde_json::to_string(&home.audit_events(&[])).unwrap();
    assert!(!everything.contains(&secret) && !everything.contains(&wrong));
}

#[test]
fn only_admins_manage_clients() {
    let home = TestHome::init();
    home.admin_ok(&["principal", "create", "service-principal", "ci-bot"]);
    let alice = home.user_with_token("alice");
    run_fails(
        home.as_token(&alice)
            .args(["oauth", "client", "create", "ci-bot"]),
        EXIT_PERMISSION_DENIED,
    );
    run_fails(
        home.as_token(&alice).args(["oauth", "rotate-key"]),
        EXIT_PERMISSION_DENIED,
    );
    let denied = home.audit_events(&["--action", "oauth.*", "--outcome", "denied"]);
    assert_eq!(denied.len(), 2, "{denied:#?}");
}

#[test]
fn a_key_rotation_keeps_earlier_tokens_valid_and_the_jwks_lists_both_keys() {
    rotation_story(&TestHome::init());
}

#[test]
fn oauth_runs_on_postgresql() {
    let Ok(admin_url) = std::env::var("CITADEL_TEST_DATABASE_URL") else {
        eprintln!("CITADEL_TEST_DATABASE_URL is not set: PostgreSQL not exercised");
        return;
    };
    let database = FreshDatabase::create(&admin_url);
    let home = TestHome::init_with_database(Some(&database.url()));
    rotation_story(&home);
    let (client_id, secret) = create_client(&home, "ci-bot", &[]);
    let jwt = token(&home, &client_id, &secret, &[]);
    home.admin_ok(&["oauth", "client", "revoke", &client_id]);
    run_fails(home.as_token(&jwt).arg("whoami"), EXIT_UNAUTHENTICATED);
}

/// Two tokens around a signing-key rotation both authenticate; the JWKS lists both keys.
fn rotation_story(home: &TestHome) {
    home.admin_ok(&["principal", "create", "service-principal", "ci-bot"]);
    let (client_id, secret) = create_client(home, "ci-bot", &["--scope", "control"]);
    let before = token(home, &client_id, &secret, &[]);
    let old_kid = jwt_part(&before, 0)["kid"].as_str().unwrap().to_owned();

    let rotated: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["oauth", "rotate-key", "--json"])).unwrap();
    assert_eq!(rotated["previous_kid"], old_kid.as_str());
    let after = token(home, &client_id, &secret, &[]);
    let new_kid = jwt_part(&after, 0)["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["kid"], new_kid.as_str());
    assert_ne!(old_kid, new_kid);

    for jwt in [&before, &after] {
        assert_eq!(whoami(home, jwt)["name"], "ci-bot");
    }
    let jwks: serde_json::Value = serde_json::from_str(&home.admin_ok(&["oauth", "jwks"])).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    assert!(keys
        .iter()
        .all(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519" && k.get("d").is_none()));
}
