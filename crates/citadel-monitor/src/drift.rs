//! Drift: how an endpoint's recent traffic (the window) differs from what it used to be (the
//! baseline), feature by feature, for all its traffic and for each model version.
//!
//! Features are the prompt's and completion's length in characters, tokens in and out and the
//! latency of answered requests (compared as distributions), and the guardrail block rate and
//! the refusal rate (compared as proportions; see [`refusal`] for what counts as a refusal).
//!
//! Each distribution gets the population stability index (PSI) over the baseline's deciles (see
//! [`stats::psi`]) and the two-sample Kolmogorov–Smirnov statistic with its asymptotic p-value;
//! each rate gets the PSI of its two bins (yes and no) and the p-value of the two-proportion
//! z-test. A feature **drifts** when its PSI is above [`Thresholds::psi_drift`] (0.2) *and* the
//! test's p-value is below [`Thresholds::p_value`] (0.01): the PSI says the change is large, the
//! test that it is not sampling noise (the PSI of small samples is biased upwards). Between
//! [`Thresholds::psi_watch`] (0.1) and the drift threshold, or above it without significance, it
//! is **watched**. With fewer observations than the minimums in the baseline or the window, the
//! verdict is **insufficient data**, never an alarm. A summary's drift *score* is the highest PSI
//! among the features that had enough data; the default alert rule fires above 0.15.

pub mod refusal;
pub mod stats;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use refusal::is_refusal;

/// The window compared when none is given: the last hour.
pub const DEFAULT_WINDOW: Duration = Duration::hours(1);
/// The baseline compared against when none is given: the 7 days before the window.
pub const DEFAULT_BASELINE: Duration = Duration::days(7);

/// How far a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// The model answered.
    Answered,
    /// A guardrail refused the prompt or stopped the completion.
    Blocked,
    /// Refused or failed for another reason (rate limit, overload, error, …): not traffic the
    /// model saw, so left out of every feature.
    NotServed,
}

/// One request, reduced to what drift compares. Holds no text: the service layer measures
/// lengths and detects refusals as it reads the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub model_version: Option<u32>,
    pub served: Served,
    /// `None` when the endpoint's log policy keeps no prompts.
    pub prompt_chars: Option<u64>,
    /// `None` when the endpoint's log policy keeps no completions.
    pub completion_chars: Option<u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency_ms: u64,
    /// Whether the completion reads as a refusal ([`is_refusal`]); `None` without a completion.
    pub refusal: Option<bool>,
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Characters in the prompt of answered requests.
    PromptChars,
    /// Characters in the completion of answered requests.
    CompletionChars,
    TokensIn,
    TokensOut,
    /// Milliseconds from arrival to the end of the answer.
    LatencyMs,
    /// Blocked requests among those answered or blocked.
    BlockRate,
    /// Refusals among answered requests whose completion was kept.
    RefusalRate,
}

impl Feature {
    pub const ALL: [Self; 7] = [
        Self::PromptChars,
        Self::CompletionChars,
        Self::TokensIn,
        Self::TokensOut,
        Self::LatencyMs,
        Self::BlockRate,
        Self::RefusalRate,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PromptChars => "prompt_chars",
            Self::CompletionChars => "completion_chars",
            Self::TokensIn => "tokens_in",
            Self::TokensOut => "tokens_out",
            Self::LatencyMs => "latency_ms",
            Self::BlockRate => "block_rate",
            Self::RefusalRate => "refusal_rate",
        }
    }

    /// The feature's value for one request, when the request counts for it: a number for a
    /// distribution, 0 or 1 for a rate.
    fn value(self, o: &Observation) -> Option<f64> {
        let answered = o.served == Served::Answered;
        let number = |v: u64| v as f64;
        match self {
            Self::PromptChars => o.prompt_chars.filter(|_| answered).map(number),
            Self::CompletionChars => o.completion_chars.filter(|_| answered).map(number),
            Self::TokensIn => answered.then_some(number(o.tokens_in)),
            Self::TokensOut => answered.then_some(number(o.tokens_out)),
            Self::LatencyMs => answered.then_some(number(o.latency_ms)),
            Self::BlockRate => match o.served {
                Served::Answered => Some(0.0),
                Served::Blocked => Some(1.0),
                Served::NotServed => None,
            },
            Self::RefusalRate => o
                .refusal
                .filter(|_| answered)
                .map(|refused| f64::from(u8::from(refused))),
        }
    }

    const fn is_rate(self) -> bool {
        matches!(self, Self::BlockRate | Self::RefusalRate)
    }
}

/// When a change is drift; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// PSI above which a feature is watched.
    pub psi_watch: f64,
    /// PSI above which a feature drifts (when the test is significant too).
    pub psi_drift: f64,
    /// The test's p-value must be below this for drift.
    pub p_value: f64,
    /// Quantile bins of the baseline for the PSI of a distribution.
    pub bins: usize,
    /// Fewest observations of a feature in the baseline for a verdict.
    pub min_baseline: usize,
    /// Fewest observations of a feature in the window for a verdict.
    pub min_window: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            psi_watch: 0.1,
            psi_drift: 0.2,
            p_value: 0.01,
            bins: 10,
            min_baseline: 200,
            min_window: 100,
        }
    }
}

/// A feature's or a summary's conclusion, from least to most alarming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Too few observations to tell.
    InsufficientData,
    Stable,
    Watch,
    Drift,
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InsufficientData => "insufficient data",
            Self::Stable => "stable",
            Self::Watch => "watch",
            Self::Drift => "DRIFT",
        }
    }
}

/// One feature compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub feature: Feature,
    /// Observations of the feature in the baseline and in the window.
    pub baseline_count: usize,
    pub window_count: usize,
    /// The median of a distribution or the proportion of a rate, in the baseline and the window.
    pub baseline_value: Option<f64>,
    pub window_value: Option<f64>,
    pub psi: Option<f64>,
    /// The Kolmogorov–Smirnov statistic (distributions only).
    pub ks: Option<f64>,
    /// The KS test's (distributions) or the two-proportion z-test's (rates) p-value.
    pub p_value: Option<f64>,
    pub verdict: Verdict,
}

/// Every feature of one slice of traffic compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftSummary {
    /// The highest PSI among features with enough data; `None` when none had.
    pub score: Option<f64>,
    /// The most alarming feature verdict (insufficient data only when every feature is).
    pub verdict: Verdict,
    pub features: Vec<FeatureDrift>,
}

/// Compares every feature of `window` against `baseline`.
pub fn assess(
    baseline: &[Observation],
    window: &[Observation],
    thresholds: &Thresholds,
) -> DriftSummary {
    let features: Vec<FeatureDrift> = Feature::ALL
        .iter()
        .map(|&feature| assess_feature(feature, baseline, window, thresholds))
        .collect();
    let assessed = || {
        features
            .iter()
            .filter(|f| f.verdict != Verdict::InsufficientData)
    };
    DriftSummary {
        score: assessed().filter_map(|f| f.psi).reduce(f64::max),
        verdict: assessed()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::InsufficientData),
        features,
    }
}

fn sorted_values(feature: Feature, observations: &[Observation]) -> Vec<f64> {
    let mut values: Vec<f64> = observations
        .iter()
        .filter_map(|o| feature.value(o))
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

fn assess_feature(
    feature: Feature,
    baseline: &[Observation],
    window: &[Observation],
    thresholds: &Thresholds,
) -> FeatureDrift {
    let b = sorted_values(feature, baseline);
    let w = sorted_values(feature, window);
    let (psi, ks, p_value, baseline_value, window_value) = if feature.is_rate() {
        let (b_yes, w_yes) = (count_ones(&b), count_ones(&w));
        let rate = |yes: usize, n: usize| (n > 0).then(|| yes as f64 / n as f64);
        let (b_rate, w_rate) = (rate(b_yes, b.len()), rate(w_yes, w.len()));
        let psi = b_rate
            .zip(w_rate)
            .map(|(br, wr)| stats::psi_of_proportions(&[1.0 - br, br], &[1.0 - wr, wr]));
        let p = psi.map(|_| stats::two_proportion_p_value(b_yes, b.len(), w_yes, w.len()));
        (psi, None, p, b_rate, w_rate)
    } else {
        let ks = stats::ks_statistic(&b, &w);
        let p = ks.map(|d| stats::ks_p_value(d, b.len(), w.len()));
        let psi = stats::psi(&b, &w, thresholds.bins);
        (psi, ks, p, stats::median(&b), stats::median(&w))
    };
    let verdict = if b.len() < thresholds.min_baseline || w.len() < thresholds.min_window {
        Verdict::InsufficientData
    } else {
        match (psi, p_value) {
            (Some(psi), Some(p)) if psi > thresholds.psi_drift && p < thresholds.p_value => {
                Verdict::Drift
            }
            (Some(psi), _) if psi > thresholds.psi_watch => Verdict::Watch,
            (Some(_), _) => Verdict::Stable,
            (None, _) => Verdict::InsufficientData,
        }
    };
    FeatureDrift {
        feature,
        baseline_count: b.len(),
        window_count: w.len(),
        baseline_value,
        window_value,
        psi,
        ks,
        p_value,
        verdict,
    }
}

/// How many of a rate's 0/1 values are 1.
fn count_ones(values: &[f64]) -> usize {
    values.iter().filter(|&&v| v > 0.5).count()
}

/// A stretch of time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl Span {
    /// The window (the `window` before `now`) and the baseline (the `baseline` before the
    /// window), in that order.
    pub fn window_and_baseline(
        now: OffsetDateTime,
        window: Duration,
        baseline: Duration,
    ) -> (Span, Span) {
        let window_start = now - window;
        (
            Span {
                start: window_start,
                end: now,
            },
            Span {
                start: window_start - baseline,
                end: window_start,
            },
        )
    }
}

/// One model version's traffic compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionDrift {
    pub model_version: u32,
    #[serde(flatten)]
    pub summary: DriftSummary,
}

/// An endpoint's drift: all its traffic, then each model version seen in the baseline or the
/// window (requests refused before a version was chosen count in `all` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub endpoint: String,
    pub baseline: Span,
    pub window: Span,
    pub thresholds: Thresholds,
    /// The highest score of `all` and the versions.
    pub score: Option<f64>,
    /// The most alarming verdict of `all` and the versions.
    pub verdict: Verdict,
    pub all: DriftSummary,
    pub versions: Vec<VersionDrift>,
}

impl DriftReport {
    /// Compares `window` against `baseline`, all traffic and each version.
    pub fn build(
        endpoint: impl Into<String>,
        spans: (Span, Span),
        baseline: &[Observation],
        window: &[Observation],
        thresholds: Thresholds,
    ) -> Self {
        let (window_span, baseline_span) = spans;
        let all = assess(baseline, window, &thresholds);
        let versions: BTreeSet<u32> = baseline
            .iter()
            .chain(window)
            .filter_map(|o| o.model_version)
            .collect();
        let of_version = |observations: &[Observation], version: u32| -> Vec<Observation> {
            observations
                .iter()
                .filter(|o| o.model_version == Some(version))
                .cloned()
                .collect()
        };
        let versions: Vec<VersionDrift> = versions
            .into_iter()
            .map(|version| VersionDrift {
                model_version: version,
                summary: assess(
                    &of_version(baseline, version),
                    &of_version(window, version),
                    &thresholds,
                ),
            })
            .collect();
        let mut report = Self {
            endpoint: endpoint.into(),
            baseline: baseline_span,
            window: window_span,
            thresholds,
            score: None,
            verdict: Verdict::InsufficientData,
            all,
            versions,
        };
        report.score = report
            .summaries()
            .filter_map(|(_, s)| s.score)
            .reduce(f64::max);
        report.verdict = report
            .summaries()
            .map(|(_, s)| s.verdict)
            .max()
            .unwrap_or(Verdict::InsufficientData);
        report
    }

    /// `all` (as version `None`), then each version's summary.
    pub fn summaries(&self) -> impl Iterator<Item = (Option<u32>, &DriftSummary)> {
        std::iter::once((None, &self.all)).chain(
            self.versions
                .iter()
                .map(|v| (Some(v.model_version), &v.summary)),
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// How synthetic traffic is drawn.
    #[derive(Clone, Copy)]
    struct Traffic {
        prompt_scale: f64,
        latency_scale: f64,
        block_rate: f64,
        refusal_rate: f64,
        version: u32,
    }

    const NORMAL: Traffic = Traffic {
        prompt_scale: 1.0,
        latency_scale: 1.0,
        block_rate: 0.05,
        refusal_rate: 0.03,
        version: 1,
    };

    /// A standard normal draw (Box–Muller).
    fn gaussian(rng: &mut StdRng) -> f64 {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        let v: f64 = rng.gen();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn traffic(seed: u64, n: usize, t: Traffic) -> Vec<Observation> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let prompt = (300.0 * (0.5 * gaussian(&mut rng)).exp() * t.prompt_scale).round();
                let completion = (600.0 * (0.4 * gaussian(&mut rng)).exp()).round();
                let latency = ((250.0 + 40.0 * gaussian(&mut rng)) * t.latency_scale).max(1.0);
                let blocked = rng.gen_bool(t.block_rate);
                Observation {
                    model_version: Some(t.version),
                    served: if blocked {
                        Served::Blocked
                    } else {
                        Served::Answered
                    },
                    prompt_chars: Some(prompt as u64),
                    completion_chars: Some(completion as u64),
                    tokens_in: (prompt / 4.0) as u64,
                    tokens_out: (completion / 4.0) as u64,
                    latency_ms: latency as u64,
                    refusal: Some(rng.gen_bool(t.refusal_rate)),
                }
            })
            .collect()
    }

    fn verdicts(summary: &DriftSummary) -> Vec<(Feature, Verdict)> {
        summary
            .features
            .iter()
            .map(|f| (f.feature, f.verdict))
            .collect()
    }

    fn verdict_of(summary: &DriftSummary, feature: Feature) -> Verdict {
        summary
            .features
            .iter()
            .find(|f| f.feature == feature)
            .map(|f| f.verdict)
            .unwrap()
    }

    #[test]
    fn stable_traffic_does_not_drift() {
        let baseline = traffic(1, 4000, NORMAL);
        for seed in 2..7 {
            let window = traffic(seed, 500, NORMAL);
            let summary = assess(&baseline, &window, &Thresholds::default());
            assert!(
                summary
                    .features
                    .iter()
                    .all(|f| f.verdict == Verdict::Stable),
                "seed {seed}: {:?}",
                verdicts(&summary)
            );
            assert!(summary.score.unwrap() < 0.1, "{summary:?}");
        }
    }

    #[test]
    fn longer_prompts_and_slower_answers_drift_and_nothing_else_does() {
        let baseline = traffic(1, 4000, NORMAL);
        let shifted = Traffic {
            prompt_scale: 3.0,
            latency_scale: 2.0,
            ..NORMAL
        };
        let summary = assess(&baseline, &traffic(9, 500, shifted), &Thresholds::default());
        for f in &summary.features {
            let expected = match f.feature {
                Feature::PromptChars | Feature::TokensIn | Feature::LatencyMs => Verdict::Drift,
                _ => Verdict::Stable,
            };
            assert_eq!(f.verdict, expected, "{f:?}");
        }
        assert_eq!(summary.verdict, Verdict::Drift);
        assert!(summary.score.unwrap() > 1.0, "{summary:?}");
        let latency = &summary.features[4];
        assert!(latency.ks.unwrap() > 0.9 && latency.p_value.unwrap() < 1e-9);
        let prompt = &summary.features[0];
        let ratio = prompt.window_value.unwrap() / prompt.baseline_value.unwrap();
        assert!((2.5..3.5).contains(&ratio), "{prompt:?}");
    }

    #[test]
    fn a_higher_block_or_refusal_rate_drifts_as_a_proportion() {
        let baseline = traffic(1, 4000, NORMAL);
        let blocked = Traffic {
            block_rate: 0.3,
            ..NORMAL
        };
        let summary = assess(&baseline, &traffic(3, 500, blocked), &Thresholds::default());
        assert_eq!(verdict_of(&summary, Feature::BlockRate), Verdict::Drift);
        assert_eq!(verdict_of(&summary, Feature::RefusalRate), Verdict::Stable);
        assert_eq!(verdict_of(&summary, Feature::LatencyMs), Verdict::Stable);

        let refusing = Traffic {
            refusal_rate: 0.25,
            ..NORMAL
        };
        let summary = assess(
            &baseline,
            &traffic(4, 500, refusing),
            &Thresholds::default(),
        );
        assert_eq!(verdict_of(&summary, Feature::RefusalRate), Verdict::Drift);
        assert_eq!(verdict_of(&summary, Feature::BlockRate), Verdict::Stable);
    }

    #[test]
    fn too_little_data_is_reported_never_alarmed() {
        let thresholds = Thresholds::default();
        let baseline = traffic(1, 4000, NORMAL);
        // A tiny window of wildly different traffic: still no verdict.
        let odd = Traffic {
            prompt_scale: 10.0,
            latency_scale: 10.0,
            block_rate: 0.9,
            ..NORMAL
        };
        let window = traffic(5, thresholds.min_window - 1, odd);
        let summary = assess(&baseline, &window, &thresholds);
        assert_eq!(summary.verdict, Verdict::InsufficientData);
        assert_eq!(summary.score, None);
        assert!(summary
            .features
            .iter()
            .all(|f| f.verdict == Verdict::InsufficientData));
        // An empty window, or no baseline at all.
        assert_eq!(
            assess(&baseline, &[], &thresholds).verdict,
            Verdict::InsufficientData
        );
        assert_eq!(
            assess(&[], &traffic(2, 500, NORMAL), &thresholds).verdict,
            Verdict::InsufficientData
        );
    }

    #[test]
    fn features_without_kept_text_or_served_requests_are_left_out() {
        let mut window = traffic(2, 500, NORMAL);
        for o in &mut window {
            o.prompt_chars = None;
            o.completion_chars = None;
            o.refusal = None;
        }
        window.extend(traffic(3, 300, NORMAL).into_iter().map(|o| Observation {
            served: Served::NotServed,
            latency_ms: 1,
            ..o
        }));
        let summary = assess(&traffic(1, 4000, NORMAL), &window, &Thresholds::default());
        for feature in [
            Feature::PromptChars,
            Feature::CompletionChars,
            Feature::RefusalRate,
        ] {
            assert_eq!(verdict_of(&summary, feature), Verdict::InsufficientData);
        }
        // Requests that were not served do not pull the latency down.
        assert_eq!(verdict_of(&summary, Feature::LatencyMs), Verdict::Stable);
        assert_eq!(summary.verdict, Verdict::Stable);
    }

    #[test]
    fn reports_compare_each_version_and_take_the_worst() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(30);
        let spans = Span::window_and_baseline(now, DEFAULT_WINDOW, DEFAULT_BASELINE);
        assert_eq!(spans.0.end, now);
        assert_eq!(spans.1.end, spans.0.start);
        assert_eq!(spans.0.start - spans.1.start, DEFAULT_BASELINE);
        let baseline = traffic(1, 4000, NORMAL);
        // Version 1 keeps its traffic; a new version 2 answers slowly from the start.
        let mut window = traffic(2, 400, NORMAL);
        let slow = Traffic {
            latency_scale: 3.0,
            version: 2,
            ..NORMAL
        };
        window.extend(traffic(3, 400, slow));
        let report = DriftReport::build(
            "prod.endpoints.bot",
            spans,
            &baseline,
            &window,
            Thresholds::default(),
        );
        assert_eq!(report.versions.len(), 2);
        assert_eq!(report.versions[0].model_version, 1);
        assert_eq!(report.versions[0].summary.verdict, Verdict::Stable);
        assert_eq!(report.versions[1].model_version, 2);
        assert_eq!(
            report.versions[1].summary.verdict,
            Verdict::InsufficientData
        );
        // All traffic together: half the window is slow.
        assert_eq!(verdict_of(&report.all, Feature::LatencyMs), Verdict::Drift);
        assert_eq!(report.verdict, Verdict::Drift);
        assert_eq!(report.score, report.all.score);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["versions"][1]["model_version"], 2);
        assert_eq!(json["versions"][1]["verdict"], "insufficient_data");
        assert_eq!(json["all"]["features"][4]["feature"], "latency_ms");
    }
}
