//! CPU time and memory of a process, from Linux's /proc: `utime` + `stime` (fields 14 and 15
//! of /proc/<pid>/stat, in clock ticks, all threads included) and `VmRSS` of
//! /proc/<pid>/status.

use std::time::Duration;

use anyhow::Context as _;

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// User + system CPU time since the process started.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub rss: u64,
}

/// Reads a process's CPU time and RSS.
pub fn sample(pid: u32, ticks_per_s: u64) -> anyhow::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(Sample {
        cpu: cpu_from_stat(&stat, ticks_per_s).context("parsing /proc/<pid>/stat")?,
        rss: rss_from_status(&status).context("no VmRSS in /proc/<pid>/status")?,
    })
}

/// `utime + stime`. The command name (field 2) may contain spaces and parentheses, so fields
/// are counted from the last `)`.
fn cpu_from_stat(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_micros(
        ticks * 1_000_000 / ticks_per_s.max(1),
    ))
}

fn rss_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time the whole machine spent busy (all CPUs: the `cpu` line of /proc/stat minus idle
/// and iowait). Compared with the server's and the driver's own time, it shows how much other
/// processes took while a phase ran.
pub fn machine_busy(ticks_per_s: u64) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    busy_from_proc_stat(&stat, ticks_per_s)
}

fn busy_from_proc_stat(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user]
    let busy: u64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(Duration::from_micros(busy * 1_000_000 / ticks_per_s.max(1)))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The soft and hard limits on open files of this process (/proc/self/limits).
pub fn open_files_limit() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    Some((nums.next()?, nums.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_after_a_command_name_with_spaces() {
        let stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(cpu_from_stat(stat, 100), Some(Duration::from_secs(3)));
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 1 50 9000 40 2 3 4 0 0\ncpu0 50 0 25 4500 20 1 1 2 0 0\n";
        assert_eq!(
            busy_from_proc_stat(stat, 100),
            Some(Duration::from_millis(1600))
        );
        assert!(machine_busy(ticks_per_second()).is_some());
    }

    #[test]
    fn reads_rss_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t   2048 kB\n";
        assert_eq!(rss_from_status(status), Some(2048 * 1024));
    }

    #[test]
    fn our_own_process_can_be_sampled() {
        let s = sample(std::process::id(), ticks_per_second()).unwrap();
        assert!(s.rss > 0);
        assert!(open_files_limit().is_some());
    }
}
