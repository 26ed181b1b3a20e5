//! CPU-hour budgets per catalog or schema: whether a run still fits, and what it would cost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Share of a budget past which a run is allowed but warned about.
pub const WARNING_FRACTION: f64 = 0.8;

/// A CPU-hour allowance, with an optional price per CPU-hour for cost estimates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// CPU-hours the scope may use in all.
    pub cpu_hours: f64,
    /// Price of one CPU-hour, in whatever currency the operator thinks in.
    #[serde(default)]
    pub price_per_hour: Option<f64>,
}

/// How a run stands against its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetVerdict {
    /// Below the warning fraction after the run.
    Within,
    /// At or above the warning fraction after the run, but within the budget.
    Warning,
    /// Over the budget after the run.
    Exceeded,
}

/// A run's standing against one scope's budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetCheck {
    /// The budget's key: `catalog` or `catalog.schema`.
    pub scope: String,
    /// CPU-hours allowed.
    pub limit_cpu_hours: f64,
    /// CPU-hours already used.
    pub used_cpu_hours: f64,
    /// CPU-hours the run may take at most.
    pub requested_cpu_hours: f64,
    /// The verdict after the run.
    pub verdict: BudgetVerdict,
    /// `(used + requested) * price_per_hour`, when a price is set.
    pub cost_after: Option<f64>,
}

impl Budget {
    /// Refuses a non-positive or non-finite allowance and a negative or non-finite price.
    pub fn validate(&self) -> Result<()> {
        self.validate_at("budget")
    }

    /// [`Budget::validate`], naming the budget's table (`[budgets."dev"]`) in the message.
    pub fn validate_scope(&self, scope: &str) -> Result<()> {
        self.validate_at(&format!("[budgets.{scope:?}]"))
    }

    fn validate_at(&self, table: &str) -> Result<()> {
        if !(self.cpu_hours.is_finite() && self.cpu_hours > 0.0) {
            return Err(Error::Invalid(format!(
                "{table} cpu_hours must be a positive number of hours, got {}",
                self.cpu_hours
            )));
        }
        match self.price_per_hour {
            Some(price) if !(price.is_finite() && price >= 0.0) => Err(Error::Invalid(format!(
                "{table} price_per_hour must be a number >= 0, got {price}"
            ))),
            _ => Ok(()),
        }
    }

    /// How a run that may take `requested_cpu_hours` stands, with `used_cpu_hours` already spent.
    pub fn check(&self, scope: &str, used_cpu_hours: f64, requested_cpu_hours: f64) -> BudgetCheck {
        let after = used_cpu_hours + requested_cpu_hours;
        let verdict = verdict(after, self.cpu_hours);
        BudgetCheck {
            scope: scope.to_owned(),
            limit_cpu_hours: self.cpu_hours,
            used_cpu_hours,
            requested_cpu_hours,
            verdict,
            cost_after: self.price_per_hour.map(|price| after * price),
        }
    }
}

/// Exceeded over the limit (or when any number is not finite), Warning from the warning fraction.
fn verdict(after: f64, limit: f64) -> BudgetVerdict {
    if !(after.is_finite() && after <= limit) {
        BudgetVerdict::Exceeded
    } else if after >= WARNING_FRACTION * limit {
        BudgetVerdict::Warning
    } else {
        BudgetVerdict::Within
    }
}

impl BudgetCheck {
    /// Share of the budget used once the run is done (1.0 = all of it).
    pub fn fraction_after(&self) -> f64 {
        (self.used_cpu_hours + self.requested_cpu_hours) / self.limit_cpu_hours
    }

    /// One line for the terminal, with the remedy when the run does not fit.
    pub fn message(&self) -> String {
        let standing = match self.verdict {
            BudgetVerdict::Within => "within the budget".to_owned(),
            BudgetVerdict::Warning => {
                format!("{:.0}% of the budget", self.fraction_after() * 100.0)
            }
            BudgetVerdict::Exceeded => "over the budget".to_owned(),
        };
        let cost = self
            .cost_after
            .map(|cost| format!("; cost after this run {cost:.2}"))
            .unwrap_or_default();
        let remedy = if self.verdict == BudgetVerdict::Exceeded {
            format!("; raise [budgets.{:?}] cpu_hours or wait", self.scope)
        } else {
            String::new()
        };
        format!(
            "{}: {:.1} of {:.1} CPU-hours used; this run may take {:.1} more, {standing}{cost}{remedy}",
            self.scope, self.used_cpu_hours, self.limit_cpu_hours, self.requested_cpu_hours
        )
    }
}

/// The most specific budget for a schema: "catalog.schema" first, then "catalog".
pub fn budget_for<'a>(
    budgets: &'a BTreeMap<String, Budget>,
    catalog: &str,
    schema: &str,
) -> Option<(&'a str, &'a Budget)> {
    budgets
        .get_key_value(&format!("{catalog}.{schema}"))
        .or_else(|| budgets.get_key_value(catalog))
        .map(|(scope, budget)| (scope.as_str(), budget))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ten() -> Budget {
        Budget {
            cpu_hours: 10.0,
            price_per_hour: None,
        }
    }

    #[test]
    fn verdict_boundaries() {
        let budget = ten();
        assert_eq!(budget.check("dev", 2.0, 5.9).verdict, BudgetVerdict::Within);
        assert_eq!(
            budget.check("dev", 5.0, 3.0).verdict,
            BudgetVerdict::Warning
        );
        assert_eq!(
            budget.check("dev", 7.0, 3.0).verdict,
            BudgetVerdict::Warning
        );
        assert_eq!(
            budget.check("dev", 7.0, 3.5).verdict,
            BudgetVerdict::Exceeded
        );
        assert_eq!(
            budget.check("dev", f64::NAN, 1.0).verdict,
            BudgetVerdict::Exceeded
        );
    }

    #[test]
    fn messages_say_where_the_run_stands() {
        let budget = ten();
        assert_eq!(
            budget.check("dev", 7.9, 3.0).message(),
            "dev: 7.9 of 10.0 CPU-hours used; this run may take 3.0 more, over the budget; \
             raise [budgets.\"dev\"] cpu_hours or wait"
        );
        assert_eq!(
            budget.check("dev", 6.0, 3.0).message(),
            "dev: 6.0 of 10.0 CPU-hours used; this run may take 3.0 more, 90% of the budget"
        );
        assert_eq!(
            budget.check("dev.ml", 1.0, 1.0).message(),
            "dev.ml: 1.0 of 10.0 CPU-hours used; this run may take 1.0 more, within the budget"
        );
    }

    #[test]
    fn cost_is_estimated_when_priced() {
        let budget = Budget {
            cpu_hours: 10.0,
            price_per_hour: Some(0.5),
        };
        let check = budget.check("dev", 1.0, 2.0);
        assert_eq!(check.cost_after, Some(1.5));
        assert!((check.fraction_after() - 0.3).abs() < 1e-12);
        assert!(check.message().ends_with("; cost after this run 1.50"));
        assert_eq!(ten().check("dev", 1.0, 2.0).cost_after, None);
    }

    #[test]
    fn schema_budget_wins_over_catalog_budget() {
        let mut budgets = BTreeMap::new();
        budgets.insert("dev".to_owned(), ten());
        budgets.insert(
            "dev.ml".to_owned(),
            Budget {
                cpu_hours: 2.0,
                price_per_hour: None,
            },
        );
        let (scope, budget) = budget_for(&budgets, "dev", "ml").unwrap();
        assert_eq!((scope, budget.cpu_hours), ("dev.ml", 2.0));
        let (scope, budget) = budget_for(&budgets, "dev", "data").unwrap();
        assert_eq!((scope, budget.cpu_hours), ("dev", 10.0));
        assert!(budget_for(&budgets, "prod", "ml").is_none());
    }

    #[test]
    fn validation_refuses_unusable_numbers() {
        for hours in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let budget = Budget {
                cpu_hours: hours,
                price_per_hour: None,
            };
            assert!(budget.validate().is_err(), "{hours}");
        }
        let priced = |price| Budget {
            cpu_hours: 1.0,
            price_per_hour: Some(price),
        };
        assert!(priced(-0.1).validate().is_err());
        assert!(priced(f64::NAN).validate().is_err());
        assert!(priced(0.0).validate().is_ok());
        assert!(ten().validate().is_ok());
        let err = Budget {
            cpu_hours: 0.0,
            price_per_hour: None,
        }
        .validate_scope("dev")
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "[budgets.\"dev\"] cpu_hours must be a positive number of hours, got 0"
        );
    }

    #[test]
    fn parses_from_toml() {
        let budgets: BTreeMap<String, Budget> = toml::from_str(
            "[dev]\ncpu_hours = 10\n\n[\"dev.ml\"]\ncpu_hours = 2.5\nprice_per_hour = 0.04\n",
        )
        .unwrap();
        assert_eq!(budgets["dev"], ten());
        assert_eq!(budgets["dev.ml"].price_per_hour, Some(0.04));
        assert!(toml::from_str::<Budget>("cpu_hours = 1\nhours = 2\n").is_err());
    }
}
