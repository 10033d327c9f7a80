//! `console`: the operator console of the Mianzheng gateway. Parses the flags and hands over to
//! [`console::run`]; see `lib.rs` for the module map.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = console::cli::Args::parse();
    match console::run::main(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
