//! The benchmark: runs an [`Analyzer`] over a [`LabeledCorpus`], on one thread and on a rayon
//! pool, and scores the findings against the labels.
//!
//! A finding matches a label when the entity types are equal and the spans overlap (each label
//! and each finding match at most once); `exact` counts matches whose spans are identical.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::corpus::LabeledCorpus;
use crate::{Analyzer, EntityType, Finding, PiiError};

/// Precision and recall of one entity type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityScore {
    pub entity_type: EntityType,
    /// Labels of this type in the corpus.
    pub support: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// Matches whose span equals the label's.
    pub exact: usize,
    pub precision: f64,
    pub recall: f64,
}

/// What [`evaluate`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub corpus_bytes: usize,
    pub lines: usize,
    pub threads: usize,
    pub single_thread_seconds: f64,
    pub all_cores_seconds: f64,
    /// Throughput on one thread, in MB/s (10^6 bytes).
    pub single_thread_mb_s: f64,
    /// Throughput on `threads` threads, in MB/s.
    pub all_cores_mb_s: f64,
    /// `all_cores_mb_s / threads`.
    pub per_core_mb_s: f64,
    pub findings: usize,
    pub entities: Vec<EntityScore>,
}

impl EvalReport {
    /// The score of one type.
    pub fn entity(&self, entity_type: EntityType) -> Option<&EntityScore> {
        self.entities.iter().find(|e| e.entity_type == entity_type)
    }
}

/// Analyzes every line of `corpus` on one thread (timed, and scored), then again on `threads`
/// threads (timed).
pub fn evaluate(
    analyzer: &Analyzer,
    corpus: &LabeledCorpus,
    threads: usize,
) -> Result<EvalReport, PiiError> {
    if threads == 0 {
        return Err(PiiError::Bench("threads must be at least 1".into()));
    }
    if corpus.bytes == 0 {
        return Err(PiiError::Bench("the corpus is empty".into()));
    }
    let started = Instant::now();
    let findings: Vec<Vec<Finding>> = corpus
        .lines
        .iter()
        .map(|l| analyzer.analyze(&l.text))
        .collect();
    let single = started.elapsed().as_secs_f64();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PiiError::Bench(format!("cannot start {threads} threads: {e}")))?;
    let started = Instant::now();
    let count: usize = pool.install(|| {
        corpus
            .lines
            .par_iter()
            .with_min_len(256)
            .map(|l| analyzer.analyze(&l.text).len())
            .sum()
    });
    let multi = started.elapsed().as_secs_f64();

    let mut scores: Vec<EntityScore> = EntityType::ALL
        .iter()
        .map(|&entity_type| EntityScore {
            entity_type,
            support: 0,
            true_positives: 0,
            false_positives: 0,
            false_negatives: 0,
            exact: 0,
            precision: 0.0,
            recall: 0.0,
        })
        .collect();
    for (line, found) in corpus.lines.iter().zip(&findings) {
        let mut used = vec![false; found.len()];
        for label in &line.labels {
            let Some(score) = scores.get_mut(label.entity_type.index()) else {
                continue;
            };
            score.support += 1;
            let hit = found.iter().enumerate().position(|(k, f)| {
                !used.get(k).copied().unwrap_or(true)
                    && f.entity_type == label.entity_type
                    && f.start < label.end
                    && label.start < f.end
            });
            match hit {
                Some(k) => {
                    if let Some(u) = used.get_mut(k) {
                        *u = true;
                    }
                    score.true_positives += 1;
                    if found
                        .get(k)
                        .is_some_and(|f| f.start == label.start && f.end == label.end)
                    {
                        score.exact += 1;
                    }
                }
                None => score.false_negatives += 1,
            }
        }
        for (f, u) in found.iter().zip(&used) {
            if !u {
                if let Some(score) = scores.get_mut(f.entity_type.index()) {
                    score.false_positives += 1;
                }
            }
        }
    }
    for s in &mut scores {
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        s.precision = ratio(s.true_positives, s.true_positives + s.false_positives);
        s.recall = ratio(s.true_positives, s.support);
    }
    let mb = corpus.bytes as f64 / 1e6;
    let all_cores_mb_s = mb / multi.max(1e-9);
    Ok(EvalReport {
        corpus_bytes: corpus.bytes,
        lines: corpus.lines.len(),
        threads,
        single_thread_seconds: single,
        all_cores_seconds: multi,
        single_thread_mb_s: mb / single.max(1e-9),
        all_cores_mb_s,
        per_core_mb_s: all_cores_mb_s / threads as f64,
        findings: count,
        entities: scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::generate_corpus;
    use crate::AnalyzerConfig;

    /// The accuracy targets, on a 2 MB corpus.
    #[test]
    fn corpus_meets_accuracy_targets() {
        let analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let corpus = generate_corpus(2_000_000, 42);
        let report = evaluate(&analyzer, &corpus, 2).unwrap();
        eprintln!(
            "{} bytes, {} lines: {:.1} MB/s on one thread, {:.1} MB/s on {} threads",
            report.corpus_bytes,
            report.lines,
            report.single_thread_mb_s,
            report.all_cores_mb_s,
            report.threads
        );
        for e in &report.entities {
            eprintln!(
                "{:15} support {:6} tp {:6} fp {:5} fn {:5} exact {:6} precision {:.4} recall {:.4}",
                e.entity_type.as_str(), e.support, e.true_positives, e.false_positives,
                e.false_negatives, e.exact, e.precision, e.recall
            );
        }
        for t in [
            EntityType::CreditCard,
            EntityType::IbanCode,
            EntityType::UsSsn,
        ] {
            let e = report.entity(t).unwrap();
            assert!(e.support > 500, "{t}: {}", e.support);
            assert!(e.recall >= 0.99, "{t} recall {}", e.recall);
            assert!(e.precision >= 0.98, "{t} precision {}", e.precision);
        }
        for t in [EntityType::EmailAddress, EntityType::PhoneNumber] {
            let e = report.entity(t).unwrap();
            assert!(e.recall >= 0.95, "{t} recall {}", e.recall);
        }
        assert_eq!(
            report.findings,
            report
                .entities
                .iter()
                .map(|e| e.true_positives + e.false_positives)
                .sum::<usize>()
        );
    }

    #[test]
    fn bad_settings() {
        let analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let corpus = generate_corpus(1000, 1);
        assert!(evaluate(&analyzer, &corpus, 0).is_err());
        let empty = LabeledCorpus {
            lines: vec![],
            bytes: 0,
        };
        assert!(evaluate(&analyzer, &empty, 1).is_err());
    }
}
