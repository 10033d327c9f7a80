//! What a process costs and where it runs: CPU time (user + system, all threads) from
//! `/proc/<pid>/stat` in clock ticks, the tick rate (`sysconf(_SC_CLK_TCK)`), pinning this
//! process to one CPU (`sched_setaffinity`), and a description of the machine for reports.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::{sysconf, Pid, SysconfVar};
use serde::{Deserialize, Serialize};

/// CPU time a process has used, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.user + self.system
    }

    /// The ticks used between `earlier` and `self`.
    pub fn since(self, earlier: CpuTicks) -> CpuTicks {
        CpuTicks {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The second field, the
/// command name, is in parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(line: &str) -> Result<CpuTicks> {
    let after = line
        .rfind(')')
        .map(|i| &line[i + 1..])
        .context("no `)` closing the command name")?;
    // After the name: field 3 (state) is the first; utime is field 14, stime field 15.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .with_context(|| format!("only {} fields", fields.len() + 2))?
            .parse()
            .with_context(|| format!("field {n} is not a number"))
    };
    Ok(CpuTicks {
        user: field(14)?,
        system: field(15)?,
    })
}

/// The CPU time of process `pid` so far.
pub fn read(pid: u32) -> Result<CpuTicks> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading `{path}`"))?;
    parse_stat(&text).with_context(|| format!("parsing `{path}`"))
}

/// The CPU time of this process so far.
pub fn read_self() -> Result<CpuTicks> {
    read(std::process::id())
}

/// Clock ticks per second of `/proc` times (`_SC_CLK_TCK`, 100 on Linux).
pub fn ticks_per_sec() -> u64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(n)) if n > 0 => n as u64,
        _ => 100,
    }
}

/// `ticks` as a duration.
pub fn ticks_to_duration(ticks: u64, per_sec: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / per_sec.max(1) as f64)
}

/// Pins the calling thread — and so every thread it starts afterwards — to `cpu`. Call it
/// before starting the runtime.
pub fn pin_self(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .with_context(|| format!("CPU {cpu} is out of range"))?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .with_context(|| format!("pinning this process to CPU {cpu}"))?;
    Ok(())
}

/// The machine a figure comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs this process may use when it starts (`nproc`).
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo (what `lscpu` shows as "Model name").
    pub cpu_model: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
        }
    }
}

/// The resident memory of process `pid` (`VmRSS` of /proc/<pid>/status), in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_rss(&text).with_context(|| format!("no `VmRSS` line in {path}"))
}

fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The sockets process `pid` holds open (its connections, listeners and store connections):
/// the entries of /proc/<pid>/fd that are sockets.
pub fn sockets(pid: u32) -> Result<usize> {
    let path = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&path).with_context(|| format!("reading {path}"))?;
    Ok(entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count())
}

/// Checks that pinning to CPUs 0 and 1 can work here: two CPUs, and `taskset` to pin the
/// servers.
pub fn check_pinnable(machine: &Machine) -> Result<()> {
    if machine.cpus < 2 {
        bail!(
            "`--pin` needs two CPUs (the server on 0, the generator on 1); this process may use {}",
            machine.cpus
        );
    }
    let taskset = std::process::Command::new("taskset")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !taskset.is_ok_and(|s| s.success()) {
        bail!("`--pin` needs `taskset` (util-linux) to pin the servers");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = "4242 (gateway) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 52 0 0 20 0 5 0 99 1000 200 18446744073709551615";
        assert_eq!(
            parse_stat(line).expect("parses"),
            CpuTicks {
                user: 731,
                system: 52
            }
        );
        let odd = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 17 4 0 0 20 0 1 0 5 0 0";
        assert_eq!(
            parse_stat(odd).expect("parses"),
            CpuTicks {
                user: 17,
                system: 4
            }
        );
        assert!(parse_stat("7 (short) R 1 2").is_err());
        assert!(parse_stat("no parenthesis").is_err());
        let before = CpuTicks {
            user: 10,
            system: 5,
        };
        let after = CpuTicks {
            user: 110,
            system: 25,
        };
        assert_eq!(after.since(before).total(), 120);
    }

    #[test]
    fn resident_memory_is_read_in_bytes_and_sockets_are_counted() {
        let status = "Name:\tgateway\nVmPeak:\t  900 kB\nVmRSS:\t   81234 kB\nThreads:\t5\n";
        assert_eq!(parse_rss(status), Some(81_234 * 1024));
        assert_eq!(parse_rss("Name:\tkernel-thread\n"), None);
        assert!(rss_bytes(std::process::id()).expect("own status") > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let before = sockets(std::process::id()).expect("own fds");
        let again = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        assert_eq!(sockets(std::process::id()).expect("own fds"), before + 1);
        drop((listener, again));
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_tick_rate() {
        let t = read_self().expect("own stat");
        assert!(t.total() < u64::MAX);
        assert!(ticks_per_sec() >= 1);
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        let m = Machine::describe();
        assert!(m.cpus >= 1);
        assert!(!m.cpu_model.is_empty());
    }
}
