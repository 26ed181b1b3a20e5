//! Thread counts of candle's CPU kernels, fixed once at model construction:
//! - matmuls run on rayon's pool (`RAYON_NUM_THREADS`). Unless that variable is set, candle 0.11
//!   works the core count out again on every matmul (reading `/proc/cpuinfo`), which costs a
//!   fifth of a decoding step.
//! - large element-wise ops run on candle's own spinning barrier pool (`CANDLE_NUM_THREADS`).
//!   When the cores are shared with other work its spin-waits tripled the backward pass, so
//!   element-wise ops default to the calling thread.

use std::sync::Once;

const MATMUL_THREADS: &str = "RAYON_NUM_THREADS";
const ELEMENTWISE_THREADS: &str = "CANDLE_NUM_THREADS";

/// Uses `threads` CPU threads for matmuls (call before the first tensor operation: the pool is
/// sized once).
pub fn set_num_threads(threads: usize) {
    std::env::set_var(MATMUL_THREADS, threads.max(1).to_string());
}

/// Applies the defaults above to whichever variable the user did not set.
pub(crate) fn ensure_configured() {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        if std::env::var_os(MATMUL_THREADS).is_none() {
            set_num_threads(std::thread::available_parallelism().map_or(1, usize::from));
        }
        if std::env::var_os(ELEMENTWISE_THREADS).is_none() {
            std::env::set_var(ELEMENTWISE_THREADS, "1");
        }
    });
}
