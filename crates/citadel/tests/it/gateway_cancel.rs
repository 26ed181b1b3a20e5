//! A generation nobody waits for any more stops within one token and frees its model's slot: after
//! the request timeout, and when the client goes away from a whole or a streamed answer. The
//! model here is the stub backend slowed down per word, on an endpoint that runs one call at a
//! time; each abandoned call is followed by a short one that must be served at once instead of
//! queueing behind it, and the inference log records what happened to each.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::{header, Request, Response, StatusCode};
use citadel_engine::ChatMessage;
use citadel_server::backend::{Backend, GenOutput, GenRequest, StubBackend};
use citadel_server::{router, Gateway, Loader, ServerConfig};
use citadel_service::{Citadel, Home};
use serde_json::json;
use tower::ServiceExt;

use crate::harness::TestHome;

const ENDPOINT: &str = "dev.endpoints.slow";
/// What the slowed stub takes for each word.
const PER_WORD: Duration = Duration::from_millis(50);
/// Words in a long answer: 20 seconds of generation.
const LONG: u32 = 400;
/// How long a short call may take when the slot is free (it waits for at most one word of an
/// abandoned generation, then generates two words of its own).
const PROMPTLY: Duration = Duration::from_secs(2);

/// The stub backend taking [`PER_WORD`] before each word, as a real model takes time per token.
#[derive(Debug)]
struct Slowed(StubBackend);

impl Backend for Slowed {
    fn count_tokens(&self, text: &str) -> Result<usize, String> {
        self.0.count_tokens(text)
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, String> {
        self.0.render_chat(messages)
    }

    fn generate(
        &self,
        request: &GenRequest,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<GenOutput, String> {
        self.0.generate(request, &mut |piece| {
            std::thread::sleep(PER_WORD);
            on_text(piece)
        })
    }
}

/// A home with [`ENDPOINT`] running one call at a time with one waiting, and an invoke token
/// that may call it.
fn home_with_slow_endpoint() -> (TestHome, String) {
    let home = TestHome::init();
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart-base"
    );
    home.admin_ok(&["model", "import", base, "--as", "dev.models.tiny"]);
    let config = home.path("slow.toml");
    std::fs::write(&config, "max_concurrency = 1\nmax_queue = 1\n").unwrap();
    home.admin_ok(&[
        "endpoint",
        "create",
        ENDPOINT,
        "--model",
        "dev.models.tiny@1",
        "--config",
        config.to_str().unwrap(),
    ]);
    home.admin_ok(&["principal", "create", "service_principal", "slow-bot"]);
    for (privilege, kind, name) in [
        ("USE_CATALOG", "catalog", "dev"),
        ("USE_SCHEMA", "schema", "dev.endpoints"),
        ("EXECUTE", "endpoint", ENDPOINT),
    ] {
        home.admin_ok(&["grant", privilege, "ON", kind, name, "TO", "slow-bot"]);
    }
    let token = home.admin_ok(&[
        "token",
        "create",
        "--principal",
        "slow-bot",
        "--scope",
        "invoke",
        "--quiet",
    ]);
    (home, format!("Bearer {}", token.trim()))
}

async fn gateway(home: &TestHome, request_timeout_secs: u64) -> (Arc<Gateway>, axum::Router) {
    let citadel = Citadel::open(&Home::at(&home.root)).await.unwrap();
    let config = ServerConfig {
        request_timeout_secs,
        ..ServerConfig::default()
    };
    let words = vec!["word"; LONG as usize].join(" ");
    let slowed = Slowed(StubBackend { reply: words });
    let loader = Loader::Backend(Arc::new(slowed));
    let gateway = Gateway::new(citadel, config, loader).await.unwrap();
    gateway.refresh().await.unwrap();
    let app = router(Arc::clone(&gateway));
    (gateway, app)
}

/// `POST path` with a JSON body; the response as it starts.
async fn post(
    app: &axum::Router,
    auth: &str,
    path: &str,
    body: serde_json::Value,
) -> Response<Body> {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    app.clone().oneshot(request).await.unwrap()
}

/// A whole completion of `max_tokens` words.
async fn complete(app: &axum::Router, auth: &str, max_tokens: u32) -> Response<Body> {
    let body = json!({ "model": ENDPOINT, "prompt": "hi", "max_tokens": max_tokens });
    post(app, auth, "/v1/completions", body).await
}

/// A short call, which must be answered within [`PROMPTLY`]: the slot is free.
async fn served_promptly(app: &axum::Router, auth: &str, after: &str) {
    let response = tokio::time::timeout(PROMPTLY, complete(app, auth, 2))
        .await
        .unwrap_or_else(|_| panic!("a short call still queued {PROMPTLY:?} after {after}"));
    assert_eq!(response.status(), StatusCode::OK, "after {after}");
}

/// The statuses the inference log holds for [`ENDPOINT`], oldest first.
async fn logged_statuses(home: &TestHome, gateway: &Gateway) -> Vec<String> {
    gateway.log.flush().await;
    let admin = gateway
        .citadel
        .authenticate(Some(&home.admin_token.clone().into()))
        .await
        .unwrap();
    let rows = gateway
        .citadel
        .query_inference_log(&admin, &ENDPOINT.parse().unwrap(), None, 100)
        .await
        .unwrap();
    let mut rows: Vec<_> = rows.into_iter().map(|r| (r.time, r.status)).collect();
    rows.sort_by_key(|(time, _)| *time);
    rows.into_iter()
        .map(|(_, status)| status.as_str().to_owned())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn abandoned_generations_free_their_slot_within_a_token() {
    let (home, auth) = home_with_slow_endpoint();
    runtime().block_on(async {
        // Out of time: 408 after the 1 s timeout, and the long generation stops there.
        let (timing_out, app) = gateway(&home, 1).await;
        let response = complete(&app, &auth, LONG).await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        served_promptly(&app, &auth, "a timeout").await;
        assert_eq!(logged_statuses(&home, &timing_out).await, ["timeout", "ok"]);

        let (gateway, app) = gateway(&home, 60).await;
        // The client of a whole answer goes away after 300 ms.
        let gone =
            tokio::time::timeout(Duration::from_millis(300), complete(&app, &auth, LONG)).await;
        assert!(gone.is_err(), "the long call answered within 300 ms");
        served_promptly(&app, &auth, "a client went away").await;

        // The client of a chat stream reads its first event (the role), then goes away; no
        // sentence ends in the stub's words, so nothing more is sent that could fail.
        let body = json!({
            "model": ENDPOINT,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": LONG,
            "stream": true
        });
        let response = post(&app, &auth, "/v1/chat/completions", body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let first = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(first.is_some_and(|frame| frame.is_ok()));
        drop(body);
        served_promptly(&app, &auth, "a streaming client went away").await;

        assert_eq!(
            logged_statuses(&home, &gateway).await,
            ["timeout", "ok", "cancelled", "ok", "cancelled", "ok"]
        );
    });
}
