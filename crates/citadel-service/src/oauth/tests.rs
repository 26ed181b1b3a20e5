//! OAuth on a fresh home: client credentials, issuance and its refusals, the data plane's
//! silent success, JWT authentication, and signing keys across rotations.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use citadel_audit::Outcome;
use citadel_store::AuditFilter;
use tempfile::TempDir;

use super::*;
use crate::{Home, InitOptions, TokenRequest};

#[test]
fn scopes_only_narrow() {
    use TokenScope::{Control, Invoke, Metrics};
    assert!(narrows(Control, Control));
    assert!(narrows(Control, Invoke));
    assert!(narrows(Invoke, Invoke));
    assert!(narrows(Metrics, Metrics));
    assert!(!narrows(Invoke, Control));
    assert!(!narrows(Invoke, Metrics));
    assert!(!narrows(Control, Metrics));
    assert!(!narrows(Metrics, Invoke));
}

#[test]
fn requested_scopes_parse_one_word() {
    assert_eq!(parse_requested_scope(" invoke "), Ok(TokenScope::Invoke));
    assert!(parse_requested_scope("invoke control").is_err());
    assert!(parse_requested_scope("  ").is_err());
    assert!(parse_requested_scope("admin").is_err());
}

#[test]
fn audiences_are_visible_ascii() {
    assert!(check_audience("https://gateway.example/v1").is_ok());
    assert!(check_audience("").is_err());
    assert!(check_audience("a b").is_err());
    assert!(check_audience("é").is_err());
    assert!(check_audience(&"a".repeat(MAX_AUDIENCE_LEN + 1)).is_err());
}

#[test]
fn secrets_compare_by_hash() {
    let secret = pat::generate_with_prefix(CLIENT_SECRET_PREFIX).unwrap();
    assert!(pat::has_shape(CLIENT_SECRET_PREFIX, secret.expose_secret()));
    assert!(!pat::is_well_formed(secret.expose_secret()));
    let stored = pat::hash(&secret);
    assert!(secret_matches(&secret, &stored));
    let other = pat::generate_with_prefix(CLIENT_SECRET_PREFIX).unwrap();
    assert!(!secret_matches(&other, &stored));
    assert!(!secret_matches(&secret, &stored[..63]));
}

struct Fixture {
    _dir: TempDir,
    citadel: Citadel,
    admin: Context,
    admin_token: SecretString,
    bot: Principal,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let report = Citadel::init(
        &home,
        InitOptions {
            admin_name: "admin".into(),
        },
    )
    .await
    .unwrap();
    let citadel = Citadel::open(&home).await.unwrap();
    let admin = citadel
        .authenticate(Some(&report.admin_token))
        .await
        .unwrap();
    let bot = citadel
        .create_principal(&admin, PrincipalKind::ServicePrincipal, "ci-bot")
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        citadel,
        admin,
        admin_token: report.admin_token,
        bot,
    }
}

async fn client(fx: &Fixture, scope: TokenScope) -> (ClientInfo, SecretString) {
    fx.citadel
        .create_oauth_client(&fx.admin, "ci-bot", scope, None)
        .await
        .unwrap()
}

async fn issue(fx: &Fixture, client: &ClientInfo, secret: &SecretString) -> SecretString {
    fx.citadel
        .issue_client_token(&client.client_id.to_string(), secret, None, None)
        .await
        .unwrap()
        .access_token
}

fn part(token: &SecretString, index: usize) -> Value {
    let part = token.expose_secret().split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn head(fx: &Fixture) -> u64 {
    fx.citadel.store.audit_head().await.unwrap().seq
}

async fn events(fx: &Fixture, action: &str) -> Vec<citadel_audit::AuditEvent> {
    fx.citadel
        .store
        .audit_query(&AuditFilter {
            action: Some(action.to_owned()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_issued_token_authenticates_as_the_service_principal_with_its_scope() {
    let fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Invoke).await;
    assert_eq!(info.principal, "ci-bot");
    assert!(secret.expose_secret().starts_with(CLIENT_SECRET_PREFIX));
    let issued = fx
        .citadel
        .issue_client_token(&info.client_id.to_string(), &secret, None, None)
        .await
        .unwrap();
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 600);
    assert_eq!(issued.scope, TokenScope::Invoke);

    let header = part(&issued.access_token, 0);
    let claims = part(&issued.access_token, 1);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["iss"], fx.citadel.oauth_issuer().await.unwrap());
    assert_eq!(claims["sub"], fx.bot.id.to_string());
    assert_eq!(claims["aud"], "citadel");
    assert_eq!(claims["scope"], "invoke");
    assert_eq!(claims["client_id"], info.client_id.to_string());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    let jwks = fx.citadel.jwks().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);

    let ctx = fx
        .citadel
        .authenticate(Some(&issued.access_token))
        .await
        .unwrap();
    assert_eq!(ctx.principal.id, fx.bot.id);
    assert_eq!(ctx.scope(), TokenScope::Invoke);
    assert!(ctx.token.is_none());
    let jwt = ctx.jwt.unwrap();
    assert_eq!(jwt.client_id, info.client_id);
    assert_eq!(jwt.kid, header["kid"].as_str().unwrap());

    // The listing has the client and its last issuance, never a secret.
    let listed = fx
        .citadel
        .list_oauth_clients(&fx.admin, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    let dump = serde_json::to_string(&listed).unwrap();
    assert!(!dump.contains(secret.expose_secret()));
    assert!(!dump.contains(&pat::hash(&secret)));
}

#[tokio::test]
async fn the_data_plane_writes_nothing_on_success_and_audits_refusals() {
    let fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Invoke).await;
    let jwt = issue(&fx, &info, &secret).await;
    let (pat_info, pat) = fx
        .citadel
        .create_token(
            &fx.admin,
            TokenRequest {
                principal: Some("ci-bot".into()),
                ttl: None,
                scope: TokenScope::Invoke,
                name: "gateway".into(),
            },
        )
        .await
        .unwrap();

    let before = head(&fx).await;
    for bearer in [&jwt, &pat] {
        let ctx = fx
            .citadel
            .authenticate_data_plane(Some(bearer))
            .await
            .unwrap();
        assert_eq!(ctx.principal.id, fx.bot.id);
        assert_eq!(ctx.scope(), TokenScope::Invoke);
    }
    assert_eq!(
        head(&fx).await,
        before,
        "a data-plane success writes nothing"
    );
    let stored = fx.citadel.store.token(pat_info.id).await.unwrap().unwrap();
    assert!(stored.last_used_at.is_none(), "no last-use write either");

    let garbage = SecretString::from("not-a-token".to_owned());
    assert!(matches!(
        fx.citadel.authenticate_data_plane(Some(&garbage)).await,
        Err(Error::Unauthenticated(_))
    ));
    assert_eq!(head(&fx).await, before + 1, "a refusal is audited");

    // The control plane audits its successes and records the token's use.
    fx.citadel.authenticate(Some(&pat)).await.unwrap();
    fx.citadel.authenticate(Some(&jwt)).await.unwrap();
    assert_eq!(head(&fx).await, before + 3);
    let stored = fx.citadel.store.token(pat_info.id).await.unwrap().unwrap();
    assert!(stored.last_used_at.is_some());
    let successes: Vec<_> = events(&fx, "auth.authenticate")
        .await
        .into_iter()
        .filter(|e| e.outcome == Outcome::Success && e.params.get("client_id").is_some())
        .collect();
    assert_eq!(successes.len(), 1);
    assert_eq!(successes[0].actor_name, "ci-bot");
}

#[tokio::test]
async fn bad_requests_are_refused_audited_and_never_leak_the_secret() {
    let fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Invoke).await;
    let id = info.client_id.to_string();
    let wrong = pat::generate_with_prefix(CLIENT_SECRET_PREFIX).unwrap();
    for (client_id, secret) in [
        (id.as_str(), &wrong),
        ("0190a0b4-0000-7000-8000-0000000000ff", &secret),
        ("no-such-client", &secret),
        (id.as_str(), &fx.admin_token),
    ] {
        let err = fx
            .citadel
            .issue_client_token(client_id, secret, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Unauthenticated(reason) if reason == BAD_CLIENT),
            "{client_id}"
        );
    }
    for (scope, audience) in [
        (Some("control"), None),
        (Some("metrics"), None),
        (Some("invoke control"), None),
        (None, Some("has space")),
    ] {
        let err = fx
            .citadel
            .issue_client_token(&id, &secret, scope, audience)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{scope:?}");
    }
    let denied: Vec<_> = events(&fx, "oauth.token.issue")
        .await
        .into_iter()
        .filter(|e| e.outcome == Outcome::Denied)
        .collect();
    assert_eq!(denied.len(), 8);
    let reasons: Vec<_> = denied.iter().filter_map(|e| e.reason.clone()).collect();
    assert!(
        reasons.iter().any(|r| r == "wrong client secret"),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r == "unknown client"), "{reasons:?}");
    let dump = serde_json::to_string(
        &fx.citadel
            .store
            .audit_query(&AuditFilter::default())
            .await
            .unwrap(),
    )
    .unwrap();
    for leaked in [
        secret.expose_secret(),
        wrong.expose_secret(),
        "no-such-client",
    ] {
        assert!(!dump.contains(leaked), "{leaked} in the audit log");
    }

    fx.citadel
        .revoke_oauth_client(&fx.admin, info.client_id)
        .await
        .unwrap();
    let err = fx
        .citadel
        .issue_client_token(&id, &secret, None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[tokio::test]
async fn control_clients_may_narrow_to_invoke() {
    let fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Control).await;
    let issued = fx
        .citadel
        .issue_client_token(&info.client_id.to_string(), &secret, Some("invoke"), None)
        .await
        .unwrap();
    assert_eq!(issued.scope, TokenScope::Invoke);
    let ctx = fx
        .citadel
        .authenticate(Some(&issued.access_token))
        .await
        .unwrap();
    assert_eq!(ctx.scope(), TokenScope::Invoke);
}

#[tokio::test]
async fn only_admins_create_clients_and_only_for_service_principals() {
    let fx = fixture().await;
    fx.citadel
        .create_principal(&fx.admin, PrincipalKind::User, "alice")
        .await
        .unwrap();
    let err = fx
        .citadel
        .create_oauth_client(&fx.admin, "alice", TokenScope::Invoke, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("service principal"), "{err}");

    let (_, alice_token) = fx
        .citadel
        .create_token(
            &fx.admin,
            TokenRequest {
                principal: Some("alice".into()),
                ttl: None,
                scope: TokenScope::Control,
                name: "cli".into(),
            },
        )
        .await
        .unwrap();
    let alice = fx.citadel.authenticate(Some(&alice_token)).await.unwrap();
    let err = fx
        .citadel
        .create_oauth_client(&alice, "ci-bot", TokenScope::Invoke, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied);
    let err = fx.citadel.rotate_jwt_signing_key(&alice).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied);
    let denied = events(&fx, "oauth.*")
        .await
        .into_iter()
        .filter(|e| e.outcome == Outcome::Denied && e.actor_name == "alice")
        .count();
    assert_eq!(denied, 2);
}

#[tokio::test]
async fn a_disabled_principal_or_a_revoked_client_loses_its_live_tokens() {
    let fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Invoke).await;
    let jwt = issue(&fx, &info, &secret).await;
    fx.citadel.authenticate(Some(&jwt)).await.unwrap();
    fx.citadel
        .revoke_oauth_client(&fx.admin, info.client_id)
        .await
        .unwrap();
    let err = fx
        .citadel
        .authenticate_data_plane(Some(&jwt))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[tokio::test]
async fn backdated_tokens_expire_on_time_and_only_the_past_is_allowed() {
    let fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Invoke).await;
    let id = info.client_id.to_string();
    let ttl = ACCESS_TOKEN_TTL_SECS as i64;
    let as_of = |seconds_ago: i64| {
        let at = OffsetDateTime::now_utc() - time::Duration::seconds(seconds_ago);
        fx.citadel
            .issue_client_token_as_of(&id, &secret, None, None, at)
    };

    // Within its lifetime a backdated token works, for what is left of it.
    let recent = as_of(120).await.unwrap();
    assert!((ttl as u64 - 125..=ttl as u64 - 120).contains(&recent.expires_in));
    fx.citadel
        .authenticate(Some(&recent.access_token))
        .await
        .unwrap();

    // Past its lifetime and the clock leeway it is refused as expired.
    let expired = as_of(ttl + LEEWAY_SECS as i64 + 60).await.unwrap();
    assert_eq!(expired.expires_in, 0);
    let err = fx
        .citadel
        .authenticate_data_plane(Some(&expired.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Unauthenticated);
    assert!(err.to_string().contains("expired"), "{err}");

    // The future is refused and audited; the backdated issuances are audited as such.
    let err = as_of(-600).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
    let issued = events(&fx, "oauth.token.issue").await;
    let backdated = issued
        .iter()
        .filter(|e| e.outcome == Outcome::Success && e.params["backdated_to"].is_string())
        .count();
    assert_eq!(backdated, 2);
    assert!(issued
        .iter()
        .any(|e| e.outcome == Outcome::Denied
            && e.reason.as_deref() == Some("backdated to the future")));
}

#[tokio::test]
async fn rotations_keep_old_tokens_valid_and_a_kek_rotation_replaces_the_signing_key() {
    let mut fx = fixture().await;
    let (info, secret) = client(&fx, TokenScope::Invoke).await;
    let first = issue(&fx, &info, &secret).await;
    let first_kid = part(&first, 0)["kid"].as_str().unwrap().to_owned();

    let rotated = fx.citadel.rotate_jwt_signing_key(&fx.admin).await.unwrap();
    assert_eq!(rotated.previous_kid.as_deref(), Some(first_kid.as_str()));
    let second = issue(&fx, &info, &secret).await;
    assert_eq!(part(&second, 0)["kid"], rotated.kid.as_str());
    let kids: Vec<_> = fx.citadel.jwks().await.unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&first_kid) && kids.contains(&rotated.kid));
    for token in [&first, &second] {
        fx.citadel.authenticate(Some(token)).await.unwrap();
    }

    // A KEK rotation destroys the key that sealed the signing key: the next issuance retires
    // it (its public half keeps verifying) and makes a new one.
    let admin = fx.admin.clone();
    fx.citadel.rotate_keys(&admin).await.unwrap();
    let third = issue(&fx, &info, &secret).await;
    let third_kid = part(&third, 0)["kid"].as_str().unwrap().to_owned();
    assert_ne!(third_kid, rotated.kid);
    for token in [&first, &second, &third] {
        fx.citadel.authenticate(Some(token)).await.unwrap();
    }
    assert_eq!(
        fx.citadel.jwks().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let created = events(&fx, "oauth.token.issue")
        .await
        .into_iter()
        .filter(|e| e.params.get("signing_key_created").is_some())
        .count();
    assert_eq!(created, 2, "first use, then after the KEK rotation");
}
