//! Alerts end to end: wrong tokens from one address, sent through the gateway's real router,
//! raise the failed-authentication alert, delivered once to a webhook receiver on loopback
//! that checks the HMAC signature; `alerts list|ack|silence` through the binary, audited;
//! three failures fire nothing; a receiver that fails twice gets the alert on the third attempt;
//! the gateway's schedule evaluates as the system; a denied secret read raises the denied-access
//! alert for that principal.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use citadel_server::auth::PeerAddr;
use citadel_server::{router, Gateway, Loader, ServerConfig};
use citadel_service::{Citadel, Home};
use serde_json::Value;
use tower::ServiceExt;

use crate::harness::*;

const SECRET: &str = "alert-webhook-secret-0123456789abcdefghij";

/// What the loopback receiver saw: every request's body and whether its signature verified.
#[derive(Default)]
struct Inbox {
    requests: Vec<(Value, bool)>,
    /// Requests to answer 500 before answering 200.
    failures_left: usize,
}

/// Verifies `X-Citadel-Signature` as a receiver would: HMAC-SHA256 of `timestamp.body`.
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(stamp), Some(signature)) = (
        headers
            .get("x-citadel-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-citadel-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Some(tag) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - stamp.parse::<i64>().unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mut message = format!("{stamp}.").into_bytes();
    message.extend_from_slice(body);
    age.abs() < 300 && ring::hmac::verify(&key, &message, &tag).is_ok()
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verified = signature_ok(&headers, &body);
    let mut inbox = inbox.lock().unwrap();
    inbox
        .requests
        .push((serde_json::from_slice(&body).unwrap(), verified));
    if inbox.failures_left > 0 {
        inbox.failures_left -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

/// A webhook receiver on 127.0.0.1 that answers 500 `failures` times, then 204.
async fn start_receiver(failures: usize) -> (SocketAddr, Arc<Mutex<Inbox>>) {
    let inbox = Arc::new(Mutex::new(Inbox {
        failures_left: failures,
        ..Inbox::default()
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Arc::clone(&inbox));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, inbox)
}

/// Writes the webhook's secret (0600) and a server configuration naming the receiver.
fn configure(home: &TestHome, receiver: SocketAddr) -> String {
    use std::os::unix::fs::PermissionsExt;
    let secret = home.path("alerts-webhook.key");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = home.path("serve.toml");
    std::fs::write(
        &config,
        format!(
            "alert_webhook_backoff_ms = 50\n\n[[alert_webhooks]]\nurl = \
             \"http://{receiver}/hook\"\nsecret_file = \"alerts-webhook.key\"\n"
        ),
    )
    .unwrap();
    config.display().to_string()
}

/// `count` requests with a wrong token from `client`, through the gateway's router.
async fn fail_authentication(home: &TestHome, client: &str, count: usize) {
    let citadel = Citadel::open(&Home::at(&home.root)).await.unwrap();
    let gateway = Gateway::new(citadel.clone(), ServerConfig::default(), Loader::Engine)
        .await
        .unwrap();
    let peer: SocketAddr = format!("{client}:40000").parse().unwrap();
    let app = router(gateway).layer(axum::Extension(PeerAddr(peer)));
    for i in 0..count {
        let wrong = format!("Bearer cit_pat_{:0>43}", i);
        let request = Request::builder()
            .uri("/v1/models")
            .header(header::AUTHORIZATION, wrong)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    citadel.close().await.unwrap();
}

fn evaluate(home: &TestHome, config: &str) -> Value {
    serde_json::from_str(&home.admin_ok(&["alerts", "evaluate", "--config", config, "--json"]))
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn brute_force_raises_one_signed_alert_that_can_be_acknowledged_and_silenced() {
    let home = TestHome::init();
    let runtime = runtime();
    let (receiver, inbox) = runtime.block_on(start_receiver(0));
    let config = configure(&home, receiver);

    // Three failures from one address and six from another, through the real router.
    runtime.block_on(fail_authentication(&home, "127.0.0.3", 3));
    runtime.block_on(fail_authentication(&home, "127.0.0.6", 6));
    let failures = home.audit_events(&["--action", "auth.authenticate", "--outcome", "denied"]);
    assert_eq!(failures.len(), 9);
    assert!(failures
        .iter()
        .all(|e| !e["params"].to_string().contains("cit_pat_")));

    let report = evaluate(&home, &config);
    let fired = report["fired"].as_array().unwrap();
    assert_eq!(fired.len(), 1, "{report}");
    assert_eq!(fired[0]["rule"], "failed_authentications");
    assert_eq!(fired[0]["key"], "127.0.0.6");
    assert_eq!(fired[0]["value"], 6.0);
    assert_eq!(report["deliveries"][0]["delivered"], true);

    // Exactly one notification, signed, about that address and nothing else.
    {
        let inbox = inbox.lock().unwrap();
        assert_eq!(inbox.requests.len(), 1);
        let (body, verified) = &inbox.requests[0];
        assert!(verified, "the HMAC signature must verify");
        assert_eq!(body["rule"], "failed_authentications");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["labels"]["address"], "127.0.0.6");
        assert_eq!(body["severity"], "high");
        assert!(!body.to_string().contains(SECRET));
    }

    // The same ongoing condition: no second alert, no second notification.
    let again = evaluate(&home, &config);
    assert!(again["fired"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(inbox.lock().unwrap().requests.len(), 1);

    let listed: Vec<Value> =
        serde_json::from_str(&home.admin_ok(&["alerts", "list", "--json"])).unwrap();
    assert_eq!(listed.len(), 1);
    let alert = &listed[0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["group_label"], "address");
    assert!(
        alert["notification"].as_str().unwrap().contains("1/1"),
        "{alert}"
    );
    let id = alert["id"].as_str().unwrap();

    // Acknowledged by the admin, audited; a second acknowledgement is refused.
    let acked: Value =
        serde_json::from_str(&home.admin_ok(&["alerts", "ack", id, "--json"])).unwrap();
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(acked["acked_by"], "admin");
    run_fails(home.admin().args(["alerts", "ack", id]), EXIT_INVALID);
    let acks = home.audit_events(&["--action", "alert.acknowledge", "--outcome", "success"]);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0]["params"]["alert_id"], id);
    let fires = home.audit_events(&["--action", "alert.fire"]);
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0]["params"]["group"], "127.0.0.6");
    assert_eq!(home.audit_events(&["--action", "alert.notify"]).len(), 1);

    // A silence for another address: its alert is recorded but not notified.
    home.admin_ok(&[
        "alerts",
        "silence",
        "--rule",
        "failed_authentications",
        "--key",
        "127.0.0.9",
        "--for",
        "2h",
        "--reason",
        "pen test",
    ]);
    let silences = home.audit_events(&["--action", "alert.silence"]);
    assert_eq!(silences[0]["params"]["reason"], "pen test");
    assert_eq!(silences[0]["params"]["group"], "127.0.0.9");
    runtime.block_on(fail_authentication(&home, "127.0.0.9", 6));
    let silenced = evaluate(&home, &config);
    assert_eq!(silenced["fired"][0]["key"], "127.0.0.9", "{silenced}");
    assert!(silenced["fired"][0]["silenced_until"].is_string());
    assert!(silenced["deliveries"].as_array().unwrap().is_empty());
    assert_eq!(inbox.lock().unwrap().requests.len(), 1);
    let listed: Vec<Value> =
        serde_json::from_str(&home.admin_ok(&["alerts", "list", "--json"])).unwrap();
    assert_eq!(listed.len(), 2);

    // A silence needs a known rule and a reason; alerts need MANAGE on the metastore.
    let err = run_fails(
        home.admin().args([
            "alerts", "silence", "--rule", "nope", "--for", "1h", "--reason", "x",
        ]),
        EXIT_INVALID,
    );
    assert!(err.contains("citadel alerts rules"), "{err}");
    let bob = home.user_with_token("bob");
    run_fails(
        home.as_token(&bob).args(["alerts", "list"]),
        EXIT_PERMISSION_DENIED,
    );
    run_fails(
        home.as_token(&bob).args(["alerts", "ack", id]),
        EXIT_PERMISSION_DENIED,
    );
    let denied = home.audit_events(&["--action", "alert.*", "--outcome", "denied"]);
    assert_eq!(denied.len(), 2);
}

#[test]
fn a_failing_receiver_gets_the_alert_on_the_third_attempt() {
    let home = TestHome::init();
    let runtime = runtime();
    let (receiver, inbox) = runtime.block_on(start_receiver(2));
    let config = configure(&home, receiver);
    runtime.block_on(fail_authentication(&home, "127.0.0.7", 6));

    let report = evaluate(&home, &config);
    let delivery = &report["deliveries"][0];
    assert_eq!(delivery["delivered"], true, "{report}");
    assert_eq!(delivery["attempts"], 3);
    let inbox = inbox.lock().unwrap();
    assert_eq!(inbox.requests.len(), 3);
    assert!(inbox
        .requests
        .iter()
        .all(|(body, verified)| *verified && body["labels"]["address"] == "127.0.0.7"));
}

#[test]
fn rules_are_listed_and_a_bad_rules_file_is_refused_with_its_reason() {
    let home = TestHome::init();
    let rules: Vec<Value> =
        serde_json::from_str(&home.admin_ok(&["alerts", "rules", "--json"])).unwrap();
    let brute = rules
        .iter()
        .find(|r| r["name"] == "failed_authentications")
        .unwrap();
    assert_eq!(brute["window"], "5m");
    assert_eq!(brute["threshold"], 5.0);
    assert!(rules.iter().any(|r| r["metric"] == "drift_score"));

    std::fs::write(
        home.path("alerts.toml"),
        "[[rule]]\nname = \"x\"\nmetric = \"cpu\"\nwindow = \"5m\"\ncomparison = \">\"\n\
         threshold = 1\nseverity = \"low\"\n",
    )
    .unwrap();
    std::fs::write(home.path("serve.toml"), "alerts_rules = \"alerts.toml\"\n").unwrap();
    let config = home.path("serve.toml").display().to_string();
    let err = run_fails(
        home.admin().args(["alerts", "rules", "--config", &config]),
        EXIT_INVALID,
    );
    assert!(err.contains("unknown metric \"cpu\""), "{err}");
}

#[test]
fn the_gateway_schedule_evaluates_as_the_system_and_notifies() {
    let home = TestHome::init();
    let runtime = runtime();
    let (receiver, inbox) = runtime.block_on(start_receiver(0));
    let config_path = configure(&home, receiver);
    runtime.block_on(fail_authentication(&home, "127.0.0.8", 6));

    runtime.block_on(async {
        let mut config = ServerConfig::load(std::path::Path::new(&config_path)).unwrap();
        config.alerts_interval_secs = 5;
        let citadel = Citadel::open(&Home::at(&home.root)).await.unwrap();
        let gateway = Gateway::new(citadel.clone(), config, Loader::Engine)
            .await
            .unwrap();
        let schedule = citadel_server::alerts::spawn_scheduler(gateway)
            .unwrap()
            .expect("the schedule is on");
        // The first evaluation runs at once.
        for _ in 0..100 {
            if !inbox.lock().unwrap().requests.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        schedule.abort();
        citadel.close().await.unwrap();
    });
    let inbox = inbox.lock().unwrap();
    assert_eq!(inbox.requests.len(), 1);
    assert!(inbox.requests[0].1);
    assert_eq!(inbox.requests[0].0["labels"]["address"], "127.0.0.8");
    let fires = home.audit_events(&["--action", "alert.fire"]);
    assert_eq!(fires[0]["actor_name"], "system");
}

#[test]
fn a_denied_secret_read_raises_the_denied_access_alert_for_that_principal() {
    let home = TestHome::init();
    home.admin_ok(&["secrets", "scope", "create", "dev.data.vault"]);
    let eve = home.user_with_token("eve");
    home.grant_use_dev_data("eve");
    run_fails(
        home.as_token(&eve)
            .args(["secrets", "get", "dev.data.vault", "db-password"]),
        EXIT_PERMISSION_DENIED,
    );
    let report: Value =
        serde_json::from_str(&home.admin_ok(&["alerts", "evaluate", "--json"])).unwrap();
    let fired = report["fired"].as_array().unwrap();
    assert_eq!(fired.len(), 1, "{report}");
    assert_eq!(fired[0]["rule"], "denied_access");
    assert_eq!(fired[0]["group_label"], "principal");
    assert_eq!(fired[0]["key"], "eve");
    assert_eq!(fired[0]["severity"], "high");
}
