//! `citadel bench gateway`: the latency the gateway adds, measured over real TLS on loopback with
//! a stub model that answers at once, so every millisecond is the chain's (TLS, authentication,
//! authorization, rate limits, PII and injection guardrails on the way in and out, the
//! inference log), then a long run at many connections for errors and memory. The gateway runs
//! on its own runtime and threads, as `citadel serve` would, apart from the load generator.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use citadel_core::TokenScope;
use citadel_server::backend::StubBackend;
use citadel_server::bench::{closed_loop, open_loop, rss_bytes, Target};
use citadel_server::{listener, tls, Gateway, Loader, ServerConfig};
use citadel_service::endpoints::MAX_QUEUE;
use citadel_service::{Citadel, EndpointSettings, Home, InitOptions, RateLimits, TokenRequest};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::oneshot;

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

/// What the load generator needs from a running gateway.
struct Ready {
    port: u16,
    token: SecretString,
    ca: PathBuf,
}

/// The inference log's counters once the gateway stopped.
#[derive(Default)]
struct LogCounts {
    written: u64,
    dropped: u64,
}

/// The gateway on a thread and runtime of its own.
struct GatewayThread {
    ready: oneshot::Receiver<anyhow::Result<Ready>>,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<anyhow::Result<LogCounts>>,
}

impl GatewayThread {
    fn spawn(dir: PathBuf, queue: u32) -> anyhow::Result<Self> {
        let (ready_tx, ready) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("citadel-gateway")
            .build()
            .context("cannot start the gateway's runtime")?;
        let thread = std::thread::Builder::new()
            .name("citadel-gateway".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let started = start(&dir, queue).await.and_then(|started| {
                        let tls = tls::server_config(&started.cert, &started.key)?;
                        Ok((started, tls))
                    });
                    let (
                        Started {
                            gateway,
                            citadel,
                            tcp,
                            ready,
                            ..
                        },
                        tls_config,
                    ) = match started {
                        Ok(started) => started,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return Ok(LogCounts::default());
                        }
                    };
                    let _ = ready_tx.send(Ok(ready));
                    listener::run(Arc::clone(&gateway), tcp, tls_config, async {
                        let _ = stopped.await;
                    })
                    .await
                    .context("the gateway failed")?;
                    citadel.close().await?;
                    Ok(LogCounts {
                        written: gateway.log.written(),
                        dropped: gateway.log.dropped(),
                    })
                })
            })?;
        Ok(Self {
            ready,
            stop,
            thread,
        })
    }

    /// Stops the gateway (draining its inference log) and returns the log's counters.
    async fn stop(self) -> anyhow::Result<LogCounts> {
        let _ = self.stop.send(());
        tokio::task::spawn_blocking(move || self.thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the gateway thread panicked"))?
    }
}

/// A gateway set up to serve, not yet listening.
struct Started {
    gateway: Arc<Gateway>,
    citadel: Citadel,
    tcp: tokio::net::TcpListener,
    cert: PathBuf,
    key: PathBuf,
    ready: Ready,
}

/// A fresh home with the stub model behind an unlimited endpoint whose queue holds `queue`
/// callers, an invoke token, certificates, and a bound listener.
async fn start(dir: &Path, queue: u32) -> anyhow::Result<Started> {
    let home = Home::at(dir.join("home"));
    let init = Citadel::init(
        &home,
        InitOptions {
            admin_name: "admin".into(),
        },
    )
    .await?;
    let citadel = Citadel::open(&home).await?;
    let admin = citadel.authenticate(Some(&init.admin_token)).await?;
    let folder = dir.join("base");
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
        // Room for every connection of the load run to wait for the model, as an operator
        // sizes the queue for the clients they expect.
        max_queue: Some(queue),
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
    let files = tls::write_local_certificates(&dir.join("tls"), &["localhost", "127.0.0.1"])?;
    let loader = Loader::Stub(StubBackend {
        reply:
            "Thanks for reaching out. Your ticket is logged and an agent will reply within a day."
                .into(),
    });
    let config = ServerConfig {
        server_timing: true,
        ..ServerConfig::default()
    };
    let gateway = Gateway::new(citadel.clone(), config, loader).await?;
    gateway.refresh().await?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ready = Ready {
        port: tcp.local_addr()?.port(),
        token,
        ca: files.ca,
    };
    Ok(Started {
        gateway,
        citadel,
        tcp,
        cert: files.cert,
        key: files.key,
        ready,
    })
}

/// The highest resident memory seen while `run` goes on, sampled every 50 ms.
async fn peak_rss_during<T>(run: impl std::future::Future<Output = T>) -> (T, Option<u64>) {
    let peak = Arc::new(AtomicU64::new(rss_bytes().unwrap_or(0)));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes().unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let result = run.await;
    sampler.abort();
    let peak = peak.load(Ordering::Relaxed);
    (result, (peak > 0).then_some(peak))
}

pub async fn run(global: &GlobalArgs, args: BenchGatewayArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let queue = u32::try_from(args.connections)
        .unwrap_or(MAX_QUEUE)
        .clamp(64, MAX_QUEUE);
    let mut server = GatewayThread::spawn(scratch.path().to_owned(), queue)?;
    let Ready { port, token, ca } = (&mut server.ready)
        .await
        .context("the gateway thread ended before it was ready")??;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca)?)?;
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
    let (load, rss_peak) = peak_rss_during(async {
        if args.requests > 0 {
            Some(closed_loop(&chat, args.requests, args.connections).await)
        } else {
            None
        }
    })
    .await;
    let rss_after = rss_bytes();
    let log = server.stop().await?;

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
        "gateway_server_side_p99_ms": latency.server.map(|s| s.p99_ms),
        "target_p99_ms": 1.0,
        "load": load,
        "load_server_errors": server_errors,
        "rss_before_load_mib": rss_before.map(|b| b / (1 << 20)),
        "rss_peak_during_load_mib": rss_peak.map(|b| b / (1 << 20)),
        "rss_after_load_mib": rss_after.map(|b| b / (1 << 20)),
        "inference_log_rows_written": log.written,
        "inference_log_rows_dropped": log.dropped,
    });
    if global.json {
        return output::json(&report);
    }
    output::table(
        [
            "run",
            "requests",
            "rps",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "gateway's own p99 ms",
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
                r.server
                    .map_or_else(|| "-".to_owned(), |s| format!("{:.3}", s.p99_ms)),
            ]
        }),
    );
    let mib = |b: Option<u64>| b.map_or(0, |b| b / (1 << 20));
    println!(
        "server errors in the load run: {server_errors}; RSS {} MiB before, {} MiB at peak, {} MiB \
         after; inference-log rows written {}, dropped {}",
        mib(rss_before),
        mib(rss_peak),
        mib(rss_after),
        log.written,
        log.dropped,
    );
    Ok(())
}
