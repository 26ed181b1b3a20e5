//! `citadel pipeline run FILE.toml`: the governed fine-tuning pipeline with a line per stage, a
//! progress bar while training, and a summary at the end.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use citadel_registry::spec::PipelineSpec;
use citadel_service::{Citadel, Context, PipelineEvent, PipelineReport};
use indicatif::{ProgressBar, ProgressStyle};

use super::output;

#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Run a pipeline file (see examples/pipeline.toml). A re-run with unchanged inputs skips
    /// finished stages; a run whose process died resumes from its last checkpoint.
    Run { file: PathBuf },
    /// Check a pipeline file without running it.
    Check { file: PathBuf },
}

/// Reads and validates a pipeline file.
pub fn load(file: &Path) -> anyhow::Result<PipelineSpec> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the pipeline file {}", file.display()))?;
    PipelineSpec::parse(&text)
        .map_err(citadel_service::Error::from)
        .with_context(|| format!("{} is not a valid pipeline", file.display()))
}

/// Runs a `citadel pipeline` subcommand.
pub async fn run(
    citadel: &Citadel,
    ctx: &Context,
    json: bool,
    command: PipelineCommand,
) -> anyhow::Result<()> {
    match command {
        PipelineCommand::Check { file } => {
            let spec = load(&file)?;
            if json {
                return output::json(&spec);
            }
            println!(
                "{}: pipeline {:?} trains {} on {} into {}",
                file.display(),
                spec.name,
                spec.base.model,
                spec.data.train,
                spec.register.model
            );
            Ok(())
        }
        PipelineCommand::Run { file } => {
            let spec = load(&file)?;
            let report = run_spec(citadel, ctx, &spec, json).await?;
            if json {
                return output::json(&report);
            }
            print_report(&report);
            Ok(())
        }
    }
}

/// Runs a pipeline with terminal progress (hidden with `quiet`).
pub async fn run_spec(
    citadel: &Citadel,
    ctx: &Context,
    spec: &PipelineSpec,
    quiet: bool,
) -> anyhow::Result<PipelineReport> {
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let observe = move |event: PipelineEvent| {
        if quiet {
            return;
        }
        let Ok(mut bar) = bar.lock() else { return };
        match event {
            PipelineEvent::Started(stage) => eprintln!("▸ {}", stage.as_str()),
            PipelineEvent::Training { from, total } => {
                let progress = ProgressBar::new(total);
                if let Ok(style) = ProgressStyle::with_template(
                    "  {bar:30} {pos}/{len} steps  {elapsed_precise}<{eta_precise}  {msg}",
                ) {
                    progress.set_style(style);
                }
                progress.set_position(from);
                *bar = Some(progress);
            }
            PipelineEvent::Step(report) => {
                if let Some(progress) = bar.as_ref() {
                    progress.set_position(report.step);
                    progress.set_message(format!(
                        "loss {:.4}  lr {:.2e}  |g| {:.3}  {:.0} tok/s",
                        report.loss, report.lr, report.grad_norm, report.tokens_per_s
                    ));
                }
            }
            PipelineEvent::Finished(stage) => {
                if let Some(progress) = bar.take() {
                    progress.finish_and_clear();
                }
                eprintln!(
                    "  {} {} ({:.1} s)",
                    stage.outcome, stage.detail, stage.seconds
                );
            }
        }
    };
    Ok(citadel.run_pipeline(ctx, spec, &observe).await?)
}

/// The summary tables.
pub fn print_report(report: &PipelineReport) {
    output::table(
        ["stage", "outcome", "detail", "seconds"],
        report.stages.iter().map(|s| {
            [
                s.stage.as_str().to_owned(),
                s.outcome.to_owned(),
                s.detail.clone(),
                format!("{:.1}", s.seconds),
            ]
        }),
    );
    output::table(
        ["evaluated", "model", "loss", "perplexity"],
        report.evaluation.iter().map(|e| {
            [
                e.subject.clone(),
                e.model.clone(),
                format!("{:.4}", e.loss),
                format!("{:.3}", e.perplexity),
            ]
        }),
    );
    output::table(
        ["gate", "limit", "actual", "result"],
        report.gates.checks.iter().map(|c| {
            [
                c.gate.clone(),
                format!("{:.4}", c.limit),
                format!("{:.4}", c.actual),
                if c.passed { "pass" } else { "FAIL" }.to_owned(),
            ]
        }),
    );
    let v = &report.version;
    println!(
        "{}@{}: {} (run {}){}",
        v.model,
        v.version,
        v.status,
        report.run_id,
        if v.aliases.is_empty() {
            String::new()
        } else {
            format!(", aliases: {}", v.aliases.join(", "))
        }
    );
}
