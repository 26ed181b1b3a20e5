//! `citadel endpoint create|update|rollback|list|show|delete`: serving endpoints, their pinned
//! model versions and traffic splits, and their revision history. The gateway (`citadel serve`)
//! serves what these commands configure.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use citadel_core::FullName;
use citadel_service::endpoints::parse_traffic;
use citadel_service::{EndpointChanges, EndpointInfo, EndpointSettings, RateLimits, TrafficRoute};

use super::{output, session, GlobalArgs};

const CREATE_EXAMPLES: &str = "\
Examples:
  citadel endpoint create prod.endpoints.assistant --model prod.support.assistant@champion
  citadel endpoint create prod.endpoints.assistant --model prod.support.assistant --traffic 3=90,4=10
  citadel endpoint create dev.endpoints.bot --model dev.models.bot@2 --config endpoint.toml

The --config file holds every setting but the model and traffic (each is optional):
  max_concurrency = 4          # requests in flight per version
  max_queue = 64               # waiting requests per version; beyond it, 503
  idle_unload_secs = 900       # unload an idle version (scale to zero); 0 = never
  [limits]                     # per minute; \"unlimited\" for none
  per_principal_requests_per_minute = 600
  per_principal_tokens_per_minute = 20000
  endpoint_requests_per_minute = \"unlimited\"
  endpoint_tokens_per_minute = \"unlimited\"
  [guardrails]
  input_pii = \"mask\"           # off | mask | block
  output_pii = \"mask\"
  injection = \"block\"          # off | flag | block
  forbidden_keywords = [\"internal only\"]
  max_input_tokens = 2048
  [log]
  sample_rate = 1.0            # share of successful requests logged
  payloads = \"redacted\"        # full | redacted | none";

const UPDATE_EXAMPLES: &str = "\
Examples:
  citadel endpoint update prod.endpoints.assistant --model prod.support.assistant@champion
  citadel endpoint update prod.endpoints.assistant --traffic 3=90,4=10
  citadel endpoint update prod.endpoints.assistant --config limits.toml

A table in --config replaces that whole table (keys left out take their defaults); settings the
file does not name stay as they are.";

const ROLLBACK_HELP: &str = "\
The previous revision's configuration becomes current at once, as a new revision: history is
never rewritten, so rolling back twice returns to the configuration the first rollback replaced.
The restored versions must still be allowed to serve.

Example:
  citadel endpoint rollback prod.endpoints.assistant";

#[derive(Debug, clap::Subcommand)]
pub enum EndpointCommand {
    /// Show or export the endpoint's inference log (MANAGE on it).
    Logs(super::endpoint_logs::LogsArgs),
    /// Create an endpoint serving a model version pinned now (MANAGE on the schema, EXECUTE on
    /// the model). In staging and prod only approved, signed versions whose gates passed serve,
    /// and an endpoint serves only models of its own catalog.
    #[command(after_long_help = CREATE_EXAMPLES)]
    Create {
        /// CATALOG.SCHEMA.NAME, e.g. prod.endpoints.assistant
        name: FullName,
        /// The model version to serve: CATALOG.SCHEMA.MODEL@ALIAS or @VERSION (just the name
        /// with --traffic).
        #[arg(long, value_name = "MODEL@VERSION")]
        model: String,
        /// Split requests over versions, in percent: 3=90,4=10 (weights sum to 100).
        #[arg(long, value_name = "V=PCT,…")]
        traffic: Option<String>,
        /// A TOML file with the other settings (guardrails, limits, concurrency, scale to zero,
        /// log policy); see the examples below.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write a new revision: another model version or split, or other settings (MANAGE on the
    /// endpoint; a new model or split also needs EXECUTE on the model).
    #[command(after_long_help = UPDATE_EXAMPLES)]
    Update {
        /// CATALOG.SCHEMA.NAME
        name: FullName,
        /// Serve this version (CATALOG.SCHEMA.MODEL@ALIAS or @VERSION) with all the traffic, or
        /// the model whose versions --traffic splits.
        #[arg(long, value_name = "MODEL@VERSION")]
        model: Option<String>,
        /// Split requests over versions, in percent: 3=90,4=10.
        #[arg(long, value_name = "V=PCT,…")]
        traffic: Option<String>,
        /// A TOML file with settings to change (see `citadel endpoint create --help`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Restore the previous revision's configuration at once (MANAGE on the endpoint).
    #[command(after_long_help = ROLLBACK_HELP)]
    Rollback {
        /// CATALOG.SCHEMA.NAME
        name: FullName,
    },
    /// List the endpoints you may call or manage.
    List,
    /// Show an endpoint's configuration and every revision (EXECUTE or MANAGE on it).
    Show {
        /// CATALOG.SCHEMA.NAME
        name: FullName,
    },
    /// Delete an endpoint with its history and grants (MANAGE on it).
    Delete {
        /// CATALOG.SCHEMA.NAME
        name: FullName,
    },
}

pub async fn run(global: &GlobalArgs, command: EndpointCommand) -> anyhow::Result<()> {
    let json = global.json;
    match command {
        EndpointCommand::Logs(args) => super::endpoint_logs::run(global, args).await,
        EndpointCommand::Create {
            name,
            model,
            traffic,
            config,
        } => {
            let traffic = traffic.as_deref().map(parse_traffic).transpose()?;
            let settings = read_settings(config.as_deref())?;
            let info = session::with_context(global, |citadel, ctx| async move {
                Ok(citadel
                    .create_endpoint(&ctx, &name, &model, traffic, &settings)
                    .await?)
            })
            .await?;
            print_written(json, &format!("Created {}", info.name), &info)
        }
        EndpointCommand::Update {
            name,
            model,
            traffic,
            config,
        } => {
            let changes = EndpointChanges {
                model,
                traffic: traffic.as_deref().map(parse_traffic).transpose()?,
                settings: read_settings(config.as_deref())?,
            };
            let info = session::with_context(global, |citadel, ctx| async move {
                Ok(citadel.update_endpoint(&ctx, &name, &changes).await?)
            })
            .await?;
            print_written(json, &format!("Updated {}", info.name), &info)
        }
        EndpointCommand::Rollback { name } => {
            let info = session::with_context(global, |citadel, ctx| async move {
                Ok(citadel.rollback_endpoint(&ctx, &name).await?)
            })
            .await?;
            print_written(json, &format!("Rolled back {}", info.name), &info)
        }
        EndpointCommand::List => {
            let endpoints = session::with_context(global, |citadel, ctx| async move {
                Ok(citadel.list_endpoints(&ctx).await?)
            })
            .await?;
            print_list(json, &endpoints)
        }
        EndpointCommand::Show { name } => {
            let info = session::with_context(global, |citadel, ctx| async move {
                Ok(citadel.show_endpoint(&ctx, &name).await?)
            })
            .await?;
            print_show(json, &info)
        }
        EndpointCommand::Delete { name } => {
            let target = name.clone();
            session::with_context(global, |citadel, ctx| async move {
                Ok(citadel.delete_endpoint(&ctx, &target).await?)
            })
            .await?;
            if json {
                return output::json(&serde_json::json!({ "deleted": name.to_string() }));
            }
            output::print_text(&format!(
                "Deleted endpoint {name} with its history and grants"
            ))
        }
    }
}

/// The settings of a `--config` file (none without one).
fn read_settings(path: Option<&Path>) -> anyhow::Result<EndpointSettings> {
    let Some(path) = path else {
        return Ok(EndpointSettings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the endpoint config {}", path.display()))?;
    EndpointSettings::from_toml(&text).map_err(|err| match err {
        citadel_service::Error::InvalidInput(message) => {
            citadel_service::Error::InvalidInput(format!("{}: {message}", path.display())).into()
        }
        other => other.into(),
    })
}

fn print_written(json: bool, what: &str, info: &EndpointInfo) -> anyhow::Result<()> {
    if json {
        return output::json(info);
    }
    output::print_text(&format!(
        "{what}: revision {} serves {} with traffic {}",
        info.revision,
        info.config.model,
        traffic_text(&info.config.traffic)
    ))
}

fn print_list(json: bool, endpoints: &[EndpointInfo]) -> anyhow::Result<()> {
    if json {
        return output::json(endpoints);
    }
    output::table(
        [
            "endpoint", "model", "traffic", "revision", "updated", "owner",
        ],
        endpoints.iter().map(|e| {
            [
                e.name.clone(),
                e.config.model.clone(),
                traffic_text(&e.config.traffic),
                e.revision.to_string(),
                output::time(e.updated_at),
                e.owner.clone().unwrap_or_else(|| "-".into()),
            ]
        }),
    );
    Ok(())
}

fn print_show(json: bool, info: &EndpointInfo) -> anyhow::Result<()> {
    if json {
        return output::json(info);
    }
    let c = &info.config;
    let g = &c.guardrails;
    let lines = [
        ("endpoint", info.name.clone()),
        ("owner", info.owner.clone().unwrap_or_else(|| "-".into())),
        (
            "revision",
            format!(
                "{} (since {})",
                info.revision,
                output::time(info.updated_at)
            ),
        ),
        ("model", c.model.clone()),
        ("traffic", traffic_text(&c.traffic)),
        ("limits", limits_text(&c.limits)),
        (
            "concurrency",
            format!(
                "{} in flight per version, {} waiting",
                c.max_concurrency, c.max_queue
            ),
        ),
        (
            "scale to zero",
            if c.idle_unload_secs == 0 {
                "never".to_owned()
            } else {
                format!("after {} s idle", c.idle_unload_secs)
            },
        ),
        (
            "guardrails",
            format!(
                "input PII {}, output PII {}, injection {}, {} forbidden keyword(s), max input \
                 tokens {}",
                lower(&g.input_pii),
                lower(&g.output_pii),
                lower(&g.injection),
                g.forbidden_keywords.len(),
                g.max_input_tokens
                    .map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
            ),
        ),
        (
            "log",
            format!(
                "{}% of successful requests, payloads {}",
                c.log.sample_rate * 100.0,
                lower(&c.log.payloads)
            ),
        ),
    ];
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in lines {
        text.push_str(&format!("{key:<width$}  {value}\n"));
    }
    output::print_text(text.trim_end())?;
    output::print_text("")?;
    output::table(
        ["revision", "change", "model", "traffic", "by", "at"],
        info.history.iter().map(|r| {
            [
                r.revision.to_string(),
                match r.restored {
                    Some(restored) => format!("rollback to {restored}"),
                    None => r.change.to_owned(),
                },
                r.config.model.clone(),
                traffic_text(&r.config.traffic),
                r.created_by.clone(),
                output::time(r.created_at),
            ]
        }),
    );
    Ok(())
}

/// `v3 90%, v4 10%`.
fn traffic_text(routes: &[TrafficRoute]) -> String {
    routes
        .iter()
        .map(|r| format!("v{} {}%", r.version, r.weight))
        .collect::<Vec<_>>()
        .join(", ")
}

fn limits_text(limits: &RateLimits) -> String {
    let per = |value: Option<u32>, what: &str| match value {
        Some(n) => format!("{n} {what}/min"),
        None => format!("unlimited {what}"),
    };
    format!(
        "per principal {} and {}; endpoint {} and {}",
        per(limits.per_principal_requests_per_minute, "requests"),
        per(limits.per_principal_tokens_per_minute, "tokens"),
        per(limits.endpoint_requests_per_minute, "requests"),
        per(limits.endpoint_tokens_per_minute, "tokens"),
    )
}

/// A serde enum's name as configured (`mask`, `redacted`).
fn lower<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use citadel_service::EndpointConfig;

    use super::*;

    #[test]
    fn traffic_and_limits_read_like_sentences() {
        let routes = parse_traffic("3=90,4=10").unwrap();
        assert_eq!(traffic_text(&routes), "v3 90%, v4 10%");
        assert_eq!(
            limits_text(&RateLimits::default()),
            "per principal 600 requests/min and unlimited tokens; endpoint unlimited requests \
             and unlimited tokens"
        );
        let config = EndpointConfig::new("a.b.c".into(), routes);
        assert_eq!(lower(&config.log.payloads), "redacted");
        assert_eq!(lower(&config.guardrails.injection), "block");
    }

    #[test]
    fn the_help_example_config_is_valid() {
        let (_, example) = CREATE_EXAMPLES.split_once("(each is optional):\n").unwrap();
        let toml: String = example
            .lines()
            .map(|line| format!("{}\n", line.trim_start()))
            .collect();
        let settings = EndpointSettings::from_toml(&toml).unwrap();
        let limits = settings.limits.unwrap();
        assert_eq!(limits.per_principal_tokens_per_minute, Some(20_000));
        assert_eq!(limits.endpoint_requests_per_minute, None);
        assert_eq!(settings.guardrails.unwrap().max_input_tokens, Some(2048));
        assert_eq!(settings.idle_unload_secs, Some(900));
    }
}
