//! `citadel serve` (the gateway over TLS), `citadel health` (a probe of a running gateway, for
//! container health checks) and `citadel tls init` (a local CA and certificate for development).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use citadel_server::{listener, tls, Gateway, Loader, ServerConfig};
use citadel_service::{Citadel, Home};

use super::GlobalArgs;

/// Serve the OpenAI-compatible gateway and the control API over TLS.
///
/// Examples:
///   citadel tls init && citadel serve
///   citadel serve --config serve.toml --listen 0.0.0.0:8443
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Server configuration (TOML: listen, tls_cert, tls_key, request_timeout_secs,
    /// max_body_bytes, auth_cache_secs, redis_url, …); defaults otherwise.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8443].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve even as root (not recommended).
    #[arg(long)]
    pub allow_root: bool,
}

/// Local TLS material for development.
#[derive(Debug, clap::Subcommand)]
pub enum TlsCommand {
    /// Make a local CA and a certificate for `localhost` and 127.0.0.1 in HOME/tls (ca.crt,
    /// server.crt, server.key); trust ca.crt in clients.
    ///
    /// Example: citadel tls init && curl --cacert .citadel/tls/ca.crt https://localhost:8443/healthz
    Init {
        /// Extra DNS names or IP addresses for the certificate.
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
    },
}

/// Check that a running gateway answers `/healthz` over TLS; exits non-zero when it does not.
///
/// Examples:
///   citadel health
///   citadel health --url https://gateway.internal:8443/healthz --cacert /etc/citadel/ca.crt
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The health route to probe.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://127.0.0.1:8443/healthz"
    )]
    pub url: reqwest::Url,
    /// A CA certificate (PEM) to trust besides the system's [default: HOME/tls/ca.crt when present].
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub timeout: u64,
}

/// Runs `citadel health`.
pub async fn run_health(global: &GlobalArgs, args: HealthArgs) -> anyhow::Result<()> {
    let home = Home::resolve(global.home.clone());
    let local_ca = home.root().join("tls").join("ca.crt");
    let cacert = args
        .cacert
        .or_else(|| local_ca.exists().then_some(local_ca));
    let mut client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(args.timeout))
        .https_only(true);
    if let Some(path) = &cacert {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
        client = client.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?,
        );
    }
    let response = client
        .build()?
        .get(args.url.clone())
        .send()
        .await
        .with_context(|| format!("the gateway at {} does not answer", args.url))?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "the gateway at {} answered {status}",
        args.url
    );
    if global.json {
        return super::output::json(
            &serde_json::json!({ "url": args.url.as_str(), "status": status.as_u16() }),
        );
    }
    println!("healthy: {} answered {status}", args.url);
    Ok(())
}

/// Runs `citadel serve` until Ctrl-C or SIGTERM.
pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let home = Home::resolve(global.home.clone());
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.allow_root |= args.allow_root;
    config.validate()?;
    listener::check_not_root(config.allow_root).map_err(anyhow::Error::msg)?;
    let tls = tls::server_config(
        &home.resolve_path(&config.tls_cert),
        &home.resolve_path(&config.tls_key),
    )?;
    let citadel = Citadel::open(&home).await?;
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = tcp
        .local_addr()
        .context("cannot read the listening address")?;
    let gateway = Gateway::new(citadel.clone(), config, Loader::Engine).await?;
    gateway.refresh().await?;
    eprintln!("citadel gateway listening on https://{address} (Ctrl-C to stop)");
    listener::run(gateway, tcp, tls, shutdown_signal()).await?;
    citadel.close().await?;
    eprintln!("citadel gateway stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs `citadel tls init`.
pub fn run_tls(global: &GlobalArgs, command: TlsCommand) -> anyhow::Result<()> {
    let TlsCommand::Init { names } = command;
    let home = Home::resolve(global.home.clone());
    let mut all = vec!["localhost", "127.0.0.1"];
    all.extend(names.iter().map(String::as_str));
    let files = tls::write_local_certificates(&home.root().join("tls"), &all)?;
    if global.json {
        return super::output::json(&serde_json::json!({
            "ca": files.ca, "cert": files.cert, "key": files.key, "names": all,
        }));
    }
    println!(
        "Wrote a local CA and a certificate for {}:\n  CA (trust this in clients): {}\n  certificate: {}\n  key (0600): {}",
        all.join(", "),
        files.ca.display(),
        files.cert.display(),
        files.key.display()
    );
    Ok(())
}
