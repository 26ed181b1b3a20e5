//! Anonymization policies (TOML) and the streaming rewrite of a version's rows under one.
//!
//! ```toml
//! default = "replace"   # operator for every entity found in any column (default: replace)
//! drop = ["ssn_raw"]    # columns removed entirely
//!
//! [entities]            # operator per entity type, over the default
//! EMAIL_ADDRESS = "pseudonym"
//! CREDIT_CARD = { operator = "mask", chars = 12, from_end = false }
//!
//! [columns]             # per top-level column, over the entity operators
//! notes = "redact"                               # every finding in this column
//! id = "keep"                                    # not analyzed at all
//! user_id = { operator = "hash", whole = true }  # the whole value, no detection
//! ```
//! Operators: `replace` (`<ENTITY_TYPE>`, or `value = "…"`), `redact` (removed), `mask` (every
//! character, or `chars = N` from the start or with `from_end = true` from the end, or
//! `keep_last = N`; `char = "#"` changes the mask character), `hash` (salted SHA-256 hex),
//! `pseudonym` (a consistent fake value of the same type), `encrypt` (an `ENC[…]` token the dataset
//! key reverses) and `keep`. A `whole = true` column rule rewrites each whole value (its text for
//! numbers, arrays and objects; null stays null); `replace` and `pseudonym` on a whole column need
//! `entity = "EMAIL_ADDRESS"` (the shape of the replacement) or, for `replace`, a `value`.
//!
//! Findings are searched in every string at any depth and in numbers' text; a number with a
//! finding becomes a string. Object keys are left as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, Write};

use citadel_pii::{Analyzer, Anonymizer, EntityType, Operator, Operators};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encode::{RowWriter, StoredRows};
use crate::error::{DataError, Result};
use crate::format::Row;

/// What to do with one top-level column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRule {
    /// The operator.
    pub operator: Operator,
    /// Apply it to the whole value instead of to each finding.
    #[serde(default)]
    pub whole: bool,
    /// For whole values: the entity type whose shape `replace` and `pseudonym` use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityType>,
}

/// A parsed anonymization policy; serializes to JSON for the record of a derived version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymizePolicy {
    /// Operators per entity type, with the default.
    pub operators: Operators,
    /// Rules per top-level column.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnRule>,
    /// Columns removed.
    #[serde(default)]
    pub drop: BTreeSet<String>,
}

/// The secrets an anonymization may need, borrowed from the caller (who keeps them zeroized).
/// `Debug` shows only which are set.
#[derive(Clone, Copy)]
pub struct AnonymizeKeys<'a> {
    /// The dataset's salt for `hash` (equal values link within the dataset, not across).
    pub salt: &'a [u8],
    /// The key for `pseudonym`.
    pub pseudonym_key: Option<&'a [u8]>,
    /// The 32-byte dataset key for `encrypt`.
    pub encryption_key: Option<&'a [u8]>,
}

impl fmt::Debug for AnonymizeKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |k: Option<&[u8]>| if k.is_some() { "set" } else { "unset" };
        f.debug_struct("AnonymizeKeys")
            .field("salt", &"set")
            .field("pseudonym_key", &set(self.pseudonym_key))
            .field("encryption_key", &set(self.encryption_key))
            .finish()
    }
}

/// What an anonymization did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymizeReport {
    /// Rows written.
    pub rows: u64,
    /// Findings rewritten, per entity type (findings kept by `keep` are not counted).
    pub replaced_per_entity: BTreeMap<EntityType, u64>,
    /// Values rewritten whole, per column.
    pub whole_values: BTreeMap<String, u64>,
}

const OPERATORS: &str = "replace, redact, mask, hash, pseudonym, encrypt or keep";

fn policy_error(key: &str, reason: impl Into<String>) -> DataError {
    DataError::parse("anonymization policy entry", key, reason)
}

impl AnonymizePolicy {
    /// Parses the TOML form (see the module documentation).
    pub fn from_toml(text: &str) -> Result<AnonymizePolicy> {
        let table: toml::Table = toml::from_str(text).map_err(|source| {
            let before = source
                .span()
                .and_then(|s| text.as_bytes().get(..s.start))
                .unwrap_or_default();
            DataError::PolicySyntax {
                line: before.iter().filter(|&&b| b == b'\n').count() + 1,
                message: source.message().trim().replace('\n', "; "),
                source: Box::new(source),
            }
        })?;
        let mut default = Operator::Replace { new_value: None };
        let mut entities = BTreeMap::new();
        let mut columns = BTreeMap::new();
        let mut drop = BTreeSet::new();
        for (key, value) in &table {
            match key.as_str() {
                "default" => {
                    let rule = parse_rule(key, value)?;
                    if rule.whole || rule.entity.is_some() {
                        return Err(policy_error(
                            key,
                            "`whole` and `entity` belong to [columns]",
                        ));
                    }
                    default = rule.operator;
                }
                "entities" => {
                    for (name, value) in as_table(key, value)? {
                        let path = format!("entities.{name}");
                        let entity: EntityType =
                            name.parse().map_err(|e: citadel_pii::PiiError| {
                                policy_error(&path, e.to_string())
                            })?;
                        let rule = parse_rule(&path, value)?;
                        if rule.whole || rule.entity.is_some() {
                            return Err(policy_error(
                                &path,
                                "`whole` and `entity` belong to [columns]",
                            ));
                        }
                        entities.insert(entity, rule.operator);
                    }
                }
                "columns" => {
                    for (name, value) in as_table(key, value)? {
                        let path = format!("columns.{name}");
                        columns.insert(name.clone(), parse_rule(&path, value)?);
                    }
                }
                "drop" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| policy_error(key, "expected a list of column names"))?;
                    for item in items {
                        let name = item
                            .as_str()
                            .ok_or_else(|| policy_error(key, "expected a list of column names"))?;
                        drop.insert(name.to_owned());
                    }
                }
                _ => {
                    return Err(policy_error(
                        key,
                        "unknown key; expected default, drop, [entities] or [columns]",
                    ))
                }
            }
        }
        if let Some(both) = columns.keys().find(|c| drop.contains(*c)) {
            return Err(policy_error(
                &format!("columns.{both}"),
                "the column is also in drop; keep one",
            ));
        }
        Ok(AnonymizePolicy {
            operators: Operators { default, entities },
            columns,
            drop,
        })
    }

    /// Every operator the policy may use.
    fn operators_used(&self) -> impl Iterator<Item = &Operator> {
        std::iter::once(&self.operators.default)
            .chain(self.operators.entities.values())
            .chain(self.columns.values().map(|c| &c.operator))
    }

    /// Prepares the policy for rows: checks that the keys its operators need are given.
    pub fn bind<'a>(
        &self,
        analyzer: &'a Analyzer,
        keys: &AnonymizeKeys<'_>,
    ) -> Result<RowAnonymizer<'a>> {
        for operator in self.operators_used() {
            match operator {
                Operator::Pseudonymize if keys.pseudonym_key.is_none() => {
                    return Err(policy_error(
                        "pseudonym",
                        "the operator needs a pseudonym key",
                    ))
                }
                Operator::Encrypt if keys.encryption_key.is_none() => {
                    return Err(policy_error(
                        "encrypt",
                        "the operator needs the dataset key",
                    ))
                }
                _ => {}
            }
        }
        let make = |operators: Operators| -> Result<Anonymizer> {
            let mut anonymizer = Anonymizer::new(operators).with_hash_salt(keys.salt);
            if let Some(key) = keys.pseudonym_key {
                anonymizer = anonymizer.with_pseudonym_key(key);
            }
            if let Some(key) = keys.encryption_key {
                anonymizer = anonymizer.with_encryption_key(key)?;
            }
            Ok(anonymizer)
        };
        let mut columns = BTreeMap::new();
        for (name, rule) in &self.columns {
            let action = match (&rule.operator, rule.whole) {
                (Operator::Keep, _) => ColumnAction::Keep,
                (operator, true) => ColumnAction::Whole {
                    anonymizer: make(Operators::new(operator.clone()))?,
                    // Hash, encrypt, mask and redact ignore the type; replace and pseudonym were
                    // given one when parsed.
                    entity: rule.entity.unwrap_or(EntityType::Person),
                },
                (operator, false) => {
                    ColumnAction::Findings(make(Operators::new(operator.clone()))?)
                }
            };
            columns.insert(name.clone(), action);
        }
        Ok(RowAnonymizer {
            analyzer,
            default: make(self.operators.clone())?,
            columns,
            drop: self.drop.clone(),
            report: AnonymizeReport::default(),
        })
    }
}

fn as_table<'v>(key: &str, value: &'v toml::Value) -> Result<&'v toml::Table> {
    value
        .as_table()
        .ok_or_else(|| policy_error(key, format!("expected a table: [{key}]")))
}

fn parse_rule(key: &str, value: &toml::Value) -> Result<ColumnRule> {
    let (name, options) = match value {
        toml::Value::String(name) => (name.as_str(), None),
        toml::Value::Table(t) => {
            let name = t
                .get("operator")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| policy_error(key, format!("needs operator = one of {OPERATORS}")))?;
            (name, Some(t))
        }
        _ => {
            return Err(policy_error(
                key,
                format!("expected an operator name ({OPERATORS}) or a table with operator = …"),
            ))
        }
    };
    let get = |k: &str| options.and_then(|t| t.get(k));
    let count = |k: &str| -> Result<Option<usize>> {
        get(k)
            .map(|v| {
                v.as_integer()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| policy_error(key, format!("`{k}` must be a whole number ≥ 0")))
            })
            .transpose()
    };
    let flag = |k: &str| -> Result<bool> {
        get(k).map_or(Ok(false), |v| {
            v.as_bool()
                .ok_or_else(|| policy_error(key, format!("`{k}` must be true or false")))
        })
    };
    let allowed: &[&str] = match name {
        "replace" => &["value"],
        "mask" => &["chars", "from_end", "keep_last", "char"],
        "redact" | "hash" | "pseudonym" | "pseudonymize" | "encrypt" | "keep" => &[],
        other => {
            return Err(policy_error(
                key,
                format!("unknown operator `{other}`; expected {OPERATORS}"),
            ))
        }
    };
    if let Some(t) = options {
        if let Some(extra) = t.keys().find(|k| {
            !["operator", "whole", "entity"].contains(&k.as_str()) && !allowed.contains(&k.as_str())
        }) {
            return Err(policy_error(
                key,
                format!("`{extra}` is not an option of {name}"),
            ));
        }
    }
    let whole = flag("whole")?;
    let entity = get("entity")
        .map(|v| {
            v.as_str()
                .ok_or_else(|| policy_error(key, "`entity` must be an entity type name"))
                .and_then(|s| {
                    s.parse::<EntityType>()
                        .map_err(|e| policy_error(key, e.to_string()))
                })
        })
        .transpose()?;
    let operator = match name {
        "replace" => {
            let value = get("value")
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| policy_error(key, "`value` must be text"))
                })
                .transpose()?;
            if whole && value.is_none() && entity.is_none() {
                return Err(policy_error(
                    key,
                    "replace on a whole column needs value = \"…\" or entity = \"ENTITY_TYPE\"",
                ));
            }
            Operator::Replace { new_value: value }
        }
        "redact" => Operator::Redact,
        "hash" => Operator::Hash,
        "encrypt" => Operator::Encrypt,
        "keep" => Operator::Keep,
        "pseudonym" | "pseudonymize" => {
            if whole && entity.is_none() {
                return Err(policy_error(
                    key,
                    "pseudonym on a whole column needs entity = \"ENTITY_TYPE\" (the shape of the fake value)",
                ));
            }
            Operator::Pseudonymize
        }
        _ => {
            let mask_char = match get("char") {
                None => '*',
                Some(v) => {
                    let mut chars = v.as_str().map(str::chars).into_iter().flatten();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => c,
                        _ => return Err(policy_error(key, "`char` must be one character")),
                    }
                }
            };
            match (count("chars")?, count("keep_last")?) {
                (Some(_), Some(_)) => {
                    return Err(policy_error(key, "use `chars` or `keep_last`, not both"))
                }
                (Some(chars_to_mask), None) => Operator::Mask {
                    mask_char,
                    chars_to_mask,
                    from_end: flag("from_end")?,
                },
                (None, keep) => {
                    if get("from_end").is_some() {
                        return Err(policy_error(key, "`from_end` goes with `chars`"));
                    }
                    Operator::MaskKeepLast {
                        mask_char,
                        keep: keep.unwrap_or(0),
                    }
                }
            }
        }
    };
    Ok(ColumnRule {
        operator,
        whole,
        entity,
    })
}

enum ColumnAction {
    Keep,
    Findings(Anonymizer),
    Whole {
        anonymizer: Anonymizer,
        entity: EntityType,
    },
}

/// A policy bound to an analyzer and keys, rewriting rows one at a time and counting.
pub struct RowAnonymizer<'a> {
    analyzer: &'a Analyzer,
    default: Anonymizer,
    columns: BTreeMap<String, ColumnAction>,
    drop: BTreeSet<String>,
    report: AnonymizeReport,
}

impl fmt::Debug for RowAnonymizer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowAnonymizer")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl RowAnonymizer<'_> {
    /// The anonymized row.
    pub fn apply(&mut self, row: Row) -> Result<Row> {
        let mut out = Row::new();
        for (name, mut value) in row {
            if self.drop.contains(&name) {
                continue;
            }
            match self.columns.get(&name) {
                Some(ColumnAction::Keep) => {}
                Some(ColumnAction::Whole { anonymizer, entity }) => {
                    if !value.is_null() {
                        let text = match &value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        value = Value::String(anonymizer.operate(*entity, &text)?);
                        *self.report.whole_values.entry(name.clone()).or_default() += 1;
                    }
                }
                Some(ColumnAction::Findings(anonymizer)) => {
                    rewrite(self.analyzer, anonymizer, &mut value, &mut self.report)?;
                }
                None => rewrite(self.analyzer, &self.default, &mut value, &mut self.report)?,
            }
            out.insert(name, value);
        }
        self.report.rows += 1;
        Ok(out)
    }

    /// What was done so far.
    pub fn report(&self) -> &AnonymizeReport {
        &self.report
    }

    /// What was done, consuming the anonymizer.
    pub fn into_report(self) -> AnonymizeReport {
        self.report
    }
}

fn rewrite(
    analyzer: &Analyzer,
    anonymizer: &Anonymizer,
    value: &mut Value,
    report: &mut AnonymizeReport,
) -> Result<()> {
    let replaced = match value {
        Value::String(text) => rewrite_text(analyzer, anonymizer, text, report)?,
        Value::Number(n) => rewrite_text(analyzer, anonymizer, &n.to_string(), report)?,
        Value::Array(items) => {
            for item in items {
                rewrite(analyzer, anonymizer, item, report)?;
            }
            None
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                rewrite(analyzer, anonymizer, item, report)?;
            }
            None
        }
        Value::Null | Value::Bool(_) => None,
    };
    if let Some(text) = replaced {
        *value = Value::String(text);
    }
    Ok(())
}

/// The rewritten text, or `None` if nothing in it changes.
fn rewrite_text(
    analyzer: &Analyzer,
    anonymizer: &Anonymizer,
    text: &str,
    report: &mut AnonymizeReport,
) -> Result<Option<String>> {
    let findings = analyzer.analyze(text);
    let mut changed = false;
    for finding in &findings {
        if *anonymizer.operators().get(finding.entity_type) != Operator::Keep {
            *report
                .replaced_per_entity
                .entry(finding.entity_type)
                .or_default() += 1;
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(anonymizer.anonymize(text, &findings)?))
}

/// Streams a stored version through the policy into `out`.
pub fn anonymize_rows<R: BufRead, W: Write>(
    input: StoredRows<R>,
    out: &mut RowWriter<W>,
    policy: &AnonymizePolicy,
    analyzer: &Analyzer,
    keys: &AnonymizeKeys<'_>,
) -> Result<AnonymizeReport> {
    let mut anonymizer = policy.bind(analyzer, keys)?;
    for row in input {
        out.write_row(&anonymizer.apply(row?)?)?;
    }
    Ok(anonymizer.into_report())
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_pii::AnalyzerConfig;
    use serde_json::json;

    const SALT: &[u8] = b"dataset-salt";
    const PSEUDO: &[u8] = b"pseudonym-key";
    const KEY: [u8; 32] = [7; 32];

    fn keys() -> AnonymizeKeys<'static> {
        AnonymizeKeys {
            salt: SALT,
            pseudonym_key: Some(PSEUDO),
            encryption_key: Some(&KEY),
        }
    }

    fn analyzer() -> Analyzer {
        Analyzer::new(AnalyzerConfig::default()).unwrap()
    }

    fn run(policy: &str, row: Value) -> (Value, AnonymizeReport) {
        let policy = AnonymizePolicy::from_toml(policy).unwrap();
        let analyzer = analyzer();
        let mut a = policy.bind(&analyzer, &keys()).unwrap();
        let out = a.apply(row.as_object().unwrap().clone()).unwrap();
        (Value::Object(out), a.into_report())
    }

    const EMAIL: &str = "ann.smith@example.com";
    const CARD: &str = "4111111111111111";

    fn text_row() -> Value {
        json!({"note": format!("mail {EMAIL} or pay {CARD}")})
    }

    #[test]
    fn parses_the_documented_policy() {
        let p = AnonymizePolicy::from_toml(
            r##"
            default = "replace"
            drop = ["ssn_raw"]
            [entities]
            EMAIL_ADDRESS = "pseudonym"
            CREDIT_CARD = { operator = "mask", chars = 12, from_end = false }
            PHONE_NUMBER = { operator = "mask", keep_last = 4, char = "#" }
            [columns]
            notes = "redact"
            id = "keep"
            user_id = { operator = "hash", whole = true }
            "##,
        )
        .unwrap();
        assert_eq!(p.operators.default, Operator::Replace { new_value: None });
        assert_eq!(
            p.operators.get(EntityType::CreditCard),
            &Operator::Mask {
                mask_char: '*',
                chars_to_mask: 12,
                from_end: false
            }
        );
        assert_eq!(
            p.operators.get(EntityType::PhoneNumber),
            &Operator::MaskKeepLast {
                mask_char: '#',
                keep: 4
            }
        );
        assert_eq!(
            p.operators.get(EntityType::EmailAddress),
            &Operator::Pseudonymize
        );
        assert_eq!(p.columns["notes"].operator, Operator::Redact);
        assert!(!p.columns["notes"].whole);
        assert!(p.columns["user_id"].whole);
        assert!(p.drop.contains("ssn_raw"));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<AnonymizePolicy>(&json).unwrap(), p);
        // An empty policy replaces every finding.
        let empty = AnonymizePolicy::from_toml("").unwrap();
        assert_eq!(empty.operators, Operators::default());
    }

    #[test]
    fn policy_errors_name_the_entry() {
        let reason = |text: &str| match AnonymizePolicy::from_toml(text) {
            Err(DataError::Parse { input, reason, .. }) => format!("{input}: {reason}"),
            other => panic!("{text}: {other:?}"),
        };
        assert!(reason("default = \"scramble\"").contains("default: unknown operator `scramble`"));
        assert!(
            reason("[entities]\nSSN = \"hash\"").starts_with("entities.SSN: unknown entity type")
        );
        assert!(reason("[columns]\na = { chars = 3 }").contains("needs operator"));
        assert!(reason("[columns]\na = { operator = \"hash\", chars = 3 }")
            .contains("`chars` is not an option of hash"));
        assert!(
            reason("[columns]\na = { operator = \"mask\", chars = 3, keep_last = 2 }")
                .contains("not both")
        );
        assert!(
            reason("[columns]\na = { operator = \"mask\", chars = -3 }").contains("whole number")
        );
        assert!(
            reason("[columns]\na = { operator = \"mask\", char = \"ab\" }")
                .contains("one character")
        );
        assert!(
            reason("[columns]\na = { operator = \"pseudonym\", whole = true }")
                .contains("needs entity")
        );
        assert!(
            reason("[columns]\na = { operator = \"replace\", whole = true }")
                .contains("needs value")
        );
        assert!(
            reason("[entities]\nURL = { operator = \"hash\", whole = true }")
                .contains("belong to [columns]")
        );
        assert!(reason("drop = [\"a\"]\n[columns]\na = \"hash\"").contains("also in drop"));
        assert!(reason("drop = \"a\"").contains("list of column names"));
        assert!(reason("columns = 3").contains("expected a table"));
        assert!(reason("mode = \"fast\"").contains("unknown key"));
        let err = AnonymizePolicy::from_toml("default = \"replace\"\n[entities\n").unwrap_err();
        match &err {
            DataError::PolicySyntax { line, .. } => assert_eq!(*line, 2),
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn replace_redact_and_keep() {
        let (out, report) = run("", text_row());
        assert_eq!(
            out["note"],
            json!("mail <EMAIL_ADDRESS> or pay <CREDIT_CARD>")
        );
        assert_eq!(report.replaced_per_entity[&EntityType::EmailAddress], 1);
        assert_eq!(report.replaced_per_entity[&EntityType::CreditCard], 1);
        assert_eq!(report.rows, 1);

        let (out, _) = run(
            "default = { operator = \"replace\", value = \"[x]\" }",
            text_row(),
        );
        assert_eq!(out["note"], json!("mail [x] or pay [x]"));

        let (out, _) = run("default = \"redact\"", text_row());
        assert_eq!(out["note"], json!("mail  or pay "));

        let (out, report) = run(
            "default = \"keep\"\n[entities]\nCREDIT_CARD = \"redact\"",
            text_row(),
        );
        assert_eq!(out["note"], json!(format!("mail {EMAIL} or pay ")));
        assert!(!report
            .replaced_per_entity
            .contains_key(&EntityType::EmailAddress));
    }

    #[test]
    fn mask_variants() {
        let (out, _) = run(
            "[entities]\nCREDIT_CARD = { operator = \"mask\", chars = 12 }",
            json!({"c": CARD}),
        );
        assert_eq!(out["c"], json!("************1111"));
        let (out, _) = run(
            "[entities]\nCREDIT_CARD = { operator = \"mask\", chars = 4, from_end = true, char = \"#\" }",
            json!({"c": CARD}),
        );
        assert_eq!(out["c"], json!("411111111111####"));
        let (out, _) = run("default = \"mask\"", json!({"c": CARD}));
        assert_eq!(out["c"], json!("****************"));
    }

    #[test]
    fn hash_is_salted_and_pseudonym_consistent() {
        let (a, _) = run("default = \"hash\"", json!({"e": EMAIL}));
        let (b, _) = run("default = \"hash\"", json!({"e": EMAIL}));
        assert_eq!(a, b);
        let hashed = a["e"].as_str().unwrap();
        assert_eq!(hashed.len(), 64);
        assert!(!hashed.contains(EMAIL));

        let policy = AnonymizePolicy::from_toml("default = \"hash\"").unwrap();
        let analyzer = analyzer();
        let other = AnonymizeKeys {
            salt: b"another-dataset",
            ..keys()
        };
        let mut bound = policy.bind(&analyzer, &other).unwrap();
        let c = bound
            .apply(json!({"e": EMAIL}).as_object().unwrap().clone())
            .unwrap();
        assert_ne!(
            Value::Object(c),
            a,
            "a different salt gives a different hash"
        );

        let (p1, _) = run("default = \"pseudonym\"", json!({"e": EMAIL, "f": EMAIL}));
        assert_eq!(p1["e"], p1["f"], "same value, same pseudonym");
        let fake = p1["e"].as_str().unwrap();
        assert_ne!(fake, EMAIL);
        assert!(fake.contains('@'), "shaped like an e-mail: {fake}");
    }

    #[test]
    fn encrypt_round_trips_with_the_dataset_key() {
        let (out, _) = run("default = \"encrypt\"", json!({"e": EMAIL}));
        let token = out["e"].as_str().unwrap();
        assert!(token.starts_with("ENC["), "{token}");
        assert!(!token.contains(EMAIL));
        assert_eq!(citadel_pii::decrypt(token, &KEY).unwrap(), EMAIL);
    }

    #[test]
    fn columns_whole_values_drop_and_nesting() {
        let (out, report) = run(
            r#"
            drop = ["ssn_raw"]
            [columns]
            notes = "redact"
            id = "keep"
            user_id = { operator = "hash", whole = true }
            contact = { operator = "replace", whole = true, entity = "EMAIL_ADDRESS" }
            "#,
            json!({
                "notes": format!("card {CARD}"),
                "id": format!("{EMAIL}"),
                "user_id": 1234,
                "contact": {"any": "thing"},
                "ssn_raw": "078-05-1120",
                "nested": {"list": [format!("to {EMAIL}"), 5], "n": null},
                "empty": null,
            }),
        );
        assert_eq!(out["notes"], json!("card "));
        assert_eq!(out["id"], json!(EMAIL), "keep skips analysis");
        assert_eq!(out["user_id"].as_str().unwrap().len(), 64);
        assert_eq!(out["contact"], json!("<EMAIL_ADDRESS>"));
        assert!(out.get("ssn_raw").is_none());
        assert_eq!(
            out["nested"],
            json!({"list": ["to <EMAIL_ADDRESS>", 5], "n": null})
        );
        assert_eq!(out["empty"], Value::Null);
        assert_eq!(report.whole_values["user_id"], 1);
        assert_eq!(report.whole_values["contact"], 1);
        assert_eq!(report.replaced_per_entity[&EntityType::EmailAddress], 1);
        assert_eq!(report.replaced_per_entity[&EntityType::CreditCard], 1);

        // A number holding a card becomes text.
        let (out, _) = run("", json!({"n": 4_111_111_111_111_111_u64}));
        assert_eq!(out["n"], json!("<CREDIT_CARD>"));
    }

    #[test]
    fn missing_keys_are_refused_before_any_row() {
        let analyzer = analyzer();
        let bare = AnonymizeKeys {
            salt: SALT,
            pseudonym_key: None,
            encryption_key: None,
        };
        for policy in ["default = \"pseudonym\"", "[columns]\na = \"encrypt\""] {
            let p = AnonymizePolicy::from_toml(policy).unwrap();
            let err = p.bind(&analyzer, &bare).unwrap_err();
            assert!(err.to_string().contains("needs"), "{err}");
        }
        let short = AnonymizeKeys {
            encryption_key: Some(b"short"),
            ..keys()
        };
        let p = AnonymizePolicy::from_toml("default = \"encrypt\"").unwrap();
        assert!(matches!(
            p.bind(&analyzer, &short),
            Err(DataError::Pii { .. })
        ));
        let debug = format!("{:?}", keys());
        assert!(
            !debug.contains("pseudonym-key") && !debug.contains("dataset-salt"),
            "{debug}"
        );
    }

    #[test]
    fn streams_a_version_and_leaves_no_raw_value() {
        let mut src = RowWriter::new(Vec::new());
        for i in 0..50 {
            src.write_row(
                json!({"i": i, "text": format!("contact {EMAIL} card {CARD}")})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        }
        let (stored, _) = src.finish().unwrap();
        let policy = AnonymizePolicy::from_toml("[entities]\nEMAIL_ADDRESS = \"hash\"").unwrap();
        let mut out = RowWriter::new(Vec::new());
        let report = anonymize_rows(
            StoredRows::new(&stored[..]),
            &mut out,
            &policy,
            &analyzer(),
            &keys(),
        )
        .unwrap();
        assert_eq!(report.rows, 50);
        assert_eq!(report.replaced_per_entity[&EntityType::EmailAddress], 50);
        assert_eq!(report.replaced_per_entity[&EntityType::CreditCard], 50);
        let (bytes, summary) = out.finish().unwrap();
        assert_eq!(summary.rows, 50);
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains(EMAIL) && !text.contains(CARD));
        assert!(text.contains("<CREDIT_CARD>"));
    }
}
