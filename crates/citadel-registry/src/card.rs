//! Model cards: a model version's facts as Markdown with YAML front matter, after the Hugging Face
//! model-card convention (`---\n<yaml>\n---\n\n# title …`), and reading that front matter back.
//!
//! The front matter is written by a YAML serializer, so no value can end it early; every piece of
//! user-supplied text in the body is escaped so it cannot open a heading, a table row, a link or
//! HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Everything a model card says about one model version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCard {
    /// The model's full name (`dev.models.support`).
    pub model: String,
    /// The version number.
    pub version: u32,
    /// The version's status (`pending_review`, `approved`…).
    pub status: String,
    /// The model it was fine-tuned from, if any.
    pub base_model: Option<CardBaseModel>,
    /// The dataset versions it was trained and evaluated on.
    pub datasets: Vec<CardDataset>,
    /// Training parameters (`lora_r`, `lr`, `steps`, `seed`…).
    pub training: BTreeMap<String, serde_json::Value>,
    /// Held-out evaluation of the candidate, the base model and the champion, side by side.
    pub evaluation: Vec<CardEvaluation>,
    /// The quality gates and how the candidate fared.
    pub gates: Vec<CardGate>,
    /// Whether every gate passed.
    pub gates_passed: bool,
    /// What the model is for.
    pub intended_use: String,
    /// What it should not be trusted with.
    pub limitations: Vec<String>,
    /// Review decisions, oldest first.
    pub approvals: Vec<CardApproval>,
    /// The training run that produced it.
    pub run_id: Option<String>,
    /// Who registered the version.
    pub created_by: String,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// The id of the key that signed it, once signed.
    pub signed_by: Option<String>,
    /// The Citadel version that wrote the card.
    pub citadel_version: String,
}

/// The base model a version was fine-tuned from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CardBaseModel {
    /// Its registry name and version (`dev.models.base@1`).
    pub name: String,
    /// Where it came from (`hf://HuggingFaceTB/SmolLM2-135M@<commit>`, `folder /path`).
    pub source: String,
    /// The SHA-256 root digest of its files.
    pub root_digest: String,
}

/// A dataset version used for training or evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CardDataset {
    /// Its name and version (`dev.data.tickets@v2`).
    pub name: String,
    /// `train` or `eval`.
    pub role: String,
    /// How many rows it has.
    pub rows: u64,
    /// How personal data in it was handled.
    pub pii_handling: String,
}

/// One model's held-out evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CardEvaluation {
    /// `candidate`, `base` or `champion`.
    pub subject: String,
    /// The evaluated model (`dev.models.support@3`).
    pub model: String,
    /// Mean held-out loss.
    pub loss: f64,
    /// Held-out perplexity.
    pub perplexity: f64,
}

/// One quality gate's outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CardGate {
    /// The gate's name (`max_perplexity`…).
    pub gate: String,
    /// Its threshold.
    pub limit: f64,
    /// The candidate's value.
    pub actual: f64,
    /// Whether the candidate passed it.
    pub passed: bool,
    /// Why, in words.
    pub message: String,
}

/// One review decision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CardApproval {
    /// Who decided.
    pub principal: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// What they said.
    pub comment: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The front matter: Hugging Face keys, then the whole card under `citadel`.
#[derive(Serialize)]
struct FrontMatter<'a> {
    library_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_model: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    datasets: Vec<&'a str>,
    tags: Vec<&'static str>,
    #[serde(rename = "model-index", skip_serializing_if = "Vec::is_empty")]
    model_index: Vec<IndexEntry<'a>>,
    citadel: &'a ModelCard,
}

/// A `model-index` entry: the candidate's results on its evaluation dataset.
#[derive(Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    results: Vec<IndexResult<'a>>,
}

#[derive(Serialize)]
struct IndexResult<'a> {
    task: IndexTask,
    dataset: IndexDataset<'a>,
    metrics: Vec<IndexMetric>,
}

#[derive(Serialize)]
struct IndexTask {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct IndexDataset<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct IndexMetric {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    value: f64,
}

/// The front matter's opening and closing line.
const FENCE: &str = "---";

/// The model card as Markdown: YAML front matter (`library_name: citadel`, `base_model`,
/// `datasets`, `tags`, `model-index` when the candidate was evaluated on an `eval` dataset, and
/// the whole card under `citadel`), then the title, a summary and one section per topic.
pub fn render_markdown(card: &ModelCard) -> Result<String> {
    let mut out = format!("{FENCE}\n{}{FENCE}\n\n", front_matter(card)?);
    write_title(&mut out, card);
    write_base_model(&mut out, card);
    write_datasets(&mut out, card);
    write_training(&mut out, card);
    write_evaluation(&mut out, card);
    write_gates(&mut out, card);
    write_intended_use(&mut out, card);
    write_limitations(&mut out, card);
    write_approvals(&mut out, card);
    write_provenance(&mut out, card);
    Ok(out)
}

/// The YAML front matter of a model card, as JSON. [`Error::Invalid`] when the text does not
/// start with a `---` line, the closing `---` line is missing, or what lies between is not a
/// YAML mapping.
pub fn parse_front_matter(markdown: &str) -> Result<serde_json::Value> {
    let yaml = front_matter_text(markdown)?;
    let value: serde_json::Value = serde_norway::from_str(yaml)
        .map_err(|e| Error::Invalid(format!("the model card's front matter is not YAML: {e}")))?;
    if !value.is_object() {
        return Err(Error::Invalid(
            "the model card's front matter is not a YAML mapping".to_owned(),
        ));
    }
    Ok(value)
}

/// The card recorded under the front matter's `citadel` key.
pub fn parse_card(markdown: &str) -> Result<ModelCard> {
    let front = parse_front_matter(markdown)?;
    let citadel = front
        .get("citadel")
        .cloned()
        .ok_or_else(|| Error::Invalid("the model card has no `citadel` front matter".to_owned()))?;
    serde_json::from_value(citadel)
        .map_err(|e| Error::Invalid(format!("the model card's `citadel` front matter: {e}")))
}

/// The text between the opening and the closing fence.
fn front_matter_text(markdown: &str) -> Result<&str> {
    let missing = || Error::Invalid("the model card has no `---` front matter".to_owned());
    let text = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    let first_line_end = text.find('\n').ok_or_else(missing)?;
    if text[..first_line_end].trim_end_matches('\r') != FENCE {
        return Err(missing());
    }
    let body = &text[first_line_end + 1..];
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']) == FENCE {
            return Ok(&body[..offset]);
        }
        offset += line.len();
    }
    Err(Error::Invalid(
        "the model card's front matter has no closing `---` line".to_owned(),
    ))
}

/// The serialized front matter, ending in a newline. Refuses output that contains a line the
/// parser would take for a fence (a serializer bug, never user text).
fn front_matter(card: &ModelCard) -> Result<String> {
    let front = FrontMatter {
        library_name: "citadel",
        base_model: card.base_model.as_ref().map(|b| b.name.as_str()),
        datasets: dataset_names(card),
        tags: tags(card),
        model_index: model_index(card),
        citadel: card,
    };
    let yaml = serde_norway::to_string(&front)
        .map_err(|e| Error::Invalid(format!("cannot write the model card's front matter: {e}")))?;
    if yaml
        .lines()
        .any(|line| line.trim_end() == FENCE || line.trim_end() == "...")
    {
        return Err(Error::Invalid(
            "the model card's front matter would contain a document marker".to_owned(),
        ));
    }
    Ok(yaml)
}

/// Dataset names, each once, in card order.
fn dataset_names(card: &ModelCard) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for dataset in &card.datasets {
        if !names.contains(&dataset.name.as_str()) {
            names.push(&dataset.name);
        }
    }
    names
}

/// Hub tags: always `citadel`, and `fine-tuned` when there is a base model.
fn tags(card: &ModelCard) -> Vec<&'static str> {
    let mut tags = vec!["citadel"];
    if card.base_model.is_some() {
        tags.push("fine-tuned");
    }
    tags
}

/// The candidate's finite results on the first `eval` dataset, when both exist.
fn model_index(card: &ModelCard) -> Vec<IndexEntry<'_>> {
    let candidate = card.evaluation.iter().find(|e| e.subject == "candidate");
    let dataset = card.datasets.iter().find(|d| d.role == "eval");
    let (Some(candidate), Some(dataset)) = (candidate, dataset) else {
        return Vec::new();
    };
    let metrics: Vec<IndexMetric> = [
        ("loss", "Held-out loss", candidate.loss),
        ("perplexity", "Held-out perplexity", candidate.perplexity),
    ]
    .into_iter()
    .filter(|(_, _, value)| value.is_finite())
    .map(|(kind, name, value)| IndexMetric { kind, name, value })
    .collect();
    if metrics.is_empty() {
        return Vec::new();
    }
    vec![IndexEntry {
        name: &card.model,
        results: vec![IndexResult {
            task: IndexTask {
                kind: "text-generation",
            },
            dataset: IndexDataset {
                name: &dataset.name,
                kind: &dataset.name,
            },
            metrics,
        }],
    }]
}

/// The title and the one-paragraph summary.
fn write_title(out: &mut String, card: &ModelCard) {
    let _ = writeln!(out, "# {} v{}\n", md(&card.model), card.version);
    let origin = match &card.base_model {
        Some(base) => format!("fine-tuned from {}", md(&base.name)),
        None => "trained without a registered base model".to_owned(),
    };
    let gates = if card.gates.is_empty() {
        "no quality gates were recorded"
    } else if card.gates_passed {
        "it passed every quality gate"
    } else {
        "it failed at least one quality gate"
    };
    let _ = writeln!(
        out,
        "Version {} of {} is {origin} on {} dataset version(s). It was registered by {} at {}, \
         its status is **{}**, and {gates}.\n",
        card.version,
        md(&card.model),
        card.datasets.len(),
        md(&card.created_by),
        md(&card.created_at),
        md(&card.status),
    );
}

/// "Base model".
fn write_base_model(out: &mut String, card: &ModelCard) {
    out.push_str("## Base model\n\n");
    match &card.base_model {
        Some(base) => {
            table(out, &["Name", "Source", "Root digest"]);
            row(
                out,
                &[md(&base.name), md(&base.source), md(&base.root_digest)],
            );
            out.push('\n');
        }
        None => out.push_str("None recorded.\n\n"),
    }
}

/// "Training data".
fn write_datasets(out: &mut String, card: &ModelCard) {
    out.push_str("## Training data\n\n");
    if card.datasets.is_empty() {
        out.push_str("None recorded.\n\n");
        return;
    }
    table(out, &["Dataset", "Role", "Rows", "PII handling"]);
    for d in &card.datasets {
        row(
            out,
            &[
                md(&d.name),
                md(&d.role),
                d.rows.to_string(),
                md(&d.pii_handling),
            ],
        );
    }
    out.push('\n');
}

/// "Training parameters".
fn write_training(out: &mut String, card: &ModelCard) {
    out.push_str("## Training parameters\n\n");
    if card.training.is_empty() {
        out.push_str("None recorded.\n\n");
        return;
    }
    table(out, &["Parameter", "Value"]);
    for (name, value) in &card.training {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        row(out, &[md(name), md(&text)]);
    }
    out.push('\n');
}

/// "Evaluation".
fn write_evaluation(out: &mut String, card: &ModelCard) {
    out.push_str("## Evaluation\n\n");
    if card.evaluation.is_empty() {
        out.push_str("Not evaluated yet.\n\n");
        return;
    }
    table(out, &["Subject", "Model", "Loss", "Perplexity"]);
    for e in &card.evaluation {
        row(
            out,
            &[md(&e.subject), md(&e.model), num(e.loss), num(e.perplexity)],
        );
    }
    out.push('\n');
}

/// "Quality gates".
fn write_gates(out: &mut String, card: &ModelCard) {
    out.push_str("## Quality gates\n\n");
    if card.gates.is_empty() {
        out.push_str("None recorded.\n\n");
        return;
    }
    table(out, &["Gate", "Limit", "Actual", "Result", "Message"]);
    for g in &card.gates {
        let result = if g.passed { "✅ pass" } else { "❌ fail" };
        row(
            out,
            &[
                md(&g.gate),
                num(g.limit),
                num(g.actual),
                result.to_owned(),
                md(&g.message),
            ],
        );
    }
    out.push('\n');
}

/// "Intended use".
fn write_intended_use(out: &mut String, card: &ModelCard) {
    out.push_str("## Intended use\n\n");
    if card.intended_use.trim().is_empty() {
        out.push_str("Not stated.\n\n");
    } else {
        let _ = writeln!(out, "{}\n", md_line(card.intended_use.trim()));
    }
}

/// "Limitations".
fn write_limitations(out: &mut String, card: &ModelCard) {
    out.push_str("## Limitations\n\n");
    let items: Vec<&String> = card
        .limitations
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if items.is_empty() {
        out.push_str("None stated.\n\n");
        return;
    }
    for item in items {
        let _ = writeln!(out, "- {}", md_line(item.trim()));
    }
    out.push('\n');
}

/// "Approvals".
fn write_approvals(out: &mut String, card: &ModelCard) {
    out.push_str("## Approvals\n\n");
    if card.approvals.is_empty() {
        out.push_str("None yet.\n\n");
        return;
    }
    table(out, &["Principal", "Decision", "Comment", "At"]);
    for a in &card.approvals {
        row(
            out,
            &[md(&a.principal), md(&a.decision), md(&a.comment), md(&a.at)],
        );
    }
    out.push('\n');
}

/// "Provenance".
fn write_provenance(out: &mut String, card: &ModelCard) {
    out.push_str("## Provenance\n\n");
    let or_none = |value: &Option<String>, none: &str| {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .map_or_else(|| none.to_owned(), md)
    };
    let _ = writeln!(
        out,
        "- Training run: {}",
        or_none(&card.run_id, "none recorded")
    );
    let _ = writeln!(
        out,
        "- Signed by: {}",
        or_none(&card.signed_by, "not signed")
    );
    let _ = writeln!(out, "- Citadel version: {}", md(&card.citadel_version));
}

/// A table's header and delimiter rows.
fn table(out: &mut String, headers: &[&str]) {
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(headers.len()));
}

/// A table row of already escaped cells.
fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

/// A number with at most four decimals, trailing zeros dropped; `NaN` and infinities as words.
fn num(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// User text made safe inside a Markdown line or table cell: line breaks become `<br>`, and
/// every character that could open a heading, quote, table cell, link, image, HTML tag, code
/// span or emphasis is backslash-escaped.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("<br>");
                }
            }
            '\n' => out.push_str("<br>"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// User text made safe at the start of a Markdown line (a paragraph or a list item's text):
/// [`md`], and a leading list, numbered-list or heading-underline marker escaped.
fn md_line(text: &str) -> String {
    let text = md(text);
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let after_digits = text[digits..].chars().next();
    let marker = match text.chars().next() {
        Some('-' | '+' | '=') => Some(0),
        Some(c) if c.is_ascii_digit() && matches!(after_digits, Some('.' | ')')) => Some(digits),
        _ => None,
    };
    match marker {
        Some(at) => format!("{}\\{}", &text[..at], &text[at..]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn card() -> ModelCard {
        ModelCard {
            model: "dev.models.support".to_owned(),
            version: 3,
            status: "pending_review".to_owned(),
            base_model: Some(CardBaseModel {
                name: "dev.models.base@1".to_owned(),
                source: "hf://HuggingFaceTB/SmolLM2-135M@0123abc".to_owned(),
                root_digest: "ab".repeat(32),
            }),
            datasets: vec![
                CardDataset {
                    name: "dev.data.tickets@v2".to_owned(),
                    role: "train".to_owned(),
                    rows: 1200,
                    pii_handling: "emails masked".to_owned(),
                },
                CardDataset {
                    name: "dev.data.tickets_eval@v1".to_owned(),
                    role: "eval".to_owned(),
                    rows: 100,
                    pii_handling: "none found".to_owned(),
                },
            ],
            training: BTreeMap::from([
                ("lora_r".to_owned(), json!(8)),
                ("lr".to_owned(), json!(0.0002)),
                ("optimizer".to_owned(), json!("adamw")),
                ("seed".to_owned(), json!(42)),
            ]),
            evaluation: vec![
                CardEvaluation {
                    subject: "candidate".to_owned(),
                    model: "dev.models.support@3".to_owned(),
                    loss: 1.25,
                    perplexity: 3.4903,
                },
                CardEvaluation {
                    subject: "base".to_owned(),
                    model: "dev.models.base@1".to_owned(),
                    loss: 2.5,
                    perplexity: 12.1825,
                },
            ],
            gates: vec![
                CardGate {
                    gate: "max_perplexity".to_owned(),
                    limit: 20.0,
                    actual: 3.4903,
                    passed: true,
                    message: "3.49 ≤ 20".to_owned(),
                },
                CardGate {
                    gate: "max_eval_loss".to_owned(),
                    limit: 1.0,
                    actual: 1.25,
                    passed: false,
                    message: "1.25 > 1".to_owned(),
                },
            ],
            gates_passed: false,
            intended_use: "Answering support tickets.".to_owned(),
            limitations: vec!["English only".to_owned(), "Not for legal advice".to_owned()],
            approvals: vec![CardApproval {
                principal: "bob".to_owned(),
                decision: "rejected".to_owned(),
                comment: "loss too high".to_owned(),
                at: "2026-01-15T11:00:00Z".to_owned(),
            }],
            run_id: Some("run-7".to_owned()),
            created_by: "alice".to_owned(),
            created_at: "2026-01-15T10:30:00Z".to_owned(),
            signed_by: Some("key-1".to_owned()),
            citadel_version: "0.1.0".to_owned(),
        }
    }

    #[test]
    fn front_matter_round_trips() {
        let card = card();
        let text = render_markdown(&card).unwrap();
        assert!(text.starts_with("---\nlibrary_name: citadel\n"), "{text}");
        let front = parse_front_matter(&text).unwrap();
        assert_eq!(front["library_name"], "citadel");
        assert_eq!(front["base_model"], "dev.models.base@1");
        assert_eq!(
            front["datasets"],
            json!(["dev.data.tickets@v2", "dev.data.tickets_eval@v1"])
        );
        assert_eq!(front["tags"], json!(["citadel", "fine-tuned"]));
        assert_eq!(front["citadel"]["status"], "pending_review");
        assert_eq!(
            front["citadel"]["base_model"]["root_digest"],
            "ab".repeat(32)
        );
        let gates: Vec<CardGate> =
            serde_json::from_value(front["citadel"]["gates"].clone()).unwrap();
        assert_eq!(gates, card.gates);
        assert_eq!(parse_card(&text).unwrap(), card);
    }

    #[test]
    fn front_matter_has_a_model_index_for_the_candidate() {
        let front = parse_front_matter(&render_markdown(&card()).unwrap()).unwrap();
        let result = &front["model-index"][0]["results"][0];
        assert_eq!(front["model-index"][0]["name"], "dev.models.support");
        assert_eq!(result["task"]["type"], "text-generation");
        assert_eq!(result["dataset"]["name"], "dev.data.tickets_eval@v1");
        assert_eq!(result["metrics"][0]["type"], "loss");
        assert_eq!(result["metrics"][0]["value"], 1.25);
        assert_eq!(result["metrics"][1]["type"], "perplexity");

        let mut no_eval = card();
        no_eval.datasets.retain(|d| d.role == "train");
        no_eval.base_model = None;
        let front = parse_front_matter(&render_markdown(&no_eval).unwrap()).unwrap();
        assert!(front.get("model-index").is_none());
        assert!(front.get("base_model").is_none());
        assert_eq!(front["tags"], json!(["citadel"]));
    }

    #[test]
    fn a_default_card_renders_and_round_trips() {
        let card = ModelCard::default();
        let text = render_markdown(&card).unwrap();
        assert_eq!(parse_card(&text).unwrap(), card);
        for placeholder in [
            "None recorded.",
            "Not evaluated yet.",
            "Not stated.",
            "None stated.",
            "None yet.",
            "- Training run: none recorded",
            "- Signed by: not signed",
        ] {
            assert!(text.contains(placeholder), "{placeholder} in {text}");
        }
    }

    #[test]
    fn renders_every_section() {
        let text = render_markdown(&card()).unwrap();
        let body = text.splitn(3, "---\n").nth(2).unwrap();
        let headings: Vec<&str> = body.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            headings,
            [
                "# dev.models.support v3",
                "## Base model",
                "## Training data",
                "## Training parameters",
                "## Evaluation",
                "## Quality gates",
                "## Intended use",
                "## Limitations",
                "## Approvals",
                "## Provenance",
            ]
        );
        for line in [
            "| Name | Source | Root digest |",
            "| dev.data.tickets\\_eval@v1 | eval | 100 | none found |",
            "| Parameter | Value |",
            "| lr | 0.0002 |",
            "| optimizer | adamw |",
            "| Subject | Model | Loss | Perplexity |",
            "| candidate | dev.models.support@3 | 1.25 | 3.4903 |",
            "| max\\_perplexity | 20 | 3.4903 | ✅ pass | 3.49 ≤ 20 |",
            "| max\\_eval\\_loss | 1 | 1.25 | ❌ fail | 1.25 \\> 1 |",
            "Answering support tickets.",
            "- English only",
            "| bob | rejected | loss too high | 2026-01-15T11:00:00Z |",
            "- Training run: run-7",
            "- Signed by: key-1",
            "- Citadel version: 0.1.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(
            text.contains("its status is **pending\\_review**"),
            "{text}"
        );
        assert!(text.contains("it failed at least one quality gate"));
    }

    #[test]
    fn user_text_cannot_change_the_front_matter() {
        let mut card = card();
        card.intended_use = "x\n---\nstatus: approved".to_owned();
        card.limitations = vec!["---\nstatus: approved\n---".to_owned()];
        card.created_by = "---".to_owned();
        card.approvals[0].comment = "ok\r\n---\r\nstatus: approved".to_owned();
        let text = render_markdown(&card).unwrap();
        let front = parse_front_matter(&text).unwrap();
        assert_eq!(front["citadel"]["status"], "pending_review");
        assert!(front.get("status").is_none());
        assert_eq!(front["citadel"]["intended_use"], "x\n---\nstatus: approved");
        assert_eq!(parse_card(&text).unwrap(), card);
        let fences = text.lines().filter(|l| *l == "---").count();
        assert_eq!(fences, 2, "{text}");
        assert!(text.lines().any(|l| l == "x<br>---<br>status: approved"));
        assert!(text
            .lines()
            .any(|l| l == "- \\---<br>status: approved<br>---"));
    }

    #[test]
    fn table_cells_are_escaped() {
        let mut card = card();
        card.datasets[0].pii_handling = "a | b\nc".to_owned();
        card.approvals[0].comment = "see [here](javascript:x) <script>\\|".to_owned();
        let text = render_markdown(&card).unwrap();
        assert!(text
            .lines()
            .any(|l| l == "| dev.data.tickets@v2 | train | 1200 | a \\| b<br>c |"));
        assert!(text.lines().any(|l| l
            == "| bob | rejected | see \\[here\\](javascript:x) \\<script\\>\\\\\\| | 2026-01-15T11:00:00Z |"));
    }

    #[test]
    fn line_start_markers_are_escaped() {
        assert_eq!(md_line("# title"), "\\# title");
        assert_eq!(md_line("- item"), "\\- item");
        assert_eq!(md_line("+ item"), "\\+ item");
        assert_eq!(md_line("12. item"), "12\\. item");
        assert_eq!(md_line("3) item"), "3\\) item");
        assert_eq!(md_line("2026-01-15"), "2026-01-15");
        assert_eq!(md("- 1. inside a cell"), "- 1. inside a cell");
        assert_eq!(md("a\u{7}b"), "a b");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(20.0), "20");
        assert_eq!(num(0.30000000000000004), "0.3");
        assert_eq!(num(-0.00001), "0");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(f64::INFINITY), "inf");
    }

    #[test]
    fn missing_or_malformed_front_matter_is_invalid() {
        for text in [
            "",
            "# title",
            "---",
            "---\nstatus: x\n",
            "---\n- a list\n---\n",
            "---\nstatus: [unclosed\n---\n",
            "--- \nstatus: x\n---\n",
        ] {
            assert!(
                matches!(parse_front_matter(text), Err(Error::Invalid(_))),
                "{text:?}"
            );
        }
        let front = parse_front_matter("\u{feff}---\r\nstatus: x\r\n---\r\n# t\n").unwrap();
        assert_eq!(front, json!({ "status": "x" }));
    }
}
