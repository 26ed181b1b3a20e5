//! `citadel bench pii`: generates a labeled corpus (prose with planted entities and decoys),
//! runs the PII analyzer over it on one thread and on every core, and prints throughput and
//! precision/recall per entity type beside the targets.

use std::time::Instant;

use citadel_pii::bench::{evaluate, EvalReport};
use citadel_pii::corpus::generate_corpus;
use citadel_pii::{Analyzer, AnalyzerConfig, EntityType};
use serde_json::json;

use super::output;

/// Throughput target per core, MB/s.
const MB_S_PER_CORE: f64 = 50.0;
/// Recall and precision targets on the checksum-validated types.
const CHECKSUM_RECALL: f64 = 0.99;
const CHECKSUM_PRECISION: f64 = 0.98;
/// Recall target on e-mail addresses and phone numbers.
const CONTACT_RECALL: f64 = 0.95;

/// Arguments of `citadel bench pii`.
#[derive(Debug, clap::Args)]
pub struct BenchPiiArgs {
    /// Corpus size in MB (10^6 bytes).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub size_mb: u64,
    /// Seed of the corpus generator (the same seed gives the same corpus).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Threads for the all-cores run [default: one per core].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
}

/// Targets of one entity type: (recall, precision), where set.
fn targets(t: EntityType) -> (Option<f64>, Option<f64>) {
    if t.is_checksum_validated() {
        (Some(CHECKSUM_RECALL), Some(CHECKSUM_PRECISION))
    } else if matches!(t, EntityType::EmailAddress | EntityType::PhoneNumber) {
        (Some(CONTACT_RECALL), None)
    } else {
        (None, None)
    }
}

/// Runs `citadel bench pii`.
pub fn run(json: bool, args: BenchPiiArgs) -> anyhow::Result<()> {
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |t| t as usize,
    );
    let started = Instant::now();
    let corpus = generate_corpus((args.size_mb * 1_000_000) as usize, args.seed);
    let generate_seconds = started.elapsed().as_secs_f64();
    let analyzer = Analyzer::new(AnalyzerConfig::default())?;
    let report = evaluate(&analyzer, &corpus, threads)?;
    if json {
        return print_json(&report, args.seed, generate_seconds);
    }
    print_tables(&report);
    Ok(())
}

fn print_json(report: &EvalReport, seed: u64, generate_seconds: f64) -> anyhow::Result<()> {
    let entities: Vec<_> = report
        .entities
        .iter()
        .map(|e| {
            let (recall_target, precision_target) = targets(e.entity_type);
            json!({
                "entity_type": e.entity_type,
                "checksum_validated": e.entity_type.is_checksum_validated(),
                "support": e.support,
                "true_positives": e.true_positives,
                "false_positives": e.false_positives,
                "false_negatives": e.false_negatives,
                "exact_spans": e.exact,
                "precision": e.precision,
                "recall": e.recall,
                "precision_target": precision_target,
                "recall_target": recall_target,
            })
        })
        .collect();
    output::json(&json!({
        "corpus_bytes": report.corpus_bytes,
        "corpus_lines": report.lines,
        "seed": seed,
        "generate_seconds": generate_seconds,
        "threads": report.threads,
        "single_thread_mb_s": report.single_thread_mb_s,
        "all_cores_mb_s": report.all_cores_mb_s,
        "per_core_mb_s": report.per_core_mb_s,
        "target_mb_s_per_core": MB_S_PER_CORE,
        "findings": report.findings,
        "matching": "a finding matches a label of the same type whose span overlaps it (one to one)",
        "entities": entities,
    }))
}

fn print_tables(report: &EvalReport) {
    let verdict = |ok: bool| if ok { "yes" } else { "NO" }.to_owned();
    output::table(
        ["measure", "result", "target", "met"],
        [
            [
                "corpus".to_owned(),
                format!(
                    "{:.1} MB, {} lines",
                    report.corpus_bytes as f64 / 1e6,
                    report.lines
                ),
                "≥ 50 MB".to_owned(),
                verdict(report.corpus_bytes >= 50_000_000),
            ],
            [
                "throughput, one thread".to_owned(),
                format!("{:.1} MB/s", report.single_thread_mb_s),
                format!("≥ {MB_S_PER_CORE:.0} MB/s"),
                verdict(report.single_thread_mb_s >= MB_S_PER_CORE),
            ],
            [
                format!("throughput, {} threads", report.threads),
                format!(
                    "{:.1} MB/s ({:.1} per core)",
                    report.all_cores_mb_s, report.per_core_mb_s
                ),
                format!("≥ {:.0} MB/s", MB_S_PER_CORE * report.threads as f64),
                verdict(report.per_core_mb_s >= MB_S_PER_CORE),
            ],
        ],
    );
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    output::table(
        [
            "entity",
            "support",
            "precision",
            "recall",
            "exact spans",
            "target",
            "met",
        ],
        report.entities.iter().map(|e| {
            let (recall_target, precision_target) = targets(e.entity_type);
            let mut target = Vec::new();
            let mut met = true;
            if let Some(p) = precision_target {
                target.push(format!("precision ≥ {}", pct(p)));
                met &= e.precision >= p;
            }
            if let Some(r) = recall_target {
                target.push(format!("recall ≥ {}", pct(r)));
                met &= e.recall >= r;
            }
            let has_target = !target.is_empty();
            [
                e.entity_type.to_string(),
                e.support.to_string(),
                pct(e.precision),
                pct(e.recall),
                e.exact.to_string(),
                if has_target {
                    target.join(", ")
                } else {
                    "-".to_owned()
                },
                if has_target {
                    verdict(met)
                } else {
                    "-".to_owned()
                },
            ]
        }),
    );
}
