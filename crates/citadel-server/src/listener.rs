//! The accept loop: TLS handshakes with a deadline, HTTP/1.1 connections with a header-read
//! timeout, and a graceful shutdown that lets requests in flight finish within a grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent its request headers by then is dropped (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then waits up to `grace` for
/// open connections to finish their requests.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    // Out of descriptors, most likely: let open connections finish first.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let app = app.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let app = app.layer(axum::Extension(crate::auth::PeerAddr(peer)));
                    let service = TowerToHyperService::new(app);
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(tls), service);
                    // A failed connection concerns only its client.
                    let _ = watcher.watch(connection).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    Ok(())
}

/// Runs `gateway` on `listener` until `shutdown`: refreshes endpoint configurations, unloads
/// idle models, checks traffic drift and evaluates the alert rules in the background, then
/// drains the inference-table writer on the way out.
pub async fn run(
    gateway: Arc<crate::Gateway>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let alerts = crate::alerts::spawn_scheduler(Arc::clone(&gateway))
        .map_err(|e| std::io::Error::other(format!("alerts: {e}")))?;
    let refresher = {
        let gateway = Arc::clone(&gateway);
        let every = Duration::from_secs(gateway.config.refresh_secs);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(err) = gateway.refresh().await {
                    tracing::warn!(error = %err, "cannot refresh endpoint configurations");
                }
            }
        })
    };
    let drift = crate::drift::spawn_scheduler(Arc::clone(&gateway));
    let grace = Duration::from_secs(gateway.config.shutdown_grace_secs);
    let app = crate::router(Arc::clone(&gateway));
    let served = serve_tls(listener, tls, app, shutdown, grace).await;
    refresher.abort();
    if let Some(alerts) = alerts {
        alerts.abort();
    }
    if let Some(drift) = drift {
        drift.abort();
    }
    gateway.log.shutdown().await;
    served
}

/// Refuses to serve as root unless the configuration allows it: a compromised gateway should
/// not own the host.
pub fn check_not_root(allow_root: bool) -> Result<(), String> {
    if rustix::process::geteuid().is_root() && !allow_root {
        return Err(
            "refusing to serve as root: run as an unprivileged user, or set \
                    allow_root = true in the server configuration (--allow-root) if you must"
                .to_owned(),
        );
    }
    Ok(())
}
