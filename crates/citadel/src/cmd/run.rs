//! `citadel run list|show|compare`: tracked training runs, their parameters, metrics and loss
//! curves (in the terminal, or as SVG).

use std::collections::BTreeSet;
use std::path::PathBuf;

use citadel_core::FullName;
use citadel_registry::chart::{self, Series};
use citadel_service::{Citadel, Context, RunDetail, RunInfo};
use serde_json::Value;

use super::output;

#[derive(Debug, clap::Subcommand)]
pub enum RunCommand {
    /// List runs you can see, newest first.
    List {
        /// Only runs that train this model.
        #[arg(long, value_name = "NAME")]
        model: Option<FullName>,
    },
    /// Show a run: parameters, lineage, system figures, and its loss curve.
    Show {
        id: String,
        /// Also draw the curves as an SVG file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Compare runs side by side: parameters, results and loss curves.
    Compare {
        #[arg(required = true, num_args = 2..)]
        ids: Vec<String>,
        /// Also draw the curves as an SVG file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
}

/// Runs a `citadel run` subcommand.
pub async fn run(
    citadel: &Citadel,
    ctx: &Context,
    json: bool,
    command: RunCommand,
) -> anyhow::Result<()> {
    match command {
        RunCommand::List { model } => {
            let runs = citadel.list_runs(ctx, model.as_ref()).await?;
            if json {
                return output::json(&runs);
            }
            output::table(
                [
                    "run",
                    "pipeline",
                    "model",
                    "status",
                    "steps",
                    "final loss",
                    "eval loss",
                    "cpu s",
                    "started",
                ],
                runs.iter().map(|r| {
                    [
                        r.id.clone(),
                        r.pipeline.clone(),
                        r.model.clone(),
                        r.status.clone(),
                        format!("{}/{}", r.steps_done, r.total_steps),
                        summary_number(r, "/final_loss"),
                        candidate_eval_loss(r),
                        format!("{:.0}", r.cpu_seconds),
                        output::time(r.started_at),
                    ]
                }),
            );
            Ok(())
        }
        RunCommand::Show { id, svg } => {
            let detail = citadel.show_run(ctx, &id).await?;
            if json {
                return output::json(&detail);
            }
            print_run(&detail);
            draw(&[&detail], svg)
        }
        RunCommand::Compare { ids, svg } => {
            let mut details = Vec::new();
            for id in &ids {
                details.push(citadel.show_run(ctx, id).await?);
            }
            if json {
                return output::json(&details);
            }
            print_comparison(&details);
            draw(&details.iter().collect::<Vec<_>>(), svg)
        }
    }
}

fn print_run(detail: &RunDetail) {
    let run = &detail.run;
    output::table(
        ["field", "value"],
        [
            ["run".to_owned(), run.id.clone()],
            ["pipeline".to_owned(), run.pipeline.clone()],
            ["model".to_owned(), run.model.clone()],
            ["status".to_owned(), run.status.clone()],
            [
                "steps".to_owned(),
                format!("{}/{}", run.steps_done, run.total_steps),
            ],
            ["attempts".to_owned(), run.attempts.to_string()],
            ["seed".to_owned(), run.seed.to_string()],
            ["code".to_owned(), run.code_version.clone()],
            ["final loss".to_owned(), summary_number(run, "/final_loss")],
            ["eval loss".to_owned(), candidate_eval_loss(run)],
            ["tokens/s".to_owned(), summary_number(run, "/tokens_per_s")],
            ["cpu seconds".to_owned(), format!("{:.1}", run.cpu_seconds)],
            [
                "peak RSS MiB".to_owned(),
                summary_number(run, "/peak_rss_mib"),
            ],
            ["checkpoints".to_owned(), join(&detail.checkpoints)],
            ["outputs".to_owned(), detail.outputs.join(", ")],
            ["started".to_owned(), output::time(run.started_at)],
            ["finished".to_owned(), output::opt_time(run.finished_at)],
            ["by".to_owned(), run.created_by.clone()],
            ["error".to_owned(), run.error.clone().unwrap_or_default()],
        ],
    );
    println!("parameters: {}", compact(&run.params));
    println!("lineage: {}", compact(&run.lineage));
}

fn print_comparison(details: &[RunDetail]) {
    let keys: BTreeSet<String> = details
        .iter()
        .filter_map(|d| d.run.params.as_object())
        .flat_map(|p| p.keys().cloned())
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, cell: &dyn Fn(&RunDetail) -> String| {
        let mut line = vec![name.to_owned()];
        line.extend(details.iter().map(cell));
        rows.push(line);
    };
    row("status", &|d| d.run.status.clone());
    row("steps", &|d| d.run.steps_done.to_string());
    row("final loss", &|d| summary_number(&d.run, "/final_loss"));
    row("eval loss", &|d| candidate_eval_loss(&d.run));
    row("cpu seconds", &|d| format!("{:.1}", d.run.cpu_seconds));
    for key in &keys {
        row(key, &|d| {
            d.run.params.get(key).map(compact).unwrap_or_default()
        });
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec!["".to_owned()];
    header.extend(details.iter().map(|d| d.run.id.clone()));
    table.set_header(header);
    for line in rows {
        table.add_row(line);
    }
    println!("{table}");
}

/// The loss curves in the terminal, and as SVG when asked.
fn draw(details: &[&RunDetail], svg: Option<PathBuf>) -> anyhow::Result<()> {
    let series: Vec<Series> = details
        .iter()
        .filter_map(|d| {
            let points = d.metrics.get("loss")?;
            Some(Series {
                name: format!("loss {}", short(&d.run.id)),
                points: points.iter().map(|(s, v)| (*s as f64, *v)).collect(),
            })
        })
        .collect();
    if series.is_empty() {
        println!("(no loss recorded yet)");
        return Ok(());
    }
    println!("{}", chart::terminal(&series, 60, 12));
    if let Some(path) = svg {
        let title = match details {
            [one] => format!("run {}", one.run.id),
            _ => "training loss".to_owned(),
        };
        std::fs::write(&path, chart::svg(&title, "step", "loss", &series)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn summary_number(run: &RunInfo, pointer: &str) -> String {
    run.summary
        .as_ref()
        .and_then(|s| s.pointer(pointer))
        .and_then(Value::as_f64)
        .map(|v| format!("{v:.4}"))
        .unwrap_or_default()
}

fn candidate_eval_loss(run: &RunInfo) -> String {
    run.summary
        .as_ref()
        .and_then(|s| s.get("evaluation"))
        .and_then(Value::as_array)
        .and_then(|rows| rows.iter().find(|r| r["subject"] == "candidate"))
        .and_then(|r| r["loss"].as_f64())
        .map(|v| format!("{v:.4}"))
        .unwrap_or_default()
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn join(steps: &[u64]) -> String {
    steps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}
