//! Authentication: every command needs a valid token; failures exit 2 and are audited.

use super::harness::*;

fn denied_auth_events(home: &TestHome) -> Vec<serde_json::Value> {
    home.audit_events(&["--action", "auth.authenticate", "--outcome", "denied"])
}

#[test]
fn wrong_malformed_and_missing_tokens_are_refused_and_audited() {
    let home = TestHome::init();
    let unknown = format!("cit_pat_{}", "A".repeat(43));
    let err = run_fails(home.as_token(&unknown).arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("unknown token"), "{err}");
    assert!(
        !err.contains(&unknown),
        "the token must not be echoed: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");

    let err = run_fails(home.as_token("hunter2").arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("malformed token"), "{err}");

    std::fs::remove_file(home.path("credentials")).unwrap();
    let err = run_fails(home.admin().arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("no token"), "{err}");

    let events = home
        .as_token(&home.admin_token)
        .args([
            "audit",
            "query",
            "--json",
            "--action",
            "auth.authenticate",
            "--outcome",
            "denied",
        ])
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_slice(&events.stdout).unwrap();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert!(events.iter().all(|e| e["actor_name"] == "anonymous"));
    let dump = serde_json::to_string(&events).unwrap();
    assert!(
        !dump.contains("hunter2") && !dump.contains(&unknown),
        "tokens leaked into the log"
    );
}

#[test]
fn revoked_and_expired_tokens_are_refused() {
    let home = TestHome::init();
    let alice = home.user_with_token("alice");
    run_ok(home.as_token(&alice).arg("whoami"));

    let tokens: Vec<serde_json::Value> =
        serde_json::from_str(&home.admin_ok(&["token", "list", "--principal", "alice", "--json"]))
            .unwrap();
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    assert!(
        tokens[0]["last_used_at"].is_string(),
        "last use is recorded"
    );
    home.admin_ok(&["token", "revoke", &id]);
    let err = run_fails(home.as_token(&alice).arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("revoked"), "{err}");

    let short = home
        .admin_ok(&[
            "token",
            "create",
            "--principal",
            "alice",
            "--ttl",
            "1s",
            "--quiet",
        ])
        .trim()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let err = run_fails(home.as_token(&short).arg("whoami"), EXIT_UNAUTHENTICATED);
    assert!(err.contains("expired"), "{err}");
    assert_eq!(denied_auth_events(&home).len(), 2);
}

#[test]
fn invoke_tokens_cannot_manage() {
    let home = TestHome::init();
    let invoke = home
        .admin_ok(&["token", "create", "--scope", "invoke", "--quiet"])
        .trim()
        .to_owned();
    run_ok(home.as_token(&invoke).arg("whoami"));
    let err = run_fails(
        home.as_token(&invoke)
            .args(["principal", "create", "user", "mallory"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("invoke"), "{err}");
    // An invoke token must not mint itself a control token (scope escalation).
    let err = run_fails(
        home.as_token(&invoke)
            .args(["token", "create", "--scope", "control"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("invoke"), "{err}");
    let err = run_fails(
        home.as_token(&invoke).args(["audit", "query"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(err.contains("invoke"), "{err}");
}

#[test]
fn only_admins_mint_tokens_for_others() {
    let home = TestHome::init();
    let alice = home.user_with_token("alice");
    home.admin_ok(&["principal", "create", "user", "bob"]);
    run_fails(
        home.as_token(&alice)
            .args(["token", "create", "--principal", "bob"]),
        EXIT_PERMISSION_DENIED,
    );
    let own = run_ok(home.as_token(&alice).args(["token", "create", "--quiet"]));
    assert!(own.trim().starts_with("cit_pat_"));
    assert_eq!(
        own.trim().lines().count(),
        1,
        "--quiet prints only the token"
    );
}
