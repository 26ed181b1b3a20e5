//! Column masks and row filters: declarative read-time rules, stored as JSON in the catalog.
//!
//! On every read, [`RowPolicy::apply`] first drops the rows the viewer may not see (deny by
//! default: a row whose filtered column is absent or null is dropped, and so is every row when the
//! viewer lacks the attribute a filter names), then masks top-level columns. A viewer in one of a
//! rule's `exempt_groups` bypasses that rule.

mod filter;
mod mask;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use filter::{values_match, FilterCondition, RowFilter};
pub use mask::{MaskFunction, MAX_LAST_N};

use crate::format::Row;

/// Who is reading: the principal, its groups, and attributes that row filters compare with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The principal's name.
    pub principal: String,
    /// Every group the principal belongs to.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// Attribute values, e.g. `regions` → `["eu", "us"]`.
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl Viewer {
    /// A viewer with no groups or attributes.
    pub fn new(principal: impl Into<String>) -> Self {
        Viewer {
            principal: principal.into(),
            ..Viewer::default()
        }
    }

    /// Whether the viewer belongs to any of `groups`.
    pub fn in_any(&self, groups: &[String]) -> bool {
        groups.iter().any(|g| self.groups.contains(g))
    }
}

/// A mask on one top-level column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMask {
    /// The masked column.
    pub column: String,
    /// How its values are shown.
    pub function: MaskFunction,
    /// Groups whose members see the values unmasked.
    #[serde(default)]
    pub exempt_groups: Vec<String>,
}

/// Every mask and filter of a dataset. Masks apply in order (two on one column compose).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPolicy {
    /// Column masks.
    #[serde(default)]
    pub masks: Vec<ColumnMask>,
    /// Row filters (a row must pass all of them).
    #[serde(default)]
    pub filters: Vec<RowFilter>,
}

/// Whether a rule is a mask or a row filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A [`ColumnMask`].
    Mask,
    /// A [`RowFilter`].
    RowFilter,
}

/// How one rule bears on a viewer, for the audit event of a read. Holds no values, literals or
/// attribute values: only the column, the function or condition kind, and whether it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// Mask or row filter.
    pub kind: RuleKind,
    /// The column the rule is on.
    pub column: String,
    /// The mask function (`mask_email`, `last_n:4`) or condition kind (`IN viewer.regions`).
    pub rule: String,
    /// `true` if the viewer is exempt (the rule did not apply).
    pub exempt: bool,
}

impl RowPolicy {
    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty() && self.filters.is_empty()
    }

    /// The row as `viewer` may see it, or `None` if a filter drops it. `salt` is the dataset's
    /// salt for [`MaskFunction::Hash`].
    pub fn apply(&self, mut row: Row, viewer: &Viewer, salt: &[u8]) -> Option<Row> {
        for filter in &self.filters {
            if !viewer.in_any(&filter.exempt_groups)
                && !filter.condition.passes(row.get(&filter.column), viewer)
            {
                return None;
            }
        }
        for mask in &self.masks {
            if viewer.in_any(&mask.exempt_groups) {
                continue;
            }
            if let Some(value) = row.get_mut(&mask.column) {
                *value = mask.function.apply(value, salt);
            }
        }
        Some(row)
    }

    /// Which rules apply to `viewer` and which it is exempt from, filters first.
    pub fn describe(&self, viewer: &Viewer) -> Vec<RuleOutcome> {
        let filters = self.filters.iter().map(|f| RuleOutcome {
            kind: RuleKind::RowFilter,
            column: f.column.clone(),
            rule: f.condition.kind(),
            exempt: viewer.in_any(&f.exempt_groups),
        });
        let masks = self.masks.iter().map(|m| RuleOutcome {
            kind: RuleKind::Mask,
            column: m.column.clone(),
            rule: m.function.to_string(),
            exempt: viewer.in_any(&m.exempt_groups),
        });
        filters.chain(masks).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    fn policy() -> RowPolicy {
        RowPolicy {
            masks: vec![
                ColumnMask {
                    column: "email".into(),
                    function: MaskFunction::MaskEmail,
                    exempt_groups: vec!["pii_readers".into()],
                },
                ColumnMask {
                    column: "card".into(),
                    function: MaskFunction::LastN(4),
                    exempt_groups: vec![],
                },
            ],
            filters: vec![RowFilter {
                exempt_groups: vec!["auditors".into()],
                ..RowFilter::parse("region IN viewer.regions").unwrap()
            }],
        }
    }

    fn viewer(groups: &[&str], regions: Option<&[&str]>) -> Viewer {
        let mut v = Viewer::new("alice");
        v.groups = groups.iter().map(|g| g.to_string()).collect();
        if let Some(r) = regions {
            v.attributes
                .insert("regions".into(), r.iter().map(|s| s.to_string()).collect());
        }
        v
    }

    fn rows() -> Vec<Row> {
        vec![
            row(json!({"id": 1, "region": "eu", "email": "ann@x.org", "card": "4111111111111234"})),
            row(json!({"id": 2, "region": "us", "email": "bob@y.com", "card": "5500000000000004"})),
            row(json!({"id": 3, "region": null, "email": "cy@z.net"})),
            row(json!({"id": 4, "email": "dee@w.io"})),
        ]
    }

    fn read(p: &RowPolicy, v: &Viewer) -> Vec<Value> {
        rows()
            .into_iter()
            .filter_map(|r| p.apply(r, v, b"salt"))
            .map(Value::Object)
            .collect()
    }

    #[test]
    fn filters_by_viewer_attribute_then_masks() {
        let out = read(&policy(), &viewer(&[], Some(&["eu"])));
        assert_eq!(
            out,
            vec![json!({"id": 1, "region": "eu", "email": "a***@x.org", "card": "****1234"})]
        );
    }

    #[test]
    fn exempt_groups_bypass_each_rule_separately() {
        let out = read(&policy(), &viewer(&["pii_readers"], Some(&["eu", "us"])));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1]["email"], json!("bob@y.com"), "mask bypassed");
        assert_eq!(
            out[1]["card"],
            json!("****0004"),
            "other mask still applies"
        );

        let out = read(&policy(), &viewer(&["auditors"], None));
        assert_eq!(out.len(), 4, "filter bypassed, even without the attribute");
        assert_eq!(out[3]["email"], json!("d***@w.io"));
        assert!(out[3].get("card").is_none(), "a mask adds no column");
    }

    #[test]
    fn missing_attribute_or_value_denies() {
        assert!(read(&policy(), &viewer(&[], None)).is_empty());
        assert!(read(&policy(), &viewer(&[], Some(&[]))).is_empty());
        // Rows 3 (null region) and 4 (no region) never pass, whatever the viewer holds.
        let out = read(&policy(), &viewer(&[], Some(&["eu", "us", "null", ""])));
        let ids: Vec<_> = out.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, vec![json!(1), json!(2)]);
    }

    #[test]
    fn literal_filters_and_typed_comparison() {
        let p = RowPolicy {
            masks: vec![],
            filters: vec![
                RowFilter::parse("tier IN ('gold', 'silver')").unwrap(),
                RowFilter::parse("level = 3").unwrap(),
            ],
        };
        let v = Viewer::new("bob");
        let keep = |r: Value| p.apply(row(r), &v, b"").is_some();
        assert!(keep(json!({"tier": "gold", "level": 3})));
        assert!(keep(json!({"tier": "silver", "level": "3"})));
        assert!(!keep(json!({"tier": "bronze", "level": 3})));
        assert!(!keep(json!({"tier": "gold", "level": 4})));
        assert!(!keep(json!({"tier": "gold"})));
        assert!(!keep(json!({"tier": ["gold"], "level": 3})));

        // Numbers in rows compare with attribute text.
        let p = RowPolicy {
            masks: vec![],
            filters: vec![RowFilter::parse("dept IN viewer.depts").unwrap()],
        };
        let mut v = Viewer::new("carol");
        v.attributes.insert("depts".into(), vec!["42".into()]);
        assert!(p.apply(row(json!({"dept": 42})), &v, b"").is_some());
        assert!(p.apply(row(json!({"dept": 43})), &v, b"").is_none());
    }

    #[test]
    fn masks_compose_in_order_and_use_the_salt() {
        let p = RowPolicy {
            masks: vec![
                ColumnMask {
                    column: "ssn".into(),
                    function: MaskFunction::Hash,
                    exempt_groups: vec![],
                },
                ColumnMask {
                    column: "ssn".into(),
                    function: MaskFunction::LastN(4),
                    exempt_groups: vec![],
                },
            ],
            filters: vec![],
        };
        let v = Viewer::new("x");
        let a = p
            .apply(row(json!({"ssn": "123-45-6789"})), &v, b"s1")
            .unwrap();
        let b = p
            .apply(row(json!({"ssn": "123-45-6789"})), &v, b"s2")
            .unwrap();
        let hashed = MaskFunction::Hash.apply(&json!("123-45-6789"), b"s1");
        let tail = &hashed.as_str().unwrap()[60..];
        assert_eq!(a["ssn"], json!(format!("****{tail}")));
        assert_ne!(a["ssn"], b["ssn"]);
    }

    #[test]
    fn describe_names_rules_without_values() {
        let mut p = policy();
        p.filters.push(RowFilter::parse("country = 'FR'").unwrap());
        let d = p.describe(&viewer(&["pii_readers"], Some(&["eu"])));
        assert_eq!(
            d,
            vec![
                RuleOutcome {
                    kind: RuleKind::RowFilter,
                    column: "region".into(),
                    rule: "IN viewer.regions".into(),
                    exempt: false
                },
                RuleOutcome {
                    kind: RuleKind::RowFilter,
                    column: "country".into(),
                    rule: "= literal".into(),
                    exempt: false
                },
                RuleOutcome {
                    kind: RuleKind::Mask,
                    column: "email".into(),
                    rule: "mask_email".into(),
                    exempt: true
                },
                RuleOutcome {
                    kind: RuleKind::Mask,
                    column: "card".into(),
                    rule: "last_n:4".into(),
                    exempt: false
                },
            ]
        );
        let text = serde_json::to_string(&d).unwrap();
        assert!(!text.contains("FR") && !text.contains("\"eu\""), "{text}");
    }

    #[test]
    fn policy_serde_round_trip() {
        let p = policy();
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains(r#""function":"mask_email""#), "{text}");
        assert!(
            text.contains(r#""condition":{"in_viewer_attribute":"regions"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<RowPolicy>(&text).unwrap(), p);
        let minimal: RowPolicy =
            serde_json::from_str(r#"{"masks":[{"column":"a","function":"redact"}]}"#).unwrap();
        assert!(minimal.filters.is_empty() && minimal.masks[0].exempt_groups.is_empty());
        assert!(RowPolicy::default().is_empty());
        assert!(!p.is_empty());
    }
}
