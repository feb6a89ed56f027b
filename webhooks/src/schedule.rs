//! When a failed delivery is tried again: a list of waits, one per retry.
//! After the attempt that follows the last wait fails, the delivery is a
//! dead letter. The default tries for about 24 hours.

use std::time::Duration;

/// `5s,30s,2m,10m,30m,1h,2h,4h,8h,8h`: eleven attempts over 23.7 hours.
pub const DEFAULT_SCHEDULE: &str = "5s,30s,2m,10m,30m,1h,2h,4h,8h,8h";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        // The constant parses; the fallback only keeps this infallible.
        DEFAULT_SCHEDULE
            .parse()
            .unwrap_or_else(|_| RetrySchedule(vec![Duration::from_secs(5)]))
    }
}

impl RetrySchedule {
    pub fn new(waits: Vec<Duration>) -> Self {
        RetrySchedule(waits)
    }

    /// The wait before the next attempt after `failed` attempts failed (1:
    /// the first); `None` when that was the last: the delivery is dead.
    pub fn wait_after(&self, failed: u32) -> Option<Duration> {
        let index = usize::try_from(failed).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }

    /// Every attempt, the first included.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// From the first attempt to the last.
    pub fn span(&self) -> Duration {
        self.0.iter().sum()
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = String;

    /// Comma-separated waits with a unit each: `ms`, `s`, `m`, `h`
    /// (`250ms,1s`); at most 50, each at most 24 h; empty: no retry.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(RetrySchedule(Vec::new()));
        }
        let waits = text
            .split(',')
            .map(|part| parse_wait(part.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if waits.len() > 50 {
            return Err("at most 50 retries".to_owned());
        }
        Ok(RetrySchedule(waits))
    }
}

fn parse_wait(part: &str) -> Result<Duration, String> {
    let split = part
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{part:?} needs a unit: ms, s, m or h (e.g. 30s)"))?;
    let (number, unit) = part.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{part:?} must start with a whole number"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {part:?}: use ms, s, m or h"
            ))
        }
    };
    let wait = number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{part:?} is too long"))?;
    if wait.is_zero() || wait > Duration::from_secs(86_400) {
        return Err(format!("{part:?} must be more than 0 and at most 24h"));
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tries_for_about_a_day() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 11);
        assert_eq!(schedule.wait_after(1), Some(Duration::from_secs(5)));
        assert_eq!(schedule.wait_after(10), Some(Duration::from_secs(8 * 3600)));
        assert_eq!(schedule.wait_after(11), None);
        assert_eq!(schedule.wait_after(0), None);
        let hours = schedule.span().as_secs_f64() / 3600.0;
        assert!((23.0..=24.5).contains(&hours), "{hours}");
    }

    #[test]
    fn schedules_parse_with_units() {
        let short: RetrySchedule = "250ms, 1s".parse().expect("schedule");
        assert_eq!(short.wait_after(1), Some(Duration::from_millis(250)));
        assert_eq!(short.wait_after(3), None);
        assert_eq!("".parse::<RetrySchedule>().expect("none").attempts(), 1);
        for bad in ["5", "5w", "0s", "25h", "s", "1s,,2s"] {
            assert!(bad.parse::<RetrySchedule>().is_err(), "{bad}");
        }
    }
}
