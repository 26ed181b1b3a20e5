//! `citadel monitor drift ENDPOINT`: the drift of an endpoint's last window of traffic against
//! the baseline before it, per feature and per model version, as tables or JSON.

use anyhow::Context as _;
use citadel_core::FullName;
use citadel_service::monitoring::{DriftReport, DriftSummary, Feature, FeatureDrift};
use time::Duration;

use super::{output, session, GlobalArgs};

/// Compare an endpoint's recent traffic (the window) with the traffic before it (the baseline):
/// the population stability index (PSI) and the Kolmogorov–Smirnov test of prompt and
/// completion lengths, tokens in and out and latency, and of the guardrail block rate and the
/// refusal rate, for all traffic and for each model version. Needs MANAGE on the endpoint (as
/// reading its log does); audited.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  citadel monitor drift prod.endpoints.assistant
  citadel monitor drift prod.endpoints.assistant --window 30m --baseline 1d
  citadel monitor drift prod.endpoints.assistant --json

Verdicts: DRIFT when PSI > 0.2 and the test's p-value < 0.01; watch when PSI > 0.1; stable
otherwise; insufficient data below 200 requests in the baseline or 100 in the window (per
feature). The score is the highest PSI; the default alert rule fires above 0.15. A refusal is a
completion opening with words such as \"I can't help\" or \"I'm unable to\".")]
pub struct DriftArgs {
    /// The endpoint, CATALOG.SCHEMA.NAME.
    pub endpoint: String,
    /// The recent traffic compared: this long before now (e.g. 30m, 1h, 1d).
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = parse_span)]
    pub window: Duration,
    /// The traffic compared against: this long before the window (e.g. 1d, 7d).
    #[arg(long, value_name = "AGE", default_value = "7d", value_parser = parse_span)]
    pub baseline: Duration,
}

fn parse_span(text: &str) -> Result<Duration, String> {
    citadel_data::parse_duration(text).map_err(|e| e.to_string())
}

pub async fn run(global: &GlobalArgs, args: DriftArgs) -> anyhow::Result<()> {
    let name: FullName = args
        .endpoint
        .parse()
        .map_err(citadel_service::Error::from)
        .context("the endpoint is named CATALOG.SCHEMA.NAME")?;
    let json = global.json;
    session::with_context(global, |citadel, ctx| async move {
        let report = citadel
            .endpoint_drift(&ctx, &name, args.window, args.baseline)
            .await?;
        if json {
            return output::json(&report);
        }
        print_report(&report)
    })
    .await
}

fn print_report(report: &DriftReport) -> anyhow::Result<()> {
    output::print_text(&format!(
        "{}: {} (score {})\n  window   {} → {}\n  baseline {} → {}",
        report.endpoint,
        report.verdict.as_str(),
        report
            .score
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.3}")),
        output::time(report.window.start),
        output::time(report.window.end),
        output::time(report.baseline.start),
        output::time(report.baseline.end),
    ))?;
    for (version, summary) in report.summaries() {
        let title = version.map_or_else(
            || "all traffic".to_owned(),
            |v| format!("model version {v}"),
        );
        print_summary(&title, summary)?;
    }
    Ok(())
}

fn print_summary(title: &str, summary: &DriftSummary) -> anyhow::Result<()> {
    output::print_text(&format!("\n{title}: {}", summary.verdict.as_str()))?;
    output::table(
        [
            "feature",
            "baseline",
            "window",
            "n (base/win)",
            "PSI",
            "KS",
            "p-value",
            "verdict",
        ],
        summary.features.iter().map(table_row),
    );
    Ok(())
}

fn table_row(f: &FeatureDrift) -> [String; 8] {
    let value = |v: Option<f64>| match v {
        None => "-".to_owned(),
        Some(v) if matches!(f.feature, Feature::BlockRate | Feature::RefusalRate) => {
            format!("{:.1}%", v * 100.0)
        }
        Some(v) => format!("{v:.0}"),
    };
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    let p_value = match f.p_value {
        None => "-".to_owned(),
        Some(p) if p < 0.001 => "<0.001".to_owned(),
        Some(p) => format!("{p:.3}"),
    };
    [
        f.feature.as_str().to_owned(),
        value(f.baseline_value),
        value(f.window_value),
        format!("{}/{}", f.baseline_count, f.window_count),
        number(f.psi),
        number(f.ks),
        p_value,
        f.verdict.as_str().to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_service::monitoring::{Verdict, DEFAULT_BASELINE, DEFAULT_WINDOW};
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        drift: DriftArgs,
    }

    #[test]
    fn spans_default_to_the_last_hour_against_a_week() {
        let cli = Cli::try_parse_from(["drift", "prod.endpoints.bot"]).unwrap();
        assert_eq!(cli.drift.window, DEFAULT_WINDOW);
        assert_eq!(cli.drift.baseline, DEFAULT_BASELINE);
        let cli = Cli::try_parse_from(["drift", "a.b.c", "--window", "30m", "--baseline", "1d12h"])
            .unwrap();
        assert_eq!(cli.drift.window, Duration::minutes(30));
        assert_eq!(cli.drift.baseline, Duration::hours(36));
        assert!(Cli::try_parse_from(["drift", "a.b.c", "--window", "soon"]).is_err());
    }

    #[test]
    fn rows_show_rates_as_percentages_and_tiny_p_values_as_bounds() {
        let row = table_row(&FeatureDrift {
            feature: Feature::BlockRate,
            baseline_count: 900,
            window_count: 120,
            baseline_value: Some(0.05),
            window_value: Some(0.25),
            psi: Some(0.4567),
            ks: None,
            p_value: Some(1e-9),
            verdict: Verdict::Drift,
        });
        assert_eq!(
            row,
            [
                "block_rate",
                "5.0%",
                "25.0%",
                "900/120",
                "0.457",
                "-",
                "<0.001",
                "DRIFT"
            ]
        );
        let row = table_row(&FeatureDrift {
            feature: Feature::LatencyMs,
            baseline_count: 10,
            window_count: 0,
            baseline_value: Some(250.0),
            window_value: None,
            psi: None,
            ks: None,
            p_value: None,
            verdict: Verdict::InsufficientData,
        });
        assert_eq!(row[1], "250");
        assert_eq!(row[7], "insufficient data");
    }
}
