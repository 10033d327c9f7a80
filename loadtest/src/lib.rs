//! `loadtest`: the load generator of Mianzheng. It mints valid codes for a
//! synthetic population ahead of time, mixes scenarios and bad inputs, drives the gateway
//! open-loop (latency from the intended send time) or closed-loop, checks every answer against
//! what its request expects, and reports HDR percentiles and a breakdown of outcomes as text
//! or JSON. `baseline` is a bare hyper server with the same response size; `compare` loads both
//! in one run and reports the servers' CPU time per request from `/proc`.
//!
//! The modules, in the order a run uses them:
//!
//! - [`cli`] — the flags (`-c -n -z -q --json`, `--mix --population --zipf --profile --bad`)
//!   and their validation into a [`cli::LoadPlan`].
//! - [`population`] — holders of the synthetic population who pass a scenario today (by the
//!   gateway's own decision stage), and the Zipf-skewed choice among them.
//! - [`workload`] — the mix, the request plan with its bad inputs, replays and venues, and each request's
//!   expectation and how an answer is checked against it.
//! - [`venues`] — `--venues N`: venues registered through the admin API for a run, and
//!   deleted after it.
//! - [`codes`] — pre-minting the plan into ready request bodies (every code works once; a
//!   replay sends an earlier request's code again).
//! - [`feed`] — a phase's requests: a pool minted before it, or parts minted as it goes
//!   (`soak`).
//! - [`driver`] — the HTTP/1.1 and HTTP/2 client connections, the open and closed loops, and
//!   the collector that receives every result as a value over a channel.
//! - [`stats`] — samples, HDR histograms and counters, and the summary: pure functions.
//! - [`report`] — the text and JSON reports (the JSON schema is documented there).
//! - [`run`] — the default command, and the workload preparation `compare` shares.
//! - [`baseline`] — `loadtest baseline`: the bare server, the HTTP layer's ceiling.
//! - [`servers`] — the gateway or baseline a measurement starts as a child process (and
//!   stops), or a running one by address and pid.
//! - [`compare`] — `loadtest compare`: baseline and gateway (with the audit trail on, off, or
//!   one of each) as child processes, the same load at each, CPU per request, the ratios.
//! - [`overload`] — `loadtest overload`: saturation, half of it, then twice it; how much is
//!   shed, how fast, and how the admitted fare, against the goals.
//! - [`soak`] — `loadtest soak`: a long steady run with the gateway's memory, sockets and
//!   latency sampled, charted (terminal and SVG), and a verdict on the memory's slope.
//! - [`memory`] — `loadtest memory`: the record cache filled through an `issuer` process, the
//!   gateway's RSS read as it fills, and its bytes per cached record.
//! - [`postgres`] — a fresh PostgreSQL schema per gateway `compare` starts, and the CPU time
//!   of the server's backends serving it.
//! - [`procstat`] — CPU time from `/proc/<pid>/stat`, clock ticks, pinning, the machine.

pub mod baseline;
pub mod cli;
pub mod codes;
pub mod compare;
pub mod driver;
pub mod feed;
pub mod memory;
pub mod overload;
pub mod population;
pub mod postgres;
pub mod procstat;
pub mod report;
pub mod run;
pub mod servers;
pub mod soak;
pub mod stats;
pub mod venues;
pub mod workload;

use std::process::ExitCode;

/// Runs a parsed command line: 0 when the run completed and every expectation held, 1 when
/// one failed, 2 on a usage or setup error (printed on stderr).
pub fn main(cli: cli::Cli) -> ExitCode {
    let result = match &cli.command {
        None => run::run(&cli.run),
        Some(cli::Command::Baseline(args)) => baseline::run(args).map(|()| ExitCode::SUCCESS),
        Some(cli::Command::Compare(args)) => compare::run(args),
        Some(cli::Command::Overload(args)) => overload::run(args),
        Some(cli::Command::Soak(args)) => soak::run(args),
        Some(cli::Command::Memory(args)) => memory::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
