//! `citadel batch predict`: offline batch inference with a registered model over a governed
//! dataset, with a progress bar while it generates and a summary (or `--json`) at the end.

use std::sync::Arc;
use std::time::Duration;

use citadel_core::FullName;
use citadel_service::batch::{DEFAULT_COLUMN, DEFAULT_MAX_TOKENS, OUTPUT_COLUMNS};
use citadel_service::{BatchEvent, BatchReport, BatchRequest};
use indicatif::{ProgressBar, ProgressStyle};

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum BatchCommand {
    /// Run a model over a dataset's rows and store them with their predictions as a new version
    /// of the output dataset (created when missing). Needs EXECUTE on the model, SELECT on the
    /// input (your masks and row filters apply), and CREATE_DATASET on the output's schema (new)
    /// or MODIFY on it. In staging and prod only approved versions whose gates passed run.
    Predict(PredictArgs),
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The model: CATALOG.SCHEMA.MODEL@ALIAS or @VERSION (its weights are verified first).
    #[arg(long, value_name = "NAME@ALIAS|NAME@VERSION")]
    pub model: String,
    /// The input rows: CATALOG.SCHEMA.DATASET, or a version with @vN or @TIMESTAMP.
    #[arg(long, value_name = "CATALOG.SCHEMA.DATASET[@V]")]
    pub input: String,
    /// The dataset that receives the new version.
    #[arg(long, value_name = "CATALOG.SCHEMA.DATASET")]
    pub output: FullName,
    /// The input column holding each row's prompt (text).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_COLUMN)]
    pub column: String,
    /// Most tokens generated per row.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_TOKENS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Sampling temperature; 0 (the default) decodes greedily.
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed of the sampler.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
}

/// Runs a `citadel batch` subcommand.
pub async fn run(global: &GlobalArgs, command: BatchCommand) -> anyhow::Result<()> {
    let BatchCommand::Predict(args) = command;
    let request = BatchRequest {
        column: args.column,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        ..BatchRequest::new(args.model, args.input, args.output)
    };
    let json = global.json;
    session::with_context(global, |citadel, ctx| async move {
        let bar = progress_bar(json);
        let tick = bar.clone();
        let report = citadel
            .batch_predict(
                &ctx,
                &request,
                Some(Arc::new(move |event| show(&tick, event))),
            )
            .await;
        bar.finish_and_clear();
        let report = report?;
        if json {
            return output::json(&report);
        }
        print_report(&report);
        Ok(())
    })
    .await
}

/// A spinner until the model is loaded, then a bar over the input's rows (hidden with `--json`
/// and when stderr is not a terminal).
fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message("verifying the model against its signed manifest");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn show(bar: &ProgressBar, event: BatchEvent) {
    match event {
        BatchEvent::Verified { model, version } => {
            bar.set_message(format!("{model}@{version} verified; loading it"));
        }
        BatchEvent::Started { rows } => {
            bar.set_length(rows);
            bar.set_position(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} predicting [{bar:30}] {pos}/{len} rows {per_sec} eta {eta}  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("");
        }
        BatchEvent::Predicted { rows, tokens } => {
            bar.set_position(rows);
            bar.set_message(format!("{tokens} tokens"));
        }
    }
}

fn print_report(report: &BatchReport) {
    let out = &report.output;
    println!(
        "Stored {}@v{}: {} rows predicted by {}@{} from {}@v{}",
        out.dataset,
        out.version,
        report.generation.rows,
        report.model,
        report.model_version,
        report.input,
        report.input_version,
    );
    let seconds = report.seconds.max(1e-9);
    let finish: Vec<String> = report
        .generation
        .finish_reasons
        .iter()
        .map(|(reason, rows)| format!("{reason} {rows}"))
        .collect();
    output::table(
        ["batch", "value"],
        [
            ["prompt column".to_owned(), report.prompt_column.clone()],
            [
                "rows hidden by row filters".to_owned(),
                report.rows_filtered.to_string(),
            ],
            [
                "tokens in / out".to_owned(),
                format!(
                    "{} / {}",
                    report.generation.prompt_tokens, report.generation.completion_tokens
                ),
            ],
            ["finish reasons".to_owned(), finish.join(", ")],
            [
                "sampling".to_owned(),
                if report.temperature == 0.0 {
                    format!("greedy, at most {} tokens", report.max_tokens)
                } else {
                    format!(
                        "temperature {} seed {}, at most {} tokens",
                        report.temperature, report.seed, report.max_tokens
                    )
                },
            ],
            [
                "time".to_owned(),
                format!(
                    "{:.1} s ({:.1} rows/s, {:.1} tokens/s)",
                    report.seconds,
                    report.generation.rows as f64 / seconds,
                    report.generation.completion_tokens as f64 / seconds
                ),
            ],
            ["columns added".to_owned(), OUTPUT_COLUMNS.join(", ")],
        ],
    );
    println!(
        "Read them with `citadel data read {}@v{}`.",
        out.dataset, out.version
    );
}
