//! The machine the figures come from (cores, memory, CPU model, load) and a process's memory,
//! all read from Linux's `/proc`. Elsewhere the fields stay unknown and the benchmark still runs.

/// The machine the figures come from.
pub struct Machine {
    pub cores: usize,
    pub memory: Option<u64>,
    pub cpu: Option<String>,
    /// Load averages (1, 5 and 15 minutes) when the benchmark started and when it ended: other
    /// work on the machine skews the figures.
    pub load_start: Option<String>,
    pub load_end: Option<String>,
}

impl Machine {
    pub fn detect() -> Machine {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Machine {
            cores,
            memory: mem_total(&read("/proc/meminfo")),
            cpu: cpu_model(&read("/proc/cpuinfo")),
            load_start: load_average(),
            load_end: None,
        }
    }

    /// `2 cores (AMD EPYC 7B13), 23.5 GiB RAM, linux x86_64`.
    pub fn summary(&self) -> String {
        format!(
            "{} cores{}, {} RAM, {} {}",
            self.cores,
            self.cpu
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            self.memory
                .map(|m| format!("{:.1} GiB", m as f64 / (1u64 << 30) as f64))
                .unwrap_or("unknown".into()),
            std::env::consts::OS,
            std::env::consts::ARCH,
        )
    }

    /// `load average (1/5/15 min) 1.40 1.20 0.90 at start, 2.00 1.50 1.00 at end`.
    pub fn load(&self) -> String {
        format!(
            "load average (1/5/15 min) {} at start, {} at end",
            self.load_start.as_deref().unwrap_or("?"),
            self.load_end.as_deref().unwrap_or("?"),
        )
    }
}

/// The 1, 5 and 15-minute load averages, e.g. `1.40 1.20 0.90`.
pub fn load_average() -> Option<String> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn parse_loadavg(text: &str) -> Option<String> {
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemTotal").map(|kib| kib * 1024)
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// A `Name:   1234 kB` line of a `/proc` file, in KiB.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory of a process, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessMemory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most it has been resident (the peak).
    pub peak: u64,
}

/// The memory of process `pid` from `/proc/PID/status`.
pub fn process_memory(pid: u32) -> Option<ProcessMemory> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_status(status: &str) -> Option<ProcessMemory> {
    Some(ProcessMemory {
        rss: kib_field(status, "VmRSS")? * 1024,
        peak: kib_field(status, "VmHWM")? * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_by_field_name() {
        let status =
            "Name:\tthreadline\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(
            parse_status(status),
            Some(ProcessMemory {
                rss: 40 << 20,
                peak: 50 << 20
            })
        );
        assert_eq!(parse_status("Name:\tkthreadd\n"), None);
        assert_eq!(
            mem_total("MemTotal:       24641536 kB\nMemFree: 1 kB\n"),
            Some(24641536 * 1024)
        );
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(
            parse_loadavg("1.40 1.20 0.90 3/512 4242\n").as_deref(),
            Some("1.40 1.20 0.90")
        );
    }
}
