//! Helpers shared by the read-side tools `readgen` and `lagprobe`
//! (`scripts/bench-read`, BENCHMARKS.md "Read side"): durations on the command
//! line, latency percentiles, and a sampler of another process's memory and
//! CPU time from `/proc`.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// `5s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(split) => text.split_at(split),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 5s, 500ms or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Nearest-rank percentile of an ascending slice (0 when empty).
pub fn percentile(sorted: &[u64], pct: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Percentiles of a set of durations given in microseconds, reported in ms.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// Sorts `micros` and summarises it.
    pub fn of(micros: &mut [u64]) -> Latency {
        micros.sort_unstable();
        let ms = |value: u64| value as f64 / 1000.0;
        let sum: u128 = micros.iter().map(|&value| u128::from(value)).sum();
        Latency {
            count: micros.len(),
            p50_ms: ms(percentile(micros, 50.0)),
            p90_ms: ms(percentile(micros, 90.0)),
            p99_ms: ms(percentile(micros, 99.0)),
            max_ms: ms(micros.last().copied().unwrap_or(0)),
            mean_ms: if micros.is_empty() {
                0.0
            } else {
                sum as f64 / micros.len() as f64 / 1000.0
            },
        }
    }

    pub fn line(&self) -> String {
        format!(
            "n={:<8} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  mean {:>8.2} ms",
            self.count, self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.mean_ms
        )
    }
}

/// Microseconds of a duration, saturating.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One reading of a process from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcReading {
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set since the process started, KiB.
    pub hwm_kib: u64,
    /// User + system CPU time, clock ticks.
    pub cpu_ticks: u64,
}

/// Reads `pid`, or `None` when the process is gone or `/proc` is unreadable.
pub fn read_proc(pid: u32) -> Option<ProcReading> {
    let base = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(base.join("status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
    };
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at "state".
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after "state".
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ProcReading {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        cpu_ticks: utime + stime,
    })
}

/// Clock ticks per second for `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
pub const CLOCK_TICKS: f64 = 100.0;

/// What a [`ProcSampler`] saw of the service over a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcSummary {
    pub pid: u32,
    pub samples: usize,
    /// Highest VmRSS seen while sampling, MiB.
    pub rss_max_mib: f64,
    /// Mean VmRSS of the samples, MiB.
    pub rss_mean_mib: f64,
    /// VmRSS at the end of the window, MiB.
    pub rss_end_mib: f64,
    /// VmHWM at the end of the window (peak since the process started), MiB.
    pub hwm_end_mib: f64,
    /// CPU seconds the process used during the window.
    pub cpu_s: f64,
}

/// Samples a process every `every` until told to stop.
pub struct ProcSampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<ProcSummary>,
}

impl ProcSampler {
    pub fn start(pid: u32, every: Duration) -> ProcSampler {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let first = read_proc(pid);
            let mut summary = ProcSummary {
                pid,
                ..ProcSummary::default()
            };
            let mut sum_kib: u64 = 0;
            let mut last = first;
            loop {
                if let Some(reading) = read_proc(pid) {
                    summary.samples += 1;
                    sum_kib += reading.rss_kib;
                    summary.rss_max_mib = summary.rss_max_mib.max(mib(reading.rss_kib));
                    last = Some(reading);
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
            if let Some(reading) = read_proc(pid) {
                last = Some(reading);
                summary.rss_max_mib = summary.rss_max_mib.max(mib(reading.rss_kib));
            }
            if let Some(last) = last {
                summary.rss_end_mib = mib(last.rss_kib);
                summary.hwm_end_mib = mib(last.hwm_kib);
                if let Some(first) = first {
                    summary.cpu_s =
                        last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64 / CLOCK_TICKS;
                }
            }
            if summary.samples > 0 {
                summary.rss_mean_mib = mib(sum_kib) / summary.samples as f64;
            }
            summary
        });
        ProcSampler { stop, task }
    }

    pub async fn finish(self) -> Option<ProcSummary> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The first `max` characters of `text`.
pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<u64> = (1..=100).map(|v| v * 1000).collect();
        let latency = Latency::of(&mut values);
        assert_eq!(latency.p50_ms, 50.0);
        assert_eq!(latency.p99_ms, 99.0);
        assert_eq!(latency.max_ms, 100.0);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 99.0), 7);
    }

    #[test]
    fn reads_its_own_process() {
        let reading = read_proc(std::process::id()).expect("/proc of this process");
        assert!(reading.rss_kib > 0);
        assert!(reading.hwm_kib >= reading.rss_kib);
    }
}
