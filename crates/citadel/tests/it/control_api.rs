//! The control API through the gateway's real router (`tower::ServiceExt::oneshot`): tokens whose
//! secret is shown once, grants that change what another principal may do, approvals under
//! separation of duties, the endpoint lifecycle, the audit query that shows every write, and
//! the refusals: wrong scope, bad bodies, bad names in the path.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use citadel_server::{router, Gateway, Loader, ServerConfig};
use citadel_service::{Citadel, Home};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::harness::TestHome;

const MODEL: &str = "dev.data.tiny";
const ENDPOINT: &str = "dev.data.tiny_api";

/// The gateway's router over `home`, with a stub model and no credential cache (so a revoked
/// token is refused at once).
async fn app(home: &TestHome) -> axum::Router {
    let citadel = Citadel::open(&Home::at(&home.root)).await.unwrap();
    let config = ServerConfig {
        auth_cache_secs: 0,
        ..ServerConfig::default()
    };
    let loader = Loader::Stub(citadel_server::backend::StubBackend { reply: "ok".into() });
    let gateway = Gateway::new(citadel, config, loader).await.unwrap();
    router(Arc::clone(&gateway))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The JSON error's code, after checking the error shape.
    fn error_code(&self) -> String {
        let error = self.json();
        assert!(error["error"]["message"].is_string(), "{}", self.body);
        error["error"]["code"].as_str().unwrap().to_owned()
    }
}

/// Sends raw bytes with `content_type`.
async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Sends `body` as JSON, or nothing.
async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    match body {
        Some(body) => {
            let bytes = body.to_string().into_bytes();
            send(app, method, path, token, Some("application/json"), bytes).await
        }
        None => send(app, method, path, token, None, Vec::new()).await,
    }
}

/// Calls that must succeed with `want`; returns the reply.
async fn ok(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
    want: StatusCode,
) -> Reply {
    let reply = call(app, method, path, token, body).await;
    assert_eq!(reply.status, want, "{method} {path}: {}", reply.body);
    reply
}

/// Creates `name` (a user) and a token of `scope` for it over the API; returns the secret.
async fn user_with_token(app: &axum::Router, admin: &str, name: &str, scope: &str) -> String {
    let principals = call(app, "GET", "/api/v1/principals", admin, None).await;
    if !principals.body.contains(&format!("\"name\":\"{name}\"")) {
        let body = json!({"kind": "user", "name": name});
        let created = ok(
            app,
            "POST",
            "/api/v1/principals",
            admin,
            Some(body),
            StatusCode::OK,
        )
        .await;
        assert_eq!(created.json()["kind"], "user");
    }
    let body = json!({"principal": name, "scope": scope, "name": "api"});
    let created = ok(
        app,
        "POST",
        "/api/v1/tokens",
        admin,
        Some(body),
        StatusCode::OK,
    )
    .await;
    created.json()["token"].as_str().unwrap().to_owned()
}

/// Grants or revokes `privilege` on a securable to `principal` over the API.
async fn change_grant(
    app: &axum::Router,
    admin: &str,
    path: &str,
    (privilege, securable_type, name): (&str, &str, &str),
    principal: &str,
) {
    let body = json!({
        "privilege": privilege, "securable_type": securable_type, "name": name,
        "principal": principal,
    });
    ok(app, "POST", path, admin, Some(body), StatusCode::NO_CONTENT).await;
}

/// Audit events of `action` (exact, or a prefix ending in `*`) through the API, oldest first.
async fn audited(app: &axum::Router, admin: &str, action: &str) -> Vec<Value> {
    let path = format!("/api/v1/audit?action={action}&limit=1000");
    let reply = ok(app, "GET", &path, admin, None, StatusCode::OK).await;
    reply.json().as_array().unwrap().clone()
}

/// Whether `events` hold one of `action` by `actor` that ended with `outcome`.
fn has_event(events: &[Value], action: &str, actor: &str, outcome: &str) -> bool {
    events
        .iter()
        .any(|e| e["action"] == action && e["actor_name"] == actor && e["outcome"] == outcome)
}

#[test]
fn tokens_and_grants_over_the_api_are_audited_and_the_secret_is_shown_once() {
    let home = TestHome::init();
    let admin = home.admin_token.clone();
    runtime().block_on(async {
        let app = app(&home).await;
        let me = ok(&app, "GET", "/api/v1/whoami", &admin, None, StatusCode::OK).await;
        let admin_name = me.json()["principal"].as_str().unwrap().to_owned();
        assert_eq!(me.json()["credential"]["kind"], "personal_access_token");

        // A JWT from client credentials says so, with its client.
        let body = json!({"kind": "service_principal", "name": "ops-bot"});
        ok(
            &app,
            "POST",
            "/api/v1/principals",
            &admin,
            Some(body),
            StatusCode::OK,
        )
        .await;
        let client: Value = serde_json::from_str(&home.admin_ok(&[
            "oauth", "client", "create", "ops-bot", "--scope", "control", "--json",
        ]))
        .unwrap();
        let client_id = client["client_id"].as_str().unwrap();
        let form_body = format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={}",
            client["client_secret"].as_str().unwrap()
        );
        let form = Some("application/x-www-form-urlencoded");
        let issued = send(
            &app,
            "POST",
            "/oauth/token",
            "",
            form,
            form_body.into_bytes(),
        )
        .await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
        let jwt = issued.json()["access_token"].as_str().unwrap().to_owned();
        let me = ok(&app, "GET", "/api/v1/whoami", &jwt, None, StatusCode::OK).await;
        let credential = &me.json()["credential"];
        assert_eq!(credential["kind"], "oauth_jwt", "{credential}");
        assert_eq!(credential["client_id"], client_id);

        // A token created over the API works, and its secret is in that one response only.
        let body = json!({"kind": "user", "name": "dana"});
        ok(
            &app,
            "POST",
            "/api/v1/principals",
            &admin,
            Some(body),
            StatusCode::OK,
        )
        .await;
        let body = json!({"principal": "dana", "scope": "control", "name": "laptop",
                          "ttl_seconds": 3600});
        let created = ok(
            &app,
            "POST",
            "/api/v1/tokens",
            &admin,
            Some(body),
            StatusCode::OK,
        )
        .await;
        let created = created.json();
        let secret = created["token"].as_str().unwrap().to_owned();
        let id = created["info"]["id"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("cit_pat_"), "{secret}");
        let dana = ok(&app, "GET", "/api/v1/whoami", &secret, None, StatusCode::OK).await;
        let dana = dana.json();
        assert_eq!(dana["principal"], "dana");
        assert_eq!(dana["scope"], "control");
        assert_eq!(dana["credential"]["id"], id.as_str());
        let listed = ok(
            &app,
            "GET",
            "/api/v1/tokens?principal=dana",
            &admin,
            None,
            StatusCode::OK,
        )
        .await;
        assert!(listed.body.contains(&id), "{}", listed.body);
        assert!(!listed.body.contains(&secret), "a listing shows the secret");
        let everything = ok(
            &app,
            "GET",
            "/api/v1/audit?limit=100000",
            &admin,
            None,
            StatusCode::OK,
        )
        .await;
        assert!(
            !everything.body.contains(&secret),
            "the audit log holds the secret"
        );
        assert!(
            everything.body.contains(&id),
            "token.create names the token's id"
        );

        // Grants change what dana may do: reading grants needs MANAGE on the schema.
        let grants = "/api/v1/grants?securable_type=schema&name=dev.data";
        let refused = call(&app, "GET", grants, &secret, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(refused.error_code(), "permission_denied");
        let use_dev = ("USE_CATALOG", "catalog", "dev");
        let manage = ("MANAGE", "schema", "dev.data");
        change_grant(&app, &admin, "/api/v1/grants", use_dev, "dana").await;
        change_grant(&app, &admin, "/api/v1/grants", manage, "dana").await;
        let shown = ok(&app, "GET", grants, &secret, None, StatusCode::OK).await;
        assert!(
            shown
                .json()
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["principal"] == "dana"
                    && g["privilege"] == "MANAGE"
                    && g["securable"] == "dev.data"),
            "{}",
            shown.body
        );
        change_grant(&app, &admin, "/api/v1/grants/revoke", manage, "dana").await;
        let refused = call(&app, "GET", grants, &secret, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        // Revoked over the API, the token stops working.
        let path = format!("/api/v1/tokens/{id}");
        ok(&app, "DELETE", &path, &admin, None, StatusCode::NO_CONTENT).await;
        let after = call(&app, "GET", "/api/v1/whoami", &secret, None).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
        let again = call(&app, "DELETE", &path, &admin, None).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);

        // The document describes what was sent and received, from the same types.
        let doc = ok(&app, "GET", "/openapi.json", &admin, None, StatusCode::OK).await;
        let doc = doc.json();
        let create = &doc["paths"]["/api/v1/tokens"]["post"];
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CreateToken"
        );
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["CreateToken"]["properties"]["ttl_seconds"].is_object());
        assert!(schemas["TokenInfo"]["properties"].get("token").is_none());
        assert!(doc["paths"]["/api/v1/tokens/{id}"]["delete"]["responses"]["204"].is_object());

        // Every write is in the audit log, by the admin, as a success.
        let events = audited(&app, &admin, "*").await;
        for action in [
            "principal.create",
            "token.create",
            "grant.create",
            "grant.revoke",
            "token.revoke",
        ] {
            assert!(
                has_event(&events, action, &admin_name, "success"),
                "{action} missing"
            );
        }
        assert!(has_event(&events, "grant.show", "dana", "denied"));
    });
}

#[test]
fn approvals_keep_separation_of_duties_and_endpoints_live_their_whole_life_over_the_api() {
    let home = TestHome::init();
    let admin = home.admin_token.clone();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../citadel-engine/tests/fixtures/tiny-llama");
    // The admin registers the version, so the admin may not approve it.
    home.admin_ok(&["model", "import", fixture.to_str().unwrap(), "--as", MODEL]);
    runtime().block_on(async {
        let app = app(&home).await;
        let me = ok(&app, "GET", "/api/v1/whoami", &admin, None, StatusCode::OK).await;
        let admin_name = me.json()["principal"].as_str().unwrap().to_owned();
        let erin = user_with_token(&app, &admin, "erin", "control").await;
        for grant in [
            ("USE_CATALOG", "catalog", "dev"),
            ("USE_SCHEMA", "schema", "dev.data"),
            ("SELECT", "model", MODEL),
            ("APPROVE", "model", MODEL),
        ] {
            change_grant(&app, &admin, "/api/v1/grants", grant, "erin").await;
        }

        // What awaits approval.
        let pending = format!("/api/v1/models/{MODEL}/versions?status=pending_review");
        let listed = ok(&app, "GET", &pending, &erin, None, StatusCode::OK).await;
        let listed = listed.json();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["version"], 1);

        let approve = format!("/api/v1/models/{MODEL}/versions/1/approve");
        let comment = Some(json!({"comment": "evaluated, fine"}));
        let refused = call(&app, "POST", &approve, &admin, comment.clone()).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(
            refused.body.contains("separation of duties"),
            "{}",
            refused.body
        );
        let empty = call(&app, "POST", &approve, &erin, Some(json!({"comment": " "}))).await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
        let approved = ok(&app, "POST", &approve, &erin, comment, StatusCode::OK).await;
        assert_eq!(approved.json()["status"], "approved");
        let path = format!("/api/v1/models/{MODEL}/versions/1");
        let shown = ok(&app, "GET", &path, &erin, None, StatusCode::OK).await;
        assert_eq!(shown.json()["status"], "approved");
        let decisions = audited(&app, &admin, "model.approve").await;
        assert!(has_event(
            &decisions,
            "model.approve",
            &admin_name,
            "denied"
        ));
        assert!(has_event(&decisions, "model.approve", "erin", "success"));

        // An alias, then an endpoint created, updated, rolled back and deleted.
        let alias = format!("/api/v1/models/{MODEL}/aliases/blue");
        let aliased = ok(
            &app,
            "PUT",
            &alias,
            &admin,
            Some(json!({"version": 1})),
            StatusCode::OK,
        )
        .await;
        let aliases = aliased.json()["aliases"].clone();
        assert!(
            aliases.as_array().unwrap().contains(&json!("blue")),
            "{aliases}"
        );
        let body = json!({"name": ENDPOINT, "model": format!("{MODEL}@blue")});
        let created = ok(
            &app,
            "POST",
            "/api/v1/endpoints",
            &admin,
            Some(body),
            StatusCode::OK,
        )
        .await;
        assert_eq!(created.json()["revision"], 1);
        let path = format!("/api/v1/endpoints/{ENDPOINT}");
        let body = json!({"settings": {"max_concurrency": 8}});
        let updated = ok(
            &app,
            "PATCH",
            &path,
            &admin,
            Some(body.clone()),
            StatusCode::OK,
        )
        .await;
        assert_eq!(updated.json()["revision"], 2);
        assert_eq!(updated.json()["config"]["max_concurrency"], 8);
        let unchanged = call(&app, "PATCH", &path, &admin, Some(body)).await;
        assert_eq!(
            unchanged.status,
            StatusCode::BAD_REQUEST,
            "{}",
            unchanged.body
        );
        let rollback = format!("{path}/rollback");
        let rolled = ok(&app, "POST", &rollback, &admin, None, StatusCode::OK).await;
        assert_eq!(rolled.json()["revision"], 3);
        assert_eq!(rolled.json()["config"]["max_concurrency"], 4);
        let shown = ok(&app, "GET", &path, &admin, None, StatusCode::OK).await;
        assert_eq!(shown.json()["history"].as_array().unwrap().len(), 3);
        ok(&app, "DELETE", &path, &admin, None, StatusCode::NO_CONTENT).await;
        let gone = call(&app, "GET", &path, &admin, None).await;
        // Refused like any endpoint the caller may not see, so names cannot be probed.
        assert_eq!(gone.status, StatusCode::FORBIDDEN, "{}", gone.body);
        assert!(gone.body.contains("does not exist"), "{}", gone.body);
        let listed = ok(
            &app,
            "GET",
            "/api/v1/endpoints",
            &admin,
            None,
            StatusCode::OK,
        )
        .await;
        assert_eq!(listed.json(), json!([]));
        let lifecycle = audited(&app, &admin, "endpoint.*").await;
        for action in [
            "endpoint.create",
            "endpoint.update",
            "endpoint.rollback",
            "endpoint.delete",
        ] {
            assert!(
                has_event(&lifecycle, action, &admin_name, "success"),
                "{action} missing"
            );
        }
        let aliases = audited(&app, &admin, "model.alias.set").await;
        assert!(has_event(
            &aliases,
            "model.alias.set",
            &admin_name,
            "success"
        ));
        let verified = ok(
            &app,
            "GET",
            "/api/v1/audit/verify",
            &admin,
            None,
            StatusCode::OK,
        )
        .await;
        assert_eq!(verified.json()["intact"], true);
    });
}

#[test]
fn refusals_come_before_the_body_and_as_json() {
    let home = TestHome::init();
    let admin = home.admin_token.clone();
    runtime().block_on(async {
        let app = app(&home).await;
        // An invoke token is refused on every control route, whatever it sends.
        let invoke = user_with_token(&app, &admin, "ivan", "invoke").await;
        for route in citadel_server::control::ROUTES {
            let path = route
                .path
                .replace("{endpoint}", "dev.data.x")
                .replace("{model}", "dev.data.x")
                .replace("{version}", "1")
                .replace("{alias}", "blue")
                .replace("{id}", "00000000-0000-7000-8000-000000000000")
                .replace("{group}", "admins")
                .replace("{member}", "ivan");
            let body = (route.method != "GET").then(|| json!({}));
            let reply = call(&app, route.method, &path, &invoke, body).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{} {path}: {}",
                route.method,
                reply.body
            );
            assert_eq!(reply.error_code(), "permission_denied");
        }

        // Bodies: malformed, with unknown fields, of the wrong type, too large, not JSON.
        let json = Some("application/json");
        let path = "/api/v1/principals";
        for (body, hint) in [
            (&br#"{"kind": "user", "name": "#[..], "EOF"),
            (
                &br#"{"kind": "user", "name": "x", "admin": true}"#[..],
                "unknown field",
            ),
            (&br#"{"kind": "root", "name": "x"}"#[..], "unknown variant"),
            (&br#"[]"#[..], "expected struct"),
        ] {
            let reply = send(&app, "POST", path, &admin, json, body.to_vec()).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
            assert_eq!(reply.error_code(), "invalid_request");
            assert!(reply.body.contains(hint), "{hint}: {}", reply.body);
        }
        let mut huge = br#"{"kind": "user", "name": ""#.to_vec();
        huge.extend(vec![b'a'; 2 << 20]);
        huge.extend(br#""}"#);
        let reply = send(&app, "POST", path, &admin, json, huge).await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            reply.body
        );
        assert_eq!(reply.error_code(), "payload_too_large");
        let form = Some("application/x-www-form-urlencoded");
        let reply = send(&app, "POST", path, &admin, form, b"kind=user".to_vec()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{}",
            reply.body
        );
        let body = json!({"privilege": "SELECT", "securable_type": "schema", "name": "dev.data",
                          "principal": "ivan", "effect": "deny"});
        let reply = call(&app, "POST", "/api/v1/grants", &admin, Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        let reply = call(&app, "GET", "/api/v1/audit?actor=x", &admin, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.error_code(), "invalid_request");

        // Names in the path: traversal, too few parts, capitals, a smuggled selector.
        for (method, path) in [
            ("GET", "/api/v1/endpoints/..%2Fx"),
            ("GET", "/api/v1/endpoints/a.b"),
            ("DELETE", "/api/v1/endpoints/..%2F..%2Fetc"),
            ("PATCH", "/api/v1/endpoints/A.B.C"),
            ("GET", "/api/v1/models/a.b/versions"),
            ("GET", "/api/v1/models/..%2Fx/versions/1"),
            ("GET", "/api/v1/models/dev.data.x/versions/1@blue"),
            ("GET", "/api/v1/models/dev.data.x/versions/..%2F1"),
            ("DELETE", "/api/v1/tokens/..%2Fx"),
            ("POST", "/api/v1/groups/..%2Fadmins/members/ivan"),
            ("GET", "/api/v1/grants?securable_type=schema&name=..%2Fdev"),
            ("GET", "/api/v1/audit?since=yesterday"),
        ] {
            let body = (method == "PATCH").then(|| json!({}));
            let reply = call(&app, method, path, &admin, body).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{method} {path}: {}",
                reply.body
            );
            assert_eq!(reply.error_code(), "invalid_request", "{path}");
        }
    });
}
