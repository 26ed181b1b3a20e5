//! Choosing the next token from logits: repetition penalty, suppressed tokens, then greedy
//! argmax or seeded sampling with temperature, top-k and top-p (the order transformers uses).

use rand::{Rng, SeedableRng};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 means greedy decoding.
    pub temperature: f64,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p`.
    pub top_p: Option<f64>,
    /// Penalty (> 1 discourages) on tokens already in the prompt or the output, as in CTRL.
    pub repetition_penalty: f32,
    /// Seed of the sampling generator.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

/// A seeded token chooser.
#[derive(Debug)]
pub(crate) struct Sampler {
    params: SamplingParams,
    rng: rand::rngs::StdRng,
}

impl Sampler {
    pub(crate) fn new(params: &SamplingParams) -> Self {
        Self {
            params: params.clone(),
            rng: rand::rngs::StdRng::seed_from_u64(params.seed),
        }
    }

    /// Picks a token from `logits`, given the ids seen so far and ids that must not be chosen.
    pub(crate) fn next(&mut self, logits: &mut [f32], seen: &[u32], suppressed: &[u32]) -> u32 {
        let penalty = self.params.repetition_penalty;
        if penalty != 1.0 {
            let mut done = std::collections::HashSet::new();
            for &id in seen {
                if let Some(l) = logits.get_mut(id as usize).filter(|_| done.insert(id)) {
                    *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
                }
            }
        }
        for &id in suppressed {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if self.params.temperature <= 0.0 {
            return argmax(logits);
        }
        self.sample(logits)
    }

    fn sample(&mut self, logits: &[f32]) -> u32 {
        let inv_t = 1.0 / self.params.temperature;
        let mut candidates: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, f64::from(l) * inv_t))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        if let Some(k) = self.params.top_k.filter(|&k| k > 0) {
            candidates.truncate(k);
        }
        let max = candidates.first().map_or(0.0, |c| c.1);
        let mut total = 0.0;
        for c in &mut candidates {
            c.1 = (c.1 - max).exp();
            total += c.1;
        }
        if let Some(p) = self.params.top_p.filter(|&p| p < 1.0) {
            let mut cumulative = 0.0;
            let keep = candidates
                .iter()
                .position(|c| {
                    cumulative += c.1 / total;
                    cumulative >= p
                })
                .map_or(candidates.len(), |i| i + 1);
            candidates.truncate(keep);
            total = candidates.iter().map(|c| c.1).sum();
        }
        let mut target = self.rng.gen::<f64>() * total;
        for &(id, weight) in &candidates {
            target -= weight;
            if target <= 0.0 {
                return id;
            }
        }
        candidates.last().map_or(0, |c| c.0)
    }
}

/// Index of the largest value (the first one on ties, as `torch.argmax`).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(&SamplingParams::default());
        assert_eq!(s.next(&mut [0.1, 3.0, 3.0, -1.0], &[], &[]), 1);
        assert_eq!(s.next(&mut [0.1, 3.0, 3.0, -1.0], &[], &[1]), 2);
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let mut s = Sampler::new(&SamplingParams {
            repetition_penalty: 2.0,
            ..Default::default()
        });
        assert_eq!(s.next(&mut [1.0, 1.5, 0.0], &[1, 1], &[]), 0);
    }

    #[test]
    fn top_k_one_is_greedy_and_seeded_sampling_repeats() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: Some(1),
            seed: 3,
            ..Default::default()
        };
        let mut s = Sampler::new(&params);
        assert_eq!(s.next(&mut [0.0, 2.0, 1.0], &[], &[]), 1);
        let params = SamplingParams {
            temperature: 1.0,
            top_p: Some(0.9),
            seed: 7,
            ..Default::default()
        };
        let draw = |params: &SamplingParams| {
            let mut s = Sampler::new(params);
            (0..20)
                .map(|_| s.next(&mut [1.0, 1.0, 1.0, 1.0], &[], &[]))
                .collect::<Vec<_>>()
        };
        let first = draw(&params);
        assert_eq!(first, draw(&params));
        assert!(
            first.iter().any(|&t| t != first[0]),
            "sampling should vary: {first:?}"
        );
    }
}
