//! `citadel data …`: datasets: ingest, versions, reads with masks and row filters, PII scans and
//! anonymization, waivers and the training guard, retention and erasure.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use citadel_core::FullName;
use citadel_data::{ColumnMask, Format, MaskFunction, RetentionPolicy, RowFilter};
use citadel_service::{DatasetVersionInfo, ReadOptions, RuleChange};
use indicatif::{ProgressBar, ProgressStyle};

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Ingest a JSONL, CSV or Parquet file as a new encrypted, immutable version:
    /// `citadel data ingest people.csv --as dev.data.people` (CREATE_DATASET on the schema for
    /// a new dataset, MODIFY on it for a new version).
    Ingest {
        file: PathBuf,
        /// CATALOG.SCHEMA.NAME
        #[arg(long = "as", value_name = "NAME")]
        name: FullName,
        /// jsonl, csv or parquet [default: from the file extension].
        #[arg(long)]
        format: Option<Format>,
    },
    /// List a dataset's versions, tombstones included (SELECT).
    Versions { name: FullName },
    /// A dataset's masks, row filters, retention and versions (SELECT).
    Show { name: FullName },
    /// Print rows as JSON lines after your masks and row filters: NAME, NAME@vN or
    /// NAME@2026-11-22T10:00:00Z (SELECT; --decrypt needs MANAGE).
    Read {
        spec: String,
        /// Rows to print at most.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Print every row.
        #[arg(long, conflicts_with = "limit")]
        all: bool,
        /// Decrypt values an anonymization encrypted (MANAGE; audited).
        #[arg(long)]
        decrypt: bool,
    },
    /// Scan a version for PII and record the verdict on it (MODIFY). Samples are masked.
    Scan { spec: String },
    /// Write a new version through an anonymization policy (TOML), with lineage to its source
    /// (MODIFY). See `examples/anonymize.toml`.
    Anonymize {
        spec: String,
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Column masks, shown to everyone outside the exempt groups (MANAGE).
    #[command(subcommand)]
    Mask(MaskCommand),
    /// Row filters: rows outside the filter are hidden from everyone outside the exempt groups
    /// (MANAGE).
    #[command(subcommand)]
    RowFilter(RowFilterCommand),
    /// Training waivers for versions with unredacted PII.
    #[command(subcommand)]
    Waive(WaiveCommand),
    /// Check whether a version may be used for training (the training guard).
    CheckTraining { spec: String },
    /// Retention policies (MANAGE).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Delete the bytes of versions past their retention policy, keeping tombstones (MANAGE on
    /// the dataset, or on the metastore for every dataset).
    Gc { name: Option<FullName> },
    /// Erase rows matching COLUMN=VALUE from every stored version (GDPR article 17) (MANAGE).
    Erase {
        name: FullName,
        /// COLUMN=VALUE, e.g. email=ann@example.com or id=42.
        #[arg(long = "where", value_name = "COLUMN=VALUE")]
        condition: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum MaskCommand {
    /// Mask a column: mask_email, mask_all, last4 (last_n:N), hash, null or redact.
    Set {
        name: FullName,
        #[arg(long)]
        column: String,
        #[arg(long)]
        function: MaskFunction,
        /// Groups that see the column unmasked (repeatable).
        #[arg(long = "exempt-group")]
        exempt_groups: Vec<String>,
    },
    /// Remove a column's mask.
    Drop {
        name: FullName,
        #[arg(long)]
        column: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum RowFilterCommand {
    /// Keep only rows matching an expression: `region IN viewer.regions`, `country = 'FR'`,
    /// `tier IN ('gold','silver')`.
    Set {
        name: FullName,
        #[arg(long = "where", value_name = "EXPRESSION")]
        expression: String,
        /// Groups that see every row (repeatable).
        #[arg(long = "exempt-group")]
        exempt_groups: Vec<String>,
    },
    /// Remove the filter on a column.
    Drop {
        name: FullName,
        #[arg(long)]
        column: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum WaiveCommand {
    /// Ask for a waiver to train on a version despite its PII verdict (SELECT).
    Request {
        spec: String,
        #[arg(long)]
        justification: String,
        /// How long the waiver lasts, e.g. 7d or 12h (at most 365d).
        #[arg(long, default_value = "30d")]
        expires_in: String,
    },
    /// Approve a waiver someone else requested (MANAGE on the dataset).
    Approve { waiver_id: String },
    /// List a dataset's waivers (SELECT).
    List { name: FullName },
}

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Keep the last N versions and/or versions younger than a duration (30d, 12h, 1w).
    Set {
        name: FullName,
        #[arg(long)]
        keep_versions: Option<u32>,
        #[arg(long)]
        max_age: Option<String>,
    },
    /// Remove the retention policy.
    Clear { name: FullName },
}

pub async fn run(global: &GlobalArgs, command: DataCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            DataCommand::Ingest { file, name, format } => {
                let total = std::fs::metadata(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
                    .len();
                let bar = progress_bar(total, global.json);
                let tick = bar.clone();
                let version = citadel
                    .ingest_dataset(
                        &ctx,
                        &name,
                        &file,
                        format,
                        Some(Arc::new(move |read| tick.set_position(read))),
                    )
                    .await;
                bar.finish_and_clear();
                let version = version?;
                if global.json {
                    return output::json(&version);
                }
                let seconds = bar.elapsed().as_secs_f64().max(1e-9);
                println!(
                    "Stored {}@v{}: {} rows, {} bytes ({:.1} MB/s)",
                    version.dataset,
                    version.version,
                    version.rows,
                    version.size,
                    total as f64 / 1e6 / seconds
                );
                Ok(())
            }
            DataCommand::Versions { name } => {
                print_versions(global, citadel.show_dataset(&ctx, &name).await?.versions)
            }
            DataCommand::Show { name } => {
                let info = citadel.show_dataset(&ctx, &name).await?;
                if global.json {
                    return output::json(&info);
                }
                println!(
                    "Dataset {} (owner {})",
                    info.name,
                    info.owner.unwrap_or_default()
                );
                for mask in &info.row_policy.masks {
                    println!(
                        "  mask {} with {} (exempt: {})",
                        mask.column,
                        mask.function,
                        list_or_none(&mask.exempt_groups)
                    );
                }
                for filter in &info.row_policy.filters {
                    println!(
                        "  row filter {} (exempt: {})",
                        filter,
                        list_or_none(&filter.exempt_groups)
                    );
                }
                if let Some(retention) = &info.retention {
                    println!("  retention {retention}");
                }
                print_versions(global, info.versions)
            }
            DataCommand::Read {
                spec,
                limit,
                all,
                decrypt,
            } => {
                let options = ReadOptions {
                    limit: (!all).then_some(limit),
                    decrypt,
                };
                let report = citadel
                    .read_dataset(&ctx, &spec, options, |row| {
                        let mut out = std::io::stdout().lock();
                        serde_json::to_writer(&mut out, &row)
                            .map_err(|e| citadel_service::Error::InvalidInput(e.to_string()))?;
                        writeln!(out)
                            .map_err(|e| citadel_service::Error::InvalidInput(e.to_string()))
                    })
                    .await?;
                let applied: Vec<String> = report
                    .rules
                    .iter()
                    .filter(|r| !r.exempt)
                    .map(|r| format!("{} {}", r.column, r.rule))
                    .collect();
                eprintln!(
                    "{} row(s) of v{}; {} hidden by row filters; rules applied: {}",
                    report.rows_returned,
                    report.version,
                    report.rows_filtered,
                    list_or_none(&applied)
                );
                Ok(())
            }
            DataCommand::Scan { spec } => {
                let verdict = citadel.scan_dataset(&ctx, &spec).await?;
                if global.json {
                    return output::json(&verdict);
                }
                output::table(
                    ["field", "entity", "count"],
                    verdict.columns.iter().flat_map(|(field, counts)| {
                        counts.iter().map(move |(entity, count)| {
                            [field.clone(), entity.to_string(), count.to_string()]
                        })
                    }),
                );
                for sample in &verdict.samples {
                    println!(
                        "  {} {}: {}",
                        sample.field, sample.entity_type, sample.masked_text
                    );
                }
                println!(
                    "{} rows scanned; unredacted high-confidence PII: {}",
                    verdict.rows_scanned,
                    if verdict.high_confidence_unredacted {
                        "yes"
                    } else {
                        "no"
                    }
                );
                Ok(())
            }
            DataCommand::Anonymize { spec, policy } => {
                let text = std::fs::read_to_string(&policy)
                    .with_context(|| format!("cannot read {}", policy.display()))?;
                let version = citadel.anonymize_dataset(&ctx, &spec, &text).await?;
                if global.json {
                    return output::json(&version);
                }
                println!(
                    "Stored {}@v{} ({} rows), anonymized from {}",
                    version.dataset, version.version, version.rows, spec
                );
                Ok(())
            }
            DataCommand::Mask(command) => {
                let (name, change) = match command {
                    MaskCommand::Set {
                        name,
                        column,
                        function,
                        exempt_groups,
                    } => (
                        name,
                        RuleChange::SetMask(ColumnMask {
                            column,
                            function,
                            exempt_groups,
                        }),
                    ),
                    MaskCommand::Drop { name, column } => (name, RuleChange::DropMask { column }),
                };
                let policy = citadel.change_dataset_rule(&ctx, &name, change).await?;
                print_rules_changed(global, &name, &policy)
            }
            DataCommand::RowFilter(command) => {
                let (name, change) = match command {
                    RowFilterCommand::Set {
                        name,
                        expression,
                        exempt_groups,
                    } => {
                        let mut filter = RowFilter::parse(&expression)?;
                        filter.exempt_groups = exempt_groups;
                        (name, RuleChange::SetFilter(filter))
                    }
                    RowFilterCommand::Drop { name, column } => {
                        (name, RuleChange::DropFilter { column })
                    }
                };
                let policy = citadel.change_dataset_rule(&ctx, &name, change).await?;
                print_rules_changed(global, &name, &policy)
            }
            DataCommand::Waive(WaiveCommand::Request {
                spec,
                justification,
                expires_in,
            }) => {
                let valid_for = citadel_data::parse_duration(&expires_in)?;
                let waiver = citadel
                    .request_waiver(&ctx, &spec, &justification, valid_for)
                    .await?;
                if global.json {
                    return output::json(&waiver);
                }
                println!(
                    "Requested waiver {} for {}@v{}; another manager of the dataset approves it \
                     with `citadel data waive approve {}`",
                    waiver.id, waiver.dataset, waiver.version, waiver.id
                );
                Ok(())
            }
            DataCommand::Waive(WaiveCommand::Approve { waiver_id }) => {
                let waiver = citadel.approve_waiver(&ctx, &waiver_id).await?;
                if global.json {
                    return output::json(&waiver);
                }
                println!(
                    "Approved waiver {} for {}@v{} until {}",
                    waiver.id,
                    waiver.dataset,
                    waiver.version,
                    output::time(waiver.expires_at)
                );
                Ok(())
            }
            DataCommand::Waive(WaiveCommand::List { name }) => {
                let waivers = citadel.list_waivers(&ctx, &name).await?;
                if global.json {
                    return output::json(&waivers);
                }
                output::table(
                    [
                        "id",
                        "version",
                        "requested by",
                        "approved by",
                        "expires",
                        "justification",
                    ],
                    waivers.into_iter().map(|w| {
                        [
                            w.id,
                            w.version.to_string(),
                            w.requested_by,
                            w.approved_by.unwrap_or_else(|| "(pending)".to_owned()),
                            output::time(w.expires_at),
                            w.justification,
                        ]
                    }),
                );
                Ok(())
            }
            DataCommand::CheckTraining { spec } => {
                let clearance = citadel.clear_for_training(&ctx, &spec).await?;
                if global.json {
                    return output::json(&clearance);
                }
                match &clearance.waiver {
                    Some(waiver) => println!(
                        "{}@v{} may be used for training under waiver {waiver}",
                        clearance.dataset, clearance.version
                    ),
                    None => println!(
                        "{}@v{} may be used for training",
                        clearance.dataset, clearance.version
                    ),
                }
                Ok(())
            }
            DataCommand::Retention(RetentionCommand::Set {
                name,
                keep_versions,
                max_age,
            }) => {
                let max_age = max_age
                    .as_deref()
                    .map(citadel_data::parse_duration)
                    .transpose()?;
                let policy = RetentionPolicy::new(keep_versions, max_age)?;
                citadel.set_retention(&ctx, &name, Some(policy)).await?;
                println!("Retention of {name} set; `citadel data gc {name}` applies it");
                Ok(())
            }
            DataCommand::Retention(RetentionCommand::Clear { name }) => {
                citadel.set_retention(&ctx, &name, None).await?;
                println!("Retention of {name} cleared");
                Ok(())
            }
            DataCommand::Gc { name } => {
                let reports = citadel.gc_datasets(&ctx, name.as_ref()).await?;
                if global.json {
                    return output::json(&reports);
                }
                output::table(
                    ["dataset", "deleted versions", "bytes freed"],
                    reports.into_iter().map(|r| {
                        [
                            r.dataset,
                            r.deleted_versions
                                .iter()
                                .map(|v| format!("v{v}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            r.bytes_freed.to_string(),
                        ]
                    }),
                );
                Ok(())
            }
            DataCommand::Erase { name, condition } => {
                let report = citadel.erase_from_dataset(&ctx, &name, &condition).await?;
                if global.json {
                    return output::json(&report);
                }
                println!(
                    "Erased {} row(s) from {}: rewrote {} version(s){}; erasure {}",
                    report.rows_erased,
                    report.dataset,
                    report.versions_rewritten.len(),
                    report
                        .new_version
                        .map(|v| format!(", new version v{v}"))
                        .unwrap_or_default(),
                    report.erasure_id
                );
                Ok(())
            }
        }
    })
    .await
}

fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} ingesting [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn print_rules_changed(
    global: &GlobalArgs,
    name: &FullName,
    policy: &citadel_data::RowPolicy,
) -> anyhow::Result<()> {
    if global.json {
        return output::json(policy);
    }
    println!(
        "{name} now has {} mask(s) and {} row filter(s)",
        policy.masks.len(),
        policy.filters.len()
    );
    Ok(())
}

fn print_versions(global: &GlobalArgs, versions: Vec<DatasetVersionInfo>) -> anyhow::Result<()> {
    if global.json {
        return output::json(&versions);
    }
    output::table(
        [
            "version", "rows", "bytes", "source", "pii", "created", "by", "state",
        ],
        versions.into_iter().map(|v| {
            let pii = match &v.pii_verdict {
                None => "not scanned".to_owned(),
                Some(verdict) if verdict["high_confidence_unredacted"] == true => {
                    "PII found".to_owned()
                }
                Some(_) => "clean".to_owned(),
            };
            let state = match (&v.deleted_at, &v.rewritten_at) {
                (Some(at), _) => format!("deleted {}", output::time(*at)),
                (None, Some(at)) => format!("rewritten {}", output::time(*at)),
                (None, None) => "stored".to_owned(),
            };
            [
                format!("v{}", v.version),
                v.rows.to_string(),
                v.size.to_string(),
                v.source["kind"].as_str().unwrap_or("?").to_owned(),
                pii,
                output::time(v.created_at),
                v.created_by,
                state,
            ]
        }),
    );
    Ok(())
}
