//! Quality gates: the thresholds a candidate's held-out evaluation must meet before it is registered,
//! the per-catalog policies an admin sets, and the report that says which gate passed and why.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Thresholds a candidate must meet. Absent fields in TOML take the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatePolicy {
    /// Highest held-out perplexity accepted.
    pub max_perplexity: f64,
    /// Highest held-out evaluation loss accepted.
    pub max_eval_loss: f64,
    /// How much worse than the champion's loss the candidate's may be, in percent.
    pub max_regression_pct: f64,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            max_perplexity: 20.0,
            max_eval_loss: 1.5,
            max_regression_pct: 5.0,
        }
    }
}

impl GatePolicy {
    /// Refuses thresholds that are not finite, not positive, or (for the regression) negative.
    pub fn validate(&self) -> Result<()> {
        self.validate_at("gates")
    }

    /// [`GatePolicy::validate`], naming fields under `prefix` (e.g. `gates.catalogs.prod`).
    pub(crate) fn validate_at(&self, prefix: &str) -> Result<()> {
        positive(prefix, "max_perplexity", self.max_perplexity)?;
        positive(prefix, "max_eval_loss", self.max_eval_loss)?;
        let pct = self.max_regression_pct;
        if !pct.is_finite() || pct < 0.0 {
            return Err(Error::Invalid(format!(
                "{prefix}.max_regression_pct must be a number of percent >= 0, got {pct}"
            )));
        }
        Ok(())
    }

    /// The stricter of the two policies, field by field: a pipeline may only tighten an admin's.
    pub fn tightened_by(&self, other: &GatePolicy) -> GatePolicy {
        GatePolicy {
            max_perplexity: self.max_perplexity.min(other.max_perplexity),
            max_eval_loss: self.max_eval_loss.min(other.max_eval_loss),
            max_regression_pct: self.max_regression_pct.min(other.max_regression_pct),
        }
    }
}

/// Refuses a threshold that is not a finite positive number.
fn positive(prefix: &str, field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{prefix}.{field} must be a positive number, got {value}"
        )))
    }
}

/// The gate policies of a deployment: one default, overridden per catalog (`[gates]` in the config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatePolicies {
    /// The policy of catalogs without their own.
    pub default: GatePolicy,
    /// Policies by catalog name.
    pub catalogs: BTreeMap<String, GatePolicy>,
}

impl GatePolicies {
    /// The catalog's own policy, or the default.
    pub fn for_catalog(&self, catalog: &str) -> GatePolicy {
        self.catalogs.get(catalog).copied().unwrap_or(self.default)
    }

    /// Validates the default and every catalog's policy.
    pub fn validate(&self) -> Result<()> {
        self.default.validate_at("gates.default")?;
        for (catalog, policy) in &self.catalogs {
            policy.validate_at(&format!("gates.catalogs.{catalog}"))?;
        }
        Ok(())
    }
}

/// Held-out evaluation of one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Mean cross-entropy loss per token.
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Tokens evaluated.
    pub tokens: u64,
}

/// What the gates judge: the candidate, and the current champion when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateInput {
    /// The newly trained model's evaluation.
    pub candidate: EvalMetrics,
    /// The champion's evaluation on the same data, if a champion exists.
    pub champion: Option<EvalMetrics>,
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCheck {
    /// `max_perplexity`, `max_eval_loss` or `champion_regression`.
    pub gate: String,
    /// Whether the candidate met it.
    pub passed: bool,
    /// The candidate's value.
    pub actual: f64,
    /// The highest value accepted.
    pub limit: f64,
    /// One sentence saying why it passed or failed.
    pub message: String,
}

/// Every gate's verdict under one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The policy applied.
    pub policy: GatePolicy,
    /// One check per gate, in order.
    pub checks: Vec<GateCheck>,
}

impl GateReport {
    /// Whether every gate passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The messages of the gates that failed.
    pub fn reasons(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|check| !check.passed)
            .map(|check| check.message.clone())
            .collect()
    }
}

/// Judges the candidate (and, with a champion, its regression) under `policy`.
pub fn evaluate(policy: &GatePolicy, input: &GateInput) -> GateReport {
    let candidate = &input.candidate;
    let mut checks = vec![
        upper_bound(
            "max_perplexity",
            "perplexity",
            candidate.perplexity,
            policy.max_perplexity,
        ),
        upper_bound(
            "max_eval_loss",
            "evaluation loss",
            candidate.loss,
            policy.max_eval_loss,
        ),
    ];
    if let Some(champion) = &input.champion {
        checks.push(regression(policy, candidate, champion));
    }
    GateReport {
        policy: *policy,
        checks,
    }
}

/// The candidate's loss may exceed the champion's by at most `max_regression_pct` percent.
fn regression(policy: &GatePolicy, candidate: &EvalMetrics, champion: &EvalMetrics) -> GateCheck {
    let pct = policy.max_regression_pct;
    let limit = champion.loss * (1.0 + pct / 100.0);
    let mut check = upper_bound(
        "champion_regression",
        "evaluation loss",
        candidate.loss,
        limit,
    );
    if !limit.is_finite() {
        check.passed = false;
        check.message = format!(
            "the champion's evaluation loss {} is not a finite number: re-evaluate the champion",
            champion.loss
        );
    } else {
        check.message = format!(
            "{} (the champion's {:.2} + {pct:.1}%)",
            check.message, champion.loss
        );
    }
    check
}

/// A gate passed when `actual` is finite and at most `limit`.
fn upper_bound(gate: &str, what: &str, actual: f64, limit: f64) -> GateCheck {
    let passed = actual.is_finite() && actual <= limit;
    let message = if !actual.is_finite() {
        format!("{what} is {actual}, not a finite number (the limit is {limit:.2})")
    } else if passed {
        format!("{what} {actual:.2} is within {limit:.2}")
    } else {
        format!("{what} {actual:.2} is above the limit {limit:.2}")
    };
    GateCheck {
        gate: gate.to_owned(),
        passed,
        actual,
        limit,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(loss: f64, perplexity: f64) -> EvalMetrics {
        EvalMetrics {
            loss,
            perplexity,
            tokens: 1000,
        }
    }

    fn alone(loss: f64, perplexity: f64) -> GateInput {
        GateInput {
            candidate: metrics(loss, perplexity),
            champion: None,
        }
    }

    #[test]
    fn good_candidate_passes_every_gate() {
        let report = evaluate(&GatePolicy::default(), &alone(1.31, 3.7));
        assert!(report.passed());
        assert!(report.reasons().is_empty());
        let gates: Vec<_> = report.checks.iter().map(|c| c.gate.as_str()).collect();
        assert_eq!(gates, ["max_perplexity", "max_eval_loss"]);
        assert_eq!(
            report.checks[1].message,
            "evaluation loss 1.31 is within 1.50"
        );
    }

    #[test]
    fn perplexity_over_the_limit_fails() {
        let report = evaluate(&GatePolicy::default(), &alone(1.0, 23.41));
        assert!(!report.passed());
        assert_eq!(
            report.reasons(),
            ["perplexity 23.41 is above the limit 20.00"]
        );
    }

    #[test]
    fn loss_over_the_limit_fails() {
        let report = evaluate(&GatePolicy::default(), &alone(1.6, 4.9));
        assert_eq!(
            report.reasons(),
            ["evaluation loss 1.60 is above the limit 1.50"]
        );
        assert_eq!(report.checks[1].actual, 1.6);
        assert_eq!(report.checks[1].limit, 1.5);
    }

    #[test]
    fn non_finite_values_always_fail() {
        let report = evaluate(&GatePolicy::default(), &alone(f64::NAN, f64::INFINITY));
        assert!(!report.passed());
        assert_eq!(report.reasons().len(), 2);
        assert!(report.reasons()[1].contains("NaN, not a finite number"));
    }

    #[test]
    fn champion_regression_at_the_boundary() {
        let policy = GatePolicy::default();
        let champion = metrics(1.2, 3.3);
        let limit = 1.2 * (1.0 + 5.0 / 100.0);
        let at = GateInput {
            candidate: metrics(limit, 3.5),
            champion: Some(champion),
        };
        let report = evaluate(&policy, &at);
        assert!(report.passed(), "{:?}", report.reasons());
        assert_eq!(report.checks[2].gate, "champion_regression");
        assert_eq!(report.checks[2].limit, limit);
        let just_over = GateInput {
            candidate: metrics(limit + 1e-9, 3.5),
            champion: Some(champion),
        };
        assert!(!evaluate(&policy, &just_over).passed());
        let over = GateInput {
            candidate: metrics(1.31, 3.7),
            champion: Some(champion),
        };
        assert_eq!(
            evaluate(&policy, &over).reasons(),
            ["evaluation loss 1.31 is above the limit 1.26 (the champion's 1.20 + 5.0%)"]
        );
    }

    #[test]
    fn non_finite_champion_fails_the_regression_gate() {
        let input = GateInput {
            candidate: metrics(1.0, 2.7),
            champion: Some(metrics(f64::NAN, f64::NAN)),
        };
        let report = evaluate(&GatePolicy::default(), &input);
        assert_eq!(report.reasons().len(), 1);
        assert!(report.reasons()[0].contains("re-evaluate the champion"));
    }

    #[test]
    fn tightening_takes_the_stricter_field() {
        let admin = GatePolicy::default();
        let pipeline = GatePolicy {
            max_perplexity: 10.0,
            max_eval_loss: 3.0,
            max_regression_pct: 1.0,
        };
        let tight = admin.tightened_by(&pipeline);
        assert_eq!(
            tight,
            GatePolicy {
                max_perplexity: 10.0,
                max_eval_loss: 1.5,
                max_regression_pct: 1.0,
            }
        );
        assert_eq!(pipeline.tightened_by(&admin), tight);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = GatePolicy {
            max_eval_loss: 0.0,
            ..GatePolicy::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert_eq!(err, "gates.max_eval_loss must be a positive number, got 0");
        let bad = GatePolicy {
            max_perplexity: f64::NAN,
            ..GatePolicy::default()
        };
        assert!(bad.validate().is_err());
        let bad = GatePolicy {
            max_regression_pct: -1.0,
            ..GatePolicy::default()
        };
        assert!(bad.validate().is_err());
        let zero = GatePolicy {
            max_regression_pct: 0.0,
            ..GatePolicy::default()
        };
        assert!(zero.validate().is_ok());
    }

    #[derive(Deserialize)]
    struct Config {
        gates: GatePolicies,
    }

    #[test]
    fn policies_parse_from_partial_tables() {
        let text =
            "[gates.default]\nmax_eval_loss = 1.2\n\n[gates.catalogs.prod]\nmax_perplexity = 10\n";
        let config: Config = toml::from_str(text).unwrap();
        let gates = config.gates;
        gates.validate().unwrap();
        let default = GatePolicy {
            max_eval_loss: 1.2,
            ..GatePolicy::default()
        };
        assert_eq!(gates.default, default);
        assert_eq!(gates.for_catalog("dev"), default);
        assert_eq!(
            gates.for_catalog("prod"),
            GatePolicy {
                max_perplexity: 10.0,
                ..GatePolicy::default()
            }
        );
        let empty: GatePolicies = toml::from_str("").unwrap();
        assert_eq!(empty, GatePolicies::default());
        assert_eq!(empty.for_catalog("prod"), GatePolicy::default());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let typo = "[gates.default]\nmax_loss = 1.2\n";
        let err = toml::from_str::<Config>(typo).err().unwrap().to_string();
        assert!(err.contains("max_loss"), "{err}");
        assert!(toml::from_str::<Config>("[gates.catalog.prod]\nmax_perplexity = 1\n").is_err());
    }

    #[test]
    fn catalog_policy_validation_names_the_catalog() {
        let mut gates = GatePolicies::default();
        gates.catalogs.insert(
            "prod".into(),
            GatePolicy {
                max_perplexity: -1.0,
                ..GatePolicy::default()
            },
        );
        let err = gates.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("gates.catalogs.prod.max_perplexity"),
            "{err}"
        );
    }
}
