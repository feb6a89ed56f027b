//! The report of the lag probe: what the commands came to and how long their
//! events took to become visible, printed for people and as one JSON line.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bench::{micros, Latency, ProcSummary};
use serde::Serialize;
use uuid::Uuid;

use crate::cli::Cli;
use crate::kafka;
use crate::load::Sent;
use crate::poller::{visible_at, Observation, Point};

#[derive(Serialize)]
struct LagSummary {
    /// Measured commands whose event became visible before the probe stopped.
    visible: usize,
    /// Measured commands whose event never showed (before the settle timeout).
    not_visible: usize,
    lag: Latency,
}

#[derive(Serialize)]
pub struct Report {
    tenant: Uuid,
    customers: usize,
    rate_target: f64,
    warmup_s: f64,
    duration_s: f64,
    poll_interval_ms: f64,
    /// Commands the schedule released (warmup and measured).
    scheduled: u64,
    /// Commands answered inside the measured window.
    measured: usize,
    ok: usize,
    non_2xx: usize,
    /// No HTTP answer.
    failed: usize,
    /// 2xx answers inside the measured window per second.
    achieved_rate: f64,
    /// Measured commands by kind.
    kinds: BTreeMap<&'static str, usize>,
    statuses: BTreeMap<String, usize>,
    /// Send time minus scheduled time (the generator or the in-flight cap falling behind).
    send_delay: Latency,
    /// Command round trip (sent to answer).
    command_latency: Latency,
    most_in_flight: usize,
    /// Customers passed over because a command was still in flight for them.
    skipped_busy: u64,
    /// Lag until the `customers` projection (list, search, detail, funnel) includes the event.
    lag_customers: LagSummary,
    /// Lag until the `timeline` projection includes it.
    lag_timeline: LagSummary,
    /// Lag until both include it.
    lag_both: LagSummary,
    /// From the answer to the event's arrival on the Kafka topic.
    lag_kafka: Option<LagSummary>,
    /// From the answer to a Kafka-fed projector having applied it.
    lag_kafka_projector: Option<LagSummary>,
    polls: usize,
    /// Mean time between polls, ms.
    poll_mean_interval_ms: f64,
    /// Poll round trip (query sent to rows received).
    poll_round_trip: Latency,
    settled: bool,
    /// From the last answer to the end of polling.
    settle_s: f64,
    process: Option<ProcSummary>,
    errors_sample: Vec<String>,
}

pub struct ReportInput<'a> {
    pub commands: &'a [Sent],
    pub tx_of: &'a HashMap<i64, u64>,
    pub observations: &'a [Observation],
    pub window: (Instant, Instant),
    pub scheduled: u64,
    pub skipped_busy: u64,
    pub settled: bool,
    pub settle_s: f64,
    pub process: Option<ProcSummary>,
    pub customers: usize,
    pub arrivals: Option<&'a HashMap<i64, kafka::Arrival>>,
    pub offsets: Option<&'a [kafka::OffsetObservation]>,
}

impl Report {
    pub fn new(cli: &Cli, input: ReportInput<'_>) -> Report {
        let (from, until) = input.window;
        let measured: Vec<&Sent> = input
            .commands
            .iter()
            .filter(|command| command.answered >= from && command.answered <= until)
            .collect();
        let ok = measured
            .iter()
            .filter(|c| c.status.is_some_and(|s| (200..300).contains(&s)))
            .count();
        let failed = measured.iter().filter(|c| c.status.is_none()).count();
        let mut kinds = BTreeMap::new();
        let mut statuses = BTreeMap::new();
        for command in &measured {
            *kinds.entry(command.kind.name()).or_default() += 1;
            let status = command
                .status
                .map_or_else(|| "none".to_owned(), |s| s.to_string());
            *statuses
                .entry(format!("{} {status}", command.kind.name()))
                .or_default() += 1;
        }
        let mut send_delay: Vec<u64> = measured
            .iter()
            .map(|c| micros(c.sent.saturating_duration_since(c.scheduled)))
            .collect();
        let mut round_trip: Vec<u64> = measured
            .iter()
            .map(|c| micros(c.answered.duration_since(c.sent)))
            .collect();

        // Until a projection's checkpoint covers the event (its transaction unknown: never).
        let projection_lag = |seen: &dyn Fn(Instant, Point) -> Option<Instant>| {
            lag_summary(&measured, |command, position| {
                let tx = input.tx_of.get(&position)?;
                seen(command.answered, (*tx, position))
            })
        };
        let customers =
            |t0: Instant, point: Point| visible_at(input.observations, t0, point, |o| o.customers);
        let timeline =
            |t0: Instant, point: Point| visible_at(input.observations, t0, point, |o| o.timeline);
        let lag_customers = projection_lag(&customers);
        let lag_timeline = projection_lag(&timeline);
        let lag_both = projection_lag(&|t0, point| {
            customers(t0, point)
                .zip(timeline(t0, point))
                .map(|(a, b)| a.max(b))
        });
        // Until the event is on the topic, or with `applied` until the group's offsets cover it.
        let through_kafka = |applied: Option<&[kafka::OffsetObservation]>| {
            let arrivals = input.arrivals?;
            Some(lag_summary(&measured, |command, position| {
                let arrival = arrivals.get(&position)?;
                match applied {
                    None => Some(arrival.at.max(command.answered)),
                    Some(observations) => {
                        kafka::applied_at(observations, command.answered, arrival)
                    }
                }
            }))
        };
        let lag_kafka = through_kafka(None);
        let lag_kafka_projector = input
            .offsets
            .and_then(|offsets| through_kafka(Some(offsets)));

        let polls = input.observations.len();
        let poll_mean_interval_ms = match (input.observations.first(), input.observations.last()) {
            (Some(first), Some(last)) if polls > 1 => {
                last.at.duration_since(first.at).as_secs_f64() * 1000.0 / (polls - 1) as f64
            }
            _ => 0.0,
        };
        let mut poll_rtt: Vec<u64> = input
            .observations
            .iter()
            .map(|o| micros(o.at.duration_since(o.sent)))
            .collect();
        let errors_sample = input
            .commands
            .iter()
            .filter_map(|c| c.error.clone())
            .take(10)
            .collect();
        Report {
            tenant: cli.tenant,
            customers: input.customers,
            rate_target: cli.rate,
            warmup_s: cli.warmup.as_secs_f64(),
            duration_s: cli.duration.as_secs_f64(),
            poll_interval_ms: cli.poll.as_secs_f64() * 1000.0,
            scheduled: input.scheduled,
            measured: measured.len(),
            ok,
            non_2xx: measured.len() - ok - failed,
            failed,
            achieved_rate: ok as f64 / cli.duration.as_secs_f64().max(1e-9),
            kinds,
            statuses,
            send_delay: Latency::of(&mut send_delay),
            command_latency: Latency::of(&mut round_trip),
            most_in_flight: most_in_flight(input.commands),
            skipped_busy: input.skipped_busy,
            lag_customers,
            lag_timeline,
            lag_both,
            lag_kafka,
            lag_kafka_projector,
            polls,
            poll_mean_interval_ms,
            poll_round_trip: Latency::of(&mut poll_rtt),
            settled: input.settled,
            settle_s: input.settle_s,
            process: input.process,
            errors_sample,
        }
    }

    pub fn print_human(&self) {
        println!(
            "lag probe: tenant {} ({} customers), target {}/s, {:.0} s warmup + {:.0} s measured, poll every {:.1} ms",
            self.tenant, self.customers, self.rate_target, self.warmup_s, self.duration_s, self.poll_interval_ms
        );
        println!(
            "  commands: scheduled {}   measured {}   2xx {}   non-2xx {}   no answer {}   achieved {:.1}/s   most in flight {}",
            self.scheduled, self.measured, self.ok, self.non_2xx, self.failed, self.achieved_rate, self.most_in_flight
        );
        println!(
            "  kinds: {}",
            self.kinds
                .iter()
                .map(|(kind, n)| format!("{kind}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("  command latency   {}", self.command_latency.line());
        println!("  send delay        {}", self.send_delay.line());
        let kafka = [
            ("kafka topic", &self.lag_kafka),
            ("kafka-fed", &self.lag_kafka_projector),
        ];
        for (name, summary) in [
            ("customers", &self.lag_customers),
            ("timeline", &self.lag_timeline),
            ("both", &self.lag_both),
        ]
        .into_iter()
        .chain(
            kafka
                .iter()
                .filter_map(|(name, summary)| summary.as_ref().map(|summary| (*name, summary))),
        ) {
            println!(
                "  lag {name:<13} {}   (not visible: {})",
                summary.lag.line(),
                summary.not_visible
            );
        }
        println!(
            "  polls: {} (every {:.2} ms on average; round trip {})",
            self.polls,
            self.poll_mean_interval_ms,
            self.poll_round_trip.line()
        );
        println!(
            "  settled: {} ({:.2} s after the last answer)",
            self.settled, self.settle_s
        );
        if let Some(process) = &self.process {
            println!("  {}", process.line());
        }
        for sample in &self.errors_sample {
            println!("  error: {sample}");
        }
    }
}

/// The lag of each measured command with a position: from its answer to
/// `seen(command, position)`, or not visible when that is `None`.
fn lag_summary(measured: &[&Sent], seen: impl Fn(&Sent, i64) -> Option<Instant>) -> LagSummary {
    let mut lags = Vec::new();
    let mut not_visible = 0;
    for command in measured {
        let Some(position) = command.position else {
            continue;
        };
        match seen(command, position) {
            Some(at) => lags.push(micros(at.duration_since(command.answered))),
            None => not_visible += 1,
        }
    }
    LagSummary {
        visible: lags.len(),
        not_visible,
        lag: Latency::of(&mut lags),
    }
}

/// Most commands in flight at once, from the send/answer instants.
fn most_in_flight(commands: &[Sent]) -> usize {
    let mut edges: Vec<(Instant, i32)> = commands
        .iter()
        .flat_map(|c| [(c.sent, 1), (c.answered, -1)])
        .collect();
    edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut in_flight = 0i32;
    let mut most_in_flight = 0i32;
    for (_, step) in edges {
        in_flight += step;
        most_in_flight = most_in_flight.max(in_flight);
    }
    usize::try_from(most_in_flight).unwrap_or(0)
}
