//! `citadel scan pii`: finds personal data and secrets in a text or JSONL file (or standard
//! input), reading one line at a time, and prints the findings as JSON for programs or as a
//! table for people in which the matched text is always masked.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};

use anyhow::Context as _;
use citadel_pii::{Analyzer, AnalyzerConfig, Anonymizer, Finding, Operator, Operators};
use serde_json::{json, Value};

use super::output;

/// What to scan for.
#[derive(Debug, clap::Subcommand)]
pub enum ScanCommand {
    /// Find personal data and secrets (e-mail, phone, SSN, card, IBAN, IP, MAC, URL, date of
    /// birth, passport and licence numbers, credentials, names) in FILE, or `-` for stdin.
    ///
    /// With `--json`: for text, one object `{"findings":[{"entity_type","start","end","score"}]}`
    /// with offsets in characters of the whole input; for JSONL, one object per line and string
    /// field that has findings, `{"line":N,"field":"path.to[0].field","findings":[…]}`, with
    /// offsets in characters of that field's value.
    Pii(ScanPiiArgs),
    /// Match dependencies (this binary's, or an SBOM's) against an offline OSV database.
    Deps(super::sbom::ScanDepsArgs),
    /// Find credentials in files or git history (gitleaks-format rules); exit 1 on findings.
    Secrets(super::scan_secrets::ScanSecretsArgs),
}

/// Arguments of `citadel scan pii`.
#[derive(Debug, clap::Args)]
pub struct ScanPiiArgs {
    /// The file to scan, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub input: String,
    /// Input format [default: jsonl for `.jsonl` files, else text].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Exit with code 1 when anything is found (for CI).
    #[arg(long)]
    pub fail_on_findings: bool,
    /// Report only findings scoring at least this (0 to 1).
    #[arg(long, default_value_t = 0.4)]
    pub min_score: f64,
}

/// How to read the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain text, scanned line by line.
    Text,
    /// One JSON value per line; every string inside is scanned.
    Jsonl,
}

/// One row of the table for people.
struct Row {
    line: usize,
    field: String,
    finding: Finding,
    masked: String,
}

/// Runs `citadel scan pii`.
pub fn run(json: bool, args: ScanPiiArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.min_score) {
        anyhow::bail!("--min-score must be between 0 and 1");
    }
    let format = args.format.unwrap_or(if args.input.ends_with(".jsonl") {
        Format::Jsonl
    } else {
        Format::Text
    });
    let reader: Box<dyn BufRead> = if args.input == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file =
            File::open(&args.input).with_context(|| format!("cannot open {}", args.input))?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let analyzer = Analyzer::new(AnalyzerConfig {
        min_score: args.min_score,
        ..AnalyzerConfig::default()
    })?;
    let mask = Anonymizer::new(Operators::new(Operator::MaskKeepLast {
        mask_char: '*',
        keep: 4,
    }));
    let mut scan = Scan {
        analyzer: &analyzer,
        mask: &mask,
        json,
        rows: Vec::new(),
        count: 0,
        lines: 0,
    };
    match format {
        Format::Text => scan.text(reader, &args.input)?,
        Format::Jsonl => scan.jsonl(reader, &args.input)?,
    }
    if !json {
        output::table(
            ["line", "field", "entity", "span", "score", "text (masked)"],
            scan.rows.iter().map(|r| {
                [
                    r.line.to_string(),
                    r.field.clone(),
                    r.finding.entity_type.to_string(),
                    format!("{}..{}", r.finding.start, r.finding.end),
                    format!("{:.2}", r.finding.score),
                    r.masked.clone(),
                ]
            }),
        );
        println!("{} findings in {} lines", scan.count, scan.lines);
    }
    if args.fail_on_findings && scan.count > 0 {
        anyhow::bail!("{} findings (--fail-on-findings)", scan.count);
    }
    Ok(())
}

struct Scan<'a> {
    analyzer: &'a Analyzer,
    mask: &'a Anonymizer,
    json: bool,
    rows: Vec<Row>,
    count: usize,
    lines: usize,
}

/// Reads the next line (with its terminator) into `buf` as UTF-8; `false` at the end.
fn next_line(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    number: usize,
    name: &str,
) -> anyhow::Result<bool> {
    buf.clear();
    let n = reader
        .read_until(b'\n', buf)
        .with_context(|| format!("cannot read {name}"))?;
    if n == 0 {
        return Ok(false);
    }
    if std::str::from_utf8(buf).is_err() {
        anyhow::bail!("{name}: line {number} is not valid UTF-8");
    }
    Ok(true)
}

impl Scan<'_> {
    fn text(&mut self, mut reader: Box<dyn BufRead>, name: &str) -> anyhow::Result<()> {
        let mut scanner = self.analyzer.lines();
        let mut buf = Vec::new();
        let mut all = Vec::new();
        while next_line(reader.as_mut(), &mut buf, scanner.line_number() + 1, name)? {
            let line = String::from_utf8_lossy(&buf);
            let findings = scanner.scan(&line);
            let offset = scanner.line_offset();
            for f in findings {
                let absolute = Finding {
                    start: f.start + offset,
                    end: f.end + offset,
                    ..f
                };
                if self.json {
                    all.push(summary(&absolute));
                } else {
                    self.row(scanner.line_number(), "-".into(), &line, f, absolute)?;
                }
                self.count += 1;
            }
        }
        self.lines = scanner.line_number();
        if self.json {
            output::json(&json!({ "findings": all }))?;
        }
        Ok(())
    }

    fn jsonl(&mut self, mut reader: Box<dyn BufRead>, name: &str) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        let mut number = 0;
        let stdout = io::stdout();
        while next_line(reader.as_mut(), &mut buf, number + 1, name)? {
            number += 1;
            let line = String::from_utf8_lossy(&buf);
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .with_context(|| format!("{name}: line {number} is not valid JSON"))?;
            let mut fields = Vec::new();
            strings(&value, String::new(), &mut fields);
            for (field, text) in fields {
                let findings = self.analyzer.analyze(text);
                if findings.is_empty() {
                    continue;
                }
                self.count += findings.len();
                if self.json {
                    let object = json!({
                        "line": number,
                        "field": field,
                        "findings": findings.iter().map(summary).collect::<Vec<_>>(),
                    });
                    writeln!(stdout.lock(), "{object}")?;
                } else {
                    for f in findings {
                        self.row(number, field.clone(), text, f, f)?;
                    }
                }
            }
        }
        self.lines = number;
        Ok(())
    }

    /// A table row: `local` locates the text in `text`, `shown` is the span to print.
    fn row(
        &mut self,
        line: usize,
        field: String,
        text: &str,
        local: Finding,
        shown: Finding,
    ) -> anyhow::Result<()> {
        let value: String = text
            .chars()
            .skip(local.start)
            .take(local.end - local.start)
            .collect();
        let masked = self.mask.operate(local.entity_type, &value)?;
        let masked = if masked.chars().count() > 24 {
            let tail: String = masked
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("********…{tail} ({} chars)", value.chars().count())
        } else {
            masked
        };
        self.rows.push(Row {
            line,
            field,
            finding: shown,
            masked,
        });
        Ok(())
    }
}

/// The fields of `--json` output: entity type, span, score (and a credential's kind).
fn summary(f: &Finding) -> Value {
    let mut v = json!({
        "entity_type": f.entity_type,
        "start": f.start,
        "end": f.end,
        "score": f.score,
    });
    if let (Some(kind), Some(map)) = (f.kind, v.as_object_mut()) {
        map.insert("kind".into(), json!(kind.as_str()));
    }
    v
}

/// Every string inside `value` with its path (`messages[0].content`; empty for a bare string).
fn strings<'v>(value: &'v Value, path: String, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                strings(item, path, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}
