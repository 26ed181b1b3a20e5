//! `citadel bench gateway`: the latency the gateway adds, measured over real TLS on loopback with
//! a stub model that answers at once, so every millisecond is the chain's (TLS, authentication,
//! authorization, rate limits, PII and injection guardrails on the way in and out, the
//! inference log), then a long run at many connections for errors and memory.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use citadel_core::TokenScope;
use citadel_server::backend::StubBackend;
use citadel_server::bench::{closed_loop, open_loop, rss_bytes, Target};
use citadel_server::{listener, tls, Gateway, Loader, ServerConfig};
use citadel_service::{Citadel, EndpointSettings, Home, InitOptions, RateLimits, TokenRequest};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{output, quickstart, GlobalArgs};

/// Measure the latency the gateway adds at a fixed request rate, then error rate and memory
/// over many requests at many connections. Runs in a temporary home; needs no token.
///
/// Example: citadel bench gateway --rate 2000 --seconds 10 --json
#[derive(Debug, clap::Args)]
pub struct BenchGatewayArgs {
    /// Requests per second for the latency run.
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    /// Length of the latency run in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests in the load run (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Concurrent connections in the load run.
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
}

const ENDPOINT: &str = "dev.endpoints.bench";

pub async fn run(global: &GlobalArgs, args: BenchGatewayArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let home = Home::at(scratch.path().join("home"));
    let init = Citadel::init(
        &home,
        InitOptions {
            admin_name: "admin".into(),
        },
    )
    .await?;
    let citadel = Citadel::open(&home).await?;
    let admin = citadel.authenticate(Some(&init.admin_token)).await?;
    let folder = scratch.path().join("base");
    quickstart::write_base(&folder)?;
    citadel
        .import_model(&admin, &folder, &"dev.models.bench".parse()?, false, None)
        .await?;
    let settings = EndpointSettings {
        // Unlimited, so the run measures the limiter's cost without being refused by it.
        limits: Some(RateLimits {
            per_principal_requests_per_minute: None,
            per_principal_tokens_per_minute: None,
            endpoint_requests_per_minute: None,
            endpoint_tokens_per_minute: None,
        }),
        ..EndpointSettings::default()
    };
    citadel
        .create_endpoint(
            &admin,
            &ENDPOINT.parse()?,
            "dev.models.bench@1",
            None,
            &settings,
        )
        .await?;
    let (_, token) = citadel
        .create_token(
            &admin,
            TokenRequest {
                principal: None,
                ttl: None,
                scope: TokenScope::Invoke,
                name: "bench".into(),
            },
        )
        .await?;
    let files =
        tls::write_local_certificates(&scratch.path().join("tls"), &["localhost", "127.0.0.1"])?;
    let tls_config = tls::server_config(&files.cert, &files.key)?;
    let loader = Loader::Stub(StubBackend {
        reply:
            "Thanks for reaching out. Your ticket is logged and an agent will reply within a day."
                .into(),
    });
    let gateway = Gateway::new(citadel.clone(), ServerConfig::default(), loader).await?;
    gateway.refresh().await?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = tcp.local_addr()?.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener::run(
        Arc::clone(&gateway),
        tcp,
        tls_config,
        async {
            let _ = stopped.await;
        },
    ));

    let ca = reqwest::Certificate::from_pem(&std::fs::read(&files.ca)?)?;
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .http1_only()
        .pool_max_idle_per_host(args.connections.max(64))
        .build()
        .context("cannot build the benchmark's HTTPS client")?;
    let base = format!("https://localhost:{port}");
    let chat = Target {
        client: client.clone(),
        url: format!("{base}/v1/chat/completions"),
        bearer: Some(token.expose_secret().to_owned()),
        body: Some(json!({
            "model": ENDPOINT,
            "messages": [{"role": "user", "content": "My order 7731 arrived damaged; the box was crushed and the screen is cracked. What can I do?"}],
            "max_tokens": 32,
        })),
    };
    let health = Target {
        client,
        url: format!("{base}/healthz"),
        bearer: None,
        body: None,
    };
    // Warm up connections, caches and the model slot.
    open_loop(&chat, 200, Duration::from_secs(1)).await;
    let duration = Duration::from_secs(args.seconds);
    let baseline = open_loop(&health, args.rate, duration).await;
    let latency = open_loop(&chat, args.rate, duration).await;
    let rss_before = rss_bytes();
    let load = if args.requests > 0 {
        Some(closed_loop(&chat, args.requests, args.connections).await)
    } else {
        None
    };
    let rss_after = rss_bytes();
    gateway.log.flush().await;
    let logged = gateway.log.written();
    let _ = stop.send(());
    server.await.context("the gateway task failed")??;
    citadel.close().await?;

    let server_errors = load.as_ref().map_or(0, |l| {
        l.statuses
            .iter()
            .filter(|(status, _)| status.starts_with('5') || status.as_str() == "transport_error")
            .map(|(_, n)| n)
            .sum::<usize>()
    });
    let report = json!({
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) },
        "rate_rps": args.rate,
        "chat_via_gateway": latency,
        "healthz_over_tls": baseline,
        "gateway_p99_ms": latency.p99_ms,
        "target_p99_ms": 1.0,
        "load": load,
        "load_server_errors": server_errors,
        "rss_before_load_mib": rss_before.map(|b| b / (1 << 20)),
        "rss_after_load_mib": rss_after.map(|b| b / (1 << 20)),
        "inference_log_rows_written": logged,
        "inference_log_rows_dropped": gateway.log.dropped(),
    });
    if global.json {
        return output::json(&report);
    }
    output::table(
        [
            "run", "requests", "rps", "p50 ms", "p90 ms", "p99 ms", "max ms",
        ],
        [
            ("healthz over TLS", &baseline),
            ("chat through the gateway", &latency),
        ]
        .into_iter()
        .chain(load.as_ref().map(|l| ("load (closed loop)", l)))
        .map(|(name, r)| {
            [
                name.to_owned(),
                r.requests.to_string(),
                format!("{:.0}", r.achieved_rps),
                format!("{:.3}", r.p50_ms),
                format!("{:.3}", r.p90_ms),
                format!("{:.3}", r.p99_ms),
                format!("{:.3}", r.max_ms),
            ]
        }),
    );
    println!(
        "server errors in the load run: {server_errors}; RSS {} → {} MiB; inference-log rows written {logged}",
        rss_before.map_or(0, |b| b / (1 << 20)),
        rss_after.map_or(0, |b| b / (1 << 20)),
    );
    Ok(())
}
