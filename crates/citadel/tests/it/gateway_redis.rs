//! Rate limits shared by two gateway replicas through a real Redis server, through their real
//! routers: the replicas together admit exactly the limit, not twice it. And with Redis gone,
//! each replica still serves with in-process limits and reports itself degraded.
//!
//! The server comes from `CITADEL_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`, which
//! `.ci/run` starts), as in the limits crate's tests: a missing server fails the shared-limit
//! test; `CITADEL_TEST_REDIS_URL=skip` skips it. Bucket keys carry the endpoint's and the
//! principal's ids, which are new in every home, so runs never share buckets.

use std::sync::Arc;

use axum::http::StatusCode;
use citadel_server::{Gateway, Loader, ServerConfig};
use serde_json::json;

use crate::gateway::{bearer, call, gateway_with, invoker, runtime, Reply};
use crate::harness::TestHome;

const ENDPOINT: &str = "dev.endpoints.shared";
/// Requests per minute per principal on ENDPOINT.
const LIMIT: usize = 4;

/// The Redis URL to test against, `None` when told to skip.
fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var("CITADEL_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    if url == "skip" {
        println!("{test}: skipped (CITADEL_TEST_REDIS_URL=skip)");
        return None;
    }
    Some(url)
}

/// A home with ENDPOINT (stub-served) limited to LIMIT requests a minute per principal, and an
/// invoke token and a metrics token of a principal allowed to call it.
fn limited_home() -> (TestHome, String, String) {
    let home = TestHome::init();
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart-base"
    );
    home.admin_ok(&["model", "import", base, "--as", "dev.models.tiny"]);
    let config = home.path("endpoint.toml");
    std::fs::write(
        &config,
        format!("[limits]\nper_principal_requests_per_minute = {LIMIT}\n"),
    )
    .unwrap();
    home.admin_ok(&[
        "endpoint",
        "create",
        ENDPOINT,
        "--model",
        "dev.models.tiny@1",
        "--config",
        config.to_str().unwrap(),
    ]);
    let token = invoker(&home, "replicated-bot", ENDPOINT);
    let metrics = home
        .admin_ok(&[
            "token",
            "create",
            "--principal",
            "replicated-bot",
            "--scope",
            "metrics",
            "--quiet",
        ])
        .trim()
        .to_owned();
    (home, token, metrics)
}

/// A replica of the gateway on `home` whose rate limits live at `redis_url`.
async fn replica(home: &TestHome, redis_url: &str) -> (Arc<Gateway>, axum::Router) {
    let config = ServerConfig {
        redis_url: Some(redis_url.to_owned()),
        ..ServerConfig::default()
    };
    let stub = Loader::Stub(citadel_server::backend::StubBackend {
        reply: "fine".into(),
    });
    gateway_with(home, stub, config).await
}

async fn invoke(app: &axum::Router, token: &str) -> Reply {
    let path = format!("/serving-endpoints/{ENDPOINT}/invocations");
    let body = json!({"inputs": "hi"});
    call(app, "POST", &path, Some(&bearer(token)), Some(body)).await
}

/// Asserts a refusal is a rate limit with a usable `Retry-After`.
fn assert_rate_limited(reply: &Reply) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"]["code"], "rate_limited");
    let wait: u64 = reply.retry_after.as_deref().unwrap().parse().unwrap();
    // One request refills every 60 / LIMIT seconds.
    assert!(
        (1..=60 / LIMIT as u64).contains(&wait),
        "Retry-After: {wait}"
    );
}

/// `rate_limit_degraded` as the metrics route reports it after a refresh.
async fn degraded_metric(gateway: &Gateway, app: &axum::Router, metrics_token: &str) -> String {
    gateway.refresh().await.unwrap();
    let reply = call(app, "GET", "/metrics", Some(&bearer(metrics_token)), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .lines()
        .find(|l| l.starts_with("citadel_rate_limit_degraded "))
        .unwrap_or_else(|| panic!("no rate_limit_degraded in {}", reply.body))
        .to_owned()
}

#[test]
fn two_replicas_share_one_limit_through_redis() {
    let Some(url) = redis_url("two_replicas_share_one_limit_through_redis") else {
        return;
    };
    let (home, token, metrics) = limited_home();
    runtime().block_on(async {
        let (gateway_a, app_a) = replica(&home, &url).await;
        let (gateway_b, app_b) = replica(&home, &url).await;
        for gateway in [&gateway_a, &gateway_b] {
            let status = gateway.limiter.status();
            assert_eq!(status.backend, "redis");
            assert!(
                !status.degraded,
                "no Redis answers at CITADEL_TEST_REDIS_URL (default redis://127.0.0.1:6379): \
                 start one (redis-server --port 6379), point the variable at one, or set it to \
                 skip"
            );
        }
        // Alternating between the replicas: LIMIT in all, not LIMIT on each.
        let mut served = [0; 2];
        for i in 0..3 * LIMIT {
            let app = [&app_a, &app_b][i % 2];
            let reply = invoke(app, &token).await;
            if i < LIMIT {
                assert_eq!(reply.status, StatusCode::OK, "request {i}: {}", reply.body);
                served[i % 2] += 1;
            } else {
                assert_rate_limited(&reply);
            }
        }
        assert_eq!(served, [LIMIT / 2, LIMIT / 2]);
        for (gateway, app) in [(&gateway_a, &app_a), (&gateway_b, &app_b)] {
            // Redis made every decision.
            assert_eq!(gateway.limiter.status().fallback_decisions, 0);
            assert_eq!(
                degraded_metric(gateway, app, &metrics).await,
                "citadel_rate_limit_degraded 0"
            );
        }
    });
}

#[test]
fn without_redis_each_replica_limits_on_its_own_and_reports_it() {
    // A loopback port nobody listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("redis://{closed}");
    let (home, token, metrics) = limited_home();
    runtime().block_on(async {
        let (gateway_a, app_a) = replica(&home, &url).await;
        let (gateway_b, app_b) = replica(&home, &url).await;
        for (gateway, app) in [(&gateway_a, &app_a), (&gateway_b, &app_b)] {
            assert!(gateway.limiter.status().degraded);
            // Each replica serves and enforces the limit in process: LIMIT on each.
            for i in 0..LIMIT {
                let reply = invoke(app, &token).await;
                assert_eq!(reply.status, StatusCode::OK, "request {i}: {}", reply.body);
            }
            assert_rate_limited(&invoke(app, &token).await);
            assert_eq!(
                degraded_metric(gateway, app, &metrics).await,
                "citadel_rate_limit_degraded 1"
            );
        }
    });
}
