//! `citadel compliance report`: the compliance report of a home, as Markdown, self-contained HTML
//! (with charts) or JSON, to standard output or a new file.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use citadel_monitor::compliance::Format;
use time::OffsetDateTime;

use super::endpoint_logs::parse_when;
use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum ComplianceCommand {
    /// Report encryption of every artifact and secret, key age and rotation, models by status,
    /// approvals and separation of duties, what production endpoints serve, secret reads, failed
    /// authentications, alerting, PII verdicts and waivers, retention and the audit chain, each
    /// as pass, attention or fail with how to fix it, mapped to the SOC 2, HIPAA and GDPR
    /// controls it supports. Needs MANAGE on the metastore; every report is audited.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  citadel compliance report
  citadel compliance report --format html --output report.html
  citadel compliance report --format json --since 7d | jq '.sections[] | {id, status}'
  citadel compliance report --since 2026-11-01T00:00:00Z --output november.md

Activity (secret reads, failed authentications, traffic) is counted from --since until now;
state (keys, versions, endpoints, datasets, the audit chain) is as it is now. The JSON schema is
versioned by its `schema_version` field (see docs/ARCHITECTURE.md). An output file is created new
with mode 0600: the report names principals, endpoints and datasets.")]
pub struct ReportArgs {
    /// md (Markdown), html (one self-contained page with SVG charts) or json
    /// [default: md, or json with --json].
    #[arg(long, value_name = "md|html|json")]
    pub format: Option<Format>,
    /// Write the report to FILE, which must not exist, instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Count activity from this time: an age such as 30d, 12h, 1d12h, or RFC 3339.
    #[arg(long, value_name = "AGE|TIME", value_parser = parse_when, default_value = "30d")]
    pub since: OffsetDateTime,
}

pub async fn run(global: &GlobalArgs, command: ComplianceCommand) -> anyhow::Result<()> {
    let ComplianceCommand::Report(args) = command;
    let format = args.format.unwrap_or(if global.json {
        Format::Json
    } else {
        Format::Markdown
    });
    if let Some(path) = args.output.as_deref().filter(|p| p.exists()) {
        anyhow::bail!(
            "{} exists: the report is written to a new file only; choose another --output",
            path.display()
        );
    }
    let report = session::with_context(global, |citadel, ctx| async move {
        Ok(citadel.compliance_report(&ctx, args.since).await?)
    })
    .await?;
    let text = report.render(format)?;
    match &args.output {
        Some(path) => {
            write_new_private(path, &text)?;
            eprintln!(
                "wrote the compliance report ({}) to {}",
                report.status.as_str(),
                path.display()
            );
            Ok(())
        }
        None => output::print_text(&text),
    }
}

/// Writes `text` to a new file readable by its owner only.
fn write_new_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet; choose a new file)",
                path.display()
            )
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ComplianceCommand,
    }

    #[test]
    fn parses_format_output_and_since() {
        let cli = Cli::try_parse_from([
            "compliance",
            "report",
            "--format",
            "html",
            "--output",
            "r.html",
            "--since",
            "7d",
        ])
        .unwrap();
        let ComplianceCommand::Report(args) = cli.command;
        assert_eq!(args.format, Some(Format::Html));
        assert_eq!(args.output, Some(PathBuf::from("r.html")));
        let age = OffsetDateTime::now_utc() - args.since;
        assert!((age.whole_hours() - 7 * 24).abs() <= 1, "{age}");
    }

    #[test]
    fn refuses_unknown_formats_and_defaults_to_thirty_days() {
        let err = Cli::try_parse_from(["compliance", "report", "--format", "pdf"]).unwrap_err();
        assert!(err.to_string().contains("use md, html or json"), "{err}");
        let cli = Cli::try_parse_from(["compliance", "report"]).unwrap();
        let ComplianceCommand::Report(args) = cli.command;
        assert_eq!((OffsetDateTime::now_utc() - args.since).whole_days(), 30);
    }

    #[test]
    fn an_output_file_is_new_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        write_new_private(&path, "# report").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_new_private(&path, "again").unwrap_err();
        assert!(err.to_string().contains("must not exist"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# report");
    }
}
