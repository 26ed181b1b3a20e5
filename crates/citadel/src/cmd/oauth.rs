//! `citadel oauth …`: OAuth 2.0 client credentials for service principals, access tokens (JWTs)
//! from them, and the rotation of the key that signs those tokens.

use std::io::{IsTerminal, Read};

use anyhow::Context as _;
use citadel_core::TokenScope;
use citadel_service::{Citadel, ClientId, Home};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use zeroize::Zeroizing;

use super::token::parse_ttl;
use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  citadel principal create service-principal ci-bot
  citadel oauth client create ci-bot --scope invoke --ttl 90d
  printf %s \"$CLIENT_SECRET\" | citadel oauth token --client-id ID --client-secret-stdin
  CITADEL_TOKEN=$(printf %s \"$CLIENT_SECRET\" | citadel oauth token --client-id ID \\
      --client-secret-stdin) citadel whoami
  citadel oauth client list
  citadel oauth client revoke ID
  citadel oauth rotate-key
  citadel oauth jwks")]
pub enum OAuthCommand {
    /// Create, list and revoke the client credentials of service principals.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Exchange a client id and secret for an access token (a JWT valid for 10 minutes) and
    /// print it: the client-credentials grant, without HTTP. Needs no token; the secret is read
    /// from stdin.
    Token {
        /// The client id `oauth client create` printed.
        #[arg(long, value_name = "ID")]
        client_id: String,
        /// Read the client secret from stdin (never pass it as an argument: process lists and
        /// shell history would keep it). At a terminal it is asked for without echo.
        #[arg(long, required = true)]
        client_secret_stdin: bool,
        /// The token's scope: the client's scope, or narrower (`invoke` from `control`).
        #[arg(long, value_name = "SCOPE")]
        scope: Option<String>,
        /// The token's audience [default: citadel, the only one Citadel itself accepts].
        #[arg(long, value_name = "AUDIENCE")]
        audience: Option<String>,
    },
    /// Print the public keys that verify access tokens, as a JWK Set (RFC 7517): what the
    /// gateway serves at /.well-known/jwks.json.
    Jwks,
    /// Replace the key that signs access tokens. Tokens signed by the old key stay valid until
    /// they expire, and the JWKS lists both keys until then (needs MANAGE on the metastore).
    RotateKey,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Create client credentials for a service principal and print the client id and secret.
    /// The secret is shown once and never stored in clear (needs MANAGE on the metastore).
    Create {
        /// The service principal the client's tokens act as.
        principal: String,
        /// The widest scope its tokens may carry: `invoke` (call endpoints), `control`
        /// (manage Citadel) or `metrics` (scrape the gateway's metrics).
        #[arg(long, default_value = "invoke")]
        scope: TokenScope,
        /// How long the credentials work: `90d`, `12h`, `30m` [default: the config's
        /// tokens.default_ttl_days].
        #[arg(long, value_parser = parse_ttl, value_name = "DURATION")]
        ttl: Option<time::Duration>,
    },
    /// List clients (never their secrets): all of them, or one principal's.
    List {
        /// Only this principal's clients.
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// Revoke a client: its secret and every token issued to it stop working at once.
    Revoke {
        /// The client id.
        client_id: ClientId,
    },
}

pub async fn run(global: &GlobalArgs, command: OAuthCommand) -> anyhow::Result<()> {
    match command {
        OAuthCommand::Token {
            client_id,
            client_secret_stdin: _,
            scope,
            audience,
        } => issue_token(global, &client_id, scope.as_deref(), audience.as_deref()).await,
        OAuthCommand::Client(command) => {
            session::with_context(global, |citadel, ctx| async move {
                match command {
                    ClientCommand::Create {
                        principal,
                        scope,
                        ttl,
                    } => {
                        let (info, secret) = citadel
                            .create_oauth_client(&ctx, &principal, scope, ttl)
                            .await?;
                        if global.json {
                            return output::json(&json!({
                                "client_id": info.client_id,
                                "client_secret": secret.expose_secret(),
                                "info": info,
                            }));
                        }
                        println!(
                            "OAuth client for {} (scope {}, expires {}). The secret is shown \
                             once:\n\nclient id:     {}\nclient secret: {}",
                            info.principal,
                            info.scope,
                            output::time(info.expires_at),
                            info.client_id,
                            secret.expose_secret()
                        );
                    }
                    ClientCommand::List { principal } => {
                        let clients = citadel
                            .list_oauth_clients(&ctx, principal.as_deref())
                            .await?;
                        if global.json {
                            return output::json(&clients);
                        }
                        output::table(
                            [
                                "client id",
                                "principal",
                                "scope",
                                "created",
                                "expires",
                                "last token",
                                "revoked",
                            ],
                            clients.into_iter().map(|c| {
                                [
                                    c.client_id.to_string(),
                                    c.principal,
                                    c.scope.to_string(),
                                    output::time(c.created_at),
                                    output::time(c.expires_at),
                                    output::opt_time(c.last_used_at),
                                    output::opt_time(c.revoked_at),
                                ]
                            }),
                        );
                    }
                    ClientCommand::Revoke { client_id } => {
                        citadel.revoke_oauth_client(&ctx, client_id).await?;
                        println!("Revoked OAuth client {client_id}");
                    }
                }
                Ok(())
            })
            .await
        }
        OAuthCommand::Jwks => {
            session::with_context(global, |citadel, _| async move {
                output::json(&citadel.jwks().await?)
            })
            .await
        }
        OAuthCommand::RotateKey => {
            session::with_context(global, |citadel, ctx| async move {
                let info = citadel.rotate_jwt_signing_key(&ctx).await?;
                if global.json {
                    return output::json(&info);
                }
                match &info.previous_kid {
                    Some(previous) => println!(
                        "New JWT signing key {}; {previous} is retired and verifies the tokens \
                         it signed until they expire",
                        info.kid
                    ),
                    None => println!("New JWT signing key {}", info.kid),
                }
                Ok(())
            })
            .await
        }
    }
}

/// The client-credentials grant: opens the home without a token (the client authenticates with
/// its secret) and prints the access token alone, or the whole token response with `--json`.
async fn issue_token(
    global: &GlobalArgs,
    client_id: &str,
    scope: Option<&str>,
    audience: Option<&str>,
) -> anyhow::Result<()> {
    let secret = read_secret()?;
    let home = Home::resolve(global.home.clone());
    let citadel = Citadel::open(&home).await?;
    let issued = citadel
        .issue_client_token(client_id, &secret, scope, audience)
        .await;
    citadel.close().await?;
    let issued = issued?;
    if global.json {
        return output::json(&json!({
            "access_token": issued.access_token.expose_secret(),
            "token_type": issued.token_type,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }));
    }
    println!("{}", issued.access_token.expose_secret());
    Ok(())
}

/// The client secret from stdin, trimmed; asked for without echo at a terminal.
fn read_secret() -> anyhow::Result<SecretString> {
    let text = if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password("Client secret (input hidden): ")
                .context("cannot read the client secret from the terminal")?,
        )
    } else {
        let mut raw = Zeroizing::new(String::new());
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut raw)
            .context("cannot read the client secret from stdin (it must be UTF-8)")?;
        raw
    };
    let secret = text.trim();
    if secret.is_empty() {
        anyhow::bail!("no client secret on stdin: pipe it in, e.g. `printf %s \"$SECRET\" | citadel oauth token --client-id ID --client-secret-stdin`");
    }
    Ok(SecretString::from(secret.to_owned()))
}
