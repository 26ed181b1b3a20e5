//! AdamW with PyTorch's decoupled weight decay (the exact update of `torch.optim.AdamW`) and
//! global-norm gradient clipping (as `torch.nn.utils.clip_grad_norm_`).

use candle_core::{Tensor, Var};

use crate::error::{Error, Result};

/// AdamW hyper-parameters; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// First and second moment estimates of one parameter.
#[derive(Debug, Clone)]
pub struct Moments {
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

/// AdamW over a fixed list of named variables.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    params: Vec<(String, Var)>,
    moments: Vec<Moments>,
    steps_taken: u64,
}

impl AdamW {
    /// An optimizer with zeroed moments for `params`.
    pub fn new(params: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        let moments = params
            .iter()
            .map(|(_, var)| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok(Moments {
                    exp_avg: zeros.clone(),
                    exp_avg_sq: zeros,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config,
            params,
            moments,
            steps_taken: 0,
        })
    }

    /// The named variables this optimizer updates, in order.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// The moment estimates, in the order of [`AdamW::params`].
    pub fn moments(&self) -> &[Moments] {
        &self.moments
    }

    /// How many updates were applied.
    pub fn steps_taken(&self) -> u64 {
        self.steps_taken
    }

    /// Restores moments and step count saved from an optimizer over the same parameters.
    pub fn restore(&mut self, moments: Vec<Moments>, steps_taken: u64) -> Result<()> {
        if moments.len() != self.params.len() {
            return Err(Error::Checkpoint(format!(
                "optimizer state has {} tensors, the model {} trainable ones",
                moments.len(),
                self.params.len()
            )));
        }
        for ((name, var), saved) in self.params.iter().zip(&moments) {
            for moment in [&saved.exp_avg, &saved.exp_avg_sq] {
                if moment.dims() != var.dims() {
                    return Err(Error::Checkpoint(format!(
                        "optimizer state of {name} has shape {:?}, expected {:?}",
                        moment.dims(),
                        var.dims()
                    )));
                }
            }
        }
        self.moments = moments;
        self.steps_taken = steps_taken;
        Ok(())
    }

    /// Applies one update with learning rate `lr`; `grads[i]` is the gradient of `params()[i]`.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        if grads.len() != self.params.len() {
            return Err(Error::Training(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            )));
        }
        self.steps_taken += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let step = self.steps_taken as f64;
        let step_size = lr / (1.0 - beta1.powf(step));
        let bias_correction2_sqrt = (1.0 - beta2.powf(step)).sqrt();
        for (((_, var), moments), grad) in self.params.iter().zip(&mut self.moments).zip(grads) {
            let mut param = var.as_detached_tensor();
            if weight_decay != 0.0 {
                param = param.affine(1.0 - lr * weight_decay, 0.0)?;
            }
            // exp_avg.lerp_(grad, 1 - beta1)
            let exp_avg =
                ((grad - &moments.exp_avg)?.affine(1.0 - beta1, 0.0)? + &moments.exp_avg)?;
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value = 1 - beta2)
            let exp_avg_sq =
                (moments.exp_avg_sq.affine(beta2, 0.0)? + grad.sqr()?.affine(1.0 - beta2, 0.0)?)?;
            let denom = exp_avg_sq
                .sqrt()?
                .affine(1.0 / bias_correction2_sqrt, eps)?;
            let update = (exp_avg.affine(step_size, 0.0)? / denom)?;
            var.set(&(param - update)?)?;
            *moments = Moments {
                exp_avg,
                exp_avg_sq,
            };
        }
        Ok(())
    }
}

/// The global L2 norm of `grads` taken together.
pub fn global_grad_norm(grads: &[Tensor]) -> Result<f64> {
    let mut sum_sq = 0f64;
    for grad in grads {
        sum_sq += f64::from(grad.sqr()?.sum_all()?.to_scalar::<f32>()?);
    }
    Ok(sum_sq.sqrt())
}

/// Scales `grads` so that their global norm is at most `max_norm`, as PyTorch does
/// (`max_norm / (norm + 1e-6)` when that is below one). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_grad_norm(grads)?;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for grad in grads.iter_mut() {
            *grad = grad.affine(coef, 0.0)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// One parameter, three steps, checked against the update computed by hand in f64.
    #[test]
    fn adamw_matches_pytorch_formula() {
        let device = Device::Cpu;
        let start = [0.5f32, -1.0, 2.0];
        let var = Var::from_slice(&start, 3, &device).unwrap();
        let config = AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(vec![("w".into(), var.clone())], config).unwrap();
        let grads = [[0.1f64, -0.2, 0.3], [0.05, 0.1, -0.4], [1.0, 0.0, 0.2]];
        let lr = 0.01;
        let mut p: Vec<f64> = start.iter().map(|&x| f64::from(x)).collect();
        let (mut m, mut v) = (vec![0f64; 3], vec![0f64; 3]);
        for (t, g) in grads.iter().enumerate() {
            let step = (t + 1) as f64;
            for i in 0..3 {
                p[i] *= 1.0 - lr * config.weight_decay;
                m[i] += (g[i] - m[i]) * (1.0 - config.beta1);
                v[i] = v[i] * config.beta2 + g[i] * g[i] * (1.0 - config.beta2);
                let denom = (v[i].sqrt() / (1.0 - config.beta2.powf(step)).sqrt()) + config.eps;
                p[i] -= lr / (1.0 - config.beta1.powf(step)) * m[i] / denom;
            }
            let g32: Vec<f32> = g.iter().map(|&x| x as f32).collect();
            let grad = Tensor::from_slice(&g32, 3, &device).unwrap();
            opt.step(&[grad], lr).unwrap();
        }
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        for (got, want) in got.iter().zip(&p) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(opt.steps_taken(), 3);
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let device = Device::Cpu;
        let mut grads = vec![
            Tensor::new(&[3f32, 0.0], &device).unwrap(),
            Tensor::new(&[4f32], &device).unwrap(),
        ];
        let norm = clip_grad_norm(&mut grads, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        assert!((global_grad_norm(&grads).unwrap() - 1.0).abs() < 1e-5);
        let untouched = clip_grad_norm(&mut grads, 10.0).unwrap();
        assert!((untouched - 1.0).abs() < 1e-5);
    }
}
