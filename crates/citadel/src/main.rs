//! The `citadel` command line: parses arguments and dispatches to one module per command group.

mod cmd;

use clap::Parser;

/// The gateway allocates on every request on every core, where glibc's allocator spent a tenth of
/// its CPU time in the load benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cmd::logging::init();
    let cli = cmd::Cli::parse();
    cmd::run(cli)
}
