//! `citadel endpoint logs NAME`: an endpoint's inference table, the latest requests as a table
//! (or JSON), or exported whole to a JSONL or Parquet file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use citadel_core::FullName;
use citadel_service::{InferenceRecord, LogFormat};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{output, session, GlobalArgs};

/// Rows shown when `--limit` is not given.
const DEFAULT_LIMIT: u32 = 20;

/// Show or export an endpoint's inference log: per request the time, caller, model version,
/// status, tokens and latency (prompts and completions as the endpoint's policy stored them).
/// Needs MANAGE on the endpoint; every read and export is audited.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  citadel endpoint logs prod.endpoints.support
  citadel endpoint logs prod.endpoints.support --since 1h --limit 100
  citadel endpoint logs prod.endpoints.support --json
  citadel endpoint logs prod.endpoints.support --export support.parquet --since 7d
  citadel endpoint logs prod.endpoints.support --export day.jsonl \\
      --since 2026-11-30T00:00:00Z --until 2026-12-01T00:00:00Z

Exports are new files (mode 0600). Parquet columns are typed (time as a UTC timestamp in
milliseconds, strings, 64-bit integers, nulls where a value is absent); DuckDB reads them with
`SELECT * FROM 'support.parquet'` and pandas with `pandas.read_parquet`.")]
pub struct LogsArgs {
    /// The endpoint, CATALOG.SCHEMA.NAME.
    pub name: String,
    /// Write every matching request to FILE (which must not exist) instead of printing.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Export format [default: from the file's extension: .jsonl/.ndjson/.json or .parquet/.pq].
    #[arg(long, value_name = "jsonl|parquet", requires = "export")]
    pub format: Option<LogFormat>,
    /// Only requests at or after this time: an age such as 30m, 1h, 7d, 1d12h, or RFC 3339.
    #[arg(long, value_name = "AGE|TIME", value_parser = parse_when)]
    pub since: Option<OffsetDateTime>,
    /// With --export, only requests before this time: an age or RFC 3339.
    #[arg(long, value_name = "AGE|TIME", value_parser = parse_when, requires = "export")]
    pub until: Option<OffsetDateTime>,
    /// Show at most this many of the latest requests [default: 20, at most 10000].
    #[arg(long, conflicts_with = "export")]
    pub limit: Option<u32>,
}

/// Parses an RFC 3339 time, or an age (`30m`, `12h`, `7d`, `1d12h`) before now.
pub(super) fn parse_when(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let age = citadel_data::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time nor an age such as 30m, 1h or 7d")
    })?;
    OffsetDateTime::now_utc()
        .checked_sub(age)
        .ok_or_else(|| format!("{text:?} reaches too far back"))
}

/// The export format: `--format`, else the file's extension.
fn export_format(path: &Path, flag: Option<LogFormat>) -> anyhow::Result<LogFormat> {
    match flag.or_else(|| LogFormat::from_extension(path)) {
        Some(format) => Ok(format),
        None => Err(citadel_service::Error::InvalidInput(format!(
            "cannot tell the format of {} from its extension: name it .jsonl or .parquet, or \
             pass --format jsonl|parquet",
            path.display()
        ))
        .into()),
    }
}

pub async fn run(global: &GlobalArgs, args: LogsArgs) -> anyhow::Result<()> {
    let name: FullName = args
        .name
        .parse()
        .map_err(citadel_service::Error::from)
        .context("the endpoint is named CATALOG.SCHEMA.NAME")?;
    let json = global.json;
    session::with_context(global, |citadel, ctx| async move {
        if let Some(path) = args.export {
            let format = export_format(&path, args.format)?;
            let report = citadel
                .export_inference_log(&ctx, &name, format, args.since, args.until, &path)
                .await?;
            if json {
                return output::json(&report);
            }
            return output::print_text(&format!(
                "exported {} request(s) of {name} to {} ({})",
                report.rows,
                report.path.display(),
                report.format
            ));
        }
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        let records = citadel
            .query_inference_log(&ctx, &name, args.since, limit)
            .await?;
        if json {
            return output::json(&records);
        }
        output::table(
            [
                "time",
                "principal",
                "version",
                "route",
                "status",
                "tokens",
                "latency",
            ],
            records.iter().map(table_row),
        );
        Ok(())
    })
    .await
}

fn table_row(r: &InferenceRecord) -> [String; 7] {
    let version = match (&r.model, r.model_version) {
        (Some(model), Some(v)) => format!("{}@{v}", model.rsplit('.').next().unwrap_or(model)),
        _ => "-".to_owned(),
    };
    let latency = match r.ttft_ms {
        Some(ttft) => format!("{} ms (first token {ttft} ms)", r.latency_ms),
        None => format!("{} ms", r.latency_ms),
    };
    [
        output::time(r.time),
        r.principal_name.clone().unwrap_or_else(|| "-".to_owned()),
        version,
        r.route.to_string(),
        format!("{} ({})", r.status, r.http_status),
        format!("{} → {}", r.tokens_in, r.tokens_out),
        latency,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        logs: LogsArgs,
    }

    #[test]
    fn formats_come_from_the_flag_or_the_extension() {
        let p = Path::new("out/x.PARQUET");
        assert_eq!(export_format(p, None).unwrap(), LogFormat::Parquet);
        assert_eq!(
            export_format(Path::new("x.ndjson"), None).unwrap(),
            LogFormat::Jsonl
        );
        assert_eq!(
            export_format(Path::new("x.log"), Some(LogFormat::Parquet)).unwrap(),
            LogFormat::Parquet
        );
        let err = export_format(Path::new("x.log"), None).unwrap_err();
        assert!(err.to_string().contains("--format"), "{err}");
    }

    #[test]
    fn ages_and_times_parse() {
        let before = OffsetDateTime::now_utc();
        let t = parse_when("1d12h").unwrap();
        let age = before - t;
        assert!(age >= time::Duration::hours(36) - time::Duration::seconds(1));
        assert!(age <= time::Duration::hours(36) + time::Duration::seconds(5));
        assert_eq!(
            parse_when("2026-12-01T00:00:00Z").unwrap(),
            OffsetDateTime::parse("2026-12-01T00:00:00Z", &Rfc3339).unwrap()
        );
        assert!(parse_when("yesterday").is_err());
        assert!(parse_when("5y").is_err());
    }

    #[test]
    fn arguments_parse_and_conflict() {
        let cli = Cli::try_parse_from([
            "logs",
            "prod.endpoints.bot",
            "--export",
            "x.bin",
            "--format",
            "parquet",
            "--since",
            "1h",
        ])
        .unwrap();
        assert_eq!(cli.logs.format, Some(LogFormat::Parquet));
        assert!(cli.logs.since.is_some());
        assert!(
            Cli::try_parse_from(["logs", "a.b.c", "--export", "x.jsonl", "--limit", "3"]).is_err()
        );
        assert!(Cli::try_parse_from(["logs", "a.b.c", "--format", "jsonl"]).is_err());
        assert!(Cli::try_parse_from(["logs", "a.b.c", "--until", "1h"]).is_err());
        assert!(
            Cli::try_parse_from(["logs", "a.b.c", "--export", "x", "--format", "csv"]).is_err()
        );
    }

    #[test]
    fn rows_show_version_status_tokens_and_latency() {
        let record: InferenceRecord = serde_json::from_value(serde_json::json!({
            "time": "2026-12-01T10:00:00.5Z",
            "endpoint": "prod.endpoints.bot",
            "endpoint_id": "0190b6e2-0000-7000-8000-000000000009",
            "model": "prod.models.bot",
            "model_version": 3,
            "principal_id": null,
            "principal_name": "svc",
            "request_id": "r1",
            "route": "chat",
            "prompt": null,
            "completion": null,
            "tokens_in": 12,
            "tokens_out": 40,
            "latency_ms": 95,
            "ttft_ms": 20,
            "guardrails": [],
            "status": "ok",
            "http_status": 200,
            "client_addr": null
        }))
        .unwrap();
        assert_eq!(
            table_row(&record),
            [
                "2026-12-01 10:00:00Z",
                "svc",
                "bot@3",
                "chat",
                "ok (200)",
                "12 → 40",
                "95 ms (first token 20 ms)"
            ]
        );
    }
}
