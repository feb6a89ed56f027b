//! `crm projector`: running the read-side projections outside `crm serve`
//! (from PostgreSQL or Kafka), and the operator's tools for them: status and
//! lag, retrying dead-lettered events, rebuilding from scratch.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use projector::Projection;
use tokio::sync::watch;

use super::database::with_pool;
use super::shutdown::shutdown_signal;
use super::throughput::report_rate;
use crate::config::{ProjectorCommand, ProjectorRunArgs, ProjectorSource};

pub(super) async fn projector_command(action: ProjectorCommand) -> anyhow::Result<()> {
    match action {
        ProjectorCommand::Run(ProjectorRunArgs {
            database,
            source,
            kafka,
            kafka_group,
            kafka_resume,
            until_caught_up,
        }) => {
            let kafka_source = match source {
                ProjectorSource::Postgres => None,
                ProjectorSource::Kafka => Some(projector::kafka::KafkaSource {
                    group: kafka_group,
                    resume: kafka_resume.into(),
                    ..projector::kafka::KafkaSource::new(
                        kafka.kafka_brokers.context(
                            "KAFKA_BROKERS (or --kafka-brokers) is required with --source kafka",
                        )?,
                        kafka.kafka_topic,
                    )
                }),
            };
            if until_caught_up {
                return with_pool(&database, |pool, data_keys| async move {
                    let started = std::time::Instant::now();
                    let applied = match kafka_source {
                        None => {
                            projector::runner::catch_up(&pool, &data_keys, &Projection::ALL).await?
                                as u64
                        }
                        Some(kafka_source) => {
                            // Done once the topic has been quiet for a second,
                            // which the rate leaves out.
                            let (applied, last) = projector::kafka::catch_up(
                                &pool,
                                &data_keys,
                                &kafka_source,
                                &Projection::ALL,
                                std::time::Duration::from_secs(1),
                            )
                            .await?;
                            report_rate("applied", applied, started, last);
                            return Ok(());
                        }
                    };
                    report_rate("applied", applied, started, None);
                    Ok(())
                })
                .await;
            }
            with_pool(&database, |pool, data_keys| async move {
                let (stop, stopped) = watch::channel(false);
                let runner = match kafka_source {
                    None => tokio::spawn(projector::runner::run(
                        pool,
                        data_keys,
                        Projection::ALL.to_vec(),
                        stopped,
                    )),
                    Some(kafka_source) => tokio::spawn(projector::kafka::run(
                        pool,
                        data_keys,
                        kafka_source,
                        Projection::ALL.to_vec(),
                        stopped,
                    )),
                };
                shutdown_signal().await;
                let _ = stop.send(true);
                runner.await.context("the projector task failed")?;
                Ok(())
            })
            .await
        }
        ProjectorCommand::Status(database) => {
            with_pool(&database, |pool, _data_keys| async move {
                println!(
                    "{:<12} {:>14} {:>12} {:>12} {:>10}  updated",
                    "projection", "position", "applied", "lag events", "lag s"
                );
                for status in projector::runner::status(&pool).await? {
                    println!(
                        "{:<12} {:>14} {:>12} {:>12} {:>10.3}  {}",
                        status.name,
                        status.checkpoint.position,
                        status.events_applied,
                        status.lag_events,
                        status.lag_seconds,
                        status.updated_at.to_rfc3339()
                    );
                }
                let letters = store::dead_letters::list(&pool, None).await?;
                if letters.is_empty() {
                    println!("\nno dead-lettered events");
                } else {
                    println!(
                        "\ndead-lettered events (passed; `crm projector retry <projection>` applies them again):"
                    );
                    println!(
                        "{:<24} {:>14} {:<8} {:<36} {:<36} {:>8}  {:<25}  error",
                        "consumer", "position", "source", "event", "tenant", "attempts", "last seen"
                    );
                    for letter in letters {
                        let id = |id: Option<uuid::Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
                        println!(
                            "{:<24} {:>14} {:<8} {:<36} {:<36} {:>8}  {:<25}  {}",
                            letter.consumer,
                            letter.position,
                            letter.source,
                            id(letter.event_id),
                            id(letter.tenant_id),
                            letter.attempts,
                            letter.last_seen.to_rfc3339(),
                            letter.error
                        );
                    }
                }
                Ok(())
            })
            .await
        }
        ProjectorCommand::Retry {
            name,
            position,
            database,
        } => {
            let projection = Projection::parse(&name).with_context(|| {
                format!("unknown projection {name:?}: use customers or timeline")
            })?;
            with_pool(&database, |pool, data_keys| async move {
                let retried =
                    projector::runner::retry(&pool, &data_keys, projection, position).await?;
                for position in &retried.applied {
                    println!("{}: position {position} applied", projection.name());
                }
                for (position, error) in &retried.failing {
                    println!("{}: position {position} still fails: {error}", projection.name());
                }
                if retried.applied.is_empty() && retried.failing.is_empty() {
                    println!("{}: no dead-lettered events to retry", projection.name());
                }
                anyhow::ensure!(
                    retried.failing.is_empty(),
                    "{} event(s) still fail",
                    retried.failing.len()
                );
                Ok(())
            })
            .await
        }
        ProjectorCommand::Rebuild { name, database } => {
            let projections = if name == "all" {
                Projection::ALL.to_vec()
            } else {
                vec![Projection::parse(&name).with_context(|| {
                    format!("unknown projection {name:?}: use customers, timeline or all")
                })?]
            };
            with_pool(&database, |pool, data_keys| async move {
                let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(names.join("+"));
                let started = std::time::Instant::now();
                let applied =
                    projector::runner::rebuild(&pool, &data_keys, &projections, |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    })
                    .await?;
                bar.finish();
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "{}: rebuilt from {applied} events in {seconds:.1} s ({:.0} events/s)",
                    names.join(", "),
                    applied as f64 / seconds.max(1e-9)
                );
                Ok(())
            })
            .await
        }
    }
}
