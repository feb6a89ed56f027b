//! Helpers shared by the load generators `loadgen` (`scripts/bench-write`),
//! `readgen` and `lagprobe` (`scripts/bench-read`, `scripts/bench-kafka`,
//! BENCHMARKS.md): durations on the command line, the HTTP client, latency
//! percentiles, progress and JSON output, the commands of the write side, the
//! file of customer ids, and a sampler of another process's memory and CPU
//! time from `/proc`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use uuid::Uuid;

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

/// The HTTP client of a load generator: `pool` idle connections kept (one
/// per concurrent client), `timeout` per request, Nagle off.
pub fn http_client(timeout: Duration, pool: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")
}

/// Why a request got no answer: the kind of failure, then the error.
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_request() {
        "request"
    } else {
        "other"
    };
    format!("{kind}: {error}")
}

/// The two commands the write-side tools send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// `PUT /v1/customers/{id}/stage`.
    MoveStage,
    /// `POST /v1/customers/{id}/activities`.
    LogActivity,
}

impl CommandKind {
    pub fn name(self) -> &'static str {
        match self {
            CommandKind::MoveStage => "move_stage",
            CommandKind::LogActivity => "log_activity",
        }
    }
}

/// Prints to stderr, every `every` from `start`, the answers per second of the
/// interval (any status) and which part of the window it ends in.
pub async fn report_progress(
    answered: Arc<AtomicU64>,
    start: Instant,
    every: Duration,
    (measure_from, measure_until): (Instant, Instant),
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::from_std(start + every), every);
    let mut last = 0;
    loop {
        let tick = ticker.tick().await.into_std();
        let now = answered.load(Ordering::Relaxed);
        let phase = if tick <= measure_from {
            "warmup"
        } else if tick <= measure_until {
            "measured"
        } else {
            "tail"
        };
        eprintln!(
            "progress: {:>5.1} s  {:>8.1} answers/s  ({phase})",
            tick.duration_since(start).as_secs_f64(),
            (now - last) as f64 / every.as_secs_f64()
        );
        last = now;
    }
}

/// Prints `report` as one JSON line, and writes that line to `json_out` too.
pub fn print_json_line(report: &impl Serialize, json_out: Option<&Path>) -> anyhow::Result<()> {
    let line = serde_json::to_string(report).context("encoding the JSON result")?;
    println!("{line}");
    if let Some(path) = json_out {
        std::fs::write(path, format!("{line}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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

impl ProcSummary {
    /// `service pid …: VmRSS max … MiB (mean …, end …), VmHWM … MiB, CPU … s`.
    pub fn line(&self) -> String {
        format!(
            "service pid {}: VmRSS max {:.1} MiB (mean {:.1}, end {:.1}), VmHWM {:.1} MiB, CPU {:.1} s",
            self.pid, self.rss_max_mib, self.rss_mean_mib, self.rss_end_mib, self.hwm_end_mib, self.cpu_s
        )
    }
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

    /// A sampler of `pid` that starts at `at` (the start of a measured window).
    pub fn start_at(pid: u32, at: Instant, every: Duration) -> DelayedSampler {
        DelayedSampler(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            ProcSampler::start(pid, every)
        }))
    }

    pub async fn finish(self) -> Option<ProcSummary> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }
}

/// A [`ProcSampler`] waiting for its start (see [`ProcSampler::start_at`]).
pub struct DelayedSampler(tokio::task::JoinHandle<ProcSampler>);

impl DelayedSampler {
    /// Stops the sampler (waiting for its start first) and returns what it saw.
    pub async fn finish(self) -> Option<ProcSummary> {
        match self.0.await {
            Ok(started) => started.finish().await,
            Err(_) => None,
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The customer ids of a file written by `loadgen setup`, one per line, in
/// order (blank lines skipped).
pub fn read_ids(path: &Path) -> anyhow::Result<Vec<Uuid>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the ids from {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| Uuid::parse_str(line).with_context(|| format!("bad id `{line}`")))
        .collect()
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
        assert!(parse_duration("fast").is_err());
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
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), 50);
        assert_eq!(percentile(&sorted, 99.0), 99);
        assert_eq!(percentile(&sorted, 100.0), 100);
    }

    #[test]
    fn reads_its_own_process() {
        let reading = read_proc(std::process::id()).expect("/proc of this process");
        assert!(reading.rss_kib > 0);
        assert!(reading.hwm_kib >= reading.rss_kib);
    }
}
