//! Learning-rate schedules: linear warm-up, then constant, linear or cosine decay to zero
//! (the formulas of Hugging Face's `get_*_schedule_with_warmup`).

use std::f64::consts::PI;
use std::str::FromStr;

use crate::error::Error;

/// How the learning rate decays after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Constant,
    Linear,
    Cosine,
}

impl FromStr for Decay {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "constant" => Ok(Self::Constant),
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            other => Err(Error::InvalidArgument(format!(
                "unknown schedule {other:?}: use constant, linear or cosine"
            ))),
        }
    }
}

/// A learning-rate schedule over `total_steps` optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub base_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub decay: Decay,
}

impl Schedule {
    /// The learning rate of the update made after `step` earlier updates.
    pub fn lr_at(&self, step: u64) -> f64 {
        let step = step as f64;
        let warmup = self.warmup_steps as f64;
        if step < warmup {
            return self.base_lr * step / warmup.max(1.0);
        }
        let decay_steps = (self.total_steps as f64 - warmup).max(1.0);
        let progress = (step - warmup) / decay_steps;
        let factor = match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear => (1.0 - progress).max(0.0),
            Decay::Cosine => (0.5 * (1.0 + (PI * progress).cos())).max(0.0),
        };
        self.base_lr * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(decay: Decay) -> Schedule {
        Schedule {
            base_lr: 1.0,
            warmup_steps: 2,
            total_steps: 10,
            decay,
        }
    }

    #[test]
    fn warmup_then_decay() {
        for decay in [Decay::Constant, Decay::Linear, Decay::Cosine] {
            let s = schedule(decay);
            assert_eq!(s.lr_at(0), 0.0);
            assert_eq!(s.lr_at(1), 0.5);
            assert_eq!(s.lr_at(2), 1.0);
        }
        assert_eq!(schedule(Decay::Constant).lr_at(9), 1.0);
        assert!((schedule(Decay::Linear).lr_at(6) - 0.5).abs() < 1e-12);
        assert!((schedule(Decay::Cosine).lr_at(6) - 0.5).abs() < 1e-12);
        assert_eq!(schedule(Decay::Linear).lr_at(10), 0.0);
        assert!(schedule(Decay::Cosine).lr_at(10).abs() < 1e-12);
    }

    #[test]
    fn parses_names() {
        assert_eq!("cosine".parse::<Decay>().unwrap(), Decay::Cosine);
        assert!("step".parse::<Decay>().is_err());
    }
}
