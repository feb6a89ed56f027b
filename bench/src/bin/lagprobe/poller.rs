//! The PostgreSQL side of the lag probe: polls of `projection_checkpoints`,
//! the events' commit transactions, and when a checkpoint first covers an
//! event.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::PgConnection;
use tokio::sync::watch;

/// A checkpoint pair `(tx, global_position)`.
pub type Point = (u64, i64);

/// One poll of `projection_checkpoints`.
#[derive(Clone, Copy)]
pub struct Observation {
    pub sent: Instant,
    pub at: Instant,
    pub customers: Point,
    pub timeline: Point,
}

/// Ticks every `every` (a late tick delays the next ones) until `stop` changes.
pub struct Ticker {
    interval: tokio::time::Interval,
    stop: watch::Receiver<bool>,
}

impl Ticker {
    pub fn new(every: Duration, stop: watch::Receiver<bool>) -> Ticker {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker { interval, stop }
    }

    /// Waits for the next tick; `false` once told to stop.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = self.stop.changed() => false,
            _ = self.interval.tick() => true,
        }
    }
}

/// Polls the checkpoints until told to stop; returns every observation.
pub async fn poll_checkpoints(
    mut connection: PgConnection,
    every: Duration,
    stop: watch::Receiver<bool>,
    latest: watch::Sender<Option<Observation>>,
) -> anyhow::Result<Vec<Observation>> {
    let mut observations = Vec::with_capacity(16_384);
    let mut ticker = Ticker::new(every, stop);
    while ticker.tick().await {
        let sent = Instant::now();
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT name, tx::text, position FROM projection_checkpoints")
                .fetch_all(&mut connection)
                .await
                .context("reading projection_checkpoints")?;
        let at = Instant::now();
        let mut points: HashMap<String, Point> = HashMap::new();
        for (name, tx, position) in rows {
            let tx: u64 = tx
                .parse()
                .with_context(|| format!("checkpoint {name} has tx {tx:?}"))?;
            points.insert(name, (tx, position));
        }
        let (Some(customers), Some(timeline)) = (
            points.get("customers").copied(),
            points.get("timeline").copied(),
        ) else {
            bail!("projection_checkpoints lacks the customers or timeline row");
        };
        let observation = Observation {
            sent,
            at,
            customers,
            timeline,
        };
        observations.push(observation);
        let _ = latest.send(Some(observation));
    }
    Ok(observations)
}

/// The commit transaction of each event at `positions` (those found).
pub async fn event_transactions(
    connection: &mut PgConnection,
    positions: &[i64],
) -> anyhow::Result<HashMap<i64, u64>> {
    let mut tx_of: HashMap<i64, u64> = HashMap::with_capacity(positions.len());
    for chunk in positions.chunks(10_000) {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT global_position, tx::text FROM events WHERE global_position = ANY($1)",
        )
        .bind(chunk)
        .fetch_all(&mut *connection)
        .await
        .context("reading the events' transactions")?;
        for (position, tx) in rows {
            let tx: u64 = tx
                .parse()
                .with_context(|| format!("event {position} has tx {tx:?}"))?;
            tx_of.insert(position, tx);
        }
    }
    Ok(tx_of)
}

/// When `point` first shows in `pick(observation)` among the observations
/// arriving at or after `t0`: the arrival instant of that poll.
pub fn visible_at(
    observations: &[Observation],
    t0: Instant,
    point: Point,
    pick: impl Fn(&Observation) -> Point,
) -> Option<Instant> {
    let from = observations.partition_point(|observation| observation.at < t0);
    let later = &observations[from..];
    // Checkpoints only move forward, so the covered polls form a suffix.
    let first = later.partition_point(|observation| pick(observation) < point);
    later.get(first).map(|observation| observation.at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_is_the_first_covering_poll_after_the_answer() {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        let observation = |ms: u64, position: i64| Observation {
            sent: at(ms.saturating_sub(1)),
            at: at(ms),
            customers: (10, position),
            timeline: (10, position),
        };
        let polls = [
            observation(0, 1),
            observation(5, 1),
            observation(10, 3),
            observation(15, 7),
        ];
        let pick = |o: &Observation| o.customers;
        // Answered at 4 ms, applied by the poll of 10 ms.
        assert_eq!(visible_at(&polls, at(4), (10, 3), pick), Some(at(10)));
        // Already applied when answered: the next poll.
        assert_eq!(visible_at(&polls, at(6), (10, 2), pick), Some(at(10)));
        // A later transaction with a lower position is not covered by (10, 7).
        assert_eq!(visible_at(&polls, at(0), (11, 5), pick), None);
        // An earlier transaction with a higher position is.
        assert_eq!(visible_at(&polls, at(0), (9, 100), pick), Some(at(0)));
    }
}
