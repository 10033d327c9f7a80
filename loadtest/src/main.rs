//! `loadtest`: see the library's module map (`src/lib.rs`).

use std::process::ExitCode;

use clap::Parser as _;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    loadtest::main(loadtest::cli::Cli::parse())
}
