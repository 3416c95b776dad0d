//! The `converra` binary: parse the command line, hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    converra_server::cli::run(converra_server::cli::Cli::parse())
}
