//! `citadel scan secrets` and `citadel bench scan`: secrets in a tree or a git history, with
//! gitleaks-format rules, tables, JSON or SARIF, CI exit codes and a pre-commit hook.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use citadel_scan::secrets::{
    bench_tree, install_pre_commit_hook, scan_git_history, scan_path, to_sarif, RuleSet,
};
use serde_json::json;

use super::output;

/// Find credentials in files (or the whole git history) with gitleaks-format rules: 130+
/// built-in rules, or the root's `.citadel-secrets.toml` / `.gitleaks.toml`, or --config.
/// Exit codes: 0 nothing found, 1 secrets found (or an error).
#[derive(Debug, clap::Args)]
pub struct ScanSecretsArgs {
    /// A file or folder [default: the current folder].
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Scan every commit reachable from any ref (lines each commit added), not the work tree.
    #[arg(long)]
    pub git: bool,
    /// A rules file in the gitleaks TOML format (`[extend] useDefault = true` keeps the
    /// built-in rules).
    #[arg(long, value_name = "RULES.toml")]
    pub config: Option<PathBuf>,
    /// Print SARIF 2.1.0 (for code-scanning dashboards) instead of a table.
    #[arg(long, conflicts_with = "install_hook")]
    pub sarif: bool,
    /// Install a git pre-commit hook in PATH's repository that runs this scan.
    #[arg(long)]
    pub install_hook: bool,
}

/// Secret-scan throughput on a synthetic source tree.
#[derive(Debug, clap::Args)]
pub struct BenchScanArgs {
    /// Size of the tree in MB.
    #[arg(long, default_value_t = 200)]
    pub mb: u64,
    /// Scratch folder [default: a temporary folder].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn rules_for(root: &Path, config: Option<&Path>) -> anyhow::Result<(RuleSet, Option<PathBuf>)> {
    match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let rules = RuleSet::from_toml(&text)
                .with_context(|| format!("invalid rules in {}", path.display()))?;
            Ok((rules, Some(path.to_owned())))
        }
        None => {
            let folder = if root.is_dir() {
                root
            } else {
                root.parent().unwrap_or(Path::new("."))
            };
            Ok(RuleSet::for_root(folder)?)
        }
    }
}

pub fn run(json: bool, args: ScanSecretsArgs) -> anyhow::Result<()> {
    if args.install_hook {
        let hook = install_pre_commit_hook(&args.path)?;
        println!(
            "installed {}: commits with secrets are refused",
            hook.display()
        );
        return Ok(());
    }
    let (rules, config) = rules_for(&args.path, args.config.as_deref())?;
    let started = Instant::now();
    let (findings, stats) = if args.git {
        scan_git_history(&rules, &args.path)?
    } else {
        scan_path(&rules, &args.path)?
    };
    let seconds = started.elapsed().as_secs_f64();
    if args.sarif {
        output::json(&to_sarif(&findings, &rules))?;
    } else if json {
        output::json(&json!({
            "rules": rules.len(),
            "config": config,
            "stats": stats,
            "seconds": seconds,
            "findings": findings,
        }))?;
    } else {
        output::table(
            ["rule", "where", "secret", "commit"],
            findings.iter().map(|f| {
                [
                    f.rule_id.clone(),
                    format!("{}:{}:{}", f.path, f.line, f.column),
                    f.secret_redacted.clone(),
                    f.commit
                        .as_deref()
                        .map_or("-", |c| c.get(..12).unwrap_or(c))
                        .to_owned(),
                ]
            }),
        );
        eprintln!(
            "{} files, {:.1} MB in {seconds:.2} s with {} rules{}",
            stats.files,
            stats.bytes as f64 / 1e6,
            rules.len(),
            config
                .map(|c| format!(" ({})", c.display()))
                .unwrap_or_default()
        );
    }
    if !findings.is_empty() {
        anyhow::bail!("{} secret(s) found", findings.len());
    }
    Ok(())
}

pub fn run_bench(json: bool, args: BenchScanArgs) -> anyhow::Result<()> {
    let scratch = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let bytes = bench_tree(scratch.path(), args.mb * 1_000_000)?;
    let rules = RuleSet::builtin()?;
    // One warm-up pass puts the tree in the page cache, as a developer's checkout is.
    scan_path(&rules, scratch.path())?;
    let started = Instant::now();
    let (findings, stats) = scan_path(&rules, scratch.path())?;
    let seconds = started.elapsed().as_secs_f64();
    let mb_per_s = stats.bytes as f64 / 1e6 / seconds;
    if json {
        return output::json(&json!({
            "tree_bytes": bytes,
            "files": stats.files,
            "rules": rules.len(),
            "findings": findings.len(),
            "seconds": seconds,
            "mb_per_s": mb_per_s,
            "threads": rayon::current_num_threads(),
        }));
    }
    output::table(
        ["measure", "result", "target"],
        [[
            format!(
                "secret scan, {} files, {:.0} MB",
                stats.files,
                bytes as f64 / 1e6
            ),
            format!("{mb_per_s:.0} MB/s ({} findings)", findings.len()),
            "≥ 200 MB/s".to_owned(),
        ]],
    );
    Ok(())
}
