//! Training-friendly allocator settings, applied by executing the command again in place
//! (mimalloc reads its options from the environment only at start, and `unsafe` is denied
//! here).

use std::process::Command;

/// mimalloc (the binary's allocator) returns freed memory to the kernel 10 ms after it is freed
/// by default. A training step frees hundreds of megabytes of activations that the next step
/// allocates again, and paid page faults and kernel page zeroing for all of them: a fifth of
/// GPT-2 training throughput here. Keeping freed memory makes the peak resident size the steady
/// one, which a training run has anyway.
const PURGE_DELAY: (&str, &str) = ("MIMALLOC_PURGE_DELAY", "-1");

/// Replaces this process with the same command under [`PURGE_DELAY`] (read at start only),
/// unless the variable is already set. The process keeps its id, so signals (a SIGKILL of a
/// training run) reach the process doing the work. Returns only when the caller should do the
/// work itself.
pub fn relaunch_for_training() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let (name, value) = PURGE_DELAY;
    if std::env::var_os(name).is_some() {
        return Ok(());
    }
    let err = Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(name, value)
        .exec();
    Err(anyhow::Error::new(err).context("cannot restart with training allocator settings"))
}
