//! The lineage graph that `citadel lineage NAME@V` prints: dataset versions and the base model feed
//! a run, the run produced a model version, promotion copied it from catalog to catalog, and aliases
//! and endpoints point at the copies.

use serde::{Deserialize, Serialize};

/// What a node of the graph stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A dataset version the run read.
    Dataset,
    /// The model version the run fine-tuned.
    BaseModel,
    /// A training run.
    Run,
    /// A registered model version or a promoted copy of one.
    ModelVersion,
    /// An alias such as `champion`.
    Alias,
    /// A serving endpoint.
    Endpoint,
}

impl NodeKind {
    /// The label printed in the graph's first column.
    pub fn label(self) -> &'static str {
        match self {
            NodeKind::Dataset => "dataset",
            NodeKind::BaseModel => "base model",
            NodeKind::Run => "run",
            NodeKind::ModelVersion => "model",
            NodeKind::Alias => "alias",
            NodeKind::Endpoint => "endpoint",
        }
    }
}

/// One node: its kind, its name (`dev.models.support@1`, a run id, an alias) and a short detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageNode {
    /// What the node stands for.
    pub kind: NodeKind,
    /// The node's name.
    pub name: String,
    /// A short status line: a scan verdict, a run's outcome, a version's status.
    pub detail: String,
}

/// Everything upstream and downstream of one model version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// Datasets and the base model version.
    pub inputs: Vec<LineageNode>,
    /// The run that produced the version, if it was trained here.
    pub run: Option<LineageNode>,
    /// The original registered version first, then each promoted copy in order.
    pub versions: Vec<LineageNode>,
    /// (version name it points at, alias node).
    pub aliases: Vec<(String, LineageNode)>,
    /// (version name, endpoint node).
    pub endpoints: Vec<(String, LineageNode)>,
}

/// Spaces between the label and name columns.
const AFTER_LABEL: usize = 2;
/// Spaces between the name and detail columns.
const AFTER_NAME: usize = 3;
/// Spaces before an alias or endpoint note.
const BEFORE_NOTE: usize = 3;

/// Column widths shared by every row of the graph; `detail` is the widest version detail, after
/// which the notes (aliases, endpoints) start.
struct Columns {
    label: usize,
    name: usize,
    detail: usize,
}

impl Columns {
    fn of<'a>(nodes: impl Iterator<Item = &'a LineageNode>, versions: &[LineageNode]) -> Self {
        let mut columns = Columns {
            label: 0,
            name: 0,
            detail: versions.iter().map(|v| width(&v.detail)).max().unwrap_or(0),
        };
        for node in nodes {
            columns.label = columns.label.max(width(node.kind.label()));
            columns.name = columns.name.max(width(&node.name));
        }
        columns
    }

    /// A node's row, with `note` in its own column when there is one; no trailing spaces.
    fn row(&self, node: &LineageNode, note: &str) -> String {
        let mut line = format!(
            "{:<label$}{:AFTER_LABEL$}{:<name$}{:AFTER_NAME$}{}",
            node.kind.label(),
            "",
            node.name,
            "",
            node.detail,
            label = self.label,
            name = self.name,
        );
        if !note.is_empty() {
            line = format!("{line:<w$}{:BEFORE_NOTE$}{note}", "", w = self.detail_end());
        }
        line.trim_end().to_owned()
    }

    /// Where the detail column ends.
    fn detail_end(&self) -> usize {
        self.label + AFTER_LABEL + self.name + AFTER_NAME + self.detail
    }
}

/// Width of `text` in terminal columns (one per char: names are ASCII, details nearly so).
fn width(text: &str) -> usize {
    text.chars().count()
}

impl Lineage {
    /// The graph as text: inputs merging into the run, the run into the version, promoted copies
    /// below it, aliases (`◀`) and endpoints (`▶`) beside the version they point at. Every line
    /// ends with a newline; none has trailing spaces.
    pub fn render(&self) -> String {
        let nodes = self.inputs.iter().chain(&self.run).chain(&self.versions);
        let columns = Columns::of(nodes.chain(self.strays().map(|(_, n)| n)), &self.versions);
        let mut lines = Vec::new();
        self.render_inputs(&columns, &mut lines);
        if let Some(run) = &self.run {
            lines.push(columns.row(run, ""));
            if !self.versions.is_empty() {
                lines.push("  ▼".to_owned());
            }
        }
        self.render_versions(&columns, &mut lines);
        self.render_strays(&columns, &mut lines);
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Inputs, bracketed into one arrow down when something follows them.
    fn render_inputs(&self, columns: &Columns, lines: &mut Vec<String>) {
        let rows: Vec<String> = self.inputs.iter().map(|n| columns.row(n, "")).collect();
        if self.run.is_none() && self.versions.is_empty() {
            lines.extend(rows);
            return;
        }
        let Some(right) = rows.iter().map(|row| width(row)).max() else {
            return;
        };
        for (i, row) in rows.iter().enumerate() {
            let corner = if i == 0 { '┐' } else { '┤' };
            lines.push(format!("{row:<right$}  ─{corner}"));
        }
        lines.push(format!("{:w$}▼", "", w = right + 3));
    }

    /// The versions top-down, joined by "promoted" arrows, with their notes aligned.
    fn render_versions(&self, columns: &Columns, lines: &mut Vec<String>) {
        let aliases: Vec<String> = self
            .versions
            .iter()
            .map(|v| joined("◀ ", &self.aliases, &v.name))
            .collect();
        let alias_width = aliases.iter().map(|a| width(a)).max().unwrap_or(0);
        for (i, (version, alias)) in self.versions.iter().zip(&aliases).enumerate() {
            if i > 0 {
                lines.push("  ▼ promoted".to_owned());
            }
            let endpoints = joined("▶ served by ", &self.endpoints, &version.name);
            let note = if endpoints.is_empty() {
                alias.clone()
            } else if alias.is_empty() {
                endpoints
            } else {
                format!("{alias:<alias_width$}   {endpoints}")
            };
            lines.push(columns.row(version, &note));
        }
    }

    /// Aliases and endpoints whose version is not in the graph, so that nothing is hidden.
    fn render_strays(&self, columns: &Columns, lines: &mut Vec<String>) {
        for (target, node) in self.strays() {
            lines.push(columns.row(node, &format!("→ {target}")));
        }
    }

    /// Aliases and endpoints pointing at a version that is not in [`Lineage::versions`].
    fn strays(&self) -> impl Iterator<Item = &(String, LineageNode)> {
        self.aliases
            .iter()
            .chain(&self.endpoints)
            .filter(|(target, _)| !self.versions.iter().any(|v| &v.name == target))
    }
}

/// `prefix` and the nodes pointing at `target`, each named with its detail in parentheses when
/// it has one (an endpoint's revision and share of traffic), comma-separated; empty if none.
fn joined(prefix: &str, pointers: &[(String, LineageNode)], target: &str) -> String {
    let names: Vec<String> = pointers
        .iter()
        .filter(|(to, _)| to == target)
        .map(|(_, node)| match node.detail.as_str() {
            "" => node.name.clone(),
            detail => format!("{} ({detail})", node.name),
        })
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("{prefix}{}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind, name: &str, detail: &str) -> LineageNode {
        LineageNode {
            kind,
            name: name.to_owned(),
            detail: detail.to_owned(),
        }
    }

    fn alias(version: &str, name: &str) -> (String, LineageNode) {
        (version.to_owned(), node(NodeKind::Alias, name, ""))
    }

    fn trained() -> Lineage {
        Lineage {
            inputs: vec![
                node(
                    NodeKind::Dataset,
                    "dev.data.tickets@v2",
                    "scanned, anonymized",
                ),
                node(NodeKind::Dataset, "dev.data.tickets_eval@v1", "scanned"),
                node(NodeKind::BaseModel, "dev.models.base@1", "sha256:ab12…"),
            ],
            run: Some(node(NodeKind::Run, "0193ab…", "succeeded, 40 steps")),
            versions: vec![
                node(NodeKind::ModelVersion, "dev.models.support@1", "approved"),
                node(
                    NodeKind::ModelVersion,
                    "staging.models.support@1",
                    "approved",
                ),
                node(NodeKind::ModelVersion, "prod.models.support@1", "approved"),
            ],
            aliases: vec![
                alias("staging.models.support@1", "champion"),
                alias("prod.models.support@1", "champion"),
                alias("staging.models.support@1", "challenger"),
            ],
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn renders_a_trained_and_promoted_version() {
        let expected = "\
dataset     dev.data.tickets@v2        scanned, anonymized  ─┐
dataset     dev.data.tickets_eval@v1   scanned              ─┤
base model  dev.models.base@1          sha256:ab12…         ─┤
                                                             ▼
run         0193ab…                    succeeded, 40 steps
  ▼
model       dev.models.support@1       approved
  ▼ promoted
model       staging.models.support@1   approved   ◀ champion, challenger
  ▼ promoted
model       prod.models.support@1      approved   ◀ champion
";
        assert_eq!(trained().render(), expected);
    }

    #[test]
    fn renders_an_imported_base_model_alone() {
        let lineage = Lineage {
            versions: vec![node(
                NodeKind::ModelVersion,
                "dev.models.base@1",
                "approved",
            )],
            aliases: vec![alias("dev.models.base@1", "base")],
            ..Lineage::default()
        };
        assert_eq!(
            lineage.render(),
            "model  dev.models.base@1   approved   ◀ base\n"
        );
    }

    #[test]
    fn endpoints_sit_beside_their_version_after_the_aliases() {
        let mut lineage = trained();
        lineage.inputs.clear();
        lineage.run = None;
        lineage.versions.truncate(2);
        lineage.aliases.truncate(1);
        let served = "revision 2, 90% of traffic";
        lineage.endpoints = vec![
            (
                "staging.models.support@1".to_owned(),
                node(NodeKind::Endpoint, "support-staging", served),
            ),
            (
                "dev.models.support@1".to_owned(),
                node(NodeKind::Endpoint, "support-dev", served),
            ),
            (
                "dev.models.support@1".to_owned(),
                node(NodeKind::Endpoint, "support-canary", ""),
            ),
            (
                "prod.models.support@9".to_owned(),
                node(
                    NodeKind::Endpoint,
                    "support-prod",
                    "revision 1, 100% of traffic",
                ),
            ),
        ];
        let expected = "\
model     dev.models.support@1       approved   ▶ served by support-dev (revision 2, 90% of traffic), support-canary
  ▼ promoted
model     staging.models.support@1   approved   ◀ champion   ▶ served by support-staging (revision 2, 90% of traffic)
endpoint  support-prod               revision 1, 100% of traffic   → prod.models.support@9
";
        assert_eq!(lineage.render(), expected);
    }

    #[test]
    fn no_line_has_trailing_spaces() {
        let rendered = trained().render();
        assert!(rendered.lines().all(|line| line == line.trim_end()));
    }
}
