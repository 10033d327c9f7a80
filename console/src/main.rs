//! `console`: the operator console of the Mianzheng gateway (ratatui + crossterm): live
//! throughput, department health, objection queues and rollout by city (DESIGN.md §7).
//!
//! Not built yet: it needs the gateway's admin API for objections and rollout, which arrive
//! with the durable-state and console issues. Until then this binary says so and exits.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    eprintln!(
        "error: the operator console is not built yet; meanwhile the gateway's admin listener \
         serves /metrics, /livez and /readyz (see the README)"
    );
    std::process::ExitCode::from(2)
}
