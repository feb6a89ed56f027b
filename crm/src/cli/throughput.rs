//! The closing line of catch-up runs (`--until-caught-up`): how many events in
//! how long, the figure benchmarks compare.

/// Prints a count and its rate from `started` to `finished` (default: now).
pub(super) fn report_rate(
    what: &str,
    events: u64,
    started: std::time::Instant,
    finished: Option<std::time::Instant>,
) {
    let seconds = finished
        .unwrap_or_else(std::time::Instant::now)
        .saturating_duration_since(started)
        .as_secs_f64();
    println!(
        "{what} {events} events in {seconds:.2} s ({:.0} events/s)",
        events as f64 / seconds.max(1e-9)
    );
}
