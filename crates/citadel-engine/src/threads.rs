//! Thread count of candle's CPU kernels. Unless `RAYON_NUM_THREADS` is set, candle 0.11 works the
//! core count out again on every matmul (reading `/proc/cpuinfo`), which costs a fifth of a
//! decoding step; fixing the variable once at model construction avoids that.

use std::sync::Once;

const VARIABLE: &str = "RAYON_NUM_THREADS";

/// Uses `threads` CPU threads for tensor kernels (call before the first tensor operation, as
/// rayon's pool is sized once).
pub fn set_num_threads(threads: usize) {
    std::env::set_var(VARIABLE, threads.max(1).to_string());
}

/// Pins the thread count to the available cores unless the user chose one.
pub(crate) fn ensure_configured() {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        if std::env::var_os(VARIABLE).is_none() {
            set_num_threads(std::thread::available_parallelism().map_or(1, usize::from));
        }
    });
}
