//! The `citadel` command line: parses arguments and dispatches to one module per command group.

mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cmd::logging::init();
    let cli = cmd::Cli::parse();
    cmd::run(cli)
}
