//! The process's own resource figures for run tracking: CPU seconds and peak resident memory.

use rustix::time::{clock_gettime, ClockId};

/// CPU seconds this process has used, on every thread.
pub(crate) fn cpu_seconds() -> f64 {
    let spec = clock_gettime(ClockId::ProcessCPUTime);
    spec.tv_sec as f64 + spec.tv_nsec as f64 / 1e9
}

/// Peak resident memory in MiB (`VmHWM` of `/proc/self/status`), where the system reports it.
pub(crate) fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// The host name runs record as their owner (to tell a dead owner from a live one).
pub(crate) fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Whether a process with this id is alive on this host.
pub(crate) fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_plausible() {
        let before = cpu_seconds();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu_seconds() >= before);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mib().is_some_and(|m| m > 0));
            assert!(process_alive(std::process::id()));
        }
        assert!(!host_name().is_empty());
    }
}
