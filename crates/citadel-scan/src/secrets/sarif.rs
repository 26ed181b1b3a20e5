//! SARIF 2.1.0 output for secret findings (what code-scanning dashboards import).

use serde_json::{json, Value};

use super::{RuleSet, SecretFinding};

/// One SARIF 2.1.0 log with one run: `tool.driver` "citadel" listing every rule, one result per
/// finding (rule id, message, location with start line and column, gitleaks' fingerprint as a
/// partial fingerprint, commit details in `properties`). The secret itself never appears.
pub fn to_sarif(findings: &[SecretFinding], rules: &RuleSet) -> Value {
    let described = rules.describe();
    let rule_list: Vec<Value> = described
        .iter()
        .map(|(id, description, tags)| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": description },
                "fullDescription": { "text": description },
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": tags },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut message = format!(
                "{} ({}) found: {}",
                f.description, f.rule_id, f.secret_redacted
            );
            if let Some(commit) = &f.commit {
                message.push_str(&format!(" in commit {commit}"));
            }
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": "error",
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.path },
                        "region": { "startLine": f.line, "startColumn": f.column },
                    }
                }],
                "partialFingerprints": { "commitSha/path/ruleId/line": f.fingerprint },
            });
            if let Some(index) = described.iter().position(|(id, _, _)| *id == f.rule_id) {
                result["ruleIndex"] = json!(index);
            }
            if f.commit.is_some() {
                result["properties"] = json!({
                    "commitSha": f.commit,
                    "author": f.author,
                    "date": f.date,
                });
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "citadel",
                    "informationUri": "https://github.com/citadel-ml/citadel",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rule_list,
                }
            },
            "results": results,
        }]
    })
}
