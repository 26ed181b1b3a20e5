//! Opening the home and authenticating the caller: the preamble of every command but `init`.

use std::future::Future;

use anyhow::Context as _;
use citadel_service::{env, Citadel, Context, Home};
use secrecy::SecretString;

use super::GlobalArgs;

/// Runs an async command body on a fresh runtime.
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// The token from `--token`, else `$CITADEL_TOKEN`, else the home's credentials file.
fn token(global: &GlobalArgs, home: &Home) -> anyhow::Result<Option<SecretString>> {
    if let Some(token) = global.token.clone().or_else(|| env::var(env::TOKEN)) {
        return Ok(Some(SecretString::from(token.trim().to_owned())));
    }
    let path = home.credentials_path();
    if !path.exists() {
        return Ok(None);
    }
    let bytes = home.read_private(&path)?;
    let text = String::from_utf8(bytes).context("the credentials file is not UTF-8")?;
    Ok(Some(SecretString::from(text.trim().to_owned())))
}

/// Opens the home, authenticates the caller, runs `body`, then closes the service (which signs
/// an audit checkpoint) whether or not the body failed.
pub async fn with_context<T, F, Fut>(global: &GlobalArgs, body: F) -> anyhow::Result<T>
where
    F: FnOnce(Citadel, Context) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let home = Home::resolve(global.home.clone());
    let citadel = Citadel::open(&home).await?;
    let token = match token(global, &home) {
        Ok(token) => token,
        Err(err) => {
            citadel.close().await?;
            return Err(err);
        }
    };
    let ctx = match citadel.authenticate(token.as_ref()).await {
        Ok(ctx) => ctx,
        Err(err) => {
            citadel.close().await?;
            return Err(err.into());
        }
    };
    let result = body(citadel.clone(), ctx).await;
    citadel.close().await?;
    result
}

/// Authenticates, then runs a synchronous command (the engine's) outside the runtime.
pub fn authenticated_sync<F>(global: &GlobalArgs, body: F) -> anyhow::Result<()>
where
    F: FnOnce(&Context) -> anyhow::Result<()>,
{
    let mut authenticated = None;
    block_on(async {
        authenticated = Some(with_context(global, |_, ctx| async move { Ok(ctx) }).await?);
        Ok(())
    })?;
    match authenticated {
        Some(ctx) => body(&ctx),
        None => anyhow::bail!("internal error: authentication returned no context"),
    }
}
