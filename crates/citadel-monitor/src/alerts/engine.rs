//! Rule evaluation: observations in each rule's window, grouped by the rule's label, aggregated
//! and compared; then Prometheus's state machine per rule and group (inactive → pending →
//! firing → resolved), so one ongoing condition is one alert. Pure: the caller passes the clock
//! and the alerts still open from the last evaluation.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::rules::{Aggregation, Label, Metric, Rule, RuleSet};

/// The group key of a rule without `group_by`: one alert for everything.
pub const UNGROUPED: &str = "all";

/// One thing a source saw: an event (value 1, counted) or a measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub metric: Metric,
    pub time: OffsetDateTime,
    pub value: f64,
    pub labels: BTreeMap<Label, String>,
}

impl Observation {
    /// An event to count.
    pub fn event(metric: Metric, time: OffsetDateTime) -> Self {
        Self::measured(metric, time, 1.0)
    }

    /// A measurement.
    pub fn measured(metric: Metric, time: OffsetDateTime, value: f64) -> Self {
        Self {
            metric,
            time,
            value,
            labels: BTreeMap::new(),
        }
    }

    /// Adds a label.
    #[must_use]
    pub fn with(mut self, label: Label, value: impl Into<String>) -> Self {
        self.labels.insert(label, value.into());
        self
    }
}

/// Where an open alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The condition holds, but not yet for the rule's `for`.
    Pending,
    /// The condition has held long enough (acknowledged alerts are still firing).
    Firing,
}

/// An alert still open from the last evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    pub rule: String,
    pub key: String,
    pub phase: Phase,
    /// When the condition started to hold.
    pub since: OffsetDateTime,
}

/// What changed for one rule and group at this evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The condition started to hold; the alert waits for the rule's `for`.
    Pending {
        rule: String,
        key: String,
        value: f64,
    },
    /// The alert fires (its condition has held since `started_at`).
    Fired {
        rule: String,
        key: String,
        value: f64,
        started_at: OffsetDateTime,
    },
    /// A firing alert's condition no longer holds (or its rule was removed).
    Resolved { rule: String, key: String },
    /// A pending alert's condition stopped holding before it fired.
    Cleared { rule: String, key: String },
}

/// Evaluates every rule at `now` over `observations`, given the alerts still `open`.
pub fn evaluate(
    rules: &RuleSet,
    observations: &[Observation],
    open: &[OpenAlert],
    now: OffsetDateTime,
) -> Vec<Transition> {
    let mut transitions = Vec::new();
    for rule in rules.rules() {
        let breaching = breaching_groups(rule, observations, now);
        for (key, value) in &breaching {
            let previous = open.iter().find(|a| a.rule == rule.name && a.key == *key);
            let since = previous.map_or(now, |a| a.since);
            let held_long_enough = now - since >= rule.for_duration;
            match (previous.map(|a| a.phase), held_long_enough) {
                (Some(Phase::Firing), _) => {}
                (_, true) => transitions.push(Transition::Fired {
                    rule: rule.name.clone(),
                    key: key.clone(),
                    value: *value,
                    started_at: since,
                }),
                (None, false) => transitions.push(Transition::Pending {
                    rule: rule.name.clone(),
                    key: key.clone(),
                    value: *value,
                }),
                (Some(Phase::Pending), false) => {}
            }
        }
    }
    for alert in open {
        let still_breaching = rules
            .get(&alert.rule)
            .is_some_and(|rule| breaching_groups(rule, observations, now).contains_key(&alert.key));
        if still_breaching {
            continue;
        }
        let (rule, key) = (alert.rule.clone(), alert.key.clone());
        transitions.push(match alert.phase {
            Phase::Firing => Transition::Resolved { rule, key },
            Phase::Pending => Transition::Cleared { rule, key },
        });
    }
    transitions
}

/// The groups whose aggregated value meets the rule's condition, with that value.
fn breaching_groups(
    rule: &Rule,
    observations: &[Observation],
    now: OffsetDateTime,
) -> BTreeMap<String, f64> {
    let start = now - rule.window;
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for observation in observations {
        if observation.metric != rule.metric || observation.time <= start || observation.time > now
        {
            continue;
        }
        let key = match rule.group_by {
            // An observation without the label cannot be attributed: it counts for no group.
            Some(label) => match observation.labels.get(&label) {
                Some(value) => value.clone(),
                None => continue,
            },
            None => UNGROUPED.to_owned(),
        };
        groups.entry(key).or_default().push(observation.value);
    }
    groups
        .into_iter()
        .filter_map(|(key, values)| {
            let value = aggregate(rule.metric.aggregation(), values);
            rule.comparison
                .holds(value, rule.threshold)
                .then_some((key, value))
        })
        .collect()
}

fn aggregate(aggregation: Aggregation, mut values: Vec<f64>) -> f64 {
    match aggregation {
        Aggregation::Count => values.len() as f64,
        Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::P99 => {
            // Nearest rank: the smallest value at or above 99% of the sample.
            values.sort_by(f64::total_cmp);
            let rank = (values.len() as f64 * 0.99).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::rules::RuleSet;

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 12:00 UTC)
    }

    /// A fake clock: `t0` plus `secs`.
    fn at(secs: i64) -> OffsetDateTime {
        t0() + time::Duration::seconds(secs)
    }

    fn failures(address: &str, times: &[i64]) -> Vec<Observation> {
        times
            .iter()
            .map(|s| {
                Observation::event(Metric::FailedAuthentications, at(*s))
                    .with(Label::Address, address)
            })
            .collect()
    }

    /// The built-in rule `name` alone (every other one switched off), plus the rules in `extra`.
    fn only(name: &str, extra: &str) -> RuleSet {
        let mut text = RuleSet::defaults()
            .unwrap()
            .rules()
            .iter()
            .filter(|r| r.name != name)
            .map(|r| format!("[[rule]]\nname = \"{}\"\nenabled = false\n", r.name))
            .collect::<String>();
        text.push_str(extra);
        RuleSet::with_overrides(&text, "test").unwrap()
    }

    fn brute_force_rules() -> RuleSet {
        only("failed_authentications", "")
    }

    /// Applies transitions to the open alerts, as the service layer does.
    fn apply(open: &mut Vec<OpenAlert>, transitions: &[Transition], now: OffsetDateTime) {
        for transition in transitions {
            match transition {
                Transition::Pending { rule, key, .. } => open.push(OpenAlert {
                    rule: rule.clone(),
                    key: key.clone(),
                    phase: Phase::Pending,
                    since: now,
                }),
                Transition::Fired {
                    rule,
                    key,
                    started_at,
                    ..
                } => {
                    open.retain(|a| !(a.rule == *rule && a.key == *key));
                    open.push(OpenAlert {
                        rule: rule.clone(),
                        key: key.clone(),
                        phase: Phase::Firing,
                        since: *started_at,
                    });
                }
                Transition::Resolved { rule, key } | Transition::Cleared { rule, key } => {
                    open.retain(|a| !(a.rule == *rule && a.key == *key));
                }
            }
        }
    }

    #[test]
    fn six_failures_from_one_address_fire_once_and_resolve_when_the_window_passes() {
        let rules = brute_force_rules();
        let mut observations = failures("10.0.0.9", &[1, 2, 3, 4, 5, 6]);
        observations.extend(failures("10.0.0.7", &[1, 2, 3]));
        let mut open = Vec::new();

        let first = evaluate(&rules, &observations, &open, at(10));
        assert_eq!(
            first,
            vec![Transition::Fired {
                rule: "failed_authentications".into(),
                key: "10.0.0.9".into(),
                value: 6.0,
                started_at: at(10),
            }]
        );
        apply(&mut open, &first, at(10));

        // The same ongoing condition, more failures: no second alert.
        observations.extend(failures("10.0.0.9", &[20, 21]));
        assert!(evaluate(&rules, &observations, &open, at(30)).is_empty());

        // Five minutes after the failures, the count drops to zero: resolved.
        let later = evaluate(&rules, &observations, &open, at(330));
        assert_eq!(
            later,
            vec![Transition::Resolved {
                rule: "failed_authentications".into(),
                key: "10.0.0.9".into(),
            }]
        );
    }

    #[test]
    fn the_threshold_is_strict_and_unattributed_events_count_for_no_group() {
        let rules = brute_force_rules();
        let mut observations = failures("10.0.0.9", &[1, 2, 3, 4, 5]);
        observations
            .extend((0..10).map(|s| Observation::event(Metric::FailedAuthentications, at(s))));
        assert!(evaluate(&rules, &observations, &[], at(10)).is_empty());
    }

    #[test]
    fn events_outside_the_window_do_not_count() {
        let rules = brute_force_rules();
        // Three failures 6 minutes ago and three now: never six within 5 minutes.
        let observations = failures("10.0.0.9", &[0, 1, 2, 360, 361, 362]);
        assert!(evaluate(&rules, &observations, &[], at(363)).is_empty());
        // Not-yet-happened events (clock skew) do not count either.
        assert!(evaluate(&rules, &observations, &[], at(3)).is_empty());
    }

    #[test]
    fn for_duration_keeps_an_alert_pending_until_it_has_held_long_enough() {
        let rules = only("latency_p99", "");
        let slow = |secs: i64| {
            (0..100)
                .map(|i| {
                    Observation::measured(
                        Metric::LatencyP99Ms,
                        at(secs),
                        if i < 98 { 10.0 } else { 5000.0 },
                    )
                    .with(Label::Endpoint, "prod.endpoints.bot")
                })
                .collect::<Vec<_>>()
        };
        let mut observations = slow(0);
        let mut open = Vec::new();

        let first = evaluate(&rules, &observations, &open, at(1));
        assert!(matches!(&first[..], [Transition::Pending { value, .. }] if *value == 5000.0));
        apply(&mut open, &first, at(1));

        // Still pending one minute in: nothing changes.
        observations.extend(slow(60));
        assert!(evaluate(&rules, &observations, &open, at(61)).is_empty());

        // Two minutes after it started: fires, dated from when it started.
        observations.extend(slow(120));
        let fired = evaluate(&rules, &observations, &open, at(121));
        assert!(
            matches!(&fired[..], [Transition::Fired { started_at, .. }] if *started_at == at(1))
        );
    }

    #[test]
    fn a_pending_alert_whose_condition_stops_is_cleared_without_firing() {
        let rules = only("latency_p99", "");
        let observations = vec![Observation::measured(Metric::LatencyP99Ms, at(0), 2000.0)
            .with(Label::Endpoint, "prod.endpoints.bot")];
        let mut open = Vec::new();
        let first = evaluate(&rules, &observations, &open, at(1));
        apply(&mut open, &first, at(1));
        assert_eq!(open[0].phase, Phase::Pending);
        let later = evaluate(&rules, &observations, &open, at(301));
        assert_eq!(
            later,
            vec![Transition::Cleared {
                rule: "latency_p99".into(),
                key: "prod.endpoints.bot".into()
            }]
        );
    }

    #[test]
    fn p99_ignores_the_top_percent_and_max_takes_the_highest() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(aggregate(Aggregation::P99, values.clone()), 198.0);
        assert_eq!(aggregate(Aggregation::P99, vec![7.0]), 7.0);
        assert_eq!(aggregate(Aggregation::Max, vec![0.1, 0.3, 0.2]), 0.3);
        assert_eq!(aggregate(Aggregation::Count, values), 200.0);
    }

    #[test]
    fn groups_are_independent_and_ungrouped_rules_use_one_key() {
        let text = "[[rule]]\nname = \"any_denial\"\nmetric = \"denied_accesses\"\nwindow = \
                    \"1m\"\ncomparison = \">=\"\nthreshold = 2\nseverity = \"low\"\n";
        let rules = only("none", text);
        let observations: Vec<_> = ["alice", "bob"]
            .iter()
            .map(|p| Observation::event(Metric::DeniedAccesses, at(0)).with(Label::Principal, *p))
            .collect();
        let fired = evaluate(&rules, &observations, &[], at(1));
        assert!(matches!(&fired[..], [Transition::Fired { key, value, .. }]
            if key == UNGROUPED && *value == 2.0));
        // The default denied-access rule groups by principal: one alert each.
        let rules = only("denied_access", "");
        assert_eq!(evaluate(&rules, &observations, &[], at(1)).len(), 2);
    }

    #[test]
    fn an_alert_of_a_removed_rule_resolves() {
        let rules = brute_force_rules();
        let open = vec![OpenAlert {
            rule: "gone".into(),
            key: "x".into(),
            phase: Phase::Firing,
            since: at(0),
        }];
        assert_eq!(
            evaluate(&rules, &[], &open, at(1)),
            vec![Transition::Resolved {
                rule: "gone".into(),
                key: "x".into()
            }]
        );
        assert_eq!(rules.rules()[0].window, Duration::from_secs(300));
    }
}
